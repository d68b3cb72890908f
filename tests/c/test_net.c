/*
 * test_net.c - the simulated network: link properties measured statistically (loss,
 * latency, jitter with FIFO, reordering, duplication, bandwidth), routing and the default
 * link, every partition shape and the in-flight rule, crashes, interception (drop, delay,
 * duplicate, hold), counters, the slab, determinism, payload ownership and bad arguments.
 *
 * Every test runs in a fresh world of 8 registered nodes. Payloads are malloc'd ints, freed
 * by the network's release hook; teardown checks that none is left (and ASan that none is
 * freed twice).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/hs_sim.h"
#include "net/hs_net.h"

#define NODES 8
#define MS 1000000LL /* ns */

#define assert_rc(actual, expected)                                                                          \
  do {                                                                                                       \
    int a_ = (actual), e_ = (expected);                                                                      \
    if (a_ != e_)                                                                                            \
      fail_msg("%s: got %d (%s), expected %d (%s)", #actual, a_, hs_net_strerror(a_), e_,                    \
               hs_net_strerror(e_));                                                                         \
  } while (0)

#define assert_u64(actual, expected)                                                                         \
  do {                                                                                                       \
    uint64_t a_ = (actual), e_ = (expected);                                                                 \
    if (a_ != e_)                                                                                            \
      fail_msg("%s = %llu, expected %llu", #actual, (unsigned long long)a_, (unsigned long long)e_);         \
  } while (0)

#define assert_between(actual, lo, hi)                                                                       \
  do {                                                                                                       \
    double a_ = (double)(actual), l_ = (lo), h_ = (hi);                                                      \
    if (!(a_ >= l_ && a_ <= h_)) fail_msg("%s = %.9g, expected within [%.9g, %.9g]", #actual, a_, l_, h_);   \
  } while (0)

/* ---- The test world ------------------------------------------------------------------ */

typedef struct delivery {
  hs_time_ns at, sent;
  uint32_t src, dst, copy;
  uint64_t id;
  int tag;
} delivery;

typedef struct tnode {
  hs_entity base;
  uint64_t received;
  int reply_left; /* > 0: answer each message with one back, this many times */
} tnode;

static struct world {
  hs_sim sim;
  hs_net net;
  tnode nodes[NODES];
  char names[NODES][8];
  delivery *log;
  size_t nlog, caplog;
  bool keep_log;
  int64_t payload_live; /* malloc'd payloads not yet freed */
  uint64_t releases, copies;
  uint64_t outcomes[HS_NET_DROPPED_FILTER + 1];
} W;

static hs_entity *N(int i) { return &W.nodes[i].base; }

static void *payload_copy(void *ud, void *payload, uint64_t size) {
  (void)ud;
  (void)size;
  int *c = malloc(sizeof *c);
  assert_non_null(c);
  *c = *(int *)payload;
  W.payload_live++;
  W.copies++;
  return c;
}

static void payload_release(void *ud, void *payload) {
  (void)ud;
  free(payload);
  W.payload_live--;
  W.releases++;
}

static void on_message(hs_entity *e, hs_message *m) {
  tnode *n = HS_CONTAINER_OF(e, tnode, base);
  assert_ptr_equal(m->dst, e);
  assert_int_equal(m->state, HS_MSG_DELIVERING);
  assert_false(hs_event_pending(&m->ev)); /* it fires now: no longer queued */
  n->received++;
  if (W.keep_log) {
    if (W.nlog == W.caplog) {
      W.caplog = W.caplog ? W.caplog * 2 : 1024;
      W.log = realloc(W.log, W.caplog * sizeof *W.log);
      assert_non_null(W.log);
    }
    W.log[W.nlog++] = (delivery){hs_sim_now(e->sim),
                                 m->sent_ns,
                                 m->src->id,
                                 m->dst->id,
                                 m->copy,
                                 m->id,
                                 m->payload ? *(int *)m->payload : -1};
  }
  if (n->reply_left > 0) {
    n->reply_left--;
    int *p = malloc(sizeof *p);
    *p = *(int *)m->payload + 1;
    W.payload_live++;
    assert_rc(hs_net_send(&W.net, e, m->src, "reply", p, 100, NULL), HS_OK);
  }
}

static const hs_entity_vtable node_vt = {"TestNode", NULL, NULL, on_message};

static void observe(void *ud, const hs_message *m, hs_net_outcome o) {
  (void)ud;
  (void)m;
  W.outcomes[o]++;
}

static void world_open(uint64_t seed) {
  memset(&W, 0, sizeof W);
  hs_sim_init(&W.sim, seed);
  for (int i = 0; i < NODES; i++) {
    snprintf(W.names[i], sizeof W.names[i], "n%d", i);
    hs_entity_init(N(i), &node_vt, W.names[i]);
    assert_rc(hs_sim_register(&W.sim, N(i)), HS_OK);
  }
  assert_rc(hs_net_init(&W.net, &W.sim, "test"), HS_OK);
  hs_net_payload_ops ops = {payload_copy, payload_release, NULL};
  hs_net_set_payload_ops(&W.net, &ops);
  hs_net_set_observer(&W.net, observe, NULL);
  W.keep_log = true;
}

static void world_close(void) {
  hs_net_close(&W.net);
  hs_net_close(&W.net); /* idempotent */
  hs_sim_close(&W.sim);
  free(W.log);
  W.log = NULL;
  if (W.payload_live != 0) fail_msg("%lld payloads were never released", (long long)W.payload_live);
}

static int setup(void **state) {
  (void)state;
  world_open(42);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  world_close();
  return 0;
}

/* Sends a malloc'd int tagged tag; on refusal the payload is still ours and is freed. */
static int send_tag(int from, int to, int tag, uint64_t size) {
  int *p = malloc(sizeof *p);
  assert_non_null(p);
  *p = tag;
  W.payload_live++;
  int rc = hs_net_send(&W.net, N(from), N(to), "msg", p, size, NULL);
  if (rc != HS_OK) {
    free(p);
    W.payload_live--;
  }
  return rc;
}

static hs_link_params link_ms(double latency_ms) {
  hs_link_params p;
  hs_link_params_init(&p);
  p.latency = hs_dist_constant(latency_ms / 1000);
  return p;
}

static void run(void) { hs_sim_run(&W.sim); }

static void at(hs_time_ns t) { hs_sim_run_until(&W.sim, t); }

/* After a run: every copy is accounted for, per link and in total, and links sum to totals. */
static void assert_balanced(void) {
  hs_net_counters sum;
  memset(&sum, 0, sizeof sum);
  assert_u64(hs_net_in_flight(&W.net), 0);
  for (size_t i = 0; i < hs_net_link_count(&W.net); i++) {
    const hs_link *l = hs_net_link_at(&W.net, i);
    assert_int_equal(l->index, i);
    uint64_t held = 0;
    for (hs_message *m = hs_net_held_first(&W.net); m; m = hs_net_held_next(m)) held += m->link == l;
    const hs_net_counters *c = &l->stats;
    assert_u64(c->sent + c->duplicated, c->delivered + hs_net_counters_dropped(c) + held);
    sum.sent += c->sent, sum.delivered += c->delivered, sum.duplicated += c->duplicated;
    sum.held += c->held, sum.dropped_loss += c->dropped_loss;
    sum.dropped_partition += c->dropped_partition, sum.dropped_crash += c->dropped_crash;
    sum.dropped_no_route += c->dropped_no_route, sum.dropped_filter += c->dropped_filter;
    sum.bytes_sent += c->bytes_sent, sum.bytes_delivered += c->bytes_delivered;
  }
  assert_memory_equal(&sum, hs_net_stats(&W.net), sizeof sum);
  const hs_net_counters *t = hs_net_stats(&W.net);
  assert_u64(t->sent + t->duplicated, t->delivered + hs_net_counters_dropped(t) + hs_net_held_count(&W.net));
  /* the observer saw the same story */
  assert_u64(W.outcomes[HS_NET_SENT], t->sent);
  assert_u64(W.outcomes[HS_NET_DELIVERED], t->delivered);
  assert_u64(W.outcomes[HS_NET_DROPPED_LOSS], t->dropped_loss);
  assert_u64(W.outcomes[HS_NET_DROPPED_PARTITION], t->dropped_partition);
  assert_u64(W.outcomes[HS_NET_DROPPED_FILTER], t->dropped_filter);
  /* every copy not held has been released */
  assert_u64(W.payload_live, hs_net_held_count(&W.net));
}

/* ---- Basics -------------------------------------------------------------------------- */

static void test_constant_latency_delivery(void **state) {
  (void)state;
  hs_link_params p = link_ms(10);
  hs_link *l = NULL;
  assert_rc(hs_net_add_link(&W.net, N(0), N(1), &p, &l), HS_OK);
  assert_non_null(l);
  uint64_t id = 0;
  int *payload = malloc(sizeof *payload);
  *payload = 7;
  W.payload_live++;
  assert_rc(hs_net_send(&W.net, N(0), N(1), "Ping", payload, 64, &id), HS_OK);
  assert_u64(id, 1);
  assert_u64(hs_net_in_flight(&W.net), 1);
  assert_int_equal(hs_sim_pending(&W.sim), 1); /* one engine event per message */
  run();
  assert_int_equal(W.nlog, 1);
  assert_true(W.log[0].at == 10 * MS);
  assert_int_equal(W.log[0].tag, 7);
  assert_int_equal(W.log[0].src, 0);
  assert_int_equal(W.log[0].dst, 1);
  assert_u64(W.sim.events_processed, 1);
  assert_u64(l->stats.sent, 1);
  assert_u64(l->stats.delivered, 1);
  assert_u64(l->stats.bytes_sent, 64);
  assert_u64(l->stats.bytes_delivered, 64);
  assert_ptr_equal(hs_net_find_link(&W.net, N(0), N(1)), l);
  assert_null(hs_net_find_link(&W.net, N(1), N(0))); /* links are directed */
  assert_balanced();
}

static void test_default_link_and_no_route(void **state) {
  (void)state;
  assert_rc(send_tag(0, 1, 1, 10), HS_OK); /* no link, no default */
  run();
  assert_int_equal(W.nlog, 0);
  const hs_link *l = hs_net_find_link(&W.net, N(0), N(1));
  assert_non_null(l); /* the pair got a record for the traffic matrix */
  assert_false(hs_link_explicit(l));
  assert_u64(l->stats.dropped_no_route, 1);

  hs_link_params def = link_ms(5), own = link_ms(1);
  assert_rc(hs_net_set_default_link(&W.net, &def), HS_OK);
  assert_rc(send_tag(0, 1, 2, 10), HS_OK);
  run();
  assert_int_equal(W.nlog, 1);
  assert_true(W.log[0].at - W.log[0].sent == 5 * MS);

  assert_rc(hs_net_add_link(&W.net, N(0), N(1), &own, NULL), HS_OK); /* the record is reused */
  assert_int_equal(hs_net_link_count(&W.net), 1);
  assert_true(hs_link_explicit(l));
  assert_rc(send_tag(0, 1, 3, 10), HS_OK);
  run();
  assert_true(W.log[1].at - W.log[1].sent == 1 * MS);

  assert_rc(hs_net_remove_link(&W.net, N(0), N(1)), HS_OK); /* back to the default */
  assert_rc(send_tag(0, 1, 4, 10), HS_OK);
  run();
  assert_true(W.log[2].at - W.log[2].sent == 5 * MS);

  assert_rc(hs_net_set_default_link(&W.net, NULL), HS_OK);
  assert_rc(send_tag(0, 1, 5, 10), HS_OK);
  assert_rc(send_tag(2, 2, 6, 10), HS_OK); /* sending to oneself uses the default link too */
  run();
  assert_int_equal(W.nlog, 3);
  assert_u64(l->stats.dropped_no_route, 2);
  assert_u64(hs_net_stats(&W.net)->dropped_no_route, 3);
  assert_balanced();
}

static void test_bad_arguments(void **state) {
  (void)state;
  hs_link_params p = link_ms(1);
  hs_entity stranger;
  hs_entity_init(&stranger, &node_vt, "stranger");
  hs_sim other;
  hs_sim_init(&other, 1);
  hs_entity elsewhere;
  hs_entity_init(&elsewhere, &node_vt, "elsewhere");
  assert_rc(hs_sim_register(&other, &elsewhere), HS_OK);

  assert_rc(hs_net_add_link(&W.net, N(0), &stranger, &p, NULL), HS_NET_EUNKNOWN);
  assert_rc(hs_net_add_link(&W.net, &elsewhere, N(0), &p, NULL), HS_NET_EUNKNOWN);
  assert_rc(hs_net_add_link(&W.net, N(0), NULL, &p, NULL), HS_NET_EUNKNOWN);
  assert_rc(hs_net_add_link(&W.net, N(3), N(3), &p, NULL), HS_NET_ESELF);
  assert_rc(hs_net_add_link(&W.net, N(0), N(1), NULL, NULL), HS_NET_EPARAM);
  int x = 0;
  assert_rc(hs_net_send(&W.net, N(0), &stranger, "m", &x, 1, NULL), HS_NET_EUNKNOWN);
  assert_rc(hs_net_send(&W.net, &elsewhere, N(0), "m", &x, 1, NULL), HS_NET_EUNKNOWN);
  hs_entity *group[] = {N(0), &stranger}, *other_group[] = {N(1)};
  assert_rc(hs_net_partition(&W.net, group, 2, other_group, 1, false, NULL), HS_NET_EUNKNOWN);
  assert_rc(hs_net_partition(&W.net, group, 0, other_group, 1, false, NULL), HS_NET_EGROUP);
  hs_entity *overlap[] = {N(1), N(2)};
  assert_rc(hs_net_partition(&W.net, overlap, 2, other_group, 1, false, NULL), HS_NET_EGROUP);
  assert_rc(hs_net_heal(&W.net, 12345), HS_NET_ENOPART);
  assert_false(hs_net_is_partitioned(&W.net, N(0), &stranger));
  assert_null(hs_net_find_link(&W.net, N(0), &stranger));
  hs_entity *mesh[] = {N(0), N(1), &stranger};
  assert_rc(hs_net_connect_all(&W.net, mesh, 3, &p), HS_NET_EUNKNOWN);
  assert_int_equal(hs_net_link_count(&W.net), 0); /* nothing was added */

  /* Each bad parameter is refused with a message naming it. */
  struct {
    hs_link_params p;
    const char *field;
  } bad[10];
  for (int i = 0; i < 10; i++) bad[i].p = link_ms(1);
  bad[0].p.packet_loss_rate = -0.1, bad[0].field = "packet_loss_rate";
  bad[1].p.packet_loss_rate = 1.5, bad[1].field = "packet_loss_rate";
  bad[2].p.packet_loss_rate = NAN, bad[2].field = "packet_loss_rate";
  bad[3].p.latency = hs_dist_constant(-0.001), bad[3].field = "latency";
  bad[4].p.jitter = hs_dist_normal(0.001, -1), bad[4].field = "jitter";
  bad[5].p.bandwidth_bps = -1, bad[5].field = "bandwidth_bps";
  bad[6].p.duplicate_rate = 2, bad[6].field = "duplicate_rate";
  bad[7].p.reorder_rate = -1, bad[7].field = "reorder_rate";
  bad[8].p.reorder_delay_s = -1, bad[8].field = "reorder_delay_s";
  bad[9].p.bandwidth_bps = INFINITY, bad[9].field = "bandwidth_bps";
  for (int i = 0; i < 10; i++) {
    const char *msg = hs_link_params_validate(&bad[i].p);
    assert_non_null(msg);
    if (!strstr(msg, bad[i].field)) fail_msg("case %d: '%s' does not name %s", i, msg, bad[i].field);
    assert_rc(hs_net_add_link(&W.net, N(0), N(1), &bad[i].p, NULL), HS_NET_EPARAM);
    assert_rc(hs_net_set_default_link(&W.net, &bad[i].p), HS_NET_EPARAM);
    assert_rc(hs_net_add_bidirectional_link(&W.net, N(0), N(1), &bad[i].p), HS_NET_EPARAM);
  }
  assert_int_equal(hs_net_link_count(&W.net), 0);
  assert_null(hs_link_params_validate(&p));

  /* A crashed source cannot send, and keeps its payload. */
  hs_entity_crash(N(4));
  assert_rc(send_tag(4, 0, 1, 1), HS_NET_ECRASHED);
  assert_u64(hs_net_stats(&W.net)->sent, 0);

  /* Held-message calls on a message that is not held. */
  hs_message fake;
  memset(&fake, 0, sizeof fake);
  assert_rc(hs_net_held_deliver(&W.net, &fake, 0), HS_NET_ENOTHELD);
  assert_rc(hs_net_held_drop(&W.net, &fake), HS_NET_ENOTHELD);

  /* Every code has its own message. */
  int codes[] = {HS_OK,           HS_EINVAL,      HS_ENOMEM,       HS_ECLOSED,
                 HS_NET_EUNKNOWN, HS_NET_ESELF,   HS_NET_ECRASHED, HS_NET_EPARAM,
                 HS_NET_ENOTHELD, HS_NET_ENOPART, HS_NET_EGROUP};
  for (size_t i = 0; i < sizeof codes / sizeof *codes; i++)
    for (size_t j = 0; j < i; j++)
      assert_string_not_equal(hs_net_strerror(codes[i]), hs_net_strerror(codes[j]));

  /* A closed network refuses everything. */
  hs_net_close(&W.net);
  assert_rc(send_tag(0, 1, 1, 1), HS_ECLOSED);
  assert_rc(hs_net_add_link(&W.net, N(0), N(1), &p, NULL), HS_ECLOSED);
  hs_sim_close(&other);
}

/* ---- Link properties ----------------------------------------------------------------- */

static void test_loss_rate_over_100k(void **state) {
  (void)state;
  enum { MSGS = 100000 };
  hs_link_params p = link_ms(1);
  p.packet_loss_rate = 0.1;
  hs_link *l;
  assert_rc(hs_net_add_link(&W.net, N(0), N(1), &p, &l), HS_OK);
  W.keep_log = false;
  for (int i = 0; i < MSGS; i++) assert_rc(send_tag(0, 1, i, 100), HS_OK);
  run();
  /* binomial(100k, 0.1): sd ~ 95; 5 sd */
  assert_between(l->stats.dropped_loss, 10000 - 475, 10000 + 475);
  assert_u64(l->stats.delivered + l->stats.dropped_loss, MSGS);
  assert_u64(l->stats.bytes_delivered, l->stats.delivered * 100);
  assert_u64(W.nodes[1].received, l->stats.delivered);
  assert_balanced();
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Sends one message every second (far apart: no FIFO clamp or queueing) and measures delays. */
static void measure_link_delay(const hs_dist *latency, const hs_dist *jitter, int msgs, double *mean,
                               double **sorted) {
  hs_link_params p;
  hs_link_params_init(&p);
  p.latency = *latency;
  if (jitter) p.jitter = *jitter;
  assert_rc(hs_net_add_link(&W.net, N(0), N(1), &p, NULL), HS_OK);
  W.nlog = 0;
  for (int i = 0; i < msgs; i++) {
    at((hs_time_ns)i * HS_NS_PER_S);
    assert_rc(send_tag(0, 1, i, 10), HS_OK);
  }
  run();
  assert_int_equal(W.nlog, msgs);
  double *d = malloc((size_t)msgs * sizeof *d), sum = 0;
  for (int i = 0; i < msgs; i++) {
    d[i] = hs_time_to_s(W.log[i].at - W.log[i].sent);
    sum += d[i];
  }
  qsort(d, (size_t)msgs, sizeof *d, cmp_double);
  *mean = sum / msgs;
  *sorted = d;
}

static void test_latency_of_each_distribution(void **state) {
  (void)state;
  enum { MSGS = 40000 };
  const double probs[] = {0.5, 0.99}, vals[] = {0.020, 0.150};
  hs_dist pct;
  assert_null(hs_dist_percentiles(&pct, probs, vals, 2, 0.005));
  struct {
    hs_dist d;
    double p50, p99; /* expected, or NAN when not checked */
  } cases[] = {
      {hs_dist_constant(0.003), 0.003, 0.003},
      {hs_dist_uniform(0.001, 0.009), 0.005, 0.00892},
      {hs_dist_exponential(0.004), 0.004 * log(2.0), 0.004 * log(100.0)},
      {hs_dist_normal(0.050, 0.010), 0.050, 0.050 + 2.3263 * 0.010},
      {hs_dist_lognormal(log(0.030), 0.4), 0.030, 0.030 * exp(2.3263 * 0.4)},
      {pct, 0.020, 0.150},
  };
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    world_close();
    world_open(1000 + k);
    double mean, *d;
    measure_link_delay(&cases[k].d, NULL, MSGS, &mean, &d);
    double expect = hs_dist_mean(&cases[k].d);
    if (fabs(mean - expect) > 0.02 * expect + 2e-9)
      fail_msg("%s: mean delay %.6g, expected %.6g", hs_dist_kind_name(cases[k].d.kind), mean, expect);
    double p50 = d[MSGS / 2], p99 = d[(int)(0.99 * MSGS)];
    if (fabs(p50 - cases[k].p50) > 0.03 * cases[k].p50 + 2e-9 ||
        fabs(p99 - cases[k].p99) > 0.05 * cases[k].p99 + 2e-9)
      fail_msg("%s: p50 %.6g (expected %.6g), p99 %.6g (expected %.6g)", hs_dist_kind_name(cases[k].d.kind),
               p50, cases[k].p50, p99, cases[k].p99);
    free(d);
  }
  /* Jitter adds to the latency. */
  world_close();
  world_open(7);
  hs_dist base = hs_dist_constant(0.010), jit = hs_dist_exponential(0.002);
  double mean, *d;
  measure_link_delay(&base, &jit, MSGS, &mean, &d);
  assert_between(mean, 0.012 * 0.98, 0.012 * 1.02);
  assert_true(d[0] >= 0.010);
  free(d);
}

/* Jitter larger than the gap between sends, no reordering: arrivals keep the send order. */
static void test_fifo_with_jitter(void **state) {
  (void)state;
  enum { MSGS = 20000 };
  hs_link_params p = link_ms(10);
  p.jitter = hs_dist_exponential(0.005);
  assert_rc(hs_net_add_link(&W.net, N(0), N(1), &p, NULL), HS_OK);
  assert_rc(hs_net_add_link(&W.net, N(0), N(2), &p, NULL), HS_OK);
  for (int i = 0; i < MSGS; i++) {
    at((hs_time_ns)i * 100000); /* every 0.1 ms */
    assert_rc(send_tag(0, 1 + (i & 1), i, 10), HS_OK);
  }
  run();
  assert_int_equal(W.nlog, MSGS);
  int last_tag[3] = {-1, -1, -1};
  hs_time_ns last_at[3] = {0, 0, 0};
  int clamped = 0;
  for (size_t i = 0; i < W.nlog; i++) {
    const delivery *d = &W.log[i];
    assert_true(d->tag > last_tag[d->dst]); /* per link, in send order */
    assert_true(d->at >= last_at[d->dst]);
    assert_true(d->at - d->sent >= 10 * MS);
    if (d->at == last_at[d->dst]) clamped++;
    last_tag[d->dst] = d->tag;
    last_at[d->dst] = d->at;
  }
  assert_true(clamped > 100); /* jitter did try to reorder: the clamp held it */
  assert_balanced();
}

/* Counts deliveries that arrive after a later-sent message on the same link. */
static int inversions(void) {
  int count = 0, last[NODES];
  for (int i = 0; i < NODES; i++) last[i] = -1;
  for (size_t i = 0; i < W.nlog; i++) {
    if (W.log[i].tag < last[W.log[i].dst])
      count++;
    else
      last[W.log[i].dst] = W.log[i].tag;
  }
  return count;
}

static void test_reordering_when_asked(void **state) {
  (void)state;
  enum { MSGS = 20000 };
  hs_link_params p = link_ms(10); /* constant latency: FIFO by itself */
  p.reorder_rate = 0.1;
  hs_link *l;
  assert_rc(hs_net_add_link(&W.net, N(0), N(1), &p, &l), HS_OK);
  for (int i = 0; i < MSGS; i++) {
    at((hs_time_ns)i * 500000); /* every 0.5 ms: a reordered message waits up to 10 ms */
    assert_rc(send_tag(0, 1, i, 10), HS_OK);
  }
  run();
  assert_int_equal(W.nlog, MSGS);
  int inv = inversions();
  /* About 10% are held back (by 5 ms on average, so overtaken by ~10 later messages). */
  assert_between(inv, 0.07 * MSGS, 0.13 * MSGS);
  for (size_t i = 0; i < W.nlog; i++) {
    hs_time_ns delay = W.log[i].at - W.log[i].sent;
    assert_true(delay >= 10 * MS && delay <= 20 * MS);
  }
  /* An explicit window */
  p.reorder_delay_s = 0.050;
  assert_rc(hs_net_add_link(&W.net, N(0), N(2), &p, NULL), HS_OK);
  W.nlog = 0;
  for (int i = 0; i < 2000; i++) {
    at(hs_sim_now(&W.sim) + 500000);
    assert_rc(send_tag(0, 2, i, 10), HS_OK);
  }
  run();
  hs_time_ns worst = 0;
  for (size_t i = 0; i < W.nlog; i++)
    if (W.log[i].at - W.log[i].sent > worst) worst = W.log[i].at - W.log[i].sent;
  assert_true(worst > 40 * MS && worst <= 60 * MS);
  assert_balanced();
}

static void test_duplication_rate(void **state) {
  (void)state;
  enum { MSGS = 100000 };
  hs_link_params p = link_ms(2);
  p.duplicate_rate = 0.05;
  hs_link *l;
  assert_rc(hs_net_add_link(&W.net, N(0), N(1), &p, &l), HS_OK);
  for (int i = 0; i < MSGS; i++) assert_rc(send_tag(0, 1, i, 10), HS_OK);
  run();
  assert_between(l->stats.duplicated, 5000 - 350, 5000 + 350); /* sd ~ 69 */
  assert_u64(l->stats.delivered, MSGS + l->stats.duplicated);
  assert_u64(W.copies, l->stats.duplicated); /* each duplicate got its own payload copy */
  assert_u64(W.releases, l->stats.delivered);
  /* each message arrives once or twice, duplicates with copy number 1 and the same id */
  unsigned char *seen = calloc(MSGS + 1, 1);
  for (size_t i = 0; i < W.nlog; i++) {
    uint64_t id = W.log[i].id;
    assert_true(id >= 1 && id <= MSGS);
    assert_int_equal(W.log[i].copy, seen[id]);
    seen[id]++;
    assert_true(seen[id] <= 2);
    assert_int_equal(W.log[i].tag, (int)id - 1);
  }
  free(seen);
  assert_balanced();
}

static void test_bandwidth_serialization(void **state) {
  (void)state;
  hs_link_params p = link_ms(1);
  p.bandwidth_bps = 1e6; /* 1250 bytes = 10 ms on the wire */
  assert_rc(hs_net_add_link(&W.net, N(0), N(1), &p, NULL), HS_OK);
  assert_rc(hs_net_add_link(&W.net, N(0), N(2), &p, NULL), HS_OK);
  for (int i = 0; i < 3; i++) assert_rc(send_tag(0, 1, i, 1250), HS_OK);
  assert_rc(send_tag(0, 2, 9, 125), HS_OK); /* another link: its own transmitter, 1 ms */
  at(100 * MS);
  assert_rc(send_tag(0, 1, 3, 1250), HS_OK); /* after idle: no queue */
  at(105 * MS);
  assert_rc(send_tag(0, 1, 4, 625), HS_OK); /* queued behind #3 (ends at 110): 110 + 5 + 1 */
  run();
  hs_time_ns expect[][2] = {{9, 2 * MS},  {0, 11 * MS},  {1, 21 * MS},
                            {2, 31 * MS}, {3, 111 * MS}, {4, 116 * MS}};
  assert_int_equal(W.nlog, 6);
  for (int i = 0; i < 6; i++) {
    if (W.log[i].tag != expect[i][0] || W.log[i].at != expect[i][1])
      fail_msg("delivery %d: tag %d at %lld, expected tag %lld at %lld", i, W.log[i].tag,
               (long long)W.log[i].at, (long long)expect[i][0], (long long)expect[i][1]);
  }
  /* Infinite bandwidth: no serialization delay whatever the size. */
  p.bandwidth_bps = 0;
  assert_rc(hs_net_add_link(&W.net, N(3), N(4), &p, NULL), HS_OK);
  hs_time_ns t0 = hs_sim_now(&W.sim);
  assert_rc(send_tag(3, 4, 5, 1000000000), HS_OK);
  run();
  assert_true(W.log[6].at == t0 + 1 * MS);
  assert_balanced();
}

/* ---- Partitions ---------------------------------------------------------------------- */

/* Sends i -> j for every ordered pair of nodes 0..n-1 and returns which arrived, as bits. */
static uint64_t reachability(int n) {
  W.nlog = 0;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++)
      if (i != j) assert_rc(send_tag(i, j, i * NODES + j, 1), HS_OK);
  run();
  uint64_t bits = 0;
  for (size_t k = 0; k < W.nlog; k++) bits |= 1ULL << (W.log[k].src * NODES + W.log[k].dst);
  /* is_partitioned agrees with what happened */
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++)
      if (i != j) assert_int_equal(hs_net_is_partitioned(&W.net, N(i), N(j)), !(bits >> (i * NODES + j) & 1));
  return bits;
}

