/*
 * test_merkle.c - the Merkle tree (engine/repl/hs_merkle.h): equal contents give equal
 * hashes whatever the order of updates; diff finds exactly the differing keys; the
 * level-by-level exchange between two 100,000-key replicas that differ in 10 keys sends
 * O(10 log n) hashes and finds exactly the buckets of those keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/hs_rng.h"
#include "repl/hs_merkle.h"

#define assert_u64(actual, expected)                                                                         \
  do {                                                                                                       \
    uint64_t a_ = (uint64_t)(actual), e_ = (uint64_t)(expected);                                             \
    if (a_ != e_)                                                                                            \
      fail_msg("%s = %llu, expected %llu", #actual, (unsigned long long)a_, (unsigned long long)e_);         \
  } while (0)

static int key_of(char *buf, uint64_t i) { return snprintf(buf, 32, "key-%llu", (unsigned long long)i); }

static void put(hs_merkle *t, uint64_t i, uint64_t v) {
  char k[32];
  int n = key_of(k, i);
  assert_int_equal(HS_OK, hs_merkle_update(t, k, (size_t)n, v * 0x9e3779b97f4a7c15ULL + 1));
}

static void test_order_free_and_lazy(void **s) {
  (void)s;
  hs_merkle a, b;
  assert_int_equal(HS_OK, hs_merkle_init(&a, 8, 2));
  assert_int_equal(HS_OK, hs_merkle_init(&b, 8, 2));
  assert_u64(hs_merkle_root(&a), 0); /* empty */
  for (uint64_t i = 0; i < 500; i++) put(&a, i, i);
  for (uint64_t i = 500; i-- > 0;) put(&b, i, i + 7); /* other values first, in reverse order */
  assert_true(hs_merkle_root(&a) != hs_merkle_root(&b));
  for (uint64_t i = 0; i < 500; i += 3) put(&b, i, i);
  for (uint64_t i = 1; i < 500; i += 3) put(&b, i, i);
  assert_true(hs_merkle_root(&a) != hs_merkle_root(&b));
  for (uint64_t i = 2; i < 500; i += 3) put(&b, i, i);
  assert_u64(hs_merkle_root(&a), hs_merkle_root(&b));
  assert_true(hs_merkle_root(&a) != 0);
  put(&a, 17, 18);
  assert_true(hs_merkle_root(&a) != hs_merkle_root(&b));
  put(&a, 17, 17); /* back: the leaf sum returns exactly */
  assert_u64(hs_merkle_root(&a), hs_merkle_root(&b));
  /* shapes */
  hs_merkle c;
  assert_int_equal(HS_EINVAL, hs_merkle_init(&c, 7, 2));
  assert_int_equal(HS_EINVAL, hs_merkle_init(&c, 8, 0));
  assert_int_equal(HS_EINVAL, hs_merkle_init(&c, 30, 1));
  assert_int_equal(HS_OK, hs_merkle_init(&c, 6, 3));
  assert_int_equal(HS_EINVAL, hs_merkle_diff(&a, &c, NULL, NULL, NULL));
  hs_merkle_free(&a);
  hs_merkle_free(&b);
  hs_merkle_free(&c);
}

typedef struct seen {
  char keys[64][32];
  int n;
} seen;

static void note_key(void *ud, const uint8_t *key, uint32_t len) {
  seen *s = ud;
  assert_true(s->n < 64 && len < 32);
  memcpy(s->keys[s->n], key, len);
  s->keys[s->n][len] = 0;
  s->n++;
}

static bool has_key(const seen *s, const char *k) {
  for (int i = 0; i < s->n; i++)
    if (!strcmp(s->keys[i], k)) return true;
  return false;
}

/* diff reports exactly: changed values, keys only in a, keys only in b. */
static void test_diff_exact(void **s) {
  (void)s;
  hs_merkle a, b;
  assert_int_equal(HS_OK, hs_merkle_init(&a, 10, 1));
  assert_int_equal(HS_OK, hs_merkle_init(&b, 10, 1));
  for (uint64_t i = 0; i < 2000; i++) {
    put(&a, i, i);
    put(&b, i, i);
  }
  put(&a, 5, 99);     /* changed */
  put(&b, 1500, 1);   /* changed */
  put(&a, 3000, 1);   /* only in a */
  put(&b, 4000, 1);   /* only in b */
  seen sn = {0};
  uint64_t compared = 0;
  assert_int_equal(4, hs_merkle_diff(&a, &b, note_key, &sn, &compared));
  assert_int_equal(4, sn.n);
  assert_true(has_key(&sn, "key-5") && has_key(&sn, "key-1500") && has_key(&sn, "key-3000") &&
              has_key(&sn, "key-4000"));
  assert_true(compared < 4 * 2 * 11 + 1); /* only the differing paths are walked */
  seen sn2 = {0};
  assert_int_equal(4, hs_merkle_diff(&b, &a, note_key, &sn2, NULL));
  put(&b, 5, 99);
  put(&a, 1500, 1);
  put(&b, 3000, 1);
  put(&a, 4000, 1);
  assert_int_equal(0, hs_merkle_diff(&a, &b, NULL, NULL, NULL));
  assert_u64(hs_merkle_root(&a), hs_merkle_root(&b));
  hs_merkle_free(&a);
  hs_merkle_free(&b);
}

