/*
 * test_repl_cluster.h - clusters of primary-backup or chain nodes with their configuration
 * master on the harness network (test_repl_harness.h), and the record of client writes and
 * reads their tests share. The master is node RC_MASTER; nodes are 1..n. For the random
 * worlds: which write was seen committed at each position, and which nodes are in touch
 * with the master.
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

/* Which write (by tag) was seen committed at each position (a log or chain sequence number). */
typedef struct rc_seen {
  uint64_t *at;
  size_t cap;
} rc_seen;

/* Records write `tag` seen committed at `pos`; another write seen there before is a violation
 * (`where` names the positions in its message). */
static void rc_seen_commit(rnet *net, rc_seen *s, const char *where, uint64_t pos, uint64_t tag) {
  if (pos >= s->cap) {
    size_t cap = s->cap ? s->cap : 256;
    while (cap <= pos) cap *= 2;
    s->at = realloc(s->at, cap * sizeof *s->at);
    memset(s->at + s->cap, 0, (cap - s->cap) * sizeof *s->at);
    s->cap = cap;
  }
  if (s->at[pos] && s->at[pos] != tag)
    rn_violation(net, "writes %llu and %llu both seen committed at %s %llu", (unsigned long long)s->at[pos],
                 (unsigned long long)tag, where, (unsigned long long)pos);
  s->at[pos] = tag;
}

/* Notes, after the links changed, since when each node 1..n and the master are not cut apart
 * (HS_TIME_NEVER: cut now). */
static void rc_note_links(rnet *net, hs_time_ns *link_since, uint32_t n) {
  for (uint32_t i = 1; i <= n; i++) {
    bool cut = net->cut[i][RC_MASTER] || net->cut[RC_MASTER][i];
    if (cut) link_since[i] = HS_TIME_NEVER;
    else if (link_since[i] == HS_TIME_NEVER) link_since[i] = net->now;
  }
}

/* Node id has been in touch with the master for a while (400 ms). */
static bool rc_in_touch(const rnet *net, const hs_time_ns *link_since, uint32_t id) {
  return link_since[id] != HS_TIME_NEVER && net->now - link_since[id] >= 400 * MS;
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