static bool can(uint64_t bits, int i, int j) { return bits >> (i * NODES + j) & 1; }

static void test_partition_symmetric(void **state) {
  (void)state;
  hs_link_params p = link_ms(1);
  assert_rc(hs_net_set_default_link(&W.net, &p), HS_OK);
  hs_entity *a[] = {N(0), N(1)}, *b[] = {N(2)};
  hs_partition_id id = 0;
  assert_rc(hs_net_partition(&W.net, a, 2, b, 1, false, &id), HS_OK);
  assert_true(id != 0);
  uint64_t r = reachability(4);
  assert_true(can(r, 0, 1) && can(r, 1, 0));  /* inside a group */
  assert_false(can(r, 0, 2) || can(r, 2, 0)); /* across, both ways */
  assert_false(can(r, 1, 2) || can(r, 2, 1));
  assert_true(can(r, 0, 3) && can(r, 3, 2)); /* node 3 is in no group */
  assert_u64(hs_net_stats(&W.net)->dropped_partition, 4);
  assert_rc(hs_net_heal(&W.net, id), HS_OK);
  assert_rc(hs_net_heal(&W.net, id), HS_NET_ENOPART);
  r = reachability(4);
  assert_u64(r, reachability(4)); /* stable */
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++)
      if (i != j) assert_true(can(r, i, j));
  assert_balanced();
}

