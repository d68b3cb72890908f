/*
 * hs_clock.h - logical clocks and per-node physical clock models.
 *
 *   hs_lamport      Lamport clock: one counter, tick / send / receive-merge.
 *   hs_vclock       vector clock: a sorted map node index -> counter (grows as nodes appear),
 *                   increment, merge (pointwise max: the least upper bound), compare.
 *   hs_hlc          hybrid logical clock (Kulkarni et al. 2014): timestamps (l, c) where l
 *                   follows the largest physical time seen and c breaks ties; monotonic.
 *   hs_clock_model  a node's physical clock: local = true * (1 + drift) + skew, with skew and
 *                   drift changeable at run time (clock faults) without rewriting the past.
 *
 * All structs are caller-owned values. Only hs_vclock allocates (hs_vclock_free releases it).
 * Nothing reads real time: physical times are passed in (the simulation's now, or a model's
 * local time derived from it).
 *
 * The Lua binding exposes Lamport, HLC and the clock model (hs_lua_clock.c); hs.VectorClock is
 * written in Lua, keyed by node names (lua/happysim/clock.lua). hs_vclock, keyed by integer
 * node ids, is for protocol families written in C (multi-leader replication stamps versions
 * with it).
 */
#ifndef HS_CLOCK_H
#define HS_CLOCK_H

#include "core/hs_types.h"

/* Result of comparing two clocks/timestamps in the happened-before partial order. */
typedef enum hs_order {
  HS_ORDER_EQUAL = 0,
  HS_ORDER_BEFORE,    /* a happened before b */
  HS_ORDER_AFTER,     /* b happened before a */
  HS_ORDER_CONCURRENT /* neither */
} hs_order;

const char *hs_order_name(hs_order o); /* "equal", "before", "after", "concurrent" */

/* ---- Lamport clock ------------------------------------------------------------------- */

typedef struct hs_lamport {
  uint64_t time;
} hs_lamport;

static inline void hs_lamport_init(hs_lamport *c) { c->time = 0; }
/* A local event: advances the clock and returns the new time. */
uint64_t hs_lamport_tick(hs_lamport *c);
/* A send: same as tick; returns the timestamp to attach to the message. */
uint64_t hs_lamport_send(hs_lamport *c);
/* A receive of a message stamped remote: time = max(time, remote) + 1, returned. So the
 * result is greater than both the local time before and the remote timestamp. */
uint64_t hs_lamport_receive(hs_lamport *c, uint64_t remote);

/* ---- Vector clock -------------------------------------------------------------------- */

/* Entries are kept sorted by node index, and a missing index reads as 0; iterate
 * ids[i], counts[i] for i < n in increasing node order (deterministic). Node indices are
 * whatever the caller chooses (entity ids, or indices of interned names). */
typedef struct hs_vclock {
  uint32_t n, cap;
  uint32_t *ids;
  uint64_t *counts;
} hs_vclock;

void hs_vclock_init(hs_vclock *v);
void hs_vclock_free(hs_vclock *v); /* idempotent; leaves an empty clock */
/* Makes dst a copy of src. HS_OK or HS_ENOMEM (dst unchanged then). */
int hs_vclock_copy(hs_vclock *dst, const hs_vclock *src);
uint64_t hs_vclock_get(const hs_vclock *v, uint32_t node);
/* Sets one entry (0 removes it). HS_OK or HS_ENOMEM. */
int hs_vclock_set(hs_vclock *v, uint32_t node, uint64_t count);
/* Adds one to node's entry (a local or send event of that node). HS_OK or HS_ENOMEM. */
int hs_vclock_increment(hs_vclock *v, uint32_t node);
/* dst = pointwise max(dst, src): the least upper bound. HS_OK or HS_ENOMEM (dst unchanged). */
int hs_vclock_merge(hs_vclock *dst, const hs_vclock *src);
/* A receive at node self: merge then increment self. HS_OK or HS_ENOMEM. */
int hs_vclock_receive(hs_vclock *v, uint32_t self, const hs_vclock *remote);
/* BEFORE when a <= b pointwise and a != b; AFTER symmetrically; else EQUAL or CONCURRENT. */
hs_order hs_vclock_compare(const hs_vclock *a, const hs_vclock *b);

