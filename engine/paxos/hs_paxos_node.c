/*
 * hs_paxos_node.c - the adapter between the Paxos cores and the simulator (hs_paxos_node.h).
 *
 * Every output of a core passes a check here (HS_ASSERT, core/hs_assert.h) before it is acted
 * on: messages come from this node to another member and encode to their announced size;
 * timers are the documented kinds; slots are applied once each, in slot order, up to the
 * commit index, and only commands report to their submitter; reasons are the documented ones.
 * And the engine never hands this node a message or a timer while its core is running a call.
 */
#include "paxos/hs_paxos_node.h"

#include <stdlib.h>
#include <string.h>

#include "core/hs_assert.h"
#include "net/hs_envelope.h"

static const char *const wire_names[HS_PAXOS_MSG_TYPE_COUNT] = {
    "Prepare", "Promise", "Accept", "Accepted", "Nack", "Chosen", "ChosenAck", "Heartbeat", "HeartbeatResponse"};

static hs_time_ns now_of(const hs_paxos_node *n) { return hs_node_kit_now(&n->kit); }

static uint32_t self_id(const hs_paxos_node *n) { return n->mp ? hs_mpaxos_id(n->mp) : hs_paxos_id(n->sd); }

/* A protocol message travels as a plain envelope and an hs_value string holding the
 * hs_paxos_msg encoding (net/hs_node_kit.h). */
static size_t encode(const void *m, uint8_t *out, size_t size) { return hs_paxos_msg_encode(m, out, size); }

/* ---- callbacks from both cores ------------------------------------------------------------- */

static void cb_send(void *ud, const hs_paxos_msg *m) {
  hs_paxos_node *n = ud;
  HS_ASSERT(m->type < HS_PAXOS_MSG_TYPE_COUNT);
  HS_ASSERT(m->from == self_id(n));
  HS_ASSERT(m->to != HS_PAXOS_NONE && m->to != m->from);
  HS_ASSERT(m->n_values == 0 || m->values);
  hs_entity *to = hs_node_kit_peer(&n->kit, m->to, n->hooks.resolve_peer, n->hooks.ud);
  if (!to) return; /* no entity for that member (yet): as if the message were lost */
  hs_node_kit_send(&n->kit, to, wire_names[m->type], m, hs_paxos_msg_encoded_size(m), encode);
}

/* ---- callbacks from the Multi-Paxos core ---------------------------------------------------- */

static void cb_mp_set_timer(void *ud, hs_mpaxos_timer kind, hs_time_ns at) {
  hs_paxos_node *n = ud;
  HS_ASSERT(kind == HS_MPAXOS_TIMER_ELECTION || kind == HS_MPAXOS_TIMER_HEARTBEAT);
  hs_node_kit_arm(&n->kit, kind == HS_MPAXOS_TIMER_ELECTION ? &n->election : &n->heartbeat, at);
}

/* A chosen slot: a command goes to the state machine through the client sessions; a read
 * changes nothing and is answered only where it was submitted; a no-op is skipped. */
static void cb_mp_apply(void *ud, const hs_paxos_value *v, bool proposed_here, uint64_t tag) {
  hs_paxos_node *n = ud;
  HS_ASSERT(v->slot == n->applied + 1);
  HS_ASSERT(v->slot <= hs_mpaxos_commit_index(n->mp));
  HS_ASSERT(v->len == 0 || v->data);
  HS_ASSERT(!proposed_here || v->type == HS_PAXOS_VALUE_NORMAL);
  n->applied = v->slot;
  if (v->type != HS_PAXOS_VALUE_NORMAL) return;
  hs_buf_reset(&n->result);
  const char *err = NULL;
  if (v->len && v->data[0] == HS_PAXOS_READ_TAG) {
    if (!proposed_here) return;
    n->reads++;
    hs_value q = {v->data + 1, v->len - 1};
    err = hs_value_size(q) != q.len ? hs_session_malformed_msg
          : n->sm.query             ? n->sm.query(n->sm.ud, q, &n->result)
                                    : "the state machine answers no reads";
  } else {
    err = hs_sessions_apply(&n->sessions, &n->sm, v->data, v->len, &n->result, &n->counts);
  }
  if (!proposed_here || !n->hooks.resolved) return;
  if (n->result.len == 0) hs_buf_put_nil(&n->result);
  n->hooks.resolved(n->hooks.ud, tag, v->slot, (hs_value){n->result.data, n->result.len}, err);
}

