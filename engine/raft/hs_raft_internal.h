/*
 * hs_raft_internal.h - the node's private structures, shared by the .c files of engine/raft.
 *
 * Layout of the sources:
 *   hs_raft_log.c    the log: a growable array of entry records with a first-index offset,
 *                    and one byte arena for the entries' data
 *   hs_raft_msg.c    message and configuration encoding, names, error strings
 *   hs_raft.c        life cycle, durable-state loading, timers, the term rules of hs_raft_step,
 *                    role transitions, getters
 *   hs_raft_elect.c  pre-vote, vote, campaigns
 *   hs_raft_repl.c   replication on both sides, commitment, applying, proposals, snapshots
 *   hs_raft_read.c   ReadIndex
 *   hs_raft_conf.c   configurations, the per-member progress table, membership changes
 * (hs_raft_node.c, the simulator adapter, sits on top of the core and uses only hs_raft.h;
 * its client sessions are sm/hs_session.h.)
 *
 * Static helpers carry a per-file prefix so the files can be compiled as one translation unit
 * (the unsafe-build test does that).
 */
#ifndef HS_RAFT_INTERNAL_H
#define HS_RAFT_INTERNAL_H

#include "raft/hs_raft.h"

/* ---- The log ----------------------------------------------------------------------------- */

typedef struct hs_raft_rec {
  uint64_t term;
  uint64_t off; /* absolute offset of the data in the arena (physical = off - bytes_base) */
  uint32_t len;
  uint32_t type;
} hs_raft_rec;

typedef struct hs_raft_log {
  hs_raft_rec *recs; /* recs[k] is the entry at index snap_index + 1 + k */
  uint64_t count, cap;
  uint8_t *bytes; /* the data of recs[0..count), in order */
  uint64_t bytes_base, bytes_len, bytes_cap;
  uint64_t snap_index, snap_term; /* the entry just before recs[0] (0, 0 for an empty log) */
} hs_raft_log;

void hs_raft_log_init(hs_raft_log *l);
void hs_raft_log_free(hs_raft_log *l);
static inline uint64_t hs_raft_log_last(const hs_raft_log *l) { return l->snap_index + l->count; }
static inline uint64_t hs_raft_log_first(const hs_raft_log *l) { return l->snap_index + 1; }
/* Term at index when snap_index <= index <= last (index 0 has term 0); false otherwise. */
bool hs_raft_log_term(const hs_raft_log *l, uint64_t index, uint64_t *term);
static inline const hs_raft_rec *hs_raft_log_rec(const hs_raft_log *l, uint64_t index) {
  return &l->recs[index - l->snap_index - 1];
}
static inline const uint8_t *hs_raft_log_data(const hs_raft_log *l, const hs_raft_rec *rec) {
  return rec->len ? l->bytes + (rec->off - l->bytes_base) : NULL;
}
void hs_raft_log_view(const hs_raft_log *l, uint64_t index, hs_raft_entry *e);
int hs_raft_log_append(hs_raft_log *l, uint64_t term, hs_raft_entry_type type, const void *data, size_t len);
/* Drops the entries at index >= from (from > snap_index). */
void hs_raft_log_truncate(hs_raft_log *l, uint64_t from);
/* Drops the entries up to index (snap_index < index <= last); index becomes the snapshot point. */
void hs_raft_log_compact(hs_raft_log *l, uint64_t index);
/* Empties the log; (index, term) becomes the snapshot point. */
void hs_raft_log_reset(hs_raft_log *l, uint64_t index, uint64_t term);
/* First index of the run of entries with the given term that ends at `at` (term(at) == term). */
uint64_t hs_raft_log_term_start(const hs_raft_log *l, uint64_t at);
/* Largest index <= hi (within the log) whose term is <= term; snap_index if none. */
uint64_t hs_raft_log_last_at_most(const hs_raft_log *l, uint64_t hi, uint64_t term);

/* ---- Replication progress of one member (kept on every node, used by the leader) -------- */

enum { HS_RAFT_PR_PROBE = 0, HS_RAFT_PR_REPLICATE, HS_RAFT_PR_SNAPSHOT };

typedef struct hs_raft_peer {
  uint32_t id;
  bool voter;
  uint8_t mode;       /* HS_RAFT_PR_* */
  bool probe_sent;    /* PROBE: an AppendEntries is outstanding; wait for its answer or a heartbeat */
  bool recent_active; /* heard from in this check-quorum period */
  bool vote_responded, vote_granted;
  uint64_t match, next;
  uint64_t pending_snapshot; /* SNAPSHOT: the index sent */
  hs_time_ns snapshot_sent_ns;
  uint64_t read_ack; /* highest read round (heartbeat context) acknowledged this term */
  /* REPLICATE: unacknowledged AppendEntries, a ring of (last index, send time) */
  uint64_t *infl_last;
  hs_time_ns *infl_sent;
  uint32_t infl_head, infl_count;
} hs_raft_peer;

/* ---- Pending requests ---------------------------------------------------------------------- */

typedef struct hs_raft_prop {
  uint64_t index, term, tag;
} hs_raft_prop;

typedef struct hs_raft_read {
  uint64_t request_id;
  uint64_t seq;   /* the heartbeat round that confirms it */
  uint64_t index; /* 0 until an entry of the leader's term is committed */
  bool confirmed;
} hs_raft_read;

/* ---- The node ------------------------------------------------------------------------------ */

