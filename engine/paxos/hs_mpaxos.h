/*
 * hs_mpaxos.h - the Multi-Paxos core (with Flexible Paxos quorums): a pure, deterministic state
 * machine in the shape of the Raft core (see hs_paxos.h for what that means).
 *
 * The protocol (Lamport, "Paxos Made Simple" section 3; Howard, Malkhi, Spiegelman, "Flexible
 * Paxos" for the quorums):
 *   - a sequence of instances, the slots 1, 2, 3 ...; each is a single-decree Paxos instance,
 *     and every acceptor keeps one promised ballot for all of them;
 *   - LEADERSHIP. A follower that hears nothing from a leader for a randomized election timeout
 *     (uniform in [election_timeout_min, _max)) becomes a candidate: it takes a ballot above
 *     every round it has seen, persists it, and runs phase 1 once for every slot from its first
 *     unchosen one (Prepare(b, from)). Acceptors that promise report every value they hold at
 *     slots >= from: its ballot, and whether they know it chosen. With phase1_quorum promises
 *     the candidate leads: for every slot up to the highest reported it proposes, in ballot b,
 *     the value accepted with the highest ballot among the promises (a value known chosen is
 *     simply learned), and fills the slots nobody reported with no-ops; slots beyond are free.
 *   - A leader sends heartbeats every heartbeat_interval, and steps down when, over an election
 *     timeout (the minimum), fewer than phase2_quorum members (itself included) answered it.
 *     Any Nack with a higher ballot, or a Prepare it promises, makes it a follower too.
 *   - REPLICATION. hs_mpaxos_submit on the leader takes the next slot, accepts the command
 *     locally and sends Accept(b, slots) at once, batched (at most max_msg_slots / max_msg_bytes
 *     per message) and pipelined (at most max_inflight unacknowledged messages per follower;
 *     what waits goes in the next, larger batch). An acceptor accepts unless it promised a
 *     higher ballot (then Nack) and answers Accepted(b, first, last). A slot accepted in b by
 *     phase2_quorum members is chosen. Lost messages are sent again after a heartbeat interval.
 *   - LEARNING. The leader's chosen prefix (commit) rides on every Accept and heartbeat; a
 *     follower learns a slot up to it when it accepted that slot in the leader's current ballot
 *     (only one value per slot is ever proposed in one ballot, and that is the chosen one). A
 *     follower that lacks some (its commit is in every answer) gets them from the leader in
 *     Chosen messages, one batch per round trip. Every node applies chosen slots in slot order,
 *     no-ops included, exactly once per slot between restarts.
 *   - COMMANDS. A submit on a non-leader is refused with HS_PAXOS_ENOTLEADER (the leader hint is
 *     hs_mpaxos_leader). A command submitted here ends in exactly one apply(proposed_here) when
 *     its slot is chosen with it, or one proposal_lost: HS_PAXOS_ELOST when the slot was chosen
 *     with another value (a later leader filled it), HS_PAXOS_ECRASHED when this node crashed.
 *     A node that stops leading keeps following its commands; its highest slot travels in its
 *     heartbeat answers and the leader fills any slot beyond its own with a no-op, so every slot
 *     any node holds is eventually chosen once faults heal: nothing is left hanging.
 *
 * TIME AND TIMERS. As in Raft: an election timer (follower, candidate; on a leader, the period
 * of its quorum check) and a heartbeat timer (leader). Arm one engine timer at
 * hs_mpaxos_next_deadline after each call, or implement set_timer; call hs_mpaxos_tick when a
 * deadline is reached.
 *
 * DURABILITY. Durable: the promised ballot, the highest round this node used, and every slot's
 * accepted (ballot, origin, value) and chosen flag. persist_state and persist_slots are called
 * before any message that depends on them. hs_mpaxos_crash drops everything else;
 * hs_mpaxos_restart resets the state machine (reset) and applies the chosen prefix again.
 * No log compaction: the log keeps every slot.
 *
 * CALLBACKS must not call back into the same node, except its read-only getters. Everything a
 * callback receives by pointer is valid only during the call.
 */
#ifndef HS_MPAXOS_H
#define HS_MPAXOS_H

#include "paxos/hs_paxos.h"

typedef enum hs_mpaxos_role {
  HS_MPAXOS_FOLLOWER = 0,
  HS_MPAXOS_CANDIDATE, /* running phase 1 */
  HS_MPAXOS_LEADER
} hs_mpaxos_role;

/* "follower", "candidate", "leader". */
const char *hs_mpaxos_role_name(hs_mpaxos_role role);

typedef enum hs_mpaxos_timer {
  HS_MPAXOS_TIMER_ELECTION = 0, /* election timeout; on a leader, the quorum-check period */
  HS_MPAXOS_TIMER_HEARTBEAT     /* leader only */
} hs_mpaxos_timer;

