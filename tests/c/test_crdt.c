/* CRDTs (engine/crdt): each type's rules, add-wins without resurrection, malformed states
 * refused, and convergence under random operations with duplicated, reordered and lost
 * gossip over many seeds, checked against what the operations mean. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/hs_rng.h"
#include "crdt/hs_crdt.h"

static hs_value view(const hs_buf *b) { return (hs_value){b->data, b->len}; }

/* An element: the encoded integer v. */
typedef struct {
  uint8_t b[9];
} elem_t;
static elem_t elem(int64_t v) {
  hs_buf b;
  hs_buf_init(&b);
  hs_buf_put_int(&b, v);
  elem_t e;
  memcpy(e.b, b.data, 9);
  hs_buf_free(&b);
  return e;
}

/* Whether two states encode to the same bytes (states carry no replica name of their own). */
#define SAME_STATE(encode, x, y)                                                                                       \
  do {                                                                                                                 \
    hs_buf bx_, by_;                                                                                                   \
    hs_buf_init(&bx_);                                                                                                 \
    hs_buf_init(&by_);                                                                                                 \
    encode(x, &bx_);                                                                                                   \
    encode(y, &by_);                                                                                                   \
    assert_int_equal(bx_.len, by_.len);                                                                                \
    assert_memory_equal(bx_.data, by_.data, bx_.len);                                                                  \
    hs_buf_free(&bx_);                                                                                                 \
    hs_buf_free(&by_);                                                                                                 \
  } while (0)

static void test_gcounter(void **state) {
  (void)state;
  hs_gcounter a, b;
  hs_gcounter_init(&a, "a", 1);
  hs_gcounter_init(&b, "b", 1);
  assert_int_equal(HS_OK, hs_gcounter_increment(&a, 5));
  assert_int_equal(HS_OK, hs_gcounter_increment(&b, 3));
  assert_int_equal(HS_OK, hs_gcounter_increment(&b, 1));
  assert_int_equal(HS_OK, hs_gcounter_merge(&a, &b));
  assert_int_equal(HS_OK, hs_gcounter_merge(&a, &b)); /* idempotent */
  assert_int_equal(9, hs_gcounter_value(&a));
  hs_buf e;
  hs_buf_init(&e);
  hs_gcounter_encode(&a, &e);
  assert_int_equal(HS_OK, hs_gcounter_merge_encoded(&b, view(&e)));
  assert_int_equal(9, hs_gcounter_value(&b));
  SAME_STATE(hs_gcounter_encode, &a, &b);
  /* the total stays an int64: an increment or a merged state past it is refused */
  assert_int_equal(HS_EINVAL, hs_gcounter_increment(&a, (uint64_t)INT64_MAX));
  assert_int_equal(9, hs_gcounter_value(&a));
  hs_buf_free(&e);
  hs_gcounter_free(&a);
  hs_gcounter_free(&b);
}

static void test_pncounter(void **state) {
  (void)state;
  hs_pncounter a, b;
  hs_pncounter_init(&a, "a", 1);
  hs_pncounter_init(&b, "b", 1);
  hs_pncounter_increment(&a, 10);
  hs_pncounter_decrement(&b, 4);
  hs_pncounter_decrement(&a, 1);
  hs_pncounter_merge(&a, &b);
  hs_buf e;
  hs_buf_init(&e);
  hs_pncounter_encode(&a, &e);
  assert_int_equal(HS_OK, hs_pncounter_merge_encoded(&b, view(&e)));
  assert_int_equal(5, hs_pncounter_value(&a));
  assert_int_equal(5, hs_pncounter_value(&b));
  hs_buf_free(&e);
  hs_pncounter_free(&a);
  hs_pncounter_free(&b);
}

