/*
 * hs_swim_internal.h - the member's state: the packed member table, a small id -> slot hash
 * map, the suspicion timers (slots + a heap with lazy invalidation) and the dissemination
 * buffer (slots in buckets by transmission count).
 */
#ifndef HS_SWIM_INTERNAL_H
#define HS_SWIM_INTERNAL_H

#include "membership/hs_swim.h"

#define SWIM_NIL UINT32_MAX
#define SWIM_MAX_ORIGINS 8u /* Lifeguard's K is at most this */
#define SWIM_MAX_TX 64u     /* buckets of the dissemination buffer */

/* A table entry: state in the top 2 bits, incarnation in the low 30. */
static inline hs_swim_state swim_state_of(uint32_t v) { return (hs_swim_state)(v >> 30); }
static inline uint32_t swim_inc_of(uint32_t v) { return v & HS_SWIM_MAX_INCARNATION; }
static inline uint32_t swim_pack(hs_swim_state st, uint32_t inc) { return ((uint32_t)st << 30) | inc; }

/* Open addressing, linear probing, backward-shift deletion; keys are non-zero. */
typedef struct swim_map {
  uint32_t *keys;
  uint32_t *vals;
  uint32_t cap; /* a power of two, or 0 */
  uint32_t count;
} swim_map;

uint32_t swim_map_get(const swim_map *m, uint32_t key);
int swim_map_put(swim_map *m, uint32_t key, uint32_t val);
void swim_map_del(swim_map *m, uint32_t key);
void swim_map_clear(swim_map *m);
void swim_map_free(swim_map *m);

typedef struct swim_suspicion {
  uint32_t member, incarnation;
  hs_time_ns start, deadline;
  uint32_t gen;
  uint32_t n_origins;
  uint32_t origins[SWIM_MAX_ORIGINS];
  uint32_t next_free;
} swim_suspicion;

typedef struct swim_deadline {
  hs_time_ns at;
  uint32_t slot, gen;
} swim_deadline;

typedef struct swim_gossip {
  hs_swim_update u;
  uint32_t tx;
  uint32_t prev, next; /* in bucket tx; next is the free-list link when unused */
} swim_gossip;

struct hs_swim {
  uint32_t id;
  hs_swim_config cfg;
  hs_time_ns ping_timeout, suspicion_min, suspicion_max;
  hs_rng rng;
  bool started, crashed;
  hs_time_ns now;
  hs_time_ns armed; /* what set_timer was last told */

  /* the member table, indexed by id: [0, cap) */
  uint32_t *table;
  uint32_t cap;
  uint32_t n_alive, n_suspect, n_dead; /* others */
  uint32_t incarnation;                /* own, durable */
  hs_time_ns refute_until; /* alive(self) stays in the buffer until then (see refute) */

  /* probing */
  hs_time_ns period_at, ping_timeout_at;
  uint64_t next_seq;
  bool probing, acked, indirect_sent;
  uint32_t target;
  uint64_t seq;
  uint64_t round_keys[4];
  uint32_t round_bits, round_n, round_pos;

  /* suspicion timers */
  swim_map suspect_of; /* member -> slot */
  swim_suspicion *susp;
  uint32_t susp_cap, susp_free;
  swim_deadline *heap;
  uint32_t heap_len, heap_cap;
  hs_time_ns heap_top; /* heap[0].at (maybe stale), HS_TIME_NEVER when empty: read without
                        * touching the heap on every message */

  /* dissemination */
  swim_map gossip_of; /* member -> slot */
  swim_gossip *gossip;
  uint32_t gossip_cap, gossip_free, gossip_count;
  uint32_t bucket[SWIM_MAX_TX];
  uint64_t bucket_used; /* bit tx: bucket tx is not empty */
  uint32_t limit_n, limit; /* the transmission limit, for a group of limit_n (cached) */
  hs_swim_update *scratch; /* outgoing updates: max_piggyback */
  uint32_t *picked;        /* slots picked for one message */

  hs_swim_stats stats;
};

/* hs_swim_gossip.c */
/* Applies one update (from a message, or this member's own verdict): the incarnation rules,
 * counts, suspicion timers, re-gossip, member_changed. A suspicion of this member is refuted. */
void swim_apply(hs_swim *s, const hs_swim_update *u, hs_time_ns now);
/* Queues an update for dissemination (replacing an older one about the same member). */
void swim_gossip_put(hs_swim *s, const hs_swim_update *u);
/* Fills s->scratch with up to max_piggyback updates for a message to `to`; their count. */
uint32_t swim_gossip_take(hs_swim *s, uint32_t to);
void swim_gossip_clear(hs_swim *s);
/* Suspicions whose time has come become dead. */
void swim_suspicions_expire(hs_swim *s, hs_time_ns now);
hs_time_ns swim_suspicions_next(hs_swim *s);
void swim_suspicions_clear(hs_swim *s);
/* Grows the table to hold id (new entries UNKNOWN): to exactly id + 1 entries, or with room
 * to spare (doubling) for joins. HS_OK, HS_EINVAL, HS_ENOMEM. */
int swim_table_reserve(hs_swim *s, uint32_t id, bool exact);
void swim_set_entry(hs_swim *s, uint32_t id, hs_swim_state st, uint32_t inc);

#endif
