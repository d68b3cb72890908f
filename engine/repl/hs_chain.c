/* hs_chain.c - chain replication and CRAQ: life cycle, configurations, writes, propagation
 * and acknowledgements (hs_chain.h). Objects, reads and snapshots are in hs_chain_obj.c. */
#include "repl/hs_chain_internal.h"

#include <stdlib.h>

#define MS 1000000LL

const char *hs_chain_role_name(hs_chain_role role) {
  switch (role) {
  case HS_CHAIN_NONE: return "none";
  case HS_CHAIN_HEAD: return "head";
  case HS_CHAIN_MIDDLE: return "middle";
  case HS_CHAIN_TAIL: return "tail";
  }
  return "?";
}

bool hs_chain_unsafe_build(void) {
#ifdef HS_CRAQ_UNSAFE_DIRTY_READS
  return true;
#else
  return false;
#endif
}

void hs_chain_config_init(hs_chain_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->ping_interval_ns = 100 * MS;
  cfg->retry_interval_ns = 50 * MS;
  cfg->write_timeout_ns = 1000 * MS;
  cfg->read_timeout_ns = 500 * MS;
  cfg->max_inflight = 64;
}

int hs_chain_new(const hs_chain_config *cfg, hs_chain **out) {
  *out = NULL;
  if (!cfg || cfg->id == HS_REPL_NONE || cfg->master == HS_REPL_NONE || cfg->id == cfg->master || !cfg->cb.send)
    return HS_EINVAL;
  if (cfg->ping_interval_ns <= 0 || cfg->retry_interval_ns <= 0 || cfg->write_timeout_ns <= 0 ||
      cfg->read_timeout_ns <= 0 || cfg->max_inflight == 0)
    return HS_EINVAL;
  hs_chain *c = calloc(1, sizeof *c);
  if (!c) return HS_ENOMEM;
  c->id = cfg->id;
  c->master = cfg->master;
  c->craq = cfg->craq;
  c->unsafe_dirty_reads = cfg->unsafe_dirty_reads;
  c->ping_interval = cfg->ping_interval_ns;
  c->retry_interval = cfg->retry_interval_ns;
  c->write_timeout = cfg->write_timeout_ns;
  c->read_timeout = cfg->read_timeout_ns;
  c->max_inflight = cfg->max_inflight;
  c->cb = cfg->cb;
  c->ud = cfg->ud;
  hs_repl_view_reset(&c->view);
  hs_repl_map_init(&c->keys);
  hs_buf_init(&c->snap);
  c->ping_at = c->retry_at = c->armed = HS_TIME_NEVER;
  *out = c;
  return HS_OK;
}

static void ch_fail_writes(hs_chain *c, int status) {
  uint32_t n = c->writes_n;
  c->writes_n = 0;
  for (uint32_t i = 0; i < n; i++) {
    c->st.writes_failed++;
    if (c->cb.write_done) c->cb.write_done(c->ud, c->writes[i].tag, status, c->writes[i].seq);
  }
}

void hs_chain_free(hs_chain *c) {
  if (!c) return;
  hs_chain_clear_data(c);
  hs_repl_map_free(&c->keys);
  free(c->objs);
  free(c->inflight);
  free(c->writes);
  free(c->reads);
  hs_buf_free(&c->snap);
  free(c);
}

void hs_chain_send(hs_chain *c, hs_repl_msg *m) {
  m->from = c->id;
  c->cb.send(c->ud, m);
}

/* ---- timers ----------------------------------------------------------------------------------------- */

hs_time_ns hs_chain_next_deadline(const hs_chain *c) {
  if (c->crashed || !c->started) return HS_TIME_NEVER;
  hs_time_ns d = c->ping_at;
  if (c->succ && c->retry_at < d) d = c->retry_at;
  if (c->writes_n && c->writes[0].deadline < d) d = c->writes[0].deadline;
  for (uint32_t i = 0; i < c->reads_n; i++)
    if (c->reads[i].deadline < d) d = c->reads[i].deadline;
  return d;
}