static void test_lww(void **state) {
  (void)state;
  hs_lww a, b;
  hs_lww_init(&a, "a", 1);
  hs_lww_init(&b, "b", 1);
  elem_t one = elem(1), two = elem(2), three = elem(3);
  assert_int_equal(HS_OK, hs_lww_set(&a, one.b, 9, 5.0));
  assert_int_equal(HS_OK, hs_lww_set(&b, two.b, 9, 4.0));
  hs_lww_merge(&b, &a);
  assert_memory_equal(one.b, b.value.p, 9); /* the later timestamp wins */
  assert_int_equal(HS_OK, hs_lww_set(&a, three.b, 9, 3.0)); /* an older local write loses too */
  assert_memory_equal(one.b, a.value.p, 9);
  /* equal timestamps: the higher replica id wins, on both sides */
  hs_lww c, d;
  hs_lww_init(&c, "c", 1);
  hs_lww_init(&d, "d", 1);
  hs_lww_set(&c, two.b, 9, 7.0);
  hs_lww_set(&d, three.b, 9, 7.0);
  hs_lww_merge(&c, &d);
  hs_lww_merge(&d, &c);
  assert_memory_equal(three.b, c.value.p, 9);
  SAME_STATE(hs_lww_encode, &c, &d);
  assert_int_equal(HS_EINVAL, hs_lww_set(&c, two.b, 9, 0.0 / 0.0));
  assert_int_equal(HS_EINVAL, hs_lww_set(&c, two.b, 5, 8.0)); /* not a whole value */
  hs_lww_free(&a);
  hs_lww_free(&b);
  hs_lww_free(&c);
  hs_lww_free(&d);
}

static void test_orset_add_wins_and_no_resurrection(void **state) {
  (void)state;
  hs_orset a, b, old;
  hs_orset_init(&a, "a", 1);
  hs_orset_init(&b, "b", 1);
  hs_orset_init(&old, "old", 3);
  elem_t x = elem(42);
  hs_orset_add(&a, x.b, 9);
  hs_orset_merge(&old, &a); /* a stale replica that saw the add */
  hs_orset_merge(&b, &a);
  hs_orset_remove(&b, x.b, 9);
  assert_false(hs_orset_contains(&b, x.b, 9));
  hs_orset_merge(&a, &b);
  assert_false(hs_orset_contains(&a, x.b, 9)); /* the remove reached a */
  hs_orset_merge(&a, &old);
  assert_false(hs_orset_contains(&a, x.b, 9)); /* the stale copy does not bring it back */
  /* a remove concurrent with an add: the add wins */
  hs_orset_add(&a, x.b, 9);
  hs_orset_remove(&old, x.b, 9);
  hs_orset_merge(&old, &a);
  hs_orset_merge(&a, &old);
  assert_true(hs_orset_contains(&a, x.b, 9));
  assert_true(hs_orset_contains(&old, x.b, 9));
  assert_int_equal(1, hs_orset_size(&a));
  hs_orset_free(&a);
  hs_orset_free(&b);
  hs_orset_free(&old);
}

static void test_malformed_states_are_refused(void **state) {
  (void)state;
  hs_orset s;
  hs_orset_init(&s, "s", 1);
  elem_t x = elem(1);
  hs_orset_add(&s, x.b, 9);
  hs_buf e;
  hs_buf_init(&e);
  /* a dot its version vector does not cover */
  hs_buf_put_table(&e, 3, 0);
  hs_buf_put_string(&e, "orset", 5);
  hs_buf_put_table(&e, 2, 0);
  hs_buf_put_string(&e, "r", 1);
  hs_buf_put_int(&e, 1);
  hs_buf_put_table(&e, 3, 0);
  hs_buf_put_int(&e, 7);
  hs_buf_put_string(&e, "r", 1);
  hs_buf_put_int(&e, 2);
  assert_int_equal(HS_EINVAL, hs_orset_merge_encoded(&s, view(&e)));
  assert_int_equal(1, hs_orset_size(&s));
  hs_buf_reset(&e);
  hs_buf_put_table(&e, 2, 0);
  hs_buf_put_string(&e, "gcounter", 8);
  hs_buf_put_table(&e, 2, 0);
  hs_buf_put_string(&e, "r", 1);
  hs_buf_put_int(&e, -3);
  hs_gcounter g;
  hs_gcounter_init(&g, "g", 1);
  assert_int_equal(HS_EINVAL, hs_gcounter_merge_encoded(&g, view(&e)));
  assert_int_equal(HS_EINVAL, hs_orset_merge_encoded(&s, view(&e))); /* the wrong kind */
  /* every truncation of a valid state is refused or merges nothing new */
  hs_buf_reset(&e);
  hs_orset_encode(&s, &e);
  for (size_t cut = 0; cut < e.len; cut++) assert_int_equal(HS_EINVAL, hs_orset_merge_encoded(&s, (hs_value){e.data, cut}));
  assert_int_equal(1, hs_orset_size(&s));
  hs_gcounter_free(&g);
  hs_buf_free(&e);
  hs_orset_free(&s);
}

