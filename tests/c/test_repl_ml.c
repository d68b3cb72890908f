/*
 * test_repl_ml.c - multi-leader replication (engine/repl/hs_ml.h): exact interleavings of the
 * rules (equal clocks are not conflicts, concurrent writes are detected exactly, causal
 * overwrites replace, LastWriterWins, kept siblings, custom resolvers, anti-entropy repairs
 * what broadcasts lost, malformed messages refused), then randomized worlds over many seeds
 * with loss, duplication, reordering, partitions and crash/restart in which every replica must
 * converge, after anti-entropy, to exactly the state the accepted writes define.
 */
#include "test_repl_harness.h"

#include "repl/hs_ml.h"

static int ml_step(void *c, const hs_repl_msg *m, hs_time_ns now) { return hs_ml_step(c, m, now); }
static int ml_tick(void *c, hs_time_ns now) { return hs_ml_tick(c, now); }
static hs_time_ns ml_deadline(const void *c) { return hs_ml_next_deadline(c); }

/* Nodes 1..n, each with every other as a peer. */
static void ml_cluster(rnet *net, hs_ml **nodes, uint32_t n, hs_ml_resolver res, hs_time_ns ae_ns, uint64_t seed) {
  uint32_t ids[RN_MAX];
  for (uint32_t i = 0; i < n; i++) ids[i] = i + 1;
  for (uint32_t i = 1; i <= n; i++) {
    uint32_t peers[RN_MAX], np = 0;
    for (uint32_t j = 0; j < n; j++)
      if (ids[j] != i) peers[np++] = ids[j];
    hs_ml_config cfg;
    hs_ml_config_init(&cfg);
    cfg.id = i;
    cfg.peers = peers;
    cfg.n_peers = np;
    cfg.resolver = res;
    cfg.anti_entropy_interval_ns = ae_ns;
    cfg.merkle_leaf_bits = 6;
    char name[16];
    int len = snprintf(name, sizeof name, "ml%u", i);
    hs_rng_seed(&cfg.rng, seed, name, (size_t)len);
    cfg.cb.send = rn_send;
    cfg.ud = rn_node(net, i);
    assert_rc(hs_ml_new(&cfg, &nodes[i]), HS_OK);
    rn_add(net, i, nodes[i], ml_step, ml_tick, ml_deadline);
    assert_rc(hs_ml_start(nodes[i], net->now), HS_OK);
  }
}

static void write_int(hs_ml *ml, hs_time_ns now, const char *key, int64_t v) {
  rval x = rv_int(v);
  assert_rc(hs_ml_write(ml, now, key, strlen(key), x.b, sizeof x.b, NULL), HS_OK);
}

/* The single value of key (-1 absent, -2 when there are siblings). */
static int64_t read_int(hs_ml *ml, const char *key) {
  const hs_ml_version *v;
  uint32_t n;
  assert_rc(hs_ml_read(ml, key, strlen(key), &v, &n), HS_OK);
  if (n == 0) return -1;
  if (n > 1) return -2;
  return rv_get(v[0].value, v[0].value_len);
}

static hs_ml_stats stats(hs_ml *ml) {
  hs_ml_stats s;
  hs_ml_get_stats(ml, &s);
  return s;
}

static bool same_state(hs_ml *a, hs_ml *b) {
  if (hs_ml_key_count(a) != hs_ml_key_count(b)) return false;
  hs_buf x, y;
  hs_buf_init(&x);
  hs_buf_init(&y);
  bool same = true;
  for (uint32_t i = 0; i < hs_ml_key_count(a) && same; i++) {
    uint32_t len;
    const uint8_t *k = hs_ml_key_at(a, i, &len);
    int64_t j = hs_merkle_find(hs_ml_tree(b), k, len);
    if (j < 0) {
      same = false;
      break;
    }
    hs_buf_reset(&x);
    hs_buf_reset(&y);
    hs_ml_encode_key(a, i, &x);
    hs_ml_encode_key(b, (uint32_t)j, &y);
    same = x.len == y.len && memcmp(x.data, y.data, x.len) == 0;
  }
  hs_buf_free(&x);
  hs_buf_free(&y);
  return same;
}

