/*
 * test_repl_pb_random.c - seeded worlds of three primary-backup nodes and their master under
 * message loss, duplication, reordering, partitions (the master included) and crash/restart,
 * with clients writing to and reading from whichever node believes it is the primary.
 *
 * Sync mode, checked on every read and at the end (a per-key linearizability-style check,
 * positions being log sequence numbers, which the committed log fixes once and for all):
 *   - a read returns the latest acknowledged write of its key or a later one (its position is
 *     at least that of every write acknowledged before it);
 *   - reads never go backwards (at least the position of every earlier read of the key);
 *   - no two writes are ever seen committed at one position;
 *   - every accepted write ends exactly once (committed, timeout, config_changed, crashed),
 *     and after the faults stop every key reads at least its last acknowledged write.
 * Semi-sync mode (k = 1 of 2 backups), with the same checks: a node crashes only while every
 * other one is up, synced and in touch with the master, so the backup that held an
 * acknowledged write is still there when the primary crashes; the master must promote the
 * freshest backup (promoting the first synced one, planted, loses acknowledged writes).
 * Async mode: writes end at once, the new primaries count writes they know were lost, and
 * every write still ends exactly once. A failing seed prints itself.
 */
#include "test_repl_cluster.h"

#include "repl/hs_pb.h"

#define WN 3
#define KEYS 3
#define SEEDS 120
#ifndef SEMI_SEEDS
#define SEMI_SEEDS 150
#endif

static int pb_step(void *c, const hs_repl_msg *m, hs_time_ns now) { return hs_pb_step(c, m, now); }
static int pb_tick(void *c, hs_time_ns now) { return hs_pb_tick(c, now); }
static hs_time_ns pb_deadline(const void *c) { return hs_pb_next_deadline(c); }

typedef struct wop {
  bool write;
  uint32_t key;
  uint64_t pos; /* writes: the log position it was accepted at */
} wop;

typedef struct pbworld {
  rnet net;
  hs_repl_master *m;
  hs_pb *n[WN + 1];
  hs_pb_mode mode;
  bool durable; /* sync, or semi-sync within its failure budget: no acknowledged write is lost */
  wop ops[RC_MAX_OPS];
  uint64_t next_tag;
  uint64_t acked_max[KEYS], read_max[KEYS];
  rc_seen seen; /* position -> the write seen committed there */
  hs_time_ns next_action;
  hs_time_ns link_since[WN + 1]; /* since when each node and the master are not cut apart */
  uint64_t accepted, reads, crashes, primary_crashes, partitions;
} pbworld;

static pbworld *W;
static bool TRACE_ON; /* REPL_TRACE=<seed> prints that seed's views, crashes and writes */

static void seen_commit(pbworld *w, uint64_t pos, uint64_t tag) {
  rc_seen_commit(&w->net, &w->seen, "position", pos, tag);
}

static void on_write_done(void *ud, uint64_t tag, int status, uint64_t seq) {
  (void)ud;
  rc_done(tag, status, seq, -1);
  pbworld *w = W;
  if (RC_OPS[tag].calls > 1) rn_violation(&w->net, "write %llu ended twice", (unsigned long long)tag);
  if (TRACE_ON)
    fprintf(stderr, "%8.3f node %u: write %llu (key %u) ends %s at seq %llu\n", (double)w->net.now / 1e9,
            ((rnode *)ud)->id, (unsigned long long)tag, w->ops[tag].key, hs_repl_error_code(status),
            (unsigned long long)seq);
  if (status != HS_OK) return;
  wop *o = &w->ops[tag];
  if (seq != o->pos) rn_violation(&w->net, "write %llu accepted at %llu, committed at %llu", (unsigned long long)tag,
                                  (unsigned long long)o->pos, (unsigned long long)seq);
  if (w->durable) seen_commit(w, seq, tag);
  if (seq > w->acked_max[o->key]) w->acked_max[o->key] = seq;
}

static uint32_t pick_primary(pbworld *w) {
  uint32_t c[WN], n = 0;
  for (uint32_t i = 1; i <= WN; i++)
    if (!w->net.nodes[i].down && hs_pb_role_of(w->n[i]) == HS_PB_PRIMARY) c[n++] = i;
  if (!n) return 1 + (uint32_t)hs_rng_below(&w->net.rng, WN); /* anyone: refusals are fine */
  return c[hs_rng_below(&w->net.rng, n)];
}

