/* hs_lin: the linearizability checker (hand-built histories, budgets, and a fuzz test
 * against a brute-force enumerator of all orders that respect real time). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "lin/hs_lin.h"
#include "core/hs_rng.h"

#define INF HS_LIN_INF
#define MAX_OPS 256

/* ---- building histories --------------------------------------------------------- */

typedef struct hist {
  hs_lin_op ops[MAX_OPS];
  size_t n;
  uint8_t pool[1 << 16]; /* encoded values; never moves */
  size_t used;
} hist;

static hist *hist_new(void) {
  hist *h = calloc(1, sizeof *h);
  assert_non_null(h);
  return h;
}

static hs_value keep(hist *h, hs_buf *b) {
  assert_false(b->failed);
  assert_true(h->used + b->len <= sizeof h->pool);
  memcpy(h->pool + h->used, b->data, b->len);
  hs_value v = {h->pool + h->used, b->len};
  h->used += b->len;
  hs_buf_free(b);
  return v;
}

#define NIL_V (-1000) /* the integer that stands for nil in these helpers */

static hs_value ival(hist *h, int64_t x) {
  hs_buf b;
  hs_buf_init(&b);
  if (x == NIL_V)
    hs_buf_put_nil(&b);
  else
    hs_buf_put_int(&b, x);
  return keep(h, &b);
}

static hs_value pairv(hist *h, int64_t a, int64_t c) {
  hs_buf b;
  hs_buf_init(&b);
  hs_buf_put_table(&b, 2, 0);
  if (a == NIL_V) hs_buf_put_nil(&b); else hs_buf_put_int(&b, a);
  if (c == NIL_V) hs_buf_put_nil(&b); else hs_buf_put_int(&b, c);
  return keep(h, &b);
}

static hs_value arrv(hist *h, const int64_t *xs, size_t n) {
  hs_buf b;
  hs_buf_init(&b);
  hs_buf_put_table(&b, (uint32_t)n, 0);
  for (size_t i = 0; i < n; i++) hs_buf_put_int(&b, xs[i]);
  return keep(h, &b);
}

static hs_lin_op *add(hist *h, int64_t p, int f, int64_t call, int64_t ret) {
  assert_true(h->n < MAX_OPS);
  hs_lin_op *o = &h->ops[h->n++];
  memset(o, 0, sizeof *o);
  o->process = p;
  o->f = f;
  o->call = call;
  o->ret = ret;
  o->unknown = ret == INF;
  return o;
}

static void W(hist *h, int64_t p, int64_t call, int64_t ret, int64_t v) { add(h, p, HS_LIN_F_WRITE, call, ret)->input = ival(h, v); }
static void R(hist *h, int64_t p, int64_t call, int64_t ret, int64_t v) {
  hs_lin_op *o = add(h, p, HS_LIN_F_READ, call, ret);
  if (ret != INF) o->output = ival(h, v);
}
static void CAS(hist *h, int64_t p, int64_t call, int64_t ret, int64_t a, int64_t b) {
  add(h, p, HS_LIN_F_CAS, call, ret)->input = pairv(h, a, b);
}
static void KW(hist *h, int64_t key, int64_t p, int64_t call, int64_t ret, int64_t v) {
  W(h, p, call, ret, v);
  h->ops[h->n - 1].key = ival(h, key);
}
static void KR(hist *h, int64_t key, int64_t p, int64_t call, int64_t ret, int64_t v) {
  R(h, p, call, ret, v);
  h->ops[h->n - 1].key = ival(h, key);
}

static hs_lin_verdict check_with(const char *model, hist *h, const hs_lin_options *opt, hs_lin_result *r) {
  const hs_lin_model *m = hs_lin_model_builtin(model);
  assert_non_null(m);
  return hs_lin_check(m, h->ops, h->n, opt, r);
}

static hs_lin_verdict check(const char *model, hist *h) {
  hs_lin_result r;
  hs_lin_verdict v = check_with(model, h, NULL, &r);
  hs_lin_result_free(&r, hs_lin_model_builtin(model));
  return v;
}

/* ---- the classic register examples -------------------------------------------------- */

static void test_register_sequential(void **state) {
  (void)state;
  hist *h = hist_new();
  W(h, 1, 0, 1, 1);
  R(h, 2, 2, 3, 1);
  assert_int_equal(HS_LIN_VALID, check("register", h));
  h->n = 0;
  W(h, 1, 0, 1, 1);
  R(h, 2, 2, 3, NIL_V); /* the write completed before the read began */
  assert_int_equal(HS_LIN_INVALID, check("register", h));
  h->n = 0;
  R(h, 1, 0, 1, NIL_V); /* the initial value is nil */
  assert_int_equal(HS_LIN_VALID, check("register", h));
  h->n = 0; /* the empty history */
  assert_int_equal(HS_LIN_VALID, check("register", h));
  free(h);
}

/* Herlihy & Wing: overlapping reads may see the old or the new value, but once a read
 * saw the new one, a later read may not see the old one. */
static void test_register_new_old_inversion(void **state) {
  (void)state;
  hist *h = hist_new();
  W(h, 0, 0, 10, 1);
  R(h, 1, 1, 2, NIL_V);
  R(h, 2, 3, 4, 1);
  assert_int_equal(HS_LIN_VALID, check("register", h));
  h->n = 0;
  W(h, 0, 0, 10, 1);
  R(h, 1, 1, 2, 1);
  R(h, 2, 3, 4, NIL_V);
  assert_int_equal(HS_LIN_INVALID, check("register", h));
  free(h);
}

