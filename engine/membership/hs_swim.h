/*
 * hs_swim.h - SWIM membership (Das, Gupta, Motivala, "SWIM: Scalable Weakly-consistent
 * Infection-style Process Group Membership Protocol", DSN 2002) with Lifeguard's suspicion
 * (Dadgar, Phillips, Currey 2018): a pure, deterministic state machine, one per member (the
 * shape of hs_raft.h: stepped with decoded messages, ticked at its deadline, random draws from
 * its own hs_rng, everything it wants done out through callbacks; no network or clock inside).
 *
 * THE PROTOCOL
 *   - Every protocol period (probe_interval) a member pings one other member. Targets come in
 *     rounds: each round visits every member once in a fresh pseudo-random order (a keyed
 *     Feistel permutation of the id space, cycle-walked: O(1) memory, O(1) per pick, the
 *     paper's "round-robin over a randomly permuted list"), so a live member is probed by
 *     each other member at least once per round (time-bounded completeness).
 *   - No ack within ping_timeout: PING-REQ to k (indirect_probe_count) random alive members,
 *     which ping the target on the prober's behalf (PING with relay = the prober) and relay its
 *     ACK back (the ACK carries the relay, so the helpers keep no state). No ack, direct or
 *     relayed, by the end of the period: the target is suspected.
 *   - Dissemination: membership updates (alive, suspect, dead, with the member's incarnation)
 *     are piggybacked on every message, at most max_piggyback each, the least-sent (then the
 *     newest) first, an update about the destination always first, each sent at most
 *     retransmit_mult * ceil(ln(n + 1)) times. A changed view is gossiped on
 *     (infection-style).
 *   - Incarnations: only a member raises its own. A suspected (or declared dead) member that
 *     hears so refutes it with alive(incarnation + 1), which overrides the suspicion everywhere.
 *     Rules: alive(i) overrides any state with incarnation < i; suspect(i) overrides alive(j),
 *     j <= i, and suspect(j), j < i; dead(i) overrides alive or suspect (j <= i). Dead is not
 *     permanent: a member that restarts comes back with an incarnation above any it had
 *     (it is durable: persist_incarnation) and its alive update overrides dead.
 *   - Lifeguard suspicion: every member that learns suspect(m) starts its own timer, from
 *     suspicion_max = suspicion_timeout * suspicion_max_mult down to suspicion_timeout as
 *     independent suspicions of m (other origins, up to k) arrive:
 *     timeout = max(min, max - (max - min) * log(C + 1) / log(k + 1)). When it ends, m is dead.
 *
 * SCALE. The member table is one uint32 per member id (2 bits of state, 30 of incarnation),
 * indexed by id; suspicions and the gossip buffer are hash maps of what is active; counts are
 * kept as they change. Per message the work is O(updates), per period O(k) plus the skipped
 * ids of the permutation (amortized O(1) while most members are alive). Nothing scans the
 * member table but the getters that list members.
 *
 * Member ids are non-zero uint32 below max_members; the adapter keeps names. CALLBACKS must
 * not call back into the member except its getters; pointers are valid during the call.
 */
#ifndef HS_SWIM_H
#define HS_SWIM_H

#include "core/hs_rng.h"
#include "core/hs_types.h"

#define HS_SWIM_NONE 0u
#define HS_SWIM_MAX_INCARNATION ((1u << 30) - 1)
#define HS_SWIM_MAX_UPDATES 255u /* per message */

enum {
  HS_SWIM_ECRASHED = -128, /* the member is crashed */
  HS_SWIM_ESTATE = -129    /* not started, or started twice */
};

const char *hs_swim_strerror(int code);

typedef enum hs_swim_state {
  HS_SWIM_UNKNOWN = 0, /* not a member (as far as this member knows) */
  HS_SWIM_ALIVE,
  HS_SWIM_SUSPECT,
  HS_SWIM_DEAD
} hs_swim_state;

/* "unknown", "alive", "suspect", "dead" */
const char *hs_swim_state_name(hs_swim_state s);

/* ---- Messages ---------------------------------------------------------------------------- */

typedef struct hs_swim_update {
  uint32_t member;
  uint32_t incarnation;
  uint32_t origin; /* suspect: who suspects (Lifeguard's confirmations); else 0 */
  uint8_t state;   /* hs_swim_state, not UNKNOWN */
} hs_swim_update;

typedef enum hs_swim_msg_type {
  HS_SWIM_PING = 0, /* relay: the prober this ping is sent for (0: a direct ping) */
  HS_SWIM_ACK,      /* target: who answered; relay: forward it to that prober (0: for the receiver) */
  HS_SWIM_PING_REQ, /* target: ping it for me */
  HS_SWIM_MSG_TYPE_COUNT
} hs_swim_msg_type;

const char *hs_swim_msg_type_name(hs_swim_msg_type t);

typedef struct hs_swim_msg {
  hs_swim_msg_type type;
  uint32_t from, to;
  uint32_t target;
  uint32_t relay;
  uint64_t seq; /* the prober's probe number */
  uint32_t n_updates;
  const hs_swim_update *updates; /* in send(): the member's scratch, valid during the call */
} hs_swim_msg;

