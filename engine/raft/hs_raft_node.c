/*
 * hs_raft_node.c - the adapter between the Raft core and the simulator (hs_raft_node.h).
 *
 * Every output of the core passes a check here (HS_ASSERT, core/hs_assert.h) before it is
 * acted on: messages come from this node to another member and encode to their announced
 * size; entries are applied once each, in index order, up to the commit index; a read is
 * served only once its index is applied; reasons and statuses are the documented ones. And
 * the engine never hands this node a message or a timer while its core is running a call.
 */
#include "raft/hs_raft_node.h"

#include <stdlib.h>
#include <string.h>

#include "core/hs_assert.h"
#include "net/hs_envelope.h"

/* A protocol message travels as a plain envelope and an hs_value string (a tag and a u32
 * length, then the hs_raft_msg encoding): net/hs_node_kit.h. */

static const char *const wire_names[HS_RAFT_MSG_TYPE_COUNT] = {
    "RequestVote", "RequestVoteResponse", "PreVote",        "PreVoteResponse", "AppendEntries",
    "AppendEntriesResponse", "Heartbeat", "HeartbeatResponse", "InstallSnapshot", "TimeoutNow"};

static hs_time_ns now_of(const hs_raft_node *n) { return hs_node_kit_now(&n->kit); }

static size_t encode(const void *m, uint8_t *out, size_t size) { return hs_raft_msg_encode(m, out, size); }

/* ---- callbacks from the core ------------------------------------------------------------ */

static void cb_send(void *ud, const hs_raft_msg *m) {
  hs_raft_node *n = ud;
  HS_ASSERT(m->type < HS_RAFT_MSG_TYPE_COUNT);
  HS_ASSERT(m->from == hs_raft_id(n->raft));
  HS_ASSERT(m->to != HS_RAFT_NONE && m->to != m->from);
  HS_ASSERT(m->n_entries == 0 || m->entries);
  hs_entity *to = hs_node_kit_peer(&n->kit, m->to, n->hooks.resolve_peer, n->hooks.ud);
  if (!to) return; /* unknown member: as if the message were lost */
  hs_node_kit_send(&n->kit, to, wire_names[m->type], m, hs_raft_msg_encoded_size(m), encode);
}

static void cb_set_timer(void *ud, hs_raft_timer kind, hs_time_ns at) {
  hs_raft_node *n = ud;
  HS_ASSERT(kind == HS_RAFT_TIMER_ELECTION || kind == HS_RAFT_TIMER_HEARTBEAT);
  hs_node_kit_arm(&n->kit, kind == HS_RAFT_TIMER_ELECTION ? &n->election : &n->heartbeat, at);
}

static void cb_apply(void *ud, const hs_raft_entry *e, bool proposed_here, uint64_t tag) {
  hs_raft_node *n = ud;
  HS_ASSERT(e->index == n->applied + 1);
  HS_ASSERT(e->index <= hs_raft_commit_index(n->raft));
  HS_ASSERT(e->len == 0 || e->data);
  n->applied = e->index;
  if (n->invariants) hs_raft_invariants_on_apply(n->invariants, n->raft, e, now_of(n));
  const char *err = NULL;
  hs_buf_reset(&n->result);
  if (e->type == HS_RAFT_ENTRY_NORMAL) err = hs_sessions_apply(&n->sessions, &n->sm, e->data, e->len, &n->result, &n->counts);
  if (!proposed_here || !n->hooks.resolved) return;
  if (n->result.len == 0) hs_buf_put_nil(&n->result);
  n->hooks.resolved(n->hooks.ud, tag, e->index, (hs_value){n->result.data, n->result.len}, err);
}

static void cb_lost(void *ud, uint64_t tag, uint64_t index, int reason) {
  hs_raft_node *n = ud;
  HS_ASSERT(reason == HS_RAFT_ETRUNCATED || reason == HS_RAFT_ESNAPSHOT || reason == HS_RAFT_ECRASHED ||
            reason == HS_RAFT_ELEADERSHIP);
  if (n->hooks.lost) n->hooks.lost(n->hooks.ud, tag, index, reason);
}

static void cb_read_done(void *ud, uint64_t request_id, uint64_t read_index, int status) {
  hs_raft_node *n = ud;
  HS_ASSERT(status == HS_OK || status == HS_RAFT_ELEADERSHIP || status == HS_RAFT_ECRASHED);
  HS_ASSERT(status != HS_OK || read_index <= n->applied); /* served from a state that has it */
  if (n->hooks.read_done) n->hooks.read_done(n->hooks.ud, request_id, read_index, status);
}

/* A snapshot is the state machine's, wrapped with the client sessions when there are any. */
static const uint8_t *cb_snapshot_take(void *ud, uint64_t index, size_t *len) {
  hs_raft_node *n = ud;
  HS_ASSERT(index == n->applied); /* the state after exactly the entries up to index */
  size_t sm_len = 0;
  const uint8_t *sm = n->sm.snapshot ? n->sm.snapshot(n->sm.ud, &sm_len) : NULL;
  if (!sm) return NULL;
  return hs_sessions_snapshot(&n->sessions, sm, sm_len, len);
}

static void cb_snapshot_restore(void *ud, uint64_t index, uint64_t term, const uint8_t *data, size_t len) {
  (void)term;
  hs_raft_node *n = ud;
  n->applied = index;
  const uint8_t *sm;
  size_t sm_len;
  if (hs_sessions_restore(&n->sessions, data, len, &sm, &sm_len) != HS_OK) n->malformed++;
  if (n->sm.restore) n->sm.restore(n->sm.ud, sm, sm_len);
}