/* Porcupine's README register examples: write 100 / read 100 / read 0 is linearizable
 * (the read of 0 goes first); write 200 / read 200 then read 0 is not. */
static void test_register_porcupine_examples(void **state) {
  (void)state;
  hist *h = hist_new();
  W(h, 0, 0, 100, 100);
  R(h, 1, 25, 75, 100);
  R(h, 2, 30, 60, 0);
  h->ops[2].output = ival(h, NIL_V); /* "0" is the initial value here: nil */
  assert_int_equal(HS_LIN_VALID, check("register", h));

  h->n = 0;
  W(h, 0, 0, 100, 200);
  R(h, 1, 10, 30, 200);
  R(h, 2, 40, 90, NIL_V);
  hs_lin_result r;
  assert_int_equal(HS_LIN_INVALID, check_with("register", h, NULL, &r));
  assert_int_equal(2, r.prefix_len); /* write 200, read 200 */
  assert_int_equal(0, r.prefix[0]);
  assert_int_equal(1, r.prefix[1]);
  assert_int_equal(2, r.blocked); /* the read of nil */
  assert_int_equal(0, r.pending_len);
  assert_true(r.has_state);
  int64_t v = 0;
  assert_true(hs_value_int((hs_value){r.state.data, r.state.len}, &v));
  assert_int_equal(200, v);
  hs_lin_result_free(&r, hs_lin_model_builtin("register"));
  free(h);
}

/* Knossos' README: a crashed (info) write of 3 concurrent with a read of 3 is fine;
 * RethinkDB's minimal failure (a read of a value nobody wrote) is not. */
static void test_knossos_examples(void **state) {
  (void)state;
  hist *h = hist_new();
  R(h, 0, 0, 3, 3);
  W(h, 1, 1, INF, 3);
  assert_int_equal(HS_LIN_VALID, check("cas_register", h));

  h->n = 0;
  W(h, 0, 0, 1, 0);
  R(h, 1, 2, 4, 3);
  W(h, 2, 3, 5, 4);
  R(h, 3, 6, 7, 4);
  hs_lin_result r;
  assert_int_equal(HS_LIN_INVALID, check_with("cas_register", h, NULL, &r));
  /* the longest prefix: write 0, then the concurrent write 4; then the read of 3 is stuck */
  assert_int_equal(1, r.blocked);
  assert_int_equal(2, r.prefix_len);
  assert_int_equal(0, r.prefix[0]);
  assert_int_equal(2, r.prefix[1]);
  assert_int_equal(0, r.pending_len);
  hs_lin_result_free(&r, hs_lin_model_builtin("cas_register"));
  free(h);
}

static void test_concurrent_writes(void **state) {
  (void)state;
  hist *h = hist_new();
  /* three overlapping writes; reads after them agree on one last value */
  W(h, 0, 0, 10, 1);
  W(h, 1, 1, 11, 2);
  W(h, 2, 2, 12, 3);
  R(h, 3, 20, 21, 2);
  R(h, 4, 22, 23, 2);
  assert_int_equal(HS_LIN_VALID, check("register", h));
  h->ops[4].output = ival(h, 3); /* two later reads disagree with no write between */
  assert_int_equal(HS_LIN_INVALID, check("register", h));
  /* reads concurrent with the writes may see them in any order... */
  h->n = 0;
  W(h, 0, 0, 10, 1);
  W(h, 1, 0, 10, 2);
  R(h, 2, 1, 9, 1);
  R(h, 3, 1, 9, 2);
  R(h, 4, 1, 9, 1);
  assert_int_equal(HS_LIN_VALID, check("register", h)); /* 2, 1, 1 */
  /* ...but reads one after another see one order: 1, 2, 1 would need a third write */
  h->ops[3].call = 3;
  h->ops[3].ret = 4;
  h->ops[2].ret = 2;
  h->ops[4].call = 5;
  assert_int_equal(HS_LIN_INVALID, check("register", h));
  h->ops[4].output = ival(h, 2);
  assert_int_equal(HS_LIN_VALID, check("register", h));
  free(h);
}

static void test_cas_register(void **state) {
  (void)state;
  hist *h = hist_new();
  CAS(h, 0, 0, 1, NIL_V, 1);
  CAS(h, 1, 2, 3, 1, 2);
  R(h, 2, 4, 5, 2);
  assert_int_equal(HS_LIN_VALID, check("cas_register", h));
  h->n = 0;
  CAS(h, 0, 0, 1, 0, 1); /* the register holds nil, not 0 */
  assert_int_equal(HS_LIN_INVALID, check("cas_register", h));
  /* two concurrent cas from the same value cannot both succeed */
  h->n = 0;
  W(h, 0, 0, 1, 0);
  CAS(h, 1, 2, 5, 0, 1);
  CAS(h, 2, 2, 5, 0, 2);
  assert_int_equal(HS_LIN_INVALID, check("cas_register", h));
  /* unless one of them is unknown and never took effect */
  h->ops[2].ret = INF;
  h->ops[2].unknown = true;
  assert_int_equal(HS_LIN_VALID, check("cas_register", h));
  /* the register model refuses cas */
  const hs_lin_model *reg = hs_lin_model_builtin("register");
  assert_non_null(reg->check_op(reg->ud, &h->ops[1]));
  const hs_lin_model *cas = hs_lin_model_builtin("cas_register");
  assert_null(cas->check_op(cas->ud, &h->ops[1]));
  free(h);
}

