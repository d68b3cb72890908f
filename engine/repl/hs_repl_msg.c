/*
 * hs_repl_msg.c - names, error strings, the byte encoding of messages, and the hash.
 *
 * Message encoding (little-endian):
 *   u8 version (1), u8 type, u16 0, u32 flags, u32 from, u32 to,
 *   u64 epoch, seq, tag, prev_tag, commit, context, i64 time_ns,
 *   u32 key_len, value_len, n_ids, n_nums, blob_len,
 *   key bytes, value bytes, n_ids x u32, n_nums x u64, blob bytes
 */
#include "repl/hs_repl_internal.h"

#include <stdlib.h>
#include <string.h>

#define MSG_VERSION 1
#define MSG_HEADER 92u

const char *hs_repl_strerror(int code) {
  switch (code) {
  case HS_REPL_ENOTPRIMARY: return "not the primary";
  case HS_REPL_ENOTHEAD: return "not the head of the chain";
  case HS_REPL_ENOTTAIL: return "not the tail of the chain";
  case HS_REPL_ENOLEASE: return "the node's lease from the configuration master ran out";
  case HS_REPL_EUNAVAILABLE: return "the node has no configuration, is not a member of it, or is still syncing";
  case HS_REPL_ENOTREADY: return "a new primary has not yet committed the log it took over";
  case HS_REPL_ETIMEOUT: return "not committed in time: the outcome is unknown";
  case HS_REPL_ECONFIG: return "the configuration changed while the request was pending: the outcome is unknown";
  case HS_REPL_ECRASHED: return "node is crashed";
  case HS_REPL_ESTALE: return "refused: it came from an older view";
  default: return hs_strerror(code);
  }
}

const char *hs_repl_error_code(int code) {
  switch (code) {
  case HS_OK: return "ok";
  case HS_REPL_ENOTPRIMARY: return "not_primary";
  case HS_REPL_ENOTHEAD: return "not_head";
  case HS_REPL_ENOTTAIL: return "not_tail";
  case HS_REPL_ENOLEASE: return "no_lease";
  case HS_REPL_EUNAVAILABLE: return "unavailable";
  case HS_REPL_ENOTREADY: return "not_ready";
  case HS_REPL_ETIMEOUT: return "timeout";
  case HS_REPL_ECONFIG: return "config_changed";
  case HS_REPL_ECRASHED: return "crashed";
  case HS_REPL_ESTALE: return "stale_view";
  case HS_EINVAL: return "invalid";
  case HS_ENOMEM: return "out_of_memory";
  default: return "unknown";
  }
}

const char *hs_repl_msg_type_name(hs_repl_msg_type t) {
  static const char *const names[HS_REPL_MSG_TYPE_COUNT] = {
      "ping",         "config",      "pb_replicate", "pb_ack",         "pb_snapshot",  "ch_propagate", "ch_ack",
      "ch_snapshot",  "ch_query",    "ch_query_resp", "ml_replicate", "ml_hashes",    "ml_keys"};
  return (unsigned)t < HS_REPL_MSG_TYPE_COUNT ? names[t] : "?";
}

const char *hs_repl_msg_wire_name(hs_repl_msg_type t) {
  static const char *const names[HS_REPL_MSG_TYPE_COUNT] = {
      "Ping",          "Config",       "Replicate",    "ReplicationAck",       "Snapshot",
      "Propagate",     "WriteAck",     "ChainSnapshot", "VersionQuery",        "VersionReply",
      "MultiLeaderReplicate", "MerkleHashes", "MerkleKeys"};
  return (unsigned)t < HS_REPL_MSG_TYPE_COUNT ? names[t] : "?";
}

/* ---- Encoding ------------------------------------------------------------------------------- */

size_t hs_repl_msg_encoded_size(const hs_repl_msg *m) {
  return MSG_HEADER + (size_t)m->key_len + m->value_len + 4 * (size_t)m->n_ids + 8 * (size_t)m->n_nums + m->blob_len;
}

size_t hs_repl_msg_encode(const hs_repl_msg *m, uint8_t *out, size_t cap) {
  size_t size = hs_repl_msg_encoded_size(m);
  if (cap < size) return 0;
  uint8_t *p = out;
  *p++ = MSG_VERSION;
  *p++ = (uint8_t)m->type;
  *p++ = 0;
  *p++ = 0;
  p = hs_put32(p, m->flags);
  p = hs_put32(p, m->from);
  p = hs_put32(p, m->to);
  p = hs_put64(p, m->epoch);
  p = hs_put64(p, m->seq);
  p = hs_put64(p, m->tag);
  p = hs_put64(p, m->prev_tag);
  p = hs_put64(p, m->commit);
  p = hs_put64(p, m->context);
  p = hs_put64(p, (uint64_t)m->time_ns);
  p = hs_put32(p, m->key_len);
  p = hs_put32(p, m->value_len);
  p = hs_put32(p, m->n_ids);
  p = hs_put32(p, m->n_nums);
  p = hs_put32(p, m->blob_len);
  if (m->key_len) memcpy(p, m->key, m->key_len);
  p += m->key_len;
  if (m->value_len) memcpy(p, m->value, m->value_len);
  p += m->value_len;
  for (uint32_t i = 0; i < m->n_ids; i++) p = hs_put32(p, m->ids[i]);
  for (uint32_t i = 0; i < m->n_nums; i++) p = hs_put64(p, m->nums[i]);
  if (m->blob_len) memcpy(p, m->blob, m->blob_len);
  return size;
}

