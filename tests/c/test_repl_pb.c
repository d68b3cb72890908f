/*
 * test_repl_pb.c - primary-backup replication (engine/repl/hs_pb.h) and its configuration
 * master, as exact interleavings: a sync write is not acknowledged until every backup holds
 * it; semi-sync after k; async at once; a lost acknowledgement is retried; a write that
 * cannot commit fails with a timeout instead of hanging; a stale view's writes are refused;
 * duplicated and reordered messages are harmless; failover keeps every acknowledged write and
 * serves reads only once the new primary committed its log; async failover counts the writes
 * it knows were lost; a restarted node comes back through a state transfer; semi-sync counts
 * a joiner's acknowledgement only once the master says it is synced; forged messages are
 * refused.
 */
#include "test_repl_cluster.h"

#include "repl/hs_pb.h"

static int pb_step(void *c, const hs_repl_msg *m, hs_time_ns now) { return hs_pb_step(c, m, now); }
static int pb_tick(void *c, hs_time_ns now) { return hs_pb_tick(c, now); }
static hs_time_ns pb_deadline(const void *c) { return hs_pb_next_deadline(c); }

static void on_write_done(void *ud, uint64_t tag, int status, uint64_t seq) {
  (void)ud;
  rc_done(tag, status, seq, -1);
}

typedef struct pbc {
  rnet net;
  hs_repl_master *m;
  hs_pb *n[RN_MAX + 1];
  uint32_t count;
} pbc;

static hs_pb *pb_node(pbc *c, uint32_t id, hs_pb_mode mode) {
  hs_pb_config cfg;
  hs_pb_config_init(&cfg);
  cfg.id = id;
  cfg.master = RC_MASTER;
  cfg.mode = mode;
  cfg.cb.send = rn_send;
  cfg.cb.write_done = on_write_done;
  cfg.ud = rn_node(&c->net, id);
  hs_pb *pb;
  assert_rc(hs_pb_new(&cfg, &pb), HS_OK);
  rn_add(&c->net, id, pb, pb_step, pb_tick, pb_deadline);
  return pb;
}

/* n nodes and the master, started, configurations and leases delivered. */
static void pbc_init(pbc *c, uint32_t n, hs_pb_mode mode) {
  memset(c, 0, sizeof *c);
  rn_init(&c->net, false, 1);
  rc_reset_ops(&c->net);
  c->count = n;
  c->m = rc_master(&c->net, n, 0, 0, NULL);
  for (uint32_t i = 1; i <= n; i++) c->n[i] = pb_node(c, i, mode);
  assert_rc(hs_repl_master_start(c->m, c->net.now), HS_OK);
  for (uint32_t i = 1; i <= n; i++) assert_rc(hs_pb_start(c->n[i], c->net.now), HS_OK);
  rn_flush(&c->net, 0, 0, -1, 1000);
  for (uint32_t i = 1; i <= n; i++) assert_int_equal(hs_pb_view(c->n[i]), 1);
  assert_int_equal(hs_pb_role_of(c->n[1]), HS_PB_PRIMARY);
}

static void pbc_free(pbc *c) {
  for (uint32_t i = 1; i <= c->count; i++) hs_pb_free(c->n[i]);
  hs_repl_master_free(c->m);
  rn_free(&c->net);
}

static int put(pbc *c, uint32_t id, uint64_t tag, const char *key, int64_t v) {
  rval x = rv_int(v);
  return hs_pb_write(c->n[id], c->net.now, key, strlen(key), x.b, sizeof x.b, tag);
}

static int64_t get(pbc *c, uint32_t id, const char *key, int *rc) {
  hs_value v;
  *rc = hs_pb_read(c->n[id], c->net.now, key, strlen(key), &v);
  return v.len ? rv_get(v.p, v.len) : -1;
}

static hs_pb_stats stats(hs_pb *pb) {
  hs_pb_stats s;
  hs_pb_get_stats(pb, &s);
  return s;
}

