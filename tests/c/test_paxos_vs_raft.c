/*
 * test_paxos_vs_raft.c - Multi-Paxos and Raft cores side by side on the same workload: 5 nodes,
 * 100 closed-loop clients submitting on the leader (a client submits its next command as soon as
 * its previous one is applied on the leader), every message encoded by the sender and decoded by
 * the receiver, over a network with a uniform latency of 0.4-0.6 ms. Default batching on both
 * (64 entries or slots per message, 32 messages in flight per follower).
 *
 * What is asserted is deterministic: every command is applied everywhere, and Multi-Paxos needs
 * no more messages per command than 1.2 x Raft (messages are what the simulator pays for). The
 * CPU time of each run is printed, not asserted (no test asserts a timing).
 * HS_BENCH_COMMANDS=100000 makes it a benchmark.
 */
#include <stdio.h>
#include <time.h>

#include "paxos/hs_mpaxos.h"
#include "raft/hs_raft.h"
#include "test_msgq.h"

#define US 1000LL
#define N 5
#define CLIENTS 100

typedef struct bench {
  bool paxos;
  hs_raft *r[N + 1];
  hs_mpaxos *mp[N + 1];
  hs_time_ns now;
  hs_rng rng;
  hq flight; /* by arrival */
  uint64_t seq, messages, bytes;
  uint64_t done, target, submitted;
  uint64_t applied_on[N + 1];
  uint32_t ready[CLIENTS]; /* clients whose command was just applied on the leader */
  uint32_t n_ready;
  uint32_t leader;
  void *values; /* decode scratch */
  size_t values_cap;
} bench;

static void b_queue(bench *b, uint32_t to, uint8_t *buf, size_t len) {
  hmsg m = {.at = b->now + 400 * US + (hs_time_ns)hs_rng_below(&b->rng, 200 * US), .seq = ++b->seq, .to = to,
            .buf = buf, .len = len};
  b->messages++;
  b->bytes += len;
  hq_heap_push(&b->flight, m);
}

static void *b_scratch(bench *b, size_t n, size_t size) {
  if (n * size > b->values_cap) {
    b->values_cap = n * size * 2;
    b->values = realloc(b->values, b->values_cap);
  }
  return b->values;
}

static void b_client_done(bench *b, uint32_t id, bool mine, uint64_t tag) {
  b->applied_on[id]++;
  if (!mine) return;
  b->done++;
  b->ready[b->n_ready++] = (uint32_t)tag;
}

/* ---- Raft ----------------------------------------------------------------------------------- */

static bench *g_bench;

static void r_send(void *ud, const hs_raft_msg *m) {
  (void)ud;
  size_t len = hs_raft_msg_encoded_size(m);
  uint8_t *buf = malloc(len);
  hs_raft_msg_encode(m, buf, len);
  b_queue(g_bench, m->to, buf, len);
}

static void r_apply(void *ud, const hs_raft_entry *e, bool mine, uint64_t tag) {
  (void)e;
  b_client_done(g_bench, (uint32_t)(uintptr_t)ud, mine, tag);
}

/* ---- Multi-Paxos ------------------------------------------------------------------------------- */

static void p_send(void *ud, const hs_paxos_msg *m) {
  (void)ud;
  size_t len = hs_paxos_msg_encoded_size(m);
  uint8_t *buf = malloc(len);
  hs_paxos_msg_encode(m, buf, len);
  b_queue(g_bench, m->to, buf, len);
}

static void p_apply(void *ud, const hs_paxos_value *v, bool mine, uint64_t tag) {
  (void)v;
  b_client_done(g_bench, (uint32_t)(uintptr_t)ud, mine, tag);
}

/* ---- The run ------------------------------------------------------------------------------------- */

static void b_init(bench *b, bool paxos, uint64_t target) {
  memset(b, 0, sizeof *b);
  g_bench = b;
  b->paxos = paxos;
  b->target = target;
  hs_rng_seed(&b->rng, 7, "bench", 5);
  uint32_t ids[N];
  for (uint32_t i = 0; i < N; i++) ids[i] = i + 1;
  for (uint32_t id = 1; id <= N; id++) {
    char name[16];
    snprintf(name, sizeof name, "n%u", id);
    if (paxos) {
      hs_mpaxos_config c;
      hs_mpaxos_config_init(&c);
      c.id = id;
      c.members = ids;
      c.n_members = N;
      hs_rng_seed(&c.rng, 7, name, strlen(name));
      c.cb.send = p_send;
      c.cb.apply = p_apply;
      c.ud = (void *)(uintptr_t)id;
      assert_int_equal(hs_mpaxos_new(&c, &b->mp[id]), HS_OK);
      hs_mpaxos_start(b->mp[id], 0);
    } else {
      hs_raft_config c;
      hs_raft_config_init(&c);
      c.id = id;
      c.voters = ids;
      c.n_voters = N;
      hs_rng_seed(&c.rng, 7, name, strlen(name));
      c.cb.send = r_send;
      c.cb.apply = r_apply;
      c.ud = (void *)(uintptr_t)id;
      assert_int_equal(hs_raft_new(&c, &b->r[id]), HS_OK);
      hs_raft_start(b->r[id], 0);
    }
  }
}