static void do_write(pbworld *w, uint32_t id) {
  uint64_t tag = ++w->next_tag;
  if (tag >= RC_MAX_OPS) return;
  uint32_t key = (uint32_t)hs_rng_below(&w->net.rng, KEYS);
  char k[2] = {(char)('a' + key), 0};
  rval v = rv_int((int64_t)tag);
  w->ops[tag] = (wop){true, key, 0};
  hs_pb_stats before;
  hs_pb_get_stats(w->n[id], &before);
  w->ops[tag].pos = before.last_seq + 1;
  int rc = hs_pb_write(w->n[id], w->net.now, k, 1, v.b, sizeof v.b, tag);
  if (rc != HS_OK) {
    RC_OPS[tag].calls = -1; /* refused: never ends */
    return;
  }
  w->accepted++;
  if (TRACE_ON)
    fprintf(stderr, "%8.3f node %u: write %llu key %u accepted at %llu\n", (double)w->net.now / 1e9, id,
            (unsigned long long)tag, key, (unsigned long long)w->ops[tag].pos);
}

/* A read checked against the acknowledged writes and the earlier reads of its key. */
static void do_read(pbworld *w, uint32_t id, uint32_t key) {
  char k[2] = {(char)('a' + key), 0};
  hs_value v;
  if (hs_pb_read(w->n[id], w->net.now, k, 1, &v) != HS_OK) return;
  if (hs_pb_role_of(w->n[id]) != HS_PB_PRIMARY) return; /* backups' reads may be stale */
  w->reads++;
  int64_t tag = v.len ? rv_get(v.p, v.len) : 0;
  uint64_t pos = 0;
  if (tag) {
    if (tag < 0 || (uint64_t)tag > w->next_tag || !w->ops[tag].write || w->ops[tag].key != key) {
      rn_violation(&w->net, "node %u read %lld for key %u: not a write of that key", id, (long long)tag, key);
      return;
    }
    pos = w->ops[tag].pos;
    if (w->durable) seen_commit(w, pos, (uint64_t)tag);
  }
  if (!w->durable) return;
  if (pos < w->acked_max[key] && TRACE_ON) {
    hs_pb_stats st;
    hs_pb_get_stats(w->n[id], &st);
    fprintf(stderr, "node %u: view %llu last %llu commit %llu snapshots %llu applied %llu\n", id,
            (unsigned long long)st.view, (unsigned long long)st.last_seq, (unsigned long long)st.commit_seq,
            (unsigned long long)st.snapshots_installed, (unsigned long long)st.replications_applied);
  }
  if (pos < w->acked_max[key])
    rn_violation(&w->net, "node %u read key %u at position %llu, a write at %llu was acknowledged before", id, key,
                 (unsigned long long)pos, (unsigned long long)w->acked_max[key]);
  if (pos < w->read_max[key])
    rn_violation(&w->net, "node %u read key %u at position %llu after a read at %llu: backwards", id, key,
                 (unsigned long long)pos, (unsigned long long)w->read_max[key]);
  if (pos > w->read_max[key]) w->read_max[key] = pos;
}

/* The failure budget of volatile replicas with a master: a node may crash only while another
 * one surely holds the data and will be kept: synced in the master's eyes and in its own (a
 * node that restarted since is not, even before the master hears of it), and in touch with
 * the master for a while (a node the master suspects counts as failed: the master may remove
 * it on the word of the node about to crash). */
static uint32_t live_synced_others(pbworld *w, uint32_t except) {
  uint32_t c = 0;
  for (uint32_t i = 1; i <= WN; i++) {
    hs_pb_stats st;
    hs_pb_get_stats(w->n[i], &st);
    bool in_touch = rc_in_touch(&w->net, w->link_since, i);
    if (i != except && !w->net.nodes[i].down && st.synced && hs_repl_master_synced(w->m, i) && in_touch) c++;
  }
  return c;
}