/* Sync: the write is acknowledged only when the last backup's acknowledgement arrives. */
static void test_sync_waits_for_every_backup(void **s) {
  (void)s;
  pbc c;
  pbc_init(&c, 3, HS_PB_SYNC);
  uint64_t acks = stats(c.n[1]).acks_received; /* the probes of view 1 */
  assert_rc(put(&c, 1, 1, "x", 10), HS_OK);
  assert_int_equal(RC_OPS[1].calls, 0);
  assert_true(rn_deliver_one(&c.net, 1, 2, HS_REPL_MSG_PB_REPLICATE));
  assert_true(rn_deliver_one(&c.net, 2, 1, HS_REPL_MSG_PB_ACK));
  assert_int_equal(RC_OPS[1].calls, 0); /* backup 3 does not hold it yet */
  int rc;
  assert_int_equal(get(&c, 1, "x", &rc), -1); /* the primary serves only committed writes */
  assert_rc(rc, HS_OK);
  assert_true(rn_deliver_one(&c.net, 1, 3, HS_REPL_MSG_PB_REPLICATE));
  assert_true(rn_deliver_one(&c.net, 3, 1, HS_REPL_MSG_PB_ACK));
  assert_int_equal(RC_OPS[1].calls, 1);
  assert_rc(RC_OPS[1].status, HS_OK);
  assert_u64(RC_OPS[1].seq, 1);
  assert_int_equal(get(&c, 1, "x", &rc), 10);
  assert_u64(stats(c.n[1]).acks_received - acks, 2);
  pbc_free(&c);
}

/* Semi-sync with k = 1: the first backup's acknowledgement is enough; async: at once. */
static void test_semi_sync_and_async(void **s) {
  (void)s;
  pbc c;
  pbc_init(&c, 3, HS_PB_SEMI_SYNC);
  assert_rc(put(&c, 1, 1, "x", 10), HS_OK);
  assert_true(rn_deliver_one(&c.net, 1, 3, HS_REPL_MSG_PB_REPLICATE));
  assert_int_equal(RC_OPS[1].calls, 0);
  assert_true(rn_deliver_one(&c.net, 3, 1, HS_REPL_MSG_PB_ACK));
  assert_int_equal(RC_OPS[1].calls, 1);
  assert_rc(RC_OPS[1].status, HS_OK);
  pbc_free(&c);

  pbc_init(&c, 3, HS_PB_ASYNC);
  assert_rc(put(&c, 1, 1, "x", 10), HS_OK);
  assert_int_equal(RC_OPS[1].calls, 1); /* before anything reached a backup */
  assert_u64(rn_count(&c.net, 1, 0, HS_REPL_MSG_PB_REPLICATE), 2);
  rn_flush(&c.net, 0, 0, -1, 100);
  int rc;
  assert_int_equal(get(&c, 2, "x", &rc), 10); /* a backup serves (possibly stale) reads */
  uint32_t b;
  uint64_t lag;
  assert_rc(hs_pb_backup_lag(c.n[1], 0, &b, &lag), HS_OK);
  assert_int_equal(b, 2);
  assert_u64(lag, 0);
  pbc_free(&c);
}

/* A lost acknowledgement: the primary resends after the retry interval, the backup answers
 * again without applying twice, and the write commits. A duplicate is harmless. */
static void test_lost_ack_is_retried(void **s) {
  (void)s;
  pbc c;
  pbc_init(&c, 2, HS_PB_SYNC);
  assert_rc(put(&c, 1, 1, "x", 10), HS_OK);
  hs_repl_msg m;
  assert_true(rn_peek(&c.net, 1, 2, HS_REPL_MSG_PB_REPLICATE, &m));
  size_t len = hs_repl_msg_encoded_size(&m);
  uint8_t *copy = malloc(len);
  hs_repl_msg_encode(&m, copy, len);
  assert_true(rn_deliver_one(&c.net, 1, 2, HS_REPL_MSG_PB_REPLICATE));
  assert_true(rn_drop_one(&c.net, 2, 1, HS_REPL_MSG_PB_ACK));
  assert_u64(stats(c.n[2]).replications_applied, 1);
  rn_advance(&c.net, c.net.now + 60 * MS); /* the retry (and pings) */
  assert_true(rn_count(&c.net, 1, 2, HS_REPL_MSG_PB_REPLICATE) >= 1);
  rn_flush(&c.net, 0, 0, -1, 100);
  assert_int_equal(RC_OPS[1].calls, 1);
  assert_rc(RC_OPS[1].status, HS_OK);
  assert_u64(stats(c.n[2]).replications_applied, 1);
  hs_repl_msg dup;
  assert_rc(hs_repl_msg_decode(&dup, copy, len, &c.net.dec), HS_OK);
  assert_rc(hs_pb_step(c.n[2], &dup, c.net.now), HS_OK); /* the duplicate, late */
  assert_u64(stats(c.n[2]).replications_applied, 1);
  rn_flush(&c.net, 0, 0, -1, 100);
  assert_int_equal(RC_OPS[1].calls, 1);
  free(copy);
  pbc_free(&c);
}