static void free_all(rnet *net, hs_ml **nodes, uint32_t n) {
  rn_free(net);
  for (uint32_t i = 1; i <= n; i++) hs_ml_free(nodes[i]);
}

/* A copy of a version the network duplicated, or one that comes back by anti-entropy, has an
 * EQUAL clock: the same version, not a conflict. */
static void test_equal_clocks_are_not_conflicts(void **s) {
  (void)s;
  rnet net;
  rn_init(&net, false, 1);
  hs_ml *n[3] = {0};
  ml_cluster(&net, n, 2, hs_ml_resolver_lww(), 0, 1);
  write_int(n[1], net.now, "x", 1);
  hs_repl_msg m;
  assert_true(rn_peek(&net, 1, 2, HS_REPL_MSG_ML_REPLICATE, &m));
  hs_repl_msg copy = m;
  uint8_t *blob = malloc(m.blob_len);
  memcpy(blob, m.blob, m.blob_len);
  copy.blob = blob;
  copy.key = (const uint8_t *)"x";
  assert_true(rn_deliver_one(&net, 1, 2, -1));
  assert_rc(hs_ml_step(n[2], &copy, net.now), HS_OK); /* the duplicate */
  assert_rc(hs_ml_step(n[2], &copy, net.now), HS_OK);
  free(blob);
  assert_int_equal(read_int(n[2], "x"), 1);
  assert_u64(stats(n[2]).conflicts_detected, 0);
  assert_rc(hs_ml_sync(n[2], 1, net.now), HS_OK); /* nothing differs: the root matches */
  rn_flush(&net, 0, 0, -1, 100);
  assert_u64(stats(n[1]).conflicts_detected + stats(n[2]).conflicts_detected, 0);
  assert_u64(stats(n[1]).keys_shipped + stats(n[2]).keys_shipped, 0);
  assert_u64(hs_ml_root_hash(n[1]), hs_ml_root_hash(n[2]));
  free_all(&net, n, 2);
}

/* A write made after seeing another replaces it everywhere, without a conflict. */
static void test_causal_overwrite_replaces(void **s) {
  (void)s;
  rnet net;
  rn_init(&net, false, 1);
  hs_ml *n[3] = {0};
  ml_cluster(&net, n, 2, hs_ml_resolver_siblings(), 0, 1);
  write_int(n[1], net.now, "x", 1);
  rn_flush(&net, 0, 0, -1, 10);
  net.now += MS;
  write_int(n[2], net.now, "x", 2); /* n2 saw x = 1 */
  rn_flush(&net, 0, 0, -1, 10);
  assert_int_equal(read_int(n[1], "x"), 2);
  assert_int_equal(read_int(n[2], "x"), 2);
  assert_u64(stats(n[1]).conflicts_detected + stats(n[2]).conflicts_detected, 0);
  free_all(&net, n, 2);
}

/* Two writes that did not see each other are concurrent: both replicas detect it, and
 * LastWriterWins picks the later timestamp, then the higher origin, on both. */
static void test_concurrent_writes_lww(void **s) {
  (void)s;
  for (int same_time = 0; same_time <= 1; same_time++) {
    rnet net;
    rn_init(&net, false, 1);
    hs_ml *n[3] = {0};
    ml_cluster(&net, n, 2, hs_ml_resolver_lww(), 0, 1);
    net.now = 10 * MS;
    write_int(n[2], net.now, "x", 2);
    if (!same_time) net.now += MS; /* n1's write is later */
    write_int(n[1], net.now, "x", 1);
    rn_flush(&net, 0, 0, -1, 10);
    int64_t winner = same_time ? 2 : 1; /* a tie goes to the higher origin */
    assert_int_equal(read_int(n[1], "x"), winner);
    assert_int_equal(read_int(n[2], "x"), winner);
    assert_u64(stats(n[1]).conflicts_detected, 1);
    assert_u64(stats(n[2]).conflicts_detected, 1);
    assert_u64(stats(n[1]).conflicts_resolved, 1);
    assert_true(same_state(n[1], n[2]));
    free_all(&net, n, 2);
  }
}

/* VectorClockMerge keeps both concurrent versions, on both replicas; a write made after
 * reading them covers both and collapses them everywhere. */
