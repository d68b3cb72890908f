/* hs_value: the byte encoding of payloads and commands. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "happysim.h"
#include "sm/hs_kv.h"

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

/* hs_value_iter: the array values, then the pairs, each exactly its encoding. */
static void test_iter(void **state) {
  (void)state;
  hs_buf b;
  hs_buf_init(&b);
  build_command(&b);
  hs_value_iter it;
  hs_value item, k, v;
  size_t n;
  assert_true(hs_value_iter_init(&it, view(&b)));
  assert_true(hs_value_iter_next(&it, &item));
  assert_int_equal(6, item.len);
  assert_memory_equal("a", hs_value_string(item, &n), 1);
  assert_true(hs_value_iter_next(&it, &item));
  assert_memory_equal("b", hs_value_string(item, &n), 1);
  assert_false(hs_value_iter_next(&it, &item));
  const char *keys[] = {"op", "key", "value"};
  for (int i = 0; i < 3; i++) {
    assert_true(hs_value_iter_pair(&it, &k, &v));
    const char *s = hs_value_string(k, &n);
    assert_int_equal(strlen(keys[i]), n);
    assert_memory_equal(keys[i], s, n);
    assert_int_equal(v.len, hs_value_size(v));
  }
  assert_false(hs_value_iter_pair(&it, &k, &v));
  assert_false(it.failed);
  assert_int_equal(b.len, it.off);
  /* pairs first: the array values are skipped */
  assert_true(hs_value_iter_init(&it, view(&b)));
  assert_true(hs_value_iter_pair(&it, &k, &v));
  assert_memory_equal("op", hs_value_string(k, &n), 2);
  /* truncated: the walk stops and says so, never reading past the end */
  for (size_t len = 9; len < b.len; len++) {
    assert_true(hs_value_iter_init(&it, (hs_value){b.data, len}));
    uint32_t items = 0;
    while (hs_value_iter_next(&it, &item)) items++;
    while (hs_value_iter_pair(&it, &k, &v)) items += 2;
    assert_true(it.failed);
    assert_true(items < 8);
  }
  /* not a table */
  hs_buf_reset(&b);
  hs_buf_put_int(&b, 1);
  assert_false(hs_value_iter_init(&it, view(&b)));
  assert_false(hs_value_iter_next(&it, &item));
  assert_false(hs_value_iter_pair(&it, &k, &v));
  hs_buf_free(&b);
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

/* A KV snapshot writes its pairs in the canonical order of hs_lua_value.c (by the encoded
 * keys' bytes: string tag, u32 little-endian length, bytes), whatever the insertion order. */
static void test_kv_snapshot_is_canonical(void **state) {
  (void)state;
  hs_kv kv;
  hs_kv_init(&kv);
  hs_buf cmd, out;
  hs_buf_init(&cmd);
  hs_buf_init(&out);
  const char *keys[] = {"zz", "a", "b", "aaa", "k10", "k9", "", "x", "yy", "longer-key-300"};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    hs_buf_reset(&cmd);
    hs_buf_put_table(&cmd, 0, 3);
    hs_buf_put_string(&cmd, "op", 2);
    hs_buf_put_string(&cmd, "set", 3);
    hs_buf_put_string(&cmd, "key", 3);
    hs_buf_put_string(&cmd, keys[i], strlen(keys[i]));
    hs_buf_put_string(&cmd, "value", 5);
    hs_buf_put_int(&cmd, (int64_t)i);
    hs_buf_reset(&out);
    assert_null(hs_kv_apply(&kv, view(&cmd), &out));
  }
  hs_buf snap;
  hs_buf_init(&snap);
  hs_kv_snapshot(&kv, &snap);
  hs_value_iter it;
  assert_true(hs_value_iter_init(&it, view(&snap)));
  assert_int_equal(0, it.narr);
  assert_int_equal(10, it.nmap);
  const uint8_t *prev = NULL;
  size_t prev_len = 0;
  hs_value k, v;
  while (hs_value_iter_pair(&it, &k, &v)) {
    if (prev) {
      size_t n = prev_len < k.len ? prev_len : k.len;
      int c = memcmp(prev, k.p, n);
      assert_true(c < 0 || (c == 0 && prev_len < k.len));
    }
    prev = k.p;
    prev_len = k.len;
  }
  assert_false(it.failed);
  assert_int_equal(10, it.map_read);
  assert_int_equal(snap.len, it.off);
  hs_buf_free(&snap);
  hs_buf_free(&cmd);
  hs_buf_free(&out);
  hs_kv_free(&kv);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_scalars),
      cmocka_unit_test(test_tables),
      cmocka_unit_test(test_iter),
      cmocka_unit_test(test_truncated_input_is_rejected),
      cmocka_unit_test(test_kv_snapshot_is_canonical),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
