/* hs_pb.c - primary-backup: life cycle, views, clients, timers (hs_pb.h). The log and the
 * replication protocol are in hs_pb_log.c. */
#include "repl/hs_pb_internal.h"

#include <stdlib.h>

#define MS 1000000LL

const char *hs_pb_mode_name(hs_pb_mode mode) {
  switch (mode) {
  case HS_PB_ASYNC: return "async";
  case HS_PB_SEMI_SYNC: return "semi_sync";
  case HS_PB_SYNC: return "sync";
  }
  return "?";
}

const char *hs_pb_role_name(hs_pb_role role) {
  switch (role) {
  case HS_PB_NONE: return "none";
  case HS_PB_PRIMARY: return "primary";
  case HS_PB_BACKUP: return "backup";
  }
  return "?";
}

void hs_pb_config_init(hs_pb_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->mode = HS_PB_ASYNC;
  cfg->semi_sync_acks = 1;
  cfg->serve_reads = true;
  cfg->ping_interval_ns = 100 * MS;
  cfg->retry_interval_ns = 50 * MS;
  cfg->write_timeout_ns = 1000 * MS;
  cfg->max_inflight = 64;
  cfg->max_log = 4096;
}

int hs_pb_new(const hs_pb_config *cfg, hs_pb **out) {
  *out = NULL;
  if (!cfg || cfg->id == HS_REPL_NONE || cfg->master == HS_REPL_NONE || cfg->id == cfg->master || !cfg->cb.send)
    return HS_EINVAL;
  if ((unsigned)cfg->mode > HS_PB_SYNC || cfg->ping_interval_ns <= 0 || cfg->retry_interval_ns <= 0 ||
      cfg->write_timeout_ns <= 0 || cfg->max_inflight == 0 || cfg->max_log == 0)
    return HS_EINVAL;
  hs_pb *pb = calloc(1, sizeof *pb);
  if (!pb) return HS_ENOMEM;
  pb->id = cfg->id;
  pb->master = cfg->master;
  pb->mode = cfg->mode;
  pb->semi_acks = cfg->semi_sync_acks;
  pb->serve_reads = cfg->serve_reads;
  pb->ping_interval = cfg->ping_interval_ns;
  pb->retry_interval = cfg->retry_interval_ns;
  pb->write_timeout = cfg->write_timeout_ns;
  pb->max_inflight = cfg->max_inflight;
  pb->max_log = cfg->max_log;
  pb->cb = cfg->cb;
  pb->ud = cfg->ud;
  hs_repl_view_reset(&pb->view);
  hs_repl_map_init(&pb->keys);
  hs_buf_init(&pb->snap);
  pb->ping_at = pb->retry_at = pb->armed = HS_TIME_NEVER;
  *out = pb;
  return HS_OK;
}

/* Ends every pending write with status (they are FIFO by seq). */
static void pb_fail_pending(hs_pb *pb, int status) {
  uint32_t n = pb->pending_n;
  pb->pending_n = 0;
  for (uint32_t i = 0; i < n; i++) {
    pb->st.writes_failed++;
    if (pb->cb.write_done) pb->cb.write_done(pb->ud, pb->pending[i].tag, status, pb->pending[i].seq);
  }
}

void hs_pb_free(hs_pb *pb) {
  if (!pb) return;
  hs_pb_clear_data(pb);
  hs_repl_map_free(&pb->keys);
  free(pb->vals);
  free(pb->log);
  free(pb->pending);
  hs_buf_free(&pb->snap);
  free(pb);
}

/* ---- timers -------------------------------------------------------------------------------------- */

hs_time_ns hs_pb_next_deadline(const hs_pb *pb) {
  if (pb->crashed || !pb->started) return HS_TIME_NEVER;
  hs_time_ns d = pb->ping_at;
  if (pb->role == HS_PB_PRIMARY && pb->retry_at < d) d = pb->retry_at;
  if (pb->pending_n && pb->pending[0].deadline < d) d = pb->pending[0].deadline;
  return d;
}

static void pb_arm(hs_pb *pb) {
  hs_time_ns d = hs_pb_next_deadline(pb);
  if (d == pb->armed) return;
  pb->armed = d;
  if (pb->cb.set_timer) pb->cb.set_timer(pb->ud, d);
}

/* The ping reports the log's last position, for the master's choice of a new primary. */
static void pb_ping(hs_pb *pb, hs_time_ns now) {
  hs_repl_msg m = hs_repl_view_ping(&pb->view, pb->id, pb->master, pb_last(pb));
  m.tag = hs_pb_tag_at(pb, pb_last(pb));
  m.time_ns = now;
  m.flags |= HS_REPL_FLAG_LOG;
  hs_pb_send(pb, &m);
  pb->ping_at = now + pb->ping_interval;
}