/* ---- Hybrid logical clock ------------------------------------------------------------ */

typedef struct hs_hlc_ts {
  int64_t l;  /* the largest physical time (ns) known */
  uint32_t c; /* logical counter among events with the same l */
} hs_hlc_ts;

/* Compares (l, c) lexicographically: BEFORE, AFTER or EQUAL (never CONCURRENT). */
hs_order hs_hlc_ts_compare(hs_hlc_ts a, hs_hlc_ts b);

typedef struct hs_hlc {
  hs_hlc_ts last;        /* the latest timestamp issued */
  hs_time_ns max_offset; /* 0: accept any remote; else reject remote.l > pt + max_offset */
} hs_hlc;

void hs_hlc_init(hs_hlc *h, hs_time_ns max_offset_ns);
/*
 * A local or send event at physical time pt:
 *   l' = max(l, pt); c' = (l' == l) ? c + 1 : 0.
 * The result is strictly after every timestamp this clock issued before. Returns HS_OK, or
 * HS_EINVAL if the counter would overflow (the clock is unchanged then).
 */
int hs_hlc_now(hs_hlc *h, hs_time_ns pt, hs_hlc_ts *out);
/*
 * A receive of remote at physical time pt:
 *   l' = max(l, remote.l, pt);
 *   c' = c+1 and remote.c+1 maxed when l' == l == remote.l, c+1 when only l' == l,
 *        remote.c+1 when only l' == remote.l, else 0.
 * The result is strictly after both the clock's last timestamp and remote. Returns HS_OK,
 * or HS_EINVAL (clock unchanged) when max_offset is set and hs_hlc_ahead(pt, remote) >
 * max_offset (a peer whose clock is too far ahead), or when the counter would overflow.
 * Defined for every int64 pt and remote.l: l' is a max (no arithmetic), the offset is
 * measured exactly, and a counter at UINT32_MAX is refused rather than wrapped or saturated
 * (either would issue a timestamp that is not after the ones it must follow).
 */
int hs_hlc_receive(hs_hlc *h, hs_time_ns pt, hs_hlc_ts remote, hs_hlc_ts *out);
/* How far remote.l is ahead of pt in ns, 0 when it is not. Unsigned because the difference
 * of two int64 times can reach 2^64 - 1. */
uint64_t hs_hlc_ahead(hs_time_ns pt, hs_hlc_ts remote);

/* ---- Physical clock model ------------------------------------------------------------ */

/* local(t) = origin_local + (t - origin_true) * (1 + drift). hs_clock_model_init sets
 * origin (0, skew), i.e. local(t) = t * (1 + drift) + skew. */
typedef struct hs_clock_model {
  hs_time_ns origin_true;
  hs_time_ns origin_local;
  double drift; /* relative rate error: 1e-6 is 1 ppm fast; > -1 */
} hs_clock_model;

/* NULL when (skew, drift) are usable, else a static message (drift must be finite and > -1,
 * |drift| <= 1 is the accepted range; skew any int64 within +-HS_TIME_MAX_S seconds). */
const char *hs_clock_model_validate(hs_time_ns skew_ns, double drift);
void hs_clock_model_init(hs_clock_model *m, hs_time_ns skew_ns, double drift);
/* The node's local reading at true (simulation) time t. */
hs_time_ns hs_clock_model_local(const hs_clock_model *m, hs_time_ns t);
/* The true time at which the local clock reads local (for "sleep until local time X"). */
hs_time_ns hs_clock_model_true(const hs_clock_model *m, hs_time_ns local);
/* Changes the drift from true time now on, keeping the local reading continuous. */
void hs_clock_model_set_drift(hs_clock_model *m, hs_time_ns now, double drift);
/* Steps the clock at true time now so that local(now) = now + skew_ns (a clock_skew fault
 * or an NTP step); the drift then continues from there. */
void hs_clock_model_set_skew(hs_clock_model *m, hs_time_ns now, hs_time_ns skew_ns);
/* The current offset local(now) - now. */
static inline hs_time_ns hs_clock_model_offset(const hs_clock_model *m, hs_time_ns now) {
  return hs_clock_model_local(m, now) - now;
}

#endif
