/* hs_value: the byte encoding of payloads and commands. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "happysim.h"

static hs_value view(const hs_buf *b) { return (hs_value){b->data, b->len}; }

static void test_scalars(void **state) {
  (void)state;
  hs_buf b;
  hs_buf_init(&b);
  hs_buf_put_int(&b, -42);
  int64_t i = 0;
  assert_true(hs_value_int(view(&b), &i));
  assert_int_equal(-42, i);
  assert_int_equal(9, hs_value_size(view(&b)));
  hs_buf_reset(&b);
  hs_buf_put_double(&b, 2.5);
  double d = 0;
  assert_true(hs_value_number(view(&b), &d));
  assert_true(d == 2.5);
  assert_false(hs_value_int(view(&b), &i));
  hs_buf_reset(&b);
  hs_buf_put_string(&b, "hello", 5);
  size_t n = 0;
  const char *s = hs_value_string(view(&b), &n);
  assert_int_equal(5, n);
  assert_memory_equal("hello", s, 5);
  hs_buf_free(&b);
}

/* { "a", "b", op = "set", key = "x", value = 7 } */
static void build_command(hs_buf *b) {
  hs_buf_put_table(b, 2, 3);
  hs_buf_put_string(b, "a", 1);
  hs_buf_put_string(b, "b", 1);
  hs_buf_put_string(b, "op", 2);
  hs_buf_put_string(b, "set", 3);
  hs_buf_put_string(b, "key", 3);
  hs_buf_put_string(b, "x", 1);
  hs_buf_put_string(b, "value", 5);
  hs_buf_put_int(b, 7);
}

static void test_tables(void **state) {
  (void)state;
  hs_buf b;
  hs_buf_init(&b);
  build_command(&b);
  hs_value v = view(&b), f;
  assert_int_equal(b.len, hs_value_size(v));
  uint32_t narr, nmap;
  assert_true(hs_value_table(v, &narr, &nmap));
  assert_int_equal(2, narr);
  assert_int_equal(3, nmap);
  assert_true(hs_value_index(v, 1, &f));
  size_t n;
  assert_memory_equal("b", hs_value_string(f, &n), 1);
  assert_false(hs_value_index(v, 2, &f));
  assert_true(hs_value_field(v, "value", &f));
  int64_t i;
  assert_true(hs_value_int(f, &i));
  assert_int_equal(7, i);
  assert_false(hs_value_field(v, "missing", &f));
  hs_buf c;
  hs_buf_init(&c);
  build_command(&c);
  assert_true(hs_value_equal(v, view(&c)));
  hs_buf_free(&b);
  hs_buf_free(&c);
}

/* Every truncation of a valid encoding is rejected, never read past its end. */
static void test_truncated_input_is_rejected(void **state) {
  (void)state;
  hs_buf b;
  hs_buf_init(&b);
  build_command(&b);
  for (size_t len = 0; len < b.len; len++) {
    hs_value v = {b.data, len};
    assert_int_equal(0, hs_value_size(v));
    hs_value f;
    assert_false(hs_value_field(v, "value", &f) && hs_value_size(f) == 0);
  }
  uint8_t junk[] = {0x07, 0x01};
  assert_int_equal(HS_V_BAD, hs_value_type((hs_value){junk, sizeof junk}));
  uint8_t huge[] = {0x06, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
  assert_int_equal(0, hs_value_size((hs_value){huge, sizeof huge}));
  hs_buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_scalars),
      cmocka_unit_test(test_tables),
      cmocka_unit_test(test_truncated_input_is_rejected),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
