/*
 * test_repl_chain.c - chain replication and CRAQ (engine/repl/hs_chain.h) as exact
 * interleavings: a write goes head to tail and its acknowledgement back, versions turning
 * clean on the way; plain reads only at the tail; a CRAQ dirty read asks the tail and returns
 * the committed version; a dirty version never reads as clean, even when an earlier write of
 * its key was acknowledged (the seed's dirty *set* got that wrong); a lost acknowledgement is
 * retried; chain repair after a middle, tail or head crash keeps every acknowledged write and
 * completes the in-flight ones; a restarted node rejoins at the tail through a state transfer;
 * forged messages are refused.
 */
#include "test_repl_cluster.h"

#include "repl/hs_chain.h"

static int ch_step(void *c, const hs_repl_msg *m, hs_time_ns now) { return hs_chain_step(c, m, now); }
static int ch_tick(void *c, hs_time_ns now) { return hs_chain_tick(c, now); }
static hs_time_ns ch_deadline(const void *c) { return hs_chain_next_deadline(c); }

static void on_write_done(void *ud, uint64_t tag, int status, uint64_t seq) {
  (void)ud;
  rc_done(tag, status, seq, -1);
}

static void on_read_done(void *ud, uint64_t tag, int status, const uint8_t *value, uint32_t len, uint64_t version) {
  (void)ud;
  rc_done(tag, status, version, value ? rv_get(value, len) : -1);
}

typedef struct chc {
  rnet net;
  hs_repl_master *m;
  hs_chain *n[RN_MAX + 1];
  uint32_t count;
} chc;

static void chc_init(chc *c, uint32_t n, bool craq) {
  memset(c, 0, sizeof *c);
  rn_init(&c->net, false, 1);
  rc_reset_ops(&c->net);
  c->count = n;
  c->m = rc_master(&c->net, n, 0, 0, NULL);
  for (uint32_t i = 1; i <= n; i++) {
    hs_chain_config cfg;
    hs_chain_config_init(&cfg);
    cfg.id = i;
    cfg.master = RC_MASTER;
    cfg.craq = craq;
    cfg.write_timeout_ns = 3000 * MS; /* longer than a repair: failure timeout + lease */
    cfg.cb.send = rn_send;
    cfg.cb.write_done = on_write_done;
    cfg.cb.read_done = on_read_done;
    cfg.ud = rn_node(&c->net, i);
    assert_rc(hs_chain_new(&cfg, &c->n[i]), HS_OK);
    rn_add(&c->net, i, c->n[i], ch_step, ch_tick, ch_deadline);
  }
  assert_rc(hs_repl_master_start(c->m, 0), HS_OK);
  for (uint32_t i = 1; i <= n; i++) assert_rc(hs_chain_start(c->n[i], 0), HS_OK);
  rn_flush(&c->net, 0, 0, -1, 1000);
  assert_int_equal(hs_chain_role_of(c->n[1]), HS_CHAIN_HEAD);
  assert_int_equal(hs_chain_role_of(c->n[n]), n == 1 ? HS_CHAIN_HEAD : HS_CHAIN_TAIL);
}

static void chc_free(chc *c) {
  for (uint32_t i = 1; i <= c->count; i++) hs_chain_free(c->n[i]);
  hs_repl_master_free(c->m);
  rn_free(&c->net);
}

static int put(chc *c, uint32_t id, uint64_t tag, const char *key, int64_t v) {
  rval x = rv_int(v);
  return hs_chain_write(c->n[id], c->net.now, key, strlen(key), x.b, sizeof x.b, tag);
}

static int get(chc *c, uint32_t id, uint64_t tag, const char *key) {
  return hs_chain_read(c->n[id], c->net.now, key, strlen(key), tag);
}

static bool dirty(chc *c, uint32_t id, const char *key) { return hs_chain_key_dirty(c->n[id], key, strlen(key)); }

static hs_chain_stats stats(hs_chain *ch) {
  hs_chain_stats s;
  hs_chain_get_stats(ch, &s);
  return s;
}