static void test_partition_asymmetric_each_direction(void **state) {
  (void)state;
  hs_link_params p = link_ms(1);
  assert_rc(hs_net_set_default_link(&W.net, &p), HS_OK);
  hs_entity *a[] = {N(0)}, *b[] = {N(1)};
  hs_partition_id ab, ba;
  assert_rc(hs_net_partition(&W.net, a, 1, b, 1, true, &ab), HS_OK); /* 0 -> 1 blocked only */
  uint64_t r = reachability(2);
  assert_false(can(r, 0, 1));
  assert_true(can(r, 1, 0));
  assert_rc(hs_net_partition(&W.net, b, 1, a, 1, true, &ba), HS_OK); /* and 1 -> 0 */
  r = reachability(2);
  assert_false(can(r, 0, 1) || can(r, 1, 0));
  assert_rc(hs_net_heal(&W.net, ab), HS_OK); /* only 1 -> 0 is still blocked */
  r = reachability(2);
  assert_true(can(r, 0, 1));
  assert_false(can(r, 1, 0));
  assert_rc(hs_net_heal(&W.net, ba), HS_OK);
  r = reachability(2);
  assert_true(can(r, 0, 1) && can(r, 1, 0));
  assert_balanced();
}

static void test_overlapping_partitions_and_heal_all(void **state) {
  (void)state;
  hs_link_params p = link_ms(1);
  assert_rc(hs_net_set_default_link(&W.net, &p), HS_OK);
  hs_entity *n0[] = {N(0)}, *n12[] = {N(1), N(2)}, *n01[] = {N(0), N(1)}, *n2[] = {N(2)};
  hs_partition_id p1, p2;
  assert_rc(hs_net_partition(&W.net, n0, 1, n12, 2, false, &p1), HS_OK); /* {0} | {1,2} */
  assert_rc(hs_net_partition(&W.net, n01, 2, n2, 1, false, &p2), HS_OK); /* {0,1} | {2} */
  assert_int_equal(hs_net_partition_count(&W.net), 2);
  assert_int_equal(hs_net_partition_at(&W.net, 0), p1);
  assert_int_equal(hs_net_partition_at(&W.net, 1), p2);
  uint64_t r = reachability(3);
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++)
      if (i != j) assert_false(can(r, i, j)); /* everyone isolated */
  assert_rc(hs_net_heal(&W.net, p1), HS_OK);  /* heals {0}|{1,2} only */
  assert_false(hs_net_partition_active(&W.net, p1));
  assert_true(hs_net_partition_active(&W.net, p2));
  r = reachability(3);
  assert_true(can(r, 0, 1) && can(r, 1, 0));
  assert_false(can(r, 0, 2) || can(r, 1, 2) || can(r, 2, 0) || can(r, 2, 1));
  hs_partition_id p3;
  assert_rc(hs_net_partition(&W.net, n0, 1, n12, 2, true, &p3), HS_OK);
  assert_true(p3 > p2); /* handles are not reused */
  hs_net_heal_all(&W.net);
  assert_int_equal(hs_net_partition_count(&W.net), 0);
  r = reachability(3);
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++)
      if (i != j) assert_true(can(r, i, j));
  assert_balanced();
}

