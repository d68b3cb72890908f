/*
 * hs_paxos.h - the Paxos family's shared pieces (ballots, values, messages and their byte
 * encoding, quorums, error codes) and the single-decree Paxos core.
 *
 * The cores follow the shape of the Raft core (raft/hs_raft.h): pure, deterministic state
 * machines. A node is stepped with decoded messages (hs_paxos_step), told when time passes
 * (hs_paxos_tick), and asked to propose. It knows nothing of the network, the scheduler, Lua
 * or real time: every call carries the current simulated time `now`, random backoffs come from
 * the hs_rng given at creation, and everything the node wants done (send a message, arm a
 * timer, persist its durable state, announce a decision) comes out through callbacks,
 * synchronously, during the call that caused it. Same inputs, same outputs.
 *
 * Multi-Paxos (with Flexible Paxos quorums) is in hs_mpaxos.h; the invariant checker both
 * cores report to is in hs_paxos_check.h.
 *
 * SINGLE-DECREE PAXOS (Lamport, "Paxos Made Simple"). Every node is proposer, acceptor and
 * learner of one instance (slot 1):
 *   - ballots are (round, node id), totally ordered by round then id, so two proposers never
 *     share one; a proposer's round exceeds every round it has seen or used, and the round it
 *     uses is persisted before its Prepare is sent, so a restart never reuses a ballot;
 *   - phase 1: Prepare(b) to every member; an acceptor promises b unless it promised a higher
 *     ballot (then it answers Nack with that ballot), and reports its accepted (ballot, value);
 *     with phase1_quorum promises the proposer adopts the value of the highest accepted ballot
 *     among them, or its own value if none;
 *   - phase 2: Accept(b, v) to every member; an acceptor accepts unless it promised a higher
 *     ballot; with phase2_quorum acceptances of b the value is chosen, the proposer learns it
 *     and broadcasts the decision (Chosen) until every member acknowledged it, again every
 *     retry_delay while some have not (so a lost message never keeps a node from learning);
 *   - a round that gets a Nack, or neither quorum within round_timeout, fails: the proposer
 *     remembers the highest ballot it saw and retries with a higher one after a randomized
 *     backoff (uniform, growing with consecutive failures), so duelling proposers separate;
 *   - a node that knows the decision answers a Prepare or an Accept with the decision itself;
 *   - promised ballot, accepted ballot and value, the highest round used and the decision are
 *     durable: persist() is called with them before any message that depends on them is sent.
 * Duplicated, reordered and stale messages are harmless: an answer counts only for the round
 * it answers, once per member. The decided value never changes.
 *
 * FLEXIBLE PAXOS (Howard, Malkhi, Spiegelman 2016): phase 1 and phase 2 use quorums of sizes
 * phase1_quorum and phase2_quorum; any two phase-1 and phase-2 quorums intersect when
 * Q1 + Q2 > N, which creation checks (HS_PAXOS_EQUORUM). 0 means "the default": a majority
 * when both are 0, otherwise the smallest size that intersects the other (N - Q + 1).
 *
 * CALLBACKS must not call back into the same node, except its read-only getters. Everything a
 * callback receives by pointer is valid only during the call. Node ids are non-zero uint32
 * (0 is HS_PAXOS_NONE); the adapter keeps names.
 */
#ifndef HS_PAXOS_H
#define HS_PAXOS_H

#include "core/hs_rng.h"
#include "core/hs_types.h"

#define HS_PAXOS_NONE 0u
/* Largest number of members of a cluster (acknowledgements are 64-bit masks). */
#define HS_PAXOS_MAX_NODES 64u
/* Rounds and slots in messages are at most this: no arithmetic on them can overflow (a message
 * beyond it is malformed; no run comes near 2^62). */
#define HS_PAXOS_MAX_COUNTER ((uint64_t)1 << 62)
/* The slot of the single-decree instance. */
#define HS_PAXOS_SLOT 1u

/* Error codes of the Paxos cores, beside HS_OK, HS_EINVAL and HS_ENOMEM. */
enum {
  HS_PAXOS_ENOTLEADER = -80, /* not the leader: hs_mpaxos_leader() is the hint (or HS_PAXOS_NONE) */
  HS_PAXOS_ECRASHED = -81,   /* the node is crashed (or was, for a lost proposal) */
  HS_PAXOS_ESTATE = -82,     /* wrong life-cycle state (load after start, step before start ...) */
  HS_PAXOS_EQUORUM = -83,    /* quorum sizes out of range, or Q1 + Q2 <= N */
  HS_PAXOS_ELOST = -84,      /* the proposal's slot was chosen with another value: not applied */
  HS_PAXOS_EBUSY = -85       /* the leader has window_slots unchosen slots: retry later */
};

