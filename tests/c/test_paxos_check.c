/*
 * test_paxos_check.c - the Paxos invariant checker on hand-written histories: each invariant
 * holds on a correct history and fires, with a message that says what broke, on a broken one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "paxos/hs_paxos_check.h"

static hs_paxos_value V(uint64_t slot, const char *s, uint64_t round, uint32_t node) {
  hs_paxos_value v = {.slot = slot, .ballot = {round, node}, .origin = {round, node}, .len = (uint32_t)strlen(s),
                      .data = (const uint8_t *)s};
  return v;
}

static int violations;
static void on_violation(void *ud, const char *msg) {
  (void)ud;
  (void)msg;
  violations++;
}

static void expect_violation(hs_paxos_checker *c, const char *needle) {
  assert_true(c->violated);
  if (!strstr(c->violation, needle)) fail_msg("violation '%s' does not mention '%s'", c->violation, needle);
}

/* A value is chosen once phase2_quorum acceptors took it in one ballot; learning, then applying
 * it, is fine on every node; a later ballot re-proposing it keeps it chosen. */
static void test_correct_history_passes(void **s) {
  (void)s;
  hs_paxos_checker c;
  hs_paxos_checker_init(&c, 2);
  hs_paxos_value a = V(1, "a", 1, 1);
  hs_paxos_checker_note_accept(&c, 1, &a, 0);
  assert_false(hs_paxos_checker_chosen(&c, 1, NULL));
  hs_paxos_checker_note_accept(&c, 1, &a, 0); /* the same acceptor twice is one acceptance */
  assert_false(hs_paxos_checker_chosen(&c, 1, NULL));
  hs_paxos_checker_note_accept(&c, 2, &a, 0);
  uint64_t h;
  assert_true(hs_paxos_checker_chosen(&c, 1, &h));
  assert_int_equal(h, hs_paxos_checker_value_hash(&a));
  hs_paxos_value again = a;
  again.ballot = (hs_paxos_ballot){2, 3}; /* a new leader proposes it again, keeping its origin */
  hs_paxos_checker_note_accept(&c, 3, &again, 0);
  hs_paxos_checker_note_accept(&c, 2, &again, 0);
  for (uint32_t n = 1; n <= 3; n++) {
    hs_paxos_checker_note_choose(&c, n, &a, 0);
    hs_paxos_checker_note_apply(&c, n, &a, 0);
  }
  hs_paxos_checker_note_restart(&c, 2);
  hs_paxos_checker_note_apply(&c, 2, &a, 0); /* from slot 1 again */
  assert_false(c.violated);
  assert_int_equal(c.chosen, 1);
  hs_paxos_checker_free(&c);
}

static void test_two_values_chosen(void **s) {
  (void)s;
  hs_paxos_checker c;
  hs_paxos_checker_init(&c, 2);
  violations = 0;
  c.on_violation = on_violation;
  hs_paxos_value a = V(4, "a", 1, 1), b = V(4, "b", 2, 2);
  hs_paxos_checker_note_accept(&c, 1, &a, 0);
  hs_paxos_checker_note_accept(&c, 2, &a, 0);
  hs_paxos_checker_note_accept(&c, 3, &b, 0);
  assert_false(c.violated);
  hs_paxos_checker_note_accept(&c, 2, &b, 7);
  expect_violation(&c, "two values chosen at slot 4");
  assert_int_equal(c.violation_ns, 7);
  assert_int_equal(violations, 1);
  hs_paxos_checker_note_accept(&c, 4, &b, 8); /* later ones do not overwrite the first */
  assert_int_equal(violations, 1);
  hs_paxos_checker_free(&c);
}

static void test_one_value_per_ballot(void **s) {
  (void)s;
  hs_paxos_checker c;
  hs_paxos_checker_init(&c, 3);
  hs_paxos_value a = V(1, "a", 5, 2), b = V(1, "b", 5, 2);
  hs_paxos_checker_note_accept(&c, 1, &a, 0);
  hs_paxos_checker_note_accept(&c, 3, &b, 0);
  expect_violation(&c, "one value per ballot");
  hs_paxos_checker_free(&c);
}

/* Values are told apart by origin too: the same bytes proposed by two ballots are two values. */
static void test_learning_what_is_not_chosen(void **s) {
  (void)s;
  hs_paxos_checker c;
  hs_paxos_checker_init(&c, 2);
  hs_paxos_value a = V(2, "x", 1, 1), other = V(2, "x", 3, 3);
  hs_paxos_checker_note_choose(&c, 1, &a, 0);
  expect_violation(&c, "no quorum accepted");
  hs_paxos_checker_free(&c);
  hs_paxos_checker_init(&c, 2);
  hs_paxos_checker_note_accept(&c, 1, &a, 0);
  hs_paxos_checker_note_accept(&c, 2, &a, 0);
  hs_paxos_checker_note_choose(&c, 3, &other, 0);
  expect_violation(&c, "other than the one chosen");
  hs_paxos_checker_free(&c);
}

static void test_apply_order_and_value(void **s) {
  (void)s;
  hs_paxos_checker c;
  hs_paxos_checker_init(&c, 1);
  hs_paxos_value a = V(1, "a", 1, 1), b = V(2, "b", 1, 1), wrong = V(2, "c", 1, 1);
  hs_paxos_checker_note_accept(&c, 1, &a, 0);
  hs_paxos_checker_note_accept(&c, 1, &b, 0);
  hs_paxos_checker_note_apply(&c, 2, &b, 0);
  expect_violation(&c, "applied slot 2 after slot 0");
  hs_paxos_checker_free(&c);
  hs_paxos_checker_init(&c, 1);
  hs_paxos_checker_note_accept(&c, 1, &a, 0);
  hs_paxos_checker_note_accept(&c, 1, &b, 0);
  hs_paxos_checker_note_apply(&c, 2, &a, 0);
  hs_paxos_checker_note_apply(&c, 2, &wrong, 0);
  expect_violation(&c, "state machine safety");
  hs_paxos_checker_free(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_correct_history_passes),
      cmocka_unit_test(test_two_values_chosen),
      cmocka_unit_test(test_one_value_per_ballot),
      cmocka_unit_test(test_learning_what_is_not_chosen),
      cmocka_unit_test(test_apply_order_and_value),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
