/*
 * hs_paxos_internal.h - the cores' private structures, shared by the .c files of engine/paxos.
 *
 * Layout of the sources:
 *   hs_paxos_msg.c     error strings, names, quorum sizes, the message encoding
 *   hs_paxos_util.c    what both cores use: member bits, message sanity, byte buffers
 *   hs_paxos.c         single-decree Paxos: proposer, acceptor and learner of one instance
 *   hs_mpaxos_log.c    Multi-Paxos: the slot log (one record per slot, one byte arena)
 *   hs_mpaxos.c        Multi-Paxos: life cycle, timers, role transitions, message dispatch,
 *                      getters
 *   hs_mpaxos_elect.c  Multi-Paxos: phase 1 (candidates, promises, taking over the slots)
 *   hs_mpaxos_repl.c   Multi-Paxos: phase 2 on both sides, learning, catch-up, applying,
 *                      the commands submitted here
 *   hs_paxos_check.c   the invariant checker (hs_paxos_check.h)
 *
 * Static helpers carry a per-file prefix so the files can be compiled as one translation unit
 * (the unsafe-build test does that).
 */
#ifndef HS_PAXOS_INTERNAL_H
#define HS_PAXOS_INTERNAL_H

#include "paxos/hs_mpaxos.h"
#include "paxos/hs_paxos.h"
#include "paxos/hs_paxos_check.h"

/* ---- Shared helpers (hs_paxos_util.c) ------------------------------------------------------- */

/* A growable byte buffer. */
typedef struct hs_paxos_buf {
  uint8_t *data;
  uint32_t len, cap;
} hs_paxos_buf;

int hs_paxos_buf_set(hs_paxos_buf *b, const void *data, size_t len);
void hs_paxos_buf_free(hs_paxos_buf *b);

static inline bool hs_paxos_ballot_none(hs_paxos_ballot b) { return b.round == 0; }
static inline hs_paxos_ballot hs_paxos_ballot_max(hs_paxos_ballot a, hs_paxos_ballot b) {
  return hs_paxos_ballot_cmp(a, b) >= 0 ? a : b;
}
static inline uint32_t hs_paxos_popcount(uint64_t x) { return (uint32_t)__builtin_popcountll(x); }

/* The members of a cluster, sorted, with this node's bit. */
typedef struct hs_paxos_members {
  uint32_t ids[HS_PAXOS_MAX_NODES];
  uint32_t n;
  uint64_t self_bit;
  uint64_t all_bits;
} hs_paxos_members;

/* Copies and sorts ids; HS_EINVAL when empty, too many, with 0 or a duplicate, or without self. */
int hs_paxos_members_init(hs_paxos_members *ms, uint32_t self, const uint32_t *ids, uint32_t n);
/* The bit of member id, 0 when id is not a member. */
uint64_t hs_paxos_members_bit(const hs_paxos_members *ms, uint32_t id);

/* Structure common to every message both cores accept: addressed to self, from another member,
 * counters within HS_PAXOS_MAX_COUNTER, values present when counted, value types and lengths
 * consistent (a no-op is empty), and the ballot of a proposer's message is its sender's. */
bool hs_paxos_msg_sane(const hs_paxos_msg *m, uint32_t self, const hs_paxos_members *ms);

/* ---- Single-decree Paxos ---------------------------------------------------------------------- */

struct hs_paxos {
  /* configuration */
  uint32_t id;
  hs_paxos_members ms;
  uint32_t q1, q2;
  hs_time_ns retry_ns, round_timeout_ns;
  hs_paxos_callbacks cb;
  void *ud;
  hs_rng rng;
  hs_paxos_checker *checker;

  /* durable */
  hs_paxos_ballot promised, accepted;
  hs_paxos_buf accepted_value;
  uint64_t max_round;
  bool decided;
  hs_paxos_buf decision;

  /* volatile */
  bool started, crashed;
  hs_time_ns now;
  uint64_t seen_round;          /* the highest round seen in any message */
  bool has_value;               /* a value was proposed here (own_value) */
  hs_paxos_buf own_value;
  hs_paxos_phase phase;
  hs_paxos_ballot ballot;       /* the round in progress */
  hs_paxos_ballot best;         /* highest accepted ballot among this round's promises */
  hs_paxos_buf round_value;     /* the value of this round's phase 2 */
  uint64_t promise_mask, accept_mask;
  uint32_t failures;            /* consecutive failed rounds */
  hs_time_ns round_at;          /* phase 1/2: the round's timeout; backoff: the retry */
  uint64_t acked_mask;          /* members known to have learned the decision */
  hs_time_ns resend_at;         /* the decision's next resend */
  hs_time_ns timer_at;          /* last reported through set_timer */
  hs_paxos_stats stats;
};