static void ch_arm(hs_chain *c) {
  hs_time_ns d = hs_chain_next_deadline(c);
  if (d == c->armed) return;
  c->armed = d;
  if (c->cb.set_timer) c->cb.set_timer(c->ud, d);
}

static void ch_ping(hs_chain *c, hs_time_ns now) {
  hs_repl_msg m = hs_repl_view_ping(&c->view, c->id, c->master, c->applied);
  hs_chain_send(c, &m);
  c->ping_at = now + c->ping_interval;
}

static void ch_probe(hs_chain *c) {
  hs_repl_msg m = {.type = HS_REPL_MSG_CH_PROPAGATE, .to = c->succ, .epoch = c->view.epoch};
  hs_chain_send(c, &m);
}

/* Every retry interval: a successor that has not answered is probed; one that has not
 * confirmed the writes sent is sent them again. */
static void ch_retry(hs_chain *c, hs_time_ns now) {
  if (!c->succ) return;
  if (!c->succ_confirmed) {
    ch_probe(c);
    return;
  }
  if (c->succ_applied < c->applied && now - c->succ_progress >= c->retry_interval) {
    c->succ_progress = now;
    hs_chain_forward(c, now);
  }
}

int hs_chain_tick(hs_chain *c, hs_time_ns now) {
  if (c->crashed) return HS_REPL_ECRASHED;
  if (!c->started) return HS_OK;
  if (now >= c->ping_at) ch_ping(c, now);
  if (now >= c->retry_at) {
    ch_retry(c, now);
    c->retry_at = now + c->retry_interval;
  }
  while (c->writes_n && c->writes[0].deadline <= now) {
    ch_pending_write w = c->writes[0];
    memmove(c->writes, c->writes + 1, (c->writes_n - 1) * sizeof *c->writes);
    c->writes_n--;
    c->st.writes_failed++;
    if (c->cb.write_done) c->cb.write_done(c->ud, w.tag, HS_REPL_ETIMEOUT, w.seq);
  }
  hs_chain_expire_reads(c, now);
  ch_arm(c);
  return HS_OK;
}

/* ---- life cycle ------------------------------------------------------------------------------------- */

int hs_chain_start(hs_chain *c, hs_time_ns now) {
  if (c->crashed) return HS_REPL_ECRASHED;
  if (c->started) return HS_OK;
  c->started = true;
  c->view.boots++;
  c->retry_at = now + c->retry_interval;
  ch_ping(c, now);
  ch_arm(c);
  return HS_OK;
}

void hs_chain_crash(hs_chain *c) {
  if (c->crashed) return;
  ch_fail_writes(c, HS_REPL_ECRASHED);
  hs_chain_fail_reads(c, HS_REPL_ECRASHED);
  hs_chain_clear_data(c);
  hs_repl_view_reset(&c->view);
  c->role = HS_CHAIN_NONE;
  c->succ = HS_REPL_NONE;
  c->crashed = true;
  ch_arm(c);
}

int hs_chain_restart(hs_chain *c, hs_time_ns now) {
  if (!c->crashed) return HS_OK;
  c->crashed = false;
  if (!c->started) return HS_OK;
  c->started = false;
  return hs_chain_start(c, now);
}

/* ---- configurations --------------------------------------------------------------------------------- */

static hs_chain_role ch_role(const hs_chain *c) {
  if (!hs_repl_view_member(&c->view) || !c->view.synced) return HS_CHAIN_NONE;
  if (c->view.self_pos == 0) return HS_CHAIN_HEAD;
  return (uint32_t)c->view.self_pos + 1 == c->view.n ? HS_CHAIN_TAIL : HS_CHAIN_MIDDLE;
}

/* The role and the links follow the configuration: a node that stops being head fails its
 * pending writes (outcome unknown); a new successor is sent everything not acknowledged (or a
 * state transfer when it joined in this epoch); a new tail commits everything it holds. */