/* Runs the cluster's timers and messages for `ms` milliseconds, in 10 ms steps. */
static void run_for(chc *c, int ms) {
  for (int t = 0; t < ms; t += 10) {
    rn_advance(&c->net, c->net.now + 10 * MS);
    rn_flush(&c->net, 0, 0, -1, 10000);
  }
}

static void crash(chc *c, uint32_t id) {
  hs_chain_crash(c->n[id]);
  rn_node(&c->net, id)->down = true;
}

/* Head to tail, then the acknowledgement back: each node's version turns clean only when the
 * acknowledgement passes it, and the head completes the write last. */
static void test_write_goes_down_ack_comes_back(void **s) {
  (void)s;
  chc c;
  chc_init(&c, 3, true);
  assert_rc(put(&c, 1, 1, "x", 10), HS_OK);
  assert_true(dirty(&c, 1, "x"));
  assert_true(rn_deliver_one(&c.net, 1, 2, HS_REPL_MSG_CH_PROPAGATE));
  assert_true(dirty(&c, 2, "x"));
  assert_true(rn_deliver_one(&c.net, 2, 3, HS_REPL_MSG_CH_PROPAGATE));
  assert_false(dirty(&c, 3, "x")); /* the tail: committed */
  assert_true(dirty(&c, 2, "x") && dirty(&c, 1, "x"));
  assert_int_equal(RC_OPS[1].calls, 0);
  assert_true(rn_deliver_one(&c.net, 3, 2, HS_REPL_MSG_CH_ACK));
  assert_false(dirty(&c, 2, "x"));
  assert_true(dirty(&c, 1, "x"));
  assert_int_equal(RC_OPS[1].calls, 0);
  assert_true(rn_deliver_one(&c.net, 2, 1, HS_REPL_MSG_CH_ACK));
  assert_false(dirty(&c, 1, "x"));
  assert_int_equal(RC_OPS[1].calls, 1);
  assert_rc(RC_OPS[1].status, HS_OK);
  assert_u64(RC_OPS[1].seq, 1);
  assert_u64(c.net.q.len, 0);
  chc_free(&c);
}

/* Plain chain: reads at the tail only; writes at the head only. */
static void test_plain_reads_at_tail(void **s) {
  (void)s;
  chc c;
  chc_init(&c, 3, false);
  assert_rc(put(&c, 1, 1, "x", 10), HS_OK);
  rn_flush(&c.net, 0, 0, -1, 100);
  assert_rc(get(&c, 1, 2, "x"), HS_REPL_ENOTTAIL);
  assert_rc(get(&c, 2, 2, "x"), HS_REPL_ENOTTAIL);
  assert_int_equal(hs_chain_tail(c.n[1]), 3);
  assert_rc(get(&c, 3, 2, "x"), HS_OK);
  assert_rc(RC_OPS[2].status, HS_OK);
  assert_int_equal(RC_OPS[2].value, 10);
  assert_rc(put(&c, 2, 3, "x", 11), HS_REPL_ENOTHEAD);
  assert_int_equal(hs_chain_head(c.n[2]), 1);
  assert_rc(get(&c, 3, 4, "nothing"), HS_OK);
  assert_int_equal(RC_OPS[4].value, -1);
  chc_free(&c);
}

/* CRAQ: x = 1 committed; x = 2 reached node 2 but not the tail. A read at node 2 (or the
 * head) finds x dirty, asks the tail, and returns the committed version 1; a read at the tail
 * returns 1; once x = 2 commits, every node returns 2 locally. */