static void note_links(pbworld *w) { rc_note_links(&w->net, w->link_since, WN); }


static void on_view(void *ud, uint64_t view, uint32_t primary, hs_pb_role role) {
  rnode *n = ud;
  if (TRACE_ON)
    fprintf(stderr, "%8.3f node %u: view %llu primary %u, %s\n", (double)n->net->now / 1e9, n->id,
            (unsigned long long)view, primary, hs_pb_role_name(role));
}

static void on_config(void *ud, uint64_t epoch, const uint32_t *members, uint32_t n) {
  rnode *r = ud;
  if (!TRACE_ON) return;
  fprintf(stderr, "%8.3f master: epoch %llu:", (double)r->net->now / 1e9, (unsigned long long)epoch);
  for (uint32_t i = 0; i < n; i++) fprintf(stderr, " %u", members[i]);
  fprintf(stderr, "\n");
}

static void action(rnet *net, void *ud) {
  pbworld *w = ud;
  uint64_t dice = hs_rng_below(&net->rng, 100);
  uint32_t id = 1 + (uint32_t)hs_rng_below(&net->rng, WN);
  if (dice < 45) {
    do_write(w, hs_rng_below(&net->rng, 10) ? pick_primary(w) : id);
  } else if (dice < 70) {
    uint32_t p = pick_primary(w);
    if (!net->nodes[p].down) do_read(w, p, (uint32_t)hs_rng_below(&net->rng, KEYS));
  } else if (dice < 76) { /* a random two-sided partition of nodes and master */
    uint32_t side = (uint32_t)hs_rng_below(&net->rng, 16);
    uint32_t who[4] = {1, 2, 3, RC_MASTER};
    /* semi-sync: the master loses at most one node, and only within the crash budget (a node
     * cut off is removed: a failure); otherwise only links between nodes are cut */
    bool master_too = true;
    if (w->mode == HS_PB_SEMI_SYNC) {
      uint32_t away = 0, x = 0;
      for (uint32_t a = 0; a < WN; a++)
        if (((side >> a) & 1) != ((side >> 3) & 1)) away++, x = who[a];
      master_too = away == 0 || (away == 1 && live_synced_others(w, x) >= WN - 1);
    }
    for (int a = 0; a < 4; a++)
      for (int b = 0; b < 4; b++)
        net->cut[who[a]][who[b]] = ((side >> a) & 1) != ((side >> b) & 1) && (master_too || (a != 3 && b != 3));
    w->partitions++;
    note_links(w);
  } else if (dice < 84) {
    memset(net->cut, 0, sizeof net->cut);
    note_links(w);
  } else if (dice < 89) {
    /* crash, keeping a synced member alive (volatile replicas: all copies gone is data loss);
     * semi-sync: every other one (the one that held a write may be either) */
    uint32_t budget = w->mode == HS_PB_SEMI_SYNC ? WN - 1 : 1;
    if (!net->nodes[id].down && live_synced_others(w, id) >= budget) {
      if (TRACE_ON) fprintf(stderr, "%8.3f crash %u\n", (double)net->now / 1e9, id);
      w->primary_crashes += hs_pb_role_of(w->n[id]) == HS_PB_PRIMARY;
      hs_pb_crash(w->n[id]);
      net->nodes[id].down = true;
      w->crashes++;
    }
  } else if (dice < 95) {
    if (net->nodes[id].down) {
      if (TRACE_ON) fprintf(stderr, "%8.3f restart %u\n", (double)net->now / 1e9, id);
      net->nodes[id].down = false;
      hs_pb_restart(w->n[id], net->now);
    }
  } else {
    fw_random_rates(&net->link, &net->rng);
  }
  w->next_action = net->now + (hs_time_ns)(hs_rng_exponential(&net->rng, 15.0) * MS) + 1;
}