/* The in-flight rule: checked at send and at arrival, not in between. */
static void test_partition_in_flight(void **state) {
  (void)state;
  hs_link_params p = link_ms(100);
  assert_rc(hs_net_add_bidirectional_link(&W.net, N(0), N(1), &p), HS_OK);
  hs_entity *a[] = {N(0)}, *b[] = {N(1)};
  hs_partition_id id;
  /* 1. A partition that starts before arrival drops the message on arrival. */
  assert_rc(send_tag(0, 1, 1, 1), HS_OK);
  at(50 * MS);
  assert_rc(hs_net_partition(&W.net, a, 1, b, 1, false, &id), HS_OK);
  assert_u64(hs_net_in_flight(&W.net), 1); /* still in flight until it arrives */
  at(100 * MS);
  assert_int_equal(W.nlog, 0);
  assert_u64(hs_net_stats(&W.net)->dropped_partition, 1);
  assert_rc(hs_net_heal(&W.net, id), HS_OK);
  /* 2. One that starts and heals while the message flies does not touch it. */
  assert_rc(send_tag(0, 1, 2, 1), HS_OK); /* arrives at 200 */
  at(120 * MS);
  assert_rc(hs_net_partition(&W.net, a, 1, b, 1, false, &id), HS_OK);
  at(150 * MS);
  assert_rc(hs_net_heal(&W.net, id), HS_OK);
  run();
  assert_int_equal(W.nlog, 1);
  assert_int_equal(W.log[0].tag, 2);
  /* 3. One active at send time drops it at once, even if healed before it would arrive. */
  assert_rc(hs_net_partition(&W.net, a, 1, b, 1, true, &id), HS_OK);
  assert_rc(send_tag(0, 1, 3, 1), HS_OK);
  assert_u64(hs_net_in_flight(&W.net), 0);
  assert_rc(hs_net_heal(&W.net, id), HS_OK);
  run();
  assert_int_equal(W.nlog, 1);
  assert_u64(hs_net_stats(&W.net)->dropped_partition, 2);
  /* 4. A one-way cut starting in flight drops only the blocked direction. */
  assert_rc(send_tag(0, 1, 4, 1), HS_OK);
  assert_rc(send_tag(1, 0, 5, 1), HS_OK);
  at(hs_sim_now(&W.sim) + 10 * MS);
  assert_rc(hs_net_partition(&W.net, b, 1, a, 1, true, &id), HS_OK); /* 1 -> 0 blocked */
  run();
  assert_int_equal(W.nlog, 2);
  assert_int_equal(W.log[1].tag, 4);
  assert_balanced();
}

