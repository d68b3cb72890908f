/*
 * hs_elect.h - leader election with pluggable strategies: a pure, deterministic state machine
 * (the shape of hs_raft.h).
 *
 * A node is stepped with decoded messages (hs_elect_step), ticked at its deadlines
 * (hs_elect_tick), and told about crashes and restarts. Everything it wants done (send,
 * persist, arm a timer, report a leader) comes out through hs_elect_callbacks, synchronously.
 * Random draws come from the hs_rng given at creation. No network, scheduler or wall clock.
 *
 * THE CORE does what every strategy shares:
 *   - EPOCHS. Every message carries an epoch (the election number, the term). A node adopts any
 *     higher epoch it sees (a leader of an older epoch steps down). In each epoch a node backs
 *     at most one node (`backed`: a vote, or the leader it accepted); the epoch and the backed
 *     node are durable (persist is called before any message that depends on them, and a
 *     restart keeps them). A node becomes leader only of an epoch in which it backs itself, and
 *     accepts a leader only if it backs that leader or nobody yet. So in an epoch at most one
 *     node is ever accepted as leader by a quorum (two quorums would share a node that backed
 *     two), whatever the strategy does: that is the safety property the tests check.
 *   - HEARTBEATS. A leader sends HEARTBEAT(epoch) to every member each heartbeat_interval; the
 *     first round after it wins is flagged `announce` (the coordinator message). A member that
 *     accepts answers HEARTBEAT_ACK; one that backs another node of that epoch, or is in a later
 *     epoch, refuses. The leader reports itself confirmed once a quorum accepted it.
 *   - FAILURE DETECTION. A member that has not heard its leader for election_timeout (or is told
 *     the leader died: hs_elect_set_alive) drops it and asks the strategy whether to start an
 *     election; while there is no leader it asks again every election_timeout.
 *   - CONFLICTS. A leader that hears another leader of its own epoch (possible for bully and
 *     ring, whose rounds may run on both sides of a partition) starts a new election if its id
 *     is the lower one, so exactly one of the two moves the cluster to a later epoch.
 *
 * THE STRATEGY (hs_elect_strategy_ops) decides how an election runs: when to start one, which
 * messages it sends, how it handles them, what its own timer does, and whether to accept an
 * announced leader. It acts through the services below (hs_elect_send, hs_elect_declare,
 * hs_elect_back, hs_elect_campaign, hs_elect_set_timeout ...). Built in: Garcia-Molina's bully,
 * Chang-Roberts' ring and randomized timeouts with votes (hs_elect_strategies.h); the Lua
 * binding implements the same vtable with Lua functions to run a strategy written in Lua.
 *
 * Member ids are non-zero uint32 (0 is HS_ELECT_NONE); the adapter keeps names. CALLBACKS must
 * not call back into the node except its getters and, for strategies, the services.
 */
#ifndef HS_ELECT_H
#define HS_ELECT_H

#include "core/hs_rng.h"
#include "core/hs_types.h"

#define HS_ELECT_NONE 0u
#define HS_ELECT_MAX_MEMBERS 1024u
/* Epochs in messages are at most this (beyond: malformed), so epoch + 1 never overflows. */
#define HS_ELECT_MAX_EPOCH ((uint64_t)1 << 62)

enum {
  HS_ELECT_ECRASHED = -96, /* the node is crashed */
  HS_ELECT_ESTATE = -97,   /* wrong life-cycle state (started twice, load after start ...) */
  HS_ELECT_EREFUSED = -98  /* declare: this node backs another node in this epoch */
};

const char *hs_elect_strerror(int code);

/* ---- Messages ------------------------------------------------------------------------------ */