/* Unknown outcomes: an info write may take effect at any later time, or never. */
static void test_info_operations(void **state) {
  (void)state;
  hist *h = hist_new();
  W(h, 0, 0, INF, 1);  /* timed out */
  R(h, 1, 5, 6, NIL_V); /* not yet */
  R(h, 2, 7, 8, 1);    /* now it took effect */
  R(h, 3, 9, 10, 1);
  assert_int_equal(HS_LIN_VALID, check("register", h));
  h->ops[3].output = ival(h, NIL_V); /* it cannot be undone */
  assert_int_equal(HS_LIN_INVALID, check("register", h));

  /* never taking effect is fine */
  h->n = 0;
  W(h, 0, 0, INF, 1);
  R(h, 1, 5, 6, NIL_V);
  R(h, 2, 100, 101, NIL_V);
  assert_int_equal(HS_LIN_VALID, check("register", h));

  /* but it cannot take effect before it was invoked */
  h->n = 0;
  R(h, 1, 0, 1, 7);
  W(h, 0, 2, INF, 7);
  assert_int_equal(HS_LIN_INVALID, check("register", h));

  /* info-heavy: 40 timed-out writes of distinct values, reads pick some of them in call order */
  h->n = 0;
  for (int i = 0; i < 40; i++) W(h, i, i, INF, i);
  for (int i = 0; i < 10; i++) R(h, 100 + i, 50 + 2 * i, 51 + 2 * i, 4 * i);
  assert_int_equal(HS_LIN_VALID, check("register", h));
  /* and an info read is dropped: it constrains nothing */
  R(h, 200, 0, INF, 0);
  assert_int_equal(HS_LIN_VALID, check("register", h));
  /* reading an older value again after a newer one needs that write twice: invalid. Proving
   * that means trying the subsets of the writes nobody read, so keep them few. */
  h->n = 0;
  for (int i = 0; i < 12; i++) W(h, i, i, INF, i);
  for (int i = 0; i < 4; i++) R(h, 100 + i, 50 + 2 * i, 51 + 2 * i, 3 * i);
  assert_int_equal(HS_LIN_VALID, check("register", h));
  R(h, 300, 80, 81, 0);
  assert_int_equal(HS_LIN_INVALID, check("register", h));
  free(h);
}

static void test_kv_partitions(void **state) {
  (void)state;
  hist *h = hist_new();
  KW(h, 1, 0, 0, 1, 10);
  KW(h, 2, 1, 0, 1, 20);
  KR(h, 1, 2, 2, 3, 10);
  KR(h, 2, 3, 2, 3, 20);
  KR(h, 3, 4, 2, 3, NIL_V);
  hs_lin_result r;
  assert_int_equal(HS_LIN_VALID, check_with("kv", h, NULL, &r));
  assert_int_equal(3, r.partitions);
  hs_lin_result_free(&r, NULL);
  assert_int_equal(HS_LIN_VALID, check("kv_map", h));
  /* key 2 reads the value of key 1: only that key fails */
  h->ops[3].output = ival(h, 10);
  assert_int_equal(HS_LIN_INVALID, check_with("kv", h, NULL, &r));
  int64_t key = 0;
  assert_true(hs_value_int(h->ops[r.partition_op].key, &key));
  assert_int_equal(2, key);
  assert_int_equal(3, r.blocked);
  hs_lin_result_free(&r, NULL);
  assert_int_equal(HS_LIN_INVALID, check("kv_map", h));
  free(h);
}

static void test_set_and_counter(void **state) {
  (void)state;
  hist *h = hist_new();
  add(h, 0, HS_LIN_F_ADD, 0, 10)->input = ival(h, 1);
  add(h, 1, HS_LIN_F_ADD, 0, 10)->input = ival(h, 2);
  int64_t one[] = {1}, both[] = {2, 1}, two[] = {2};
  add(h, 2, HS_LIN_F_READ, 1, 2)->output = arrv(h, one, 1);
  add(h, 3, HS_LIN_F_READ, 11, 12)->output = arrv(h, both, 2); /* order does not matter */
  assert_int_equal(HS_LIN_VALID, check("set", h));
  add(h, 4, HS_LIN_F_READ, 3, 4)->output = arrv(h, two, 1); /* 2 without 1, after 1 was seen */
  assert_int_equal(HS_LIN_INVALID, check("set", h));

  h->n = 0;
  add(h, 0, HS_LIN_F_ADD, 0, 10)->input = ival(h, 5);
  add(h, 1, HS_LIN_F_ADD, 0, 10)->input = ival(h, 3);
  add(h, 2, HS_LIN_F_READ, 1, 2)->output = ival(h, 3);
  add(h, 3, HS_LIN_F_READ, 11, 12)->output = ival(h, 8);
  assert_int_equal(HS_LIN_VALID, check("counter", h));
  add(h, 4, HS_LIN_F_READ, 3, 4)->output = ival(h, 5); /* 3 then 5: 8 would have to come first */
  assert_int_equal(HS_LIN_INVALID, check("counter", h));
  h->ops[4].output = ival(h, 6);
  assert_int_equal(HS_LIN_INVALID, check("counter", h)); /* no subset sums to 6 */
  /* an unknown add may or may not have happened */
  h->n = 0;
  add(h, 0, HS_LIN_F_ADD, 0, INF)->input = ival(h, 5);
  add(h, 1, HS_LIN_F_READ, 1, 2)->output = ival(h, 0);
  add(h, 2, HS_LIN_F_READ, 3, 4)->output = ival(h, 5);
  assert_int_equal(HS_LIN_VALID, check("counter", h));
  free(h);
}