static void test_crashed_destination(void **state) {
  (void)state;
  hs_link_params p = link_ms(10);
  assert_rc(hs_net_set_default_link(&W.net, &p), HS_OK);
  assert_rc(send_tag(0, 1, 1, 1), HS_OK);
  at(5 * MS);
  hs_entity_crash(N(1));
  run();
  assert_int_equal(W.nlog, 0);
  assert_u64(hs_net_stats(&W.net)->dropped_crash, 1);
  /* Crashed at send time but restarted before arrival: delivered (checked at arrival). */
  assert_rc(send_tag(0, 1, 2, 1), HS_OK);
  at(hs_sim_now(&W.sim) + 5 * MS);
  hs_entity_restart(N(1));
  run();
  assert_int_equal(W.nlog, 1);
  /* A crashed node's messages already in flight still arrive; it cannot send new ones. */
  assert_rc(send_tag(2, 3, 3, 1), HS_OK);
  hs_entity_crash(N(2));
  assert_rc(send_tag(2, 3, 4, 1), HS_NET_ECRASHED);
  run();
  assert_int_equal(W.nlog, 2);
  assert_int_equal(W.log[1].tag, 3);
  assert_u64(W.outcomes[HS_NET_DROPPED_CRASH], 1);
  assert_balanced();
}

