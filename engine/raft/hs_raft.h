/*
 * hs_raft.h - the Raft protocol core: a pure, deterministic state machine.
 *
 * A node is stepped with messages (hs_raft_step), told when time passes (hs_raft_tick), and
 * asked to propose commands, read linearizably and change membership. It knows nothing of
 * the network, the scheduler, Lua or real time: every call carries the current simulated time
 * `now`, random election timeouts come from the hs_rng given at creation, and everything the
 * node wants done comes out through the callbacks of hs_raft_callbacks, synchronously, during
 * the call that caused it. Same inputs, same outputs: a run replays from its seed.
 *
 * The protocol (Ongaro & Ousterhout, "In Search of an Understandable Consensus Algorithm",
 * extended version, and Ongaro's thesis):
 *   - leader election with randomized timeouts in [election_timeout_min, _max), one vote per
 *     term, persisted (persist_state) before the vote is sent; optional pre-vote (thesis 9.6)
 *     and check-quorum with leader stickiness (thesis 4.2.3), both on by default;
 *   - log replication: a proposal is sent at once, in batches of at most max_msg_entries /
 *     max_msg_bytes; per follower a PROBE mode (one AppendEntries outstanding, after an
 *     election or a rejection) and a REPLICATE mode (optimistic pipelining: next_index moves
 *     on send, up to max_inflight unacknowledged messages); rejections carry a conflict hint
 *     (conflict term and the follower's first index of that term, or its log end) so the
 *     leader backs up one term per round trip, not one entry;
 *   - commitment only by counting replicas of current-term entries (Figure 8), with a no-op
 *     entry appended on election;
 *   - linearizable reads with ReadIndex (thesis 6.4);
 *   - log compaction past snapshot_threshold applied entries, InstallSnapshot in one message;
 *   - single-server membership changes (thesis 4.1) with non-voting learners.
 *
 * TIME AND TIMERS. A node has two deadlines: the election timer (follower, pre-candidate and
 * candidate: start an election; leader: the check-quorum period) and the heartbeat timer
 * (leader only). Every state transition re-arms both. The adapter either arms one engine timer
 * at hs_raft_next_deadline(r) after each call, or implements set_timer(kind, at_ns), which the
 * node calls whenever a deadline changes (HS_TIME_NEVER: disarmed). Either way, when a deadline
 * is reached the adapter calls hs_raft_tick(r, now): it does whatever is due (a tick before
 * any deadline is harmless).
 *
 * DURABILITY. The node keeps its durable state itself: term, vote, log and the latest snapshot
 * (state-machine bytes and the configuration at its index). hs_raft_crash drops everything
 * volatile (role, leader, commit and applied index, replication progress, pending proposals
 * and reads); hs_raft_restart keeps the durable part, restores the state machine from the
 * snapshot (snapshot_restore) and re-applies committed entries as the commit index is learned
 * again. The persist_* callbacks tell the adapter what became durable, and they are called
 * before any message that depends on it is sent (a vote response after persist_state, an
 * AppendEntries acknowledgement after persist_entries).
 *
 * CALLBACKS must not call back into the same node, except its read-only getters
 * (hs_raft_role, hs_raft_entry_at, hs_raft_stats ...). Everything a callback receives by
 * pointer is valid only during the call.
 *
 * Node ids are non-zero uint32 (0 is HS_RAFT_NONE); the adapter keeps names.
 */
#ifndef HS_RAFT_H
#define HS_RAFT_H

#include "core/hs_rng.h"
#include "core/hs_types.h"

#define HS_RAFT_NONE 0u
/* Largest number of members (voters + learners) of a configuration. */
#define HS_RAFT_MAX_NODES 64u
/* Terms and indexes in messages are at most this: no arithmetic on them can overflow (a
 * message beyond it is malformed; no real run comes near 2^62). */
#define HS_RAFT_MAX_COUNTER ((uint64_t)1 << 62)

/* Error codes of the Raft core, beside HS_OK, HS_EINVAL and HS_ENOMEM. The codes from
 * HS_RAFT_ETRUNCATED on are also the reasons given to proposal_lost and read_done. */