static void b_free(bench *b) {
  for (uint32_t id = 1; id <= N; id++) {
    hs_mpaxos_free(b->mp[id]);
    hs_raft_free(b->r[id]);
  }
  hq_free(&b->flight);
  free(b->values);
}

static void b_deliver(bench *b, hmsg m) {
  if (b->paxos) {
    uint32_t n = hs_paxos_msg_decode_count(m.buf, m.len);
    hs_paxos_value *vals = b_scratch(b, n ? n : 1, sizeof *vals);
    hs_paxos_msg d;
    assert_int_equal(hs_paxos_msg_decode(&d, m.buf, m.len, vals, n), HS_OK);
    assert_int_equal(hs_mpaxos_step(b->mp[m.to], &d, b->now), HS_OK);
  } else {
    uint32_t n = hs_raft_msg_decode_count(m.buf, m.len);
    hs_raft_entry *ents = b_scratch(b, n ? n : 1, sizeof *ents);
    hs_raft_msg d;
    assert_int_equal(hs_raft_msg_decode(&d, m.buf, m.len, ents, n), HS_OK);
    assert_int_equal(hs_raft_step(b->r[m.to], &d, b->now), HS_OK);
  }
  free(m.buf);
}

static hs_time_ns b_deadline(void *bp, uint32_t id) {
  bench *b = bp;
  return b->paxos ? hs_mpaxos_next_deadline(b->mp[id]) : hs_raft_next_deadline(b->r[id]);
}

static void b_submit(bench *b, uint32_t client) {
  char cmd[32];
  int len = snprintf(cmd, sizeof cmd, "set k%u %llu", client, (unsigned long long)b->submitted++);
  int rc = b->paxos ? hs_mpaxos_submit(b->mp[b->leader], b->now, cmd, (size_t)len, client, NULL)
                    : hs_raft_propose(b->r[b->leader], b->now, cmd, (size_t)len, client, NULL);
  assert_int_equal(rc, HS_OK);
}

/* Runs until `target` commands are applied on the leader, then until every node applied them. */
static double b_run(bench *b) {
  b->leader = 1;
  if (b->paxos) hs_mpaxos_campaign(b->mp[1], b->now);
  else hs_raft_campaign(b->r[1], b->now);
  clock_t c0 = clock();
  bool clients_started = false;
  for (uint64_t guard = 0; guard < 100000000; guard++) {
    bool leading = b->paxos ? hs_mpaxos_role_of(b->mp[1]) == HS_MPAXOS_LEADER
                            : hs_raft_role_of(b->r[1]) == HS_RAFT_LEADER && hs_raft_commit_index(b->r[1]) >= 1;
    if (leading && !clients_started) {
      clients_started = true;
      for (uint32_t c = 1; c <= CLIENTS; c++) b_submit(b, c);
    }
    while (b->n_ready) {
      uint32_t c = b->ready[--b->n_ready];
      if (b->submitted < b->target) b_submit(b, c);
    }
    bool all = b->done >= b->target;
    for (uint32_t id = 1; id <= N && all; id++) all = b->applied_on[id] >= b->target + (b->paxos ? 0 : 1);
    if (all) break;
    uint32_t who;
    hs_time_ns dl = h_earliest(b, N, b_deadline, &who);
    if (b->flight.len && b->flight.m[0].at <= dl) {
      hmsg m = hq_heap_pop(&b->flight);
      if (m.at > b->now) b->now = m.at;
      b_deliver(b, m);
    } else if (dl != HS_TIME_NEVER) {
      if (dl > b->now) b->now = dl;
      if (b->paxos) hs_mpaxos_tick(b->mp[who], b->now);
      else hs_raft_tick(b->r[who], b->now);
    } else {
      break;
    }
  }
  return (double)(clock() - c0) / CLOCKS_PER_SEC;
}

static void test_multi_paxos_against_raft(void **s) {
  (void)s;
  const char *env = getenv("HS_BENCH_COMMANDS");
  uint64_t target = env ? strtoull(env, NULL, 10) : 20000;
  double cpu[2], per[2];
  uint64_t msgs[2];
  for (int k = 0; k < 2; k++) {
    bench *b = malloc(sizeof *b);
    b_init(b, k == 1, target);
    cpu[k] = b_run(b);
    assert_true(b->done >= target);
    for (uint32_t id = 1; id <= N; id++) assert_true(b->applied_on[id] >= target);
    msgs[k] = b->messages;
    per[k] = (double)b->messages / (double)b->done;
    print_message("%-11s %llu commands, %.2f messages and %.0f bytes per command, %.3f s of CPU (%.0f k commands/s), "
                  "%.3f simulated s\n",
                  k ? "Multi-Paxos" : "Raft", (unsigned long long)b->done, per[k], (double)b->bytes / (double)b->done,
                  cpu[k], (double)b->done / (cpu[k] > 0 ? cpu[k] : 1e-9) / 1000.0, (double)b->now / 1e9);
    b_free(b);
    free(b);
  }
  print_message("Multi-Paxos / Raft: %.2f x the messages, %.2f x the CPU time\n", per[1] / per[0],
                cpu[0] > 0 ? cpu[1] / cpu[0] : 0.0);
  assert_true((double)msgs[1] <= 1.2 * (double)msgs[0]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_multi_paxos_against_raft),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