int hs_pb_tick(hs_pb *pb, hs_time_ns now) {
  if (pb->crashed) return HS_REPL_ECRASHED;
  if (!pb->started) return HS_OK;
  if (now >= pb->ping_at) pb_ping(pb, now);
  if (pb->role == HS_PB_PRIMARY && now >= pb->retry_at) {
    hs_pb_retry(pb, now);
    pb->retry_at = now + pb->retry_interval;
  }
  uint32_t expired = 0;
  while (expired < pb->pending_n && pb->pending[expired].deadline <= now) expired++;
  if (expired) {
    pb_pending *gone = malloc(expired * sizeof *gone);
    if (gone) memcpy(gone, pb->pending, expired * sizeof *gone);
    memmove(pb->pending, pb->pending + expired, (pb->pending_n - expired) * sizeof *pb->pending);
    pb->pending_n -= expired;
    for (uint32_t i = 0; gone && i < expired; i++) {
      pb->st.writes_failed++;
      if (pb->cb.write_done) pb->cb.write_done(pb->ud, gone[i].tag, HS_REPL_ETIMEOUT, gone[i].seq);
    }
    free(gone);
  }
  pb_arm(pb);
  return HS_OK;
}

/* ---- life cycle ------------------------------------------------------------------------------------ */

int hs_pb_start(hs_pb *pb, hs_time_ns now) {
  if (pb->crashed) return HS_REPL_ECRASHED;
  if (pb->started) return HS_OK;
  pb->started = true;
  pb->view.boots++;
  pb_ping(pb, now);
  pb_arm(pb);
  return HS_OK;
}

void hs_pb_crash(hs_pb *pb) {
  if (pb->crashed) return;
  pb_fail_pending(pb, HS_REPL_ECRASHED);
  hs_pb_clear_data(pb);
  hs_repl_view_reset(&pb->view);
  pb->role = HS_PB_NONE;
  pb->n_peers = 0;
  pb->crashed = true;
  pb_arm(pb);
}

int hs_pb_restart(hs_pb *pb, hs_time_ns now) {
  if (!pb->crashed) return HS_OK;
  pb->crashed = false;
  if (!pb->started) return HS_OK;
  pb->started = false;
  return hs_pb_start(pb, now);
}

/* ---- views ---------------------------------------------------------------------------------------- */

/* A new view: the role follows the member order; a node that stops being primary fails its
 * pending writes (outcome unknown); a new primary counts what it knows was lost, probes its
 * backups from the end of its log, and serves reads once that log is committed. */
static void pb_view_changed(hs_pb *pb, int adopted, hs_time_ns now) {
  hs_pb_role old = pb->role;
  if (adopted == HS_REPL_VIEW_REJOIN) hs_pb_clear_data(pb);
  /* first is primary, but only with the data: a node that lost it (a restart, and a delayed
   * configuration from before) waits for the master to place it again */
  pb->role = !hs_repl_view_member(&pb->view) ? HS_PB_NONE
             : pb->view.self_pos > 0         ? HS_PB_BACKUP
             : pb->view.synced               ? HS_PB_PRIMARY
                                             : HS_PB_NONE;
  if (old == HS_PB_PRIMARY && pb->role != HS_PB_PRIMARY) pb_fail_pending(pb, HS_REPL_ECONFIG);
  if (pb->role == HS_PB_PRIMARY) {
    if (old != HS_PB_PRIMARY) {
      if (pb->seen_primary_commit > pb_last(pb)) pb->st.writes_lost += pb->seen_primary_commit - pb_last(pb);
      pb->start_seq = pb_last(pb);
    }
    pb->n_peers = 0;
    for (uint32_t i = 1; i < pb->view.n; i++)
      pb->peers[pb->n_peers++] = (pb_peer){.id = pb->view.members[i], .next = pb_last(pb) + 1, .probing = true,
                                           .last_sent = INT64_MIN, .resent_from = UINT64_MAX};
    hs_pb_advance_commit(pb, now); /* async, or no backups: everything held is committed */
    hs_pb_send_all(pb, now);
    pb->retry_at = now + pb->retry_interval;
  } else {
    pb->n_peers = 0;
  }
  pb->verified = 0;
  pb->seen_primary_commit = 0;
  if (pb->cb.view_changed) pb->cb.view_changed(pb->ud, pb->view.epoch, hs_repl_view_first(&pb->view), pb->role);
}

static int pb_on_config(hs_pb *pb, const hs_repl_msg *m, hs_time_ns now) {
  if (m->from != pb->master) return HS_EINVAL;
  int adopted = hs_repl_view_adopt(&pb->view, pb->id, m);
  if (adopted < 0) return adopted;
  if (adopted != HS_REPL_VIEW_SAME) pb_view_changed(pb, adopted, now);
  else hs_pb_advance_commit(pb, now); /* a renewed lease lets a primary acknowledge again */
  return HS_OK;
}

