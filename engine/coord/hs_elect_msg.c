/*
 * hs_elect_msg.c - names, error strings and the byte encoding of election messages.
 *
 * Encoding (little-endian, 36 bytes + data):
 *   u8 version (1), u8 type, u8 flag (0/1), u8 kind, u32 from, u32 to, u32 candidate,
 *   u64 epoch, u64 ballot, u32 len, len bytes of data
 */
#include "coord/hs_elect.h"

#include <string.h>

#define MSG_VERSION 1
#define MSG_HEADER 36u

const char *hs_elect_strerror(int code) {
  switch (code) {
  case HS_ELECT_ECRASHED: return "node is crashed";
  case HS_ELECT_ESTATE: return "not allowed in this state of the node";
  case HS_ELECT_EREFUSED: return "this node backs another node in this epoch";
  default: return hs_strerror(code);
  }
}

const char *hs_elect_msg_type_name(hs_elect_msg_type t) {
  static const char *const names[HS_ELECT_MSG_TYPE_COUNT] = {
      "heartbeat", "heartbeat_ack", "bully_election", "bully_answer", "ring_election",
      "ring_ack",  "vote",          "vote_resp",      "custom"};
  return (unsigned)t < HS_ELECT_MSG_TYPE_COUNT ? names[t] : "?";
}

static uint8_t *put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) *p++ = (uint8_t)(v >> (8 * i));
  return p;
}

static uint8_t *put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) *p++ = (uint8_t)(v >> (8 * i));
  return p;
}

static uint32_t get32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
  return v;
}

static uint64_t get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

size_t hs_elect_msg_encoded_size(const hs_elect_msg *m) { return MSG_HEADER + m->len; }

size_t hs_elect_msg_encode(const hs_elect_msg *m, uint8_t *out, size_t cap) {
  size_t size = hs_elect_msg_encoded_size(m);
  if (cap < size) return 0;
  uint8_t *p = out;
  *p++ = MSG_VERSION;
  *p++ = (uint8_t)m->type;
  *p++ = m->flag ? 1 : 0;
  *p++ = m->kind;
  p = put32(p, m->from);
  p = put32(p, m->to);
  p = put32(p, m->candidate);
  p = put64(p, m->epoch);
  p = put64(p, m->ballot);
  p = put32(p, m->len);
  if (m->len) memcpy(p, m->data, m->len);
  return size;
}

int hs_elect_msg_decode(hs_elect_msg *m, const uint8_t *buf, size_t len) {
  if (len < MSG_HEADER || buf[0] != MSG_VERSION || buf[1] >= HS_ELECT_MSG_TYPE_COUNT || buf[2] > 1) return HS_EINVAL;
  memset(m, 0, sizeof *m);
  m->type = (hs_elect_msg_type)buf[1];
  m->flag = buf[2] != 0;
  m->kind = buf[3];
  m->from = get32(buf + 4);
  m->to = get32(buf + 8);
  m->candidate = get32(buf + 12);
  m->epoch = get64(buf + 16);
  m->ballot = get64(buf + 24);
  m->len = get32(buf + 32);
  if ((size_t)m->len != len - MSG_HEADER) return HS_EINVAL;
  m->data = m->len ? buf + MSG_HEADER : NULL;
  return HS_OK;
}
