/*
 * hs_swim_msg.c - names, error strings and the byte encoding of SWIM messages.
 *
 * Encoding (little-endian): u8 version (1), u8 type, u16 n_updates, u32 from, u32 to,
 * u32 target, u32 relay, u64 seq; then n_updates x (u32 member, u32 incarnation, u32 origin,
 * u8 state). 28 + 13 n bytes.
 */
#include "membership/hs_swim.h"

#include <string.h>

#define MSG_VERSION 1
#define MSG_HEADER 28u
#define UPDATE_SIZE 13u

const char *hs_swim_strerror(int code) {
  switch (code) {
  case HS_SWIM_ECRASHED: return "member is crashed";
  case HS_SWIM_ESTATE: return "not allowed in this state of the member";
  default: return hs_strerror(code);
  }
}

const char *hs_swim_state_name(hs_swim_state s) {
  switch (s) {
  case HS_SWIM_UNKNOWN: return "unknown";
  case HS_SWIM_ALIVE: return "alive";
  case HS_SWIM_SUSPECT: return "suspect";
  case HS_SWIM_DEAD: return "dead";
  }
  return "?";
}

const char *hs_swim_msg_type_name(hs_swim_msg_type t) {
  static const char *const names[HS_SWIM_MSG_TYPE_COUNT] = {"ping", "ack", "ping_req"};
  return (unsigned)t < HS_SWIM_MSG_TYPE_COUNT ? names[t] : "?";
}

static uint8_t *put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) *p++ = (uint8_t)(v >> (8 * i));
  return p;
}

static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

size_t hs_swim_msg_encoded_size(const hs_swim_msg *m) { return MSG_HEADER + UPDATE_SIZE * (size_t)m->n_updates; }

size_t hs_swim_msg_encode(const hs_swim_msg *m, uint8_t *out, size_t cap) {
  size_t size = hs_swim_msg_encoded_size(m);
  if (cap < size || m->n_updates > HS_SWIM_MAX_UPDATES) return 0;
  uint8_t *p = out;
  *p++ = MSG_VERSION;
  *p++ = (uint8_t)m->type;
  *p++ = (uint8_t)m->n_updates;
  *p++ = (uint8_t)(m->n_updates >> 8);
  p = put32(p, m->from);
  p = put32(p, m->to);
  p = put32(p, m->target);
  p = put32(p, m->relay);
  p = put32(p, (uint32_t)m->seq);
  p = put32(p, (uint32_t)(m->seq >> 32));
  for (uint32_t i = 0; i < m->n_updates; i++) {
    const hs_swim_update *u = &m->updates[i];
    p = put32(p, u->member);
    p = put32(p, u->incarnation);
    p = put32(p, u->origin);
    *p++ = u->state;
  }
  return size;
}

uint32_t hs_swim_msg_decode_count(const uint8_t *buf, size_t len) {
  if (len < MSG_HEADER || buf[0] != MSG_VERSION) return 0;
  uint32_t n = (uint32_t)buf[2] | (uint32_t)buf[3] << 8;
  return n <= HS_SWIM_MAX_UPDATES && len == MSG_HEADER + UPDATE_SIZE * (size_t)n ? n : 0;
}

int hs_swim_msg_decode(hs_swim_msg *m, const uint8_t *buf, size_t len, hs_swim_update *updates, uint32_t max) {
  if (len < MSG_HEADER || buf[0] != MSG_VERSION || buf[1] >= HS_SWIM_MSG_TYPE_COUNT) return HS_EINVAL;
  uint32_t n = (uint32_t)buf[2] | (uint32_t)buf[3] << 8;
  if (n > HS_SWIM_MAX_UPDATES || n > max || len != MSG_HEADER + UPDATE_SIZE * (size_t)n) return HS_EINVAL;
  memset(m, 0, sizeof *m);
  m->type = (hs_swim_msg_type)buf[1];
  m->from = get32(buf + 4);
  m->to = get32(buf + 8);
  m->target = get32(buf + 12);
  m->relay = get32(buf + 16);
  m->seq = (uint64_t)get32(buf + 20) | (uint64_t)get32(buf + 24) << 32;
  const uint8_t *p = buf + MSG_HEADER;
  for (uint32_t i = 0; i < n; i++, p += UPDATE_SIZE) {
    updates[i].member = get32(p);
    updates[i].incarnation = get32(p + 4);
    updates[i].origin = get32(p + 8);
    updates[i].state = p[12];
  }
  m->n_updates = n;
  m->updates = n ? updates : NULL;
  return HS_OK;
}