typedef enum hs_elect_msg_type {
  HS_ELECT_MSG_HEARTBEAT = 0,  /* leader -> member; flag: announce (the first round of an epoch) */
  HS_ELECT_MSG_HEARTBEAT_ACK,  /* flag: refused; candidate: whom the member backs */
  HS_ELECT_MSG_BULLY_ELECTION, /* to every higher member: "are you there?" */
  HS_ELECT_MSG_BULLY_ANSWER,   /* "yes, I take over" */
  HS_ELECT_MSG_RING_ELECTION,  /* to the next live member of the ring; candidate: the best id so far */
  HS_ELECT_MSG_RING_ACK,       /* the successor got it (candidate echoed) */
  HS_ELECT_MSG_VOTE,           /* a candidate asks for a vote in its epoch; ballot: its random draw */
  HS_ELECT_MSG_VOTE_RESP,      /* flag: refused */
  HS_ELECT_MSG_CUSTOM,         /* a strategy of the binding: kind and data are its own */
  HS_ELECT_MSG_TYPE_COUNT
} hs_elect_msg_type;

/* "heartbeat", "heartbeat_ack", "bully_election", ... */
const char *hs_elect_msg_type_name(hs_elect_msg_type t);

/* One message; unused fields are zero. In send() and step() data points into the caller's
 * memory, valid during the call only. */
typedef struct hs_elect_msg {
  hs_elect_msg_type type;
  uint32_t from;
  uint32_t to;
  bool flag;
  uint8_t kind;
  uint64_t epoch;
  uint32_t candidate;
  uint64_t ballot;
  const uint8_t *data;
  uint32_t len;
} hs_elect_msg;

/* A flat little-endian encoding (for a network payload): 36 bytes + len. */
size_t hs_elect_msg_encoded_size(const hs_elect_msg *m);
size_t hs_elect_msg_encode(const hs_elect_msg *m, uint8_t *out, size_t cap);
/* Without copying: m->data points into buf. HS_OK or HS_EINVAL (malformed). */
int hs_elect_msg_decode(hs_elect_msg *m, const uint8_t *buf, size_t len);

/* ---- Callbacks ----------------------------------------------------------------------------- */

typedef enum hs_elect_timer {
  HS_ELECT_TIMER_CORE = 0, /* leader: the next heartbeat round; member: the leader-failure check */
  HS_ELECT_TIMER_STRATEGY  /* the strategy's own (hs_elect_set_timeout) */
} hs_elect_timer;

typedef struct hs_elect_leader_event {
  uint32_t leader;      /* HS_ELECT_NONE: no leader known now */
  uint32_t prev_leader;
  uint64_t epoch;       /* the epoch of `leader` (the node's epoch when none) */
  bool is_self;         /* this node became the leader */
  hs_time_ns now;
} hs_elect_leader_event;

typedef struct hs_elect_callbacks {
  void (*send)(void *ud, const hs_elect_msg *m);                  /* required; never to itself */
  void (*set_timer)(void *ud, hs_elect_timer kind, hs_time_ns at_ns); /* HS_TIME_NEVER: off */
  void (*persist)(void *ud, uint64_t epoch, uint32_t backed);     /* durable state changed */
  void (*leader_changed)(void *ud, const hs_elect_leader_event *ev);
  /* This leader of `epoch` was accepted by a quorum (once per epoch). */
  void (*confirmed)(void *ud, uint64_t epoch, hs_time_ns now);
} hs_elect_callbacks;

/* ---- Strategies ---------------------------------------------------------------------------- */

typedef struct hs_elect hs_elect;

