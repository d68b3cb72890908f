/*
 * hs_elect_node.c - the election adapter: engine timers for the core's two deadlines, the
 * network for its messages.
 *
 * Every output of the core passes a check here (HS_ASSERT) before it is acted on: messages
 * come from this node to another member and encode to their announced size; timers are the
 * two kinds; a leader event names the node itself when it is its own. And the engine never
 * hands this node a message or a timer while its core is running a call.
 */
#include "coord/hs_elect_node.h"

#include <stdlib.h>
#include <string.h>

#include "core/hs_assert.h"
#include "net/hs_envelope.h"

/* A protocol message travels as a plain envelope and an hs_value string (a tag and a u32
 * length, then the hs_elect_msg encoding). */
#define HEADER HS_ENVELOPE_MSG_HEADER /* envelope + string tag + u32 length (net/hs_envelope.h) */

static const char *const wire_names[HS_ELECT_MSG_TYPE_COUNT] = {
    "LeaderHeartbeat", "LeaderHeartbeatAck", "BullyElection", "BullyAnswer", "RingElection",
    "RingAck",         "Vote",               "VoteResponse",  "Election"};

static hs_time_ns now_of(const hs_elect_node *n) { return n->self->sim->now_ns; }

/* Brackets the adapter's calls into the core that the engine drives (messages, timers). */
static void enter_core(hs_elect_node *n) {
  HS_ASSERT(n->in_core == 0); /* no message or timer while the core runs a call */
  n->in_core++;
}

static void leave_core(hs_elect_node *n) { n->in_core--; }

static hs_entity *peer(hs_elect_node *n, uint32_t id) {
  if (id < n->peer_cap && n->peers[id]) return n->peers[id];
  hs_entity *e = n->hooks.resolve_peer ? n->hooks.resolve_peer(n->hooks.ud, id) : NULL;
  if (e) hs_elect_node_set_peer(n, id, e);
  return e;
}

static void cb_send(void *ud, const hs_elect_msg *m) {
  hs_elect_node *n = ud;
  HS_ASSERT((unsigned)m->type < HS_ELECT_MSG_TYPE_COUNT);
  HS_ASSERT(m->from == hs_elect_id(n->elect));
  HS_ASSERT(m->to != HS_ELECT_NONE && m->to != m->from && hs_elect_member_index(n->elect, m->to) >= 0);
  HS_ASSERT(m->epoch <= HS_ELECT_MAX_EPOCH);
  HS_ASSERT(m->len == 0 || m->data);
  hs_entity *to = peer(n, m->to);
  if (!to) return; /* unknown member: as if the message were lost */
  size_t size = hs_elect_msg_encoded_size(m);
  if (size > UINT32_MAX - HEADER) return;
  hs_blob *b = hs_blob_alloc(n->pool, HEADER + size);
  if (!b) return;
  hs_envelope_put_msg_header(b->data, size);
  size_t written = hs_elect_msg_encode(m, b->data + HEADER, size);
  HS_ASSERT(written == size);
  (void)written;
  if (hs_net_send(n->net, n->self, to, wire_names[m->type], b, b->size, NULL) != HS_OK) hs_blob_free(n->pool, b);
}

static void cb_set_timer(void *ud, hs_elect_timer kind, hs_time_ns at) {
  hs_elect_node *n = ud;
  HS_ASSERT(kind == HS_ELECT_TIMER_CORE || kind == HS_ELECT_TIMER_STRATEGY);
  hs_timer *t = kind == HS_ELECT_TIMER_CORE ? &n->core : &n->strategy;
  if (at == HS_TIME_NEVER) {
    hs_timer_stop(t);
    return;
  }
  hs_time_ns now = now_of(n);
  hs_timer_start(t, at > now ? at - now : 0);
}

static void cb_persist(void *ud, uint64_t epoch, uint32_t backed) {
  hs_elect_node *n = ud;
  HS_ASSERT(epoch <= HS_ELECT_MAX_EPOCH);
  if (n->invariants) hs_elect_invariants_on_persist(n->invariants, n->elect, epoch, backed, now_of(n));
  if (n->hooks.persist) n->hooks.persist(n->hooks.ud, epoch, backed);
}

static void cb_leader(void *ud, const hs_elect_leader_event *ev) {
  hs_elect_node *n = ud;
  HS_ASSERT(ev->is_self == (ev->leader == hs_elect_id(n->elect)));
  HS_ASSERT(ev->leader != ev->prev_leader);
  if (n->invariants) hs_elect_invariants_on_leader(n->invariants, n->elect, ev);
  if (n->hooks.leader_changed) n->hooks.leader_changed(n->hooks.ud, ev);
}