static void world_init(pbworld *w, uint64_t seed, hs_pb_mode mode) {
  memset(w, 0, sizeof *w);
  W = w;
  rn_init(&w->net, true, seed);
  rc_reset_ops(&w->net);
  w->mode = mode;
  w->durable = mode != HS_PB_ASYNC;
  memset(w->link_since, 0, sizeof w->link_since);
  w->m = rc_master(&w->net, WN, 200 * MS, 300 * MS, on_config);
  TRACE_ON = getenv("REPL_TRACE") && strtoull(getenv("REPL_TRACE"), NULL, 10) == seed;
  w->net.trace = TRACE_ON;
  for (uint32_t i = 1; i <= WN; i++) {
    hs_pb_config cfg;
    hs_pb_config_init(&cfg);
    cfg.id = i;
    cfg.master = RC_MASTER;
    cfg.mode = mode;
    cfg.ping_interval_ns = 50 * MS;
    cfg.retry_interval_ns = 25 * MS;
    cfg.write_timeout_ns = 400 * MS;
    cfg.max_log = 64 + 64 * (seed % 3); /* small logs: snapshots happen */
    cfg.cb.send = rn_send;
    cfg.cb.write_done = on_write_done;
    cfg.cb.view_changed = on_view;
    cfg.ud = rn_node(&w->net, i);
    assert_int_equal(HS_OK, hs_pb_new(&cfg, &w->n[i]));
    rn_add(&w->net, i, w->n[i], pb_step, pb_tick, pb_deadline);
  }
  hs_repl_master_start(w->m, 0);
  for (uint32_t i = 1; i <= WN; i++) hs_pb_start(w->n[i], 0);
}

static void world_free(pbworld *w) {
  for (uint32_t i = 1; i <= WN; i++) hs_pb_free(w->n[i]);
  hs_repl_master_free(w->m);
  rn_free(&w->net);
  free(w->seen.at);
}

/* Chaos, then quiet: a ready primary must appear, every accepted write must have ended, and
 * every key must read at least its last acknowledged write. */
static bool world_run(pbworld *w, hs_time_ns chaos) {
  rnet *net = &w->net;
  w->next_action = 10 * MS;
  rn_run_until(net, chaos, &w->next_action, action, NULL, w);
  if (net->violation) return false;
  fw_heal(&net->link, net->cut);
  for (uint32_t i = 1; i <= WN; i++)
    if (net->nodes[i].down) {
      net->nodes[i].down = false;
      hs_pb_restart(w->n[i], net->now);
    }
  hs_time_ns deadline = net->now + 5000 * MS;
  uint32_t p = 0;
  for (; net->now < deadline && !net->violation; rn_run_until(net, net->now + 50 * MS, NULL, NULL, NULL, w)) {
    p = 0;
    for (uint32_t i = 1; i <= WN; i++)
      if (hs_pb_role_of(w->n[i]) == HS_PB_PRIMARY) p = i;
    hs_value v;
    if (p && hs_pb_read(w->n[p], net->now, "a", 1, &v) == HS_OK && net->now > chaos + 1000 * MS) break;
  }
  if (net->violation) return false;
  if (net->now >= deadline) {
    rn_violation(net, "no ready primary after the faults stopped");
    return false;
  }
  for (uint32_t k = 0; k < KEYS; k++) do_read(w, p, k);
  for (uint64_t t = 1; t <= w->next_tag && t < RC_MAX_OPS; t++) {
    if (!w->ops[t].write || RC_OPS[t].calls == -1) continue;
    if (RC_OPS[t].calls != 1) {
      rn_violation(net, "write %llu ended %d times", (unsigned long long)t, RC_OPS[t].calls);
      break;
    }
  }
  return !net->violation;
}

