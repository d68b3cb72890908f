/*
 * hs_repl_internal.h - helpers shared by the files of engine/repl: little-endian fields, a
 * bounds-checked reader for the blobs inside messages, the key map, and the membership view
 * that primary-backup and chain nodes keep of the configuration master's decisions.
 *
 * Layout of the sources:
 *   hs_repl_msg.c     message encoding, names, error strings, the hash
 *   hs_repl_map.c     the key map (insertion-ordered, no removal) and the membership view
 *   hs_repl_master.c  the configuration master (hs_repl_master.h)
 *   hs_pb.c           primary-backup: life cycle, configurations, clients (hs_pb.h)
 *   hs_pb_log.c       primary-backup: the log, replication on both sides, snapshots
 *   hs_chain.c        chain/CRAQ: life cycle, configurations, writes, propagation (hs_chain.h)
 *   hs_chain_obj.c    chain/CRAQ: versioned objects, reads, snapshots
 *   hs_merkle.c       the Merkle tree (hs_merkle.h)
 *   hs_ml.c           multi-leader: versions, vector clocks, resolvers, writes (hs_ml.h)
 *   hs_ml_ae.c        multi-leader: broadcast and Merkle anti-entropy
 *   hs_repl_node.c    the adapters to the simulator (hs_repl_node.h), with hs_*_node.c
 *
 * Static helpers carry a per-file prefix so the files can be compiled as one translation unit
 * (the unsafe-build test does that).
 */
#ifndef HS_REPL_INTERNAL_H
#define HS_REPL_INTERNAL_H

#include "core/hs_value.h"
#include "repl/hs_repl.h"

#include <string.h>

/* ---- Little-endian fields ------------------------------------------------------------------ */

static inline uint8_t *hs_put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) *p++ = (uint8_t)(v >> (8 * i));
  return p;
}
static inline uint8_t *hs_put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) *p++ = (uint8_t)(v >> (8 * i));
  return p;
}
static inline uint32_t hs_get32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t hs_get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

/* Appends to an hs_buf (its failed flag records an allocation failure). */
static inline void hs_wr32(hs_buf *b, uint32_t v) {
  uint8_t *p = hs_buf_reserve(b, 4);
  if (p) hs_put32(p, v);
}
static inline void hs_wr64(hs_buf *b, uint64_t v) {
  uint8_t *p = hs_buf_reserve(b, 8);
  if (p) hs_put64(p, v);
}
/* A length-prefixed byte string. */
static inline void hs_wr_bytes(hs_buf *b, const void *data, uint32_t len) {
  hs_wr32(b, len);
  if (len) hs_buf_put_raw(b, data, len);
}

/* A reader that never reads past `end`: once a read would, `bad` is set and reads return 0. */
typedef struct hs_rd {
  const uint8_t *p, *end;
  bool bad;
} hs_rd;

static inline hs_rd hs_rd_init(const uint8_t *p, size_t len) { return (hs_rd){p, p + len, p == NULL && len}; }
static inline bool hs_rd_has(hs_rd *r, size_t n) {
  if (r->bad || (size_t)(r->end - r->p) < n) {
    r->bad = true;
    return false;
  }
  return true;
}
static inline uint32_t hs_rd32(hs_rd *r) {
  if (!hs_rd_has(r, 4)) return 0;
  uint32_t v = hs_get32(r->p);
  r->p += 4;
  return v;
}
static inline uint64_t hs_rd64(hs_rd *r) {
  if (!hs_rd_has(r, 8)) return 0;
  uint64_t v = hs_get64(r->p);
  r->p += 8;
  return v;
}
/* A length-prefixed byte string of at most max bytes: its bytes (NULL when empty or bad). */
static inline const uint8_t *hs_rd_bytes(hs_rd *r, uint32_t max, uint32_t *len) {
  *len = hs_rd32(r);
  if (*len > max) r->bad = true;
  if (r->bad || !hs_rd_has(r, *len)) {
    *len = 0;
    return NULL;
  }
  const uint8_t *p = *len ? r->p : NULL;
  r->p += *len;
  return p;
}
static inline bool hs_rd_done(const hs_rd *r) { return !r->bad && r->p == r->end; }

/* Whether the bytes are one whole, well-formed encoded hs_value. */
static inline bool hs_repl_value_ok(const uint8_t *p, size_t len) {
  return len > 0 && hs_value_size((hs_value){p, len}) == len;
}

/* ---- The key map ------------------------------------------------------------------------------ */