/* A message for any HS_ or HS_PAXOS_ code. */
const char *hs_paxos_strerror(int code);

/* ---- Ballots and quorums ------------------------------------------------------------------ */

/* A ballot: round first, then the proposer's id. Round 0 is "no ballot" (nothing promised or
 * accepted); real ballots have round >= 1 and a non-zero node. */
typedef struct hs_paxos_ballot {
  uint64_t round;
  uint32_t node;
} hs_paxos_ballot;

/* -1, 0, 1 as a is below, equal to, above b. */
static inline int hs_paxos_ballot_cmp(hs_paxos_ballot a, hs_paxos_ballot b) {
  if (a.round != b.round) return a.round < b.round ? -1 : 1;
  if (a.node != b.node) return a.node < b.node ? -1 : 1;
  return 0;
}

/* Resolves and validates the quorum sizes of a cluster of n members (see FLEXIBLE PAXOS):
 * HS_OK with *q1_out and *q2_out set, or HS_PAXOS_EQUORUM when n is 0 or above
 * HS_PAXOS_MAX_NODES, a size exceeds n, or Q1 + Q2 <= n. */
int hs_paxos_quorums(uint32_t n, uint32_t q1, uint32_t q2, uint32_t *q1_out, uint32_t *q2_out);

/* ---- Values ---------------------------------------------------------------------------------- */

typedef enum hs_paxos_value_type {
  HS_PAXOS_VALUE_NORMAL = 0, /* a command or a proposed value: opaque bytes */
  HS_PAXOS_VALUE_NOOP        /* Multi-Paxos: fills a slot no command was chosen for; empty */
} hs_paxos_value_type;

/*
 * A view of the value of one slot, as an acceptor holds it, a message carries it or a learner
 * learned it. data points into whoever owns it (the node's log, a message): see each function
 * for how long it stays valid.
 *
 * `origin` is the ballot that first proposed the value (Multi-Paxos; zero in single-decree):
 * a value keeps it when a later leader proposes it again, so (slot, origin) names a command
 * across leaders, and a proposer knows whether the value chosen for its slot is its own.
 */
typedef struct hs_paxos_value {
  uint64_t slot;
  hs_paxos_ballot ballot; /* the ballot it was accepted in (round 0: nothing accepted) */
  hs_paxos_ballot origin;
  hs_paxos_value_type type;
  bool chosen; /* known chosen by the holder (or the sender, in a message) */
  uint32_t len;
  const uint8_t *data; /* len bytes; may be NULL when len == 0 */
} hs_paxos_value;

/* ---- Messages ----------------------------------------------------------------------------------- */

typedef enum hs_paxos_msg_type {
  HS_PAXOS_MSG_PREPARE = 0,   /* phase 1a: ballot; slot = first slot covered (Multi-Paxos) */
  HS_PAXOS_MSG_PROMISE,       /* phase 1b: ballot; values = what the acceptor accepted at >= slot */
  HS_PAXOS_MSG_ACCEPT,        /* phase 2a: ballot, values (consecutive slots); commit = leader's */
  HS_PAXOS_MSG_ACCEPTED,      /* phase 2b: ballot, slots slot..last accepted in it */
  HS_PAXOS_MSG_NACK,          /* refused: ballot = the one refused, promised = the acceptor's */
  HS_PAXOS_MSG_CHOSEN,        /* values known chosen (the decision; Multi-Paxos catch-up) */
  HS_PAXOS_MSG_CHOSEN_ACK,    /* learned: commit = the learner's chosen prefix */
  HS_PAXOS_MSG_HEARTBEAT,     /* Multi-Paxos leader: ballot, commit, last = its last slot */
  HS_PAXOS_MSG_HEARTBEAT_RESP,/* ballot echoed, commit and last of the follower */
  HS_PAXOS_MSG_TYPE_COUNT
} hs_paxos_msg_type;

/* "prepare", "promise", "accept", ... */
const char *hs_paxos_msg_type_name(hs_paxos_msg_type t);

/*
 * One message. Fields a type does not use are zero. Every message carries the sender's chosen
 * prefix in `commit` (the highest slot up to which it knows every slot chosen).
 *
 * LIFETIME. In send(), values and their data point into the sender's memory and are valid only
 * during the call: the adapter copies or encodes the message (hs_paxos_msg_encode) before
 * returning. In step(), the node copies what it keeps; the message may be freed on return.
 */
