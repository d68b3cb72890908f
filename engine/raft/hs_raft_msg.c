/*
 * hs_raft_msg.c - names, error strings, and the byte encodings of messages and configurations.
 *
 * Message encoding (little-endian):
 *   u8 version (1), u8 type, u8 reject, u8 0, u32 from, u32 to,
 *   u64 term, index, log_term, commit, hint_index, hint_term, context,
 *   u32 n_entries, u32 conf_len, u64 snapshot_len,
 *   n_entries x (u64 term, u8 type, u32 len, len bytes)   -- entry k has index index + 1 + k
 *   conf_len bytes, snapshot_len bytes
 */
#include "raft/hs_raft_internal.h"

#include <string.h>

#define MSG_VERSION 1
#define MSG_HEADER 84u
#define ENTRY_HEADER 13u

const char *hs_raft_strerror(int code) {
  switch (code) {
  case HS_RAFT_ENOTLEADER: return "not the leader";
  case HS_RAFT_EBUSY: return "a membership change is in progress";
  case HS_RAFT_ECRASHED: return "node is crashed";
  case HS_RAFT_ESTATE: return "not allowed in this state of the node";
  case HS_RAFT_ETRUNCATED: return "entry overwritten by a new leader";
  case HS_RAFT_ESNAPSHOT: return "entry replaced by a snapshot";
  case HS_RAFT_ELEADERSHIP: return "leadership lost";
  case HS_RAFT_ETRANSFER: return "a leadership transfer is in progress";
  case HS_RAFT_ETIMEOUT: return "the leadership transfer did not complete in time";
  default: return hs_strerror(code);
  }
}

const char *hs_raft_role_name(hs_raft_role role) {
  switch (role) {
  case HS_RAFT_FOLLOWER: return "follower";
  case HS_RAFT_PRE_CANDIDATE: return "pre_candidate";
  case HS_RAFT_CANDIDATE: return "candidate";
  case HS_RAFT_LEADER: return "leader";
  }
  return "?";
}

const char *hs_raft_msg_type_name(hs_raft_msg_type t) {
  static const char *const names[HS_RAFT_MSG_TYPE_COUNT] = {
      "vote", "vote_resp", "pre_vote", "pre_vote_resp", "app", "app_resp", "heartbeat", "heartbeat_resp", "snap", "timeout_now"};
  return (unsigned)t < HS_RAFT_MSG_TYPE_COUNT ? names[t] : "?";
}

/* ---- Little-endian helpers ---------------------------------------------------------------- */

/* On a little-endian host a field is one unaligned load or store (memcpy); elsewhere, bytes.
 * (Every message goes through these on the hot path of a simulated cluster.) */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HS_MSG_LE 1
#else
#define HS_MSG_LE 0
#endif

static uint8_t *msg_put32(uint8_t *p, uint32_t v) {
  if (HS_MSG_LE) {
    memcpy(p, &v, 4);
    return p + 4;
  }
  for (int i = 0; i < 4; i++) *p++ = (uint8_t)(v >> (8 * i));
  return p;
}

static uint8_t *msg_put64(uint8_t *p, uint64_t v) {
  if (HS_MSG_LE) {
    memcpy(p, &v, 8);
    return p + 8;
  }
  for (int i = 0; i < 8; i++) *p++ = (uint8_t)(v >> (8 * i));
  return p;
}

static uint32_t msg_get32(const uint8_t *p) {
  uint32_t v = 0;
  if (HS_MSG_LE) {
    memcpy(&v, p, 4);
    return v;
  }
  for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
  return v;
}

