/* hs_ml_ae.c - multi-leader replication on the wire: the broadcast of writes and the Merkle
 * anti-entropy exchange (hs_ml.h). */
#include "repl/hs_ml_internal.h"

#include <stdlib.h>

static void ae_send(hs_ml *ml, hs_repl_msg *m) {
  m->from = ml->id;
  ml->cb.send(ml->ud, m);
}

void hs_ml_broadcast(hs_ml *ml, uint32_t i, uint32_t version) {
  const hs_ml_ver *v = &ml->objs[i].v[version];
  hs_ml_version view = {v->value, v->value_len, &v->clock, v->ts, v->origin};
  hs_buf_reset(&ml->enc);
  hs_wr32(&ml->enc, 1);
  hs_ml_version_encode(&view, &ml->enc);
  if (ml->enc.failed) return;
  const hs_repl_key *k = hs_merkle_key(&ml->tree, i);
  for (uint32_t p = 0; p < ml->n_peers; p++) {
    hs_repl_msg m = {.type = HS_REPL_MSG_ML_REPLICATE, .to = ml->peers[p], .key = k->p, .key_len = k->len,
                     .blob = ml->enc.data, .blob_len = (uint32_t)ml->enc.len};
    ae_send(ml, &m);
    ml->st.replications_sent++;
  }
}

/* Walks a list of versions (u32 count, versions) for `key`: checks them when apply is false,
 * merges them when it is. Returns the number of changes (apply), 0 (check passed), or
 * HS_EINVAL / HS_ENOMEM. */
static int ae_versions(hs_ml *ml, hs_rd *r, const uint8_t *key, uint32_t key_len, bool apply) {
  uint32_t n = hs_rd32(r);
  if (r->bad || n == 0 || n > HS_REPL_MAX_NODES) return HS_EINVAL;
  int changed = 0;
  for (uint32_t i = 0; i < n; i++) {
    hs_ml_ver v;
    if (!hs_ml_ver_decode(r, &v)) return HS_EINVAL;
    if (!apply) {
      hs_ml_ver_free(&v);
      continue;
    }
    int rc = hs_ml_merge(ml, key, key_len, &v);
    if (rc < 0) return rc;
    changed |= rc;
  }
  return changed;
}

static int ae_replicate(hs_ml *ml, const hs_repl_msg *m) {
  if (m->key_len > HS_REPL_MAX_KEY) return HS_EINVAL;
  hs_rd r = hs_rd_init(m->blob, m->blob_len);
  if (ae_versions(ml, &r, m->key, m->key_len, false) < 0 || !hs_rd_done(&r)) return HS_EINVAL;
  r = hs_rd_init(m->blob, m->blob_len);
  int rc = ae_versions(ml, &r, m->key, m->key_len, true);
  if (rc < 0) return rc;
  ml->st.replications_received++;
  return HS_OK;
}

/* The states of every key in the given buckets: u32 count, then (key, versions) each. */
static uint32_t ae_encode_buckets(hs_ml *ml, const uint64_t *buckets, uint32_t n, hs_buf *out) {
  hs_buf_reset(out);
  hs_wr32(out, 0);
  uint32_t count = 0;
  for (uint32_t b = 0; b < n; b++)
    for (int64_t i = hs_merkle_bucket_first(&ml->tree, (uint32_t)buckets[b]); i >= 0;
         i = hs_merkle_bucket_next(&ml->tree, (uint32_t)i)) {
      const hs_repl_key *k = hs_merkle_key(&ml->tree, (uint32_t)i);
      hs_wr_bytes(out, k->p, k->len);
      hs_ml_obj_encode(ml, (uint32_t)i, out);
      count++;
    }
  if (!out->failed) hs_put32(out->data, count);
  return count;
}

static void ae_send_keys(hs_ml *ml, uint32_t to, uint64_t round, const uint64_t *buckets, uint32_t n, uint32_t flags) {
  uint32_t count = ae_encode_buckets(ml, buckets, n, &ml->keys_blob);
  if (ml->keys_blob.failed || ml->keys_blob.len > HS_REPL_MAX_BLOB) return;
  hs_repl_msg m = {.type = HS_REPL_MSG_ML_KEYS, .to = to, .flags = flags, .context = round, .nums = buckets,
                   .n_nums = n, .blob = ml->keys_blob.data, .blob_len = (uint32_t)ml->keys_blob.len,
                   .commit = hs_merkle_shape(&ml->tree)};
  ae_send(ml, &m);
  ml->st.keys_shipped += count;
}

