/*
 * hs_swim_node.c - the SWIM adapter: one engine timer on the core's deadline, the network for
 * its messages, a shared directory of member entities.
 *
 * Every output of the core passes a check here (HS_ASSERT) before it is acted on: messages
 * come from this member to another and encode to their announced size, with at most
 * max_piggyback updates of known states; a member event changes a state. And the engine never
 * hands this member a message or a timer while its core is running a call.
 */
#include "membership/hs_swim_node.h"

#include <stdlib.h>
#include <string.h>

#include "core/hs_assert.h"
#include "net/hs_envelope.h"

/* A protocol message travels as a plain envelope and an hs_value string (a tag and a u32
 * length, then the hs_swim_msg encoding). */
#define HEADER HS_ENVELOPE_MSG_HEADER /* envelope + string tag + u32 length (net/hs_envelope.h) */

static const char *const wire_names[HS_SWIM_MSG_TYPE_COUNT] = {"Ping", "Ack", "PingReq"};

void hs_swim_dir_init(hs_swim_dir *d) {
  d->by_id = NULL;
  d->cap = 0;
}

void hs_swim_dir_free(hs_swim_dir *d) {
  free(d->by_id);
  d->by_id = NULL;
  d->cap = 0;
}

int hs_swim_dir_set(hs_swim_dir *d, uint32_t id, hs_entity *e) {
  if (id == HS_SWIM_NONE) return HS_EINVAL;
  if (id >= d->cap) {
    uint32_t cap = d->cap ? d->cap : 64;
    while (cap <= id) cap = cap > UINT32_MAX / 2 ? UINT32_MAX : cap * 2;
    hs_entity **p = realloc(d->by_id, (size_t)cap * sizeof *p);
    if (!p) return HS_ENOMEM;
    memset(p + d->cap, 0, (size_t)(cap - d->cap) * sizeof *p);
    d->by_id = p;
    d->cap = cap;
  }
  d->by_id[id] = e;
  return HS_OK;
}

static hs_time_ns now_of(const hs_swim_node *n) { return n->self->sim->now_ns; }

/* Brackets the adapter's calls into the core that the engine drives (messages, timers). */
static void enter_core(hs_swim_node *n) {
  HS_ASSERT(n->in_core == 0); /* no message or timer while the core runs a call */
  n->in_core++;
}

static void leave_core(hs_swim_node *n) {
  n->in_core--;
  if (n->hooks.after_core) n->hooks.after_core(n->hooks.ud);
}

static void cb_send(void *ud, const hs_swim_msg *m) {
  hs_swim_node *n = ud;
  HS_ASSERT((unsigned)m->type < HS_SWIM_MSG_TYPE_COUNT);
  HS_ASSERT(m->from == hs_swim_id(n->swim));
  HS_ASSERT(m->to != HS_SWIM_NONE && m->to != m->from);
  HS_ASSERT(m->n_updates <= HS_SWIM_MAX_UPDATES && (m->n_updates == 0 || m->updates));
  for (uint32_t i = 0; i < m->n_updates; i++)
    HS_ASSERT(m->updates[i].state >= HS_SWIM_ALIVE && m->updates[i].state <= HS_SWIM_DEAD &&
              m->updates[i].member != HS_SWIM_NONE && m->updates[i].incarnation <= HS_SWIM_MAX_INCARNATION);
  hs_entity *to = hs_swim_dir_get(n->dir, m->to);
  if (!to) return; /* no entity: as if the message were lost */
  size_t size = hs_swim_msg_encoded_size(m);
  hs_blob *b = hs_blob_alloc(n->pool, HEADER + size);
  if (!b) return;
  hs_envelope_put_msg_header(b->data, size);
  size_t written = hs_swim_msg_encode(m, b->data + HEADER, size);
  HS_ASSERT(written == size);
  (void)written;
  if (hs_net_send(n->net, n->self, to, wire_names[m->type], b, b->size, NULL) != HS_OK) hs_blob_free(n->pool, b);
}

static void cb_set_timer(void *ud, hs_time_ns at) {
  hs_swim_node *n = ud;
  if (at == HS_TIME_NEVER) {
    hs_timer_stop(&n->timer);
    return;
  }
  hs_time_ns now = now_of(n);
  hs_timer_start(&n->timer, at > now ? at - now : 0);
}

static void cb_persist(void *ud, uint32_t inc) {
  hs_swim_node *n = ud;
  if (n->hooks.persist_incarnation) n->hooks.persist_incarnation(n->hooks.ud, inc);
}

static void cb_changed(void *ud, const hs_swim_member_event *ev) {
  hs_swim_node *n = ud;
  HS_ASSERT(ev->state != ev->prev_state || ev->state == HS_SWIM_ALIVE || ev->state == HS_SWIM_SUSPECT);
  HS_ASSERT(ev->state >= HS_SWIM_ALIVE && ev->state <= HS_SWIM_DEAD && ev->member != hs_swim_id(n->swim));
  if (n->hooks.member_changed) n->hooks.member_changed(n->hooks.ud, ev);
}

static void on_timer(hs_entity *owner, hs_timer *t) {
  (void)owner;
  hs_swim_node *n = HS_CONTAINER_OF(t, hs_swim_node, timer);
  enter_core(n);
  hs_swim_tick(n->swim, now_of(n));
  leave_core(n);
}

int hs_swim_node_init(hs_swim_node *n, hs_entity *self, hs_net *net, hs_blob_pool *pool, hs_swim_dir *dir,
                      hs_swim_config *cfg, const hs_swim_node_hooks *hooks) {
  memset(n, 0, sizeof *n);
  n->self = self;
  n->net = net;
  n->pool = pool;
  n->dir = dir;
  if (hooks) n->hooks = *hooks;
  hs_timer_init(&n->timer, self, "ProbeTimer", on_timer);
  cfg->cb = (hs_swim_callbacks){.send = cb_send, .set_timer = cb_set_timer, .persist_incarnation = cb_persist,
                                .member_changed = cb_changed};
  cfg->ud = n;
  return hs_swim_new(cfg, &n->swim);
}

void hs_swim_node_free(hs_swim_node *n) {
  hs_timer_stop(&n->timer);
  hs_swim_free(n->swim);
  n->swim = NULL;
}

int hs_swim_node_start(hs_swim_node *n) { return hs_swim_start(n->swim, now_of(n)); }

bool hs_swim_node_is_protocol(const hs_message *m) {
  const hs_blob *b = m->payload;
  return b && hs_envelope_is_msg(b->data, b->size);
}

void hs_swim_node_on_message(hs_swim_node *n, hs_message *m) {
  const hs_blob *b = m->payload;
  size_t size = 0;
  const uint8_t *body = b ? hs_envelope_msg_body(b->data, b->size, &size) : NULL;
  hs_swim_msg msg;
  if (!body || !size || hs_swim_msg_decode(&msg, body, size, n->dir->updates, HS_SWIM_MAX_UPDATES) != HS_OK) {
    n->malformed++;
    return;
  }
  enter_core(n);
  if (hs_swim_step(n->swim, &msg, now_of(n)) == HS_EINVAL) n->malformed++;
  leave_core(n);
}

void hs_swim_node_on_crash(hs_swim_node *n) { hs_swim_crash(n->swim); }

void hs_swim_node_on_restart(hs_swim_node *n) { hs_swim_restart(n->swim, now_of(n)); }