static void cb_confirmed(void *ud, uint64_t epoch, hs_time_ns now) {
  hs_elect_node *n = ud;
  if (n->hooks.confirmed) n->hooks.confirmed(n->hooks.ud, epoch, now);
}

static void on_core_timer(hs_entity *owner, hs_timer *t) {
  (void)owner;
  hs_elect_node *n = HS_CONTAINER_OF(t, hs_elect_node, core);
  enter_core(n);
  hs_elect_tick(n->elect, now_of(n));
  leave_core(n);
}

static void on_strategy_timer(hs_entity *owner, hs_timer *t) {
  (void)owner;
  hs_elect_node *n = HS_CONTAINER_OF(t, hs_elect_node, strategy);
  enter_core(n);
  hs_elect_tick(n->elect, now_of(n));
  leave_core(n);
}

int hs_elect_node_init(hs_elect_node *n, hs_entity *self, hs_net *net, hs_blob_pool *pool, hs_elect_config *cfg,
                       const hs_elect_node_hooks *hooks) {
  memset(n, 0, sizeof *n);
  n->self = self;
  n->net = net;
  n->pool = pool;
  if (hooks) n->hooks = *hooks;
  hs_timer_init(&n->core, self, "ElectionTimer", on_core_timer);
  hs_timer_init(&n->strategy, self, "ElectionStrategyTimer", on_strategy_timer);
  cfg->cb = (hs_elect_callbacks){.send = cb_send,
                                 .set_timer = cb_set_timer,
                                 .persist = cb_persist,
                                 .leader_changed = cb_leader,
                                 .confirmed = cb_confirmed};
  cfg->ud = n;
  int rc = hs_elect_new(cfg, &n->elect);
  if (rc != HS_OK) return rc;
  return hs_elect_node_set_peer(n, cfg->id, self);
}

void hs_elect_node_free(hs_elect_node *n) {
  hs_timer_detach(&n->core); /* the owner may init the node again (LeaderElection:add_member) */
  hs_timer_detach(&n->strategy);
  hs_elect_free(n->elect);
  n->elect = NULL;
  free(n->peers);
  n->peers = NULL;
  n->peer_cap = 0;
}

int hs_elect_node_set_peer(hs_elect_node *n, uint32_t id, hs_entity *e) {
  if (id == HS_ELECT_NONE) return HS_EINVAL;
  if (id >= n->peer_cap) {
    uint32_t cap = n->peer_cap ? n->peer_cap : 8;
    while (cap <= id) cap *= 2;
    hs_entity **p = realloc(n->peers, cap * sizeof *p);
    if (!p) return HS_ENOMEM;
    memset(p + n->peer_cap, 0, (cap - n->peer_cap) * sizeof *p);
    n->peers = p;
    n->peer_cap = cap;
  }
  n->peers[id] = e;
  return HS_OK;
}

int hs_elect_node_start(hs_elect_node *n) { return hs_elect_start(n->elect, now_of(n)); }

bool hs_elect_node_is_protocol(const hs_message *m) {
  const hs_blob *b = m->payload;
  return b && hs_envelope_is_msg(b->data, b->size);
}

void hs_elect_node_on_message(hs_elect_node *n, hs_message *m) {
  const hs_blob *b = m->payload;
  size_t size = 0;
  const uint8_t *body = b ? hs_envelope_msg_body(b->data, b->size, &size) : NULL;
  hs_elect_msg msg;
  if (!body || !size || hs_elect_msg_decode(&msg, body, size) != HS_OK) {
    n->malformed++;
    return;
  }
  enter_core(n);
  if (hs_elect_step(n->elect, &msg, now_of(n)) == HS_EINVAL) n->malformed++;
  leave_core(n);
}

void hs_elect_node_on_crash(hs_elect_node *n) { hs_elect_crash(n->elect); }

void hs_elect_node_on_restart(hs_elect_node *n) { hs_elect_restart(n->elect, now_of(n)); }

int hs_elect_node_watch(hs_elect_node *n, hs_elect_invariants *inv) {
  if (n->invariants) return HS_EBUSY;
  int rc = hs_elect_invariants_watch(inv, n->elect, n->self->name);
  if (rc == HS_OK) n->invariants = inv;
  return rc;
}
