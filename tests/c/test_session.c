/* hs_session (engine/sm): client sessions (at-most-once commands), their envelopes and snapshots. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "happysim.h"
#include "sm/hs_session.h"

/* The envelope of (client, id) around the command `value` (an integer). */
static void envelope(hs_buf *b, const char *client, uint64_t id, int64_t value) {
  hs_buf_reset(b);
  hs_session_begin(b, client, strlen(client), id);
  hs_buf_put_int(b, value);
}

static hs_session_cmd parsed(const hs_buf *b) {
  hs_session_cmd c;
  assert_int_equal(1, hs_session_parse(b->data, b->len, &c));
  return c;
}

/* Applies like the node adapter: check, and on NEW "apply" (the result is the command) and record. */
static hs_session_verdict apply(hs_sessions *s, const hs_buf *b, int64_t *result) {
  hs_session_cmd c = parsed(b);
  hs_value cached;
  const char *err = NULL;
  hs_session_verdict v = hs_sessions_check(s, &c, &cached, &err);
  if (v == HS_SESSION_DUPLICATE) {
    assert_null(err);
    assert_true(hs_value_int(cached, result));
  } else if (v == HS_SESSION_NEW) {
    assert_true(hs_value_int(c.cmd, result));
    assert_int_equal(HS_OK, hs_sessions_record(s, &c, c.cmd.p, c.cmd.len, NULL));
  }
  return v;
}

/* Each test's world, made and freed by cmocka: two session tables and a scratch buffer. */
typedef struct fixture {
  hs_sessions s, t;
  hs_buf b;
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  if (!f) return -1;
  hs_sessions_init(&f->s);
  hs_sessions_init(&f->t);
  hs_buf_init(&f->b);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  hs_buf_free(&f->b);
  hs_sessions_free(&f->s);
  hs_sessions_free(&f->t);
  free(f);
  return 0;
}

static void test_envelopes(void **state) {
  fixture *f = *state;
  hs_buf *b = &f->b;
  envelope(b, "client7", 42, -5);
  hs_session_cmd c = parsed(b);
  assert_int_equal(7, c.client_len);
  assert_memory_equal("client7", c.client, 7);
  assert_int_equal(42, c.request_id);
  int64_t v = 0;
  assert_true(hs_value_int(c.cmd, &v));
  assert_int_equal(-5, v);
  assert_int_equal(9, c.cmd.len);
  /* a plain command is not an envelope */
  hs_buf plain;
  hs_buf_init(&plain);
  hs_buf_put_string(&plain, "x", 1);
  assert_int_equal(0, hs_session_parse(plain.data, plain.len, &c));
  assert_int_equal(0, hs_session_parse(NULL, 0, &c));
  /* a truncated header, or no command, is malformed; the command is the rest of the bytes (the
   * state machine checks it, as any command) */
  for (size_t len = 1; len < b->len - 9; len++) assert_int_equal(-1, hs_session_parse(b->data, len, &c));
  assert_int_equal(1, hs_session_parse(b->data, b->len - 1, &c));
  assert_int_equal(8, c.cmd.len);
  assert_int_equal(0, hs_value_size(c.cmd));
  hs_buf_free(&plain);
}

static void test_duplicates_are_answered_not_applied(void **state) {
  fixture *f = *state;
  hs_sessions *s = &f->s;
  hs_buf *b = &f->b;
  int64_t r = 0;
  envelope(b, "a", 5, 100);
  assert_int_equal(HS_SESSION_NEW, apply(s, b, &r));
  envelope(b, "a", 5, 999); /* the same request id: the first result, whatever the bytes */
  assert_int_equal(HS_SESSION_DUPLICATE, apply(s, b, &r));
  assert_int_equal(100, r);
  envelope(b, "b", 5, 7); /* another client's id 5 */
  assert_int_equal(HS_SESSION_NEW, apply(s, b, &r));
  envelope(b, "a", 3, 1); /* older and never seen, but within the window: new (reordered) */
  assert_int_equal(HS_SESSION_NEW, apply(s, b, &r));
  /* an error outcome is remembered as such */
  envelope(b, "a", 9, 0);
  hs_session_cmd c = parsed(b);
  assert_int_equal(HS_OK, hs_sessions_record(s, &c, NULL, 0, "boom"));
  hs_value cached;
  const char *err = NULL;
  assert_int_equal(HS_SESSION_DUPLICATE, hs_sessions_check(s, &c, &cached, &err));
  assert_string_equal("boom", err);
}

