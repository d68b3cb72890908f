/*
 * test_repl_chain_random.c - hundreds of seeded worlds of a 4-node chain, plain and CRAQ, under
 * loss, duplication, reordering, partitions and crash/restart, with the per-key checker of
 * test_repl_chain_world.h on every read; a failure prints the seed.
 */
#include "test_repl_chain_world.h"

#define SEEDS 150

static void run_seeds(bool craq, uint64_t first) {
  uint64_t accepted = 0, committed = 0, reads = 0, dirty = 0, crashes = 0, partitions = 0, epochs = 0, snaps = 0;
  for (uint64_t seed = first; seed < first + SEEDS; seed++) {
    cworld *w = malloc(sizeof *w);
    cw_init(w, seed, craq);
    if (!cw_run(w, 4000 * MS)) {
      char why[512];
      snprintf(why, sizeof why, "%s", w->net.why);
      hs_time_ns at = w->net.now;
      cw_free(w);
      free(w);
      fail_msg("%s, seed %llu, t = %.3f s: %s", craq ? "CRAQ" : "plain chain", (unsigned long long)seed,
               (double)at / 1e9, why);
    }
    for (uint32_t i = 1; i <= CW_N; i++) {
      hs_chain_stats st;
      hs_chain_get_stats(w->n[i], &st);
      committed += st.writes_committed;
      dirty += st.dirty_reads;
      snaps += st.snapshots_installed;
      if (st.malformed)
        fail_msg("seed %llu: node %u refused %llu messages", (unsigned long long)seed, i, (unsigned long long)st.malformed);
    }
    accepted += w->accepted;
    reads += w->reads_ok;
    crashes += w->crashes;
    partitions += w->partitions;
    epochs += hs_repl_master_epoch(w->m) - 1;
    cw_free(w);
    free(w);
  }
  print_message("%s, %d seeds: %llu writes accepted (%llu committed), %llu reads checked (%llu dirty, asked the "
                "tail), %llu reconfigurations, %llu state transfers, %llu crashes, %llu partitions\n",
                craq ? "CRAQ" : "plain chain", SEEDS, (unsigned long long)accepted, (unsigned long long)committed,
                (unsigned long long)reads, (unsigned long long)dirty, (unsigned long long)epochs,
                (unsigned long long)snaps, (unsigned long long)crashes, (unsigned long long)partitions);
  assert_true(committed > accepted / 2 && epochs > 0 && snaps > 0 && crashes > 0);
  if (craq) assert_true(dirty > 0);
}

static void test_plain_chain_worlds(void **s) {
  (void)s;
  assert_false(hs_chain_unsafe_build());
  run_seeds(false, 1);
}

static void test_craq_worlds(void **s) {
  (void)s;
  run_seeds(true, 1001);
}

static void test_world_is_deterministic(void **s) {
  (void)s;
  uint64_t sig[2][3];
  for (int k = 0; k < 2; k++) {
    cworld *w = malloc(sizeof *w);
    cw_init(w, 4242, true);
    assert_true(cw_run(w, 3000 * MS));
    sig[k][0] = w->net.seq;
    sig[k][1] = w->accepted;
    sig[k][2] = hs_repl_master_epoch(w->m);
    cw_free(w);
    free(w);
  }
  assert_memory_equal(sig[0], sig[1], sizeof sig[0]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_plain_chain_worlds),
      cmocka_unit_test(test_craq_worlds),
      cmocka_unit_test(test_world_is_deterministic),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
