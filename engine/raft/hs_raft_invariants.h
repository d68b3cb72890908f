/*
 * hs_raft_invariants.h - Raft's safety properties (Figure 3 of the paper), checked while a
 * cluster runs.
 *
 * It observes protocol cores (hs_raft.h), whatever drives them: the simulator adapter
 * (hs_raft_node.c, and through it hs.RaftChecker in Lua) and the C tests' randomized world
 * (tests/c/test_raft_world.h) feed it the same two events from the core's callbacks,
 * role_changed and apply, and it reads the logs through the core's read-only getters, so it
 * may run inside those callbacks. The properties:
 *   election safety      at most one leader per term (on each election);
 *   state machine safety no two nodes apply different entries at one index (on each apply);
 *   leader completeness  a leader holds every entry committed before its term (for a new
 *                        leader on its election; for every live leader in the checks below);
 *   log matching         two logs with an entry of the same index and term hold the same
 *                        entries up to it (in the checks below, and on each election);
 *   bounds               applied <= commit <= last index on every live node (checks below).
 * A violation is a message that starts with the property's name ("election safety: ...").
 * The first one is kept, with its time, and reported through on_violation; later ones are
 * counted as checks only.
 */
#ifndef HS_RAFT_INVARIANTS_H
#define HS_RAFT_INVARIANTS_H

#include "raft/hs_raft.h"

typedef struct hs_raft_invariants {
  uint64_t *leader_of_term; /* term -> leader id (0: none seen) */
  uint64_t terms_cap;
  struct hs_raft_committed *committed; /* index -> what was first applied there */
  uint64_t committed_cap;
  struct hs_raft_watched *nodes; /* the cores watched, with their names */
  uint32_t node_count, node_cap;
  char violation[256];
  hs_time_ns violation_ns;
  bool violated;
  uint64_t checks; /* how many checks ran */
  void (*on_violation)(void *ud, const char *message);
  void *ud;
} hs_raft_invariants;

void hs_raft_invariants_init(hs_raft_invariants *inv);
void hs_raft_invariants_free(hs_raft_invariants *inv);
/* Watches a core; name (kept by pointer: it must outlive the watch) names it in messages.
 * HS_OK or HS_ENOMEM. */
int hs_raft_invariants_watch(hs_raft_invariants *inv, const hs_raft *r, const char *name);

/* The core's callbacks, forwarded: call from role_changed and from apply (with the time). */
void hs_raft_invariants_on_role(hs_raft_invariants *inv, const hs_raft *r, const hs_raft_role_event *ev);
void hs_raft_invariants_on_apply(hs_raft_invariants *inv, const hs_raft *r, const hs_raft_entry *e, hs_time_ns now);

/* What an event at r may have broken: r's bounds, log matching between r and every other
 * core, leader completeness of every live leader. False on a violation (now or earlier). */
bool hs_raft_invariants_check_node(hs_raft_invariants *inv, const hs_raft *r, hs_time_ns now);
/* The same for the whole cluster: every node's bounds, every pair's logs, every leader. */
bool hs_raft_invariants_check_all(hs_raft_invariants *inv, hs_time_ns now);

#endif