/* ---- Interception -------------------------------------------------------------------- */

static hs_verdict by_type(void *ud, hs_message *m) {
  int *calls = ud;
  (*calls)++;
  assert_int_equal(m->state, HS_MSG_SENDING);
  if (strcmp(m->type, "drop") == 0) return HS_VERDICT_DROP;
  if (strcmp(m->type, "dup") == 0) return HS_VERDICT_DUPLICATE;
  if (strcmp(m->type, "hold") == 0) return HS_VERDICT_HOLD;
  if (strcmp(m->type, "delay") == 0) {
    hs_message_set_delay(m, 50 * MS);
    return HS_VERDICT_DELAY;
  }
  hs_message_set_delay(m, 99 * MS); /* ignored without a DELAY verdict */
  return HS_VERDICT_DELIVER;
}

static int send_typed(int from, int to, const char *type, int tag) {
  int *p = malloc(sizeof *p);
  *p = tag;
  W.payload_live++;
  int rc = hs_net_send(&W.net, N(from), N(to), hs_net_intern(&W.net, type, strlen(type)), p, 8, NULL);
  if (rc != HS_OK) free(p), W.payload_live--;
  return rc;
}

static void test_filter_drop_delay_duplicate(void **state) {
  (void)state;
  hs_link_params p = link_ms(10);
  assert_rc(hs_net_set_default_link(&W.net, &p), HS_OK);
  int calls = 0;
  hs_net_set_filter(&W.net, by_type, &calls);
  assert_rc(send_typed(0, 1, "delay", 1), HS_OK); /* 60 ms */
  assert_rc(send_typed(0, 1, "drop", 2), HS_OK);
  assert_rc(send_typed(0, 1, "dup", 3), HS_OK);   /* twice at 10 ms */
  assert_rc(send_typed(0, 1, "plain", 4), HS_OK); /* 10 ms: overtakes the delayed one */
  run();
  assert_int_equal(calls, 4); /* once per send, not per copy */
  assert_int_equal(W.nlog, 4);
  int tags[] = {3, 3, 4, 1};
  hs_time_ns times[] = {10 * MS, 10 * MS, 10 * MS, 60 * MS};
  for (int i = 0; i < 4; i++) {
    assert_int_equal(W.log[i].tag, tags[i]);
    assert_true(W.log[i].at == times[i]);
  }
  assert_int_equal(W.log[0].copy, 0);
  assert_int_equal(W.log[1].copy, 1);
  const hs_net_counters *c = hs_net_stats(&W.net);
  assert_u64(c->dropped_filter, 1);
  assert_u64(c->duplicated, 1);
  assert_u64(c->delivered, 4);
  hs_net_set_filter(&W.net, NULL, NULL);
  assert_rc(send_typed(0, 1, "drop", 5), HS_OK);
  run();
  assert_int_equal(W.nlog, 5);
  assert_balanced();
}

static void test_filter_hold_and_release(void **state) {
  (void)state;
  hs_link_params p = link_ms(10);
  assert_rc(hs_net_set_default_link(&W.net, &p), HS_OK);
  int calls = 0;
  hs_net_set_filter(&W.net, by_type, &calls);
  for (int i = 0; i < 4; i++) assert_rc(send_typed(0, 1 + i % 2, "hold", i), HS_OK);
  assert_rc(send_typed(0, 1, "plain", 9), HS_OK);
  run();
  assert_int_equal(W.nlog, 1);
  assert_u64(hs_net_held_count(&W.net), 4);
  assert_u64(hs_net_stats(&W.net)->held, 4);
  assert_u64(W.outcomes[HS_NET_HELD], 4);
  hs_message *held[4];
  int k = 0;
  for (hs_message *m = hs_net_held_first(&W.net); m; m = hs_net_held_next(m)) {
    assert_int_equal(m->state, HS_MSG_HELD);
    assert_int_equal(*(int *)m->payload, k); /* in hold order */
    held[k++] = m;
  }
  assert_int_equal(k, 4);
  assert_balanced(); /* held messages are accounted for */

  /* Release #2 now: it arrives at the current time, bypassing the link's latency. */
  hs_time_ns now = hs_sim_now(&W.sim);
  assert_rc(hs_net_held_deliver(&W.net, held[2], 0), HS_OK);
  assert_rc(hs_net_held_deliver(&W.net, held[2], 0), HS_NET_ENOTHELD);
  assert_rc(hs_net_held_deliver(&W.net, held[1], -1), HS_EINVAL);
  run();
  assert_int_equal(W.nlog, 2);
  assert_int_equal(W.log[1].tag, 2);
  assert_true(W.log[1].at == now);
  /* Drop #0. */
  assert_rc(hs_net_held_drop(&W.net, held[0]), HS_OK);
  assert_u64(hs_net_stats(&W.net)->dropped_filter, 1);
  /* #1 released with a delay after its destination crashed: dropped on arrival. */
  assert_rc(hs_net_held_deliver(&W.net, held[1], 3 * MS), HS_OK);
  hs_entity_crash(N(2));
  run();
  assert_int_equal(W.nlog, 2);
  assert_u64(hs_net_stats(&W.net)->dropped_crash, 1);
  /* #3 stays held; the list is consistent. */
  assert_ptr_equal(hs_net_held_first(&W.net), held[3]);
  assert_null(hs_net_held_next(held[3]));
  assert_u64(hs_net_held_count(&W.net), 1);
  assert_balanced();
  /* closing the network releases the held payload (teardown checks) */
}

/* ---- Counters, traffic matrix, slab, determinism ------------------------------------- */