/* A backup that never answers: the sync write fails with a timeout at write_timeout. */
static void test_write_times_out_instead_of_hanging(void **s) {
  (void)s;
  pbc c;
  pbc_init(&c, 3, HS_PB_SYNC);
  rn_node(&c.net, 3)->down = true;
  assert_rc(put(&c, 1, 1, "x", 10), HS_OK);
  for (int i = 0; i < 30 && !RC_OPS[1].calls; i++) {
    rn_advance(&c.net, c.net.now + 50 * MS);
    rn_flush(&c.net, 0, 0, -1, 1000);
  }
  assert_int_equal(RC_OPS[1].calls, 1);
  assert_rc(RC_OPS[1].status, HS_REPL_ETIMEOUT);
  assert_true(RC_OPS[1].done_at >= 1000 * MS);
  pbc_free(&c);
}

/* Entries arriving in reverse order and twice: the backup takes them in sequence. */
static void test_reordering_and_duplicates_are_harmless(void **s) {
  (void)s;
  pbc c;
  pbc_init(&c, 2, HS_PB_SYNC);
  for (uint64_t t = 1; t <= 5; t++) assert_rc(put(&c, 1, t, "x", (int64_t)t), HS_OK);
  /* deliver the five REPLICATEs last first */
  while (rn_count(&c.net, 1, 2, HS_REPL_MSG_PB_REPLICATE)) {
    long last = -1;
    for (size_t i = 0; i < c.net.q.len; i++)
      if (c.net.q.m[i].from == 1 && c.net.q.m[i].type == HS_REPL_MSG_PB_REPLICATE) last = (long)i;
    rmsg r = rn_remove(&c.net, (size_t)last);
    rn_deliver(&c.net, &r);
  }
  rn_flush(&c.net, 0, 0, -1, 200);
  for (int i = 0; i < 5; i++) {
    rn_advance(&c.net, c.net.now + 60 * MS);
    rn_flush(&c.net, 0, 0, -1, 200);
  }
  for (uint64_t t = 1; t <= 5; t++) {
    assert_int_equal(RC_OPS[t].calls, 1);
    assert_rc(RC_OPS[t].status, HS_OK);
    assert_u64(RC_OPS[t].seq, t);
  }
  int rc;
  assert_int_equal(get(&c, 2, "x", &rc), 5);
  assert_u64(stats(c.n[2]).replications_applied, 5);
  pbc_free(&c);
}

/* The master deposes primary 1 (view 2: primary 2) while 1 has not heard of it. 1's write
 * goes out tagged with view 1: both backups refuse it as stale, it never commits, and it
 * fails when 1 learns the new view; the new primary serves the old committed state. */
static void test_stale_view_write_refused(void **s) {
  (void)s;
  pbc c;
  pbc_init(&c, 3, HS_PB_SYNC);
  assert_rc(put(&c, 1, 1, "x", 1), HS_OK);
  rn_flush(&c.net, 0, 0, -1, 100);
  assert_rc(RC_OPS[1].status, HS_OK);
  assert_rc(hs_repl_master_remove(c.m, 1, c.net.now), HS_OK);
  assert_true(rn_deliver_one(&c.net, RC_MASTER, 2, HS_REPL_MSG_CONFIG));
  assert_true(rn_deliver_one(&c.net, RC_MASTER, 3, HS_REPL_MSG_CONFIG));
  assert_int_equal(hs_pb_role_of(c.n[2]), HS_PB_PRIMARY);
  assert_int_equal(hs_pb_view(c.n[1]), 1);
  assert_rc(put(&c, 1, 2, "x", 2), HS_OK); /* 1 still believes it leads view 1 */
  rn_flush(&c.net, 1, 0, HS_REPL_MSG_PB_REPLICATE, 10);
  assert_u64(stats(c.n[2]).stale_refused + stats(c.n[3]).stale_refused, 2);
  rn_flush(&c.net, 0, 1, HS_REPL_MSG_PB_ACK, 10);
  assert_int_equal(RC_OPS[2].calls, 0); /* not committed */
  rn_flush(&c.net, 0, 0, -1, 1000);     /* the new view reaches 1 (and 2's probes finish) */
  assert_int_equal(RC_OPS[2].calls, 1);
  assert_rc(RC_OPS[2].status, HS_REPL_ECONFIG);
  assert_int_equal(hs_pb_role_of(c.n[1]), HS_PB_NONE);
  int rc;
  assert_int_equal(get(&c, 1, "x", &rc), -1);
  assert_rc(rc, HS_REPL_EUNAVAILABLE);
  assert_rc(put(&c, 1, 3, "x", 3), HS_REPL_EUNAVAILABLE);
  assert_int_equal(get(&c, 2, "x", &rc), 1);
  assert_rc(rc, HS_OK);
  assert_rc(put(&c, 3, 4, "x", 4), HS_REPL_ENOTPRIMARY);
  assert_int_equal(hs_pb_primary(c.n[3]), 2);
  pbc_free(&c);
}

