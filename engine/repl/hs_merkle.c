/* hs_merkle.c - the Merkle tree over hashed key buckets (hs_merkle.h). */
#include "repl/hs_merkle.h"

#include <stdlib.h>

#define VALUE_SEED 0x5bd1e9955bd1e995ULL

int hs_merkle_init(hs_merkle *t, uint32_t leaf_bits, uint32_t fanout_bits) {
  memset(t, 0, sizeof *t);
  if (fanout_bits < 1 || fanout_bits > HS_MERKLE_MAX_FANOUT_BITS || leaf_bits > HS_MERKLE_MAX_LEAF_BITS ||
      leaf_bits % fanout_bits)
    return HS_EINVAL;
  t->leaf_bits = leaf_bits;
  t->fanout_bits = fanout_bits;
  t->depth = leaf_bits / fanout_bits;
  uint64_t total = 0;
  for (uint32_t l = 0; l <= t->depth; l++) {
    t->level_off[l] = total;
    total += hs_merkle_level_width(t, l);
  }
  t->level_off[t->depth + 1] = total;
  uint64_t leaves = hs_merkle_level_width(t, t->depth);
  t->nodes = calloc(total, sizeof *t->nodes);
  t->dirty = calloc(total, 1);
  t->bucket_head = calloc(leaves, sizeof *t->bucket_head);
  t->bucket_tail = calloc(leaves, sizeof *t->bucket_tail);
  hs_repl_map_init(&t->keys);
  if (!t->nodes || !t->dirty || !t->bucket_head || !t->bucket_tail) {
    hs_merkle_free(t);
    return HS_ENOMEM;
  }
  return HS_OK;
}

void hs_merkle_free(hs_merkle *t) {
  free(t->nodes);
  free(t->dirty);
  free(t->bucket_head);
  free(t->bucket_tail);
  free(t->recs);
  hs_repl_map_free(&t->keys);
  memset(t, 0, sizeof *t);
}

void hs_merkle_clear(hs_merkle *t) {
  uint64_t leaves = hs_merkle_level_width(t, t->depth);
  memset(t->nodes, 0, t->level_off[t->depth + 1] * sizeof *t->nodes);
  memset(t->dirty, 0, t->level_off[t->depth + 1]);
  memset(t->bucket_head, 0, leaves * sizeof *t->bucket_head);
  memset(t->bucket_tail, 0, leaves * sizeof *t->bucket_tail);
  hs_repl_map_clear(&t->keys);
}

bool hs_merkle_same_shape(const hs_merkle *a, const hs_merkle *b) {
  return a->leaf_bits == b->leaf_bits && a->fanout_bits == b->fanout_bits;
}

int hs_merkle_add(hs_merkle *t, const void *key, size_t len, uint32_t *idx, bool *added) {
  /* room for a record first, so the map never holds a key without one */
  *added = false;
  if (hs_repl_grow((void **)&t->recs, &t->recs_cap, t->keys.n + 1, sizeof *t->recs) != HS_OK) return HS_ENOMEM;
  int rc = hs_repl_map_add(&t->keys, key, len, idx, added);
  if (rc != HS_OK || !*added) return rc;
  t->recs[*idx] = (hs_merkle_rec){0};
  uint32_t b = hs_merkle_bucket_of(t, *idx);
  if (t->bucket_tail[b]) t->recs[t->bucket_tail[b] - 1].next = *idx + 1;
  else t->bucket_head[b] = *idx + 1;
  t->bucket_tail[b] = *idx + 1;
  return HS_OK;
}

/* Marks the ancestors of leaf `bucket` dirty, stopping at one already dirty (its own
 * ancestors are then dirty too). */
static void merkle_touch(hs_merkle *t, uint64_t bucket) {
  uint64_t index = bucket;
  for (uint32_t l = t->depth; l-- > 0;) {
    index >>= t->fanout_bits;
    uint8_t *d = &t->dirty[t->level_off[l] + index];
    if (*d) return;
    *d = 1;
  }
}

void hs_merkle_set(hs_merkle *t, uint32_t idx, uint64_t value_hash) {
  hs_merkle_rec *r = &t->recs[idx];
  uint64_t kh = t->keys.keys[idx].hash;
  uint64_t bucket = hs_merkle_bucket_of(t, idx);
  uint64_t *leaf = &t->nodes[t->level_off[t->depth] + bucket];
  if (r->set && r->value_hash == value_hash) return;
  if (r->set) *leaf -= hs_repl_mix(kh, r->value_hash);
  *leaf += hs_repl_mix(kh, value_hash);
  r->value_hash = value_hash;
  r->set = true;
  merkle_touch(t, bucket);
}

int hs_merkle_update(hs_merkle *t, const void *key, size_t len, uint64_t value_hash) {
  uint32_t idx;
  bool added;
  int rc = hs_merkle_add(t, key, len, &idx, &added);
  if (rc == HS_OK) hs_merkle_set(t, idx, value_hash);
  return rc;
}

int hs_merkle_update_value(hs_merkle *t, const void *key, size_t len, const void *value, size_t value_len) {
  return hs_merkle_update(t, key, len, hs_repl_hash(value, value_len, VALUE_SEED));
}

