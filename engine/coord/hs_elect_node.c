/*
 * hs_elect_node.c - the election adapter: engine timers for the core's two deadlines, the
 * network for its messages.
 */
#include "coord/hs_elect_node.h"

#include <stdlib.h>
#include <string.h>

#include "core/hs_value.h"

#define HEADER 9     /* kind + request id, as the Lua binding's payloads */
#define STR_HEADER 5 /* hs_value string tag + u32 length */

static const char *const wire_names[HS_ELECT_MSG_TYPE_COUNT] = {
    "LeaderHeartbeat", "LeaderHeartbeatAck", "BullyElection", "BullyAnswer", "RingElection",
    "RingAck",         "Vote",               "VoteResponse",  "Election"};

static hs_time_ns now_of(const hs_elect_node *n) { return n->self->sim->now_ns; }

static hs_entity *peer(hs_elect_node *n, uint32_t id) {
  if (id < n->peer_cap && n->peers[id]) return n->peers[id];
  hs_entity *e = n->hooks.resolve_peer ? n->hooks.resolve_peer(n->hooks.ud, id) : NULL;
  if (e) hs_elect_node_set_peer(n, id, e);
  return e;
}

static void cb_send(void *ud, const hs_elect_msg *m) {
  hs_elect_node *n = ud;
  hs_entity *to = peer(n, m->to);
  if (!to) return; /* unknown member: as if the message were lost */
  size_t size = hs_elect_msg_encoded_size(m);
  hs_blob *b = hs_blob_alloc(n->pool, HEADER + STR_HEADER + size);
  if (!b) return;
  memset(b->data, 0, HEADER);
  b->data[HEADER] = HS_V_STRING;
  for (int i = 0; i < 4; i++) b->data[HEADER + 1 + i] = (uint8_t)(size >> (8 * i));
  hs_elect_msg_encode(m, b->data + HEADER + STR_HEADER, size);
  if (hs_net_send(n->net, n->self, to, wire_names[m->type], b, b->size, NULL) != HS_OK) hs_blob_free(n->pool, b);
}

static void cb_set_timer(void *ud, hs_elect_timer kind, hs_time_ns at) {
  hs_elect_node *n = ud;
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
  if (n->hooks.persist) n->hooks.persist(n->hooks.ud, epoch, backed);
}

static void cb_leader(void *ud, const hs_elect_leader_event *ev) {
  hs_elect_node *n = ud;
  if (n->hooks.leader_changed) n->hooks.leader_changed(n->hooks.ud, ev);
}

static void cb_confirmed(void *ud, uint64_t epoch, hs_time_ns now) {
  hs_elect_node *n = ud;
  if (n->hooks.confirmed) n->hooks.confirmed(n->hooks.ud, epoch, now);
}

static void on_core_timer(hs_entity *owner, hs_timer *t) {
  (void)owner;
  hs_elect_node *n = HS_CONTAINER_OF(t, hs_elect_node, core);
  hs_elect_tick(n->elect, now_of(n));
}

static void on_strategy_timer(hs_entity *owner, hs_timer *t) {
  (void)owner;
  hs_elect_node *n = HS_CONTAINER_OF(t, hs_elect_node, strategy);
  hs_elect_tick(n->elect, now_of(n));
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
  hs_timer_stop(&n->core);
  hs_timer_stop(&n->strategy);
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
  return b && b->size >= HEADER + STR_HEADER && b->data[0] == 0 && b->data[HEADER] == HS_V_STRING;
}

void hs_elect_node_on_message(hs_elect_node *n, hs_message *m) {
  const hs_blob *b = m->payload;
  hs_elect_msg msg;
  size_t body = b && b->size >= HEADER + STR_HEADER ? b->size - HEADER - STR_HEADER : 0;
  uint32_t declared = 0;
  for (int i = 0; b && body && i < 4; i++) declared |= (uint32_t)b->data[HEADER + 1 + i] << (8 * i);
  if (!b || b->size < HEADER + STR_HEADER || declared != body ||
      hs_elect_msg_decode(&msg, b->data + HEADER + STR_HEADER, b->size - HEADER - STR_HEADER) != HS_OK) {
    n->malformed++;
    return;
  }
  if (hs_elect_step(n->elect, &msg, now_of(n)) == HS_EINVAL) n->malformed++;
}

void hs_elect_node_on_crash(hs_elect_node *n) { hs_elect_crash(n->elect); }

void hs_elect_node_on_restart(hs_elect_node *n) { hs_elect_restart(n->elect, now_of(n)); }