static void ch_reconfigure(hs_chain *c, hs_time_ns now) {
  hs_chain_role old = c->role;
  c->role = ch_role(c);
  if (old == HS_CHAIN_HEAD && c->role != HS_CHAIN_HEAD) ch_fail_writes(c, HS_REPL_ECONFIG);
  uint32_t succ = c->role == HS_CHAIN_NONE ? HS_REPL_NONE : hs_repl_view_succ(&c->view);
  uint64_t join = succ ? c->view.join_epoch[c->view.self_pos + 1] : 0;
  if (succ != c->succ || join != c->succ_join) { /* a new successor, or the same one rejoined */
    c->succ = succ;
    c->succ_join = join;
    c->succ_applied = c->committed; /* a member since before holds every committed write */
    c->succ_progress = now;
    c->snap_sent = INT64_MIN;
    if (succ && join == c->view.epoch) hs_chain_send_snapshot(c, now);
    else if (succ) hs_chain_forward(c, now);
  }
  if (succ) { /* every new epoch: ask the successor what it holds */
    c->succ_confirmed = false;
    ch_probe(c);
  }
  if (c->role != HS_CHAIN_NONE && !c->succ && c->committed < c->applied) hs_chain_commit_to(c, c->applied, now);
  if (!hs_repl_view_member(&c->view)) hs_chain_fail_reads(c, HS_REPL_ECONFIG);
  else hs_chain_requery(c);
  if (c->cb.config_changed) c->cb.config_changed(c->ud, c->view.epoch, c->role);
}

static int ch_on_config(hs_chain *c, const hs_repl_msg *m, hs_time_ns now) {
  if (m->from != c->master) return HS_EINVAL;
  int adopted = hs_repl_view_adopt(&c->view, c->id, m);
  if (adopted < 0) return adopted;
  if (adopted == HS_REPL_VIEW_SAME) return HS_OK;
  if (adopted == HS_REPL_VIEW_REJOIN) hs_chain_clear_data(c);
  ch_reconfigure(c, now);
  return HS_OK;
}

/* Called when a state transfer made this node synced. */
static void ch_synced(hs_chain *c, hs_time_ns now) {
  c->ping_at = now; /* tell the master */
  ch_reconfigure(c, now);
}

/* ---- propagation -------------------------------------------------------------------------------------- */

void hs_chain_forward(hs_chain *c, hs_time_ns now) {
  (void)now;
  if (!c->succ) return;
  if (c->succ_applied < c->committed) { /* it lacks committed writes: only a state transfer helps */
    hs_chain_send_snapshot(c, now);
    return;
  }
  for (uint64_t s = c->succ_applied + 1; s <= c->applied && s - c->succ_applied <= c->max_inflight; s++) {
    uint32_t k = ch_inflight_key(c, s);
    const ch_version *v = hs_chain_find_version(c, k, s);
    if (!v) break;
    hs_repl_msg m = {.type = HS_REPL_MSG_CH_PROPAGATE, .to = c->succ, .epoch = c->view.epoch, .seq = s,
                     .key = c->keys.keys[k].p, .key_len = c->keys.keys[k].len, .value = v->value,
                     .value_len = v->len};
    hs_chain_send(c, &m);
    c->st.propagations_sent++;
  }
}

/* Sends the newest write on when it is within the window (others wait for the retry). */
static void ch_forward_new(hs_chain *c, uint64_t seq) {
  if (!c->succ || seq - c->succ_applied > c->max_inflight) return;
  uint32_t k = ch_inflight_key(c, seq);
  const ch_version *v = hs_chain_find_version(c, k, seq);
  hs_repl_msg m = {.type = HS_REPL_MSG_CH_PROPAGATE, .to = c->succ, .epoch = c->view.epoch, .seq = seq,
                   .key = c->keys.keys[k].p, .key_len = c->keys.keys[k].len, .value = v->value, .value_len = v->len};
  hs_chain_send(c, &m);
  c->st.propagations_sent++;
}