/* Little-endian: 28 bytes + 13 per update. */
size_t hs_swim_msg_encoded_size(const hs_swim_msg *m);
size_t hs_swim_msg_encode(const hs_swim_msg *m, uint8_t *out, size_t cap);
/* The number of updates an encoded message declares (0 when malformed). */
uint32_t hs_swim_msg_decode_count(const uint8_t *buf, size_t len);
/* Without copying the header; updates decoded into `updates` (max slots). HS_OK, HS_EINVAL. */
int hs_swim_msg_decode(hs_swim_msg *m, const uint8_t *buf, size_t len, hs_swim_update *updates, uint32_t max);

/* ---- Callbacks and configuration --------------------------------------------------------- */

typedef struct hs_swim_member_event {
  uint32_t member;
  hs_swim_state state, prev_state;
  uint32_t incarnation;
  hs_time_ns now;
} hs_swim_member_event;

typedef struct hs_swim_callbacks {
  void (*send)(void *ud, const hs_swim_msg *m);   /* required */
  void (*set_timer)(void *ud, hs_time_ns at_ns);  /* the next deadline changed (HS_TIME_NEVER: none) */
  void (*persist_incarnation)(void *ud, uint32_t incarnation); /* before it is gossiped */
  void (*member_changed)(void *ud, const hs_swim_member_event *ev);
} hs_swim_callbacks;

typedef struct hs_swim_config {
  uint32_t id;
  uint32_t n_members;    /* the initial group: ids 1 .. n_members, all alive at incarnation 0 */
  uint32_t max_members;  /* ids must stay below it; default 0: 1 << 24 */
  hs_time_ns probe_interval_ns;     /* default 1 s (the protocol period T) */
  hs_time_ns ping_timeout_ns;       /* default 0: probe_interval / 5 */
  hs_time_ns suspicion_timeout_ns;  /* default 5 s: the shortest suspicion */
  uint32_t suspicion_max_mult;      /* default 3: the longest suspicion is this many times it */
  uint32_t indirect_probe_count;    /* default 3 (k) */
  uint32_t retransmit_mult;         /* default 3 (lambda) */
  uint32_t max_piggyback;           /* default 16 updates per message (8 left a 1% mass crash of 10,000
                                     * members unknown to some after 50 s: the channel saturates) */
  hs_rng rng;
  hs_swim_callbacks cb;
  void *ud;
} hs_swim_config;

typedef struct hs_swim hs_swim; /* opaque */

void hs_swim_config_init(hs_swim_config *cfg);
/* HS_OK, HS_EINVAL (id 0 or beyond max_members, times, counts, no send), HS_ENOMEM. */
int hs_swim_new(const hs_swim_config *cfg, hs_swim **out);
void hs_swim_free(hs_swim *s);
/* The durable incarnation of an earlier life, before start. */
int hs_swim_load_incarnation(hs_swim *s, uint32_t incarnation);
/* Starts probing at a random phase within the first period. */
int hs_swim_start(hs_swim *s, hs_time_ns now);
/* Drops everything volatile (the probe, suspicions, the gossip buffer); the member table is
 * kept as the list to rejoin through. */
void hs_swim_crash(hs_swim *s);
/* Rejoins with incarnation + 1 (persisted, then gossiped as alive), probing again. */
int hs_swim_restart(hs_swim *s, hs_time_ns now);

/* Adds a member known from outside (a join): alive at incarnation 0 unless known. */
int hs_swim_add_member(hs_swim *s, uint32_t id);

/* ---- Inputs ------------------------------------------------------------------------------ */

/* HS_OK, HS_EINVAL (malformed: not for this member, from itself or id 0, an id beyond
 * max_members, a bad state or incarnation; nothing is applied), HS_SWIM_ECRASHED,
 * HS_SWIM_ESTATE. */
int hs_swim_step(hs_swim *s, const hs_swim_msg *m, hs_time_ns now);
int hs_swim_tick(hs_swim *s, hs_time_ns now);
hs_time_ns hs_swim_next_deadline(const hs_swim *s);

/* ---- Getters ----------------------------------------------------------------------------- */

uint32_t hs_swim_id(const hs_swim *s);
uint32_t hs_swim_incarnation(const hs_swim *s);
hs_swim_state hs_swim_member_state(const hs_swim *s, uint32_t id);
uint32_t hs_swim_member_incarnation(const hs_swim *s, uint32_t id);
/* One past the largest id in the table (iterate 1 .. bound - 1 with member_state). */
uint32_t hs_swim_id_bound(const hs_swim *s);
bool hs_swim_crashed(const hs_swim *s);
/* The member being probed in this period (0: none). */
uint32_t hs_swim_probe_target(const hs_swim *s);

typedef struct hs_swim_stats {
  uint32_t alive_count; /* other members, by this member's view */
  uint32_t suspect_count;
  uint32_t dead_count;
  uint64_t probes_sent;          /* direct pings of this member's own probes */
  uint64_t indirect_probes_sent; /* ping-reqs sent */
  uint64_t acks_received;        /* probes acknowledged, directly or relayed */
  uint64_t updates_disseminated; /* updates piggybacked */
  uint64_t pings_relayed;        /* pings sent on another member's behalf */
  uint64_t acks_relayed;
  uint64_t suspicions_raised;    /* probes that failed (this member suspected the target) */
  uint64_t declared_dead;        /* suspicions that ran out here */
  uint64_t refutations;          /* times this member refuted a suspicion of itself */
  uint64_t messages_sent;
  uint64_t malformed;
  uint32_t gossip_pending;       /* updates in the dissemination buffer */
  uint32_t suspicions_pending;   /* suspicion timers running */
} hs_swim_stats;

void hs_swim_get_stats(const hs_swim *s, hs_swim_stats *out);

#endif
