/*
 * test_paxos_fuzz.c - forged input never crashes a Paxos core, nor makes it read out of bounds
 * or allocate without bound (run under ASan/UBSan by ./test.sh --sanitize).
 *
 * Running 3-node clusters of both kinds receive, between their real messages: real messages
 * with random bytes flipped or cut short (most fail to decode; those that decode are stepped),
 * and structured messages with valid headers and random fields (types, ballots, slots near the
 * window and the counters' limit, values, chosen flags). A node cannot tell a forged message
 * from a real one, so safety is not checked here, only robustness: every step returns, every
 * refusal is counted, and memory stays bounded by the window.
 */
#include "test_paxos_harness.h"

static uint64_t pick_counter(hs_rng *rng) {
  switch (hs_rng_below(rng, 6)) {
  case 0: return 0;
  case 1: return hs_rng_below(rng, 8);
  case 2: return hs_rng_below(rng, 200);
  case 3: return HS_PAXOS_MAX_COUNTER - hs_rng_below(rng, 3);
  case 4: return HS_PAXOS_MAX_COUNTER + hs_rng_below(rng, 3);
  default: return hs_rng_next(rng);
  }
}

static hs_paxos_ballot pick_ballot(hs_rng *rng, uint32_t from) {
  hs_paxos_ballot b = {pick_counter(rng), hs_rng_below(rng, 4) ? from : (uint32_t)hs_rng_below(rng, 5)};
  return b;
}

/* A structured message with random fields, from a random member to `to`. */
static void forge(hs_rng *rng, uint32_t to, hs_paxos_msg *m, hs_paxos_value *vals, uint8_t *bytes) {
  memset(m, 0, sizeof *m);
  m->type = (hs_paxos_msg_type)hs_rng_below(rng, HS_PAXOS_MSG_TYPE_COUNT);
  m->to = to;
  do m->from = 1 + (uint32_t)hs_rng_below(rng, 3);
  while (m->from == to);
  m->ballot = pick_ballot(rng, m->from);
  m->promised = pick_ballot(rng, (uint32_t)hs_rng_below(rng, 4));
  m->slot = pick_counter(rng);
  m->last = hs_rng_below(rng, 2) ? m->slot + hs_rng_below(rng, 70) : pick_counter(rng);
  m->commit = pick_counter(rng);
  m->n_values = (uint32_t)hs_rng_below(rng, 5);
  uint64_t slot = hs_rng_below(rng, 3) ? 1 + hs_rng_below(rng, 80) : pick_counter(rng);
  for (uint32_t i = 0; i < m->n_values; i++) {
    hs_paxos_value *v = &vals[i];
    v->slot = hs_rng_below(rng, 6) ? slot + i : pick_counter(rng);
    v->ballot = pick_ballot(rng, m->from);
    v->origin = pick_ballot(rng, m->from);
    v->type = hs_rng_below(rng, 5) ? HS_PAXOS_VALUE_NORMAL : HS_PAXOS_VALUE_NOOP;
    v->chosen = hs_rng_below(rng, 2);
    v->len = v->type == HS_PAXOS_VALUE_NOOP ? 0 : (uint32_t)hs_rng_below(rng, 16);
    for (uint32_t k = 0; k < v->len; k++) bytes[16 * i + k] = (uint8_t)hs_rng_next(rng);
    v->data = v->len ? bytes + 16 * i : NULL;
  }
  m->values = m->n_values ? vals : NULL;
}

static void fuzz_cluster(bool multi, uint64_t seed, int rounds) {
  popts o = popts_default();
  o.seed = seed;
  o.window = 512;
  pnet net;
  pnet_init(&net);
  pn_cluster(&net, multi, 3, &o);
  hs_rng rng;
  hs_rng_seed(&rng, seed, "fuzz", 4);
  if (multi) pnet_elect(&net, 1);
  uint64_t refused = 0, stepped = 0;
  for (int i = 0; i < rounds; i++) {
    uint32_t to = 1 + (uint32_t)hs_rng_below(&rng, 3);
    uint64_t dice = hs_rng_below(&rng, 10);
    if (dice < 4) { /* a real message corrupted */
      if (!net.q.len) continue;
      size_t k = (size_t)hs_rng_below(&rng, net.q.len);
      pmsg t = hq_remove(&net.q, k);
      size_t len = t.len - (size_t)hs_rng_below(&rng, t.len < 8 ? t.len + 1 : 8);
      for (int f = 0; f < 3 && len; f++) t.buf[hs_rng_below(&rng, len)] = (uint8_t)hs_rng_next(&rng);
      uint32_t n = hs_paxos_msg_decode_count(t.buf, len);
      hs_paxos_value *vals = malloc((n ? n : 1) * sizeof *vals);
      hs_paxos_msg m;
      if (hs_paxos_msg_decode(&m, t.buf, len, vals, n) == HS_OK && m.to >= 1 && m.to <= 3) {
        stepped++;
        refused += pn_step(&net, &m) != HS_OK;
      }
      free(vals);
      free(t.buf);
    } else if (dice < 7) { /* a forged message */
      hs_paxos_msg m;
      hs_paxos_value vals[4];
      uint8_t bytes[64];
      forge(&rng, to, &m, vals, bytes);
      stepped++;
      refused += pn_step(&net, &m) != HS_OK;
    } else if (dice < 8) {
      if (multi) {
        hs_mpaxos_submit(MP(&net, to), net.now, "cmd", 3, (uint64_t)i, NULL);
      } else {
        hs_paxos_propose(SD(&net, to), net.now, "v", 1);
      }
    } else if (net.q.len) {
      pq_deliver_at(&net, (size_t)hs_rng_below(&rng, net.q.len));
    }
    pnet_advance(&net, MS);
  }
  uint64_t counted = 0;
  for (uint32_t id = 1; id <= 3; id++) {
    if (multi) {
      hs_mpaxos_stats st;
      hs_mpaxos_get_stats(MP(&net, id), &st);
      counted += st.malformed_messages;
      assert_true(st.log_length <= st.commit_index + 2 * o.window);
    } else {
      hs_paxos_stats st;
      hs_paxos_get_stats(SD(&net, id), &st);
      counted += st.malformed_messages;
    }
  }
  assert_true(stepped > (uint64_t)rounds / 4);
  assert_true(refused > 0);
  if (net.violation) fail_msg("%s", net.why);
  assert_u64(counted, refused);
  pnet_free(&net);
}

static void test_forged_messages_multi_paxos(void **s) {
  (void)s;
  for (uint64_t seed = 1; seed <= 10; seed++) fuzz_cluster(true, seed, 5000);
}

static void test_forged_messages_single_decree(void **s) {
  (void)s;
  for (uint64_t seed = 1; seed <= 10; seed++) fuzz_cluster(false, seed, 5000);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_forged_messages_multi_paxos),
      cmocka_unit_test(test_forged_messages_single_decree),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