/* ---- Multi-Paxos: the log ------------------------------------------------------------------------ */

typedef struct hs_mpaxos_rec {
  hs_paxos_ballot ballot; /* accepted in; round 0: the slot holds nothing */
  hs_paxos_ballot origin;
  uint64_t off;  /* offset of the data in the arena */
  uint64_t acks; /* leader, current ballot: members that accepted this slot in it (volatile) */
  uint32_t len;
  uint8_t type;
  uint8_t chosen;
} hs_mpaxos_rec;

typedef struct hs_mpaxos_log {
  hs_mpaxos_rec *recs; /* recs[k] is slot k + 1 */
  uint64_t count, cap; /* count: the highest slot holding a value */
  uint8_t *bytes;
  uint64_t bytes_len, bytes_cap;
} hs_mpaxos_log;

void hs_mpaxos_log_init(hs_mpaxos_log *l);
void hs_mpaxos_log_free(hs_mpaxos_log *l);
static inline hs_mpaxos_rec *hs_mpaxos_log_rec(const hs_mpaxos_log *l, uint64_t slot) { return &l->recs[slot - 1]; }
static inline const uint8_t *hs_mpaxos_log_data(const hs_mpaxos_log *l, const hs_mpaxos_rec *r) {
  return r->len ? l->bytes + r->off : NULL;
}
/* The record of slot if it exists (slot <= count), else NULL. */
static inline hs_mpaxos_rec *hs_mpaxos_log_get(const hs_mpaxos_log *l, uint64_t slot) {
  return slot >= 1 && slot <= l->count ? &l->recs[slot - 1] : NULL;
}
void hs_mpaxos_log_view(const hs_mpaxos_log *l, uint64_t slot, hs_paxos_value *v);
/* Stores a value at slot (>= 1), growing the log with empty slots as needed; the record's
 * chosen flag is left as it was, acks cleared. HS_OK or HS_ENOMEM. */
int hs_mpaxos_log_set(hs_mpaxos_log *l, uint64_t slot, hs_paxos_ballot ballot, hs_paxos_ballot origin,
                      hs_paxos_value_type type, const uint8_t *data, uint32_t len);

/* ---- Multi-Paxos: the node ------------------------------------------------------------------------ */

typedef struct hs_mpaxos_peer {
  uint32_t id;
  uint64_t bit;
  bool recent_active;   /* answered this leader in this quorum-check period */
  uint64_t next;        /* the next slot to send it */
  uint64_t commit;      /* its chosen prefix, as it last said */
  uint64_t catchup_last; /* the last slot of the Chosen message outstanding (0: none) */
  hs_time_ns catchup_sent_ns;
  uint64_t *infl_last;  /* unacknowledged Accept messages: a ring of (last slot, send time) */
  hs_time_ns *infl_sent;
  uint32_t infl_head, infl_count;
} hs_mpaxos_peer;

typedef struct hs_mpaxos_prop {
  uint64_t slot;
  hs_paxos_ballot origin;
  uint64_t tag;
} hs_mpaxos_prop;

/* A candidate's view of one slot, merged from the promises (slot = from + index). */
typedef struct hs_mpaxos_merged {
  hs_paxos_ballot ballot, origin;
  uint64_t off;
  uint32_t len;
  uint8_t type;
  uint8_t chosen;
  uint8_t present;
} hs_mpaxos_merged;

struct hs_mpaxos {
  /* configuration (copied) */
  uint32_t id;
  hs_paxos_members ms;
  uint32_t q1, q2;
  hs_time_ns et_min, et_max, hb_interval;
  uint32_t max_msg_slots, max_msg_bytes, max_inflight;
  uint64_t window;
  hs_mpaxos_callbacks cb;
  void *ud;
  hs_rng rng;
  hs_paxos_checker *checker;

  /* durable */
  hs_paxos_ballot promised;
  uint64_t max_round;
  hs_mpaxos_log log;

  /* volatile */
  bool started, crashed;
  hs_mpaxos_role role;
  uint32_t leader, last_leader;
  hs_paxos_ballot ballot; /* candidate or leader: its own ballot */
  uint64_t seen_round;
  uint64_t commit, applied;
  hs_paxos_ballot lc_ballot; /* follower: the leader whose commit lc is */
  uint64_t lc;
  hs_time_ns now;
  hs_time_ns election_at, heartbeat_at;
  hs_mpaxos_peer peers[HS_PAXOS_MAX_NODES]; /* by member index; this node's entry unused */