enum {
  HS_RAFT_ENOTLEADER = -64, /* not the leader: hs_raft_leader(r) is the hint (or HS_RAFT_NONE) */
  HS_RAFT_EBUSY = -65,      /* a membership change is pending, or no current-term entry committed yet */
  HS_RAFT_ECRASHED = -66,   /* the node is crashed (or was, for a lost proposal / failed read) */
  HS_RAFT_ESTATE = -67,     /* wrong life-cycle state (load after start, step before start ...) */
  HS_RAFT_ETRUNCATED = -68, /* the entry was overwritten by a new leader's entry: not committed */
  HS_RAFT_ESNAPSHOT = -69,  /* the entry was replaced by an installed snapshot: outcome unknown */
  HS_RAFT_ELEADERSHIP = -70, /* leadership was lost: a read failed; a dropped proposal's outcome unknown */
  HS_RAFT_ETRANSFER = -71,   /* a leadership transfer is in progress: proposals are refused meanwhile */
  HS_RAFT_ETIMEOUT = -72     /* a leadership transfer did not complete within an election timeout */
};

/* A message for any HS_ or HS_RAFT_ code. */
const char *hs_raft_strerror(int code);

typedef enum hs_raft_role {
  HS_RAFT_FOLLOWER = 0,
  HS_RAFT_PRE_CANDIDATE, /* asking for pre-votes; the term is not incremented yet */
  HS_RAFT_CANDIDATE,
  HS_RAFT_LEADER
} hs_raft_role;

/* "follower", "pre_candidate", "candidate", "leader". */
const char *hs_raft_role_name(hs_raft_role role);

/* ---- Log entries ------------------------------------------------------------------------ */

typedef enum hs_raft_entry_type {
  HS_RAFT_ENTRY_NORMAL = 0, /* a command: opaque bytes */
  HS_RAFT_ENTRY_NOOP,       /* appended by a new leader; empty */
  HS_RAFT_ENTRY_CONF        /* a configuration: hs_raft_conf_encode bytes; takes effect when appended */
} hs_raft_entry_type;

/* A view of one entry. data points into whoever owns the entry (the node's log, a message):
 * see each function for how long it stays valid. */
typedef struct hs_raft_entry {
  uint64_t index;
  uint64_t term;
  hs_raft_entry_type type;
  uint32_t len;
  const uint8_t *data; /* len bytes; may be NULL when len == 0 */
} hs_raft_entry;

/* ---- Configurations --------------------------------------------------------------------- */

/* A configuration: sorted voter ids, then sorted learner ids (non-voting members that receive
 * the log). A node that is not a voter of its own configuration never starts an election. */
typedef struct hs_raft_conf {
  uint32_t n_voters;
  uint32_t n_learners;
  uint32_t voters[HS_RAFT_MAX_NODES];
  uint32_t learners[HS_RAFT_MAX_NODES];
} hs_raft_conf;

typedef enum hs_raft_conf_op {
  HS_RAFT_CONF_ADD_VOTER = 0, /* add a voter, or promote a learner */
  HS_RAFT_CONF_ADD_LEARNER,   /* add a non-voting member (to catch up before promotion) */
  HS_RAFT_CONF_REMOVE         /* remove a voter or a learner */
} hs_raft_conf_op;

bool hs_raft_conf_is_voter(const hs_raft_conf *c, uint32_t id);
bool hs_raft_conf_is_learner(const hs_raft_conf *c, uint32_t id);
/* Applies op to c (a copy is made by the caller). HS_OK, or HS_EINVAL when it is not a change
 * (adding a voter twice, removing a non-member or the last voter, id 0, too many members). */
int hs_raft_conf_apply(hs_raft_conf *c, hs_raft_conf_op op, uint32_t id);
/* The bytes of a configuration (the data of a HS_RAFT_ENTRY_CONF entry, and of a snapshot's
 * configuration in a message): 4 + 4 + 4 * members bytes. encode returns the size written,
 * or 0 when cap is too small; decode returns HS_OK or HS_EINVAL. */
size_t hs_raft_conf_encoded_size(const hs_raft_conf *c);
size_t hs_raft_conf_encode(const hs_raft_conf *c, uint8_t *out, size_t cap);
int hs_raft_conf_decode(hs_raft_conf *c, const uint8_t *data, size_t len);

/* ---- Messages --------------------------------------------------------------------------- */

