/*
 * test_swim.c - SWIM membership (engine/membership/hs_swim.h) in the world of
 * test_swim_world.h, and its adapter on the engine's network.
 *
 * What is shown: indirect probes reach a target whose direct path is cut (and without them
 * the same cut makes a false suspicion); a suspected live member refutes with a higher
 * incarnation; a crashed member goes suspect, then dead everywhere; it rejoins with a higher
 * incarnation; no member is declared dead under 10% message loss; each member probes every
 * other exactly once per round; an update is sent at most lambda * ceil(ln(n + 1)) times by
 * a member; malformed messages change nothing; and the paper's law: over 1,000 crashes the
 * mean number of protocol periods until some member first probes the crashed one is within
 * 10% of 1 / (1 - e^-1) = 1.582.
 */
#include <math.h>

#include "test_swim_world.h"

#include "core/hs_sim.h"
#include "membership/hs_swim_node.h"
#include "net/hs_net.h"


#define assert_u64(actual, expected)                                                                         \
  do {                                                                                                       \
    uint64_t a_ = (uint64_t)(actual), e_ = (uint64_t)(expected);                                             \
    if (a_ != e_) fail_msg("%s = %llu, expected %llu", #actual, (unsigned long long)a_, (unsigned long long)e_); \
  } while (0)

#define assert_world(w)                                                                                      \
  do {                                                                                                       \
    if ((w)->violated) fail_msg("seed %llu, t = %.3f s: %s", (unsigned long long)(w)->seed, (double)(w)->now / 1e9, (w)->why); \
  } while (0)

/* ---- Codec and malformed input ---------------------------------------------------------------- */

static void test_codec_and_malformed(void **state) {
  (void)state;
  hs_swim_update ups[3] = {{5, 2, 0, HS_SWIM_ALIVE}, {6, 1, 3, HS_SWIM_SUSPECT}, {7, 9, 0, HS_SWIM_DEAD}};
  hs_swim_msg m = {.type = HS_SWIM_ACK, .from = 3, .to = 4, .target = 6, .relay = 2, .seq = 0x1234567890ull,
                   .n_updates = 3, .updates = ups};
  uint8_t buf[128];
  size_t len = hs_swim_msg_encode(&m, buf, sizeof buf);
  assert_int_equal(len, 28 + 3 * 13);
  assert_int_equal(3, hs_swim_msg_decode_count(buf, len));
  hs_swim_update got[4];
  hs_swim_msg d;
  assert_int_equal(HS_OK, hs_swim_msg_decode(&d, buf, len, got, 4));
  assert_true(d.type == HS_SWIM_ACK && d.from == 3 && d.to == 4 && d.target == 6 && d.relay == 2 && d.seq == m.seq);
  assert_true(got[1].member == 6 && got[1].incarnation == 1 && got[1].origin == 3 && got[1].state == HS_SWIM_SUSPECT);
  assert_int_equal(HS_EINVAL, hs_swim_msg_decode(&d, buf, len - 1, got, 4));
  assert_int_equal(HS_EINVAL, hs_swim_msg_decode(&d, buf, len, got, 2)); /* too few slots */
  buf[1] = 7;
  assert_int_equal(HS_EINVAL, hs_swim_msg_decode(&d, buf, len, got, 4));

  sworld w;
  hs_swim_config cfg;
  sw_config(&cfg);
  sw_init(&w, 4, &cfg, 1);
  hs_swim *s = SW(&w, 4);
  hs_swim_update bad[] = {
      {0, 1, 0, HS_SWIM_ALIVE},                      /* member 0 */
      {2, HS_SWIM_MAX_INCARNATION + 1, 0, HS_SWIM_ALIVE}, /* incarnation out of range */
      {2, 1, 0, 0},                                  /* state unknown */
      {2, 1, 0, 9},                                  /* no such state */
  };
  for (size_t i = 0; i < 4; i++) {
    hs_swim_update two[2] = {{3, 5, 0, HS_SWIM_DEAD}, bad[i]}; /* a good one first: nothing applied */
    hs_swim_msg x = {.type = HS_SWIM_PING, .from = 1, .to = 4, .n_updates = 2, .updates = two};
    assert_int_equal(HS_EINVAL, hs_swim_step(s, &x, 0));
  }
  hs_swim_msg x = {.type = HS_SWIM_PING, .from = 4, .to = 4};
  assert_int_equal(HS_EINVAL, hs_swim_step(s, &x, 0)); /* from itself */
  x.from = 1;
  x.to = 3;
  assert_int_equal(HS_EINVAL, hs_swim_step(s, &x, 0)); /* not for it */
  x.to = 4;
  x.type = HS_SWIM_PING_REQ; /* a ping-req without a target */
  assert_int_equal(HS_EINVAL, hs_swim_step(s, &x, 0));
  assert_int_equal(HS_SWIM_ALIVE, hs_swim_member_state(s, 3));
  hs_swim_stats st;
  hs_swim_get_stats(s, &st);
  assert_u64(st.malformed, 7);
  assert_u64(st.alive_count, 3);
  /* forged messages that decode: stepped, the member survives them */
  hs_rng rng;
  hs_rng_seed(&rng, 9, "forge", 5);
  for (int i = 0; i < 20000; i++) {
    hs_swim_update f[4];
    uint32_t n = (uint32_t)hs_rng_below(&rng, 5);
    for (uint32_t k = 0; k < n; k++) {
      f[k].member = (uint32_t)hs_rng_below(&rng, 8);
      f[k].incarnation = (uint32_t)hs_rng_below(&rng, 4);
      f[k].origin = (uint32_t)hs_rng_below(&rng, 6);
      f[k].state = (uint8_t)hs_rng_below(&rng, 5);
    }
    hs_swim_msg fm = {.type = (hs_swim_msg_type)hs_rng_below(&rng, 3), .from = 1 + (uint32_t)hs_rng_below(&rng, 3),
                      .to = 4, .target = (uint32_t)hs_rng_below(&rng, 6), .relay = (uint32_t)hs_rng_below(&rng, 6),
                      .seq = hs_rng_below(&rng, 4), .n_updates = n, .updates = f};
    w.now += 10 * MS;
    hs_swim_step(s, &fm, w.now);
    hs_swim_tick(s, w.now);
  }
  sw_free(&w);
}

/* ---- Exact interleavings: messages held and delivered by hand ---------------------------------------- */

typedef struct qm {
  uint32_t id;
  struct qswim *q;
  uint32_t persisted;
} qm;

typedef struct qswim {
  hs_swim *s[6];
  qm m[6];
  hs_swim_msg msgs[64];
  hs_swim_update ups[64][16];
  uint32_t len;
} qswim;

static void qs_send(void *ud, const hs_swim_msg *m) {
  qm *x = ud;
  qswim *q = x->q;
  assert_true(q->len < 64 && m->n_updates <= 16);
  q->msgs[q->len] = *m;
  memcpy(q->ups[q->len], m->updates, m->n_updates * sizeof *m->updates);
  q->msgs[q->len].updates = q->ups[q->len];
  q->len++;
}

static void qs_persist(void *ud, uint32_t inc) { ((qm *)ud)->persisted = inc; }

static bool qs_take(qswim *q, hs_swim_msg_type type, uint32_t from, uint32_t to, hs_swim_msg *out, hs_swim_update *ups) {
  for (uint32_t i = 0; i < q->len; i++) {
    hs_swim_msg *m = &q->msgs[i];
    if (m->type != type || (from && m->from != from) || (to && m->to != to)) continue;
    *out = *m;
    memcpy(ups, q->ups[i], m->n_updates * sizeof *ups);
    out->updates = ups;
    memmove(&q->msgs[i], &q->msgs[i + 1], (q->len - i - 1) * sizeof q->msgs[0]);
    memmove(q->ups[i], q->ups[i + 1], (q->len - i - 1) * sizeof q->ups[0]);
    for (uint32_t k = i; k + 1 < q->len; k++) q->msgs[k].updates = q->ups[k];
    q->len--;
    return true;
  }
  return false;
}

/* The paper's indirect probe, hop by hop: no direct ack by the timeout, a PING-REQ to the
 * other members, one of them pings the target on the prober's behalf, the target acks the
 * helper, the helper relays the ack to the prober, and the probe succeeds. Then a refutation:
 * a ping carrying suspect(target) makes the target raise its incarnation (persisted first)
 * and its ack carries alive(target, 1) first. */
static void test_ping_req_relay_exactly(void **state) {
  (void)state;
  qswim *q = calloc(1, sizeof *q);
  for (uint32_t i = 1; i <= 4; i++) {
    hs_swim_config cfg;
    hs_swim_config_init(&cfg);
    cfg.id = i;
    cfg.n_members = 4;
    cfg.indirect_probe_count = 2;
    hs_rng_seed(&cfg.rng, i, "qs", 2);
    q->m[i] = (qm){.id = i, .q = q};
    cfg.cb = (hs_swim_callbacks){.send = qs_send, .persist_incarnation = qs_persist};
    cfg.ud = &q->m[i];
    assert_int_equal(HS_OK, hs_swim_new(&cfg, &q->s[i]));
    assert_int_equal(HS_OK, hs_swim_start(q->s[i], 0));
  }
  hs_swim *p = q->s[1];
  hs_time_ns t = hs_swim_next_deadline(p);
  hs_swim_tick(p, t); /* the first period: a ping */
  uint32_t target = hs_swim_probe_target(p);
  assert_true(target >= 2 && target <= 4);
  hs_swim_msg m;
  hs_swim_update ups[16];
  assert_true(qs_take(q, HS_SWIM_PING, 1, target, &m, ups)); /* lost */
  uint64_t seq = m.seq;
  hs_swim_tick(p, t + 200 * MS); /* the ping timeout: ping-req to the two others */
  uint32_t helper = 0;
  for (uint32_t h = 2; h <= 4; h++) {
    if (h == target) continue;
    assert_true(qs_take(q, HS_SWIM_PING_REQ, 1, h, &m, ups));
    assert_true(m.target == target && m.seq == seq);
    if (!helper) {
      helper = h;
      assert_int_equal(HS_OK, hs_swim_step(q->s[h], &m, t + 210 * MS));
    }
  }
  assert_true(qs_take(q, HS_SWIM_PING, helper, target, &m, ups));
  assert_true(m.relay == 1 && m.seq == seq);
  assert_int_equal(HS_OK, hs_swim_step(q->s[target], &m, t + 220 * MS));
  assert_true(qs_take(q, HS_SWIM_ACK, target, helper, &m, ups));
  assert_true(m.relay == 1 && m.target == target);
  assert_int_equal(HS_OK, hs_swim_step(q->s[helper], &m, t + 230 * MS));
  assert_true(qs_take(q, HS_SWIM_ACK, helper, 1, &m, ups));
  assert_true(m.relay == HS_SWIM_NONE && m.target == target && m.seq == seq);
  assert_int_equal(HS_OK, hs_swim_step(p, &m, t + 240 * MS));
  hs_swim_stats st;
  hs_swim_get_stats(p, &st);
  assert_u64(st.acks_received, 1);
  assert_u64(st.indirect_probes_sent, 2);
  hs_swim_tick(p, t + 1000 * MS); /* the period ends: no suspicion */
  hs_swim_get_stats(p, &st);
  assert_u64(st.suspicions_raised, 0);
  assert_int_equal(HS_SWIM_ALIVE, hs_swim_member_state(p, target));

  /* refutation */
  hs_swim_update sus = {.member = target, .incarnation = 0, .origin = 1, .state = HS_SWIM_SUSPECT};
  hs_swim_msg ping = {.type = HS_SWIM_PING, .from = 1, .to = target, .seq = 99, .n_updates = 1, .updates = &sus};
  assert_int_equal(HS_OK, hs_swim_step(q->s[target], &ping, t + 1100 * MS));
  assert_int_equal(1, hs_swim_incarnation(q->s[target]));
  assert_int_equal(1, q->m[target].persisted);
  assert_true(qs_take(q, HS_SWIM_ACK, target, 1, &m, ups));
  assert_true(m.n_updates >= 1 && ups[0].member == target && ups[0].state == HS_SWIM_ALIVE && ups[0].incarnation == 1);
  for (uint32_t i = 1; i <= 4; i++) hs_swim_free(q->s[i]);
  free(q);
}

/* ---- Indirect probes ------------------------------------------------------------------------------- */

static void test_indirect_probe_through_cut_path(void **state) {
  (void)state;
  hs_swim_config cfg;
  sw_config(&cfg);
  sworld *w = malloc(sizeof *w);
  sw_init(w, 8, &cfg, 2);
  sw_cut(w, 1, 2); /* 1 and 2 cannot talk directly; everyone else can reach both */
  sw_run(w, 60 * S, NULL);
  assert_world(w);
  hs_swim_stats a, b;
  hs_swim_get_stats(SW(w, 1), &a);
  hs_swim_get_stats(SW(w, 2), &b);
  /* 1 probed 2 about 60 / 7 times: every time directly in vain, then through helpers */
  assert_true(a.indirect_probes_sent >= 3 * 6 && b.indirect_probes_sent >= 3 * 6);
  assert_u64(a.suspicions_raised, 0);
  assert_u64(b.suspicions_raised, 0);
  assert_u64(w->nodes[1].suspected_by + w->nodes[2].suspected_by, 0);
  assert_int_equal(HS_SWIM_ALIVE, hs_swim_member_state(SW(w, 1), 2));
  uint64_t relayed = 0;
  for (uint32_t i = 3; i <= 8; i++) {
    hs_swim_stats h;
    hs_swim_get_stats(SW(w, i), &h);
    relayed += h.acks_relayed;
  }
  assert_true(relayed >= a.indirect_probes_sent / 2);
  sw_free(w);

  /* the control: without indirect probes the same cut makes 1 and 2 suspect each other */
  cfg.indirect_probe_count = 0;
  sw_init(w, 8, &cfg, 2);
  sw_cut(w, 1, 2);
  sw_run(w, 60 * S, NULL);
  assert_world(w);
  hs_swim_get_stats(SW(w, 1), &a);
  assert_true(a.suspicions_raised > 0);
  assert_true(w->nodes[2].suspected_by > 0);
  hs_swim_get_stats(SW(w, 2), &b);
  assert_true(b.refutations > 0); /* and 2 refuted it */
  sw_free(w);
  free(w);
}

/* ---- Refutation ------------------------------------------------------------------------------------ */

static void test_refutation_by_incarnation(void **state) {
  (void)state;
  hs_swim_config cfg;
  sw_config(&cfg);
  sworld *w = malloc(sizeof *w);
  sw_init(w, 8, &cfg, 3);
  sw_run(w, 5 * S, NULL);
  /* member 5 is cut off for 4 s (less than the shortest suspicion, 5 s) */
  for (uint32_t i = 1; i <= 8; i++)
    if (i != 5) sw_cut(w, 5, i);
  sw_run(w, 9 * S, NULL);
  sw_heal(w);
  assert_true(w->nodes[5].suspected_by > 0);
  sw_run(w, 30 * S, NULL);
  assert_world(w);
  hs_swim_stats st;
  hs_swim_get_stats(SW(w, 5), &st);
  assert_true(st.refutations >= 1);
  uint32_t inc = hs_swim_incarnation(SW(w, 5));
  assert_true(inc >= 1);
  assert_true(w->nodes[5].persisted == inc);
  for (uint32_t i = 1; i <= 8; i++) {
    if (i == 5) continue;
    assert_int_equal(HS_SWIM_ALIVE, hs_swim_member_state(SW(w, i), 5));
    assert_int_equal(inc, hs_swim_member_incarnation(SW(w, i), 5));
  }
  assert_u64(w->nodes[5].declared_dead_by, 0);
  sw_free(w);
  free(w);
}

/* ---- Suspect -> dead, then rejoin ----------------------------------------------------------------------- */

static hs_time_ns first_suspect_at, first_dead_at;

static void note_first(sworld *w, uint32_t observer, const hs_swim_member_event *ev) {
  (void)observer;
  if (ev->member != 7) return;
  if (ev->state == HS_SWIM_SUSPECT && !first_suspect_at) first_suspect_at = w->now;
  if (ev->state == HS_SWIM_DEAD && !first_dead_at) first_dead_at = w->now;
}

static void test_suspect_dead_and_rejoin(void **state) {
  (void)state;
  hs_swim_config cfg;
  sw_config(&cfg);
  sworld *w = malloc(sizeof *w);
  sw_init(w, 12, &cfg, 4);
  w->on_change = note_first;
  first_suspect_at = first_dead_at = 0;
  sw_run(w, 5 * S, NULL);
  sw_crash(w, 7);
  hs_time_ns crash_at = w->now;
  sw_run(w, crash_at + 40 * S, NULL);
  assert_world(w);
  /* suspected first, dead no sooner than the shortest suspicion, then dead everywhere */
  assert_true(first_suspect_at > crash_at);
  assert_true(first_dead_at - first_suspect_at >= cfg.suspicion_timeout_ns);
  assert_true(first_dead_at - first_suspect_at <= cfg.suspicion_timeout_ns * cfg.suspicion_max_mult);
  assert_int_equal(11, sw_count_seeing(w, 7, HS_SWIM_DEAD));
  hs_swim_stats st;
  hs_swim_get_stats(SW(w, 1), &st);
  assert_u64(st.dead_count, 1);
  assert_u64(st.alive_count, 10);
  assert_u64(st.suspicions_pending, 0);
  uint32_t dead_inc = hs_swim_member_incarnation(SW(w, 1), 7);
  /* 7 comes back: a higher incarnation, persisted first, overrides dead everywhere */
  sw_restart(w, 7);
  assert_true(hs_swim_incarnation(SW(w, 7)) > dead_inc);
  assert_int_equal(w->nodes[7].persisted, hs_swim_incarnation(SW(w, 7)));
  sw_run(w, w->now + 20 * S, NULL);
  assert_world(w);
  assert_int_equal(11, sw_count_seeing(w, 7, HS_SWIM_ALIVE));
  for (uint32_t i = 1; i <= 12; i++)
    if (i != 7) assert_int_equal(hs_swim_incarnation(SW(w, 7)), hs_swim_member_incarnation(SW(w, i), 7));
  hs_swim_get_stats(SW(w, 7), &st);
  assert_u64(st.alive_count, 11); /* and it sees everyone */
  assert_u64(w->nodes[7].dead_while_up, 0);
  sw_free(w);
  free(w);
}

/* ---- Loss: suspicions happen, deaths do not ------------------------------------------------------------- */

static void test_false_positives_under_loss(void **state) {
  (void)state;
  uint64_t suspicions = 0, refutations = 0, probes = 0;
  for (uint64_t seed = 1; seed <= 10; seed++) {
    hs_swim_config cfg;
    sw_config(&cfg);
    sworld *w = malloc(sizeof *w);
    sw_init(w, 32, &cfg, seed);
    w->loss = 0.10;
    sw_run(w, 120 * S, NULL);
    assert_world(w);
    for (uint32_t i = 1; i <= 32; i++) {
      if (w->nodes[i].declared_dead_by) fail_msg("seed %llu: member %u declared dead under loss", (unsigned long long)seed, i);
      hs_swim_stats st;
      hs_swim_get_stats(SW(w, i), &st);
      suspicions += st.suspicions_raised;
      refutations += st.refutations;
      probes += st.probes_sent;
    }
    sw_free(w);
    free(w);
  }
  print_message("swim under 10%% loss: %llu probes, %llu suspicions (%.2f%%), %llu refutations, 0 false deaths\n",
                (unsigned long long)probes, (unsigned long long)suspicions, 100.0 * (double)suspicions / (double)probes,
                (unsigned long long)refutations);
  assert_true(suspicions > 0 && refutations > 0); /* the refutation path ran */
  assert_true((double)suspicions / (double)probes < 0.02);
}

/* ---- Rounds: every member probed once per round --------------------------------------------------------- */

typedef struct rr_log {
  uint32_t targets[8][200];
  uint32_t n[8];
} rr_log;

static void rr_note(sworld *w, const hs_swim_msg *m) {
  rr_log *log = w->ud;
  if (m->type == HS_SWIM_PING && m->relay == HS_SWIM_NONE && m->from < 8 && log->n[m->from] < 200)
    log->targets[m->from][log->n[m->from]++] = m->to;
}

static void test_round_robin_completeness(void **state) {
  (void)state;
  hs_swim_config cfg;
  sw_config(&cfg);
  sworld *w = malloc(sizeof *w);
  rr_log *log = calloc(1, sizeof *log);
  sw_init(w, 7, &cfg, 5);
  w->ud = log;
  w->on_send = rr_note;
  sw_run(w, 130 * S, NULL);
  assert_world(w);
  for (uint32_t a = 1; a <= 7; a++) {
    assert_true(log->n[a] >= 120);
    for (uint32_t r = 0; r + 6 <= log->n[a]; r += 6) { /* each round of 6 is a permutation */
      uint32_t seen = 0;
      for (uint32_t k = 0; k < 6; k++) seen |= 1u << log->targets[a][r + k];
      assert_int_equal(seen, 0xFEu & ~(1u << a));
    }
  }
  /* and the orders differ between rounds and members */
  assert_true(memcmp(log->targets[1], log->targets[1] + 6, 6 * sizeof(uint32_t)) != 0 ||
              memcmp(log->targets[1] + 6, log->targets[1] + 12, 6 * sizeof(uint32_t)) != 0);
  free(log);
  sw_free(w);
  free(w);
}

/* ---- Dissemination: bounded retransmission, infection reaches everyone ----------------------------------- */

typedef struct tx_log {
  uint32_t count[65][65]; /* [sender][member]: sends of the suspect/dead updates about member 9 */
} tx_log;

static void tx_note(sworld *w, const hs_swim_msg *m) {
  tx_log *log = w->ud;
  for (uint32_t i = 0; i < m->n_updates; i++)
    if (m->updates[i].member == 9 && m->updates[i].state == HS_SWIM_DEAD) log->count[m->from][0]++;
}

static void test_dissemination_bounded(void **state) {
  (void)state;
  hs_swim_config cfg;
  sw_config(&cfg);
  sworld *w = malloc(sizeof *w);
  tx_log *log = calloc(1, sizeof *log);
  sw_init(w, 64, &cfg, 6);
  w->ud = log;
  w->on_send = tx_note;
  sw_run(w, 3 * S, NULL);
  sw_crash(w, 9);
  sw_run(w, 60 * S, NULL);
  assert_world(w);
  assert_int_equal(63, sw_count_seeing(w, 9, HS_SWIM_DEAD));
  /* lambda * ceil(ln(n + 1)) sends per member at most: 3 * ceil(ln 64) = 15 once 9 is dead, 3 * ceil(ln 65) = 15 */
  uint32_t most = 0, senders = 0;
  for (uint32_t i = 1; i <= 64; i++) {
    if (log->count[i][0] > most) most = log->count[i][0];
    senders += log->count[i][0] > 0;
  }
  print_message("swim: the death of one of 64 reached all 63 others; %u members passed it on, at most %u times each\n",
                senders, most);
  assert_true(most <= 15);
  assert_true(senders > 32);
  free(log);
  sw_free(w);
  free(w);
}

/* ---- The paper's law -------------------------------------------------------------------------------------- */

typedef struct law {
  uint32_t crashed;
  hs_time_ns crash_at, first_ping_at;
} law;

static void law_note(sworld *w, const hs_swim_msg *m) {
  law *l = w->ud;
  if (l->crashed && m->type == HS_SWIM_PING && m->to == l->crashed && !l->first_ping_at) l->first_ping_at = w->now;
}

static bool law_stop(sworld *w) { return ((law *)w->ud)->first_ping_at != 0; }

/* SWIM section 3.1: with every member probing one random other each period, the number of
 * periods until a failed member is first probed is geometric with success 1 - (1 - 1/(n-1))^(n-1),
 * which tends to 1 - e^-1: mean 1 / (1 - e^-1) = 1.582. Counted here as ceil(time from the
 * crash to the first ping at it / T); members start at random phases and crashes come at
 * random times, so the period boundaries do not line up. */
static void test_detection_law(void **state) {
  (void)state;
  enum { TRIALS = 1000, N = 64 };
  hs_swim_config cfg;
  sw_config(&cfg);
  hs_time_ns T = cfg.probe_interval_ns;
  double sum = 0;
  uint32_t hist[8] = {0};
  hs_rng rng;
  hs_rng_seed(&rng, 2002, "trials", 6);
  sworld *w = malloc(sizeof *w);
  for (uint32_t t = 0; t < TRIALS; t++) {
    law l = {0};
    sw_init(w, N, &cfg, 1000 + t);
    w->ud = &l;
    w->on_send = law_note;
    sw_run(w, 2 * T + (hs_time_ns)hs_rng_below(&rng, (uint64_t)T), NULL); /* warm up to a random instant */
    l.crashed = 1 + (uint32_t)hs_rng_below(&rng, N);
    l.crash_at = w->now;
    sw_crash(w, l.crashed);
    sw_run(w, w->now + 100 * T, law_stop);
    assert_world(w);
    if (!l.first_ping_at) fail_msg("trial %u: the crashed member was never probed", t);
    hs_time_ns dt = l.first_ping_at - l.crash_at;
    uint32_t periods = (uint32_t)((dt + T - 1) / T);
    if (periods == 0) periods = 1; /* a ping at the very instant of the crash */
    sum += periods;
    hist[periods < 8 ? periods : 7]++;
    sw_free(w);
  }
  free(w);
  double mean = sum / TRIALS, expected = 1.0 / (1.0 - exp(-1.0));
  double finite_n = 1.0 / (1.0 - pow(1.0 - 1.0 / (N - 1), N - 1));
  print_message("swim detection: mean %.4f protocol periods to the first probe of a crashed member over %d crashes "
                "(law: %.4f; for n = %d: %.4f); periods 1..6+: %u %u %u %u %u %u\n",
                mean, TRIALS, expected, N, finite_n, hist[1], hist[2], hist[3], hist[4], hist[5], hist[6] + hist[7]);
  assert_true(fabs(mean - expected) <= 0.10 * expected);
}

/* ---- Larger groups ------------------------------------------------------------------------------------------ */

static void test_two_thousand_members(void **state) {
  (void)state;
  enum { N = 2000 };
  hs_swim_config cfg;
  sw_config(&cfg);
  sworld *w = malloc(sizeof *w);
  sw_init(w, N, &cfg, 7);
  sw_run(w, 3 * S, NULL);
  for (uint32_t i = 1; i <= 20; i++) sw_crash(w, i * 97);
  sw_run(w, 40 * S, NULL);
  assert_world(w);
  uint32_t live = sw_live(w);
  for (uint32_t i = 1; i <= 20; i++) assert_int_equal(live, sw_count_seeing(w, i * 97, HS_SWIM_DEAD));
  uint64_t false_dead = 0;
  for (uint32_t i = 1; i <= N; i++) false_dead += w->nodes[i].dead_while_up;
  assert_u64(false_dead, 0);
  print_message("swim: %d members, 40 s: %llu messages; 20 crashes seen dead by all %u live members\n", N,
                (unsigned long long)w->sent, live);
  sw_free(w);
  free(w);
}

static uint64_t trace_of(uint64_t seed) {
  hs_swim_config cfg;
  sw_config(&cfg);
  sworld *w = malloc(sizeof *w);
  sw_init(w, 16, &cfg, seed);
  w->loss = 0.05;
  sw_run(w, 10 * S, NULL);
  sw_crash(w, 3);
  sw_run(w, 30 * S, NULL);
  uint64_t t = w->trace ^ w->delivered;
  sw_free(w);
  free(w);
  return t;
}

static void test_deterministic(void **state) {
  (void)state;
  assert_u64(trace_of(21), trace_of(21));
  assert_true(trace_of(21) != trace_of(22));
}

/* ---- The adapter: members as entities on the engine's network ------------------------------------------ */

typedef struct amember {
  hs_entity e;
  hs_swim_node node;
} amember;

static void am_on_message(hs_entity *e, hs_message *m) {
  amember *a = (amember *)e;
  if (hs_swim_node_is_protocol(m)) hs_swim_node_on_message(&a->node, m);
}
static void am_on_crash(hs_entity *e) { hs_swim_node_on_crash(&((amember *)e)->node); }
static void am_on_restart(hs_entity *e) { hs_swim_node_on_restart(&((amember *)e)->node); }
static const hs_entity_vtable am_vt = {.kind = "MembershipProtocol", .on_crash = am_on_crash,
                                       .on_restart = am_on_restart, .on_message = am_on_message};
static void *am_copy(void *ud, void *payload, uint64_t size) {
  (void)size;
  hs_blob *b = payload;
  return hs_blob_copy(ud, b->data, b->size);
}
static void am_release(void *ud, void *payload) { hs_blob_free(ud, payload); }

static uint32_t am_seeing(amember *m, uint32_t n, uint32_t id, hs_swim_state st) {
  uint32_t c = 0;
  for (uint32_t i = 1; i <= n; i++)
    if (i != id && !hs_entity_crashed(&m[i].e) && hs_swim_member_state(m[i].node.swim, id) == st) c++;
  return c;
}

static void test_adapter_on_the_engine_network(void **state) {
  (void)state;
  enum { N = 16 };
  hs_sim sim;
  hs_sim_init(&sim, 11);
  hs_net net;
  assert_int_equal(HS_OK, hs_net_init(&net, &sim, "lan"));
  hs_blob_pool pool;
  hs_blob_pool_init(&pool);
  hs_net_payload_ops ops = {am_copy, am_release, &pool};
  hs_net_set_payload_ops(&net, &ops);
  hs_link_params p;
  hs_link_params_init(&p);
  p.latency = hs_dist_uniform(0.001, 0.005);
  assert_int_equal(HS_OK, hs_net_set_default_link(&net, &p));
  amember *m = calloc(N + 1, sizeof *m);
  char names[N + 1][8];
  hs_swim_dir dir;
  hs_swim_dir_init(&dir);
  for (uint32_t i = 1; i <= N; i++) {
    snprintf(names[i], sizeof names[i], "m%u", i);
    hs_entity_init(&m[i].e, &am_vt, names[i]);
    assert_int_equal(HS_OK, hs_sim_register(&sim, &m[i].e));
    assert_int_equal(HS_OK, hs_swim_dir_set(&dir, i, &m[i].e));
  }
  for (uint32_t i = 1; i <= N; i++) {
    hs_swim_config cfg;
    hs_swim_config_init(&cfg);
    cfg.id = i;
    cfg.n_members = N;
    hs_sim_stream(&sim, &cfg.rng, names[i], strlen(names[i]));
    assert_int_equal(HS_OK, hs_swim_node_init(&m[i].node, &m[i].e, &net, &pool, &dir, &cfg, NULL));
    assert_int_equal(HS_OK, hs_swim_node_start(&m[i].node));
  }
  /* m1 and m2 cannot talk directly: they still see each other alive, through helpers */
  hs_entity *a[1] = {&m[1].e}, *b[1] = {&m[2].e};
  assert_int_equal(HS_OK, hs_net_partition(&net, a, 1, b, 1, false, NULL));
  hs_sim_run_until(&sim, 40 * S);
  hs_swim_stats st;
  hs_swim_get_stats(m[1].node.swim, &st);
  assert_true(st.indirect_probes_sent > 0);
  assert_u64(st.suspicions_raised, 0);
  assert_int_equal(HS_SWIM_ALIVE, hs_swim_member_state(m[1].node.swim, 2));
  assert_int_equal(HS_SWIM_ALIVE, hs_swim_member_state(m[2].node.swim, 1));
  assert_true(hs_net_stats(&net)->dropped_partition > 0);
  /* m5 crashes: dead for everyone; it restarts: alive again, with a higher incarnation */
  hs_entity_crash(&m[5].e);
  hs_sim_run_until(&sim, 80 * S);
  assert_int_equal(N - 1, am_seeing(m, N, 5, HS_SWIM_DEAD));
  hs_entity_restart(&m[5].e);
  hs_sim_run_until(&sim, 100 * S);
  assert_int_equal(N - 1, am_seeing(m, N, 5, HS_SWIM_ALIVE));
  assert_true(hs_swim_member_incarnation(m[3].node.swim, 5) >= 1);
  for (uint32_t i = 1; i <= N; i++) assert_u64(m[i].node.malformed, 0);
  hs_net_close(&net);
  for (uint32_t i = 1; i <= N; i++) hs_swim_node_free(&m[i].node);
  hs_sim_close(&sim);
  hs_blob_pool_close(&pool);
  assert_u64(pool.live, 0);
  hs_swim_dir_free(&dir);
  free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_codec_and_malformed),
      cmocka_unit_test(test_ping_req_relay_exactly),
      cmocka_unit_test(test_indirect_probe_through_cut_path),
      cmocka_unit_test(test_refutation_by_incarnation),
      cmocka_unit_test(test_suspect_dead_and_rejoin),
      cmocka_unit_test(test_false_positives_under_loss),
      cmocka_unit_test(test_round_robin_completeness),
      cmocka_unit_test(test_dissemination_bounded),
      cmocka_unit_test(test_detection_law),
      cmocka_unit_test(test_two_thousand_members),
      cmocka_unit_test(test_deterministic),
      cmocka_unit_test(test_adapter_on_the_engine_network),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