/* The primary crashes: the master removes it once its lease expired, the first backup leads
 * view 2, serves reads once its log is committed there, and holds every acknowledged write. */
static void test_failover_keeps_acknowledged_writes(void **s) {
  (void)s;
  pbc c;
  pbc_init(&c, 3, HS_PB_SYNC);
  for (uint64_t t = 1; t <= 3; t++) assert_rc(put(&c, 1, t, "k", (int64_t)t), HS_OK);
  rn_flush(&c.net, 0, 0, -1, 200);
  for (uint64_t t = 1; t <= 3; t++) assert_rc(RC_OPS[t].status, HS_OK);
  assert_rc(put(&c, 1, 4, "k", 4), HS_OK);
  rn_flush(&c.net, 1, 2, HS_REPL_MSG_PB_REPLICATE, 1); /* only backup 2 gets write 4 */
  hs_pb_crash(c.n[1]);
  rn_node(&c.net, 1)->down = true;
  assert_int_equal(RC_OPS[4].calls, 1);
  assert_rc(RC_OPS[4].status, HS_REPL_ECRASHED);
  int rc;
  for (int i = 0; i < 40 && hs_pb_view(c.n[2]) < 2; i++) {
    rn_advance(&c.net, c.net.now + 50 * MS);
    rn_flush(&c.net, 0, 0, -1, 1000);
    if (hs_pb_view(c.n[2]) < 2) { /* the old lease protects the old primary until it expires */
      assert_int_equal(hs_pb_role_of(c.n[2]), HS_PB_BACKUP);
    }
  }
  assert_int_equal(hs_pb_role_of(c.n[2]), HS_PB_PRIMARY);
  assert_int_equal(hs_pb_view(c.n[3]), 2);

  assert_int_equal(get(&c, 2, "k", &rc), 4); /* write 4 reached 2: committed again in view 2 */
  assert_rc(rc, HS_OK);
  rn_advance(&c.net, c.net.now + 60 * MS); /* backup 3 learns the commit point */
  rn_flush(&c.net, 0, 0, -1, 100);
  assert_int_equal(get(&c, 3, "k", &rc), 4);
  assert_rc(put(&c, 2, 5, "k", 5), HS_OK);
  rn_flush(&c.net, 0, 0, -1, 200);
  assert_rc(RC_OPS[5].status, HS_OK);
  assert_u64(RC_OPS[5].seq, 5);
  pbc_free(&c);
}

/* A new primary does not serve reads before the log it took over is committed in its view. */
static void test_new_primary_not_ready_until_committed(void **s) {
  (void)s;
  pbc c;
  pbc_init(&c, 3, HS_PB_SYNC);
  assert_rc(put(&c, 1, 1, "k", 1), HS_OK);
  rn_flush(&c.net, 0, 0, -1, 200);
  assert_rc(put(&c, 1, 2, "k", 2), HS_OK);
  rn_flush(&c.net, 1, 2, HS_REPL_MSG_PB_REPLICATE, 1);
  rn_flush(&c.net, 1, 3, HS_REPL_MSG_PB_REPLICATE, 1);
  rn_clear(&c.net); /* the acknowledgements are lost: 1 acknowledged nothing; both hold write 2 */
  assert_rc(hs_repl_master_remove(c.m, 1, c.net.now), HS_OK);
  assert_true(rn_deliver_one(&c.net, RC_MASTER, 2, HS_REPL_MSG_CONFIG));
  int rc;
  get(&c, 2, "k", &rc);
  assert_rc(rc, HS_REPL_ENOTREADY);
  rn_flush(&c.net, 0, 0, -1, 200);
  assert_int_equal(get(&c, 2, "k", &rc), 2);
  assert_rc(rc, HS_OK);
  pbc_free(&c);
}