static void cb_role_changed(void *ud, const hs_raft_role_event *ev) {
  hs_raft_node *n = ud;
  HS_ASSERT(ev->role <= HS_RAFT_LEADER && ev->prev_role <= HS_RAFT_LEADER);
  HS_ASSERT(ev->role != HS_RAFT_LEADER || ev->leader == hs_raft_id(n->raft));
  if (n->invariants) hs_raft_invariants_on_role(n->invariants, n->raft, ev);
  if (n->hooks.role_changed) n->hooks.role_changed(n->hooks.ud, ev);
}

static void cb_transfer_done(void *ud, uint64_t tag, int status) {
  hs_raft_node *n = ud;
  HS_ASSERT(status == HS_OK || status == HS_RAFT_ELEADERSHIP || status == HS_RAFT_ETIMEOUT ||
            status == HS_RAFT_ECRASHED);
  if (n->hooks.transfer_done) n->hooks.transfer_done(n->hooks.ud, tag, status);
}

/* ---- timers ------------------------------------------------------------------------------ */

static void tick(hs_raft_node *n) {
  hs_node_kit_enter(&n->kit);
  hs_raft_tick(n->raft, now_of(n));
  hs_node_kit_leave(&n->kit);
}

static void on_election_timer(hs_entity *owner, hs_timer *t) {
  (void)owner;
  tick(HS_CONTAINER_OF(t, hs_raft_node, election));
}

static void on_heartbeat_timer(hs_entity *owner, hs_timer *t) {
  (void)owner;
  tick(HS_CONTAINER_OF(t, hs_raft_node, heartbeat));
}

/* ---- life cycle -------------------------------------------------------------------------- */

int hs_raft_node_init(hs_raft_node *n, hs_entity *self, hs_net *net, hs_blob_pool *pool, hs_raft_config *cfg,
                      const hs_sm_ops *sm, const hs_raft_node_hooks *hooks) {
  memset(n, 0, sizeof *n);
  hs_node_kit_init(&n->kit, self, net, pool);
  if (sm) n->sm = *sm;
  if (hooks) n->hooks = *hooks;
  hs_buf_init(&n->result);
  hs_sessions_init(&n->sessions);
  hs_timer_init(&n->election, self, "ElectionTimeout", on_election_timer);
  hs_timer_init(&n->heartbeat, self, "HeartbeatTimeout", on_heartbeat_timer);
  cfg->cb = (hs_raft_callbacks){.send = cb_send,
                                .set_timer = cb_set_timer,
                                .apply = cb_apply,
                                .proposal_lost = cb_lost,
                                .read_done = cb_read_done,
                                .snapshot_take = cb_snapshot_take,
                                .snapshot_restore = cb_snapshot_restore,
                                .role_changed = cb_role_changed,
                                .transfer_done = cb_transfer_done};
  cfg->ud = n;
  int rc = hs_raft_new(cfg, &n->raft);
  if (rc != HS_OK) return rc;
  return hs_raft_node_set_peer(n, cfg->id, self);
}

void hs_raft_node_free(hs_raft_node *n) {
  if (n->raft) hs_raft_free(n->raft);
  n->raft = NULL;
  hs_node_kit_free(&n->kit);
  free(n->entries);
  n->entries = NULL;
  hs_buf_free(&n->result);
  hs_sessions_free(&n->sessions);
}

int hs_raft_node_set_peer(hs_raft_node *n, uint32_t id, hs_entity *e) { return hs_node_kit_set_peer(&n->kit, id, e); }

int hs_raft_node_start(hs_raft_node *n) { return hs_raft_start(n->raft, now_of(n)); }

bool hs_raft_node_is_protocol(const hs_message *m) { return hs_node_kit_is_protocol(m); }

void hs_raft_node_on_message(hs_raft_node *n, hs_message *m) {
  const hs_blob *b = m->payload;
  size_t len;
  const uint8_t *buf = hs_envelope_msg_body(b->data, b->size, &len);
  if (!buf) { /* its string's length is not what follows: forged */
    n->malformed++;
    return;
  }
  uint32_t count = hs_raft_msg_decode_count(buf, len);
  if (count > n->entries_cap) {
    hs_raft_entry *e = realloc(n->entries, count * sizeof *e);
    if (!e) return;
    n->entries = e;
    n->entries_cap = count;
  }
  hs_raft_msg msg;
  if (hs_raft_msg_decode(&msg, buf, len, n->entries, n->entries_cap) != HS_OK) {
    n->malformed++;
    return;
  }
  hs_node_kit_enter(&n->kit);
  if (hs_raft_step(n->raft, &msg, now_of(n)) == HS_EINVAL) n->malformed++;
  hs_node_kit_leave(&n->kit);
}

void hs_raft_node_on_crash(hs_raft_node *n) { hs_raft_crash(n->raft); }

void hs_raft_node_on_restart(hs_raft_node *n) { hs_raft_restart(n->raft, now_of(n)); }

int hs_raft_node_watch(hs_raft_node *n, hs_raft_invariants *inv) {
  if (n->invariants) return HS_EBUSY;
  int rc = hs_raft_invariants_watch(inv, n->raft, n->kit.self->name);
  if (rc == HS_OK) n->invariants = inv;
  return rc;
}