static void test_canonical_values(void **state) {
  (void)state;
  hs_buf a, b, ca, cb;
  hs_buf_init(&a);
  hs_buf_init(&b);
  hs_buf_init(&ca);
  hs_buf_init(&cb);
  /* { x = 1, y = 2.0 } written in two orders */
  hs_buf_put_table(&a, 0, 2);
  hs_buf_put_string(&a, "x", 1);
  hs_buf_put_int(&a, 1);
  hs_buf_put_string(&a, "y", 1);
  hs_buf_put_double(&a, 2.0);
  hs_buf_put_table(&b, 0, 2);
  hs_buf_put_string(&b, "y", 1);
  hs_buf_put_int(&b, 2);
  hs_buf_put_string(&b, "x", 1);
  hs_buf_put_double(&b, 1.0);
  assert_false(hs_value_equal((hs_value){a.data, a.len}, (hs_value){b.data, b.len}));
  assert_true(hs_lin_canon((hs_value){a.data, a.len}, &ca));
  assert_true(hs_lin_canon((hs_value){b.data, b.len}, &cb));
  assert_true(hs_value_equal((hs_value){ca.data, ca.len}, (hs_value){cb.data, cb.len}));
  /* { [1] = "a" } in the map part is the array { "a" } */
  hs_buf_reset(&a);
  hs_buf_reset(&ca);
  hs_buf_put_table(&a, 0, 1);
  hs_buf_put_int(&a, 1);
  hs_buf_put_string(&a, "a", 1);
  assert_true(hs_lin_canon((hs_value){a.data, a.len}, &ca));
  uint32_t narr = 9, nmap = 9;
  assert_true(hs_value_table((hs_value){ca.data, ca.len}, &narr, &nmap));
  assert_int_equal(1, narr);
  assert_int_equal(0, nmap);
  /* 2.5 stays a double; junk is refused */
  hs_buf_reset(&a);
  hs_buf_reset(&ca);
  hs_buf_put_double(&a, 2.5);
  assert_true(hs_lin_canon((hs_value){a.data, a.len}, &ca));
  assert_int_equal(HS_V_DOUBLE, hs_value_type((hs_value){ca.data, ca.len}));
  uint8_t junk[] = {0x06, 1, 0, 0, 0};
  assert_false(hs_lin_canon((hs_value){junk, sizeof junk}, &cb));
  hs_buf_free(&a);
  hs_buf_free(&b);
  hs_buf_free(&ca);
  hs_buf_free(&cb);
}

/* ---- budgets -------------------------------------------------------------------- */

/* 30 fully concurrent writes, then a read of a value nobody wrote: the search has to
 * try every subset of the writes before it can say no. */
