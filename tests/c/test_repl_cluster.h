/*
 * test_repl_cluster.h - clusters of primary-backup or chain nodes with their configuration
 * master on the harness network (test_repl_harness.h), and the record of client writes and
 * reads their tests share. The master is node RC_MASTER; nodes are 1..n.
 */
#ifndef TEST_REPL_CLUSTER_H
#define TEST_REPL_CLUSTER_H

#include "test_repl_harness.h"

#include "repl/hs_repl_master.h"

#define RC_MASTER 9
#define RC_MAX_OPS 20000

/* How each client request (by tag) ended. */
typedef struct rc_op {
  int calls;
  int status;
  uint64_t seq;
  int64_t value; /* reads: the value read (-1: none) */
  hs_time_ns done_at;
} rc_op;

static rc_op RC_OPS[RC_MAX_OPS];
/* Planted: masters built by rc_master promote the first synced backup, not the freshest. */
static bool RC_FIRST_SYNCED;
static hs_time_ns *RC_NOW; /* the network's clock, for completion times */

static void rc_reset_ops(rnet *net) {
  memset(RC_OPS, 0, sizeof RC_OPS);
  RC_NOW = &net->now;
}

static void rc_done(uint64_t tag, int status, uint64_t seq, int64_t value) {
  if (tag >= RC_MAX_OPS) return;
  rc_op *o = &RC_OPS[tag];
  o->calls++;
  o->status = status;
  o->seq = seq;
  o->value = value;
  o->done_at = RC_NOW ? *RC_NOW : 0;
}

static int master_step(void *c, const hs_repl_msg *m, hs_time_ns now) { return hs_repl_master_step(c, m, now); }
static int master_tick(void *c, hs_time_ns now) { return hs_repl_master_tick(c, now); }
static hs_time_ns master_deadline(const void *c) { return hs_repl_master_next_deadline(c); }

static hs_repl_master *rc_master(rnet *net, uint32_t n, hs_time_ns lease, hs_time_ns failure,
                                 void (*config_changed)(void *, uint64_t, const uint32_t *, uint32_t)) {
  uint32_t ids[RN_MAX];
  for (uint32_t i = 0; i < n; i++) ids[i] = i + 1;
  hs_repl_master_config mc;
  hs_repl_master_config_init(&mc);
  mc.id = RC_MASTER;
  mc.members = ids;
  mc.n_members = n;
  if (lease) mc.lease_ns = lease;
  if (failure) mc.failure_timeout_ns = failure;
  mc.promote_freshest = !RC_FIRST_SYNCED;
  mc.cb.send = rn_send;
  mc.cb.config_changed = config_changed;
  mc.ud = rn_node(net, RC_MASTER);
  hs_repl_master *m;
  assert_int_equal(HS_OK, hs_repl_master_new(&mc, &m));
  rn_add(net, RC_MASTER, m, master_step, master_tick, master_deadline);
  return m;
}

#endif