/* A busy mesh with every kind of trouble; returns a hash of the delivery trace. */
static uint64_t chaos(uint64_t seed, int rounds) {
  world_close();
  world_open(seed);
  hs_link_params p = link_ms(2);
  p.jitter = hs_dist_exponential(0.001);
  p.packet_loss_rate = 0.05;
  p.duplicate_rate = 0.03;
  p.reorder_rate = 0.05;
  p.bandwidth_bps = 1e8;
  hs_entity *all[NODES];
  for (int i = 0; i < NODES; i++) all[i] = N(i);
  assert_rc(hs_net_connect_all(&W.net, all, 6, &p), HS_OK);
  hs_link_params def = link_ms(20);
  assert_rc(hs_net_set_default_link(&W.net, &def), HS_OK);
  int calls = 0;
  hs_net_set_filter(&W.net, by_type, &calls);
  hs_rng r;
  hs_rng_seed(&r, 5, "traffic", 7); /* the same traffic for every seed */
  const char *types[] = {"plain", "plain", "plain", "dup", "delay", "drop", "hold"};
  hs_partition_id part = 0;
  for (int round = 0; round < rounds; round++) {
    at((hs_time_ns)round * MS);
    for (int k = 0; k < 20; k++) {
      int from = (int)hs_rng_below(&r, NODES), to = (int)hs_rng_below(&r, NODES);
      if (hs_entity_crashed(N(from))) continue;
      assert_rc(send_typed(from, to, types[hs_rng_below(&r, 7)], round * 100 + k), HS_OK);
    }
    if (round % 50 == 10) {
      hs_entity *g1[] = {N(0), N(1)}, *g2[] = {N(2), N(3), N(6)};
      assert_rc(hs_net_partition(&W.net, g1, 2, g2, 3, round % 100 == 10, &part), HS_OK);
    }
    if (round % 50 == 30) assert_rc(hs_net_heal(&W.net, part), HS_OK);
    if (round % 70 == 20) hs_entity_crash(N(4));
    if (round % 70 == 40) hs_entity_restart(N(4));
    if (round % 30 == 0 && hs_net_held_first(&W.net)) {
      hs_message *m = hs_net_held_first(&W.net);
      if (round % 60 == 0)
        assert_rc(hs_net_held_drop(&W.net, m), HS_OK);
      else
        assert_rc(hs_net_held_deliver(&W.net, m, MS), HS_OK);
    }
  }
  run();
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < W.nlog; i++) {
    const delivery *d = &W.log[i];
    uint64_t v[] = {(uint64_t)d->at, d->src, d->dst, d->id, d->copy, (uint64_t)d->tag};
    for (int j = 0; j < 6; j++) h = (h ^ v[j]) * 1099511628211ULL;
  }
  return h ^ W.sim.trace_hash;
}

static void test_counters_consistent_under_chaos(void **state) {
  (void)state;
  chaos(3, 400);
  const hs_net_counters *c = hs_net_stats(&W.net);
  assert_true(c->sent > 7000);
  assert_true(c->delivered > 0 && c->duplicated > 0 && c->held > 0);
  assert_true(c->dropped_loss > 0 && c->dropped_partition > 0 && c->dropped_crash > 0);
  assert_true(c->dropped_filter > 0);
  assert_u64(c->dropped_no_route, 0);
  assert_u64(c->bytes_sent, 8 * c->sent);
  assert_u64(c->bytes_delivered, 8 * c->delivered);
  assert_balanced();
  /* The traffic matrix: the 30 mesh links first (creation order), then default-routed pairs. */
  assert_true(hs_net_link_count(&W.net) > 30);
  int k = 0;
  for (int i = 0; i < 6; i++)
    for (int j = 0; j < 6; j++) {
      if (i == j) continue;
      const hs_link *l = hs_net_link_at(&W.net, (size_t)k++);
      assert_ptr_equal(l->src, N(i));
      assert_ptr_equal(l->dst, N(j));
      assert_true(hs_link_explicit(l));
    }
  for (size_t i = 30; i < hs_net_link_count(&W.net); i++) {
    const hs_link *l = hs_net_link_at(&W.net, i);
    assert_false(hs_link_explicit(l));
    assert_true(l->stats.sent > 0);
    assert_ptr_equal(hs_net_find_link(&W.net, l->src, l->dst), l);
  }
}

static void test_deterministic_replay(void **state) {
  (void)state;
  uint64_t a = chaos(11, 300);
  uint64_t b = chaos(11, 300);
  uint64_t c = chaos(12, 300);
  assert_u64(a, b);
  assert_true(a != c);
}

/* Traffic on one link never shifts another link's draws. */
static void test_link_streams_are_independent(void **state) {
  (void)state;
  hs_time_ns first[200];
  for (int pass = 0; pass < 2; pass++) {
    world_close();
    world_open(9);
    hs_link_params p = link_ms(5);
    p.jitter = hs_dist_uniform(0, 0.004);
    p.packet_loss_rate = 0.2;
    assert_rc(hs_net_set_default_link(&W.net, &p), HS_OK);
    for (int i = 0; i < 200; i++) {
      at((hs_time_ns)i * 10 * MS);
      if (pass == 1) assert_rc(send_tag(0, 2, 1000 + i, 1), HS_OK); /* extra traffic */
      assert_rc(send_tag(0, 1, i, 1), HS_OK);
    }
    run();
    int k = 0;
    for (int i = 0; i < 200; i++) {
      hs_time_ns t = -1;
      for (size_t j = 0; j < W.nlog; j++)
        if (W.log[j].tag == i) t = W.log[j].at;
      if (pass == 0)
        first[i] = t;
      else if (first[i] != t)
        fail_msg("message %d: %lld without other traffic, %lld with", i, (long long)first[i], (long long)t);
      k += t >= 0;
    }
    assert_true(k > 120 && k < 200);
  }
}

static void test_slab_reuse_in_steady_state(void **state) {
  (void)state;
  hs_link_params p = link_ms(3);
  p.jitter = hs_dist_uniform(0, 0.002);
  hs_entity *all[NODES];
  for (int i = 0; i < NODES; i++) all[i] = N(i);
  assert_rc(hs_net_connect_all(&W.net, all, NODES, &p), HS_OK);
  W.keep_log = false;
  uint64_t capacity = 0;
  for (int round = 0; round < 2000; round++) {
    at((hs_time_ns)round * MS);
    for (int i = 0; i < 100; i++) {
      int from = i % NODES, to = (from + 1 + (i / NODES) % (NODES - 1)) % NODES;
      assert_rc(send_tag(from, to, i, 10), HS_OK);
    }
    if (round == 100) capacity = hs_net_msg_capacity(&W.net);
    if (round > 100) assert_u64(hs_net_msg_capacity(&W.net), capacity);
  }
  run();
  assert_true(capacity >= 500 && capacity <= 1024); /* ~100 per ms for 3-5 ms */
  assert_u64(hs_net_msg_in_use(&W.net), 0);
  assert_u64(hs_net_msg_capacity(&W.net), capacity);
  assert_int_equal(hs_net_link_count(&W.net), NODES * (NODES - 1));
  assert_balanced();
}

/* ---- Ownership, re-entrancy, close --------------------------------------------------- */

static void test_close_with_messages_in_flight(void **state) {
  (void)state;
  hs_link_params p = link_ms(10);
  p.duplicate_rate = 0.5;
  assert_rc(hs_net_set_default_link(&W.net, &p), HS_OK);
  int calls = 0;
  hs_net_set_filter(&W.net, by_type, &calls);
  for (int i = 0; i < 300; i++) assert_rc(send_typed(i % 3, 3 + i % 4, i % 10 ? "plain" : "hold", i), HS_OK);
  assert_true(W.payload_live > 300);
  assert_true(hs_sim_pending(&W.sim) > 0);
  hs_net_close(&W.net);
  assert_int_equal(W.payload_live, 0);
  assert_int_equal(hs_sim_pending(&W.sim), 0); /* pending deliveries were cancelled */
  run();
  assert_int_equal(W.nlog, 0);
}

