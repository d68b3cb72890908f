/*
 * test_election.c - the leader election core (engine/coord/hs_elect.h) and its strategies.
 *
 * Scenarios for each strategy (the highest live node wins bully and ring; dead nodes on the
 * way, or a node that answers and dies, do not stall an election; a recovered higher node
 * bullies its way back; randomized elects exactly one leader and none without a quorum), a
 * strategy written against the vtable alone, malformed input, and then hundreds of seeds per
 * strategy under loss, duplication, reordering, partitions and crash/restart, checked by
 * test_elect_world.h: never two leaders of one epoch accepted by a quorum. After the chaos the
 * faults stop and the nodes must agree on one leader (the highest node for bully).
 */
#include "test_elect_world.h"

#include "coord/hs_elect_node.h"
#include "core/hs_sim.h"

#define assert_u64(actual, expected)                                                                         \
  do {                                                                                                       \
    uint64_t a_ = (uint64_t)(actual), e_ = (uint64_t)(expected);                                             \
    if (a_ != e_) fail_msg("%s = %llu, expected %llu", #actual, (unsigned long long)a_, (unsigned long long)e_); \
  } while (0)

#define assert_ok_world(w)                                                                                   \
  do {                                                                                                       \
    if ((w)->violated) fail_msg("seed %llu, t = %.3f s: %s", (unsigned long long)(w)->seed, (double)(w)->now / 1e9, (w)->why); \
  } while (0)

/* ---- Exact interleavings: every message held in a queue, delivered by hand ------------------------ */

typedef struct qnode {
  struct qnet *q;
  uint32_t id;
} qnode;

typedef struct qnet {
  hs_elect *e[8];
  qnode nodes[8];
  hs_elect_msg msgs[512];
  uint32_t len;
} qnet;

static void q_send(void *ud, const hs_elect_msg *m) {
  qnode *n = ud;
  assert_true(n->q->len < 512);
  n->q->msgs[n->q->len++] = *m;
}

static void q_init(qnet *q, uint32_t n, int strategy) {
  memset(q, 0, sizeof *q);
  uint32_t ids[8];
  for (uint32_t i = 0; i < n; i++) ids[i] = i + 1;
  for (uint32_t i = 1; i <= n; i++) {
    q->nodes[i] = (qnode){q, i};
    hs_elect_config cfg;
    hs_elect_config_init(&cfg);
    cfg.id = i;
    cfg.members = ids;
    cfg.n_members = n;
    cfg.election_timeout_ns = 400 * MS; /* bully: answer 100 ms, coordinator 200 ms; ring: ack 50 ms */
    cfg.heartbeat_interval_ns = 100 * MS;
    cfg.strategy = ew_strategy(strategy);
    hs_rng_seed(&cfg.rng, i, "q", 1);
    cfg.cb = (hs_elect_callbacks){.send = q_send};
    cfg.ud = &q->nodes[i];
    assert_int_equal(HS_OK, hs_elect_new(&cfg, &q->e[i]));
    assert_int_equal(HS_OK, hs_elect_start(q->e[i], 0));
  }
}

static void q_free(qnet *q, uint32_t n) {
  for (uint32_t i = 1; i <= n; i++) hs_elect_free(q->e[i]);
}

/* Removes and returns the first queued message of that type from `from` to `to` (0: any). */
static bool q_take(qnet *q, hs_elect_msg_type type, uint32_t from, uint32_t to, hs_elect_msg *out) {
  for (uint32_t i = 0; i < q->len; i++) {
    hs_elect_msg *m = &q->msgs[i];
    if (m->type != type || (from && m->from != from) || (to && m->to != to)) continue;
    *out = *m;
    memmove(m, m + 1, (q->len - i - 1) * sizeof *m);
    q->len--;
    return true;
  }
  return false;
}

static uint32_t q_count(const qnet *q, hs_elect_msg_type type, uint32_t from) {
  uint32_t c = 0;
  for (uint32_t i = 0; i < q->len; i++) c += q->msgs[i].type == type && (!from || q->msgs[i].from == from);
  return c;
}

/* Delivers the first queued message of that type from `from` to `to`; it must be there. */
static void q_deliver(qnet *q, hs_elect_msg_type type, uint32_t from, uint32_t to, hs_time_ns now) {
  hs_elect_msg m;
  if (!q_take(q, type, from, to, &m))
    fail_msg("no %s from %u to %u queued", hs_elect_msg_type_name(type), from, to);
  assert_int_equal(HS_OK, hs_elect_step(q->e[m.to], &m, now));
}

static void q_drop_all(qnet *q) { q->len = 0; }

/* Garcia-Molina's rules one message at a time: ELECTION only upward; an answer means wait;
 * no answer within the timeout means win (a dead higher node does not stall); the winner's
 * announcement is accepted below; a higher node that hears a lower leader bullies it. */
static void test_bully_rules_exactly(void **state) {
  (void)state;
  qnet *q = malloc(sizeof *q);
  q_init(q, 5, EW_BULLY);
  assert_int_equal(HS_OK, hs_elect_campaign(q->e[3], 0));
  assert_int_equal(2, q->len); /* to 4 and 5 only */
  assert_int_equal(2, q_count(q, HS_ELECT_MSG_BULLY_ELECTION, 3));
  q_deliver(q, HS_ELECT_MSG_BULLY_ELECTION, 3, 4, 1 * MS);
  assert_int_equal(1, q_count(q, HS_ELECT_MSG_BULLY_ANSWER, 4));
  assert_int_equal(1, q_count(q, HS_ELECT_MSG_BULLY_ELECTION, 4)); /* 4 runs its own: to 5 */
  q_deliver(q, HS_ELECT_MSG_BULLY_ANSWER, 4, 3, 2 * MS);
  assert_int_equal(2 * MS + 200 * MS, hs_elect_next_deadline(q->e[3])); /* waits for a coordinator */
  q_drop_all(q); /* 5 is dead: its messages vanish */
  hs_elect_tick(q->e[4], 1 * MS + 100 * MS); /* 4's answer timeout: nobody above answered */
  assert_true(hs_elect_is_leader(q->e[4]));
  assert_int_equal(1, hs_elect_epoch(q->e[4]));
  assert_int_equal(4, q_count(q, HS_ELECT_MSG_HEARTBEAT, 4)); /* the announcement, to everyone */
  hs_elect_msg hb;
  assert_true(q_take(q, HS_ELECT_MSG_HEARTBEAT, 4, 3, &hb) && hb.flag);
  assert_int_equal(HS_OK, hs_elect_step(q->e[3], &hb, 120 * MS));
  assert_int_equal(4, hs_elect_leader(q->e[3]));
  hs_elect_msg ack;
  assert_true(q_take(q, HS_ELECT_MSG_HEARTBEAT_ACK, 3, 4, &ack) && !ack.flag);
  /* 5 comes back and hears 4: it refuses and bullies in epoch 2, winning at once */
  q_deliver(q, HS_ELECT_MSG_HEARTBEAT, 4, 5, 130 * MS);
  assert_true(hs_elect_is_leader(q->e[5]));
  assert_int_equal(2, hs_elect_epoch(q->e[5]));
  assert_true(q_take(q, HS_ELECT_MSG_HEARTBEAT_ACK, 5, 4, &ack) && ack.flag && ack.epoch == 2);
  assert_int_equal(HS_OK, hs_elect_step(q->e[4], &ack, 140 * MS));
  assert_false(hs_elect_is_leader(q->e[4])); /* a later epoch: 4 steps down */
  q_deliver(q, HS_ELECT_MSG_HEARTBEAT, 5, 4, 150 * MS);
  assert_int_equal(5, hs_elect_leader(q->e[4]));
  assert_int_equal(5, hs_elect_backed(q->e[4]));
  q_free(q, 5);
  free(q);
}

/* Chang-Roberts, one hop at a time: the larger candidate passes, a successor that does not ack
 * is skipped, the node that gets its own id back wins. */
static void test_ring_rules_exactly(void **state) {
  (void)state;
  qnet *q = malloc(sizeof *q);
  q_init(q, 5, EW_RING);
  hs_elect_campaign(q->e[2], 0);
  hs_elect_msg m;
  assert_true(q_take(q, HS_ELECT_MSG_RING_ELECTION, 2, 3, &m) && m.candidate == 2); /* 3 is dead: lost */
  hs_elect_tick(q->e[2], 50 * MS); /* no ack: skip 3 */
  assert_true(q_take(q, HS_ELECT_MSG_RING_ELECTION, 2, 4, &m) && m.candidate == 2);
  assert_int_equal(HS_OK, hs_elect_step(q->e[4], &m, 60 * MS));
  q_deliver(q, HS_ELECT_MSG_RING_ACK, 4, 2, 61 * MS);
  assert_true(q_take(q, HS_ELECT_MSG_RING_ELECTION, 4, 5, &m) && m.candidate == 4); /* 4 > 2: replaced */
  assert_int_equal(HS_OK, hs_elect_step(q->e[5], &m, 70 * MS));
  assert_true(q_take(q, HS_ELECT_MSG_RING_ELECTION, 5, 1, &m) && m.candidate == 5);
  assert_int_equal(HS_OK, hs_elect_step(q->e[1], &m, 80 * MS));
  assert_true(q_take(q, HS_ELECT_MSG_RING_ELECTION, 1, 2, &m) && m.candidate == 5); /* 5 > 1: passes */
  assert_int_equal(HS_OK, hs_elect_step(q->e[2], &m, 90 * MS));
  /* 3 stays skipped for this epoch: straight to 4 */
  assert_int_equal(1, q_count(q, HS_ELECT_MSG_RING_ELECTION, 2));
  q_deliver(q, HS_ELECT_MSG_RING_ELECTION, 2, 4, 150 * MS);
  assert_true(q_take(q, HS_ELECT_MSG_RING_ELECTION, 4, 5, &m) && m.candidate == 5);
  assert_int_equal(HS_OK, hs_elect_step(q->e[5], &m, 160 * MS)); /* its own id: it went round */
  assert_true(hs_elect_is_leader(q->e[5]));
  assert_int_equal(1, hs_elect_epoch(q->e[5]));
  /* a smaller candidate reaching a participant is dropped: nothing forwarded */
  uint32_t before = q_count(q, HS_ELECT_MSG_RING_ELECTION, 4);
  hs_elect_msg small = {.type = HS_ELECT_MSG_RING_ELECTION, .from = 3, .to = 4, .epoch = 1, .candidate = 3};
  assert_int_equal(HS_OK, hs_elect_step(q->e[4], &small, 170 * MS));
  assert_int_equal(before, q_count(q, HS_ELECT_MSG_RING_ELECTION, 4));
  q_free(q, 5);
  free(q);
}

/* One vote per epoch, durable: a second candidate of the epoch is refused, also after a
 * restart; a quorum elects. */
static void test_randomized_votes_exactly(void **state) {
  (void)state;
  qnet *q = malloc(sizeof *q);
  q_init(q, 3, EW_RANDOMIZED);
  hs_elect_campaign(q->e[1], 0);
  hs_elect_campaign(q->e[2], 0);
  q_deliver(q, HS_ELECT_MSG_VOTE, 1, 3, 1 * MS);
  hs_elect_msg r;
  assert_true(q_take(q, HS_ELECT_MSG_VOTE_RESP, 3, 1, &r) && !r.flag);
  hs_elect_crash(q->e[3]);
  hs_elect_restart(q->e[3], 2 * MS);
  assert_int_equal(1, hs_elect_backed(q->e[3]));
  q_deliver(q, HS_ELECT_MSG_VOTE, 2, 3, 3 * MS);
  hs_elect_msg refused;
  assert_true(q_take(q, HS_ELECT_MSG_VOTE_RESP, 3, 2, &refused) && refused.flag);
  q_deliver(q, HS_ELECT_MSG_VOTE, 2, 1, 4 * MS); /* 1 backs itself */
  assert_true(q_take(q, HS_ELECT_MSG_VOTE_RESP, 1, 2, &refused) && refused.flag);
  assert_int_equal(HS_OK, hs_elect_step(q->e[2], &refused, 5 * MS));
  assert_false(hs_elect_is_leader(q->e[2]));
  assert_int_equal(HS_OK, hs_elect_step(q->e[1], &r, 6 * MS)); /* 1 + 3: a quorum of 3 */
  assert_true(hs_elect_is_leader(q->e[1]));
  q_free(q, 3);
  free(q);
}

/* ---- Bully ------------------------------------------------------------------------------------ */

static void test_bully_elects_highest_and_survives_dead_nodes(void **state) {
  (void)state;
  eworld *w = malloc(sizeof *w);
  ew_init(w, 5, EW_BULLY, 1);
  assert_int_equal(5, ew_run_until_agreed(w, 2000 * MS));
  hs_time_ns t0 = w->now;
  uint64_t epoch = hs_elect_epoch(E(w, 1));
  /* the leader and the next in line die together: 3 must win, without waiting on 4 */
  ew_crash(w, 5);
  ew_crash(w, 4);
  assert_int_equal(3, ew_run_until_agreed(w, 3000 * MS));
  assert_true(hs_elect_epoch(E(w, 1)) > epoch);
  /* detection (one election timeout) + one answer timeout + latencies */
  assert_true(w->now - t0 < 2 * w->et);
  /* a recovered higher node bullies its way back, with a later epoch */
  epoch = hs_elect_epoch(E(w, 1));
  ew_restart(w, 5);
  assert_int_equal(5, ew_run_until_agreed(w, 3000 * MS));
  assert_true(hs_elect_epoch(E(w, 5)) > epoch);
  ew_restart(w, 4);
  assert_int_equal(5, ew_run_until_agreed(w, 3000 * MS));
  ew_run_until(w, w->now + 1000 * MS);
  assert_int_equal(5, ew_agreed_leader(w)); /* stays */
  hs_elect_stats st;
  hs_elect_get_stats(E(w, 5), &st);
  assert_true(st.is_leader && st.elections_won >= 2 && st.leaders_confirmed >= 2);
  assert_ok_world(w);
  ew_free(w);
  free(w);
}

/* Node 4 answers node 3's election and dies before announcing itself: the lower nodes wait one
 * coordinator timeout, then run a new election that 3 wins. */
static void crash_on_first_answer(eworld *w, const hs_elect_msg *m) {
  if (m->type == HS_ELECT_MSG_BULLY_ANSWER && m->from == 4 && w->hook_ud) {
    w->hook_ud = NULL;
    ew_crash(w, 4);
  }
}

static void test_bully_answer_then_death(void **state) {
  (void)state;
  eworld *w = malloc(sizeof *w);
  ew_init(w, 5, EW_BULLY, 2);
  assert_int_equal(5, ew_run_until_agreed(w, 2000 * MS));
  w->on_send = crash_on_first_answer;
  w->hook_ud = w;
  ew_crash(w, 5);
  assert_int_equal(3, ew_run_until_agreed(w, 5000 * MS));
  assert_null(w->hook_ud); /* the hook fired */
  assert_ok_world(w);
  ew_free(w);
  free(w);
}

/* The membership view reports the leader dead: the election starts at once, not after an
 * election timeout, and skips what the view says is dead. */
static void test_membership_view_triggers_election(void **state) {
  (void)state;
  eworld *w = malloc(sizeof *w);
  ew_init(w, 5, EW_BULLY, 3);
  assert_int_equal(5, ew_run_until_agreed(w, 2000 * MS));
  ew_crash(w, 5);
  hs_time_ns t0 = w->now;
  for (uint32_t i = 1; i <= 4; i++) hs_elect_set_alive(E(w, i), 5, false, w->now);
  assert_int_equal(4, ew_run_until_agreed(w, 2000 * MS));
  assert_true(w->now - t0 < w->et / 2);
  assert_false(hs_elect_alive(E(w, 1), 5));
  assert_true(hs_elect_alive(E(w, 1), 4));
  assert_ok_world(w);
  ew_free(w);
  free(w);
}

/* ---- Ring ------------------------------------------------------------------------------------- */

static void test_ring_elects_highest_and_skips_dead(void **state) {
  (void)state;
  eworld *w = malloc(sizeof *w);
  ew_init(w, 7, EW_RING, 4);
  assert_int_equal(7, ew_run_until_agreed(w, 3000 * MS));
  /* the leader and two nodes in the middle of the ring die: 6 wins, the round passes the dead */
  ew_crash(w, 7);
  ew_crash(w, 3);
  ew_crash(w, 5);
  hs_time_ns t0 = w->now;
  assert_int_equal(6, ew_run_until_agreed(w, 3000 * MS));
  assert_true(w->now - t0 < 3 * w->et);
  /* with everyone but 1 and 2 dead, 2 wins */
  ew_crash(w, 6);
  ew_crash(w, 4);
  assert_int_equal(2, ew_run_until_agreed(w, 3000 * MS));
  /* alone, a node elects itself */
  ew_crash(w, 2);
  assert_int_equal(1, ew_run_until_agreed(w, 3000 * MS));
  assert_ok_world(w);
  ew_free(w);
  free(w);
}

/* ---- Randomized -------------------------------------------------------------------------------- */

static void test_randomized_elects_one_leader_with_a_quorum(void **state) {
  (void)state;
  for (uint64_t seed = 1; seed <= 20; seed++) {
    eworld *w = malloc(sizeof *w);
    ew_init(w, 5, EW_RANDOMIZED, seed);
    uint32_t l = ew_run_until_agreed(w, 5000 * MS);
    assert_true(l >= 1 && l <= 5);
    uint32_t leaders = 0;
    for (uint32_t i = 1; i <= 5; i++) leaders += hs_elect_is_leader(E(w, i));
    assert_int_equal(1, leaders);
    /* the leader dies: another one takes over */
    ew_crash(w, l);
    uint32_t l2 = ew_run_until_agreed(w, 5000 * MS);
    assert_true(l2 && l2 != l);
    /* two of five left: no quorum, no leader, ever */
    ew_crash(w, l2);
    uint32_t killed = 1;
    for (uint32_t i = 1; i <= 5 && killed < 2; i++)
      if (!w->down[i]) {
        ew_crash(w, i);
        killed++;
      }
    ew_run_until(w, w->now + 5000 * MS);
    for (uint32_t i = 1; i <= 5; i++) assert_false(!w->down[i] && hs_elect_is_leader(E(w, i)));
    /* one back: three of five elect again */
    for (uint32_t i = 1; i <= 5; i++)
      if (w->down[i] && i != l) {
        ew_restart(w, i);
        break;
      }
    assert_true(ew_run_until_agreed(w, 5000 * MS) != 0);
    assert_ok_world(w);
    ew_free(w);
    free(w);
  }
}

/* ---- A strategy made of the vtable and the services alone (the Lua plug point) ---------------- */

static void test_custom_strategy_through_the_vtable(void **state) {
  (void)state;
  eworld *w = malloc(sizeof *w);
  ew_init(w, 5, EW_CUSTOM, 5);
  assert_int_equal(1, ew_run_until_agreed(w, 2000 * MS));
  ew_crash(w, 1);
  assert_int_equal(2, ew_run_until_agreed(w, 3000 * MS));
  ew_restart(w, 1);
  assert_int_equal(1, ew_run_until_agreed(w, 3000 * MS));
  assert_ok_world(w);
  ew_free(w);
  free(w);
}

/* ---- Asynchronous answers: a strategy that says "not now" and answers later (the binding's) ---- */

typedef struct late {
  uint32_t should_asks, accept_asks;
} late;

static bool late_should(void *self, hs_elect *e, hs_time_ns now) {
  (void)e, (void)now;
  ((late *)self)->should_asks++;
  return false;
}
static void late_start(void *self, hs_elect *e, hs_time_ns now) { (void)self, (void)e, (void)now; }
static int late_handle(void *self, hs_elect *e, const hs_elect_msg *m, hs_time_ns now) {
  (void)self, (void)e, (void)m, (void)now;
  return HS_OK;
}
static void late_timeout(void *self, hs_elect *e, hs_time_ns now) { (void)self, (void)e, (void)now; }
static bool late_accept(void *self, hs_elect *e, uint32_t leader, hs_time_ns now) {
  (void)e, (void)leader, (void)now;
  ((late *)self)->accept_asks++;
  return false;
}
static void late_destroy(void *self) { free(self); }
static const hs_elect_strategy_ops late_ops = {.name = "late", .message_types = 1u << HS_ELECT_MSG_CUSTOM,
                                               .should_start_election = late_should, .start_election = late_start,
                                               .handle_message = late_handle, .on_timeout = late_timeout,
                                               .accept_leader = late_accept, .destroy = late_destroy};

/* hs_elect_campaign_if_leaderless and hs_elect_accept_leader: the late yes acts as the
 * immediate one would have, and only while the question still stands. */
static void test_asynchronous_answers(void **state) {
  (void)state;
  qnet *q = malloc(sizeof *q);
  q_init(q, 3, EW_BULLY);
  late *st[4] = {0};
  for (uint32_t i = 1; i <= 3; i++) { /* the same nodes with the late strategy */
    hs_elect_free(q->e[i]);
    uint32_t ids[3] = {1, 2, 3};
    hs_elect_config cfg;
    hs_elect_config_init(&cfg);
    cfg.id = i;
    cfg.members = ids;
    cfg.n_members = 3;
    cfg.election_timeout_ns = 400 * MS;
    cfg.heartbeat_interval_ns = 100 * MS;
    st[i] = calloc(1, sizeof *st[i]);
    cfg.strategy = (hs_elect_strategy){&late_ops, st[i]};
    cfg.cb = (hs_elect_callbacks){.send = q_send};
    cfg.ud = &q->nodes[i];
    assert_int_equal(HS_OK, hs_elect_new(&cfg, &q->e[i]));
    assert_int_equal(HS_OK, hs_elect_start(q->e[i], 0));
  }
  hs_elect **e = q->e;
  hs_elect_tick(e[1], 400 * MS); /* the leader check asks; "not now" */
  assert_int_equal(1, st[1]->should_asks);
  assert_u64(hs_elect_epoch(e[1]), 0);
  assert_int_equal(HS_OK, hs_elect_campaign_if_leaderless(e[1], 410 * MS)); /* the late yes */
  assert_u64(hs_elect_epoch(e[1]), 1);
  assert_int_equal(HS_OK, hs_elect_declare(e[1], 410 * MS));
  q_deliver(q, HS_ELECT_MSG_HEARTBEAT, 1, 2, 420 * MS); /* 2 asks its strategy: "not now" */
  assert_int_equal(1, st[2]->accept_asks);
  hs_elect_msg ack;
  assert_true(q_take(q, HS_ELECT_MSG_HEARTBEAT_ACK, 2, 1, &ack) && ack.flag); /* refused for now */
  assert_u64(hs_elect_leader(e[2]), HS_ELECT_NONE);
  assert_u64(hs_elect_backed(e[2]), HS_ELECT_NONE);
  assert_u64(hs_elect_epoch(e[2]), 1);
  assert_int_equal(HS_OK, hs_elect_accept_leader(e[2], 1, 1, 430 * MS)); /* the late yes */
  assert_u64(hs_elect_leader(e[2]), 1);
  assert_u64(hs_elect_backed(e[2]), 1);
  assert_int_equal(430 * MS + 400 * MS, hs_elect_next_deadline(e[2])); /* the failure check restarts */
  assert_true(q_take(q, HS_ELECT_MSG_HEARTBEAT_ACK, 2, 1, &ack) && !ack.flag);
  assert_int_equal(HS_OK, hs_elect_step(e[1], &ack, 440 * MS));
  hs_elect_stats stats;
  hs_elect_get_stats(e[1], &stats);
  assert_u64(stats.leaders_confirmed, 1); /* 1 and 2: a quorum of 3 */
  assert_int_equal(HS_OK, hs_elect_accept_leader(e[2], 1, 1, 450 * MS)); /* said twice: no change */
  assert_int_equal(0, q_count(q, HS_ELECT_MSG_HEARTBEAT_ACK, 2));
  assert_int_equal(HS_ELECT_ESTATE, hs_elect_campaign_if_leaderless(e[2], 450 * MS)); /* it has a leader */
  assert_u64(hs_elect_epoch(e[2]), 1);
  /* stale answers: 3 was asked in epoch 1, then moved on */
  q_deliver(q, HS_ELECT_MSG_HEARTBEAT, 1, 3, 460 * MS);
  assert_int_equal(HS_OK, hs_elect_campaign(e[3], 470 * MS));
  assert_int_equal(HS_ELECT_ESTATE, hs_elect_accept_leader(e[3], 1, 1, 480 * MS));
  assert_true(hs_elect_back(e[3], 3));
  assert_int_equal(HS_ELECT_EREFUSED, hs_elect_accept_leader(e[3], 1, 2, 480 * MS)); /* it backs itself in 2 */
  assert_u64(hs_elect_leader(e[3]), HS_ELECT_NONE);
  assert_int_equal(HS_EINVAL, hs_elect_accept_leader(e[3], 3, 2, 480 * MS)); /* itself */
  assert_int_equal(HS_EINVAL, hs_elect_accept_leader(e[3], 9, 2, 480 * MS)); /* not a member */
  hs_elect_crash(e[2]);
  assert_int_equal(HS_ELECT_ECRASHED, hs_elect_campaign_if_leaderless(e[2], 490 * MS));
  assert_int_equal(HS_ELECT_ECRASHED, hs_elect_accept_leader(e[2], 1, 1, 490 * MS));
  q_free(q, 3);
  free(q);
}

/* ---- Malformed input ------------------------------------------------------------------------- */

static void test_malformed_refused_and_counted(void **state) {
  (void)state;
  eworld *w = malloc(sizeof *w);
  ew_init(w, 3, EW_BULLY, 6);
  hs_elect *e = E(w, 2);
  hs_elect_msg m = {.type = HS_ELECT_MSG_HEARTBEAT, .from = 1, .to = 2, .epoch = 1};
  m.to = 3;
  assert_int_equal(HS_EINVAL, hs_elect_step(e, &m, 0)); /* not for this node */
  m.to = 2;
  m.from = 9;
  assert_int_equal(HS_EINVAL, hs_elect_step(e, &m, 0)); /* not a member */
  m.from = 2;
  assert_int_equal(HS_EINVAL, hs_elect_step(e, &m, 0)); /* from itself */
  m.from = 1;
  m.epoch = HS_ELECT_MAX_EPOCH + 1;
  assert_int_equal(HS_EINVAL, hs_elect_step(e, &m, 0));
  m.epoch = 1;
  m.type = HS_ELECT_MSG_VOTE; /* bully does not vote */
  assert_int_equal(HS_EINVAL, hs_elect_step(e, &m, 0));
  m.type = HS_ELECT_MSG_BULLY_ELECTION;
  m.epoch = 0;
  m.from = 3; /* a higher node never asks */
  assert_int_equal(HS_EINVAL, hs_elect_step(e, &m, 0));
  hs_elect_stats st;
  hs_elect_get_stats(e, &st);
  assert_u64(st.malformed, 6);
  assert_u64(hs_elect_epoch(e), 0); /* nothing malformed moved the epoch */
  /* the codec: truncated, bad version, bad type, bad length, and random bytes */
  uint8_t buf[64];
  hs_elect_msg ok = {.type = HS_ELECT_MSG_RING_ELECTION, .from = 1, .to = 2, .epoch = 7, .candidate = 3};
  size_t len = hs_elect_msg_encode(&ok, buf, sizeof buf);
  hs_elect_msg d;
  assert_int_equal(HS_OK, hs_elect_msg_decode(&d, buf, len));
  assert_true(d.type == ok.type && d.epoch == 7 && d.candidate == 3 && d.from == 1 && d.to == 2);
  assert_int_equal(HS_EINVAL, hs_elect_msg_decode(&d, buf, len - 1));
  buf[0] = 2;
  assert_int_equal(HS_EINVAL, hs_elect_msg_decode(&d, buf, len));
  buf[0] = 1;
  buf[1] = HS_ELECT_MSG_TYPE_COUNT;
  assert_int_equal(HS_EINVAL, hs_elect_msg_decode(&d, buf, len));
  hs_rng rng;
  hs_rng_seed(&rng, 6, "garbage", 7);
  hs_elect *r = E(w, 3);
  for (int i = 0; i < 20000; i++) { /* forged messages: whatever decodes is stepped, nothing breaks */
    size_t n = 36 + hs_rng_below(&rng, 4);
    for (size_t k = 0; k < n; k++) buf[k] = (uint8_t)hs_rng_next(&rng);
    buf[0] = 1;
    buf[1] = (uint8_t)hs_rng_below(&rng, HS_ELECT_MSG_TYPE_COUNT);
    buf[2] = (uint8_t)hs_rng_below(&rng, 2);
    buf[4] = (uint8_t)(1 + hs_rng_below(&rng, 3)), buf[5] = buf[6] = buf[7] = 0;
    buf[8] = 3, buf[9] = buf[10] = buf[11] = 0;
    for (int k = 12; k < 16; k++) buf[k] = k == 12 ? (uint8_t)hs_rng_below(&rng, 5) : 0;
    if (hs_rng_below(&rng, 2)) memset(buf + 20, 0, 4); /* epochs in range half of the time */
    for (int k = 32; k < 36; k++) buf[k] = 0;
    buf[32] = (uint8_t)(n - 36);
    if (hs_elect_msg_decode(&d, buf, n) == HS_OK) hs_elect_step(r, &d, (hs_time_ns)i * MS);
    hs_elect_tick(r, (hs_time_ns)i * MS);
  }
  ew_free(w);
  free(w);
}

/* ---- Safety and liveness over many seeds -------------------------------------------------------- */

static void run_seeds(int strategy, uint64_t seeds, const char *name) {
  assert_false(hs_elect_unsafe_build());
  uint64_t epochs = 0, crashes = 0, partitions = 0, delivered = 0, contested = 0;
  for (uint64_t seed = 1; seed <= seeds; seed++) {
    eworld *w = malloc(sizeof *w);
    ew_init(w, 5, strategy, seed * 7919 + (uint64_t)strategy);
    w->chaos = true;
    w->next_action = 10 * MS;
    ew_run_until(w, 10000 * MS);
    /* the faults stop: heal, everyone up, views reset, no loss */
    w->chaos = false;
    fw_heal(&w->link, w->cut);
    for (uint32_t i = 1; i <= 5; i++) ew_restart(w, i);
    for (uint32_t i = 1; i <= 5; i++)
      for (uint32_t j = 1; j <= 5; j++) hs_elect_set_alive(E(w, i), j, true, w->now);
    uint32_t l = ew_run_until_stable(w, 20000 * MS, 2000 * MS);
    if (!w->violated && !l) ew_violation(w, "no leader agreed for 2 s within 20 s after the faults stopped");
    if (!w->violated && strategy == EW_BULLY && l != 5) ew_violation(w, "bully agreed on %u, not the highest", l);
    if (w->violated) {
      char why[300];
      snprintf(why, sizeof why, "%s seed %llu, t = %.3f s: %s", name, (unsigned long long)seed, (double)w->now / 1e9, w->why);
      ew_free(w);
      free(w);
      fail_msg("%s", why);
    }
    epochs += hs_elect_epoch(E(w, l));
    contested += ew_contested_epochs(w);
    crashes += w->crashes;
    partitions += w->partitions;
    delivered += w->delivered;
    ew_free(w);
    free(w);
  }
  print_message("%s: %llu seeds, %llu epochs (%llu with two leaders, one with a quorum at most), %llu crashes, "
                "%llu partitions, %llu messages delivered\n",
                name, (unsigned long long)seeds, (unsigned long long)epochs, (unsigned long long)contested,
                (unsigned long long)crashes, (unsigned long long)partitions, (unsigned long long)delivered);
}

static void test_safety_bully(void **state) {
  (void)state;
  run_seeds(EW_BULLY, 500, "bully");
}

static void test_safety_ring(void **state) {
  (void)state;
  run_seeds(EW_RING, 500, "ring");
}

static void test_safety_randomized(void **state) {
  (void)state;
  run_seeds(EW_RANDOMIZED, 500, "randomized");
}

static void test_safety_custom(void **state) {
  (void)state;
  run_seeds(EW_CUSTOM, 200, "lowest (custom)");
}

static uint64_t trace_of(uint64_t seed) {
  eworld *w = malloc(sizeof *w);
  ew_init(w, 5, EW_RING, seed);
  w->chaos = true;
  ew_run_until(w, 3000 * MS);
  uint64_t t = w->trace ^ w->delivered;
  ew_free(w);
  free(w);
  return t;
}

static void test_deterministic(void **state) {
  (void)state;
  assert_u64(trace_of(11), trace_of(11));
  assert_true(trace_of(11) != trace_of(12));
}

/* ---- The adapter: nodes as entities on the engine's network ------------------------------------ */

typedef struct anode {
  hs_entity e;
  hs_elect_node node;
  uint32_t leader;
} anode;

static void a_on_message(hs_entity *e, hs_message *m) {
  anode *a = (anode *)e;
  if (hs_elect_node_is_protocol(m)) hs_elect_node_on_message(&a->node, m);
}
static void a_on_crash(hs_entity *e) { hs_elect_node_on_crash(&((anode *)e)->node); }
static void a_on_restart(hs_entity *e) { hs_elect_node_on_restart(&((anode *)e)->node); }
static const hs_entity_vtable anode_vt = {.kind = "LeaderElection", .on_crash = a_on_crash, .on_restart = a_on_restart,
                                          .on_message = a_on_message};

static void a_leader(void *ud, const hs_elect_leader_event *ev) { ((anode *)ud)->leader = ev->leader; }
static void *blob_copy(void *ud, void *payload, uint64_t size) {
  (void)size;
  hs_blob *b = payload;
  return hs_blob_copy(ud, b->data, b->size);
}
static void blob_release(void *ud, void *payload) { hs_blob_free(ud, payload); }

static uint32_t a_agreed(anode *nodes, uint32_t n) {
  uint32_t l = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (hs_entity_crashed(&nodes[i].e)) continue;
    if (!nodes[i].leader || (l && nodes[i].leader != l)) return 0;
    l = nodes[i].leader;
  }
  return l;
}