typedef enum hs_raft_msg_type {
  HS_RAFT_MSG_VOTE = 0,       /* RequestVote: index/log_term = candidate's last entry */
  HS_RAFT_MSG_VOTE_RESP,      /* reject = vote denied */
  HS_RAFT_MSG_PRE_VOTE,       /* term = the candidate's term + 1, which it has not taken yet */
  HS_RAFT_MSG_PRE_VOTE_RESP,  /* granted: term = the pre-vote's term; denied: the voter's term */
  HS_RAFT_MSG_APP,            /* AppendEntries: index/log_term = previous entry, entries, commit */
  HS_RAFT_MSG_APP_RESP,       /* success: index = last index known to match; reject: see below */
  HS_RAFT_MSG_HEARTBEAT,      /* commit = min(leader commit, follower's match), context = read round */
  HS_RAFT_MSG_HEARTBEAT_RESP, /* context echoed; index = responder's last log index (informative) */
  HS_RAFT_MSG_SNAP,           /* InstallSnapshot: index/log_term = last included entry, data, conf */
  HS_RAFT_MSG_TIMEOUT_NOW,    /* leadership transfer: start an election now (thesis 3.10) */
  HS_RAFT_MSG_TYPE_COUNT
} hs_raft_msg_type;

/* A RequestVote's context when a leadership transfer asked for the election: voters grant it
 * even while they hear from the current leader (it is the leader that asked). */
#define HS_RAFT_VOTE_TRANSFER 1u

/* "vote", "vote_resp", "pre_vote", ... */
const char *hs_raft_msg_type_name(hs_raft_msg_type t);

/*
 * One message. Fields a type does not use are zero.
 *
 * APP_RESP with reject: index = the rejected previous index, hint_index/hint_term = the
 * conflict hint: hint_term is the term of the follower's entry at index and hint_index the
 * first index of that term in the follower's log; hint_term 0 means the follower's log is
 * too short and hint_index = its last index + 1.
 *
 * LIFETIME. In send(), every pointer (entries, the entries' data, snapshot, conf) points into
 * the sender's own memory (its log, its snapshot) and is valid only during the call: the
 * adapter copies or encodes the message (hs_raft_msg_encode) before returning. In
 * hs_raft_step(), the node copies what it keeps; the message may be freed on return.
 */
typedef struct hs_raft_msg {
  hs_raft_msg_type type;
  uint32_t from;
  uint32_t to;
  bool reject;
  uint64_t term;
  uint64_t index;
  uint64_t log_term;
  uint64_t commit;
  uint64_t hint_index;
  uint64_t hint_term;
  uint64_t context;
  const hs_raft_entry *entries; /* APP: entries index + 1, index + 2, ... */
  uint32_t n_entries;
  uint32_t conf_len; /* SNAP: the configuration at the snapshot index (hs_raft_conf_encode) */
  const uint8_t *conf;
  const uint8_t *snapshot; /* SNAP: the state machine's bytes */
  size_t snapshot_len;
} hs_raft_msg;

/* A flat, little-endian encoding of a message (for a network payload). encoded_size is exact;
 * encode returns the bytes written, or 0 when cap is too small. */
size_t hs_raft_msg_encoded_size(const hs_raft_msg *m);
size_t hs_raft_msg_encode(const hs_raft_msg *m, uint8_t *out, size_t cap);
/* Number of entries in an encoded message (0 when malformed, or when the count cannot fit in
 * len bytes): the size of the array to give to hs_raft_msg_decode. */
uint32_t hs_raft_msg_decode_count(const uint8_t *buf, size_t len);
/* Decodes without copying: m's data pointers point into buf, its entries into `entries`
 * (max_entries slots). HS_OK, or HS_EINVAL for a malformed buffer or too few slots. */
int hs_raft_msg_decode(hs_raft_msg *m, const uint8_t *buf, size_t len, hs_raft_entry *entries,
                       uint32_t max_entries);

/* ---- Callbacks -------------------------------------------------------------------------- */

typedef enum hs_raft_timer {
  HS_RAFT_TIMER_ELECTION = 0, /* election timeout; on a leader, the check-quorum period */
  HS_RAFT_TIMER_HEARTBEAT     /* leader only */
} hs_raft_timer;

typedef struct hs_raft_role_event {
  hs_raft_role role;
  hs_raft_role prev_role;
  uint64_t term;
  uint32_t leader; /* known leader, HS_RAFT_NONE if unknown */
  hs_time_ns now;
} hs_raft_role_event;