  /* candidate */
  uint64_t from; /* first slot covered by phase 1 */
  uint64_t promise_mask;
  hs_mpaxos_merged *merged;
  uint64_t merged_len, merged_cap;
  hs_paxos_buf merged_bytes;

  hs_mpaxos_prop *props; /* commands submitted here, not resolved, by slot */
  size_t props_head, props_len, props_cap;

  hs_paxos_value *scratch; /* views for outgoing messages */
  uint64_t scratch_cap;

  hs_mpaxos_stats stats;
};

/* hs_mpaxos.c */
void hs_mpaxos_send(hs_mpaxos *mp, hs_paxos_msg *m);
void hs_mpaxos_persist_state(hs_mpaxos *mp);
void hs_mpaxos_persist_slots(hs_mpaxos *mp, uint64_t first, uint64_t last);
void hs_mpaxos_set_deadline(hs_mpaxos *mp, hs_mpaxos_timer kind, hs_time_ns at);
void hs_mpaxos_arm_election(hs_mpaxos *mp);
void hs_mpaxos_become_follower(hs_mpaxos *mp, uint32_t leader);
void hs_mpaxos_notify_role(hs_mpaxos *mp, hs_mpaxos_role prev_role, uint32_t prev_leader);
/* Promises b (>= promised) as an acceptor: persisted first; a candidate or leader with a lower
 * ballot becomes a follower. */
void hs_mpaxos_promise(hs_mpaxos *mp, hs_paxos_ballot b);
/* A message from the leader of the promised ballot: it is the known leader, the election timer
 * starts again. */
void hs_mpaxos_heard_leader(hs_mpaxos *mp, uint32_t leader);
hs_mpaxos_peer *hs_mpaxos_peer_find(hs_mpaxos *mp, uint32_t id);
/* Ensures the scratch array holds n views. */
int hs_mpaxos_scratch(hs_mpaxos *mp, uint64_t n);

/* hs_mpaxos_elect.c */
void hs_mpaxos_elect_start(hs_mpaxos *mp);
void hs_mpaxos_elect_on_prepare(hs_mpaxos *mp, const hs_paxos_msg *m);
void hs_mpaxos_elect_on_promise(hs_mpaxos *mp, const hs_paxos_msg *m);
void hs_mpaxos_elect_on_nack(hs_mpaxos *mp, const hs_paxos_msg *m);
void hs_mpaxos_elect_free(hs_mpaxos *mp);

/* hs_mpaxos_repl.c */
void hs_mpaxos_repl_reset_peer(hs_mpaxos *mp, hs_mpaxos_peer *p);
void hs_mpaxos_repl_free_peer(hs_mpaxos_peer *p);
int hs_mpaxos_repl_alloc_peer(hs_mpaxos *mp, hs_mpaxos_peer *p);
/* Leader: accepts (own ballot, value) at slot locally and counts itself. */
int hs_mpaxos_repl_propose_local(hs_mpaxos *mp, uint64_t slot, hs_paxos_ballot origin, hs_paxos_value_type type,
                                 const uint8_t *data, uint32_t len);
/* Marks slot chosen here (persisted, reported to the checker). */
void hs_mpaxos_repl_choose(hs_mpaxos *mp, uint64_t slot);
/* Moves the chosen prefix forward over chosen slots (a follower also over the slots it accepted
 * in the ballot of the leader whose commit it knows) and applies. */
void hs_mpaxos_repl_advance(hs_mpaxos *mp);
void hs_mpaxos_repl_send_accepts(hs_mpaxos *mp, hs_mpaxos_peer *p, bool allow_empty);
void hs_mpaxos_repl_bcast_accepts(hs_mpaxos *mp, bool allow_empty);
void hs_mpaxos_repl_bcast_heartbeat(hs_mpaxos *mp);
void hs_mpaxos_repl_on_accept(hs_mpaxos *mp, const hs_paxos_msg *m);
void hs_mpaxos_repl_on_accepted(hs_mpaxos *mp, const hs_paxos_msg *m);
void hs_mpaxos_repl_on_heartbeat(hs_mpaxos *mp, const hs_paxos_msg *m);
void hs_mpaxos_repl_on_heartbeat_resp(hs_mpaxos *mp, const hs_paxos_msg *m);
void hs_mpaxos_repl_on_chosen(hs_mpaxos *mp, const hs_paxos_msg *m);
void hs_mpaxos_repl_on_chosen_ack(hs_mpaxos *mp, const hs_paxos_msg *m);
int hs_mpaxos_repl_track(hs_mpaxos *mp, uint64_t slot, hs_paxos_ballot origin, uint64_t tag);
void hs_mpaxos_repl_lose_all(hs_mpaxos *mp, int reason);

#endif