struct hs_raft {
  /* configuration (copied) */
  uint32_t id;
  hs_time_ns et_min, et_max, hb_interval;
  bool pre_vote, check_quorum, drop_on_step_down;
  uint32_t max_msg_entries, max_msg_bytes, max_inflight;
  uint64_t snapshot_threshold;
  hs_raft_callbacks cb;
  void *ud;
  hs_rng rng;

  /* durable */
  uint64_t term;
  uint32_t vote;
  hs_raft_log log;
  uint8_t *snap_data;
  size_t snap_len, snap_cap;
  hs_raft_conf snap_conf; /* the configuration at log.snap_index (bootstrap at 0) */

  /* volatile */
  bool started, crashed;
  hs_raft_role role;
  uint32_t leader;
  uint64_t commit, applied;
  hs_time_ns now;
  hs_time_ns election_at, heartbeat_at;
  hs_time_ns leader_contact_ns; /* last AppendEntries/heartbeat/snapshot from the leader */
  hs_raft_conf conf;            /* in effect: the latest in the log */
  uint64_t conf_index;          /* index of the entry that set conf, 0: snap_conf */
  hs_raft_peer *peers;          /* one per member of conf (self included), by id */
  uint32_t n_peers;
  uint64_t read_seq;

  /* a leadership transfer started here (transfer_to != HS_RAFT_NONE): refuse proposals while
   * leader; TimeoutNow sent once the target's log matches (again at most once per heartbeat
   * interval, in case it was lost); ends as transfer_done says */
  uint32_t transfer_to;
  hs_time_ns transfer_sent_ns; /* INT64_MIN: not sent yet */
  uint64_t transfer_tag, transfer_term;
  hs_time_ns transfer_deadline;

  hs_raft_prop *props; /* proposals accepted here and not resolved, by index */
  size_t props_head, props_len, props_cap;
  hs_raft_read *reads;
  size_t reads_head, reads_len, reads_cap;

  hs_raft_entry *scratch; /* max_msg_entries views for outgoing AppendEntries */
  uint64_t *match_scratch;
  uint8_t conf_buf[8 + 8 * HS_RAFT_MAX_NODES];

  hs_raft_stats stats;
};

/* hs_raft.c */
void hs_raft_send(hs_raft *r, hs_raft_msg *m);
void hs_raft_persist_state(hs_raft *r);
void hs_raft_arm_election(hs_raft *r);
void hs_raft_set_deadline(hs_raft *r, hs_raft_timer kind, hs_time_ns at);
void hs_raft_become_follower(hs_raft *r, uint64_t term, uint32_t leader);
void hs_raft_become_leader(hs_raft *r);
void hs_raft_notify_role(hs_raft *r, hs_raft_role prev_role, uint64_t prev_term, uint32_t prev_leader);
uint64_t hs_raft_last_term(const hs_raft *r);
/* A leadership transfer in progress: send TimeoutNow to p if it is the target and up to date. */
void hs_raft_transfer_progress(hs_raft *r, const hs_raft_peer *p);

/* hs_raft_elect.c */
/* pre: a pre-vote round; transfer: asked by the leader (TimeoutNow), no pre-vote */
void hs_raft_elect_start(hs_raft *r, bool pre, bool transfer);
void hs_raft_elect_on_vote(hs_raft *r, const hs_raft_msg *m);
void hs_raft_elect_on_vote_resp(hs_raft *r, const hs_raft_msg *m);

/* hs_raft_repl.c */
void hs_raft_repl_reset_progress(hs_raft *r, hs_raft_peer *p);
void hs_raft_repl_send_append(hs_raft *r, hs_raft_peer *p, bool allow_empty);
void hs_raft_repl_bcast_append(hs_raft *r, bool allow_empty);
void hs_raft_repl_bcast_heartbeat(hs_raft *r);
int hs_raft_repl_append_local(hs_raft *r, hs_raft_entry_type type, const void *data, size_t len, uint64_t *index);
void hs_raft_repl_maybe_commit(hs_raft *r);
void hs_raft_repl_on_append(hs_raft *r, const hs_raft_msg *m);
void hs_raft_repl_on_heartbeat(hs_raft *r, const hs_raft_msg *m);
void hs_raft_repl_on_snapshot(hs_raft *r, const hs_raft_msg *m);
void hs_raft_repl_on_append_resp(hs_raft *r, const hs_raft_msg *m);
void hs_raft_repl_on_heartbeat_resp(hs_raft *r, const hs_raft_msg *m);
int hs_raft_repl_track(hs_raft *r, uint64_t index, uint64_t tag);
void hs_raft_repl_lose_props(hs_raft *r, uint64_t from_index, int reason);
void hs_raft_repl_free_inflight(hs_raft_peer *p);

/* hs_raft_read.c */
void hs_raft_read_process(hs_raft *r);
void hs_raft_read_on_commit(hs_raft *r);
void hs_raft_read_on_ack(hs_raft *r);
void hs_raft_read_fail_all(hs_raft *r, int status);

/* hs_raft_conf.c */
uint32_t hs_raft_quorum(const hs_raft *r);
bool hs_raft_is_voter(const hs_raft *r);
hs_raft_peer *hs_raft_peer_find(hs_raft *r, uint32_t id);
int hs_raft_conf_set(hs_raft *r, const hs_raft_conf *c, uint64_t index);
int hs_raft_conf_recompute(hs_raft *r);
void hs_raft_conf_at(const hs_raft *r, uint64_t index, hs_raft_conf *out);
void hs_raft_conf_free_peers(hs_raft *r);

#endif