/* ---- random operations and gossip over many seeds -------------------------------------- */

#define R 4        /* replicas */
#define OPS 300    /* operations per run */
#define ELEMS 6    /* distinct elements */
#define INFLIGHT 64

typedef struct {
  hs_buf state; /* an encoded ORSet or PNCounter state in flight */
  int to;
  int kind; /* 0 orset, 1 pncounter */
} gossip;

typedef struct {
  int e, r;
  uint64_t c; /* an add's dot */
} add_rec;

typedef struct {
  int e;
  hs_vv seen; /* the remover's version vector at the remove */
} remove_rec;

static const char *rname[R] = {"r0", "r1", "r2", "r3"};

/* Whether element e must be in the set: some add of e that no remove of e had seen. */
static bool expected_present(int e, const add_rec *adds, int nadds, remove_rec *rems, int nrems) {
  for (int i = 0; i < nadds; i++) {
    if (adds[i].e != e) continue;
    bool removed = false;
    for (int j = 0; j < nrems && !removed; j++)
      removed = rems[j].e == e && adds[i].c <= hs_vv_get(&rems[j].seen, rname[adds[i].r], 2);
    if (!removed) return true;
  }
  return false;
}

static void run_seed(uint64_t seed) {
  hs_rng rng;
  hs_rng_seed(&rng, seed, "crdt", 4);
  hs_orset set[R];
  hs_pncounter ctr[R];
  for (int r = 0; r < R; r++) {
    hs_orset_init(&set[r], rname[r], 2);
    hs_pncounter_init(&ctr[r], rname[r], 2);
  }
  gossip flight[INFLIGHT];
  int nflight = 0;
  add_rec adds[OPS];
  remove_rec rems[OPS];
  int nadds = 0, nrems = 0;
  int64_t total = 0;
  for (int op = 0; op < OPS; op++) {
    int r = (int)hs_rng_below(&rng, R);
    uint64_t what = hs_rng_below(&rng, 10);
    int e = (int)hs_rng_below(&rng, ELEMS);
    elem_t x = elem(e);
    if (what < 3) {
      assert_int_equal(HS_OK, hs_orset_add(&set[r], x.b, 9));
      adds[nadds++] = (add_rec){e, r, hs_vv_get(&set[r].vv, rname[r], 2)};
    } else if (what < 5) {
      hs_orset_remove(&set[r], x.b, 9);
      hs_vv_init(&rems[nrems].seen);
      hs_vv_copy(&rems[nrems].seen, &set[r].vv);
      rems[nrems++].e = e;
    } else if (what < 7) {
      uint64_t n = hs_rng_below(&rng, 5);
      if (hs_rng_below(&rng, 2)) {
        hs_pncounter_increment(&ctr[r], n);
        total += (int64_t)n;
      } else {
        hs_pncounter_decrement(&ctr[r], n);
        total -= (int64_t)n;
      }
    } else if (nflight < INFLIGHT - 1) { /* gossip: sometimes duplicated */
      int copies = hs_rng_below(&rng, 4) == 0 ? 2 : 1;
      int kind = (int)hs_rng_below(&rng, 2);
      int to = (int)hs_rng_below(&rng, R);
      for (int c = 0; c < copies; c++) {
        gossip *g = &flight[nflight++];
        hs_buf_init(&g->state);
        g->to = to;
        g->kind = kind;
        if (kind == 0)
          hs_orset_encode(&set[r], &g->state);
        else
          hs_pncounter_encode(&ctr[r], &g->state);
      }
    }
    /* deliver, drop or keep a random message in flight: any order */
    if (nflight && hs_rng_below(&rng, 2)) {
      int i = (int)hs_rng_below(&rng, (uint64_t)nflight);
      gossip g = flight[i];
      flight[i] = flight[--nflight];
      if (hs_rng_below(&rng, 8) != 0) { /* 1 in 8 is lost */
        int rc = g.kind == 0 ? hs_orset_merge_encoded(&set[g.to], view(&g.state))
                             : hs_pncounter_merge_encoded(&ctr[g.to], view(&g.state));
        assert_int_equal(HS_OK, rc);
      }
      hs_buf_free(&g.state);
    }
  }
  for (int i = 0; i < nflight; i++) hs_buf_free(&flight[i].state);
  /* anti-entropy: everyone merges everyone, twice, then all agree */
  for (int round = 0; round < 2; round++)
    for (int a = 0; a < R; a++)
      for (int b = 0; b < R; b++) {
        hs_orset_merge(&set[a], &set[b]);
        hs_pncounter_merge(&ctr[a], &ctr[b]);
      }
  for (int r = 1; r < R; r++) {
    SAME_STATE(hs_orset_encode, &set[0], &set[r]);
    SAME_STATE(hs_pncounter_encode, &ctr[0], &ctr[r]);
  }
  assert_int_equal(total, hs_pncounter_value(&ctr[0]));
  for (int e = 0; e < ELEMS; e++) {
    elem_t x = elem(e);
    if (expected_present(e, adds, nadds, rems, nrems) != hs_orset_contains(&set[0], x.b, 9))
      fail_msg("seed %llu: element %d present=%d, expected %d", (unsigned long long)seed, e,
               hs_orset_contains(&set[0], x.b, 9), expected_present(e, adds, nadds, rems, nrems));
  }
  for (int i = 0; i < nrems; i++) hs_vv_free(&rems[i].seen);
  for (int r = 0; r < R; r++) {
    hs_orset_free(&set[r]);
    hs_pncounter_free(&ctr[r]);
  }
}