static void test_window_keeps_the_highest_ids(void **state) {
  fixture *f = *state;
  hs_sessions *s = &f->s;
  hs_buf *b = &f->b;
  int64_t r = 0;
  uint64_t last = HS_SESSION_WINDOW + 10;
  for (uint64_t id = 1; id <= last; id++) {
    envelope(b, "a", id * 2, (int64_t)id); /* ids need not be consecutive */
    assert_int_equal(HS_SESSION_NEW, apply(s, b, &r));
  }
  uint64_t oldest_kept = last - HS_SESSION_WINDOW + 1;
  envelope(b, "a", (oldest_kept - 1) * 2, 0);
  assert_int_equal(HS_SESSION_EXPIRED, apply(s, b, &r));
  envelope(b, "a", (oldest_kept - 1) * 2 - 1, 0); /* never seen, but below what was forgotten */
  assert_int_equal(HS_SESSION_EXPIRED, apply(s, b, &r));
  envelope(b, "a", oldest_kept * 2, 0);
  assert_int_equal(HS_SESSION_DUPLICATE, apply(s, b, &r));
  assert_int_equal((int64_t)oldest_kept, r);
}

/* A high id applied early is not what the window forgets first: the lowest is, so the floor
 * stays low and a request delayed past later ones is still applied, not refused. */
static void test_window_forgets_the_lowest_id(void **state) {
  fixture *f = *state;
  hs_sessions *s = &f->s;
  hs_buf *b = &f->b;
  int64_t r = 0;
  envelope(b, "a", 100, 100);
  assert_int_equal(HS_SESSION_NEW, apply(s, b, &r));
  for (uint64_t id = 1; id <= HS_SESSION_WINDOW; id++) { /* the last one forgets id 1 */
    envelope(b, "a", id, (int64_t)id);
    assert_int_equal(HS_SESSION_NEW, apply(s, b, &r));
  }
  envelope(b, "a", 50, 50); /* never seen, above the floor (1) */
  assert_int_equal(HS_SESSION_NEW, apply(s, b, &r));
  envelope(b, "a", 100, 0);
  assert_int_equal(HS_SESSION_DUPLICATE, apply(s, b, &r));
  assert_int_equal(100, r);
  envelope(b, "a", 1, 0);
  assert_int_equal(HS_SESSION_EXPIRED, apply(s, b, &r));
}