static void test_siblings_kept_then_collapsed(void **s) {
  (void)s;
  rnet net;
  rn_init(&net, false, 1);
  hs_ml *n[4] = {0};
  ml_cluster(&net, n, 3, hs_ml_resolver_siblings(), 0, 1);
  write_int(n[1], net.now, "x", 1);
  write_int(n[2], net.now, "x", 2);
  write_int(n[3], net.now, "x", 3);
  rn_flush(&net, 0, 0, -1, 100);
  for (int i = 1; i <= 3; i++) {
    const hs_ml_version *v;
    uint32_t c;
    assert_rc(hs_ml_read(n[i], "x", 1, &v, &c), HS_OK);
    assert_int_equal(c, 3);
    for (uint32_t k = 0; k < c; k++) assert_int_equal(v[k].origin, k + 1); /* canonical order */
  }
  assert_true(same_state(n[1], n[2]) && same_state(n[2], n[3]));
  net.now += MS;
  write_int(n[2], net.now, "x", 9);
  rn_flush(&net, 0, 0, -1, 100);
  for (int i = 1; i <= 3; i++) assert_int_equal(read_int(n[i], "x"), 9);
  free_all(&net, n, 3);
}

/* A custom resolver: a merge (the sum, a join for this test's two versions), and a broken
 * one (an index out of range falls back to LastWriterWins and is counted). */
static int sum_resolver(void *ud, const uint8_t *key, uint32_t key_len, const hs_ml_version *v, uint32_t n, hs_buf *out) {
  (void)key;
  (void)key_len;
  int *calls = ud;
  (*calls)++;
  int64_t sum = 0;
  for (uint32_t i = 0; i < n; i++) sum += rv_get(v[i].value, v[i].value_len);
  hs_buf_put_int(out, sum);
  return HS_ML_RESOLVE_NEW;
}

static int bad_resolver(void *ud, const uint8_t *key, uint32_t key_len, const hs_ml_version *v, uint32_t n, hs_buf *out) {
  (void)ud;
  (void)key;
  (void)key_len;
  (void)v;
  (void)out;
  return (int)n + 5;
}

static void test_custom_resolvers(void **s) {
  (void)s;
  int calls = 0;
  hs_ml_resolver sum = {.name = "custom", .resolve = sum_resolver, .ud = &calls};
  rnet net;
  rn_init(&net, false, 1);
  hs_ml *n[3] = {0};
  ml_cluster(&net, n, 2, sum, 0, 1);
  write_int(n[1], net.now, "x", 5);
  write_int(n[2], net.now, "x", 7);
  rn_flush(&net, 0, 0, -1, 10);
  assert_int_equal(calls, 2);
  assert_int_equal(read_int(n[1], "x"), 12);
  assert_int_equal(read_int(n[2], "x"), 12);
  assert_true(same_state(n[1], n[2]));
  free_all(&net, n, 2);

  hs_ml_resolver bad = {.name = "custom", .resolve = bad_resolver};
  rn_init(&net, false, 1);
  ml_cluster(&net, n, 2, bad, 0, 1);
  write_int(n[1], net.now, "x", 5);
  net.now += MS;
  write_int(n[2], net.now, "x", 7);
  rn_flush(&net, 0, 0, -1, 10);
  assert_int_equal(read_int(n[1], "x"), 7);
  assert_u64(stats(n[1]).resolver_errors, 1);
  free_all(&net, n, 2);
}

