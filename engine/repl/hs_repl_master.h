/*
 * hs_repl_master.h - the configuration master of primary-backup and chain replication: the
 * one authority that decides who is a member, in which order (the primary, or the head,
 * first), under which epoch (the view number), and grants leases.
 *
 * As in van Renesse & Schneider's chain replication, the master is assumed not to fail (the
 * paper replicates it with Paxos); it may be cut off from nodes by partitions. Nodes ping it
 * every ping interval; each answer is a CONFIG message with the current epoch and members,
 * and, to a member, a lease: "serve until t" (absolute simulated time, so this assumes the
 * nodes' clocks agree with the simulation's).
 *
 * RULES.
 *   - A member silent for failure_timeout is suspected; it is removed once every lease the
 *     master granted it has expired, so a removed node that is alive but cut off has stopped
 *     serving before its successor starts (safety does not rest on failure detection).
 *   - Removals never leave the configuration without a synced member (one holding the data).
 *   - A node that pings while not a member (it was removed and is reachable again, or it is
 *     new) is appended at the end with a new join epoch: it drops its data and is brought up
 *     to date by a state transfer from its predecessor (chain) or the primary; once it
 *     reports that it holds the data it is synced.
 *   - A member that pings with a larger boot count than when it joined restarted and lost
 *     its data: it is removed and appended again the same way.
 *   - The first member (primary, head) is always synced: when a change would put an unsynced
 *     node first, the first synced member is moved to the front.
 *   - Except for primary-backup (its nodes' pings carry their log's last position, flag LOG)
 *     with promote_freshest: when the primary is removed or restarted, the new primary is the
 *     synced member whose log ends highest (view tag, then seq; the earlier member on a tie).
 *     The master first waits for a report from every synced member that is not itself due
 *     for removal, sent after the old primary stopped acknowledging writes: after its last
 *     lease expired (a primary acknowledges only under its lease), or after the master heard
 *     of its restart. A write acknowledged by the old primary is then on the freshest log
 *     whenever one of the backups that held it is still a synced member (as Raft's election
 *     restriction, with the master as the only voter). An operator's remove() does not wait.
 * Every change bumps the epoch and is pushed to every node that was or is a member.
 */
#ifndef HS_REPL_MASTER_H
#define HS_REPL_MASTER_H

#include "repl/hs_repl.h"

typedef struct hs_repl_master_callbacks {
  void (*send)(void *ud, const hs_repl_msg *m); /* required */
  void (*set_timer)(void *ud, hs_time_ns at_ns); /* the next removal check; HS_TIME_NEVER: none */
  /* The configuration changed (for traces). members point into the master: valid during the call. */
  void (*config_changed)(void *ud, uint64_t epoch, const uint32_t *members, uint32_t n);
} hs_repl_master_callbacks;

typedef struct hs_repl_master_config {
  uint32_t id;
  const uint32_t *members; /* the bootstrap configuration, in order (copied) */
  uint32_t n_members;
  hs_time_ns lease_ns;           /* default 0.5 s */
  hs_time_ns failure_timeout_ns; /* default 1 s; at least lease_ns */
  bool auto_rejoin;              /* default true: a non-member that pings is appended */
  bool promote_freshest;         /* default true: see RULES (false: the first synced member) */
  hs_repl_master_callbacks cb;
  void *ud;
} hs_repl_master_config;

typedef struct hs_repl_master_stats {
  uint64_t epoch;
  uint64_t reconfigurations;
  uint64_t removals;
  uint64_t joins;
  uint64_t pings;
  uint64_t stale_pings; /* from an earlier incarnation of a node: ignored */
  uint64_t malformed;
  uint64_t copies_lost; /* the last synced member restarted empty: the data is gone, and the
                           configuration serves nothing until it is rebuilt */
  uint64_t failovers_freshest; /* primaries chosen by their log's position (see RULES) */
  uint32_t members;
} hs_repl_master_stats;

typedef struct hs_repl_master hs_repl_master;

void hs_repl_master_config_init(hs_repl_master_config *cfg);
/* HS_OK, HS_EINVAL (id 0, no send, no members, duplicates, the master among them, bad
 * times), HS_ENOMEM. */
int hs_repl_master_new(const hs_repl_master_config *cfg, hs_repl_master **out);
void hs_repl_master_free(hs_repl_master *m);
/* Pushes the bootstrap configuration (epoch 1, no lease yet) to every member. */
int hs_repl_master_start(hs_repl_master *m, hs_time_ns now);
/* A PING: HS_OK (answered with a CONFIG), HS_EINVAL (not a ping, not for this master). */
int hs_repl_master_step(hs_repl_master *m, const hs_repl_msg *msg, hs_time_ns now);
/* Removes the members that are due. */
int hs_repl_master_tick(hs_repl_master *m, hs_time_ns now);
hs_time_ns hs_repl_master_next_deadline(const hs_repl_master *m);
/* Removes `node` now (an operator's decision: no lease wait). HS_EINVAL if not a member, or
 * the last synced one. */
int hs_repl_master_remove(hs_repl_master *m, uint32_t node, hs_time_ns now);

uint64_t hs_repl_master_epoch(const hs_repl_master *m);
/* The members in order (valid until the next call that changes the master). */
const uint32_t *hs_repl_master_members(const hs_repl_master *m, uint32_t *n);
bool hs_repl_master_synced(const hs_repl_master *m, uint32_t node);
void hs_repl_master_get_stats(const hs_repl_master *m, hs_repl_master_stats *out);

#endif