/* Every callback gets the `ud` of the configuration. Only send is required. */
typedef struct hs_raft_callbacks {
  /* A message to deliver to m->to (never to the node itself). See hs_raft_msg: LIFETIME. */
  void (*send)(void *ud, const hs_raft_msg *m);

  /* A deadline changed: at_ns is absolute, HS_TIME_NEVER when the timer is off. */
  void (*set_timer)(void *ud, hs_raft_timer kind, hs_time_ns at_ns);

  /* Durable state changed: term and vote (called before any message that depends on them). */
  void (*persist_state)(void *ud, uint64_t term, uint32_t vote);
  /* Log entries first..last are new; any entry the adapter had stored at index >= first is
   * replaced (a conflicting suffix was truncated). Read them with hs_raft_entry_at. */
  void (*persist_entries)(void *ud, uint64_t first, uint64_t last);
  /* A snapshot at (index, term) replaced the log up to index: taken here (compaction) or
   * installed from the leader. Its bytes: hs_raft_snapshot. */
  void (*persist_snapshot)(void *ud, uint64_t index, uint64_t term);

  /* A committed entry, in index order, exactly once per index between restarts (after a
   * restart, from the snapshot on). Every type is passed so indexes stay contiguous; only
   * NORMAL entries carry commands. When proposed_here is true, this node accepted the entry
   * in hs_raft_propose / hs_raft_propose_conf with `tag`, and that request is now complete:
   * the adapter resolves it with the result of applying e. */
  void (*apply)(void *ud, const hs_raft_entry *e, bool proposed_here, uint64_t tag);
  /* A proposal accepted on this node will never be applied as proposed: reason is
   * HS_RAFT_ETRUNCATED (overwritten by another leader's entry), HS_RAFT_ESNAPSHOT (replaced
   * by a snapshot, outcome unknown), HS_RAFT_ECRASHED, or HS_RAFT_ELEADERSHIP (stepped down
   * with drop_proposals_on_step_down set; outcome unknown). Called before any apply at index.
   * Every accepted proposal ends in exactly one apply(proposed_here) or one proposal_lost. */
  void (*proposal_lost)(void *ud, uint64_t tag, uint64_t index, int reason);
  /* A read requested with hs_raft_read_index: status HS_OK means the state machine has now
   * applied read_index and reflects every write committed before the request, so the read
   * can be served from it now; otherwise HS_RAFT_ELEADERSHIP or HS_RAFT_ECRASHED. */
  void (*read_done)(void *ud, uint64_t request_id, uint64_t read_index, int status);

  /* The state machine's bytes after applying exactly the entries up to index (the node asks
   * once snapshot_threshold entries were applied since the last snapshot). Return
   * NULL to skip; the bytes must stay valid until the next call into the node (it copies). */
  const uint8_t *(*snapshot_take)(void *ud, uint64_t index, size_t *len);
  /* Replace the state machine's state with a snapshot's (index 0, data NULL: the empty
   * initial state). Called on hs_raft_restart and when a snapshot is installed. */
  void (*snapshot_restore)(void *ud, uint64_t index, uint64_t term, const uint8_t *data, size_t len);

  /* The role, term or known leader changed (for traces: "became leader of term T at t"). */
  void (*role_changed)(void *ud, const hs_raft_role_event *ev);
  /* A leadership transfer started here with `tag` ended: HS_OK once this node learned that the
   * target leads a later term; HS_RAFT_ELEADERSHIP when another node did; HS_RAFT_ETIMEOUT
   * when neither happened within an election timeout (the maximum); HS_RAFT_ECRASHED. */
  void (*transfer_done)(void *ud, uint64_t tag, int status);
} hs_raft_callbacks;

/* ---- Configuration and life cycle --------------------------------------------------------- */

typedef struct hs_raft_config {
  uint32_t id;               /* this node, non-zero */
  const uint32_t *voters;    /* bootstrap configuration (copied): the configuration at index 0 */
  uint32_t n_voters;         /* a joining node gets the cluster's bootstrap set, or none */
  const uint32_t *learners;
  uint32_t n_learners;

  hs_time_ns election_timeout_min_ns; /* default 1.5 s */
  hs_time_ns election_timeout_max_ns; /* default 3.0 s; timeouts are uniform in [min, max) */
  hs_time_ns heartbeat_interval_ns;   /* default 0.5 s */
  bool pre_vote;                      /* default true */
  bool check_quorum;                  /* default true (also enables leader stickiness) */
  bool drop_proposals_on_step_down;   /* default false: keep tracking until resolved */

  uint32_t max_msg_entries;    /* default 64 */
  uint32_t max_msg_bytes;      /* default 1 MiB (a message always carries at least one entry) */
  uint32_t max_inflight;       /* default 32: pipelined AppendEntries per follower */
  uint64_t snapshot_threshold; /* default 0 = never: applied entries that trigger a snapshot */

  hs_rng rng; /* election timeout draws (copied); seed it from the run seed and the node name */
  hs_raft_callbacks cb;
  void *ud;
} hs_raft_config;