/* Every broadcast lost: one anti-entropy round ships only the differing keys, both ways. */
static void test_anti_entropy_repairs(void **s) {
  (void)s;
  rnet net;
  rn_init(&net, false, 1);
  hs_ml *n[3] = {0};
  ml_cluster(&net, n, 2, hs_ml_resolver_lww(), 0, 1);
  char key[32];
  for (int i = 0; i < 300; i++) {
    snprintf(key, sizeof key, "k%d", i);
    write_int(n[1], net.now, key, i);
    write_int(n[2], net.now, key, i);
  }
  rn_flush(&net, 0, 0, -1, 10000); /* both wrote the same keys: LWW settles them */
  assert_true(same_state(n[1], n[2]));
  net.now += MS;
  write_int(n[1], net.now, "k7", 1000);
  write_int(n[2], net.now, "k100", 2000);
  write_int(n[2], net.now, "new", 1);
  rn_clear(&net); /* the broadcasts are lost */
  assert_false(same_state(n[1], n[2]));
  hs_ml_stats a0 = stats(n[1]), b0 = stats(n[2]);
  assert_rc(hs_ml_sync(n[1], 2, net.now), HS_OK);
  rn_flush(&net, 0, 0, -1, 1000);
  assert_true(same_state(n[1], n[2]));
  assert_u64(hs_ml_root_hash(n[1]), hs_ml_root_hash(n[2]));
  assert_int_equal(read_int(n[2], "k7"), 1000);
  assert_int_equal(read_int(n[1], "k100"), 2000);
  assert_int_equal(read_int(n[1], "new"), 1);
  hs_ml_stats a = stats(n[1]), b = stats(n[2]);
  uint64_t hashes = a.hashes_sent + b.hashes_sent - a0.hashes_sent - b0.hashes_sent;
  uint64_t shipped = a.keys_shipped + b.keys_shipped - a0.keys_shipped - b0.keys_shipped;
  assert_true(hashes <= 1 + 3 * 2 * 6); /* 3 differing paths through a depth-6 binary tree */
  assert_true(shipped < 60);            /* the keys of at most 3 buckets, each way */
  assert_u64(a.anti_entropy_keys_repaired - a0.anti_entropy_keys_repaired, 2);
  assert_u64(b.anti_entropy_keys_repaired - b0.anti_entropy_keys_repaired, 1);
  free_all(&net, n, 2);
}

/* Two replicas of 100,000 keys, 10 of them changed on one side or the other with their
 * broadcasts lost: one anti-entropy round through the real messages repairs exactly those, with
 * O(10 log n) hashes: fewer than 10 x 2 x leaf_bits x fanout. */
static void test_anti_entropy_100k_keys_10_differences(void **s) {
  (void)s;
  rnet net;
  rn_init(&net, false, 1);
  hs_ml *n[3] = {0};
  for (uint32_t i = 1; i <= 2; i++) {
    uint32_t peer = 3 - i;
    hs_ml_config cfg;
    hs_ml_config_init(&cfg);
    cfg.id = i;
    cfg.peers = &peer;
    cfg.n_peers = 1;
    cfg.merkle_leaf_bits = 17;
    cfg.cb.send = rn_send;
    cfg.ud = rn_node(&net, i);
    assert_rc(hs_ml_new(&cfg, &n[i]), HS_OK);
    rn_add(&net, i, n[i], ml_step, ml_tick, ml_deadline);
  }
  char key[32];
  for (int i = 0; i < 100000; i++) {
    snprintf(key, sizeof key, "key-%d", i);
    write_int(n[1], 0, key, i);
    if (net.q.len > 1000) rn_flush(&net, 0, 0, -1, 100000);
  }
  rn_flush(&net, 0, 0, -1, 100000);
  assert_u64(hs_ml_root_hash(n[1]), hs_ml_root_hash(n[2]));
  hs_rng rng;
  hs_rng_seed(&rng, 5, "diff", 4);
  for (int d = 0; d < 10; d++) {
    snprintf(key, sizeof key, "key-%llu", (unsigned long long)hs_rng_below(&rng, 100000));
    write_int(n[1 + d % 2], 1, key, -d);
  }
  rn_clear(&net);
  hs_ml_stats a0 = stats(n[1]), b0 = stats(n[2]);
  assert_rc(hs_ml_sync(n[1], 2, 2), HS_OK);
  rn_flush(&net, 0, 0, -1, 1000);
  hs_ml_stats a = stats(n[1]), b = stats(n[2]);
  uint64_t hashes = a.hashes_sent + b.hashes_sent - a0.hashes_sent - b0.hashes_sent;
  uint64_t shipped = a.keys_shipped + b.keys_shipped - a0.keys_shipped - b0.keys_shipped;
  uint64_t repaired = a.anti_entropy_keys_repaired + b.anti_entropy_keys_repaired - a0.anti_entropy_keys_repaired -
                      b0.anti_entropy_keys_repaired;
  print_message("100,000 keys, 10 differences, 2^17 buckets, binary tree: %llu hashes sent, %llu key states "
                "shipped, %llu keys repaired\n",
                (unsigned long long)hashes, (unsigned long long)shipped, (unsigned long long)repaired);
  assert_u64(hs_ml_root_hash(n[1]), hs_ml_root_hash(n[2]));
  assert_u64(repaired, 10);
  assert_true(hashes < 10 * 2 * 17 * 2);
  assert_true(shipped < 10 * 2 * 4); /* the keys of 10 buckets, both ways (a bucket holds 0.8 keys on average) */
  free_all(&net, n, 2);
}