typedef struct hs_mpaxos_role_event {
  hs_mpaxos_role role;
  hs_mpaxos_role prev_role;
  hs_paxos_ballot ballot; /* the promised ballot (a leader's or candidate's own) */
  uint32_t leader;        /* known leader, HS_PAXOS_NONE if unknown */
  hs_time_ns now;
} hs_mpaxos_role_event;

/* Every callback gets the `ud` of the configuration. Only send is required. */
typedef struct hs_mpaxos_callbacks {
  void (*send)(void *ud, const hs_paxos_msg *m);
  void (*set_timer)(void *ud, hs_mpaxos_timer kind, hs_time_ns at_ns);
  /* The promised ballot or the highest round used changed. */
  void (*persist_state)(void *ud, hs_paxos_ballot promised, uint64_t max_round);
  /* Slots first..last changed (accepted, or learned chosen): read them with hs_mpaxos_slot_at. */
  void (*persist_slots)(void *ud, uint64_t first, uint64_t last);
  /* A chosen slot, in slot order, exactly once per slot between restarts (no-ops included, so
   * slots stay contiguous). When proposed_here, the command was submitted here with `tag` and
   * that request is now complete. */
  void (*apply)(void *ud, const hs_paxos_value *v, bool proposed_here, uint64_t tag);
  /* A command submitted here will never be applied as submitted (reason: HS_PAXOS_ELOST,
   * HS_PAXOS_ECRASHED). Called before any apply at that slot. */
  void (*proposal_lost)(void *ud, uint64_t tag, uint64_t slot, int reason);
  /* The state machine goes back to its empty initial state (on restart, before the chosen
   * prefix is applied again). */
  void (*reset)(void *ud);
  /* The role or the known leader changed (for traces: "became leader with ballot b at t"). */
  void (*role_changed)(void *ud, const hs_mpaxos_role_event *ev);
} hs_mpaxos_callbacks;

typedef struct hs_mpaxos_config {
  uint32_t id;             /* this node, non-zero, one of members */
  const uint32_t *members; /* every member, this node included (copied) */
  uint32_t n_members;
  uint32_t phase1_quorum;  /* 0: default (see FLEXIBLE PAXOS in hs_paxos.h) */
  uint32_t phase2_quorum;

  hs_time_ns election_timeout_min_ns; /* default 5 s (the seed's leader_lease_timeout) */
  hs_time_ns election_timeout_max_ns; /* default 10 s */
  hs_time_ns heartbeat_interval_ns;   /* default 1 s */

  uint32_t max_msg_slots; /* default 64 */
  uint32_t max_msg_bytes; /* default 1 MiB (a message always carries at least one value) */
  uint32_t max_inflight;  /* default 32: pipelined Accept messages per follower */
  uint64_t window_slots;  /* default 65536: slots a node holds beyond its chosen prefix */

  hs_rng rng; /* election timeout draws (copied) */
  hs_mpaxos_callbacks cb;
  void *ud;
  hs_paxos_checker *checker; /* optional: told of every acceptance, choice and apply */
} hs_mpaxos_config;

typedef struct hs_mpaxos hs_mpaxos; /* opaque */

/* The seed's MultiPaxosStats and FlexiblePaxosStats fields, plus counters for traces. */
typedef struct hs_mpaxos_stats {
  hs_mpaxos_role role;
  bool is_leader;
  uint32_t current_leader;        /* HS_PAXOS_NONE if unknown */
  hs_paxos_ballot current_ballot; /* the promised ballot */
  uint64_t log_length;            /* the highest slot holding a value */
  uint64_t commit_index;          /* every slot up to it is chosen and known here */
  uint64_t applied_index;
  uint64_t commands_committed;    /* NORMAL values applied on this node */
  uint64_t leader_changes;        /* times the known leader became another node */
  uint32_t phase1_quorum, phase2_quorum;
  uint64_t ballots_tried;         /* elections started (each with a fresh ballot) */
  uint64_t elections_won;
  uint64_t messages_sent;
  uint64_t promises_received;
  uint64_t nacks_received;
  uint64_t accepts_received;      /* Accepted answers received as leader */
  uint64_t values_reproposed;     /* values from promises a new leader proposed again */
  uint64_t noops_proposed;        /* gaps a leader filled */
  uint64_t proposals_lost;
  uint64_t catchups_sent;         /* Chosen messages sent to lagging followers */
  uint64_t malformed_messages;    /* refused by hs_mpaxos_step as malformed */
  bool crashed;
} hs_mpaxos_stats;

/* Fills cfg with the defaults above (zero id, no members, no callbacks, rng seeded from 0). */
void hs_mpaxos_config_init(hs_mpaxos_config *cfg);