typedef struct hs_paxos_msg {
  hs_paxos_msg_type type;
  uint32_t from;
  uint32_t to;
  hs_paxos_ballot ballot;
  hs_paxos_ballot promised; /* NACK */
  uint64_t slot;
  uint64_t last;
  uint64_t commit;
  const hs_paxos_value *values;
  uint32_t n_values;
} hs_paxos_msg;

/* A flat, little-endian encoding of a message (for a network payload). encoded_size is exact;
 * encode returns the bytes written, or 0 when cap is too small. */
size_t hs_paxos_msg_encoded_size(const hs_paxos_msg *m);
size_t hs_paxos_msg_encode(const hs_paxos_msg *m, uint8_t *out, size_t cap);
/* Number of values in an encoded message (0 when malformed, or when the count cannot fit in
 * len bytes): the size of the array to give to hs_paxos_msg_decode. */
uint32_t hs_paxos_msg_decode_count(const uint8_t *buf, size_t len);
/* Decodes without copying: the values' data point into buf, the values into `values`
 * (max_values slots). HS_OK, or HS_EINVAL for a malformed buffer or too few slots. */
int hs_paxos_msg_decode(hs_paxos_msg *m, const uint8_t *buf, size_t len, hs_paxos_value *values,
                        uint32_t max_values);

/* The invariant checker (hs_paxos_check.h); a node given one reports to it. */
typedef struct hs_paxos_checker hs_paxos_checker;

/* ---- Single-decree Paxos -------------------------------------------------------------------- */

/* What an acceptor, proposer and learner keep across a crash. The pointers are the node's (in
 * persist) or the caller's (in hs_paxos_load, which copies). */
typedef struct hs_paxos_durable {
  hs_paxos_ballot promised;
  hs_paxos_ballot accepted; /* round 0: nothing accepted */
  const uint8_t *value;     /* the accepted value */
  uint32_t value_len;
  uint64_t max_round; /* the highest round this node's proposer used */
  bool decided;
  const uint8_t *decided_value;
  uint32_t decided_len;
} hs_paxos_durable;

/* Every callback gets the `ud` of the configuration. Only send is required. */
typedef struct hs_paxos_callbacks {
  /* A message to deliver to m->to (never to the node itself). See hs_paxos_msg: LIFETIME. */
  void (*send)(void *ud, const hs_paxos_msg *m);
  /* The node's deadline changed: at_ns is absolute, HS_TIME_NEVER when nothing is due. */
  void (*set_timer)(void *ud, hs_time_ns at_ns);
  /* The durable state changed; called before any message that depends on it is sent. */
  void (*persist)(void *ud, const hs_paxos_durable *d);
  /* The node learned the decision (once per node, ever: a restart does not repeat it). */
  void (*decided)(void *ud, const hs_paxos_value *v);
} hs_paxos_callbacks;

typedef struct hs_paxos_config {
  uint32_t id;               /* this node, non-zero, one of members */
  const uint32_t *members;   /* every member, this node included (copied) */
  uint32_t n_members;
  uint32_t phase1_quorum;    /* 0: default (see FLEXIBLE PAXOS) */
  uint32_t phase2_quorum;
  hs_time_ns retry_delay_ns;   /* default 0.5 s: base backoff, and the decision's resend period */
  hs_time_ns round_timeout_ns; /* default 2 x retry_delay: a round without a quorum fails */
  hs_rng rng;                  /* backoff draws (copied); seed it from the run seed and the name */
  hs_paxos_callbacks cb;
  void *ud;
  hs_paxos_checker *checker; /* optional: told of every acceptance and decision */
} hs_paxos_config;

typedef struct hs_paxos hs_paxos; /* opaque */

typedef enum hs_paxos_phase {
  HS_PAXOS_IDLE = 0, /* no value to propose, or decided */
  HS_PAXOS_PHASE1,   /* Prepare sent, collecting promises */
  HS_PAXOS_PHASE2,   /* Accept sent, collecting acceptances */
  HS_PAXOS_BACKOFF   /* the last round failed; the next starts at the deadline */
} hs_paxos_phase;

/* "idle", "phase1", "phase2", "backoff". */
const char *hs_paxos_phase_name(hs_paxos_phase p);