static void pathological(hist *h, int writes) {
  h->n = 0;
  for (int i = 0; i < writes; i++) W(h, i, 0, 100, i);
  R(h, 999, 200, 201, 12345);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void test_budgets_return_unknown(void **state) {
  (void)state;
  hist *h = hist_new();
  pathological(h, 30);
  hs_lin_result r;
  hs_lin_options steps = {.max_steps = 100000};
  assert_int_equal(HS_LIN_UNKNOWN, check_with("register", h, &steps, &r));
  assert_string_equal("step limit", r.reason);
  assert_int_equal(100000, r.steps);
  hs_lin_result_free(&r, NULL);

  hs_lin_options t = {.timeout_s = 0.2};
  double t0 = now_s();
  assert_int_equal(HS_LIN_UNKNOWN, check_with("register", h, &t, &r));
  double took = now_s() - t0;
  assert_string_equal("timeout", r.reason);
  assert_true(took < 2.0);
  hs_lin_result_free(&r, NULL);

  hs_lin_options mem = {.max_bytes = 4u << 20};
  assert_int_equal(HS_LIN_UNKNOWN, check_with("register", h, &mem, &r));
  assert_string_equal("memory limit", r.reason);
  hs_lin_result_free(&r, NULL);

  /* a small one is decided within the budget */
  pathological(h, 8);
  assert_int_equal(HS_LIN_INVALID, check_with("register", h, &steps, &r));
  hs_lin_result_free(&r, NULL);
  free(h);
}

/* ---- a model with handles: every handle is given back ----------------------------- */

typedef struct counting {
  hs_lin_model model;
  long live;
  uint64_t next;
  int fail_at; /* step number that reports an error; 0: never */
  int steps;
} counting;

static int c_init(void *ud, hs_value key, hs_buf *out, uint64_t *handle) {
  (void)key;
  counting *c = ud;
  *handle = ++c->next;
  c->live++;
  hs_buf_put_nil(out);
  return 1;
}

static int c_step(void *ud, hs_lin_state s, const hs_lin_op *op, hs_buf *out, uint64_t *handle) {
  counting *c = ud;
  if (c->fail_at && ++c->steps == c->fail_at) return -1;
  const hs_lin_model *reg = hs_lin_model_builtin("register");
  uint64_t ignored;
  int rc = reg->step(reg->ud, s, op, out, &ignored);
  if (rc == 1) {
    *handle = ++c->next;
    c->live++;
  }
  return rc;
}

static void c_release(void *ud, uint64_t handle) {
  counting *c = ud;
  assert_true(handle > 0 && handle <= c->next);
  c->live--;
}

static void test_model_handles_are_released(void **state) {
  (void)state;
  counting c = {.model = {.name = "counting", .init = c_init, .step = c_step, .release = c_release}};
  c.model.ud = &c;
  hist *h = hist_new();
  W(h, 0, 0, 10, 1);
  W(h, 1, 0, 10, 2);
  R(h, 2, 1, 2, 1);
  R(h, 3, 3, 4, 2);
  R(h, 4, 5, 9, 1);
  hs_lin_result r;
  assert_int_equal(HS_LIN_INVALID, hs_lin_check(&c.model, h->ops, h->n, NULL, &r));
  assert_true(r.has_state);
  assert_int_equal(1, c.live); /* the reported state */
  hs_lin_result_free(&r, &c.model);
  assert_int_equal(0, c.live);
  h->ops[4].output = ival(h, 2);
  assert_int_equal(HS_LIN_VALID, hs_lin_check(&c.model, h->ops, h->n, NULL, &r));
  hs_lin_result_free(&r, &c.model);
  assert_int_equal(0, c.live);
  /* an error in step stops the search */
  c.fail_at = 3;
  assert_int_equal(HS_LIN_ERROR, hs_lin_check(&c.model, h->ops, h->n, NULL, &r));
  assert_non_null(r.reason);
  hs_lin_result_free(&r, &c.model);
  assert_int_equal(0, c.live);
  /* so does a budget */
  c.fail_at = 0;
  pathological(h, 20);
  hs_lin_options steps = {.max_steps = 5000};
  assert_int_equal(HS_LIN_UNKNOWN, hs_lin_check(&c.model, h->ops, h->n, &steps, &r));
  hs_lin_result_free(&r, &c.model);
  assert_int_equal(0, c.live);
  /* malformed: a completion before the invocation */
  h->n = 0;
  W(h, 0, 5, 4, 1);
  assert_int_equal(HS_LIN_ERROR, hs_lin_check(&c.model, h->ops, h->n, NULL, &r));
  hs_lin_result_free(&r, &c.model);
  free(h);
}

/* ---- fuzz: the checker against brute force ---------------------------------------- */

/* Every order of the operations that respects real time (unknown ones optional) run
 * through the model: the definition of linearizability, without any cleverness. */
static int brute(const hs_lin_model *m, const hs_lin_op *ops, size_t n, uint32_t placed, hs_value state) {
  bool done = true;
  for (size_t i = 0; i < n; i++)
    if (!(placed & (1u << i)) && ops[i].ret != INF) done = false;
  if (done) return 1;
  int result = 0;
  for (size_t i = 0; i < n && !result; i++) {
    if (placed & (1u << i)) continue;
    bool ready = true; /* everything that completed before i began is placed */
    for (size_t j = 0; j < n; j++)
      if (!(placed & (1u << j)) && ops[j].ret < ops[i].call) ready = false;
    if (!ready) continue;
    hs_buf out;
    hs_buf_init(&out);
    uint64_t hd;
    int rc = m->step(m->ud, (hs_lin_state){state.p, state.len, 0}, &ops[i], &out, &hd);
    assert_true(rc >= 0);
    if (rc == 1) result = brute(m, ops, n, placed | (1u << i), (hs_value){out.data, out.len});
    hs_buf_free(&out);
  }
  return result;
}

/* The same enumeration, memoized on (placed set, state): a dynamic program over subsets,
 * for histories too long to enumerate every order of. */
typedef struct seen_set {
  uint8_t **keys;
  size_t *lens;
  size_t cap, count;
} seen_set;

static uint64_t fnv(const uint8_t *p, size_t n) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ULL;
  return h;
}

/* True if (mask, state) was already seen; records it otherwise. */
static bool seen_add(seen_set *ss, uint32_t mask, hs_value state) {
  uint8_t key[256];
  assert_true(state.len + 4 <= sizeof key);
  memcpy(key, &mask, 4);
  memcpy(key + 4, state.p, state.len);
  size_t len = 4 + state.len;
  if ((ss->count + 1) * 2 > ss->cap) {
    size_t cap = ss->cap ? ss->cap * 2 : 1024;
    uint8_t **keys = calloc(cap, sizeof *keys);
    size_t *lens = calloc(cap, sizeof *lens);
    for (size_t i = 0; i < ss->cap; i++) {
      if (!ss->keys[i]) continue;
      size_t j = fnv(ss->keys[i], ss->lens[i]) & (cap - 1);
      while (keys[j]) j = (j + 1) & (cap - 1);
      keys[j] = ss->keys[i];
      lens[j] = ss->lens[i];
    }
    free(ss->keys);
    free(ss->lens);
    ss->keys = keys;
    ss->lens = lens;
    ss->cap = cap;
  }
  size_t j = fnv(key, len) & (ss->cap - 1);
  for (; ss->keys[j]; j = (j + 1) & (ss->cap - 1))
    if (ss->lens[j] == len && memcmp(ss->keys[j], key, len) == 0) return true;
  ss->keys[j] = malloc(len);
  memcpy(ss->keys[j], key, len);
  ss->lens[j] = len;
  ss->count++;
  return false;
}