/* Forged messages are refused whole and counted; the state does not change. */
static void test_malformed_refused(void **s) {
  (void)s;
  rnet net;
  rn_init(&net, false, 1);
  hs_ml *n[3] = {0};
  ml_cluster(&net, n, 2, hs_ml_resolver_lww(), 0, 1);
  write_int(n[2], net.now, "x", 1);
  rn_clear(&net);
  uint64_t root = hs_ml_root_hash(n[2]);
  hs_buf b;
  hs_buf_init(&b);
  hs_vclock c;
  hs_vclock_init(&c);
  hs_vclock_set(&c, 1, 1);
  rval v = rv_int(5);
  hs_ml_version good = {v.b, sizeof v.b, &c, 1, 1};
  /* two versions: a good one, then one with a bad value */
  hs_wr32(&b, 2);
  hs_ml_version_encode(&good, &b);
  hs_ml_version bad = good;
  bad.value_len = 3;
  hs_ml_version_encode(&bad, &b);
  hs_repl_msg m = {.type = HS_REPL_MSG_ML_REPLICATE, .from = 1, .to = 2, .key = (const uint8_t *)"y", .key_len = 1,
                   .blob = b.data, .blob_len = (uint32_t)b.len};
  assert_rc(hs_ml_step(n[2], &m, net.now), HS_EINVAL);
  /* clock ids out of order */
  hs_buf_reset(&b);
  hs_wr32(&b, 1);
  hs_wr32(&b, 1);
  hs_wr64(&b, 1);
  hs_wr32(&b, 2);
  hs_wr32(&b, 3);
  hs_wr64(&b, 1);
  hs_wr32(&b, 2);
  hs_wr64(&b, 1);
  hs_wr_bytes(&b, v.b, sizeof v.b);
  m.blob = b.data;
  m.blob_len = (uint32_t)b.len;
  assert_rc(hs_ml_step(n[2], &m, net.now), HS_EINVAL);
  /* trailing bytes */
  hs_buf_reset(&b);
  hs_wr32(&b, 1);
  hs_ml_version_encode(&good, &b);
  hs_wr32(&b, 0);
  m.blob = b.data;
  m.blob_len = (uint32_t)b.len;
  assert_rc(hs_ml_step(n[2], &m, net.now), HS_EINVAL);
  /* a tree of another shape, an odd pair list, a bucket out of range, a wrong destination */
  uint64_t pairs[3] = {0, 1, 2};
  hs_repl_msg h = {.type = HS_REPL_MSG_ML_HASHES, .from = 1, .to = 2, .commit = 7 << 8 | 1, .nums = pairs, .n_nums = 2};
  assert_rc(hs_ml_step(n[2], &h, net.now), HS_EINVAL);
  h.commit = 6 << 8 | 1;
  h.n_nums = 3;
  assert_rc(hs_ml_step(n[2], &h, net.now), HS_EINVAL);
  uint64_t bucket = 64;
  hs_repl_msg k = {.type = HS_REPL_MSG_ML_KEYS, .from = 1, .to = 2, .commit = 6 << 8 | 1, .nums = &bucket, .n_nums = 1};
  assert_rc(hs_ml_step(n[2], &k, net.now), HS_EINVAL);
  m.to = 3;
  assert_rc(hs_ml_step(n[2], &m, net.now), HS_EINVAL);
  assert_u64(stats(n[2]).malformed, 7);
  assert_u64(hs_ml_root_hash(n[2]), root);
  assert_int_equal(read_int(n[2], "y"), -1);
  assert_u64(net.q.len, 0);
  hs_buf_free(&b);
  hs_vclock_free(&c);
  free_all(&net, n, 2);
}