typedef struct hs_elect_strategy_ops {
  const char *name; /* "bully", "ring", "randomized", or the binding's */
  /* The message types handle_message takes: bit (1u << type) each. Any other type (but the
   * core's) is refused as malformed before it can move the epoch. */
  uint32_t message_types;
  /* The leader is lost (or there never was one): start an election now? Returning false
   * means "not now" (an election of the strategy is running, or it arms its own timer and
   * calls hs_elect_campaign later); the core asks again after election_timeout. A strategy
   * that answers later (ASYNCHRONOUS ANSWERS below) returns false and then calls
   * hs_elect_campaign_if_leaderless. Required. */
  bool (*should_start_election)(void *self, hs_elect *e, hs_time_ns now);
  /* An election starts in the node's new epoch (hs_elect_epoch), which backs nobody yet: send
   * the election messages (the Python get_election_messages), arm the timer. Required. */
  void (*start_election)(void *self, hs_elect *e, hs_time_ns now);
  /* A message of a type the core does not handle (all but HEARTBEAT and HEARTBEAT_ACK), from a
   * member, after the epoch rule was applied. HS_OK, or HS_EINVAL for a message the strategy
   * does not speak (counted as malformed). Required. */
  int (*handle_message)(void *self, hs_elect *e, const hs_elect_msg *m, hs_time_ns now);
  /* The strategy's timer fired. Required. */
  void (*on_timeout)(void *self, hs_elect *e, hs_time_ns now);
  /* A leader the node may back announces itself (a heartbeat of the current epoch): accept
   * it? NULL: always. (Bully refuses a lower leader and starts an election instead.) A
   * strategy that answers later returns false (the heartbeat is refused for now) and gives a
   * yes with hs_elect_accept_leader. */
  bool (*accept_leader)(void *self, hs_elect *e, uint32_t leader, hs_time_ns now);
  /* The node crashed or restarted: forget the running election. Optional. */
  void (*reset)(void *self, hs_elect *e);
  /* Frees self (hs_elect_free calls it). Optional. */
  void (*destroy)(void *self);
} hs_elect_strategy_ops;

typedef struct hs_elect_strategy {
  const hs_elect_strategy_ops *ops;
  void *self;
} hs_elect_strategy;

/* ---- Configuration and life cycle ---------------------------------------------------------- */

typedef struct hs_elect_config {
  uint32_t id;
  const uint32_t *members; /* every member, this node included (copied); distinct, non-zero */
  uint32_t n_members;
  hs_time_ns heartbeat_interval_ns; /* default 0.5 s */
  hs_time_ns election_timeout_ns;   /* default 2.0 s: silence from the leader that fails it */
  hs_elect_strategy strategy;       /* owned by the node from hs_elect_new on (even on failure) */
  hs_rng rng;
  hs_elect_callbacks cb;
  void *ud;
} hs_elect_config;

void hs_elect_config_init(hs_elect_config *cfg);
/* A node in the STOPPED state. HS_OK, HS_EINVAL (bad id or members, no send, no strategy,
 * timeouts), HS_ENOMEM. */
int hs_elect_new(const hs_elect_config *cfg, hs_elect **out);
void hs_elect_free(hs_elect *e);
/* Durable state from an earlier life, before start. */
int hs_elect_load_state(hs_elect *e, uint64_t epoch, uint32_t backed);
/* Starts as a member without a leader; the failure check is armed election_timeout ahead. */
int hs_elect_start(hs_elect *e, hs_time_ns now);
void hs_elect_crash(hs_elect *e);
int hs_elect_restart(hs_elect *e, hs_time_ns now);

/* ---- Inputs -------------------------------------------------------------------------------- */

/* HS_OK (also for stale messages), HS_EINVAL (malformed: not for this node, from a non-member
 * or itself, an epoch beyond HS_ELECT_MAX_EPOCH, a type the strategy refuses),
 * HS_ELECT_ECRASHED, HS_ELECT_ESTATE (not started). */
int hs_elect_step(hs_elect *e, const hs_elect_msg *m, hs_time_ns now);
int hs_elect_tick(hs_elect *e, hs_time_ns now);
hs_time_ns hs_elect_next_deadline(const hs_elect *e);
/* The membership view (e.g. from SWIM): strategies skip members believed dead, and a leader
 * reported dead is dropped at once. Every member starts alive. */
int hs_elect_set_alive(hs_elect *e, uint32_t id, bool alive, hs_time_ns now);

/* ---- Services for strategies (and getters) -------------------------------------------------- */