typedef struct hs_raft hs_raft; /* opaque */

/* Fills cfg with the defaults above (zero id, no voters, no callbacks, rng seeded from 0). */
void hs_raft_config_init(hs_raft_config *cfg);

/* Creates a node in the STOPPED state: load durable state if any, then hs_raft_start.
 * HS_OK, HS_EINVAL (bad id, timeouts, sizes, no send callback, bootstrap set invalid) or
 * HS_ENOMEM. *out is NULL on failure. */
int hs_raft_new(const hs_raft_config *cfg, hs_raft **out);
/* Frees the node and everything it owns (pending proposals and reads are dropped silently). */
void hs_raft_free(hs_raft *r);

/* Durable state from an earlier life (an adapter's store, or a test), before hs_raft_start.
 * load_snapshot replaces the log; load_entries appends entries that must continue the log
 * (entries[0].index == last index + 1, terms non-decreasing). HS_RAFT_ESTATE after start. */
int hs_raft_load_state(hs_raft *r, uint64_t term, uint32_t vote);
int hs_raft_load_snapshot(hs_raft *r, uint64_t index, uint64_t term, const hs_raft_conf *conf,
                          const uint8_t *data, size_t len);
int hs_raft_load_entries(hs_raft *r, const hs_raft_entry *entries, size_t n);

/* Starts as a follower of the loaded term and arms the election timer. If a snapshot was
 * loaded, snapshot_restore is called first. */
int hs_raft_start(hs_raft *r, hs_time_ns now);
/* Loses the volatile state: fails pending reads and proposals (ECRASHED), disarms the timers.
 * Every other call but restart, free and the getters is then refused with HS_RAFT_ECRASHED. */
void hs_raft_crash(hs_raft *r);
/* Comes back as a follower with the durable state: snapshot_restore (index 0 and no data when
 * there is no snapshot), commit = applied = snapshot index, election timer armed. */
int hs_raft_restart(hs_raft *r, hs_time_ns now);

/* ---- Inputs ------------------------------------------------------------------------------- */

/* Handles one message addressed to this node. HS_OK (also for messages ignored as stale),
 * HS_EINVAL (not addressed to this node, malformed: a term or index beyond
 * HS_RAFT_MAX_COUNTER ...), HS_RAFT_ECRASHED, HS_ENOMEM. */
int hs_raft_step(hs_raft *r, const hs_raft_msg *m, hs_time_ns now);
/* Does whatever is due at now: an election, a heartbeat round, a check-quorum. */
int hs_raft_tick(hs_raft *r, hs_time_ns now);
/* The earliest armed deadline, HS_TIME_NEVER if none (crashed or stopped). */
hs_time_ns hs_raft_next_deadline(const hs_raft *r);
hs_time_ns hs_raft_deadline(const hs_raft *r, hs_raft_timer kind);
/* Starts an election now, as if the election timer had fired (with pre-vote if enabled).
 * A leader or a node that is not a voter does nothing. */
int hs_raft_campaign(hs_raft *r, hs_time_ns now);

/* Appends a command on the leader and sends it at once. tag is the adapter's handle for the
 * request: it comes back in apply(proposed_here) or proposal_lost, which may be called before
 * this returns (a single-node cluster commits at once). *index_out (optional) gets the index.
 * HS_OK, HS_RAFT_ENOTLEADER (see hs_raft_leader), HS_RAFT_ECRASHED, HS_ENOMEM. */
int hs_raft_propose(hs_raft *r, hs_time_ns now, const void *data, size_t len, uint64_t tag,
                    uint64_t *index_out);
/* Proposes a single-server membership change. Refused with HS_RAFT_EBUSY while a previous
 * change is not committed or before the leader committed an entry of its own term; HS_EINVAL
 * when op is not a change. The new configuration takes effect as soon as it is appended; a
 * leader that removed itself steps down once the change commits. */
int hs_raft_propose_conf(hs_raft *r, hs_time_ns now, hs_raft_conf_op op, uint32_t node, uint64_t tag,
                         uint64_t *index_out);
