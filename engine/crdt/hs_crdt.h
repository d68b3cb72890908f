/*
 * hs_crdt.h - state-based CRDTs (Shapiro, Preguica, Baquero, Zawirski 2011): GCounter,
 * PNCounter, LWWRegister and the add-wins ORSet without tombstones (Bieniusa et al. 2012,
 * "An optimized conflict-free replicated set").
 *
 * Each type's merge is commutative, associative and idempotent, so replicas that have seen
 * the same updates, in any order, any number of times, hold the same state. Replica ids and
 * elements are byte strings (elements: canonical hs_value encodings, so equal Lua values are
 * equal elements). Everything is kept sorted by bytes: states, encodings and iteration are
 * deterministic and two equal states encode to the same bytes.
 *
 * States cross the network as hs_value tables (hs_crdt_*_encode / _decode); decoding checks
 * every field and refuses malformed input with HS_EINVAL, never trusting a count.
 * Functions return HS_OK or a negative HS_ code (HS_ENOMEM, HS_EINVAL).
 */
#ifndef HS_CRDT_H
#define HS_CRDT_H

#include "core/hs_value.h"

/* A byte string owned by its container. */
typedef struct hs_bytes {
  uint8_t *p;
  uint32_t len;
} hs_bytes;

/* A version vector: replica id -> counter, sorted by id. Missing ids read 0. */
typedef struct hs_vv_entry {
  hs_bytes id;
  uint64_t n;
} hs_vv_entry;

typedef struct hs_vv {
  hs_vv_entry *e;
  uint32_t n, cap;
} hs_vv;

void hs_vv_init(hs_vv *v);
void hs_vv_free(hs_vv *v);
uint64_t hs_vv_get(const hs_vv *v, const void *id, size_t len);
/* Sets id's counter to max(current, n). */
int hs_vv_raise(hs_vv *v, const void *id, size_t len, uint64_t n);
/* v = pointwise max(v, other). */
int hs_vv_merge(hs_vv *v, const hs_vv *other);
int hs_vv_copy(hs_vv *dst, const hs_vv *src);
bool hs_vv_equal(const hs_vv *a, const hs_vv *b);
/* Encoded as a table array { id1, n1, id2, n2, ... } in id order. */
void hs_vv_encode(const hs_vv *v, hs_buf *out);
int hs_vv_decode(hs_vv *v, hs_value in);

/* ---- GCounter: grow-only counter, one count per replica ---------------------------- */

typedef struct hs_gcounter {
  hs_vv counts;
  hs_bytes self;
} hs_gcounter;

int hs_gcounter_init(hs_gcounter *g, const void *self, size_t len);
void hs_gcounter_free(hs_gcounter *g);
/* Adds n to this replica's count; HS_EINVAL when the total would pass 2^63 - 1. */
int hs_gcounter_increment(hs_gcounter *g, uint64_t n);
/* The sum of every replica's count. */
uint64_t hs_gcounter_value(const hs_gcounter *g);
int hs_gcounter_merge(hs_gcounter *g, const hs_gcounter *other);
/* { "gcounter", { id, n, ... } } */
void hs_gcounter_encode(const hs_gcounter *g, hs_buf *out);
/* Merges an encoded state (any replica's) into g. */
int hs_gcounter_merge_encoded(hs_gcounter *g, hs_value in);

/* ---- PNCounter: two GCounters, increments and decrements --------------------------- */

typedef struct hs_pncounter {
  hs_gcounter p, n;
} hs_pncounter;

int hs_pncounter_init(hs_pncounter *c, const void *self, size_t len);
void hs_pncounter_free(hs_pncounter *c);
int hs_pncounter_increment(hs_pncounter *c, uint64_t n);
int hs_pncounter_decrement(hs_pncounter *c, uint64_t n);
int64_t hs_pncounter_value(const hs_pncounter *c);
int hs_pncounter_merge(hs_pncounter *c, const hs_pncounter *other);
/* { "pncounter", P, N } with P and N as in hs_vv_encode */
void hs_pncounter_encode(const hs_pncounter *c, hs_buf *out);
int hs_pncounter_merge_encoded(hs_pncounter *c, hs_value in);

/* ---- LWWRegister: the write with the highest (timestamp, replica id) wins ----------- */

typedef struct hs_lww {
  hs_bytes value; /* an encoded hs_value; empty when never set */
  double timestamp;
  hs_bytes node; /* the replica that wrote it */
  hs_bytes self;
  bool set;
} hs_lww;

int hs_lww_init(hs_lww *r, const void *self, size_t len);
void hs_lww_free(hs_lww *r);
/* A local write of the encoded value at `timestamp` (finite). It is kept when it is later
 * than the current one by (timestamp, replica id, value bytes); an older write is ignored,
 * as a merge would. */
int hs_lww_set(hs_lww *r, const uint8_t *value, size_t len, double timestamp);
int hs_lww_merge(hs_lww *r, const hs_lww *other);
/* { "lww" } when unset, else { "lww", timestamp, node, value } */
void hs_lww_encode(const hs_lww *r, hs_buf *out);
int hs_lww_merge_encoded(hs_lww *r, hs_value in);

/* ---- ORSet: add-wins observed-remove set, no tombstones --------------------------- */

/* A dot: element e was added by replica `rid` as its c-th event. */
typedef struct hs_orset_dot {
  hs_bytes elem;
  hs_bytes rid;
  uint64_t c;
} hs_orset_dot;

typedef struct hs_orset {
  hs_vv vv;            /* the events seen, per replica */
  hs_orset_dot *dots;  /* live dots, sorted by (elem, rid, c) */
  uint32_t n, cap;
  hs_bytes self;
} hs_orset;

int hs_orset_init(hs_orset *s, const void *self, size_t len);
void hs_orset_free(hs_orset *s);
/* add(e): a new dot of this replica for e (replacing this replica's older dot of e). */
int hs_orset_add(hs_orset *s, const uint8_t *elem, size_t len);
/* remove(e): drops the dots of e seen here; an add concurrent with it survives a merge
 * (add wins), and a removed add never comes back (the version vector remembers it). */
int hs_orset_remove(hs_orset *s, const uint8_t *elem, size_t len);
bool hs_orset_contains(const hs_orset *s, const uint8_t *elem, size_t len);
/* Calls fn(elem, len, ud) for each element once, in byte order. */
void hs_orset_each(const hs_orset *s, void (*fn)(const uint8_t *elem, size_t len, void *ud), void *ud);
uint32_t hs_orset_size(const hs_orset *s);
int hs_orset_merge(hs_orset *s, const hs_orset *other);
/* { "orset", VV, { elem, rid, c, ... } } */
void hs_orset_encode(const hs_orset *s, hs_buf *out);
int hs_orset_merge_encoded(hs_orset *s, hs_value in);

#endif
