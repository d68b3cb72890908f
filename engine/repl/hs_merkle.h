/*
 * hs_merkle.h - a Merkle tree over a key space, for anti-entropy between replicas.
 *
 * Keys are hashed (hs_repl_hash) into 2^leaf_bits leaf buckets by the top bits of their hash,
 * so each bucket is a contiguous range of the hash space. A leaf's hash is the wrapping sum of
 * mix(key hash, value hash) over its keys (order-free: two replicas holding the same pairs
 * have the same leaf whatever the order of their updates, and an update is O(1) at the
 * leaf); an inner node's hash folds its 2^fanout_bits children with hs_repl_mix, and is 0
 * when they all are (an empty subtree). Inner nodes are recomputed lazily: an update marks
 * its ancestors dirty, a read of a hash recomputes what is dirty below it.
 *
 * Levels: 0 is the root, `depth` = leaf_bits / fanout_bits is the leaves; level L has
 * 2^(L * fanout_bits) nodes. Two trees can be compared only with the same shape.
 *
 * Keys are never removed (a deleted key is a value like another). The tree owns its key map;
 * a replica can index its own per-key data by the tree's key indices (hs_merkle_add).
 */
#ifndef HS_MERKLE_H
#define HS_MERKLE_H

#include "repl/hs_repl_internal.h"

#define HS_MERKLE_MAX_LEAF_BITS 24u
#define HS_MERKLE_MAX_FANOUT_BITS 8u

typedef struct hs_merkle_rec {
  uint64_t value_hash;
  uint32_t next; /* the next key of the same bucket, + 1 (0: none) */
  bool set;      /* has a value (contributes to its leaf) */
} hs_merkle_rec;

typedef struct hs_merkle {
  uint32_t leaf_bits, fanout_bits, depth;
  uint64_t level_off[HS_MERKLE_MAX_LEAF_BITS + 2]; /* index of level L's first node */
  uint64_t *nodes;
  uint8_t *dirty; /* inner nodes whose hash must be recomputed */
  hs_repl_map keys;
  hs_merkle_rec *recs;
  uint32_t recs_cap;
  uint32_t *bucket_head; /* per leaf: its first key + 1 */
  uint32_t *bucket_tail; /* per leaf: its last key + 1 (keys of a bucket stay in insertion order) */
} hs_merkle;

/* A growable list of numbers (the output of hs_merkle_compare). */
typedef struct hs_merkle_out {
  uint64_t *v;
  uint32_t n, cap;
} hs_merkle_out;

/* An empty tree with 2^leaf_bits leaves and 2^fanout_bits children per inner node.
 * HS_EINVAL unless 1 <= fanout_bits <= 8, leaf_bits <= 24 and fanout_bits divides
 * leaf_bits; HS_ENOMEM. */
int hs_merkle_init(hs_merkle *t, uint32_t leaf_bits, uint32_t fanout_bits);
void hs_merkle_free(hs_merkle *t);
bool hs_merkle_same_shape(const hs_merkle *a, const hs_merkle *b);
/* The shape as one number (leaf_bits << 8 | fanout_bits), as messages carry it. */
static inline uint64_t hs_merkle_shape(const hs_merkle *t) { return (uint64_t)t->leaf_bits << 8 | t->fanout_bits; }

/* Finds or adds a key (without a value: it does not count until hs_merkle_set). */
int hs_merkle_add(hs_merkle *t, const void *key, size_t len, uint32_t *idx, bool *added);
/* Sets key idx's value hash. */
void hs_merkle_set(hs_merkle *t, uint32_t idx, uint64_t value_hash);
/* add + set. HS_OK, HS_EINVAL (key too long), HS_ENOMEM. */
int hs_merkle_update(hs_merkle *t, const void *key, size_t len, uint64_t value_hash);
/* The same with the value's bytes, hashed. */
int hs_merkle_update_value(hs_merkle *t, const void *key, size_t len, const void *value, size_t value_len);
int64_t hs_merkle_find(const hs_merkle *t, const void *key, size_t len);
static inline uint32_t hs_merkle_size(const hs_merkle *t) { return t->keys.n; }
static inline const hs_repl_key *hs_merkle_key(const hs_merkle *t, uint32_t idx) { return &t->keys.keys[idx]; }
static inline uint32_t hs_merkle_bucket_of(const hs_merkle *t, uint32_t idx) {
  return t->leaf_bits ? (uint32_t)(t->keys.keys[idx].hash >> (64 - t->leaf_bits)) : 0;
}
/* Key indices of a bucket, in insertion order: first, then next until -1. */
static inline int64_t hs_merkle_bucket_first(const hs_merkle *t, uint32_t bucket) {
  return (int64_t)t->bucket_head[bucket] - 1;
}
static inline int64_t hs_merkle_bucket_next(const hs_merkle *t, uint32_t idx) { return (int64_t)t->recs[idx].next - 1; }
/* Empties the tree (same shape). */
void hs_merkle_clear(hs_merkle *t);

/* The hash of node `index` of `level` (0 for an index out of range), and the root's. */
uint64_t hs_merkle_node(hs_merkle *t, uint32_t level, uint64_t index);
static inline uint64_t hs_merkle_root(hs_merkle *t) { return hs_merkle_node(t, 0, 0); }
static inline uint64_t hs_merkle_level_width(const hs_merkle *t, uint32_t level) {
  return (uint64_t)1 << (level * t->fanout_bits);
}

/* Calls fn for each key whose value differs between a and b (present in one only, or with
 * different value hashes), descending only into subtrees whose hashes differ: a's keys of a
 * differing bucket first, then b's missing in a. Returns the number of keys, or HS_EINVAL
 * when the shapes differ. *hashes_compared (optional) counts the node hashes compared. */
int64_t hs_merkle_diff(hs_merkle *a, hs_merkle *b, void (*fn)(void *ud, const uint8_t *key, uint32_t len), void *ud,
                       uint64_t *hashes_compared);

/*
 * One step of the level-by-level protocol. `peer` holds n (index, hash) pairs of the other
 * replica's nodes at `level`. For each index whose hash differs here: below the leaves,
 * appends to out the (child index, this tree's child hash) pairs of all its children; at
 * the leaves, appends the bucket index. Returns the number of differing nodes, or HS_EINVAL
 * (an index out of range, level beyond the leaves). out is reset first.
 */
int64_t hs_merkle_compare(hs_merkle *t, uint32_t level, const uint64_t *peer, uint32_t n, hs_merkle_out *out);
void hs_merkle_out_free(hs_merkle_out *o);
int hs_merkle_out_push(hs_merkle_out *o, uint64_t v);

#endif