/* The exchange of hs_merkle_compare steps between a and b, as two replicas would run it:
 * returns the hashes sent and fills `buckets` with the differing leaves found. */
static uint64_t exchange(hs_merkle *a, hs_merkle *b, hs_merkle_out *buckets, uint32_t *rounds) {
  hs_merkle *side[2] = {b, a}; /* a starts: it sends its root, b compares */
  hs_merkle_out msg = {0}, next = {0};
  hs_merkle_out_push(&msg, 0);
  hs_merkle_out_push(&msg, hs_merkle_root(a));
  uint64_t sent = 1;
  *rounds = 0;
  buckets->n = 0;
  for (uint32_t level = 0; msg.n; level++) {
    hs_merkle *t = side[level % 2];
    int64_t d = hs_merkle_compare(t, level, msg.v, msg.n / 2, &next);
    assert_true(d >= 0);
    (*rounds)++;
    if (level == t->depth) {
      for (uint32_t i = 0; i < next.n; i++) hs_merkle_out_push(buckets, next.v[i]);
      break;
    }
    sent += next.n / 2;
    hs_merkle_out tmp = msg;
    msg = next;
    next = tmp;
  }
  hs_merkle_out_free(&msg);
  hs_merkle_out_free(&next);
  return sent;
}

static int cmp_u64(const void *x, const void *y) {
  uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
  return a < b ? -1 : a > b;
}

/* Two 100,000-key replicas differing in 10 keys: the exchange finds exactly their buckets and
 * sends O(10 log n) hashes. */
static void test_exchange_100k_10_differences(void **s) {
  (void)s;
  const uint32_t shapes[][2] = {{17, 1}, {16, 2}, {16, 4}};
  for (size_t sh = 0; sh < 3; sh++) {
    uint32_t leaf_bits = shapes[sh][0], fb = shapes[sh][1];
    hs_merkle a, b;
    assert_int_equal(HS_OK, hs_merkle_init(&a, leaf_bits, fb));
    assert_int_equal(HS_OK, hs_merkle_init(&b, leaf_bits, fb));
    for (uint64_t i = 0; i < 100000; i++) {
      put(&a, i, i);
      put(&b, i, i);
    }
    hs_rng rng;
    hs_rng_seed(&rng, 12, "merkle", 6);
    uint64_t want[10];
    for (int d = 0; d < 10; d++) {
      uint64_t k = hs_rng_below(&rng, 100000);
      put(&b, k, k + 1000000);
      char key[32];
      int n = key_of(key, k);
      want[d] = hs_merkle_bucket_of(&b, (uint32_t)hs_merkle_find(&b, key, (size_t)n));
    }
    qsort(want, 10, sizeof want[0], cmp_u64);
    hs_merkle_out buckets = {0};
    uint32_t rounds;
    uint64_t hashes = exchange(&a, &b, &buckets, &rounds);
    qsort(buckets.v, buckets.n, sizeof *buckets.v, cmp_u64);
    uint32_t distinct = 0;
    for (int d = 0; d < 10; d++)
      if (d == 0 || want[d] != want[d - 1]) want[distinct++] = want[d];
    assert_u64(buckets.n, distinct);
    for (uint32_t i = 0; i < distinct; i++) assert_u64(buckets.v[i], want[i]);
    uint64_t fan = 1u << fb, bound = 10 * 2 * (uint64_t)leaf_bits * fan;
    print_message("100,000 keys, 10 differences, %u leaves, fanout %llu: %llu hashes sent in %u rounds "
                  "(bound %llu), %u buckets to ship\n",
                  1u << leaf_bits, (unsigned long long)fan, (unsigned long long)hashes, rounds,
                  (unsigned long long)bound, buckets.n);
    assert_true(hashes < bound);
    assert_u64(rounds, a.depth + 1);
    hs_merkle_out_free(&buckets);
    hs_merkle_free(&a);
    hs_merkle_free(&b);
  }
}

/* Malformed protocol input is refused. */
static void test_compare_refuses_bad_indices(void **s) {
  (void)s;
  hs_merkle t;
  assert_int_equal(HS_OK, hs_merkle_init(&t, 4, 2));
  hs_merkle_out out = {0};
  uint64_t pairs[2] = {16, 0};
  assert_int_equal(HS_EINVAL, hs_merkle_compare(&t, 1, pairs, 1, &out));
  pairs[0] = 3;
  assert_int_equal(0, hs_merkle_compare(&t, 1, pairs, 1, &out)); /* both empty */
  assert_int_equal(HS_EINVAL, hs_merkle_compare(&t, 3, pairs, 1, &out));
  hs_merkle_out_free(&out);
  hs_merkle_free(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_order_free_and_lazy),
      cmocka_unit_test(test_diff_exact),
      cmocka_unit_test(test_exchange_100k_10_differences),
      cmocka_unit_test(test_compare_refuses_bad_indices),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
