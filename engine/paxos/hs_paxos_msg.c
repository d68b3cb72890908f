/*
 * hs_paxos_msg.c - what both Paxos cores share: error strings, names, quorum sizes, and the
 * byte encoding of messages.
 *
 * Message encoding (little-endian):
 *   u8 version (1), u8 type, u16 0, u32 from, u32 to,
 *   ballot (u64 round, u32 node), promised (u64 round, u32 node),
 *   u64 slot, last, commit, u32 n_values,
 *   n_values x (u64 slot, ballot, origin, u8 type, u8 chosen, u32 len, len bytes)
 * Decoding checks every length against the buffer; a count that cannot fit, an unknown type
 * or version, a flag byte other than 0/1, or bytes left over make the message malformed.
 */
#include "paxos/hs_paxos.h"

#include <string.h>

#define MSG_VERSION 1
#define MSG_HEADER 64u
#define VALUE_HEADER 38u

const char *hs_paxos_strerror(int code) {
  switch (code) {
  case HS_PAXOS_ENOTLEADER: return "not the leader";
  case HS_PAXOS_ECRASHED: return "node is crashed";
  case HS_PAXOS_ESTATE: return "not allowed in this state of the node";
  case HS_PAXOS_EQUORUM: return "invalid quorum sizes: need 1 <= Q1, Q2 <= N and Q1 + Q2 > N";
  case HS_PAXOS_ELOST: return "the slot was chosen with another value";
  case HS_PAXOS_EBUSY: return "too many slots in flight";
  default: return hs_strerror(code);
  }
}

const char *hs_paxos_msg_type_name(hs_paxos_msg_type t) {
  static const char *const names[HS_PAXOS_MSG_TYPE_COUNT] = {
      "prepare", "promise", "accept", "accepted", "nack", "chosen", "chosen_ack", "heartbeat", "heartbeat_resp"};
  return (unsigned)t < HS_PAXOS_MSG_TYPE_COUNT ? names[t] : "?";
}

const char *hs_paxos_phase_name(hs_paxos_phase p) {
  switch (p) {
  case HS_PAXOS_IDLE: return "idle";
  case HS_PAXOS_PHASE1: return "phase1";
  case HS_PAXOS_PHASE2: return "phase2";
  case HS_PAXOS_BACKOFF: return "backoff";
  }
  return "?";
}

/* Q1 + Q2 > N is what makes every phase-1 quorum meet every phase-2 quorum (FPaxos, 3). */
int hs_paxos_quorums(uint32_t n, uint32_t q1, uint32_t q2, uint32_t *q1_out, uint32_t *q2_out) {
  if (n == 0 || n > HS_PAXOS_MAX_NODES || q1 > n || q2 > n) return HS_PAXOS_EQUORUM;
  if (q1 == 0 && q2 == 0) q1 = q2 = n / 2 + 1;
  else if (q1 == 0) q1 = n - q2 + 1;
  else if (q2 == 0) q2 = n - q1 + 1;
  if (q1 + q2 <= n) return HS_PAXOS_EQUORUM;
  if (q1_out) *q1_out = q1;
  if (q2_out) *q2_out = q2;
  return HS_OK;
}

/* ---- Little-endian helpers ------------------------------------------------------------------ */

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define PX_LE 1
#else
#define PX_LE 0
#endif

static uint8_t *px_put32(uint8_t *p, uint32_t v) {
  if (PX_LE) {
    memcpy(p, &v, 4);
    return p + 4;
  }
  for (int i = 0; i < 4; i++) *p++ = (uint8_t)(v >> (8 * i));
  return p;
}

static uint8_t *px_put64(uint8_t *p, uint64_t v) {
  if (PX_LE) {
    memcpy(p, &v, 8);
    return p + 8;
  }
  for (int i = 0; i < 8; i++) *p++ = (uint8_t)(v >> (8 * i));
  return p;
}

static uint32_t px_get32(const uint8_t *p) {
  uint32_t v = 0;
  if (PX_LE) {
    memcpy(&v, p, 4);
    return v;
  }
  for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
  return v;
}

