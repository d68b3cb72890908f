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

#include <string.h>

#include "core/hs_assert.h"
#include "net/hs_envelope.h"

static const char *const wire_names[HS_ELECT_MSG_TYPE_COUNT] = {
    "LeaderHeartbeat", "LeaderHeartbeatAck", "BullyElection", "BullyAnswer", "RingElection",
    "RingAck",         "Vote",               "VoteResponse",  "Election"};

static hs_time_ns now_of(const hs_elect_node *n) { return hs_node_kit_now(&n->kit); }

/* A protocol message travels as a plain envelope and an hs_value string (a tag and a u32
 * length, then the hs_elect_msg encoding): net/hs_node_kit.h. */
static size_t encode(const void *m, uint8_t *out, size_t size) { return hs_elect_msg_encode(m, out, size); }

static void cb_send(void *ud, const hs_elect_msg *m) {
  hs_elect_node *n = ud;
  HS_ASSERT((unsigned)m->type < HS_ELECT_MSG_TYPE_COUNT);
  HS_ASSERT(m->from == hs_elect_id(n->elect));
  HS_ASSERT(m->to != HS_ELECT_NONE && m->to != m->from && hs_elect_member_index(n->elect, m->to) >= 0);
  HS_ASSERT(m->epoch <= HS_ELECT_MAX_EPOCH);
  HS_ASSERT(m->len == 0 || m->data);
  hs_entity *to = hs_node_kit_peer(&n->kit, m->to, n->hooks.resolve_peer, n->hooks.ud);
  if (!to) return; /* unknown member: as if the message were lost */
  hs_node_kit_send(&n->kit, to, wire_names[m->type], m, hs_elect_msg_encoded_size(m), encode);
}

static void cb_set_timer(void *ud, hs_elect_timer kind, hs_time_ns at) {
  hs_elect_node *n = ud;
  HS_ASSERT(kind == HS_ELECT_TIMER_CORE || kind == HS_ELECT_TIMER_STRATEGY);
  hs_node_kit_arm(&n->kit, kind == HS_ELECT_TIMER_CORE ? &n->core : &n->strategy, at);
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

static void tick(hs_elect_node *n) {
  hs_node_kit_enter(&n->kit);
  hs_elect_tick(n->elect, now_of(n));
  hs_node_kit_leave(&n->kit);
}

static void on_core_timer(hs_entity *owner, hs_timer *t) {
  (void)owner;
  tick(HS_CONTAINER_OF(t, hs_elect_node, core));
}

static void on_strategy_timer(hs_entity *owner, hs_timer *t) {
  (void)owner;
  tick(HS_CONTAINER_OF(t, hs_elect_node, strategy));
}

int hs_elect_node_init(hs_elect_node *n, hs_entity *self, hs_net *net, hs_blob_pool *pool, hs_elect_config *cfg,
                       const hs_elect_node_hooks *hooks) {
  memset(n, 0, sizeof *n);
  hs_node_kit_init(&n->kit, self, net, pool);
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
  hs_node_kit_free(&n->kit);
}

int hs_elect_node_set_peer(hs_elect_node *n, uint32_t id, hs_entity *e) {
  return hs_node_kit_set_peer(&n->kit, id, e);
}

int hs_elect_node_start(hs_elect_node *n) { return hs_elect_start(n->elect, now_of(n)); }

bool hs_elect_node_is_protocol(const hs_message *m) { return hs_node_kit_is_protocol(m); }

void hs_elect_node_on_message(hs_elect_node *n, hs_message *m) {
  const hs_blob *b = m->payload;
  size_t size = 0;
  const uint8_t *body = b ? hs_envelope_msg_body(b->data, b->size, &size) : NULL;
  hs_elect_msg msg;
  if (!body || !size || hs_elect_msg_decode(&msg, body, size) != HS_OK) {
    n->malformed++;
    return;
  }
  hs_node_kit_enter(&n->kit);
  if (hs_elect_step(n->elect, &msg, now_of(n)) == HS_EINVAL) n->malformed++;
  hs_node_kit_leave(&n->kit);
}

void hs_elect_node_on_crash(hs_elect_node *n) { hs_elect_crash(n->elect); }

void hs_elect_node_on_restart(hs_elect_node *n) { hs_elect_restart(n->elect, now_of(n)); }

int hs_elect_node_watch(hs_elect_node *n, hs_elect_invariants *inv) {
  if (n->invariants) return HS_EBUSY;
  int rc = hs_elect_invariants_watch(inv, n->elect, n->kit.self->name);
  if (rc == HS_OK) n->invariants = inv;
  return rc;
}