static void test_adapter_on_the_engine_network(void **state) {
  (void)state;
  enum { N = 5 };
  hs_sim sim;
  hs_sim_init(&sim, 9);
  hs_net net;
  assert_int_equal(HS_OK, hs_net_init(&net, &sim, "cluster"));
  hs_blob_pool pool;
  hs_blob_pool_init(&pool);
  hs_net_payload_ops ops = {blob_copy, blob_release, &pool};
  hs_net_set_payload_ops(&net, &ops);
  hs_link_params p;
  hs_link_params_init(&p);
  p.latency = hs_dist_uniform(0.001, 0.010);
  p.packet_loss_rate = 0.02;
  assert_int_equal(HS_OK, hs_net_set_default_link(&net, &p));
  anode nodes[N];
  static const char *names[N] = {"n1", "n2", "n3", "n4", "n5"};
  uint32_t ids[N] = {1, 2, 3, 4, 5};
  for (uint32_t i = 0; i < N; i++) {
    memset(&nodes[i], 0, sizeof nodes[i]);
    hs_entity_init(&nodes[i].e, &anode_vt, names[i]);
    assert_int_equal(HS_OK, hs_sim_register(&sim, &nodes[i].e));
  }
  for (uint32_t i = 0; i < N; i++) {
    hs_elect_config cfg;
    hs_elect_config_init(&cfg);
    cfg.id = ids[i];
    cfg.members = ids;
    cfg.n_members = N;
    cfg.election_timeout_ns = 300 * MS;
    cfg.heartbeat_interval_ns = 50 * MS;
    assert_int_equal(HS_OK, hs_elect_bully_new(NULL, &cfg.strategy));
    hs_sim_stream(&sim, &cfg.rng, names[i], 2);
    hs_elect_node_hooks hooks = {.leader_changed = a_leader, .ud = &nodes[i]};
    assert_int_equal(HS_OK, hs_elect_node_init(&nodes[i].node, &nodes[i].e, &net, &pool, &cfg, &hooks));
    for (uint32_t j = 0; j < N; j++) hs_elect_node_set_peer(&nodes[i].node, ids[j], &nodes[j].e);
  }
  for (uint32_t i = 0; i < N; i++) assert_int_equal(HS_OK, hs_elect_node_start(&nodes[i].node));
  hs_sim_run_until(&sim, 2000 * MS);
  assert_int_equal(5, a_agreed(nodes, N));
  hs_entity_crash(&nodes[4].e);
  hs_sim_run_until(&sim, 4000 * MS);
  assert_int_equal(4, a_agreed(nodes, N));
  hs_entity_restart(&nodes[4].e);
  hs_sim_run_until(&sim, 6000 * MS);
  assert_int_equal(5, a_agreed(nodes, N));
  for (uint32_t i = 0; i < N; i++) assert_int_equal(0, nodes[i].node.malformed);
  assert_true(hs_net_stats(&net)->delivered > 500);
  hs_net_close(&net);
  for (uint32_t i = 0; i < N; i++) hs_elect_node_free(&nodes[i].node);
  hs_sim_close(&sim);
  hs_blob_pool_close(&pool);
  assert_int_equal(0, pool.live);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bully_rules_exactly),
      cmocka_unit_test(test_ring_rules_exactly),
      cmocka_unit_test(test_randomized_votes_exactly),
      cmocka_unit_test(test_bully_elects_highest_and_survives_dead_nodes),
      cmocka_unit_test(test_bully_answer_then_death),
      cmocka_unit_test(test_membership_view_triggers_election),
      cmocka_unit_test(test_ring_elects_highest_and_skips_dead),
      cmocka_unit_test(test_randomized_elects_one_leader_with_a_quorum),
      cmocka_unit_test(test_custom_strategy_through_the_vtable),
      cmocka_unit_test(test_asynchronous_answers),
      cmocka_unit_test(test_malformed_refused_and_counted),
      cmocka_unit_test(test_safety_bully),
      cmocka_unit_test(test_safety_ring),
      cmocka_unit_test(test_safety_randomized),
      cmocka_unit_test(test_safety_custom),
      cmocka_unit_test(test_deterministic),
      cmocka_unit_test(test_adapter_on_the_engine_network),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