static uint64_t px_get64(const uint8_t *p) {
  uint64_t v = 0;
  if (PX_LE) {
    memcpy(&v, p, 8);
    return v;
  }
  for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static uint8_t *px_put_ballot(uint8_t *p, hs_paxos_ballot b) { return px_put32(px_put64(p, b.round), b.node); }

static hs_paxos_ballot px_get_ballot(const uint8_t *p) {
  hs_paxos_ballot b = {px_get64(p), px_get32(p + 8)};
  return b;
}

/* ---- Messages ---------------------------------------------------------------------------------- */

size_t hs_paxos_msg_encoded_size(const hs_paxos_msg *m) {
  size_t size = MSG_HEADER;
  for (uint32_t i = 0; i < m->n_values; i++) size += VALUE_HEADER + m->values[i].len;
  return size;
}

size_t hs_paxos_msg_encode(const hs_paxos_msg *m, uint8_t *out, size_t cap) {
  size_t size = hs_paxos_msg_encoded_size(m);
  if (cap < size) return 0;
  uint8_t *p = out;
  *p++ = MSG_VERSION;
  *p++ = (uint8_t)m->type;
  *p++ = 0;
  *p++ = 0;
  p = px_put32(p, m->from);
  p = px_put32(p, m->to);
  p = px_put_ballot(p, m->ballot);
  p = px_put_ballot(p, m->promised);
  p = px_put64(p, m->slot);
  p = px_put64(p, m->last);
  p = px_put64(p, m->commit);
  p = px_put32(p, m->n_values);
  for (uint32_t i = 0; i < m->n_values; i++) {
    const hs_paxos_value *v = &m->values[i];
    p = px_put64(p, v->slot);
    p = px_put_ballot(p, v->ballot);
    p = px_put_ballot(p, v->origin);
    *p++ = (uint8_t)v->type;
    *p++ = v->chosen ? 1 : 0;
    p = px_put32(p, v->len);
    if (v->len) memcpy(p, v->data, v->len);
    p += v->len;
  }
  return size;
}

uint32_t hs_paxos_msg_decode_count(const uint8_t *buf, size_t len) {
  if (len < MSG_HEADER || buf[0] != MSG_VERSION) return 0;
  uint32_t n = px_get32(buf + 60);
  /* each value takes VALUE_HEADER bytes at least: a larger count is a lie, and a caller that
   * sizes its array by it must not be made to allocate gigabytes */
  return n <= (len - MSG_HEADER) / VALUE_HEADER ? n : 0;
}

int hs_paxos_msg_decode(hs_paxos_msg *m, const uint8_t *buf, size_t len, hs_paxos_value *values,
                        uint32_t max_values) {
  if (len < MSG_HEADER || buf[0] != MSG_VERSION || buf[1] >= HS_PAXOS_MSG_TYPE_COUNT || buf[2] || buf[3])
    return HS_EINVAL;
  memset(m, 0, sizeof *m);
  m->type = (hs_paxos_msg_type)buf[1];
  m->from = px_get32(buf + 4);
  m->to = px_get32(buf + 8);
  m->ballot = px_get_ballot(buf + 12);
  m->promised = px_get_ballot(buf + 24);
  m->slot = px_get64(buf + 36);
  m->last = px_get64(buf + 44);
  m->commit = px_get64(buf + 52);
  m->n_values = px_get32(buf + 60);
  if (m->n_values > max_values || m->n_values > (len - MSG_HEADER) / VALUE_HEADER) return HS_EINVAL;
  const uint8_t *p = buf + MSG_HEADER, *end = buf + len;
  for (uint32_t i = 0; i < m->n_values; i++) {
    if ((size_t)(end - p) < VALUE_HEADER) return HS_EINVAL;
    hs_paxos_value *v = &values[i];
    v->slot = px_get64(p);
    v->ballot = px_get_ballot(p + 8);
    v->origin = px_get_ballot(p + 20);
    if (p[32] > HS_PAXOS_VALUE_NOOP || p[33] > 1) return HS_EINVAL;
    v->type = (hs_paxos_value_type)p[32];
    v->chosen = p[33] != 0;
    v->len = px_get32(p + 34);
    p += VALUE_HEADER;
    if ((size_t)(end - p) < v->len) return HS_EINVAL;
    v->data = v->len ? p : NULL;
    p += v->len;
  }
  if (p != end) return HS_EINVAL;
  m->values = m->n_values ? values : NULL;
  return HS_OK;
}
