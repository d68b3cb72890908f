/*
 * test_raft_harness.h - a tiny network and world for testing the Raft core without the engine.
 *
 * Nodes are hs_raft instances with ids 1..TN_MAX. Whatever a node sends is encoded
 * (hs_raft_msg_encode, so the codec is exercised on every message) and held in one queue in
 * send order. A test looks at the queue, takes, delivers, drops, duplicates or reorders
 * messages, and moves time forward, which fires the nodes' deadlines in time order.
 *
 * Each node's state machine is a hash chain over the applied commands (its snapshot is 24
 * bytes: index, hash, count); every applied entry is also recorded for inspection. The
 * callbacks check the persistence contract as they go: a granted vote must have been
 * persisted before it is sent, and an acknowledged index must have been persisted.
 *
 * Everything is static: each test file includes this once.
 */
#ifndef TEST_RAFT_HARNESS_H
#define TEST_RAFT_HARNESS_H

#include <stdio.h>

#pragma GCC diagnostic ignored "-Wunused-function"

#include "raft/hs_raft.h"
#include "test_msgq.h"

#define TN_MAX 8
#define TN_MAX_ENTS 1024

#define assert_rc(actual, expected) assert_rc_named(actual, expected, hs_raft_strerror)

#define assert_role(node, expected)                                                                          \
  do {                                                                                                       \
    hs_raft_role a_ = hs_raft_role_of(node), e_ = (expected);                                                \
    if (a_ != e_) fail_msg("%s is %s, expected %s", #node, hs_raft_role_name(a_), hs_raft_role_name(e_));    \
  } while (0)

/* ---- Records ------------------------------------------------------------------------------- */

typedef struct tapplied {
  uint64_t index, term;
  hs_raft_entry_type type;
  uint32_t len;
  uint8_t *data;
  bool mine;
  uint64_t tag;
} tapplied;

typedef struct tlost {
  uint64_t tag, index;
  int reason;
} tlost;

typedef struct tread {
  uint64_t id, index;
  int status;
} tread;

typedef struct tnet tnet;

typedef struct tnode {
  tnet *net;
  hs_raft *r;
  uint32_t id;
  /* state machine */
  uint64_t sm_index, sm_hash, sm_count;
  uint8_t snap_buf[24];
  uint64_t snapshots_taken, restores;
  /* records */
  tapplied *applied;
  size_t n_applied, cap_applied;
  tlost lost[256];
  size_t n_lost;
  tread reads[256];
  size_t n_reads;
  uint64_t persisted_term;
  uint32_t persisted_vote;
  uint64_t persisted_last; /* last index the adapter would have stored */
  uint64_t persist_state_calls, persist_entries_calls;
  hs_time_ns timer_at[2];
  uint64_t set_timer_calls;
  uint64_t role_events;
  hs_raft_role_event last_role;
  uint64_t transfers_ended; /* transfer_done calls, and the last one's tag and status */
  uint64_t transfer_tag;
  int transfer_status;
} tnode;

typedef hmsg tmsg; /* type: an hs_raft_msg_type */

typedef struct topts {
  bool pre_vote, check_quorum, drop_on_step_down;
  hs_time_ns et_min, et_max, hb;
  uint32_t max_entries, max_bytes, max_inflight;
  uint64_t snapshot_threshold;
  uint64_t seed;
} topts;

struct tnet {
  tnode nodes[TN_MAX + 1]; /* by id; nodes[0] unused */
  hs_time_ns now;
  hq q;         /* in send order */
  uint64_t seq; /* messages sent, copies too */
  hcut cut;     /* checked on delivery */
  bool violation;
  char why[256];
  /* hooks for the randomized world */
  void (*on_send)(tnet *net, tmsg *m);
  void (*on_apply)(tnet *net, tnode *n, const hs_raft_entry *e);
  void (*on_role)(tnet *net, tnode *n, const hs_raft_role_event *ev);
  void (*on_restore)(tnet *net, tnode *n, uint64_t index);
  void *world;
};

static void tnet_violation(tnet *net, const char *fmt, ...) {
  if (net->violation) return;
  net->violation = true;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(net->why, sizeof net->why, fmt, ap);
  va_end(ap);
}

/* ---- Callbacks ------------------------------------------------------------------------------ */

static void th_put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint64_t th_get64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

static void cb_send(void *ud, const hs_raft_msg *m) {
  tnode *n = ud;
  tnet *net = n->net;
  if (m->type == HS_RAFT_MSG_VOTE_RESP && !m->reject &&
      (n->persisted_vote != m->to || n->persisted_term != m->term))
    tnet_violation(net, "node %u granted a vote to %u in term %llu before persisting it", n->id, m->to,
                   (unsigned long long)m->term);
  if (m->type == HS_RAFT_MSG_APP_RESP && !m->reject && m->index > n->persisted_last)
    tnet_violation(net, "node %u acknowledged index %llu but persisted only up to %llu", n->id,
                   (unsigned long long)m->index, (unsigned long long)n->persisted_last);
  if (m->from != n->id || m->to == n->id || m->to == 0 || m->to > TN_MAX)
    tnet_violation(net, "node %u sent a message from %u to %u", n->id, m->from, m->to);
  tmsg t = {.len = hs_raft_msg_encoded_size(m), .from = m->from, .to = m->to, .type = m->type, .at = net->now};
  t.buf = malloc(t.len);
  assert_u64(hs_raft_msg_encode(m, t.buf, t.len), t.len);
  t.seq = ++net->seq;
  hq_push(&net->q, t);
  if (net->on_send) net->on_send(net, &net->q.m[net->q.len - 1]);
}

static void cb_set_timer(void *ud, hs_raft_timer kind, hs_time_ns at) {
  tnode *n = ud;
  n->timer_at[kind] = at;
  n->set_timer_calls++;
}

static void cb_persist_state(void *ud, uint64_t term, uint32_t vote) {
  tnode *n = ud;
  n->persisted_term = term;
  n->persisted_vote = vote;
  n->persist_state_calls++;
}

static void cb_persist_entries(void *ud, uint64_t first, uint64_t last) {
  tnode *n = ud;
  (void)first;
  n->persisted_last = last;
  n->persist_entries_calls++;
}

static void cb_persist_snapshot(void *ud, uint64_t index, uint64_t term) {
  tnode *n = ud;
  (void)term;
  if (hs_raft_last_index(n->r) == index) n->persisted_last = index; /* installed: log replaced */
}

static void cb_apply(void *ud, const hs_raft_entry *e, bool mine, uint64_t tag) {
  tnode *n = ud;
  if (e->index != n->sm_index + 1)
    tnet_violation(n->net, "node %u applied index %llu after %llu", n->id, (unsigned long long)e->index,
                   (unsigned long long)n->sm_index);
  n->sm_index = e->index;
  if (e->type == HS_RAFT_ENTRY_NORMAL) {
    n->sm_hash = h_mix(n->sm_hash, e->data, e->len);
    n->sm_count++;
  }
  if (n->n_applied == n->cap_applied) {
    n->cap_applied = n->cap_applied ? n->cap_applied * 2 : 64;
    n->applied = realloc(n->applied, n->cap_applied * sizeof *n->applied);
  }
  tapplied *a = &n->applied[n->n_applied++];
  a->index = e->index;
  a->term = e->term;
  a->type = e->type;
  a->len = e->len;
  a->data = NULL;
  if (e->len) {
    a->data = malloc(e->len);
    memcpy(a->data, e->data, e->len);
  }
  a->mine = mine;
  a->tag = tag;
  if (n->net->on_apply) n->net->on_apply(n->net, n, e);
}

static void cb_lost(void *ud, uint64_t tag, uint64_t index, int reason) {
  tnode *n = ud;
  if (n->n_lost < 256) n->lost[n->n_lost++] = (tlost){tag, index, reason};
}

static void cb_read_done(void *ud, uint64_t id, uint64_t index, int status) {
  tnode *n = ud;
  if (status == HS_OK && n->sm_index < index)
    tnet_violation(n->net, "node %u served read %llu at index %llu before applying it", n->id,
                   (unsigned long long)id, (unsigned long long)index);
  if (n->n_reads < 256) n->reads[n->n_reads++] = (tread){id, index, status};
}

static const uint8_t *cb_snapshot_take(void *ud, uint64_t index, size_t *len) {
  tnode *n = ud;
  if (n->sm_index != index) tnet_violation(n->net, "node %u snapshot at %llu with state at %llu", n->id,
                                           (unsigned long long)index, (unsigned long long)n->sm_index);
  th_put64(n->snap_buf, n->sm_index);
  th_put64(n->snap_buf + 8, n->sm_hash);
  th_put64(n->snap_buf + 16, n->sm_count);
  n->snapshots_taken++;
  *len = sizeof n->snap_buf;
  return n->snap_buf;
}

static void cb_snapshot_restore(void *ud, uint64_t index, uint64_t term, const uint8_t *data, size_t len) {
  tnode *n = ud;
  (void)term;
  n->restores++;
  if (!data) {
    n->sm_index = index;
    n->sm_hash = n->sm_count = 0;
    if (index) tnet_violation(n->net, "node %u restored index %llu without data", n->id, (unsigned long long)index);
  } else {
    if (len != 24 || th_get64(data) != index)
      tnet_violation(n->net, "node %u restored a bad snapshot", n->id);
    n->sm_index = th_get64(data);
    n->sm_hash = th_get64(data + 8);
    n->sm_count = th_get64(data + 16);
  }
  if (n->net->on_restore) n->net->on_restore(n->net, n, index);
}

static void cb_role(void *ud, const hs_raft_role_event *ev) {
  tnode *n = ud;
  n->role_events++;
  n->last_role = *ev;
  if (n->net->on_role) n->net->on_role(n->net, n, ev);
}

/* ---- Building nodes --------------------------------------------------------------------------- */

/* The paper's algorithm: no pre-vote, no check-quorum. */
static void cb_transfer_done(void *ud, uint64_t tag, int status) {
  tnode *n = ud;
  n->transfers_ended++;
  n->transfer_tag = tag;
  n->transfer_status = status;
}

static topts topts_paper(void) {
  topts o = {0};
  o.et_min = 100 * MS;
  o.et_max = 200 * MS;
  o.hb = 10 * MS;
  o.max_entries = 64;
  o.max_bytes = 1 << 20;
  o.max_inflight = 16;
  o.seed = 1;
  return o;
}

/* The defaults: pre-vote and check-quorum on. */
static topts topts_full(void) {
  topts o = topts_paper();
  o.pre_vote = o.check_quorum = true;
  return o;
}

static void tnet_init(tnet *net) { memset(net, 0, sizeof *net); }

static tnode *tn(tnet *net, uint32_t id) { return &net->nodes[id]; }
static hs_raft *R(tnet *net, uint32_t id) { return net->nodes[id].r; }

/* Creates node id (not started) with the given bootstrap voters. */
static hs_raft *tn_add(tnet *net, uint32_t id, const uint32_t *voters, uint32_t n_voters, const topts *o) {
  assert_true(id >= 1 && id <= TN_MAX && !net->nodes[id].r);
  tnode *n = &net->nodes[id];
  memset(n, 0, sizeof *n);
  n->net = net;
  n->id = id;
  n->timer_at[0] = n->timer_at[1] = HS_TIME_NEVER;
  hs_raft_config cfg;
  hs_raft_config_init(&cfg);
  cfg.id = id;
  cfg.voters = voters;
  cfg.n_voters = n_voters;
  cfg.election_timeout_min_ns = o->et_min;
  cfg.election_timeout_max_ns = o->et_max;
  cfg.heartbeat_interval_ns = o->hb;
  cfg.pre_vote = o->pre_vote;
  cfg.check_quorum = o->check_quorum;
  cfg.drop_proposals_on_step_down = o->drop_on_step_down;
  cfg.max_msg_entries = o->max_entries;
  cfg.max_msg_bytes = o->max_bytes;
  cfg.max_inflight = o->max_inflight;
  cfg.snapshot_threshold = o->snapshot_threshold;
  char name[32];
  snprintf(name, sizeof name, "raft:n%u", id);
  hs_rng_seed(&cfg.rng, o->seed, name, strlen(name));
  cfg.cb = (hs_raft_callbacks){
      .send = cb_send,
      .set_timer = cb_set_timer,
      .persist_state = cb_persist_state,
      .persist_entries = cb_persist_entries,
      .persist_snapshot = cb_persist_snapshot,
      .apply = cb_apply,
      .proposal_lost = cb_lost,
      .read_done = cb_read_done,
      .snapshot_take = cb_snapshot_take,
      .snapshot_restore = cb_snapshot_restore,
      .role_changed = cb_role,
      .transfer_done = cb_transfer_done,
  };
  cfg.ud = n;
  assert_rc(hs_raft_new(&cfg, &n->r), HS_OK);
  return n->r;
}

static void tn_start(tnet *net, uint32_t id) {
  tnode *n = tn(net, id);
  n->persisted_term = hs_raft_term(n->r);
  n->persisted_vote = hs_raft_vote(n->r);
  n->persisted_last = hs_raft_last_index(n->r);
  assert_rc(hs_raft_start(n->r, net->now), HS_OK);
}

/* Nodes 1..size, all voters, started. */
static void tn_cluster(tnet *net, uint32_t size, const topts *o) {
  uint32_t ids[TN_MAX];
  for (uint32_t i = 0; i < size; i++) ids[i] = i + 1;
  for (uint32_t i = 1; i <= size; i++) tn_add(net, i, ids, size, o);
  for (uint32_t i = 1; i <= size; i++) tn_start(net, i);
}

/* Loads entries 1..n with the given terms (NORMAL, data "e<index>") into a stopped node. */
static void tn_load_terms(hs_raft *r, const uint64_t *terms, size_t n) {
  hs_raft_entry e[64];
  char data[64][16];
  assert_true(n <= 64);
  for (size_t i = 0; i < n; i++) {
    int len = snprintf(data[i], sizeof data[i], "e%zu", i + 1);
    e[i] = (hs_raft_entry){i + 1, terms[i], HS_RAFT_ENTRY_NORMAL, (uint32_t)len, (const uint8_t *)data[i]};
  }
  assert_rc(hs_raft_load_entries(r, e, n), HS_OK);
}

static void tnode_free_records(tnode *n) {
  for (size_t i = 0; i < n->n_applied; i++) free(n->applied[i].data);
  free(n->applied);
  n->applied = NULL;
  n->n_applied = n->cap_applied = 0;
}

static void tnet_free(tnet *net) {
  for (uint32_t i = 1; i <= TN_MAX; i++) {
    if (net->nodes[i].r) hs_raft_free(net->nodes[i].r);
    tnode_free_records(&net->nodes[i]);
    net->nodes[i].r = NULL;
  }
  hq_free(&net->q);
}

/* Checked after every test: the persistence contract and the sanity checks held. */
static void tnet_check(tnet *net) {
  if (net->violation) fail_msg("%s", net->why);
}

/* ---- The queue ------------------------------------------------------------------------------------ */

/* A decoded message that owns its bytes. */
typedef struct tdec {
  hs_raft_msg m;
  hs_raft_entry ents[TN_MAX_ENTS];
  uint8_t *buf;
} tdec;

static void tdec_free(tdec *d) {
  free(d->buf);
  d->buf = NULL;
}

static void tq_decode(const tmsg *t, tdec *d) {
  tdec_free(d);
  d->buf = t->buf;
  assert_rc(hs_raft_msg_decode(&d->m, t->buf, t->len, d->ents, TN_MAX_ENTS), HS_OK);
}

/* Matching: 0 / -1 are wildcards for from/to and type. */
static size_t tq_count(tnet *net, uint32_t from, uint32_t to, int type) { return hq_count(&net->q, from, to, type); }

/* Takes the first matching message out of the queue into d. */
static bool tq_take(tnet *net, uint32_t from, uint32_t to, int type, tdec *d) {
  long i = hq_find(&net->q, from, to, type);
  if (i < 0) return false;
  tmsg t = hq_remove(&net->q, (size_t)i);
  tq_decode(&t, d);
  return true;
}

/* Like tq_take, failing the test when there is none. */
static void tq_expect(tnet *net, uint32_t from, uint32_t to, int type, tdec *d) {
  if (!tq_take(net, from, to, type, d))
    fail_msg("no %s message from %u to %u in the queue (%zu queued)",
             type < 0 ? "any" : hs_raft_msg_type_name((hs_raft_msg_type)type), from, to, net->q.len);
}

static void tq_clear(tnet *net) { hq_clear(&net->q); }

/* Steps a (hand-built or decoded) message into its destination. */
static int tn_step(tnet *net, const hs_raft_msg *m) {
  assert_true(m->to >= 1 && m->to <= TN_MAX && net->nodes[m->to].r);
  return hs_raft_step(net->nodes[m->to].r, m, net->now);
}

/* Delivers queued message i if its destination exists, is up and the link is not cut; drops
 * it otherwise. */
static void tq_deliver_at(tnet *net, size_t i) {
  tmsg t = hq_remove(&net->q, i);
  tnode *dst = &net->nodes[t.to];
  if (dst->r && !hs_raft_crashed(dst->r) && !net->cut[t.from][t.to]) {
    tdec d = {0};
    tq_decode(&t, &d);
    int rc = hs_raft_step(dst->r, &d.m, net->now);
    if (rc != HS_OK)
      tnet_violation(net, "step %s %u->%u: %s", hs_raft_msg_type_name((hs_raft_msg_type)t.type), t.from, t.to,
                     hs_raft_strerror(rc));
    tdec_free(&d);
  } else {
    free(t.buf);
  }
}

/* Delivers matching messages in queue order, including the ones they cause, until none is left
 * (at most `limit` deliveries). Returns the number delivered. */
static size_t tq_deliver_matching(tnet *net, uint32_t from, uint32_t to, int type, size_t limit) {
  size_t done = 0;
  for (long i; done < limit && (i = hq_find(&net->q, from, to, type)) >= 0; done++) tq_deliver_at(net, (size_t)i);
  return done;
}

static size_t tq_deliver_all(tnet *net) { return tq_deliver_matching(net, 0, 0, -1, 100000); }

/* Drops every queued message to or from id. */
static void tq_drop_node(tnet *net, uint32_t id) { hq_drop_node(&net->q, id); }

/* Appends a copy of queued message i (a duplicate). */
static void tq_duplicate(tnet *net, size_t i) { hq_push(&net->q, hmsg_copy(&net->q.m[i], ++net->seq)); }

static void tq_reverse(tnet *net) { hq_reverse(&net->q); }

/* Isolates id: cuts every link to and from it (both ways), or heals them. */
static void tnet_isolate(tnet *net, uint32_t id, bool cut) {
  for (uint32_t j = 1; j <= TN_MAX; j++) net->cut[id][j] = net->cut[j][id] = cut;
}

/* ---- Time ------------------------------------------------------------------------------------------ */

/* Moves time to `to`, firing every node deadline on the way in time order (ties: lower id),
 * without delivering messages. */
static hs_time_ns tn_deadline(void *net, uint32_t id) {
  hs_raft *r = R(net, id);
  return r ? hs_raft_next_deadline(r) : HS_TIME_NEVER;
}

static void tnet_advance_to(tnet *net, hs_time_ns to) {
  for (int guard = 0; guard < 100000; guard++) {
    uint32_t who;
    hs_time_ns best = h_earliest(net, TN_MAX, tn_deadline, &who);
    if (!who || best > to) break;
    if (best > net->now) net->now = best;
    hs_raft_tick(net->nodes[who].r, net->now);
  }
  if (to > net->now) net->now = to;
}

static void tnet_advance(tnet *net, hs_time_ns dt) { tnet_advance_to(net, net->now + dt); }

/* Alternates delivering everything and advancing time in steps of `step` for `total`. */
static void tnet_run(tnet *net, hs_time_ns total, hs_time_ns step) {
  hs_time_ns end = net->now + total;
  while (net->now < end) {
    tq_deliver_all(net);
    tnet_advance(net, step);
  }
  tq_deliver_all(net);
}

/* The unique leader among started, live nodes, or 0. */
static uint32_t tnet_leader(tnet *net) {
  uint32_t found = 0;
  uint64_t best_term = 0;
  for (uint32_t i = 1; i <= TN_MAX; i++) {
    hs_raft *r = net->nodes[i].r;
    if (!r || hs_raft_crashed(r) || hs_raft_role_of(r) != HS_RAFT_LEADER) continue;
    if (!found || hs_raft_term(r) > best_term) {
      found = i;
      best_term = hs_raft_term(r);
    }
  }
  return found;
}

/* Makes node id leader now: campaign and deliver until settled. */
static void tnet_elect(tnet *net, uint32_t id) {
  assert_rc(hs_raft_campaign(R(net, id), net->now), HS_OK);
  tq_deliver_all(net);
  assert_role(R(net, id), HS_RAFT_LEADER);
}

/* Proposes a string on node id. */
static int tn_propose(tnet *net, uint32_t id, const char *s, uint64_t tag, uint64_t *index) {
  return hs_raft_propose(R(net, id), net->now, s, strlen(s), tag, index);
}

/* The applied record of node id at index, or NULL. */
static const tapplied *tn_applied_at(tnet *net, uint32_t id, uint64_t index) {
  tnode *n = tn(net, id);
  for (size_t i = n->n_applied; i-- > 0;)
    if (n->applied[i].index == index) return &n->applied[i];
  return NULL;
}

/* Compares the logs of two nodes over the indexes both hold (terms and data). */
static bool tn_logs_equal(tnet *net, uint32_t a, uint32_t b) {
  hs_raft *ra = R(net, a), *rb = R(net, b);
  if (hs_raft_last_index(ra) != hs_raft_last_index(rb)) return false;
  uint64_t lo = hs_raft_first_index(ra) > hs_raft_first_index(rb) ? hs_raft_first_index(ra) : hs_raft_first_index(rb);
  for (uint64_t i = lo; i <= hs_raft_last_index(ra); i++) {
    hs_raft_entry ea, eb;
    hs_raft_entry_at(ra, i, &ea);
    hs_raft_entry_at(rb, i, &eb);
    if (ea.term != eb.term || ea.type != eb.type || ea.len != eb.len || (ea.len && memcmp(ea.data, eb.data, ea.len)))
      return false;
  }
  return true;
}

#endif