static void ch_status(hs_chain *c, uint32_t to, uint32_t flags) {
  hs_repl_msg a = {.type = HS_REPL_MSG_CH_ACK, .to = to, .flags = flags, .epoch = c->view.epoch,
                   .seq = c->committed, .commit = c->applied};
  hs_chain_send(c, &a);
}

/* Whether m (same epoch, from the expected neighbour in this node's configuration) may be
 * handled: 1 yes, 0 ignore (an older epoch's is answered STALE; a later one makes us ask the
 * master; a node not placed yet ignores its neighbours), HS_EINVAL (from anyone else). */
static int ch_check(hs_chain *c, const hs_repl_msg *m, uint32_t expected, hs_time_ns now) {
  if (m->epoch < c->view.epoch) {
    c->st.stale_refused++;
    if (m->type != HS_REPL_MSG_CH_ACK && m->type != HS_REPL_MSG_CH_QUERY_RESP)
      ch_status(c, m->from, HS_REPL_FLAG_STALE);
    return 0;
  }
  if (m->epoch > c->view.epoch) {
    c->ping_at = now;
    return 0;
  }
  if (!hs_repl_view_member(&c->view)) return 0;
  return m->from == expected ? 1 : HS_EINVAL;
}

static int ch_on_propagate(hs_chain *c, const hs_repl_msg *m, hs_time_ns now) {
  int go = ch_check(c, m, hs_repl_view_pred(&c->view), now);
  if (go <= 0) return go;
  bool entry = m->seq != 0;
  if (entry && (m->key_len > HS_REPL_MAX_KEY || !hs_repl_value_ok(m->value, m->value_len))) return HS_EINVAL;
  if (!c->view.synced) {
    ch_status(c, m->from, HS_REPL_FLAG_UNSYNCED);
    return HS_OK;
  }
  if (!entry || m->seq != c->applied + 1) { /* a probe, a duplicate or a gap: say what we hold */
    ch_status(c, m->from, 0);
    return HS_OK;
  }
  int rc = hs_chain_apply(c, m->seq, m->key, m->key_len, m->value, m->value_len);
  if (rc != HS_OK) return rc;
  c->st.propagations_received++;
  if (!c->succ) hs_chain_commit_to(c, m->seq, now); /* the tail: committed, acknowledged */
  else ch_forward_new(c, m->seq);
  return HS_OK;
}

static int ch_on_ack(hs_chain *c, const hs_repl_msg *m, hs_time_ns now) {
  if (m->flags & HS_REPL_FLAG_STALE) { /* we spoke from an older epoch */
    if (m->epoch > c->view.epoch) c->ping_at = now;
    return HS_OK;
  }
  int go = ch_check(c, m, hs_repl_view_succ(&c->view), now);
  if (go <= 0) return go;
  if (m->seq > m->commit) return HS_EINVAL;
  if (!c->succ) return HS_OK; /* not linked yet (not synced) */
  c->succ_confirmed = true;
  if (m->flags & HS_REPL_FLAG_UNSYNCED) { /* a joiner: it needs our objects first */
    c->succ_applied = 0;
    hs_chain_send_snapshot(c, now);
    return HS_OK;
  }
  uint64_t held = m->commit < c->applied ? m->commit : c->applied;
  if (held > c->succ_applied) { /* within an epoch a successor only gains (older answers say less) */
    c->succ_applied = held;
    c->succ_progress = now;
  }
  uint64_t committed = m->seq < c->applied ? m->seq : c->applied;
  if (committed > c->committed) hs_chain_commit_to(c, committed, now);
  hs_chain_forward(c, now);
  return HS_OK;
}