/* ---- randomized worlds -------------------------------------------------------------------------- */

#define WN 4
#define SEEDS 150

typedef struct mlworld {
  rnet net;
  hs_ml *n[WN + 1];
  hs_ml *oracle; /* every accepted write, merged: what every replica must end up with */
  hs_time_ns next_action;
  bool siblings;
  uint64_t writes, crashes, partitions;
  hs_buf scratch;
} mlworld;

static void oracle_send(void *ud, const hs_repl_msg *m) {
  (void)ud;
  (void)m;
}

static void mw_write(mlworld *w, uint32_t id) {
  char key[16];
  snprintf(key, sizeof key, "k%llu", (unsigned long long)hs_rng_below(&w->net.rng, 12));
  rval v = rv_int((int64_t)hs_rng_below(&w->net.rng, 1000));
  hs_ml_version written;
  assert_rc(hs_ml_write(w->n[id], w->net.now, key, strlen(key), v.b, sizeof v.b, &written), HS_OK);
  hs_buf_reset(&w->scratch);
  hs_wr32(&w->scratch, 1);
  hs_ml_version_encode(&written, &w->scratch);
  hs_repl_msg m = {.type = HS_REPL_MSG_ML_REPLICATE, .from = id, .to = 99, .key = (const uint8_t *)key,
                   .key_len = (uint32_t)strlen(key), .blob = w->scratch.data, .blob_len = (uint32_t)w->scratch.len};
  assert_rc(hs_ml_step(w->oracle, &m, w->net.now), HS_OK);
  w->writes++;
}

static void mw_action(rnet *net, void *ud) {
  mlworld *w = ud;
  uint64_t dice = hs_rng_below(&net->rng, 100);
  uint32_t id = (uint32_t)hs_rng_below(&net->rng, WN) + 1;
  if (dice < 60) {
    if (!net->nodes[id].down) mw_write(w, id);
  } else if (dice < 68) {
    static const uint32_t ids[WN] = {1, 2, 3, 4};
    fw_partition(net->cut, ids, WN, &net->rng);
    w->partitions++;
  } else if (dice < 76) {
    memset(net->cut, 0, sizeof net->cut);
  } else if (dice < 83) {
    if (!net->nodes[id].down) {
      hs_ml_crash(w->n[id]);
      net->nodes[id].down = true;
      w->crashes++;
    }
  } else if (dice < 92) {
    if (net->nodes[id].down) {
      net->nodes[id].down = false;
      hs_ml_restart(w->n[id], net->now);
    }
  } else {
    static const double rates[] = {0, 0.05, 0.2, 0.5};
    net->link.loss = rates[hs_rng_below(&net->rng, 4)];
    net->link.dup = rates[hs_rng_below(&net->rng, 4)];
  }
  w->next_action = net->now + (hs_time_ns)(hs_rng_exponential(&net->rng, 5.0) * MS) + 1;
}

static bool mw_converged(mlworld *w) {
  for (uint32_t i = 1; i <= WN; i++)
    if (!same_state(w->n[i], w->oracle)) return false;
  return true;
}

/* One seed: chaos for 2 s, then no faults and no writes: anti-entropy must bring every
 * replica to the oracle's state within 5 s. Returns the time it took, or -1. */