static void cb_mp_lost(void *ud, uint64_t tag, uint64_t slot, int reason) {
  hs_paxos_node *n = ud;
  HS_ASSERT(reason == HS_PAXOS_ELOST || reason == HS_PAXOS_ECRASHED);
  HS_ASSERT(slot > n->applied || reason == HS_PAXOS_ECRASHED); /* reported before its slot applies */
  if (n->hooks.lost) n->hooks.lost(n->hooks.ud, tag, slot, reason);
}

/* A restart: the state machine and the sessions go back to empty; the core applies its chosen
 * prefix again from slot 1. */
static void cb_mp_reset(void *ud) {
  hs_paxos_node *n = ud;
  n->applied = 0;
  hs_sessions_clear(&n->sessions);
  if (n->sm.restore) n->sm.restore(n->sm.ud, NULL, 0);
}

static void cb_mp_role_changed(void *ud, const hs_mpaxos_role_event *ev) {
  hs_paxos_node *n = ud;
  HS_ASSERT(ev->role <= HS_MPAXOS_LEADER && ev->prev_role <= HS_MPAXOS_LEADER);
  HS_ASSERT(ev->role != HS_MPAXOS_LEADER || ev->leader == hs_mpaxos_id(n->mp));
  if (n->hooks.role_changed) n->hooks.role_changed(n->hooks.ud, ev);
}

/* ---- callbacks from the single-decree core ---------------------------------------------------- */

static void cb_sd_set_timer(void *ud, hs_time_ns at) {
  hs_paxos_node *n = ud;
  hs_node_kit_arm(&n->kit, &n->election, at);
}

static void cb_sd_decided(void *ud, const hs_paxos_value *v) {
  hs_paxos_node *n = ud;
  HS_ASSERT(v->slot == HS_PAXOS_SLOT);
  HS_ASSERT(v->len == 0 || v->data);
  if (n->hooks.decided) n->hooks.decided(n->hooks.ud, v->data, v->len);
}

/* ---- timers ------------------------------------------------------------------------------------ */

static void tick(hs_paxos_node *n) {
  hs_node_kit_enter(&n->kit);
  if (n->mp)
    hs_mpaxos_tick(n->mp, now_of(n));
  else
    hs_paxos_tick(n->sd, now_of(n));
  hs_node_kit_leave(&n->kit);
}

static void on_election_timer(hs_entity *owner, hs_timer *t) {
  (void)owner;
  tick(HS_CONTAINER_OF(t, hs_paxos_node, election));
}

static void on_heartbeat_timer(hs_entity *owner, hs_timer *t) {
  (void)owner;
  tick(HS_CONTAINER_OF(t, hs_paxos_node, heartbeat));
}

/* ---- life cycle ------------------------------------------------------------------------------ */

void hs_paxos_node_init(hs_paxos_node *n, hs_entity *self, hs_net *net, hs_blob_pool *pool,
                        const hs_paxos_node_hooks *hooks) {
  memset(n, 0, sizeof *n);
  hs_node_kit_init(&n->kit, self, net, pool);
  if (hooks) n->hooks = *hooks;
  hs_buf_init(&n->result);
  hs_sessions_init(&n->sessions);
  hs_timer_init(&n->election, self, "ElectionTimeout", on_election_timer);
  hs_timer_init(&n->heartbeat, self, "HeartbeatTimeout", on_heartbeat_timer);
}

/* Drops the core made before, if any (never started: nothing of it is in the engine), and the
 * entities of its members (ids are per core). */
static void drop_core(hs_paxos_node *n) {
  if (n->mp) hs_mpaxos_free(n->mp);
  if (n->sd) hs_paxos_free(n->sd);
  n->mp = NULL;
  n->sd = NULL;
  hs_node_kit_clear_peers(&n->kit);
}

int hs_paxos_node_make_single(hs_paxos_node *n, hs_paxos_config *cfg) {
  drop_core(n);
  n->election.ev.type = "RoundTimeout";
  cfg->cb = (hs_paxos_callbacks){.send = cb_send, .set_timer = cb_sd_set_timer, .decided = cb_sd_decided};
  cfg->ud = n;
  int rc = hs_paxos_new(cfg, &n->sd);
  if (rc != HS_OK) return rc;
  return hs_paxos_node_set_peer(n, cfg->id, n->kit.self);
}