int hs_chain_step(hs_chain *c, const hs_repl_msg *m, hs_time_ns now) {
  if (c->crashed) return HS_REPL_ECRASHED;
  int rc = HS_EINVAL;
  bool was_synced = c->view.synced;
  if (c->started && m->to == c->id && m->from != HS_REPL_NONE && m->from != c->id) {
    switch (m->type) {
    case HS_REPL_MSG_CONFIG: rc = ch_on_config(c, m, now); break;
    case HS_REPL_MSG_CH_PROPAGATE: rc = ch_on_propagate(c, m, now); break;
    case HS_REPL_MSG_CH_ACK: rc = ch_on_ack(c, m, now); break;
    case HS_REPL_MSG_CH_SNAPSHOT:
      rc = ch_check(c, m, hs_repl_view_pred(&c->view), now);
      if (rc > 0) rc = hs_chain_on_snapshot(c, m, now);
      if (rc == HS_OK && !was_synced && c->view.synced) ch_synced(c, now);
      break;
    case HS_REPL_MSG_CH_QUERY: rc = hs_chain_on_query(c, m, now); break;
    case HS_REPL_MSG_CH_QUERY_RESP: rc = hs_chain_on_query_resp(c, m, now); break;
    default: break;
    }
  }
  if (rc == HS_EINVAL) c->st.malformed++;
  ch_arm(c);
  return rc < 0 ? rc : HS_OK;
}

/* ---- writes --------------------------------------------------------------------------------------------- */

int hs_chain_write(hs_chain *c, hs_time_ns now, const void *key, size_t key_len, const void *value,
                   size_t value_len, uint64_t tag) {
  if (c->crashed) return HS_REPL_ECRASHED;
  if (c->role == HS_CHAIN_NONE) return HS_REPL_EUNAVAILABLE;
  if (c->role != HS_CHAIN_HEAD) return HS_REPL_ENOTHEAD;
  if (!hs_repl_view_leased(&c->view, now)) return HS_REPL_ENOLEASE;
  if (key_len > HS_REPL_MAX_KEY || value_len > HS_REPL_MAX_VALUE || !hs_repl_value_ok(value, value_len))
    return HS_EINVAL;
  if (hs_repl_grow((void **)&c->writes, &c->writes_cap, c->writes_n + 1, sizeof *c->writes)) return HS_ENOMEM;
  uint64_t seq = c->applied + 1;
  int rc = hs_chain_apply(c, seq, key, (uint32_t)key_len, value, (uint32_t)value_len);
  if (rc != HS_OK) return rc;
  c->writes[c->writes_n++] = (ch_pending_write){tag, seq, now, now + c->write_timeout};
  c->st.writes_received++;
  if (!c->succ) hs_chain_commit_to(c, seq, now); /* alone: head and tail */
  else ch_forward_new(c, seq);
  ch_arm(c);
  return HS_OK;
}

/* ---- getters ---------------------------------------------------------------------------------------------- */

hs_chain_role hs_chain_role_of(const hs_chain *c) { return c->role; }
bool hs_chain_is_tail(const hs_chain *c) { return c->role != HS_CHAIN_NONE && !c->succ; }
uint64_t hs_chain_epoch(const hs_chain *c) { return c->view.epoch; }
uint32_t hs_chain_head(const hs_chain *c) { return hs_repl_view_first(&c->view); }
uint32_t hs_chain_tail(const hs_chain *c) { return hs_repl_view_last(&c->view); }
uint32_t hs_chain_id(const hs_chain *c) { return c->id; }
bool hs_chain_crashed(const hs_chain *c) { return c->crashed; }

void hs_chain_get_stats(const hs_chain *c, hs_chain_stats *out) {
  *out = c->st;
  out->role = c->role;
  out->epoch = c->view.epoch;
  out->applied = c->applied;
  out->committed = c->committed;
  out->synced = c->view.synced;
  out->crashed = c->crashed;
  out->dirty_keys = 0;
  for (uint32_t i = 0; i < c->keys.n; i++)
    if (c->objs[i].n && !c->objs[i].v[c->objs[i].n - 1].clean) out->dirty_keys++;
}