static void test_snapshots_round_trip(void **state) {
  fixture *f = *state;
  hs_sessions *s = &f->s, *t = &f->t;
  hs_buf *b = &f->b;
  int64_t r = 0;
  /* no sessions: the state machine's snapshot as it is */
  const uint8_t sm[] = {HS_V_INT, 1, 0, 0, 0, 0, 0, 0, 0};
  size_t len = 0;
  assert_ptr_equal(sm, hs_sessions_snapshot(s, sm, sizeof sm, &len));
  assert_int_equal(sizeof sm, len);
  for (int i = 0; i < 200; i++) { /* 50 clients, 4 requests each */
    char name[16];
    snprintf(name, sizeof name, "c%d", i % 50);
    envelope(b, name, (uint64_t)(i / 50 + 1), i);
    assert_int_equal(HS_SESSION_NEW, apply(s, b, &r));
  }
  const uint8_t *snap = hs_sessions_snapshot(s, sm, sizeof sm, &len);
  assert_non_null(snap);
  uint8_t *copy = malloc(len);
  memcpy(copy, snap, len);
  const uint8_t *sm_out;
  size_t sm_len;
  assert_int_equal(HS_OK, hs_sessions_restore(t, copy, len, &sm_out, &sm_len));
  assert_int_equal(sizeof sm, sm_len);
  assert_memory_equal(sm, sm_out, sizeof sm);
  envelope(b, "c17", 3, -1);
  assert_int_equal(HS_SESSION_DUPLICATE, apply(t, b, &r));
  assert_int_equal(117, r);
  /* the same sessions snapshot to the same bytes */
  size_t len2 = 0;
  const uint8_t *snap2 = hs_sessions_snapshot(t, sm, sizeof sm, &len2);
  assert_int_equal(len, len2);
  assert_memory_equal(copy, snap2, len);
  /* and go on alike: the same requests (windows filling up and forgetting) keep them equal */
  for (int i = 0; i < 300; i++) {
    char name[16];
    snprintf(name, sizeof name, "c%d", i % 7);
    envelope(b, name, (uint64_t)(1000 - i), i); /* descending ids: forgetting in earnest */
    int64_t r1 = 0, r2 = 0;
    assert_int_equal(apply(s, b, &r1), apply(t, b, &r2));
    assert_int_equal(r1, r2);
  }
  const uint8_t *a1 = hs_sessions_snapshot(s, sm, sizeof sm, &len);
  uint8_t *copy1 = malloc(len);
  memcpy(copy1, a1, len);
  const uint8_t *a2 = hs_sessions_snapshot(t, sm, sizeof sm, &len2);
  assert_int_equal(len, len2);
  assert_memory_equal(copy1, a2, len);
  free(copy1);
  /* an empty state machine stays empty (NULL) */
  snap = hs_sessions_snapshot(s, NULL, 0, &len);
  assert_non_null(snap);
  assert_int_equal(HS_OK, hs_sessions_restore(t, snap, len, &sm_out, &sm_len));
  assert_null(sm_out);
  /* restoring NULL (the initial state) forgets every session */
  assert_int_equal(HS_OK, hs_sessions_restore(t, NULL, 0, &sm_out, &sm_len));
  assert_int_equal(HS_SESSION_NEW, apply(t, b, &r));
  free(copy);
}

static void test_malformed_snapshots_are_refused(void **state) {
  fixture *f = *state;
  hs_sessions *s = &f->s, *t = &f->t;
  hs_buf *b = &f->b;
  int64_t r = 0;
  envelope(b, "a", 1, 1);
  apply(s, b, &r);
  hs_session_cmd c = parsed(b);
  c.request_id = 2;
  hs_sessions_record(s, &c, NULL, 0, "an error");
  const uint8_t sm[] = {HS_V_TRUE};
  size_t len = 0;
  const uint8_t *snap = hs_sessions_snapshot(s, sm, sizeof sm, &len);
  uint8_t *copy = malloc(len);
  memcpy(copy, snap, len);
  const uint8_t *sm_out;
  size_t sm_len;
  /* every truncation of the sessions' part: refused, sessions empty (the state machine's part
   * is the state machine's to check) */
  for (size_t cut = 1; cut < len - sizeof sm; cut++) {
    int rc = hs_sessions_restore(t, copy, cut, &sm_out, &sm_len);
    assert_int_equal(HS_EINVAL, rc);
    assert_null(sm_out);
    envelope(b, "a", 1, 1);
    hs_value cached;
    const char *err;
    hs_session_cmd d = parsed(b);
    assert_int_equal(HS_SESSION_NEW, hs_sessions_check(t, &d, &cached, &err));
  }
  for (size_t i = 1; i < len; i++) { /* any single corrupted byte: refused or restored, never a crash */
    uint8_t keep = copy[i];
    copy[i] ^= 0xFF;
    (void)hs_sessions_restore(t, copy, len, &sm_out, &sm_len);
    copy[i] = keep;
  }
  free(copy);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_envelopes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_duplicates_are_answered_not_applied, setup, teardown),
      cmocka_unit_test_setup_teardown(test_window_keeps_the_highest_ids, setup, teardown),
      cmocka_unit_test_setup_teardown(test_window_forgets_the_lowest_id, setup, teardown),
      cmocka_unit_test_setup_teardown(test_snapshots_round_trip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_malformed_snapshots_are_refused, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
