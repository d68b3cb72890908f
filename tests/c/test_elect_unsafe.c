/*
 * test_elect_unsafe.c - the shipped election invariants catch a broken core.
 *
 * The election core's sources are compiled into this test with HS_ELECT_UNSAFE_VOLATILE_BACKING
 * defined: a restarted node forgets whom it backed in its epoch, as if the backing were not
 * durable, so it may vote or accept twice in one epoch. The engine library itself is never
 * built so (hs_elect_unsafe_build() is false there, checked below through the library's
 * invariants object, which is not recompiled). Random runs of test_elect_world.h with crashes
 * go until a violation, which must come within a few dozen seeds and name one of the
 * properties.
 */
#define HS_ELECT_UNSAFE_VOLATILE_BACKING 1
#include "../../engine/coord/hs_elect.c"
#include "../../engine/coord/hs_elect_bully.c"
#include "../../engine/coord/hs_elect_msg.c"
#include "../../engine/coord/hs_elect_random.c"
#include "../../engine/coord/hs_elect_ring.c"

#include "test_elect_world.h"

static void test_volatile_backing_is_caught(void **s) {
  (void)s;
  assert_true(hs_elect_unsafe_build());
  static const int strategies[] = {EW_RANDOMIZED, EW_BULLY};
  for (int k = 0; k < 2; k++) {
    uint64_t seed = 1;
    char why[256] = "";
    for (; seed <= 200; seed++) {
      eworld *w = malloc(sizeof *w);
      ew_init(w, 5, strategies[k], seed);
      w->chaos = true;
      w->next_action = 10 * MS;
      ew_run_until(w, 10000 * MS);
      bool caught = w->violated;
      if (caught) snprintf(why, sizeof why, "%s", w->why);
      ew_free(w);
      free(w);
      if (caught) break;
    }
    if (seed > 200) fail_msg("strategy %d: 200 seeds and the broken backing was never caught", strategies[k]);
    bool named = !strncmp(why, "one backing per epoch:", 22) || !strncmp(why, "durable backing:", 16) ||
                 !strncmp(why, "leader safety:", 14);
    if (!named) fail_msg("not a violation of the invariants: %s", why);
    print_message("%s caught at seed %llu: %s\n", k ? "bully" : "randomized", (unsigned long long)seed, why);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_volatile_backing_is_caught)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