/* Async: writes 1-5 acknowledged at once; the backups get writes 1-2, then the primary's
 * message for write 5 (commit point 5) but not 3-4; the primary crashes. The new primary
 * counts the 3 writes it knows were acknowledged and that it never received. */
static void test_async_failover_counts_lost_writes(void **s) {
  (void)s;
  pbc c;
  pbc_init(&c, 3, HS_PB_ASYNC);
  for (uint64_t t = 1; t <= 5; t++) {
    assert_rc(put(&c, 1, t, "k", (int64_t)t), HS_OK);
    assert_rc(RC_OPS[t].status, HS_OK);
  }
  for (uint32_t b = 2; b <= 3; b++) {
    rn_flush(&c.net, 1, b, HS_REPL_MSG_PB_REPLICATE, 2);
    rn_drop_one(&c.net, 1, b, HS_REPL_MSG_PB_REPLICATE);
    rn_drop_one(&c.net, 1, b, HS_REPL_MSG_PB_REPLICATE);
    rn_flush(&c.net, 1, b, HS_REPL_MSG_PB_REPLICATE, 1);
  }
  rn_clear(&c.net);
  hs_pb_crash(c.n[1]);
  rn_node(&c.net, 1)->down = true;
  for (int i = 0; i < 40 && hs_pb_role_of(c.n[2]) != HS_PB_PRIMARY; i++) {
    rn_advance(&c.net, c.net.now + 50 * MS);
    rn_flush(&c.net, 0, 0, -1, 1000);
  }
  assert_int_equal(hs_pb_role_of(c.n[2]), HS_PB_PRIMARY);
  assert_u64(stats(c.n[2]).writes_lost, 3);
  int rc;
  assert_int_equal(get(&c, 2, "k", &rc), 2);
  pbc_free(&c);
}

/* Crashes node id, a backup, and runs until the master removed it (once its lease expired). */
static void crash_until_removed(pbc *c, uint32_t id) {
  uint64_t epoch = hs_repl_master_epoch(c->m);
  hs_pb_crash(c->n[id]);
  rn_node(&c->net, id)->down = true;
  for (int i = 0; i < 40 && hs_repl_master_epoch(c->m) == epoch; i++) {
    rn_advance(&c->net, c->net.now + 50 * MS);
    rn_flush(&c->net, 0, 0, -1, 1000);
  }
  assert_int_equal(hs_repl_master_epoch(c->m), epoch + 1);
}

/* Restarts node id and delivers everything for `rounds` steps of 50 ms. */
static void restart_and_settle(pbc *c, uint32_t id, int rounds) {
  rn_node(&c->net, id)->down = false;
  assert_rc(hs_pb_restart(c->n[id], c->net.now), HS_OK);
  for (int i = 0; i < rounds; i++) {
    rn_flush(&c->net, 0, 0, -1, 1000);
    rn_advance(&c->net, c->net.now + 50 * MS);
  }
  rn_flush(&c->net, 0, 0, -1, 1000);
}

/* A crashed backup restarts empty: the master appends it as a joiner, the primary transfers
 * the state (a snapshot once the entries it lacks left the log), and it syncs. */