static void test_craq_dirty_read_asks_tail(void **s) {
  (void)s;
  chc c;
  chc_init(&c, 3, true);
  assert_rc(put(&c, 1, 1, "x", 1), HS_OK);
  rn_flush(&c.net, 0, 0, -1, 100);
  assert_rc(put(&c, 1, 2, "x", 2), HS_OK);
  assert_true(rn_deliver_one(&c.net, 1, 2, HS_REPL_MSG_CH_PROPAGATE));
  assert_true(rn_drop_one(&c.net, 2, 3, HS_REPL_MSG_CH_PROPAGATE));
  assert_rc(get(&c, 2, 10, "x"), HS_OK);
  assert_int_equal(RC_OPS[10].calls, 0); /* waiting for the tail */
  assert_true(rn_deliver_one(&c.net, 2, 3, HS_REPL_MSG_CH_QUERY));
  assert_true(rn_deliver_one(&c.net, 3, 2, HS_REPL_MSG_CH_QUERY_RESP));
  assert_rc(RC_OPS[10].status, HS_OK);
  assert_int_equal(RC_OPS[10].value, 1);
  assert_u64(RC_OPS[10].seq, 1);
  assert_rc(get(&c, 1, 11, "x"), HS_OK);
  rn_flush(&c.net, 0, 0, HS_REPL_MSG_CH_QUERY, 10);
  rn_flush(&c.net, 0, 0, HS_REPL_MSG_CH_QUERY_RESP, 10);
  assert_int_equal(RC_OPS[11].value, 1);
  assert_rc(get(&c, 3, 12, "x"), HS_OK);
  assert_int_equal(RC_OPS[12].value, 1);
  assert_u64(stats(c.n[2]).dirty_reads, 1);
  assert_u64(stats(c.n[3]).version_queries, 2);
  run_for(&c, 100); /* node 2 resends x = 2 to the tail: it commits */
  assert_rc(RC_OPS[2].status, HS_OK);
  for (uint32_t i = 1; i <= 3; i++) {
    assert_rc(get(&c, i, 20 + i, "x"), HS_OK);
    assert_int_equal(RC_OPS[20 + i].calls, 1); /* clean: answered at once */
    assert_int_equal(RC_OPS[20 + i].value, 2);
  }
  chc_free(&c);
}

/* x = 1 (seq 1) and x = 2 (seq 2) both in flight; only seq 1's acknowledgement arrives. The
 * seed's dirty set dropped x then, and x = 2 read as clean. Here version 2 stays dirty: the
 * read asks the tail and returns 1. */
static void test_dirty_version_never_reads_clean(void **s) {
  (void)s;
  chc c;
  chc_init(&c, 3, true);
  assert_rc(put(&c, 1, 1, "x", 1), HS_OK);
  assert_rc(put(&c, 1, 2, "x", 2), HS_OK);
  rn_flush(&c.net, 1, 2, HS_REPL_MSG_CH_PROPAGATE, 2);
  assert_true(rn_deliver_one(&c.net, 2, 3, HS_REPL_MSG_CH_PROPAGATE)); /* seq 1 only */
  rn_drop_one(&c.net, 2, 3, HS_REPL_MSG_CH_PROPAGATE);
  assert_true(rn_deliver_one(&c.net, 3, 2, HS_REPL_MSG_CH_ACK)); /* acknowledges seq 1 */
  assert_true(dirty(&c, 2, "x"));
  assert_u64(hs_chain_versions(c.n[2], "x", 1), 2);
  uint64_t seq;
  bool clean;
  const uint8_t *v;
  uint32_t len;
  assert_rc(hs_chain_version_at(c.n[2], "x", 1, 0, &seq, &clean, &v, &len), HS_OK);
  assert_true(seq == 1 && clean);
  assert_rc(hs_chain_version_at(c.n[2], "x", 1, 1, &seq, &clean, &v, &len), HS_OK);
  assert_true(seq == 2 && !clean);
  assert_rc(get(&c, 2, 10, "x"), HS_OK);
  assert_int_equal(RC_OPS[10].calls, 0);
  rn_flush(&c.net, 2, 3, HS_REPL_MSG_CH_QUERY, 1);
  rn_flush(&c.net, 3, 2, HS_REPL_MSG_CH_QUERY_RESP, 1);
  assert_int_equal(RC_OPS[10].value, 1);
  assert_false(hs_chain_unsafe_build());
  chc_free(&c);
}

/* The tail's acknowledgement is lost: node 2 resends after the retry interval, the tail says
 * what it holds, and the acknowledgement goes on to the head. Nothing is applied twice. */
