/* hs_chrome_trace: what the writer puts in the file, its filters, and its clipping. The trace of
 * a real run is decoded as JSON and checked by tests/lua/trace_spec.lua. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "trace/hs_chrome_trace.h"

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  assert_int_equal(n, (long)fread(s, 1, (size_t)n, f));
  s[n] = 0;
  fclose(f);
  return s;
}

static int count(const char *s, const char *what) {
  int n = 0;
  for (const char *p = strstr(s, what); p; p = strstr(p + 1, what)) n++;
  return n;
}

static void test_a_small_run(void **state) {
  (void)state;
  char path[] = "/tmp/hs_ctrace_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  hs_ctrace t;
  assert_int_equal(HS_OK, hs_ctrace_open(&t, path, "happysim \"seed\" 7"));
  hs_ctrace_track(&t, 0, "n1");
  hs_ctrace_track(&t, 1, "n2");
  hs_ctrace_track(&t, 1, "n2"); /* named once */
  hs_ctrace_role(&t, 0, 0, "follower");
  hs_ctrace_sent(&t, 1500, 0, 1, "n2", "RequestVote", 7, 40);
  hs_ctrace_delivered(&t, 2500, 1, "n1", "RequestVote", 7, 1500);
  hs_ctrace_sent(&t, 3000, 1, 0, "n1", "Vote", 8, 20);
  hs_ctrace_lost(&t, 3000, 0, "Vote", 8, "partition");
  hs_ctrace_role(&t, 4000, 0, "leader");
  uint64_t crash = hs_ctrace_span_begin(&t, 5000, "fault", "crashed n2");
  hs_ctrace_span_end(&t, 9000, crash);
  hs_ctrace_span_begin(&t, 9500, "fault", "partition {n1} | {n2}"); /* ended by close */
  assert_int_equal(HS_OK, hs_ctrace_close(&t, 10000));
  assert_int_equal(HS_OK, hs_ctrace_close(&t, 10000)); /* idempotent */
  char *s = slurp(path);
  assert_true(s[0] == '[');
  assert_non_null(strstr(s, "\n]\n"));
  assert_non_null(strstr(s, "\"happysim \\\"seed\\\" 7\"")); /* escaped */
  assert_int_equal(2, count(s, "\"thread_name\""));
  assert_int_equal(2, count(s, "\"ph\":\"s\""));
  assert_int_equal(2, count(s, "\"ph\":\"f\""));
  assert_non_null(strstr(s, "lost Vote (partition)"));
  assert_non_null(strstr(s, "\"ts\":1.500")); /* microseconds, nanosecond decimals */
  assert_int_equal(2, count(s, "\"cat\":\"role\"")); /* follower (0..4 us) and leader (to the end) */
  assert_int_equal(2, count(s, "\"ph\":\"b\""));
  assert_int_equal(2, count(s, "\"ph\":\"e\""));
  free(s);
  remove(path);
}

static void test_filters_and_window(void **state) {
  (void)state;
  char path[] = "/tmp/hs_ctrace_XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  hs_ctrace t;
  assert_int_equal(HS_OK, hs_ctrace_open(&t, path, "p"));
  assert_int_equal(HS_OK, hs_ctrace_want(&t, 1));
  hs_ctrace_window(&t, 2000, 6000);
  hs_ctrace_track(&t, 0, "left-out");
  hs_ctrace_track(&t, 1, "kept");
  hs_ctrace_sent(&t, 1000, 1, 0, "x", "Early", 1, 1);  /* before the window */
  hs_ctrace_sent(&t, 3000, 1, 0, "x", "Inside", 2, 1);
  hs_ctrace_sent(&t, 3000, 0, 2, "y", "Elsewhere", 3, 1); /* neither track wanted */
  hs_ctrace_role(&t, 1000, 1, "leader"); /* clipped to start at 2 us */
  hs_ctrace_role(&t, 8000, 1, "follower"); /* leader ends at 8 us: clipped to 6 us */
  assert_int_equal(HS_OK, hs_ctrace_close(&t, 9000));
  char *s = slurp(path);
  assert_null(strstr(s, "left-out"));
  assert_null(strstr(s, "Early"));
  assert_null(strstr(s, "Elsewhere"));
  assert_non_null(strstr(s, "Inside"));
  assert_non_null(strstr(s, "\"ts\":2.000,\"dur\":4.000")); /* the clipped leader slice */
  assert_null(strstr(s, "follower")); /* began after the window */
  free(s);
  remove(path);
}

static void test_unwritable_path(void **state) {
  (void)state;
  hs_ctrace t;
  assert_int_equal(HS_EINVAL, hs_ctrace_open(&t, "/nonexistent-dir/x.json", "p"));
  hs_ctrace_sent(&t, 0, 0, 1, "b", "X", 1, 1); /* a closed writer ignores events */
  assert_int_equal(HS_OK, hs_ctrace_close(&t, 0));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_a_small_run),
      cmocka_unit_test(test_filters_and_window),
      cmocka_unit_test(test_unwritable_path),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