/* Creates a stopped node. HS_OK, HS_EINVAL (bad id, members, times, sizes, no send callback),
 * HS_PAXOS_EQUORUM (quorum sizes: Q1 + Q2 <= N ...) or HS_ENOMEM; *out is NULL on failure. */
int hs_mpaxos_new(const hs_mpaxos_config *cfg, hs_mpaxos **out);
void hs_mpaxos_free(hs_mpaxos *mp);

/* Durable state from an earlier life, before hs_mpaxos_start (copied). load_slot takes one
 * slot's value (v->ballot its accepted ballot, v->chosen its flag); slots may come in any
 * order. HS_PAXOS_ESTATE after start, HS_EINVAL for a bad value. */
int hs_mpaxos_load_state(hs_mpaxos *mp, hs_paxos_ballot promised, uint64_t max_round);
int hs_mpaxos_load_slot(hs_mpaxos *mp, const hs_paxos_value *v);

/* Starts as a follower and arms the election timer; applies the chosen prefix of a loaded log. */
int hs_mpaxos_start(hs_mpaxos *mp, hs_time_ns now);
/* Loses the volatile state: reports every pending command lost (HS_PAXOS_ECRASHED), disarms
 * the timers. Every call but restart, free and the getters is then refused. */
void hs_mpaxos_crash(hs_mpaxos *mp);
/* Comes back as a follower with the durable state: reset, then the chosen prefix applied. */
int hs_mpaxos_restart(hs_mpaxos *mp, hs_time_ns now);

/* Handles one message addressed to this node. HS_OK (also for stale and duplicated messages),
 * HS_EINVAL (malformed: not for this node, from a non-member, a round or slot beyond
 * HS_PAXOS_MAX_COUNTER, a ballot that is not its sender's, slots out of order ...; counted),
 * HS_PAXOS_ECRASHED, HS_ENOMEM. */
int hs_mpaxos_step(hs_mpaxos *mp, const hs_paxos_msg *m, hs_time_ns now);
/* Does whatever is due at now: an election, a heartbeat round, the quorum check. */
int hs_mpaxos_tick(hs_mpaxos *mp, hs_time_ns now);
hs_time_ns hs_mpaxos_next_deadline(const hs_mpaxos *mp);
hs_time_ns hs_mpaxos_deadline(const hs_mpaxos *mp, hs_mpaxos_timer kind);
/* Starts an election now, as if the election timer had fired. A leader does nothing. */
int hs_mpaxos_campaign(hs_mpaxos *mp, hs_time_ns now);

/* Submits a command on the leader: it takes the next slot and is sent at once. tag comes back
 * in apply(proposed_here) or proposal_lost, possibly before this returns (phase2_quorum 1).
 * *slot_out (optional) gets the slot. HS_OK, HS_PAXOS_ENOTLEADER, HS_PAXOS_EBUSY (window
 * full), HS_PAXOS_ECRASHED, HS_EINVAL, HS_ENOMEM. */
int hs_mpaxos_submit(hs_mpaxos *mp, hs_time_ns now, const void *data, size_t len, uint64_t tag,
                     uint64_t *slot_out);

void hs_mpaxos_get_stats(const hs_mpaxos *mp, hs_mpaxos_stats *out);
uint32_t hs_mpaxos_id(const hs_mpaxos *mp);
hs_mpaxos_role hs_mpaxos_role_of(const hs_mpaxos *mp);
uint32_t hs_mpaxos_leader(const hs_mpaxos *mp);
hs_paxos_ballot hs_mpaxos_promised(const hs_mpaxos *mp);
uint64_t hs_mpaxos_commit_index(const hs_mpaxos *mp);
uint64_t hs_mpaxos_applied_index(const hs_mpaxos *mp);
uint64_t hs_mpaxos_last_slot(const hs_mpaxos *mp); /* the highest slot holding a value, or 0 */
bool hs_mpaxos_crashed(const hs_mpaxos *mp);
/* The value held at slot (1 <= slot <= last): HS_OK, else HS_EINVAL. An empty slot has ballot
 * round 0. v->data points into the node's log: valid until the next call that changes it. */
int hs_mpaxos_slot_at(const hs_mpaxos *mp, uint64_t slot, hs_paxos_value *v);
/* Commands submitted here and not resolved yet. */
uint64_t hs_mpaxos_pending(const hs_mpaxos *mp);

/* True when this core was compiled with HS_PAXOS_UNSAFE_IGNORE_PROMISES (a test-only flag with
 * which a new leader ignores the values reported in promises and fills every slot it does not
 * know chosen with a no-op); always false in the engine library. */
bool hs_mpaxos_unsafe_build(void);

#endif