uint32_t hs_elect_id(const hs_elect *e);
uint64_t hs_elect_epoch(const hs_elect *e);
uint32_t hs_elect_backed(const hs_elect *e);
/* The leader of the current epoch this node accepted (itself when leading), or NONE. */
uint32_t hs_elect_leader(const hs_elect *e);
bool hs_elect_is_leader(const hs_elect *e);
bool hs_elect_crashed(const hs_elect *e);
uint32_t hs_elect_member_count(const hs_elect *e);
/* Members in increasing id order; i < hs_elect_member_count. */
uint32_t hs_elect_member_at(const hs_elect *e, uint32_t i);
/* The position of id in that order, or -1. */
int32_t hs_elect_member_index(const hs_elect *e, uint32_t id);
bool hs_elect_alive(const hs_elect *e, uint32_t id);
uint32_t hs_elect_quorum(const hs_elect *e); /* members / 2 + 1 */
hs_time_ns hs_elect_election_timeout(const hs_elect *e);
hs_time_ns hs_elect_heartbeat_interval(const hs_elect *e);
hs_rng *hs_elect_rng(hs_elect *e);

/* Sends m with from = this node (epoch 0 means the current epoch). */
void hs_elect_send(hs_elect *e, const hs_elect_msg *m);
/* Arms the strategy timer (absolute; HS_TIME_NEVER disarms). */
void hs_elect_set_timeout(hs_elect *e, hs_time_ns at_ns);
/* Backs `candidate` in the current epoch if the node backs nobody or it already: true (persisted
 * before returning), else false. */
bool hs_elect_back(hs_elect *e, uint32_t candidate);
/* Becomes the leader of the current epoch and announces it (a heartbeat round with announce):
 * HS_OK (also when already leading), HS_ELECT_EREFUSED when the node backs another node. */
int hs_elect_declare(hs_elect *e, hs_time_ns now);
/* A heartbeat now to one member (a leader answering a late election message). */
void hs_elect_announce_to(hs_elect *e, uint32_t member);
/* Moves to epoch + 1 (backing nobody; a leader steps down) and calls start_election. */
int hs_elect_campaign(hs_elect *e, hs_time_ns now);
/* Restarts the leader-failure check from now (a vote was granted, an election joined). */
void hs_elect_touch(hs_elect *e, hs_time_ns now);

/* ASYNCHRONOUS ANSWERS. A strategy that cannot answer should_start_election or accept_leader
 * during the call (the binding's, whose Lua callbacks may wait in simulated time) answers
 * "not now" (false) and gives its yes later, outside any call of the core, through these.
 * Each checks that the question still stands, since the node may have moved on meanwhile. */

/* A late yes to should_start_election: campaigns (hs_elect_campaign) if the node still has no
 * leader. HS_OK, HS_ELECT_ESTATE (not started; or it has a leader now: the answer is stale),
 * HS_ELECT_ECRASHED, HS_EINVAL (epochs exhausted). */
int hs_elect_campaign_if_leaderless(hs_elect *e, hs_time_ns now);
/* A late yes to accept_leader(leader) asked in `epoch`: if the node is still in that epoch with
 * no leader and may back `leader`, it backs and accepts it (persisted), restarts the failure
 * check and acknowledges to the leader, as the heartbeat would have. HS_OK (also when it has
 * accepted that leader already), HS_ELECT_ESTATE (not started; another epoch, or it leads or
 * follows another: stale), HS_ELECT_EREFUSED (it backs another node in this epoch),
 * HS_ELECT_ECRASHED, HS_EINVAL (not a member, or itself). */
int hs_elect_accept_leader(hs_elect *e, uint32_t leader, uint64_t epoch, hs_time_ns now);

/* ---- Statistics ---------------------------------------------------------------------------- */

typedef struct hs_elect_stats {
  uint32_t current_leader;
  uint64_t current_term; /* the epoch */
  uint64_t elections_started;      /* campaigns: new epochs this node started */
  uint64_t elections_won;          /* epochs this node led */
  uint64_t elections_participated; /* epochs in which this node sent an election message */
  uint64_t leaders_confirmed;      /* epochs in which a quorum accepted this node */
  uint64_t heartbeats_sent;
  uint64_t messages_sent;
  uint64_t malformed; /* refused steps */
  bool is_leader;
  bool crashed;
} hs_elect_stats;

void hs_elect_get_stats(const hs_elect *e, hs_elect_stats *out);

/* True when this file was compiled with HS_ELECT_UNSAFE_VOLATILE_BACKING (a test-only flag: a
 * restarted node forgets whom it backed); always false in the engine library. */
bool hs_elect_unsafe_build(void);

#endif
