/*
 * test_raft_random.c - hundreds of seeded runs of a 5-node cluster under message loss,
 * duplication, reordering, partitions, crashes and restarts, random proposals, reads and
 * membership changes, with Raft's invariants (hs_raft_invariants.h) checked after every event;
 * then the faults stop and the cluster must make progress. A failure prints the seed.
 */
#include "test_raft_world.h"

#define SEEDS 500
#define CHAOS_NS (8000 * MS)

/* Options vary with the seed: tiny batches and pipelines make the paper's corner cases (an old
 * entry on a majority without the new leader's no-op, Figure 8; a stale suffix behind an
 * acknowledged prefix) much more likely. */
static topts world_opts(uint64_t seed) {
  static const uint32_t entries[] = {1, 2, 4, 16}, inflight[] = {1, 2, 8};
  static const uint64_t thresholds[] = {0, 7, 25};
  topts o = topts_full();
  o.et_min = 150 * MS;
  o.et_max = 300 * MS;
  o.hb = 50 * MS;
  o.max_entries = entries[seed % 4];
  o.max_inflight = inflight[(seed / 4) % 3];
  o.snapshot_threshold = thresholds[(seed / 12) % 3];
  o.pre_vote = o.check_quorum = (seed / 36) % 2 == 0;
  return o;
}

static void test_random_seeds_keep_invariants(void **s) {
  (void)s;
  assert_false(hs_raft_unsafe_build());
  uint64_t proposals = 0, applied = 0, lost = 0, crashes = 0, partitions = 0, confs = 0, committed = 0, reads = 0,
           transfers = 0;
  for (uint64_t seed = 1; seed <= SEEDS; seed++) {
    wworld *w = malloc(sizeof *w);
    topts o = world_opts(seed);
    w_init(w, seed, &o);
    if (seed % 3 == 0) { /* leader churn */
      w->churn = true;
      w->action_mean_ms = 10.0;
      w->link.loss = 0.1;
    }
    bool ok = w_run(w, CHAOS_NS);
    if (!ok) {
      char why[256];
      snprintf(why, sizeof why, "%s", w->net.why);
      hs_time_ns at = w->net.now;
      w_free(w);
      free(w);
      fail_msg("seed %llu, t = %.3f s: %s", (unsigned long long)seed, (double)at / 1e9, why);
    }
    proposals += w->proposals;
    applied += w->applied_mine;
    lost += w->lost;
    crashes += w->crashes;
    partitions += w->partitions;
    confs += w->conf_changes;
    committed += w->max_committed;
    reads += w->reads_ok;
    transfers += w->transfers;
    w_free(w);
    free(w);
  }
  print_message("%d seeds: %llu proposals (%llu applied as proposed, %llu lost), %llu entries committed, "
                "%llu reads served, %llu crashes, %llu partitions, %llu membership changes, %llu leadership transfers\n",
                SEEDS, (unsigned long long)proposals, (unsigned long long)applied, (unsigned long long)lost,
                (unsigned long long)committed, (unsigned long long)reads, (unsigned long long)crashes, (unsigned long long)partitions,
                (unsigned long long)confs, (unsigned long long)transfers);
  assert_true(applied > proposals / 2);
  assert_true(lost > 0 && crashes > 0 && confs > 0 && reads > 0 && transfers > 0);
}

/* The same seed gives the same run. */
static void test_random_run_is_deterministic(void **s) {
  (void)s;
  topts o = world_opts(4242);
  uint64_t sig[2][4];
  for (int k = 0; k < 2; k++) {
    wworld *w = malloc(sizeof *w);
    w_init(w, 4242, &o);
    assert_true(w_run(w, CHAOS_NS));
    sig[k][0] = w->net.seq;
    sig[k][1] = w->max_committed;
    sig[k][2] = w->c_chain[w->max_committed];
    sig[k][3] = (uint64_t)w->net.now;
    w_free(w);
    free(w);
  }
  assert_memory_equal(sig[0], sig[1], sizeof sig[0]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_random_seeds_keep_invariants),
      cmocka_unit_test(test_random_run_is_deterministic),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