static void test_close_after_sim_close(void **state) {
  (void)state;
  hs_link_params p = link_ms(10);
  assert_rc(hs_net_set_default_link(&W.net, &p), HS_OK);
  for (int i = 0; i < 10; i++) assert_rc(send_tag(0, 1, i, 1), HS_OK);
  hs_sim_close(&W.sim);
  assert_rc(send_tag(0, 1, 99, 1), HS_ECLOSED);
  hs_net_close(&W.net);
  assert_int_equal(W.payload_live, 0);
}

static void test_reply_from_on_message(void **state) {
  (void)state;
  hs_link_params p = link_ms(1);
  assert_rc(hs_net_add_bidirectional_link(&W.net, N(0), N(1), &p), HS_OK);
  W.nodes[0].reply_left = 50;
  W.nodes[1].reply_left = 50;
  assert_rc(send_tag(0, 1, 0, 1), HS_OK);
  run();
  assert_int_equal(W.nlog, 101); /* ping-pong until both run out */
  for (size_t i = 0; i < W.nlog; i++) {
    assert_int_equal(W.log[i].tag, (int)i);
    assert_true(W.log[i].at == (hs_time_ns)(i + 1) * MS);
  }
  assert_u64(hs_net_msg_capacity(&W.net), HS_NET_MSG_CHUNK); /* one in use at a time */
  assert_balanced();
}

static void taker_on_message(hs_entity *e, hs_message *m) {
  (void)e;
  int *p = hs_message_take_payload(m);
  assert_non_null(p);
  assert_null(hs_message_take_payload(m));
  free(p); /* ours now */
  W.payload_live--;
}

static void test_take_payload_and_shared_duplicates(void **state) {
  (void)state;
  static const hs_entity_vtable taker_vt = {"Taker", NULL, NULL, taker_on_message};
  W.nodes[5].base.vt = &taker_vt;
  hs_link_params p = link_ms(1);
  assert_rc(hs_net_set_default_link(&W.net, &p), HS_OK);
  for (int i = 0; i < 10; i++) assert_rc(send_tag(0, 5, i, 1), HS_OK);
  run();
  assert_int_equal(W.releases, 0); /* the receiver took every payload */
  assert_int_equal(W.payload_live, 0);
  /* Without a copy hook, duplicates share the pointer: release sees it once per copy. */
  hs_net_payload_ops counting = {NULL, NULL, NULL};
  hs_net_set_payload_ops(&W.net, &counting);
  W.nodes[5].base.vt = &node_vt;
  int filter_calls = 0;
  hs_net_set_filter(&W.net, by_type, &filter_calls);
  static int shared = 77;
  assert_rc(hs_net_send(&W.net, N(0), N(5), "dup", &shared, 1, NULL), HS_OK);
  run();
  assert_int_equal(W.nodes[5].received, 2);
}

static void test_intern_and_outcome_names(void **state) {
  (void)state;
  const char *a = hs_net_intern(&W.net, "AppendEntries", 13);
  char buf[] = "AppendEntriesXYZ";
  const char *b = hs_net_intern(&W.net, buf, 13);
  assert_ptr_equal(a, b);
  assert_string_equal(a, "AppendEntries");
  assert_ptr_not_equal(a, hs_net_intern(&W.net, "Append", 6));
  for (int i = 0; i < 1000; i++) { /* growth keeps old pointers valid */
    char name[16];
    int n = snprintf(name, sizeof name, "t%d", i);
    assert_non_null(hs_net_intern(&W.net, name, (size_t)n));
  }
  assert_ptr_equal(hs_net_intern(&W.net, "AppendEntries", 13), a);
  assert_string_equal(hs_net_outcome_name(HS_NET_DROPPED_PARTITION), "dropped_partition");
  assert_string_equal(hs_net_outcome_name(HS_NET_DELIVERED), "delivered");
}

/* A thousand nodes: a hash lookup per pair, and links sharing one parameter set. */
static void test_many_nodes(void **state) {
  (void)state;
  enum { MANY = 1000 };
  tnode *many = calloc(MANY, sizeof *many);
  hs_entity **ptrs = calloc(MANY, sizeof *ptrs);
  for (int i = 0; i < MANY; i++) {
    hs_entity_init(&many[i].base, &node_vt, NULL); /* unnamed: streams use ids */
    assert_rc(hs_sim_register(&W.sim, &many[i].base), HS_OK);
    ptrs[i] = &many[i].base;
  }
  hs_link_params p = link_ms(1);
  assert_rc(hs_net_connect_all(&W.net, ptrs, 100, &p), HS_OK);
  assert_int_equal(hs_net_link_count(&W.net), 9900);
  assert_int_equal(W.net.pool_count, 1); /* one shared copy of the parameters */
  hs_link_params q = link_ms(2);
  assert_rc(hs_net_set_default_link(&W.net, &q), HS_OK);
  W.keep_log = false;
  hs_rng r;
  hs_rng_seed(&r, 1, "pairs", 5);
  for (int i = 0; i < 20000; i++) {
    int a = (int)hs_rng_below(&r, MANY), b = (int)hs_rng_below(&r, MANY);
    int *pl = malloc(sizeof *pl);
    *pl = i;
    W.payload_live++;
    assert_rc(hs_net_send(&W.net, ptrs[a], ptrs[b], "x", pl, 1, NULL), HS_OK);
  }
  run();
  for (int i = 0; i < 100; i++) {
    const hs_link *l = hs_net_find_link(&W.net, ptrs[i], ptrs[(i + 1) % 100]);
    assert_non_null(l);
    assert_true(hs_link_explicit(l));
    assert_int_equal(l->index, (size_t)i * 99 + (i + 1 < 100 ? (size_t)i : 0));
  }
  assert_u64(hs_net_stats(&W.net)->delivered, 20000);
  assert_balanced();
  hs_net_close(&W.net); /* before the entities go away */
  free(many);
  free(ptrs);
}

int main(void) {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_constant_latency_delivery),
      T(test_default_link_and_no_route),
      T(test_bad_arguments),
      T(test_loss_rate_over_100k),
      T(test_latency_of_each_distribution),
      T(test_fifo_with_jitter),
      T(test_reordering_when_asked),
      T(test_duplication_rate),
      T(test_bandwidth_serialization),
      T(test_partition_symmetric),
      T(test_partition_asymmetric_each_direction),
      T(test_overlapping_partitions_and_heal_all),
      T(test_partition_in_flight),
      T(test_crashed_destination),
      T(test_filter_drop_delay_duplicate),
      T(test_filter_hold_and_release),
      T(test_counters_consistent_under_chaos),
      T(test_deterministic_replay),
      T(test_link_streams_are_independent),
      T(test_slab_reuse_in_steady_state),
      T(test_close_with_messages_in_flight),
      T(test_close_after_sim_close),
      T(test_reply_from_on_message),
      T(test_take_payload_and_shared_duplicates),
      T(test_intern_and_outcome_names),
      T(test_many_nodes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