/* Keys (owned copies) in insertion order, found by an open-addressing index. Indices are
 * stable: there is no removal, only hs_repl_map_clear. Users keep per-key data in arrays
 * indexed like the keys. */
typedef struct hs_repl_key {
  uint8_t *p;
  uint32_t len;
  uint64_t hash; /* hs_repl_hash(key, len, 0) */
} hs_repl_key;

typedef struct hs_repl_map {
  hs_repl_key *keys;
  uint32_t n, cap;
  uint32_t *slots; /* 0: empty, else key index + 1 */
  uint32_t slot_cap; /* a power of two, or 0 */
} hs_repl_map;

void hs_repl_map_init(hs_repl_map *m);
void hs_repl_map_free(hs_repl_map *m);
void hs_repl_map_clear(hs_repl_map *m);
/* The index of key, or -1. */
int64_t hs_repl_map_find(const hs_repl_map *m, const void *key, size_t len);
/* Finds or adds key: *idx gets its index, *added whether it is new. HS_OK, HS_EINVAL (key
 * longer than HS_REPL_MAX_KEY), HS_ENOMEM. */
int hs_repl_map_add(hs_repl_map *m, const void *key, size_t len, uint32_t *idx, bool *added);
/* Grows a per-key array to hold at least n elements of elem bytes (new ones zeroed). */
int hs_repl_grow(void **arr, uint32_t *cap, uint32_t n, size_t elem);

/* ---- The membership view of a primary-backup or chain node ----------------------------------- */

_Static_assert(HS_REPL_MAX_NODES <= 64, "a CONFIG carries the synced members as a 64-bit mask");

/* What a node knows of the configuration master's latest decision, and its lease. */
typedef struct hs_repl_view {
  uint64_t epoch; /* 0: no configuration yet */
  uint32_t n;
  uint32_t members[HS_REPL_MAX_NODES]; /* in order: primary (head) first */
  uint64_t join_epoch[HS_REPL_MAX_NODES];
  uint64_t synced_members; /* bit i: member i holds the data, in the master's word (CONFIG) */
  int32_t self_pos;       /* this node's position, -1 when it is not a member */
  hs_time_ns lease_until; /* the node may serve while now < lease_until */
  uint64_t joined_at;     /* the join epoch this node's data belongs to (0: none) */
  bool synced;            /* the node holds the data of its join (bootstrap or state transfer) */
  uint64_t boots;         /* starts and restarts: durable, sent in pings */
} hs_repl_view;

enum { HS_REPL_VIEW_SAME = 0, HS_REPL_VIEW_NEW = 1, HS_REPL_VIEW_REJOIN = 2 };

void hs_repl_view_reset(hs_repl_view *v); /* the volatile part: no configuration, no data */
/* Adopts a CONFIG message: HS_REPL_VIEW_SAME (same or older epoch; a lease may be extended,
 * and at the same epoch members the master has since heard are synced are marked so),
 * HS_REPL_VIEW_NEW (a later configuration), HS_REPL_VIEW_REJOIN (a later one in which this
 * node joined afresh: it must drop its data and wait for a state transfer), or HS_EINVAL
 * (malformed: no members, duplicates, join epochs out of range). A member joining at epoch 1
 * in its first life (boots == 1) with no data is synced at once: the bootstrap state is empty. */
int hs_repl_view_adopt(hs_repl_view *v, uint32_t self, const hs_repl_msg *m);
/* The PING this node sends its master. */
hs_repl_msg hs_repl_view_ping(const hs_repl_view *v, uint32_t self, uint32_t master, uint64_t applied);
static inline bool hs_repl_view_member(const hs_repl_view *v) { return v->epoch && v->self_pos >= 0; }
/* Whether the master has said member i of the view is synced. */
static inline bool hs_repl_view_synced_at(const hs_repl_view *v, uint32_t i) {
  return i < v->n && (v->synced_members >> i & 1);
}
static inline bool hs_repl_view_leased(const hs_repl_view *v, hs_time_ns now) { return now < v->lease_until; }
static inline uint32_t hs_repl_view_first(const hs_repl_view *v) { return v->n ? v->members[0] : HS_REPL_NONE; }
static inline uint32_t hs_repl_view_last(const hs_repl_view *v) { return v->n ? v->members[v->n - 1] : HS_REPL_NONE; }
/* The member before / after this node (HS_REPL_NONE at the ends or when not a member). */
uint32_t hs_repl_view_pred(const hs_repl_view *v);
uint32_t hs_repl_view_succ(const hs_repl_view *v);

#endif