static void test_lost_ack_retried(void **s) {
  (void)s;
  chc c;
  chc_init(&c, 3, false);
  assert_rc(put(&c, 1, 1, "x", 1), HS_OK);
  rn_flush(&c.net, 0, 0, HS_REPL_MSG_CH_PROPAGATE, 10);
  assert_true(rn_drop_one(&c.net, 3, 2, HS_REPL_MSG_CH_ACK));
  assert_int_equal(RC_OPS[1].calls, 0);
  run_for(&c, 100);
  assert_int_equal(RC_OPS[1].calls, 1);
  assert_rc(RC_OPS[1].status, HS_OK);
  assert_u64(stats(c.n[3]).propagations_received, 1);
  assert_u64(stats(c.n[3]).committed, 1);
  chc_free(&c);
}

/* Five writes in flight when the middle node crashes: the master removes it after its lease,
 * the head links to the tail and resends, and all five commit. Acknowledged writes stay. */
static void test_repair_after_middle_crash(void **s) {
  (void)s;
  chc c;
  chc_init(&c, 3, true);
  assert_rc(put(&c, 1, 1, "a", 1), HS_OK);
  rn_flush(&c.net, 0, 0, -1, 100);
  assert_rc(RC_OPS[1].status, HS_OK);
  for (uint64_t t = 2; t <= 6; t++) assert_rc(put(&c, 1, t, "b", (int64_t)t), HS_OK);
  rn_flush(&c.net, 1, 2, HS_REPL_MSG_CH_PROPAGATE, 3); /* node 2 gets 2-4; 3 gets nothing */
  crash(&c, 2);
  rn_clear(&c.net);
  run_for(&c, 1500);
  assert_int_equal(hs_chain_epoch(c.n[1]), 2);
  assert_int_equal(hs_chain_tail(c.n[1]), 3);
  for (uint64_t t = 2; t <= 6; t++) assert_rc(RC_OPS[t].status, HS_OK);
  assert_rc(get(&c, 3, 10, "a"), HS_OK);
  assert_int_equal(RC_OPS[10].value, 1);
  assert_rc(get(&c, 1, 11, "b"), HS_OK);
  assert_int_equal(RC_OPS[11].value, 6);
  chc_free(&c);
}

/* The tail crashes with writes that reached node 2: node 2 becomes the tail, they are
 * committed, and the head completes them. */
static void test_repair_after_tail_crash(void **s) {
  (void)s;
  chc c;
  chc_init(&c, 3, false);
  assert_rc(put(&c, 1, 1, "x", 1), HS_OK);
  rn_flush(&c.net, 1, 2, HS_REPL_MSG_CH_PROPAGATE, 1);
  crash(&c, 3);
  rn_clear(&c.net);
  run_for(&c, 1500);
  assert_int_equal(hs_chain_role_of(c.n[2]), HS_CHAIN_TAIL);
  assert_rc(RC_OPS[1].status, HS_OK);
  assert_rc(get(&c, 2, 2, "x"), HS_OK);
  assert_int_equal(RC_OPS[2].value, 1);
  chc_free(&c);
}

/* The head crashes: node 2 leads; its pending writes at the old head ended crashed; new
 * writes go through node 2, and what was acknowledged stays. */
static void test_repair_after_head_crash(void **s) {
  (void)s;
  chc c;
  chc_init(&c, 3, false);
  assert_rc(put(&c, 1, 1, "x", 1), HS_OK);
  rn_flush(&c.net, 0, 0, -1, 100);
  assert_rc(put(&c, 1, 2, "x", 2), HS_OK); /* never leaves the head */
  crash(&c, 1);
  assert_rc(RC_OPS[2].status, HS_REPL_ECRASHED);
  rn_clear(&c.net);
  run_for(&c, 1500);
  assert_int_equal(hs_chain_role_of(c.n[2]), HS_CHAIN_HEAD);
  assert_rc(get(&c, 3, 3, "x"), HS_OK);
  assert_int_equal(RC_OPS[3].value, 1);
  assert_rc(put(&c, 2, 4, "x", 4), HS_OK);
  rn_flush(&c.net, 0, 0, -1, 100);
  assert_rc(RC_OPS[4].status, HS_OK);
  assert_u64(RC_OPS[4].seq, 2);
  chc_free(&c);
}