static void test_restarted_backup_rejoins(void **s) {
  (void)s;
  pbc c;
  pbc_init(&c, 3, HS_PB_SYNC);
  crash_until_removed(&c, 3);
  for (uint64_t t = 1; t <= 600; t++) {
    char key[16];
    snprintf(key, sizeof key, "k%llu", (unsigned long long)(t % 50));
    assert_rc(put(&c, 1, t, key, (int64_t)t), HS_OK);
    rn_flush(&c.net, 0, 0, -1, 100);
    assert_rc(RC_OPS[t].status, HS_OK);
  }
  restart_and_settle(&c, 3, 20);
  hs_pb_stats st = stats(c.n[3]);
  assert_int_equal(st.role, HS_PB_BACKUP);
  assert_true(st.synced);
  assert_true(hs_repl_master_synced(c.m, 3));
  assert_u64(st.snapshots_installed, 1);
  assert_u64(st.commit_seq, 600);
  int rc;
  assert_int_equal(get(&c, 3, "k0", &rc), 600);
  assert_int_equal(get(&c, 3, "k49", &rc), 599);
  assert_rc(put(&c, 1, 601, "k0", 601), HS_OK); /* sync again includes it */
  rn_flush(&c.net, 0, 0, -1, 100);
  assert_rc(RC_OPS[601].status, HS_OK);
  assert_int_equal(get(&c, 3, "k0", &rc), 600); /* a backup's read may be stale: it learns the */
  rn_advance(&c.net, c.net.now + 60 * MS);       /* commit point with the next message */
  rn_flush(&c.net, 0, 0, -1, 100);
  assert_int_equal(get(&c, 3, "k0", &rc), 601);
  pbc_free(&c);
}

/* Delivers every queued message (and what they cause) except those from -> to, which are
 * lost: a one-way cut in manual mode. */
static void flush_cut(pbc *c, uint32_t from, uint32_t to) {
  for (int n = 0; n < 5000 && c->net.q.len; n++) {
    rmsg r = rn_remove(&c->net, 0);
    if (r.from == from && r.to == to) free(r.buf);
    else rn_deliver(&c->net, &r);
  }
}

/* Semi-sync counts only backups the master knows are synced. Backup 3 restarts and rejoins,
 * catches up, but its pings never reach the master, so the master does not know it is
 * synced. A write that only 3 acknowledges is not acknowledged: the primary then crashes and
 * the master promotes 2, the only synced backup, which never got the write. Once the master
 * hears that 3 is synced (and tells the primary), 3's acknowledgement counts. */
static void test_semi_sync_counts_only_synced_backups(void **s) {
  (void)s;
  pbc c;
  pbc_init(&c, 3, HS_PB_SEMI_SYNC);
  crash_until_removed(&c, 3);
  assert_rc(put(&c, 1, 1, "k", 1), HS_OK);
  rn_flush(&c.net, 0, 0, -1, 100);
  assert_rc(RC_OPS[1].status, HS_OK);
  rn_node(&c.net, 3)->down = false;
  assert_rc(hs_pb_restart(c.n[3], c.net.now), HS_OK);
  assert_true(rn_deliver_one(&c.net, 3, RC_MASTER, HS_REPL_MSG_PING)); /* appended: view 3 */
  for (int i = 0; i < 6; i++) { /* 3 catches up; nothing it sends reaches the master */
    flush_cut(&c, 3, RC_MASTER);
    rn_advance(&c.net, c.net.now + 50 * MS);
  }
  flush_cut(&c, 3, RC_MASTER);
  assert_int_equal(hs_pb_view(c.n[1]), 3);
  assert_true(stats(c.n[3]).synced);
  assert_false(hs_repl_master_synced(c.m, 3));

  assert_rc(put(&c, 1, 2, "k", 2), HS_OK);
  assert_true(rn_drop_one(&c.net, 1, 2, HS_REPL_MSG_PB_REPLICATE));
  assert_true(rn_deliver_one(&c.net, 1, 3, HS_REPL_MSG_PB_REPLICATE));
  assert_true(rn_deliver_one(&c.net, 3, 1, HS_REPL_MSG_PB_ACK));
  assert_int_equal(RC_OPS[2].calls, 0); /* 3's acknowledgement does not count */
  hs_pb_crash(c.n[1]);
  rn_node(&c.net, 1)->down = true;
  assert_rc(RC_OPS[2].status, HS_REPL_ECRASHED);
  for (int i = 0; i < 60 && hs_pb_role_of(c.n[2]) != HS_PB_PRIMARY; i++) {
    rn_advance(&c.net, c.net.now + 50 * MS);
    flush_cut(&c, 3, RC_MASTER);
  }
  assert_int_equal(hs_pb_role_of(c.n[2]), HS_PB_PRIMARY);
  int rc;
  assert_int_equal(get(&c, 2, "k", &rc), 1); /* write 2 is lost, but it was never acknowledged */
  pbc_free(&c);

  /* the same, but 3's pings reach the master: once the primary hears it is synced, its
   * acknowledgement alone commits */
  pbc_init(&c, 3, HS_PB_SEMI_SYNC);
  crash_until_removed(&c, 3);
  restart_and_settle(&c, 3, 6);
  assert_true(hs_repl_master_synced(c.m, 3));
  assert_rc(put(&c, 1, 3, "k", 3), HS_OK);
  assert_true(rn_drop_one(&c.net, 1, 2, HS_REPL_MSG_PB_REPLICATE));
  assert_true(rn_deliver_one(&c.net, 1, 3, HS_REPL_MSG_PB_REPLICATE));
  assert_true(rn_deliver_one(&c.net, 3, 1, HS_REPL_MSG_PB_ACK));
  assert_int_equal(RC_OPS[3].calls, 1);
  assert_rc(RC_OPS[3].status, HS_OK);
  pbc_free(&c);
}