static void seen_free(seen_set *ss) {
  for (size_t i = 0; i < ss->cap; i++) free(ss->keys[i]);
  free(ss->keys);
  free(ss->lens);
}

static int brute_memo(const hs_lin_model *m, const hs_lin_op *ops, size_t n, uint32_t placed, hs_value state,
                      seen_set *ss) {
  if (seen_add(ss, placed, state)) return 0; /* explored before, without success */
  bool done = true;
  for (size_t i = 0; i < n; i++)
    if (!(placed & (1u << i)) && ops[i].ret != INF) done = false;
  if (done) return 1;
  int result = 0;
  for (size_t i = 0; i < n && !result; i++) {
    if (placed & (1u << i)) continue;
    bool ready = true;
    for (size_t j = 0; j < n; j++)
      if (!(placed & (1u << j)) && ops[j].ret < ops[i].call) ready = false;
    if (!ready) continue;
    hs_buf out;
    hs_buf_init(&out);
    uint64_t hd;
    int rc = m->step(m->ud, (hs_lin_state){state.p, state.len, 0}, &ops[i], &out, &hd);
    assert_true(rc >= 0);
    if (rc == 1) result = brute_memo(m, ops, n, placed | (1u << i), (hs_value){out.data, out.len}, ss);
    hs_buf_free(&out);
  }
  return result;
}

static int brute_check(const char *model, hist *h) {
  const hs_lin_model *m = hs_lin_model_builtin(model);
  hs_buf init;
  hs_buf_init(&init);
  uint64_t hd;
  m->init(m->ud, (hs_value){NULL, 0}, &init, &hd);
  int v;
  if (h->n <= 9) {
    v = brute(m, h->ops, h->n, 0, (hs_value){init.data, init.len});
  } else {
    seen_set ss = {0};
    v = brute_memo(m, h->ops, h->n, 0, (hs_value){init.data, init.len}, &ss);
    seen_free(&ss);
  }
  hs_buf_free(&init);
  return v;
}

typedef struct gen_state {
  int64_t reg[2]; /* per key; NIL_V = nil */
  int64_t counter;
  uint32_t set;
} gen_state;

enum fuzz_model { FZ_REGISTER, FZ_CAS, FZ_KV, FZ_SET, FZ_COUNTER };

/* A random history: each process runs operations one after another; each takes effect
 * at a random point inside its interval (an unknown one maybe never), outputs come from
 * that execution, and some outputs are then corrupted. */
static void gen_history(hs_rng *rng, enum fuzz_model fm, hist *h, int max_procs, int max_ops, int info_pct) {
  h->n = 0;
  h->used = 0;
  int procs = 1 + (int)hs_rng_below(rng, (uint64_t)max_procs);
  int nops = 1 + (int)hs_rng_below(rng, (uint64_t)max_ops);
  int64_t t[8] = {0};
  bool crashed[8] = {false};
  int64_t point[32];
  for (int i = 0; i < nops; i++) {
    int p = (int)hs_rng_below(rng, (uint64_t)procs);
    if (crashed[p]) continue;
    int64_t call = t[p] + (int64_t)hs_rng_below(rng, 4);
    int64_t ret = call + (int64_t)hs_rng_below(rng, 7);
    t[p] = ret + 1;
    bool info = hs_rng_below(rng, 100) < (uint64_t)(info_pct < 0 ? -info_pct : info_pct);
    int roll = (int)hs_rng_below(rng, 100);
    int f;
    switch (fm) {
    case FZ_REGISTER: f = roll < 50 ? HS_LIN_F_READ : HS_LIN_F_WRITE; break;
    case FZ_CAS:
    case FZ_KV: f = roll < 40 ? HS_LIN_F_READ : roll < 70 ? HS_LIN_F_WRITE : HS_LIN_F_CAS; break;
    default: f = roll < 50 ? HS_LIN_F_READ : HS_LIN_F_ADD; break;
    }
    hs_lin_op *o = add(h, p, f, call, info ? INF : ret);
    point[h->n - 1] = info && hs_rng_below(rng, 2) ? -1 : call + (int64_t)hs_rng_below(rng, (uint64_t)(ret - call + 1));
    if (info && info_pct > 0) crashed[p] = true; /* a negative info_pct: the process goes on */
    if (fm == FZ_KV) o->key = ival(h, (int64_t)hs_rng_below(rng, 2));
  }
  /* execute in linearization-point order */
  size_t order[MAX_OPS];
  size_t n = h->n;
  for (size_t i = 0; i < n; i++) order[i] = i;
  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0 && point[order[j]] < point[order[j - 1]]; j--) {
      size_t tmp = order[j];
      order[j] = order[j - 1];
      order[j - 1] = tmp;
    }
  gen_state g = {{NIL_V, NIL_V}, 0, 0};
  for (size_t k = 0; k < n; k++) {
    hs_lin_op *o = &h->ops[order[k]];
    bool effect = point[order[k]] >= 0;
    int key = 0;
    if (fm == FZ_KV) {
      int64_t kk;
      hs_value_int(o->key, &kk);
      key = (int)kk;
    }
    int64_t v = (int64_t)hs_rng_below(rng, 3);
    switch (o->f) {
    case HS_LIN_F_READ:
      if (fm == FZ_SET) {
        int64_t xs[8];
        size_t c = 0;
        for (int b = 0; b < 4; b++)
          if (g.set & (1u << b)) xs[c++] = b;
        o->output = arrv(h, xs, c);
      } else if (fm == FZ_COUNTER) {
        o->output = ival(h, g.counter);
      } else if (!o->unknown) {
        o->output = ival(h, g.reg[key]);
      }
      break;
    case HS_LIN_F_WRITE:
      o->input = ival(h, v);
      if (effect) g.reg[key] = v;
      break;
    case HS_LIN_F_CAS: {
      int64_t expected = hs_rng_below(rng, 3) ? g.reg[key] : (int64_t)hs_rng_below(rng, 3);
      o->input = pairv(h, expected, v);
      if (effect && expected == g.reg[key]) g.reg[key] = v;
      break;
    }
    case HS_LIN_F_ADD:
      if (fm == FZ_SET) {
        v = (int64_t)hs_rng_below(rng, 4);
        if (effect) g.set |= 1u << v;
      } else {
        v = 1 + (int64_t)hs_rng_below(rng, 3);
        if (effect) g.counter += v;
      }
      o->input = ival(h, v);
      break;
    }
  }
  /* corrupt: change a read's output, or drop the effect of a write by changing its value */
  if (hs_rng_below(rng, 100) < 50 && n) {
    hs_lin_op *o = &h->ops[hs_rng_below(rng, n)];
    int64_t v = (int64_t)hs_rng_below(rng, 4);
    if (o->f == HS_LIN_F_READ && !o->unknown) {
      if (fm == FZ_SET) {
        int64_t xs[1] = {v};
        o->output = arrv(h, xs, hs_rng_below(rng, 2));
      } else {
        o->output = ival(h, fm == FZ_COUNTER ? v * 2 : v);
      }
    } else if (o->f == HS_LIN_F_WRITE || o->f == HS_LIN_F_ADD) {
      o->input = ival(h, v);
    }
  }
  /* a cas whose expected value is not there is a "fail" in a real history: keep it only
   * when it succeeded in the execution, or corrupt it on purpose sometimes */
}