void hs_repl_decoder_init(hs_repl_decoder *d) { memset(d, 0, sizeof *d); }

void hs_repl_decoder_free(hs_repl_decoder *d) {
  free(d->ids);
  free(d->nums);
  hs_repl_decoder_init(d);
}

static int grow(void **arr, uint32_t *cap, uint32_t need, size_t elem) {
  if (need <= *cap) return HS_OK;
  uint32_t c = *cap ? *cap : 16;
  while (c < need) c *= 2;
  void *p = realloc(*arr, (size_t)c * elem);
  if (!p) return HS_ENOMEM;
  *arr = p;
  *cap = c;
  return HS_OK;
}

/* Every check a message passes before any core sees it: the exact size, the type, the flags,
 * counters within HS_REPL_MAX_COUNTER, lengths within their limits, non-zero ids. */
int hs_repl_msg_decode(hs_repl_msg *m, const uint8_t *buf, size_t len, hs_repl_decoder *d) {
  memset(m, 0, sizeof *m);
  if (!buf || len < MSG_HEADER || buf[0] != MSG_VERSION || buf[1] >= HS_REPL_MSG_TYPE_COUNT || buf[2] || buf[3])
    return HS_EINVAL;
  const uint8_t *p = buf + 4;
  m->type = (hs_repl_msg_type)buf[1];
  m->flags = hs_get32(p);
  m->from = hs_get32(p + 4);
  m->to = hs_get32(p + 8);
  p += 12;
  uint64_t *counters[] = {&m->epoch, &m->seq, &m->tag, &m->prev_tag, &m->commit};
  for (size_t i = 0; i < 5; i++, p += 8) {
    *counters[i] = hs_get64(p);
    if (*counters[i] > HS_REPL_MAX_COUNTER) return HS_EINVAL;
  }
  m->context = hs_get64(p);
  m->time_ns = (int64_t)hs_get64(p + 8);
  p += 16;
  m->key_len = hs_get32(p);
  m->value_len = hs_get32(p + 4);
  m->n_ids = hs_get32(p + 8);
  m->n_nums = hs_get32(p + 12);
  m->blob_len = hs_get32(p + 16);
  p += 20;
  if ((m->flags & ~(uint32_t)HS_REPL_FLAG_ALL) || m->time_ns < 0 || m->key_len > HS_REPL_MAX_KEY ||
      m->value_len > HS_REPL_MAX_VALUE || m->n_ids > HS_REPL_MAX_NODES || m->n_nums > HS_REPL_MAX_NUMS ||
      m->blob_len > HS_REPL_MAX_BLOB)
    return HS_EINVAL;
  if (len != hs_repl_msg_encoded_size(m)) return HS_EINVAL;
  m->key = m->key_len ? p : NULL;
  p += m->key_len;
  m->value = m->value_len ? p : NULL;
  p += m->value_len;
  if (grow((void **)&d->ids, &d->ids_cap, m->n_ids, sizeof *d->ids) ||
      grow((void **)&d->nums, &d->nums_cap, m->n_nums, sizeof *d->nums))
    return HS_ENOMEM;
  for (uint32_t i = 0; i < m->n_ids; i++, p += 4) {
    d->ids[i] = hs_get32(p);
    if (d->ids[i] == HS_REPL_NONE) return HS_EINVAL;
  }
  for (uint32_t i = 0; i < m->n_nums; i++, p += 8) d->nums[i] = hs_get64(p);
  m->ids = m->n_ids ? d->ids : NULL;
  m->nums = m->n_nums ? d->nums : NULL;
  m->blob = m->blob_len ? p : NULL;
  return HS_OK;
}

/* ---- Hashing -------------------------------------------------------------------------------- */

uint64_t hs_repl_hash(const void *data, size_t len, uint64_t seed) {
  const uint64_t mul = 0xc6a4a7935bd1e995ULL;
  const int r = 47;
  const uint8_t *p = data;
  uint64_t h = seed ^ (len * mul);
  for (; len >= 8; len -= 8, p += 8) {
    uint64_t k = hs_get64(p);
    k *= mul;
    k ^= k >> r;
    k *= mul;
    h ^= k;
    h *= mul;
  }
  if (len) {
    uint64_t k = 0;
    for (size_t i = len; i > 0; i--) k = k << 8 | p[i - 1];
    h ^= k;
    h *= mul;
  }
  h ^= h >> r;
  h *= mul;
  h ^= h >> r;
  return h;
}

uint64_t hs_repl_mix(uint64_t a, uint64_t b) {
  uint64_t h = a * 0x9e3779b97f4a7c15ULL ^ (b + 0x632be59bd9b4e019ULL + (a << 6) + (a >> 2));
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}