int64_t hs_merkle_find(const hs_merkle *t, const void *key, size_t len) { return hs_repl_map_find(&t->keys, key, len); }

uint64_t hs_merkle_node(hs_merkle *t, uint32_t level, uint64_t index) {
  if (level > t->depth || index >= hs_merkle_level_width(t, level)) return 0;
  uint64_t at = t->level_off[level] + index;
  if (level == t->depth || !t->dirty[at]) return t->nodes[at];
  uint64_t fan = (uint64_t)1 << t->fanout_bits, h = 0x243f6a8885a308d3ULL;
  bool any = false;
  for (uint64_t c = 0; c < fan; c++) {
    uint64_t ch = hs_merkle_node(t, level + 1, index * fan + c);
    any |= ch != 0;
    h = hs_repl_mix(h, ch);
  }
  t->nodes[at] = any ? h : 0;
  t->dirty[at] = 0;
  return t->nodes[at];
}

/* ---- diff ---------------------------------------------------------------------------------- */

typedef struct diff_ctx {
  hs_merkle *a, *b;
  void (*fn)(void *ud, const uint8_t *key, uint32_t len);
  void *ud;
  int64_t found;
  uint64_t compared;
} diff_ctx;

static void diff_bucket(diff_ctx *c, uint32_t bucket) {
  for (int64_t i = hs_merkle_bucket_first(c->a, bucket); i >= 0; i = hs_merkle_bucket_next(c->a, (uint32_t)i)) {
    const hs_repl_key *k = hs_merkle_key(c->a, (uint32_t)i);
    const hs_merkle_rec *ra = &c->a->recs[i];
    int64_t j = hs_merkle_find(c->b, k->p, k->len);
    const hs_merkle_rec *rb = j >= 0 ? &c->b->recs[j] : NULL;
    bool same = ra->set ? (rb && rb->set && rb->value_hash == ra->value_hash) : (!rb || !rb->set);
    if (same) continue;
    c->found++;
    if (c->fn) c->fn(c->ud, k->p, k->len);
  }
  for (int64_t j = hs_merkle_bucket_first(c->b, bucket); j >= 0; j = hs_merkle_bucket_next(c->b, (uint32_t)j)) {
    const hs_repl_key *k = hs_merkle_key(c->b, (uint32_t)j);
    if (!c->b->recs[j].set) continue;
    int64_t i = hs_merkle_find(c->a, k->p, k->len);
    if (i >= 0 && c->a->recs[i].set) continue; /* compared above */
    c->found++;
    if (c->fn) c->fn(c->ud, k->p, k->len);
  }
}

static void diff_node(diff_ctx *c, uint32_t level, uint64_t index) {
  c->compared++;
  if (hs_merkle_node(c->a, level, index) == hs_merkle_node(c->b, level, index)) return;
  if (level == c->a->depth) {
    diff_bucket(c, (uint32_t)index);
    return;
  }
  uint64_t fan = (uint64_t)1 << c->a->fanout_bits;
  for (uint64_t k = 0; k < fan; k++) diff_node(c, level + 1, index * fan + k);
}

int64_t hs_merkle_diff(hs_merkle *a, hs_merkle *b, void (*fn)(void *ud, const uint8_t *key, uint32_t len), void *ud,
                       uint64_t *hashes_compared) {
  if (!hs_merkle_same_shape(a, b)) return HS_EINVAL;
  diff_ctx c = {a, b, fn, ud, 0, 0};
  diff_node(&c, 0, 0);
  if (hashes_compared) *hashes_compared = c.compared;
  return c.found;
}

/* ---- one step of the sync protocol ------------------------------------------------------------ */

int hs_merkle_out_push(hs_merkle_out *o, uint64_t v) {
  if (hs_repl_grow((void **)&o->v, &o->cap, o->n + 1, sizeof *o->v) != HS_OK) return HS_ENOMEM;
  o->v[o->n++] = v;
  return HS_OK;
}

void hs_merkle_out_free(hs_merkle_out *o) {
  free(o->v);
  memset(o, 0, sizeof *o);
}

int64_t hs_merkle_compare(hs_merkle *t, uint32_t level, const uint64_t *peer, uint32_t n, hs_merkle_out *out) {
  out->n = 0;
  if (level > t->depth) return HS_EINVAL;
  uint64_t width = hs_merkle_level_width(t, level), fan = (uint64_t)1 << t->fanout_bits;
  int64_t differing = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint64_t index = peer[2 * i], hash = peer[2 * i + 1];
    if (index >= width) return HS_EINVAL;
    if (hs_merkle_node(t, level, index) == hash) continue;
    differing++;
    if (level == t->depth) {
      if (hs_merkle_out_push(out, index)) return HS_ENOMEM;
      continue;
    }
    for (uint64_t k = 0; k < fan; k++) {
      uint64_t child = index * fan + k;
      if (hs_merkle_out_push(out, child) || hs_merkle_out_push(out, hs_merkle_node(t, level + 1, child)))
        return HS_ENOMEM;
    }
  }
  return differing;
}