int hs_paxos_node_make_multi(hs_paxos_node *n, hs_mpaxos_config *cfg, const hs_sm_ops *sm) {
  drop_core(n);
  n->election.ev.type = "ElectionTimeout";
  n->sm = sm ? *sm : (hs_sm_ops){0};
  cfg->cb = (hs_mpaxos_callbacks){.send = cb_send,
                                  .set_timer = cb_mp_set_timer,
                                  .apply = cb_mp_apply,
                                  .proposal_lost = cb_mp_lost,
                                  .reset = cb_mp_reset,
                                  .role_changed = cb_mp_role_changed};
  cfg->ud = n;
  int rc = hs_mpaxos_new(cfg, &n->mp);
  if (rc != HS_OK) return rc;
  return hs_paxos_node_set_peer(n, cfg->id, n->kit.self);
}

void hs_paxos_node_free(hs_paxos_node *n) {
  drop_core(n);
  hs_node_kit_free(&n->kit);
  free(n->values);
  n->values = NULL;
  n->values_cap = 0;
  hs_buf_free(&n->result);
  hs_sessions_free(&n->sessions);
}

int hs_paxos_node_set_peer(hs_paxos_node *n, uint32_t id, hs_entity *e) {
  return hs_node_kit_set_peer(&n->kit, id, e);
}

int hs_paxos_node_start(hs_paxos_node *n) {
  return n->mp ? hs_mpaxos_start(n->mp, now_of(n)) : hs_paxos_start(n->sd, now_of(n));
}

bool hs_paxos_node_is_protocol(const hs_message *m) { return hs_node_kit_is_protocol(m); }

void hs_paxos_node_on_message(hs_paxos_node *n, hs_message *m) {
  const hs_blob *b = m->payload;
  size_t len;
  const uint8_t *buf = hs_envelope_msg_body(b->data, b->size, &len);
  if (!buf) { /* its string's length is not what follows: forged */
    n->malformed++;
    return;
  }
  uint32_t count = hs_paxos_msg_decode_count(buf, len);
  if (count > n->values_cap) {
    hs_paxos_value *v = realloc(n->values, count * sizeof *v);
    if (!v) return;
    n->values = v;
    n->values_cap = count;
  }
  hs_paxos_msg msg;
  if (hs_paxos_msg_decode(&msg, buf, len, n->values, n->values_cap) != HS_OK) {
    n->malformed++;
    return;
  }
  hs_node_kit_enter(&n->kit);
  if (n->mp)
    hs_mpaxos_step(n->mp, &msg, now_of(n)); /* the core counts what it refuses */
  else
    hs_paxos_step(n->sd, &msg, now_of(n));
  hs_node_kit_leave(&n->kit);
}

void hs_paxos_node_on_crash(hs_paxos_node *n) {
  if (n->mp)
    hs_mpaxos_crash(n->mp);
  else
    hs_paxos_crash(n->sd);
}

void hs_paxos_node_on_restart(hs_paxos_node *n) {
  if (n->mp)
    hs_mpaxos_restart(n->mp, now_of(n));
  else
    hs_paxos_restart(n->sd, now_of(n));
}

int hs_paxos_node_submit(hs_paxos_node *n, const uint8_t *data, size_t len, uint64_t tag, uint64_t *slot_out) {
  if (!n->mp) return HS_PAXOS_ESTATE;
  return hs_mpaxos_submit(n->mp, now_of(n), data, len, tag, slot_out);
}

void hs_paxos_node_begin_read(hs_buf *out) {
  uint8_t tag = HS_PAXOS_READ_TAG;
  hs_buf_put_raw(out, &tag, 1);
}

int hs_paxos_node_propose(hs_paxos_node *n, const uint8_t *data, size_t len) {
  if (!n->sd) return HS_PAXOS_ESTATE;
  return hs_paxos_propose(n->sd, now_of(n), data, len);
}

int hs_paxos_node_start_round(hs_paxos_node *n) {
  if (!n->sd) return HS_PAXOS_ESTATE;
  return hs_paxos_start_round(n->sd, now_of(n));
}

uint64_t hs_paxos_node_malformed(const hs_paxos_node *n) {
  if (n->mp) {
    hs_mpaxos_stats s;
    hs_mpaxos_get_stats(n->mp, &s);
    return n->malformed + s.malformed_messages;
  }
  hs_paxos_stats s;
  hs_paxos_get_stats(n->sd, &s);
  return n->malformed + s.malformed_messages;
}
