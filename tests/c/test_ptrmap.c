/* hs_ptrmap: the address map of the Lua binding (queued events, interned event types). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/hs_ptrmap.h"
#include "core/hs_rng.h"

static void test_put_get_remove(void **state) {
  (void)state;
  hs_ptrmap m = {0};
  static char keys[3][64];
  uint32_t v = 0;
  assert_false(hs_ptrmap_get(&m, keys[0], &v));
  assert_false(hs_ptrmap_remove(&m, keys[0]));
  assert_true(hs_ptrmap_put(&m, keys[0], 7));
  assert_true(hs_ptrmap_put(&m, keys[1], 8));
  assert_true(hs_ptrmap_put(&m, keys[0], 9)); /* replaces */
  assert_int_equal(m.count, 2);
  assert_true(hs_ptrmap_get(&m, keys[0], &v));
  assert_int_equal(v, 9);
  assert_false(hs_ptrmap_get(&m, keys[2], &v));
  assert_true(hs_ptrmap_remove(&m, keys[0]));
  assert_false(hs_ptrmap_get(&m, keys[0], &v));
  assert_true(hs_ptrmap_get(&m, keys[1], &v));
  assert_int_equal(v, 8);
  hs_ptrmap_free(&m);
  assert_int_equal(m.count, 0);
}

/* Random puts and removes of addresses 64 bytes apart (as allocated tables are), checked
 * against a plain array after every step: backward-shift deletion keeps every key findable. */
static void test_matches_a_reference_under_churn(void **state) {
  (void)state;
  enum { N = 4096, STEPS = 200000 };
  static char arena[N * 64];
  static uint32_t ref[N]; /* 0: absent, else value */
  memset(ref, 0, sizeof ref);
  hs_ptrmap m = {0};
  hs_rng r;
  hs_rng_seed(&r, 42, "ptrmap", 6);
  uint32_t present = 0;
  for (uint32_t step = 0; step < STEPS; step++) {
    uint32_t i = (uint32_t)(hs_rng_next(&r) % N);
    const void *key = arena + (size_t)i * 64;
    if (ref[i] && (hs_rng_next(&r) & 1)) {
      assert_true(hs_ptrmap_remove(&m, key));
      ref[i] = 0;
      present--;
    } else {
      if (!ref[i]) present++;
      ref[i] = step + 1;
      assert_true(hs_ptrmap_put(&m, key, step + 1));
    }
    if (step % 997 == 0) {
      for (uint32_t j = 0; j < N; j++) {
        uint32_t v;
        bool found = hs_ptrmap_get(&m, arena + (size_t)j * 64, &v);
        assert_int_equal(found, ref[j] != 0);
        if (found) assert_int_equal(v, ref[j]);
      }
    }
  }
  assert_int_equal(m.count, present);
  hs_ptrmap_free(&m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_put_get_remove),
      cmocka_unit_test(test_matches_a_reference_under_churn),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