/* For failure reports: an int, nil, or a table of ints. */
static void describe_value(hs_value v, char *buf, size_t n) {
  int64_t i;
  uint32_t narr, nmap;
  if (v.len == 0 || hs_value_type(v) == HS_V_NIL) {
    snprintf(buf, n, "nil");
  } else if (hs_value_int(v, &i)) {
    snprintf(buf, n, "%lld", (long long)i);
  } else if (hs_value_table(v, &narr, &nmap)) {
    size_t used = (size_t)snprintf(buf, n, "{");
    for (uint32_t j = 0; j < narr && used < n; j++) {
      hs_value item;
      char sub[24];
      if (hs_value_index(v, j, &item)) describe_value(item, sub, sizeof sub);
      used += (size_t)snprintf(buf + used, n - used, j ? ",%s" : "%s", sub);
    }
    if (used < n) snprintf(buf + used, n - used, "}");
  } else {
    snprintf(buf, n, "?");
  }
}

static void fuzz_model_info(enum fuzz_model fm, const char *model, const char *brute_model, int cases, int max_procs,
                            int max_ops, int info_pct) {
  hs_rng rng;
  hs_rng_seed(&rng, 12345 + (uint64_t)fm + 1000 * (uint64_t)max_ops + 77 * (uint64_t)(info_pct + 100), model,
              strlen(model));
  hist *h = hist_new();
  int valid = 0, invalid = 0;
  for (int c = 0; c < cases; c++) {
    gen_history(&rng, fm, h, max_procs, max_ops, info_pct);
    hs_lin_result r;
    hs_lin_verdict v = check_with(model, h, NULL, &r);
    hs_lin_result_free(&r, NULL);
    int expect = brute_check(brute_model, h);
    if ((v == HS_LIN_VALID) != (expect == 1) || v == HS_LIN_UNKNOWN || v == HS_LIN_ERROR) {
      fprintf(stderr, "disagreement on %s case %d: checker %s, brute force %s\n", model, c, hs_lin_verdict_name(v),
              expect ? "valid" : "invalid");
      for (size_t i = 0; i < h->n; i++) {
        char in[64], out[64];
        describe_value(h->ops[i].input, in, sizeof in);
        describe_value(h->ops[i].output, out, sizeof out);
        fprintf(stderr, "  op %zu: p%lld f=%s in=%s out=%s [%lld, %lld]%s\n", i, (long long)h->ops[i].process,
                hs_lin_f_name(h->ops[i].f), in, out, (long long)h->ops[i].call, (long long)h->ops[i].ret,
                h->ops[i].unknown ? " unknown" : "");
      }
      fail();
    }
    if (expect)
      valid++;
    else
      invalid++;
  }
  /* both answers must be exercised for the comparison to mean something */
  fprintf(stderr, "[ fuzz ] %s, up to %d ops on %d processes: %d valid, %d invalid\n", model, max_ops, max_procs,
          valid, invalid);
  assert_true(valid > cases / 10);
  assert_true(invalid > cases / 10);
  free(h);
}

static void fuzz_model(enum fuzz_model fm, const char *model, const char *brute_model, int cases, int max_procs,
                       int max_ops) {
  fuzz_model_info(fm, model, brute_model, cases, max_procs, max_ops, 15);
}