static uint64_t msg_get64(const uint8_t *p) {
  uint64_t v = 0;
  if (HS_MSG_LE) {
    memcpy(&v, p, 8);
    return v;
  }
  for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

/* ---- Configurations ----------------------------------------------------------------------- */

static bool conf_has(const uint32_t *ids, uint32_t n, uint32_t id) {
  for (uint32_t i = 0; i < n; i++)
    if (ids[i] == id) return true;
  return false;
}

bool hs_raft_conf_is_voter(const hs_raft_conf *c, uint32_t id) { return conf_has(c->voters, c->n_voters, id); }
bool hs_raft_conf_is_learner(const hs_raft_conf *c, uint32_t id) {
  return conf_has(c->learners, c->n_learners, id);
}

static void conf_insert(uint32_t *ids, uint32_t *n, uint32_t id) {
  uint32_t i = *n;
  while (i > 0 && ids[i - 1] > id) {
    ids[i] = ids[i - 1];
    i--;
  }
  ids[i] = id;
  (*n)++;
}

static void conf_remove(uint32_t *ids, uint32_t *n, uint32_t id) {
  uint32_t j = 0;
  for (uint32_t i = 0; i < *n; i++)
    if (ids[i] != id) ids[j++] = ids[i];
  *n = j;
}

int hs_raft_conf_apply(hs_raft_conf *c, hs_raft_conf_op op, uint32_t id) {
  if (id == HS_RAFT_NONE) return HS_EINVAL;
  bool voter = hs_raft_conf_is_voter(c, id), learner = hs_raft_conf_is_learner(c, id);
  bool full = c->n_voters + c->n_learners >= HS_RAFT_MAX_NODES;
  switch (op) {
  case HS_RAFT_CONF_ADD_VOTER:
    if (voter || (full && !learner)) return HS_EINVAL;
    if (learner) conf_remove(c->learners, &c->n_learners, id);
    conf_insert(c->voters, &c->n_voters, id);
    return HS_OK;
  case HS_RAFT_CONF_ADD_LEARNER:
    if (voter || learner || full) return HS_EINVAL;
    conf_insert(c->learners, &c->n_learners, id);
    return HS_OK;
  case HS_RAFT_CONF_REMOVE:
    if (learner) {
      conf_remove(c->learners, &c->n_learners, id);
      return HS_OK;
    }
    if (!voter || c->n_voters == 1) return HS_EINVAL;
    conf_remove(c->voters, &c->n_voters, id);
    return HS_OK;
  }
  return HS_EINVAL;
}

size_t hs_raft_conf_encoded_size(const hs_raft_conf *c) { return 8 + 4 * (size_t)(c->n_voters + c->n_learners); }

size_t hs_raft_conf_encode(const hs_raft_conf *c, uint8_t *out, size_t cap) {
  size_t size = hs_raft_conf_encoded_size(c);
  if (cap < size) return 0;
  uint8_t *p = msg_put32(out, c->n_voters);
  p = msg_put32(p, c->n_learners);
  for (uint32_t i = 0; i < c->n_voters; i++) p = msg_put32(p, c->voters[i]);
  for (uint32_t i = 0; i < c->n_learners; i++) p = msg_put32(p, c->learners[i]);
  return size;
}

int hs_raft_conf_decode(hs_raft_conf *c, const uint8_t *data, size_t len) {
  if (len < 8) return HS_EINVAL;
  uint32_t nv = msg_get32(data), nl = msg_get32(data + 4);
  if (nv > HS_RAFT_MAX_NODES || nl > HS_RAFT_MAX_NODES || nv + nl > HS_RAFT_MAX_NODES) return HS_EINVAL;
  if (len != 8 + 4 * (size_t)(nv + nl)) return HS_EINVAL;
  hs_raft_conf tmp = {0};
  const uint8_t *p = data + 8;
  for (uint32_t i = 0; i < nv + nl; i++, p += 4) {
    uint32_t id = msg_get32(p);
    if (id == HS_RAFT_NONE || hs_raft_conf_is_voter(&tmp, id) || hs_raft_conf_is_learner(&tmp, id))
      return HS_EINVAL;
    if (i < nv) conf_insert(tmp.voters, &tmp.n_voters, id);
    else conf_insert(tmp.learners, &tmp.n_learners, id);
  }
  *c = tmp;
  return HS_OK;
}

/* ---- Messages ----------------------------------------------------------------------------- */

size_t hs_raft_msg_encoded_size(const hs_raft_msg *m) {
  size_t size = MSG_HEADER + m->conf_len + m->snapshot_len;
  for (uint32_t i = 0; i < m->n_entries; i++) size += ENTRY_HEADER + m->entries[i].len;
  return size;
}

size_t hs_raft_msg_encode(const hs_raft_msg *m, uint8_t *out, size_t cap) {
  size_t size = hs_raft_msg_encoded_size(m);
  if (cap < size) return 0;
  uint8_t *p = out;
  *p++ = MSG_VERSION;
  *p++ = (uint8_t)m->type;
  *p++ = m->reject ? 1 : 0;
  *p++ = 0;
  p = msg_put32(p, m->from);
  p = msg_put32(p, m->to);
  p = msg_put64(p, m->term);
  p = msg_put64(p, m->index);
  p = msg_put64(p, m->log_term);
  p = msg_put64(p, m->commit);
  p = msg_put64(p, m->hint_index);
  p = msg_put64(p, m->hint_term);
  p = msg_put64(p, m->context);
  p = msg_put32(p, m->n_entries);
  p = msg_put32(p, m->conf_len);
  p = msg_put64(p, (uint64_t)m->snapshot_len);
  for (uint32_t i = 0; i < m->n_entries; i++) {
    const hs_raft_entry *e = &m->entries[i];
    p = msg_put64(p, e->term);
    *p++ = (uint8_t)e->type;
    p = msg_put32(p, e->len);
    if (e->len) memcpy(p, e->data, e->len);
    p += e->len;
  }
  if (m->conf_len) memcpy(p, m->conf, m->conf_len);
  p += m->conf_len;
  if (m->snapshot_len) memcpy(p, m->snapshot, m->snapshot_len);
  return size;
}

uint32_t hs_raft_msg_decode_count(const uint8_t *buf, size_t len) {
  if (len < MSG_HEADER || buf[0] != MSG_VERSION) return 0;
  uint32_t n = msg_get32(buf + 68);
  /* each entry takes ENTRY_HEADER bytes at least: a larger count is a lie (and a caller that
   * sizes its array by it must not be made to allocate gigabytes) */
  return n <= (len - MSG_HEADER) / ENTRY_HEADER ? n : 0;
}

int hs_raft_msg_decode(hs_raft_msg *m, const uint8_t *buf, size_t len, hs_raft_entry *entries,
                       uint32_t max_entries) {
  if (len < MSG_HEADER || buf[0] != MSG_VERSION || buf[1] >= HS_RAFT_MSG_TYPE_COUNT) return HS_EINVAL;
  memset(m, 0, sizeof *m);
  const uint8_t *p = buf + 4;
  m->type = (hs_raft_msg_type)buf[1];
  m->reject = buf[2] != 0;
  m->from = msg_get32(p);
  m->to = msg_get32(p + 4);
  p += 8;
  uint64_t *fields[7] = {&m->term, &m->index, &m->log_term, &m->commit, &m->hint_index, &m->hint_term, &m->context};
  for (int i = 0; i < 7; i++, p += 8) *fields[i] = msg_get64(p);
  m->n_entries = msg_get32(p);
  m->conf_len = msg_get32(p + 4);
  uint64_t snap_len = msg_get64(p + 8);
  p += 16;
  if (m->n_entries > max_entries) return HS_EINVAL;
  const uint8_t *end = buf + len;
  for (uint32_t i = 0; i < m->n_entries; i++) {
    if ((size_t)(end - p) < ENTRY_HEADER) return HS_EINVAL;
    hs_raft_entry *e = &entries[i];
    e->index = m->index + 1 + i;
    e->term = msg_get64(p);
    e->type = (hs_raft_entry_type)p[8];
    e->len = msg_get32(p + 9);
    p += ENTRY_HEADER;
    if (e->type > HS_RAFT_ENTRY_CONF || (size_t)(end - p) < e->len) return HS_EINVAL;
    e->data = e->len ? p : NULL;
    p += e->len;
  }
  m->entries = m->n_entries ? entries : NULL;
  if ((size_t)(end - p) < m->conf_len) return HS_EINVAL;
  m->conf = m->conf_len ? p : NULL;
  p += m->conf_len;
  if ((uint64_t)(end - p) != snap_len) return HS_EINVAL;
  m->snapshot = snap_len ? p : NULL;
  m->snapshot_len = (size_t)snap_len;
  return HS_OK;
}
