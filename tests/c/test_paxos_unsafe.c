/*
 * test_paxos_unsafe.c - the invariant checker catches a broken Multi-Paxos.
 *
 * The Paxos sources are compiled into this test with HS_PAXOS_UNSAFE_IGNORE_PROMISES defined: a
 * new leader ignores the values the promises report (its own acceptor's included) and fills
 * every slot it does not know chosen with a no-op - the Python original's bug. The engine library
 * itself is never built so (its hs_mpaxos_unsafe_build() is false, checked by test_paxos_random).
 * Random runs of the same world as test_paxos_random must then break safety within 100 seeds,
 * and the checker must be what says so.
 */
#define HS_PAXOS_UNSAFE_IGNORE_PROMISES 1
#include "../../engine/paxos/hs_mpaxos.c"
#include "../../engine/paxos/hs_mpaxos_elect.c"
#include "../../engine/paxos/hs_mpaxos_log.c"
#include "../../engine/paxos/hs_mpaxos_repl.c"
#include "../../engine/paxos/hs_paxos.c"
#include "../../engine/paxos/hs_paxos_msg.c"
#include "../../engine/paxos/hs_paxos_util.c"

#include "test_paxos_world.h"

static void test_ignoring_promises_breaks_safety(void **s) {
  (void)s;
  assert_true(hs_mpaxos_unsafe_build());
  uint64_t found = 0, first = 0;
  for (uint64_t seed = 1; seed <= 100; seed++) {
    popts o = popts_default();
    o.et_min = 150 * MS;
    o.et_max = 300 * MS;
    o.hb = 50 * MS;
    pworld *w = malloc(sizeof *w);
    pw_init(w, seed, true, &o);
    if (!pw_run(w, 8000 * MS)) {
      if (!w->chk.violated) fail_msg("seed %llu failed without the checker: %s", (unsigned long long)seed, w->net.why);
      if (!first) {
        first = seed;
        print_message("seed %llu, t = %.3f s: %s\n", (unsigned long long)seed, (double)w->chk.violation_ns / 1e9,
                      w->chk.violation);
      }
      found++;
    }
    pw_free(w);
    free(w);
  }
  print_message("the checker caught the planted bug on %llu of 100 seeds\n", (unsigned long long)found);
  assert_true(found > 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ignoring_promises_breaks_safety),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