/* Forged messages: refused and counted; nothing changes. */
static void test_malformed_refused(void **s) {
  (void)s;
  pbc c;
  pbc_init(&c, 2, HS_PB_SYNC);
  uint64_t before = stats(c.n[2]).replications_applied;
  rval v = rv_int(1);
  hs_repl_msg m = {.type = HS_REPL_MSG_PB_REPLICATE, .from = 2, .to = 2, .epoch = 1, .tag = 1,
                   .key = (const uint8_t *)"x", .key_len = 1, .value = v.b, .value_len = sizeof v.b};
  assert_rc(hs_pb_step(c.n[2], &m, c.net.now), HS_EINVAL); /* from itself */
  m.from = 3;
  assert_rc(hs_pb_step(c.n[2], &m, c.net.now), HS_EINVAL); /* not the primary */
  m.from = 1;
  m.value_len = 4; /* not one whole value */
  assert_rc(hs_pb_step(c.n[2], &m, c.net.now), HS_EINVAL);
  m.value_len = sizeof v.b;
  m.tag = 7; /* an entry from a future view */
  assert_rc(hs_pb_step(c.n[2], &m, c.net.now), HS_EINVAL);
  uint8_t blob[6] = {1, 0, 0, 0, 9, 9};
  hs_repl_msg snap = {.type = HS_REPL_MSG_PB_SNAPSHOT, .from = 1, .to = 2, .epoch = 1, .seq = 1, .commit = 1,
                      .blob = blob, .blob_len = sizeof blob};
  assert_rc(hs_pb_step(c.n[2], &snap, c.net.now), HS_EINVAL);
  uint32_t ids[2] = {1, 1};
  uint64_t joins[2] = {1, 1};
  hs_repl_msg conf = {.type = HS_REPL_MSG_CONFIG, .from = RC_MASTER, .to = 2, .epoch = 5, .ids = ids, .n_ids = 2,
                      .nums = joins, .n_nums = 2};
  assert_rc(hs_pb_step(c.n[2], &conf, c.net.now), HS_EINVAL); /* duplicate members */
  conf.from = 1;
  assert_rc(hs_pb_step(c.n[2], &conf, c.net.now), HS_EINVAL); /* not from the master */
  hs_repl_msg ping = {.type = HS_REPL_MSG_PB_ACK, .from = 1, .to = RC_MASTER};
  assert_rc(hs_repl_master_step(c.m, &ping, c.net.now), HS_EINVAL);
  assert_u64(stats(c.n[2]).malformed, 7);
  assert_u64(stats(c.n[2]).replications_applied, before);
  assert_int_equal(hs_pb_view(c.n[2]), 1);
  pbc_free(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sync_waits_for_every_backup),
      cmocka_unit_test(test_semi_sync_and_async),
      cmocka_unit_test(test_lost_ack_is_retried),
      cmocka_unit_test(test_write_times_out_instead_of_hanging),
      cmocka_unit_test(test_reordering_and_duplicates_are_harmless),
      cmocka_unit_test(test_stale_view_write_refused),
      cmocka_unit_test(test_failover_keeps_acknowledged_writes),
      cmocka_unit_test(test_new_primary_not_ready_until_committed),
      cmocka_unit_test(test_async_failover_counts_lost_writes),
      cmocka_unit_test(test_restarted_backup_rejoins),
      cmocka_unit_test(test_semi_sync_counts_only_synced_backups),
      cmocka_unit_test(test_malformed_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