/* The seed's PaxosStats fields, plus what a trace wants. */
typedef struct hs_paxos_stats {
  uint64_t proposals_started;   /* rounds started (each with a fresh ballot) */
  uint64_t proposals_succeeded; /* rounds whose ballot got a phase-2 quorum here */
  uint64_t proposals_failed;    /* rounds that got a Nack or timed out */
  uint64_t promises_received;
  uint64_t nacks_received;
  uint64_t accepts_received;    /* Accepted answers to this node's rounds */
  uint64_t messages_sent;
  uint64_t ballots_tried;       /* = proposals_started */
  uint64_t malformed_messages;  /* refused by hs_paxos_step as malformed */
  hs_paxos_ballot ballot;       /* this node's current (or last) proposal ballot */
  hs_paxos_ballot promised;
  hs_paxos_phase phase;
  uint32_t phase1_quorum, phase2_quorum;
  bool decided;
  bool crashed;
} hs_paxos_stats;

/* Fills cfg with the defaults above (zero id, no members, no callbacks, rng seeded from 0). */
void hs_paxos_config_init(hs_paxos_config *cfg);

/* Creates a stopped node: load durable state if any, then hs_paxos_start. HS_OK, HS_EINVAL
 * (bad id, members, times, no send callback), HS_PAXOS_EQUORUM or HS_ENOMEM; *out is NULL on
 * failure. */
int hs_paxos_new(const hs_paxos_config *cfg, hs_paxos **out);
void hs_paxos_free(hs_paxos *p);

/* Durable state from an earlier life, before hs_paxos_start (copied). HS_PAXOS_ESTATE after. */
int hs_paxos_load(hs_paxos *p, const hs_paxos_durable *d);
/* Starts the node; a node that knows the decision starts broadcasting it. */
int hs_paxos_start(hs_paxos *p, hs_time_ns now);
/* Loses the volatile state (the value being proposed, the round, who acknowledged the
 * decision) and disarms the timer. Every call but restart, free and the getters is then
 * refused with HS_PAXOS_ECRASHED. */
void hs_paxos_crash(hs_paxos *p);
/* Comes back with the durable state only: no proposal in progress. */
int hs_paxos_restart(hs_paxos *p, hs_time_ns now);

/* Handles one message addressed to this node. HS_OK (also for stale or duplicated messages),
 * HS_EINVAL (malformed: not for this node, from a non-member, a round beyond
 * HS_PAXOS_MAX_COUNTER, a ballot that is not its sender's ...; counted), HS_PAXOS_ECRASHED. */
int hs_paxos_step(hs_paxos *p, const hs_paxos_msg *m, hs_time_ns now);
/* Does whatever is due at now: a round's timeout, the retry after a backoff, a resend of the
 * decision. A tick before the deadline is harmless. */
int hs_paxos_tick(hs_paxos *p, hs_time_ns now);
/* The node's deadline, HS_TIME_NEVER if none (crashed, stopped, nothing due). */
hs_time_ns hs_paxos_next_deadline(const hs_paxos *p);

/* Proposes a value: this node's proposer starts a round now unless one is in progress (a
 * second proposal joins it; the first value is the one proposed). Once the node learns the
 * decision, decided() is called; the decided value may be another proposer's. When the node
 * already knows the decision nothing starts and nothing is called: check hs_paxos_decided.
 * HS_OK, HS_EINVAL, HS_PAXOS_ECRASHED, HS_ENOMEM. */
int hs_paxos_propose(hs_paxos *p, hs_time_ns now, const void *data, size_t len);
/* Starts phase 1 now with a fresh ballot, abandoning the round in progress (the seed's
 * start_phase1). Needs a value proposed before: HS_PAXOS_ESTATE otherwise. HS_OK once decided. */
int hs_paxos_start_round(hs_paxos *p, hs_time_ns now);

/* The decision: true with the value's bytes (valid until the next call into the node). */
bool hs_paxos_decided(const hs_paxos *p, const uint8_t **data, uint32_t *len);
void hs_paxos_get_stats(const hs_paxos *p, hs_paxos_stats *out);
uint32_t hs_paxos_id(const hs_paxos *p);
bool hs_paxos_crashed(const hs_paxos *p);
hs_paxos_phase hs_paxos_phase_of(const hs_paxos *p);
hs_paxos_ballot hs_paxos_ballot_of(const hs_paxos *p);    /* the proposer's current ballot */
hs_paxos_ballot hs_paxos_promised(const hs_paxos *p);     /* the acceptor's promise */
/* The acceptor's accepted value (ballot round 0 when none); data valid until the next call. */
hs_paxos_value hs_paxos_accepted(const hs_paxos *p);

#endif
