/*
 * test_repl_chain_unsafe.c - the chain checker catches a broken CRAQ.
 *
 * The chain sources are compiled into this test with HS_CRAQ_UNSAFE_DIRTY_READS defined, which
 * makes a CRAQ node answer a dirty (uncommitted) version as if it were clean; the engine
 * library itself is never built so (its hs_chain_unsafe_build() is false, checked by
 * test_repl_chain_random). Random CRAQ worlds then go until a read breaks the per-key check
 * (a version read before it committed is followed by an older one, or is lost), which must
 * happen within a few seeds.
 */
#define HS_CRAQ_UNSAFE_DIRTY_READS 1
#include "../../engine/repl/hs_chain.c"
#include "../../engine/repl/hs_chain_obj.c"

#include "test_repl_chain_world.h"

static void test_dirty_reads_as_clean_are_caught(void **s) {
  (void)s;
  assert_true(hs_chain_unsafe_build());
  uint64_t found = 0;
  for (uint64_t seed = 1; seed <= 200 && !found; seed++) {
    cworld *w = malloc(sizeof *w);
    cw_init(w, seed, true);
    if (!cw_run(w, 4000 * MS)) {
      if (!strstr(w->net.why, "read key")) fail_msg("seed %llu: %s", (unsigned long long)seed, w->net.why);
      print_message("seed %llu, t = %.3f s: %s\n", (unsigned long long)seed, (double)w->net.now / 1e9, w->net.why);
      found = seed;
    }
    cw_free(w);
    free(w);
  }
  assert_true(found != 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dirty_reads_as_clean_are_caught),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
