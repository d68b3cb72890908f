/*
 * test_paxos_random.c - hundreds of seeded runs of 5-node Multi-Paxos and single-decree clusters
 * under message loss, duplication, reordering, partitions, crashes and restarts and forced
 * elections, with the invariant checks of test_paxos_world.h after every event; then the faults
 * stop and every submitted command must end (applied or lost) and fresh ones must be applied on
 * every node. A failure prints the seed.
 */
#include "test_paxos_world.h"

#define MULTI_SEEDS 400
#define SINGLE_SEEDS 300
#define CHAOS_NS (8000 * MS)

/* Quorums, batches and pipelines vary with the seed: majorities, FPaxos in both directions, a
 * phase-2 quorum of one (phase 1 then needs everyone), tiny batches and windows. */
static popts world_opts(uint64_t seed) {
  static const uint32_t q[][2] = {{0, 0}, {4, 2}, {2, 4}, {5, 1}, {3, 3}};
  static const uint32_t slots[] = {1, 2, 16}, inflight[] = {1, 4, 16};
  static const uint64_t windows[] = {65536, 65536, 24};
  popts o = popts_default();
  o.q1 = q[seed % 5][0];
  o.q2 = q[seed % 5][1];
  o.max_slots = slots[(seed / 5) % 3];
  o.max_inflight = inflight[(seed / 15) % 3];
  o.window = windows[(seed / 45) % 3];
  o.et_min = 150 * MS;
  o.et_max = 300 * MS;
  o.hb = 50 * MS;
  o.retry = 50 * MS;
  o.round_timeout = 100 * MS;
  return o;
}

static void fail_seed(pworld *w, const char *kind) {
  char why[400];
  snprintf(why, sizeof why, "%s", w->net.why);
  hs_time_ns at = w->net.now;
  uint64_t seed = w->seed;
  pw_free(w);
  free(w);
  fail_msg("%s seed %llu, t = %.3f s: %s", kind, (unsigned long long)seed, (double)at / 1e9, why);
}

static void test_multi_paxos_random_seeds_keep_invariants(void **s) {
  (void)s;
  assert_false(hs_mpaxos_unsafe_build());
  uint64_t proposals = 0, applied = 0, lost = 0, refused = 0, crashes = 0, partitions = 0, chosen = 0, leaders = 0,
           checks = 0, reproposed = 0, noops = 0, catchups = 0;
  for (uint64_t seed = 1; seed <= MULTI_SEEDS; seed++) {
    pworld *w = malloc(sizeof *w);
    popts o = world_opts(seed);
    pw_init(w, seed, true, &o);
    if (!pw_run(w, CHAOS_NS)) fail_seed(w, "multi-paxos");
    proposals += w->proposals;
    applied += w->applied_mine;
    lost += w->lost;
    refused += w->refused;
    crashes += w->crashes;
    partitions += w->partitions;
    chosen += w->chk.chosen;
    leaders += w->leaders;
    checks += w->chk.checks;
    for (uint32_t i = 1; i <= W_NODES; i++) {
      hs_mpaxos_stats st;
      hs_mpaxos_get_stats(MP(&w->net, i), &st);
      reproposed += st.values_reproposed;
      noops += st.noops_proposed;
      catchups += st.catchups_sent;
    }
    pw_free(w);
    free(w);
  }
  print_message("%d seeds: %llu commands submitted (%llu applied as submitted, %llu lost), %llu refused on "
                "followers, %llu slots chosen, %llu leaderships, %llu values proposed again, %llu no-ops, %llu "
                "catch-up messages, %llu crashes, %llu partitions, %llu checks\n",
                MULTI_SEEDS, (unsigned long long)proposals, (unsigned long long)applied, (unsigned long long)lost,
                (unsigned long long)refused, (unsigned long long)chosen, (unsigned long long)leaders,
                (unsigned long long)reproposed, (unsigned long long)noops, (unsigned long long)catchups,
                (unsigned long long)crashes, (unsigned long long)partitions, (unsigned long long)checks);
  assert_u64(applied + lost, proposals);
  assert_true(applied > proposals / 2);
  assert_true(lost > 0 && refused > 0 && crashes > 0 && reproposed > 0 && noops > 0 && catchups > 0);
}

static void test_single_decree_random_seeds_decide_once(void **s) {
  (void)s;
  uint64_t proposals = 0, crashes = 0, rounds = 0, failed = 0;
  for (uint64_t seed = 1; seed <= SINGLE_SEEDS; seed++) {
    pworld *w = malloc(sizeof *w);
    popts o = world_opts(seed);
    pw_init(w, seed, false, &o);
    if (!pw_run(w, CHAOS_NS / 2)) fail_seed(w, "single-decree");
    proposals += w->proposals;
    crashes += w->crashes;
    for (uint32_t i = 1; i <= W_NODES; i++) {
      hs_paxos_stats st;
      hs_paxos_get_stats(SD(&w->net, i), &st);
      rounds += st.ballots_tried;
      failed += st.proposals_failed;
    }
    pw_free(w);
    free(w);
  }
  print_message("%d seeds: %llu proposals, %llu rounds (%llu failed and retried), %llu crashes; one value decided "
                "everywhere in each\n",
                SINGLE_SEEDS, (unsigned long long)proposals, (unsigned long long)rounds, (unsigned long long)failed,
                (unsigned long long)crashes);
  assert_true(failed > 0 && crashes > 0);
}

/* The same seed gives the same run. */
static void test_random_run_is_deterministic(void **s) {
  (void)s;
  popts o = world_opts(4242);
  uint64_t sig[2][4];
  for (int k = 0; k < 2; k++) {
    pworld *w = malloc(sizeof *w);
    pw_init(w, 4242, true, &o);
    assert_true(pw_run(w, CHAOS_NS));
    sig[k][0] = w->net.seq;
    sig[k][1] = w->chk.chosen;
    sig[k][2] = pn(&w->net, 1)->sm_hash;
    sig[k][3] = (uint64_t)w->net.now;
    pw_free(w);
    free(w);
  }
  assert_memory_equal(sig[0], sig[1], sizeof sig[0]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_multi_paxos_random_seeds_keep_invariants),
      cmocka_unit_test(test_single_decree_random_seeds_decide_once),
      cmocka_unit_test(test_random_run_is_deterministic),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