static int ae_hashes(hs_ml *ml, const hs_repl_msg *m) {
  if (m->commit != hs_merkle_shape(&ml->tree) || m->n_nums % 2 || m->seq > ml->tree.depth) return HS_EINVAL;
  int64_t differing = hs_merkle_compare(&ml->tree, (uint32_t)m->seq, m->nums, m->n_nums / 2, &ml->out);
  if (differing < 0) return (int)differing;
  if (ml->out.n == 0) return HS_OK; /* in sync below these nodes */
  if (m->seq == ml->tree.depth) {   /* out: the differing buckets: ship ours, ask for theirs */
    ae_send_keys(ml, m->from, m->context, ml->out.v, ml->out.n, HS_REPL_FLAG_REPLY);
    return HS_OK;
  }
  if (ml->out.n > HS_REPL_MAX_NUMS) return HS_OK;
  hs_repl_msg r = {.type = HS_REPL_MSG_ML_HASHES, .to = m->from, .seq = m->seq + 1, .context = m->context,
                   .commit = m->commit, .nums = ml->out.v, .n_nums = ml->out.n};
  ae_send(ml, &r);
  ml->st.hashes_sent += ml->out.n / 2;
  return HS_OK;
}

/* Shipped key states: checked whole first, then merged; with REPLY, ours for the same buckets
 * go back (after the merge, so the sender ends up with the union too). */
static int ae_keys(hs_ml *ml, const hs_repl_msg *m) {
  uint64_t leaves = hs_merkle_level_width(&ml->tree, ml->tree.depth);
  if (m->commit != hs_merkle_shape(&ml->tree)) return HS_EINVAL;
  for (uint32_t i = 0; i < m->n_nums; i++)
    if (m->nums[i] >= leaves) return HS_EINVAL;
  for (int apply = 0; apply <= 1; apply++) {
    hs_rd r = hs_rd_init(m->blob, m->blob_len);
    uint32_t count = hs_rd32(&r);
    for (uint32_t i = 0; i < count && !r.bad; i++) {
      uint32_t klen;
      const uint8_t *key = hs_rd_bytes(&r, HS_REPL_MAX_KEY, &klen);
      int rc = r.bad ? HS_EINVAL : ae_versions(ml, &r, key, klen, apply);
      if (rc < 0) return rc;
      if (apply && rc > 0) ml->st.anti_entropy_keys_repaired++;
    }
    if (!hs_rd_done(&r)) return HS_EINVAL;
  }
  if (m->flags & HS_REPL_FLAG_REPLY) ae_send_keys(ml, m->from, m->context, m->nums, m->n_nums, 0);
  return HS_OK;
}

int hs_ml_step(hs_ml *ml, const hs_repl_msg *m, hs_time_ns now) {
  (void)now;
  if (ml->crashed) return HS_REPL_ECRASHED;
  int rc = HS_EINVAL;
  if (m->to == ml->id && m->from != HS_REPL_NONE && m->from != ml->id) {
    switch (m->type) {
    case HS_REPL_MSG_ML_REPLICATE: rc = ae_replicate(ml, m); break;
    case HS_REPL_MSG_ML_HASHES: rc = ae_hashes(ml, m); break;
    case HS_REPL_MSG_ML_KEYS: rc = ae_keys(ml, m); break;
    default: break;
    }
  }
  if (rc == HS_EINVAL) ml->st.malformed++;
  return rc;
}

int hs_ml_sync(hs_ml *ml, uint32_t peer, hs_time_ns now) {
  (void)now;
  if (ml->crashed) return HS_REPL_ECRASHED;
  if (peer == HS_REPL_NONE || peer == ml->id) return HS_EINVAL;
  uint64_t pair[2] = {0, hs_merkle_root(&ml->tree)};
  hs_repl_msg m = {.type = HS_REPL_MSG_ML_HASHES, .to = peer, .seq = 0, .context = ++ml->round,
                   .commit = hs_merkle_shape(&ml->tree), .nums = pair, .n_nums = 2};
  ml->st.anti_entropy_syncs++;
  ml->st.hashes_sent++;
  ae_send(ml, &m);
  return HS_OK;
}

int hs_ml_tick(hs_ml *ml, hs_time_ns now) {
  if (ml->crashed) return HS_REPL_ECRASHED;
  if (now < ml->ae_at) return HS_OK;
  ml->ae_at = ml->ae_interval > 0 ? now + ml->ae_interval : HS_TIME_NEVER;
  if (ml->n_peers) hs_ml_sync(ml, ml->peers[hs_rng_below(&ml->rng, ml->n_peers)], now);
  hs_ml_arm(ml);
  return HS_OK;
}