/* A crashed node restarts empty: the master appends it as the tail, the old tail sends its
 * objects, and once synced it serves the acknowledged writes and takes new ones. */
static void test_restarted_node_rejoins_at_tail(void **s) {
  (void)s;
  chc c;
  chc_init(&c, 3, true);
  crash(&c, 2);
  run_for(&c, 1500);
  for (uint64_t t = 1; t <= 20; t++) assert_rc(put(&c, 1, t, t % 2 ? "odd" : "even", (int64_t)t), HS_OK);
  run_for(&c, 100);
  rn_node(&c.net, 2)->down = false;
  assert_rc(hs_chain_restart(c.n[2], c.net.now), HS_OK);
  run_for(&c, 500);
  hs_chain_stats st = stats(c.n[2]);
  assert_int_equal(st.role, HS_CHAIN_TAIL);
  assert_true(st.synced);
  assert_u64(st.snapshots_installed, 1);
  assert_int_equal(hs_chain_role_of(c.n[3]), HS_CHAIN_MIDDLE);
  assert_rc(get(&c, 2, 100, "odd"), HS_OK);
  assert_int_equal(RC_OPS[100].value, 19);
  assert_rc(put(&c, 1, 101, "odd", 101), HS_OK);
  run_for(&c, 100);
  assert_rc(RC_OPS[101].status, HS_OK);
  assert_rc(get(&c, 2, 102, "odd"), HS_OK);
  assert_int_equal(RC_OPS[102].value, 101);
  chc_free(&c);
}

/* Forged messages are refused and counted. */
static void test_malformed_refused(void **s) {
  (void)s;
  chc c;
  chc_init(&c, 3, true);
  rval v = rv_int(1);
  hs_repl_msg m = {.type = HS_REPL_MSG_CH_PROPAGATE, .from = 3, .to = 2, .epoch = 1, .seq = 1,
                   .key = (const uint8_t *)"x", .key_len = 1, .value = v.b, .value_len = sizeof v.b};
  assert_rc(hs_chain_step(c.n[2], &m, c.net.now), HS_EINVAL); /* not from the predecessor */
  m.from = 1;
  m.value_len = 2;
  assert_rc(hs_chain_step(c.n[2], &m, c.net.now), HS_EINVAL); /* not a whole value */
  hs_repl_msg a = {.type = HS_REPL_MSG_CH_ACK, .from = 3, .to = 2, .epoch = 1, .seq = 5, .commit = 4};
  assert_rc(hs_chain_step(c.n[2], &a, c.net.now), HS_EINVAL); /* committed beyond applied */
  uint8_t blob[8] = {1, 0, 0, 0, 1, 0, 0, 0};
  hs_repl_msg sn = {.type = HS_REPL_MSG_CH_SNAPSHOT, .from = 1, .to = 2, .epoch = 1, .seq = 3, .commit = 1,
                    .blob = blob, .blob_len = sizeof blob};
  assert_rc(hs_chain_step(c.n[2], &sn, c.net.now), HS_EINVAL);
  assert_u64(stats(c.n[2]).malformed, 4);
  assert_u64(stats(c.n[2]).applied, 0);
  chc_free(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_write_goes_down_ack_comes_back),
      cmocka_unit_test(test_plain_reads_at_tail),
      cmocka_unit_test(test_craq_dirty_read_asks_tail),
      cmocka_unit_test(test_dirty_version_never_reads_clean),
      cmocka_unit_test(test_lost_ack_retried),
      cmocka_unit_test(test_repair_after_middle_crash),
      cmocka_unit_test(test_repair_after_tail_crash),
      cmocka_unit_test(test_repair_after_head_crash),
      cmocka_unit_test(test_restarted_node_rejoins_at_tail),
      cmocka_unit_test(test_malformed_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
