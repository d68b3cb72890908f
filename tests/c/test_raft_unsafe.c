/*
 * test_raft_unsafe.c - the shipped invariant checker catches a broken Raft.
 *
 * The Raft core's sources are compiled into this test with HS_RAFT_UNSAFE_DOUBLE_VOTE
 * defined, which lets a follower grant a second vote in a term; the engine library itself is
 * never built so (its hs_raft_unsafe_build() is false, checked by test_raft_random). The
 * checker is not recompiled: it is engine/raft/hs_raft_invariants.c from the engine library,
 * the same object hs.RaftChecker runs in Lua. Random runs of test_raft_world.h go until one
 * breaks election safety, which must happen within a few seeds, and the violation must be
 * the checker's.
 */
#define HS_RAFT_UNSAFE_DOUBLE_VOTE 1
#include "../../engine/raft/hs_raft.c"
#include "../../engine/raft/hs_raft_conf.c"
#include "../../engine/raft/hs_raft_elect.c"
#include "../../engine/raft/hs_raft_log.c"
#include "../../engine/raft/hs_raft_msg.c"
#include "../../engine/raft/hs_raft_read.c"
#include "../../engine/raft/hs_raft_repl.c"

#include "test_raft_world.h"

static void test_double_vote_breaks_election_safety(void **s) {
  (void)s;
  assert_true(hs_raft_unsafe_build());
  topts o = topts_paper(); /* no pre-vote: more contested elections */
  o.et_min = 150 * MS;
  o.et_max = 300 * MS;
  o.hb = 50 * MS;
  o.snapshot_threshold = 25;
  uint64_t found = 0;
  for (uint64_t seed = 1; seed <= 200 && !found; seed++) {
    wworld *w = malloc(sizeof *w);
    w_init(w, seed, &o);
    if (!w_run(w, 6000 * MS)) {
      if (strncmp(w->net.why, "election safety", 15) != 0) fail_msg("seed %llu: %s", (unsigned long long)seed, w->net.why);
      assert_true(w->inv.violated); /* reported by the shipped checker, not by the world */
      assert_string_equal(w->net.why, w->inv.violation);
      print_message("seed %llu, t = %.3f s: %s\n", (unsigned long long)seed, (double)w->net.now / 1e9, w->net.why);
      found = seed;
    }
    w_free(w);
    free(w);
  }
  assert_true(found != 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_double_vote_breaks_election_safety),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