static void test_random_gossip_converges(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= 300; seed++) run_seed(seed);
}

/* merge is commutative, associative and idempotent on random states */
static void test_merge_laws(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= 100; seed++) {
    hs_rng rng;
    hs_rng_seed(&rng, seed, "crdt", 4);
    hs_orset s[3];
    for (int r = 0; r < 3; r++) {
      hs_orset_init(&s[r], rname[r], 2);
      for (int k = 0; k < 20; k++) {
        elem_t x = elem((int64_t)hs_rng_below(&rng, 5));
        if (hs_rng_below(&rng, 3))
          hs_orset_add(&s[r], x.b, 9);
        else
          hs_orset_remove(&s[r], x.b, 9);
        if (hs_rng_below(&rng, 4) == 0) hs_orset_merge(&s[r], &s[hs_rng_below(&rng, (uint64_t)r + 1)]);
      }
    }
    hs_orset ab, ba, ab_c, bc, a_bc, aa;
    hs_orset_init(&ab, "x", 1);
    hs_orset_init(&ba, "y", 1);
    hs_orset_init(&ab_c, "z", 1);
    hs_orset_init(&bc, "w", 1);
    hs_orset_init(&a_bc, "v", 1);
    hs_orset_init(&aa, "u", 1);
    hs_orset_merge(&ab, &s[0]);
    hs_orset_merge(&ab, &s[1]);
    hs_orset_merge(&ba, &s[1]);
    hs_orset_merge(&ba, &s[0]);
    SAME_STATE(hs_orset_encode, &ab, &ba);
    hs_orset_merge(&ab_c, &ab);
    hs_orset_merge(&ab_c, &s[2]);
    hs_orset_merge(&bc, &s[1]);
    hs_orset_merge(&bc, &s[2]);
    hs_orset_merge(&a_bc, &s[0]);
    hs_orset_merge(&a_bc, &bc);
    SAME_STATE(hs_orset_encode, &ab_c, &a_bc);
    hs_orset_merge(&aa, &s[0]);
    hs_orset_merge(&aa, &s[0]);
    SAME_STATE(hs_orset_encode, &aa, &s[0]);
    hs_orset *all[] = {&ab, &ba, &ab_c, &bc, &a_bc, &aa, &s[0], &s[1], &s[2]};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) hs_orset_free(all[i]);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_gcounter),
      cmocka_unit_test(test_pncounter),
      cmocka_unit_test(test_lww),
      cmocka_unit_test(test_orset_add_wins_and_no_resurrection),
      cmocka_unit_test(test_malformed_states_are_refused),
      cmocka_unit_test(test_random_gossip_converges),
      cmocka_unit_test(test_merge_laws),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