int hs_pb_step(hs_pb *pb, const hs_repl_msg *m, hs_time_ns now) {
  if (pb->crashed) return HS_REPL_ECRASHED;
  int rc = HS_EINVAL;
  if (pb->started && m->to == pb->id && m->from != HS_REPL_NONE && m->from != pb->id) {
    switch (m->type) {
    case HS_REPL_MSG_CONFIG: rc = pb_on_config(pb, m, now); break;
    case HS_REPL_MSG_PB_REPLICATE: rc = hs_pb_on_replicate(pb, m, now); break;
    case HS_REPL_MSG_PB_ACK: rc = hs_pb_on_ack(pb, m, now); break;
    case HS_REPL_MSG_PB_SNAPSHOT: rc = hs_pb_on_snapshot(pb, m, now); break;
    default: break;
    }
  }
  if (rc == HS_EINVAL) pb->st.malformed++;
  pb_arm(pb);
  return rc;
}

/* ---- clients ---------------------------------------------------------------------------------------- */

/* Why this node cannot act as primary now (HS_OK when it can). */
static int pb_primary_check(const hs_pb *pb, hs_time_ns now) {
  if (pb->crashed) return HS_REPL_ECRASHED;
  if (!hs_repl_view_member(&pb->view) || !pb->view.synced) return HS_REPL_EUNAVAILABLE;
  if (pb->role != HS_PB_PRIMARY) return HS_REPL_ENOTPRIMARY;
  if (!hs_repl_view_leased(&pb->view, now)) return HS_REPL_ENOLEASE;
  return HS_OK;
}

int hs_pb_write(hs_pb *pb, hs_time_ns now, const void *key, size_t key_len, const void *value, size_t value_len,
                uint64_t tag) {
  int rc = pb_primary_check(pb, now);
  if (rc != HS_OK) return rc;
  if (key_len > HS_REPL_MAX_KEY || value_len > HS_REPL_MAX_VALUE || !hs_repl_value_ok(value, value_len))
    return HS_EINVAL;
  if (hs_repl_grow((void **)&pb->pending, &pb->pending_cap, pb->pending_n + 1, sizeof *pb->pending)) return HS_ENOMEM;
  rc = hs_pb_log_append(pb, pb->view.epoch, key, (uint32_t)key_len, value, (uint32_t)value_len);
  if (rc != HS_OK) return rc;
  uint64_t seq = pb_last(pb);
  pb->pending[pb->pending_n++] = (pb_pending){tag, seq, now, now + pb->write_timeout};
  pb->st.writes++;
  hs_pb_advance_commit(pb, now); /* async (or no backups): committed now, and sent as such */
  hs_pb_replicate_new(pb, seq, now);
  pb_arm(pb);
  return HS_OK;
}

int hs_pb_read(hs_pb *pb, hs_time_ns now, const void *key, size_t key_len, hs_value *value) {
  *value = (hs_value){NULL, 0};
  int rc = pb_primary_check(pb, now);
  if (rc == HS_REPL_ENOTPRIMARY && pb->serve_reads) rc = HS_OK; /* a backup: its committed state */
  else if (rc == HS_OK && pb->commit < pb->start_seq) rc = HS_REPL_ENOTREADY;
  if (rc != HS_OK) return rc;
  pb->st.reads++;
  int64_t i = hs_repl_map_find(&pb->keys, key, key_len);
  if (i >= 0 && pb->vals[i].len) *value = (hs_value){pb->vals[i].p, pb->vals[i].len};
  return HS_OK;
}

/* ---- getters ---------------------------------------------------------------------------------------- */

hs_pb_role hs_pb_role_of(const hs_pb *pb) { return pb->role; }
uint64_t hs_pb_view(const hs_pb *pb) { return pb->view.epoch; }
uint32_t hs_pb_primary(const hs_pb *pb) { return hs_repl_view_first(&pb->view); }
uint32_t hs_pb_id(const hs_pb *pb) { return pb->id; }
bool hs_pb_crashed(const hs_pb *pb) { return pb->crashed; }
hs_pb_mode hs_pb_mode_of(const hs_pb *pb) { return pb->mode; }

void hs_pb_get_stats(const hs_pb *pb, hs_pb_stats *out) {
  *out = pb->st;
  out->role = pb->role;
  out->view = pb->view.epoch;
  out->primary = hs_repl_view_first(&pb->view);
  out->last_seq = pb_last(pb);
  out->commit_seq = pb->commit;
  out->synced = pb->view.synced;
  out->crashed = pb->crashed;
}

int hs_pb_backup_lag(const hs_pb *pb, uint32_t i, uint32_t *backup, uint64_t *lag) {
  if (pb->role != HS_PB_PRIMARY || i >= pb->n_peers) return HS_EINVAL;
  *backup = pb->peers[i].id;
  *lag = pb_last(pb) - pb->peers[i].match;
  return HS_OK;
}

uint32_t hs_pb_key_count(const hs_pb *pb) { return pb->keys.n; }

const uint8_t *hs_pb_key_at(const hs_pb *pb, uint32_t i, uint32_t *len, hs_value *value) {
  *len = pb->keys.keys[i].len;
  *value = (hs_value){pb->vals[i].p, pb->vals[i].len};
  return pb->keys.keys[i].p;
}