static void run_seeds(hs_pb_mode mode, uint64_t first, uint64_t count) {
  uint64_t accepted = 0, committed = 0, failed = 0, reads = 0, crashes = 0, primary_crashes = 0, partitions = 0,
           views = 0, lost = 0, snapshots = 0;
  for (uint64_t seed = first; seed < first + count; seed++) {
    pbworld *w = malloc(sizeof *w);
    world_init(w, seed, mode);
    if (!world_run(w, 4000 * MS)) {
      char why[512];
      snprintf(why, sizeof why, "%s", w->net.why);
      hs_time_ns at = w->net.now;
      world_free(w);
      free(w);
      fail_msg("%s mode, seed %llu, t = %.3f s: %s", hs_pb_mode_name(mode), (unsigned long long)seed,
               (double)at / 1e9, why);
    }
    for (uint32_t i = 1; i <= WN; i++) {
      hs_pb_stats st;
      hs_pb_get_stats(w->n[i], &st);
      committed += st.writes_committed;
      failed += st.writes_failed;
      lost += st.writes_lost;
      snapshots += st.snapshots_installed;
      if (st.malformed) fail_msg("seed %llu: node %u refused %llu messages", (unsigned long long)seed, i,
                                 (unsigned long long)st.malformed);
    }
    accepted += w->accepted;
    reads += w->reads;
    crashes += w->crashes;
    primary_crashes += w->primary_crashes;
    partitions += w->partitions;
    views += hs_repl_master_epoch(w->m) - 1;
    world_free(w);
    free(w);
  }
  print_message("%s, %llu seeds: %llu writes accepted (%llu committed, %llu failed: timeout, config_changed or "
                "crashed), %llu reads checked, %llu view changes, %llu snapshots installed, %llu crashes, %llu "
                "partitions, %llu writes counted lost, %llu primaries crashed\n",
                hs_pb_mode_name(mode), (unsigned long long)count, (unsigned long long)accepted,
                (unsigned long long)committed, (unsigned long long)failed, (unsigned long long)reads,
                (unsigned long long)views, (unsigned long long)snapshots, (unsigned long long)crashes,
                (unsigned long long)partitions, (unsigned long long)lost, (unsigned long long)primary_crashes);
  assert_u64(committed + failed, accepted);
  assert_true(committed > accepted / 2 && views > 0 && crashes > 0 && snapshots > 0);
  if (mode != HS_PB_ASYNC) assert_u64(lost, 0);
  if (mode == HS_PB_SEMI_SYNC) assert_true(primary_crashes >= count / 2);
  if (mode == HS_PB_ASYNC) assert_true(lost > 0);
}

static void test_sync_worlds(void **s) {
  (void)s;
  run_seeds(HS_PB_SYNC, 1, SEEDS);
}

static void test_async_worlds(void **s) {
  (void)s;
  run_seeds(HS_PB_ASYNC, 1001, SEEDS / 2);
}

static void test_semi_sync_worlds(void **s) {
  (void)s;
  run_seeds(HS_PB_SEMI_SYNC, 2001, SEMI_SEEDS);
}

/* Planted: the master promotes the first synced backup, as before; acknowledged writes are
 * then lost (a read misses one, or two writes are seen committed at one position) on some
 * seeds of the same worlds. */
static void test_semi_sync_first_synced_loses_writes(void **s) {
  (void)s;
  RC_FIRST_SYNCED = true;
  uint32_t caught = 0, first = 0;
  for (uint64_t seed = 2001; seed < 2001 + SEMI_SEEDS; seed++) {
    pbworld *w = malloc(sizeof *w);
    world_init(w, seed, HS_PB_SEMI_SYNC);
    if (!world_run(w, 4000 * MS)) {
      if (!caught++) first = (uint32_t)seed;
      if (caught == 1) print_message("planted (first synced promoted), seed %u: %s\n", first, w->net.why);
    }
    world_free(w);
    free(w);
  }
  RC_FIRST_SYNCED = false;
  print_message("planted (first synced promoted): %u of %u semi-sync seeds lose an acknowledged write\n", caught,
                SEMI_SEEDS);
  assert_true(caught > 0);
}

static void test_world_is_deterministic(void **s) {
  (void)s;
  uint64_t sig[2][3];
  for (int k = 0; k < 2; k++) {
    pbworld *w = malloc(sizeof *w);
    world_init(w, 4242, HS_PB_SYNC);
    assert_true(world_run(w, 3000 * MS));
    sig[k][0] = w->net.seq;
    sig[k][1] = w->accepted;
    sig[k][2] = hs_repl_master_epoch(w->m);
    world_free(w);
    free(w);
  }
  assert_memory_equal(sig[0], sig[1], sizeof sig[0]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sync_worlds),
      cmocka_unit_test(test_async_worlds),
      cmocka_unit_test(test_semi_sync_worlds),
      cmocka_unit_test(test_semi_sync_first_synced_loses_writes),
      cmocka_unit_test(test_world_is_deterministic),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