static hs_time_ns mw_run(uint64_t seed, mlworld *w) {
  memset(w, 0, sizeof *w);
  rn_init(&w->net, true, seed);
  w->siblings = seed % 2 == 0;
  hs_ml_resolver res = w->siblings ? hs_ml_resolver_siblings() : hs_ml_resolver_lww();
  ml_cluster(&w->net, w->n, WN, res, 40 * MS, seed);
  hs_ml_config oc;
  hs_ml_config_init(&oc);
  oc.id = 99;
  oc.resolver = res;
  oc.merkle_leaf_bits = 6;
  oc.cb.send = oracle_send;
  assert_rc(hs_ml_new(&oc, &w->oracle), HS_OK);
  hs_buf_init(&w->scratch);
  w->net.link.lat_max = 20 * MS;
  w->next_action = 1;
  rn_run_until(&w->net, 2000 * MS, &w->next_action, mw_action, NULL, w);
  fw_heal(&w->net.link, w->net.cut);
  for (uint32_t i = 1; i <= WN; i++)
    if (w->net.nodes[i].down) {
      w->net.nodes[i].down = false;
      hs_ml_restart(w->n[i], w->net.now);
    }
  hs_time_ns quiet = w->net.now;
  while (w->net.now < quiet + 5000 * MS && !mw_converged(w)) rn_run_until(&w->net, w->net.now + 20 * MS, NULL, NULL, NULL, w);
  return mw_converged(w) ? w->net.now - quiet : -1;
}

static void mw_free(mlworld *w) {
  for (uint32_t i = 1; i <= WN; i++) hs_ml_free(w->n[i]);
  hs_ml_free(w->oracle);
  rn_free(&w->net);
  hs_buf_free(&w->scratch);
}

static void test_random_worlds_converge(void **s) {
  (void)s;
  uint64_t writes = 0, crashes = 0, partitions = 0, conflicts = 0, repaired = 0, siblings = 0;
  hs_time_ns worst = 0;
  for (uint64_t seed = 1; seed <= SEEDS; seed++) {
    mlworld *w = malloc(sizeof *w);
    hs_time_ns took = mw_run(seed, w);
    if (took < 0 || w->net.violation)
      fail_msg("seed %llu: replicas did not converge to the accepted writes (%s)", (unsigned long long)seed,
               w->net.violation ? w->net.why : "timeout");
    if (took > worst) worst = took;
    writes += w->writes;
    crashes += w->crashes;
    partitions += w->partitions;
    for (uint32_t i = 1; i <= WN; i++) {
      hs_ml_stats st = stats(w->n[i]);
      conflicts += st.conflicts_detected;
      repaired += st.anti_entropy_keys_repaired;
      assert_u64(st.malformed, 0);
    }
    if (w->siblings)
      for (uint32_t k = 0; k < hs_ml_key_count(w->oracle); k++) {
        uint32_t len;
        const uint8_t *key = hs_ml_key_at(w->oracle, k, &len);
        const hs_ml_version *v;
        uint32_t n;
        hs_ml_read(w->oracle, key, len, &v, &n);
        siblings += n > 1;
      }
    mw_free(w);
    free(w);
  }
  print_message("%d seeds: %llu writes, %llu conflicts detected, %llu keys repaired by anti-entropy, "
                "%llu keys left with siblings, %llu crashes, %llu partitions; converged within %.2f s of the "
                "faults stopping\n",
                SEEDS, (unsigned long long)writes, (unsigned long long)conflicts, (unsigned long long)repaired,
                (unsigned long long)siblings, (unsigned long long)crashes, (unsigned long long)partitions,
                (double)worst / 1e9);
  assert_true(conflicts > 0 && repaired > 0 && siblings > 0 && crashes > 0);
}

static void test_random_world_is_deterministic(void **s) {
  (void)s;
  uint64_t sig[2][3];
  for (int k = 0; k < 2; k++) {
    mlworld *w = malloc(sizeof *w);
    assert_true(mw_run(77, w) >= 0);
    sig[k][0] = w->net.seq;
    sig[k][1] = hs_ml_root_hash(w->n[1]);
    sig[k][2] = (uint64_t)w->net.now;
    mw_free(w);
    free(w);
  }
  assert_memory_equal(sig[0], sig[1], sizeof sig[0]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_equal_clocks_are_not_conflicts),
      cmocka_unit_test(test_causal_overwrite_replaces),
      cmocka_unit_test(test_concurrent_writes_lww),
      cmocka_unit_test(test_siblings_kept_then_collapsed),
      cmocka_unit_test(test_custom_resolvers),
      cmocka_unit_test(test_anti_entropy_repairs),
      cmocka_unit_test(test_anti_entropy_100k_keys_10_differences),
      cmocka_unit_test(test_malformed_refused),
      cmocka_unit_test(test_random_worlds_converge),
      cmocka_unit_test(test_random_world_is_deterministic),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