/* A linearizable read (ReadIndex): the leader takes its commit index once an entry of its term
 * is committed, confirms its leadership with a heartbeat round acknowledged by a quorum, and
 * calls read_done(request_id, read_index, HS_OK) once the state machine applied read_index (or
 * with HS_RAFT_ELEADERSHIP if it stops leading first). May complete before returning.
 * HS_OK, HS_RAFT_ENOTLEADER, HS_RAFT_ECRASHED, HS_ENOMEM. */
int hs_raft_read_index(hs_raft *r, hs_time_ns now, uint64_t request_id);

/* Hands leadership to the voter `target` (thesis 3.10): the leader refuses proposals and
 * membership changes meanwhile (HS_RAFT_ETRANSFER), brings target's log up to date, then sends
 * it TimeoutNow, on which target starts an election at once (no pre-vote; voters grant it even
 * while they hear from this leader). If target has not won within an election timeout (the
 * maximum), the leader aborts and serves again. transfer_done(tag, ...) tells the outcome.
 * HS_OK (target == this leader: done at once), HS_RAFT_ENOTLEADER, HS_RAFT_ETRANSFER (one
 * transfer at a time), HS_EINVAL (target is not a voter), HS_RAFT_ECRASHED. */
int hs_raft_transfer_leadership(hs_raft *r, hs_time_ns now, uint32_t target, uint64_t tag);
/* The target of the leadership transfer in progress here, HS_RAFT_NONE if none. */
uint32_t hs_raft_transfer_target(const hs_raft *r);

/* ---- Getters ------------------------------------------------------------------------------ */

typedef struct hs_raft_stats {
  hs_raft_role state;
  uint64_t current_term;
  uint32_t current_leader; /* HS_RAFT_NONE if unknown */
  uint32_t voted_for;
  uint64_t log_length;     /* last log index (entries ever in the log, compacted ones included) */
  uint64_t first_index;    /* first index still in memory (snapshot index + 1) */
  uint64_t snapshot_index;
  uint64_t commit_index;
  uint64_t applied_index;
  uint64_t commands_committed; /* NORMAL entries applied on this node */
  uint64_t entries_applied;    /* entries of every type applied on this node */
  uint64_t elections_started;  /* real elections (term incremented) */
  uint64_t pre_votes_started;
  uint64_t votes_received;     /* votes granted to this node, its own included */
  uint64_t elections_won;
  uint64_t messages_sent;
  uint64_t proposals_lost;
  uint64_t reads_served;
  uint64_t snapshots_taken;
  uint64_t snapshots_installed;
  uint64_t transfers_started;  /* leadership transfers started on this node as leader */
  uint64_t transfers_done;     /* ... that ended with the target leading */
  bool crashed;
} hs_raft_stats;

void hs_raft_get_stats(const hs_raft *r, hs_raft_stats *out);
uint32_t hs_raft_id(const hs_raft *r);
hs_raft_role hs_raft_role_of(const hs_raft *r);
uint64_t hs_raft_term(const hs_raft *r);
uint32_t hs_raft_vote(const hs_raft *r);
uint32_t hs_raft_leader(const hs_raft *r);
uint64_t hs_raft_commit_index(const hs_raft *r);
uint64_t hs_raft_applied_index(const hs_raft *r);
uint64_t hs_raft_first_index(const hs_raft *r); /* snapshot index + 1 */
uint64_t hs_raft_last_index(const hs_raft *r);
bool hs_raft_crashed(const hs_raft *r);
/* The entry at index, first_index <= index <= last_index: HS_OK, else HS_EINVAL. e->data
 * points into the node's log: valid until the next call that changes the node. */
int hs_raft_entry_at(const hs_raft *r, uint64_t index, hs_raft_entry *e);
/* The term of the entry at index (the snapshot index included); 0 when unknown. */
uint64_t hs_raft_term_at(const hs_raft *r, uint64_t index);
/* The configuration in effect (the latest in the log, committed or not), and the index of
 * the entry that set it (0: bootstrap or snapshot). */
const hs_raft_conf *hs_raft_conf_get(const hs_raft *r, uint64_t *conf_index);
/* The latest snapshot: index, term and bytes (NULL, 0 when none). Valid until the next call. */
uint64_t hs_raft_snapshot(const hs_raft *r, uint64_t *term, const uint8_t **data, size_t *len);

/* True when this file was compiled with HS_RAFT_UNSAFE_DOUBLE_VOTE (a test-only flag that lets
 * a follower grant a second vote in the same term); always false in the engine library. */
bool hs_raft_unsafe_build(void);

#endif