static void test_fuzz_register(void **state) {
  (void)state;
  fuzz_model(FZ_REGISTER, "register", "register", 5000, 4, 9);
  fuzz_model(FZ_REGISTER, "register", "register", 1500, 6, 18);
}
static void test_fuzz_cas_register(void **state) {
  (void)state;
  fuzz_model(FZ_CAS, "cas_register", "cas_register", 5000, 4, 9);
  fuzz_model(FZ_CAS, "cas_register", "cas_register", 1500, 6, 18);
}
static void test_fuzz_kv_partitioned(void **state) {
  (void)state;
  fuzz_model(FZ_KV, "kv", "kv_map", 5000, 4, 9);
  fuzz_model(FZ_KV, "kv", "kv_map", 1500, 6, 18); /* P-compositionality against one global map */
}
static void test_fuzz_set(void **state) {
  (void)state;
  fuzz_model(FZ_SET, "set", "set", 3000, 4, 9);
  fuzz_model(FZ_SET, "set", "set", 1000, 6, 16);
}
static void test_fuzz_counter(void **state) {
  (void)state;
  fuzz_model(FZ_COUNTER, "counter", "counter", 3000, 4, 9);
  fuzz_model(FZ_COUNTER, "counter", "counter", 1000, 6, 16);
}

/* Many operations of unknown outcome (a process goes on after one, as Jepsen's do): what
 * the subsumption of configurations by smaller unknown sets, and the children recorded
 * before they are explored, must get right. */
static void test_fuzz_many_unknown(void **state) {
  (void)state;
  fuzz_model_info(FZ_REGISTER, "register", "register", 3000, 4, 9, -40);
  fuzz_model_info(FZ_REGISTER, "register", "register", 1500, 6, 18, -40);
  fuzz_model_info(FZ_CAS, "cas_register", "cas_register", 3000, 4, 9, -40);
  fuzz_model_info(FZ_CAS, "cas_register", "cas_register", 1500, 6, 18, -50);
  fuzz_model_info(FZ_CAS, "cas_register", "cas_register", 300, 8, 28, -35);
  fuzz_model_info(FZ_KV, "kv", "kv_map", 1500, 6, 18, -40);
  fuzz_model_info(FZ_SET, "set", "set", 1000, 6, 16, -40);
  fuzz_model_info(FZ_COUNTER, "counter", "counter", 1000, 6, 16, -40);
}

/* Long valid histories stay fast: memoization keeps the search linear-ish. */
static void test_long_valid_history(void **state) {
  (void)state;
  hs_rng rng;
  hs_rng_seed(&rng, 7, NULL, 0);
  size_t n = 20000;
  hs_lin_op *ops = calloc(n, sizeof *ops);
  uint8_t *pool = malloc(n * 9 * 2);
  assert_non_null(ops);
  assert_non_null(pool);
  /* 8 clients; each op takes effect at a point in its interval */
  int64_t last_point = 0, value = -1;
  size_t used = 0;
  for (size_t i = 0; i < n; i++) {
    int64_t point = last_point + 1 + (int64_t)hs_rng_below(&rng, 3);
    last_point = point;
    int64_t call = point - (int64_t)hs_rng_below(&rng, 8);
    int64_t ret = point + (int64_t)hs_rng_below(&rng, 8);
    ops[i].call = call;
    ops[i].ret = ret;
    ops[i].process = (int64_t)i % 8;
    hs_buf b;
    hs_buf_init(&b);
    if (hs_rng_below(&rng, 2)) {
      ops[i].f = HS_LIN_F_WRITE;
      value = (int64_t)i;
      hs_buf_put_int(&b, value);
      memcpy(pool + used, b.data, b.len);
      ops[i].input = (hs_value){pool + used, b.len};
    } else {
      ops[i].f = HS_LIN_F_READ;
      if (value < 0) hs_buf_put_nil(&b); else hs_buf_put_int(&b, value);
      memcpy(pool + used, b.data, b.len);
      ops[i].output = (hs_value){pool + used, b.len};
    }
    used += b.len;
    hs_buf_free(&b);
  }
  hs_lin_result r;
  double t0 = now_s();
  assert_int_equal(HS_LIN_VALID, hs_lin_check(hs_lin_model_builtin("register"), ops, n, NULL, &r));
  assert_true(now_s() - t0 < 5.0);
  hs_lin_result_free(&r, NULL);
  free(ops);
  free(pool);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_register_sequential),
      cmocka_unit_test(test_register_new_old_inversion),
      cmocka_unit_test(test_register_porcupine_examples),
      cmocka_unit_test(test_knossos_examples),
      cmocka_unit_test(test_concurrent_writes),
      cmocka_unit_test(test_cas_register),
      cmocka_unit_test(test_info_operations),
      cmocka_unit_test(test_kv_partitions),
      cmocka_unit_test(test_set_and_counter),
      cmocka_unit_test(test_canonical_values),
      cmocka_unit_test(test_budgets_return_unknown),
      cmocka_unit_test(test_model_handles_are_released),
      cmocka_unit_test(test_fuzz_register),
      cmocka_unit_test(test_fuzz_cas_register),
      cmocka_unit_test(test_fuzz_kv_partitioned),
      cmocka_unit_test(test_fuzz_set),
      cmocka_unit_test(test_fuzz_counter),
      cmocka_unit_test(test_fuzz_many_unknown),
      cmocka_unit_test(test_long_valid_history),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
