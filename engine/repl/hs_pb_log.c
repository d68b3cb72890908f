/* hs_pb_log.c - primary-backup: the log and the committed store, replication on the primary
 * and on the backups, snapshots (hs_pb.h: LOG). */
#include "repl/hs_pb_internal.h"

#include <stdlib.h>

void hs_pb_send(hs_pb *pb, hs_repl_msg *m) {
  m->from = pb->id;
  pb->cb.send(pb->ud, m);
}

uint64_t hs_pb_tag_at(const hs_pb *pb, uint64_t seq) {
  if (seq == 0) return 0;
  if (seq == pb->base_seq) return pb->base_tag;
  if (seq < pb->base_seq || seq > pb_last(pb)) return 0;
  return pb->log[seq - pb->base_seq - 1].tag;
}

/* ---- data ------------------------------------------------------------------------------------------- */

void hs_pb_clear_data(hs_pb *pb) {
  for (uint32_t i = 0; i < pb->keys.n; i++) free(pb->vals[i].p);
  if (pb->vals) memset(pb->vals, 0, (size_t)pb->vals_cap * sizeof *pb->vals);
  hs_repl_map_clear(&pb->keys);
  for (uint64_t i = 0; i < pb->log_n; i++) free(pb->log[i].value);
  pb->log_n = 0;
  pb->base_seq = pb->base_tag = pb->commit = 0;
  pb->verified = pb->seen_primary_commit = 0;
  pb->start_seq = 0;
}

static int pb_key(hs_pb *pb, const uint8_t *key, uint32_t len, uint32_t *idx) {
  bool added;
  int rc = hs_repl_map_add(&pb->keys, key, len, idx, &added);
  if (rc == HS_OK) rc = hs_repl_grow((void **)&pb->vals, &pb->vals_cap, pb->keys.n, sizeof *pb->vals);
  return rc;
}

static int pb_store(hs_pb *pb, uint32_t idx, const uint8_t *value, uint32_t len) {
  uint8_t *p = realloc(pb->vals[idx].p, len ? len : 1);
  if (!p) return HS_ENOMEM;
  memcpy(p, value, len);
  pb->vals[idx] = (pb_value){p, len};
  return HS_OK;
}

int hs_pb_log_append(hs_pb *pb, uint64_t tag, const uint8_t *key, uint32_t key_len, const uint8_t *value,
                     uint32_t value_len) {
  uint32_t idx;
  int rc = pb_key(pb, key, key_len, &idx);
  if (rc != HS_OK) return rc;
  if (pb->log_n == pb->log_cap) {
    uint64_t cap = pb->log_cap ? pb->log_cap * 2 : 64;
    pb_entry *l = realloc(pb->log, cap * sizeof *l);
    if (!l) return HS_ENOMEM;
    pb->log = l;
    pb->log_cap = cap;
  }
  uint8_t *v = malloc(value_len ? value_len : 1);
  if (!v) return HS_ENOMEM;
  memcpy(v, value, value_len);
  pb->log[pb->log_n++] = (pb_entry){tag, idx, v, value_len};
  return HS_OK;
}

void hs_pb_log_truncate(hs_pb *pb, uint64_t from) {
  while (pb_last(pb) >= from && pb->log_n) free(pb->log[--pb->log_n].value);
}

void hs_pb_compact(hs_pb *pb) {
  uint64_t floor = pb->commit;
  if (pb->role == HS_PB_PRIMARY) {
    for (uint32_t i = 0; i < pb->n_peers; i++)
      if (pb->peers[i].match < floor) floor = pb->peers[i].match;
    if (pb->commit - floor > pb->max_log) floor = pb->commit - pb->max_log;
    if (floor < pb->base_seq + 256) return; /* drop in batches */
  }
  if (floor <= pb->base_seq) return;
  uint64_t drop = floor - pb->base_seq;
  uint64_t tag = hs_pb_tag_at(pb, floor);
  for (uint64_t i = 0; i < drop; i++) free(pb->log[i].value);
  memmove(pb->log, pb->log + drop, (pb->log_n - drop) * sizeof *pb->log);
  pb->log_n -= drop;
  pb->base_seq = floor;
  pb->base_tag = tag;
}

void hs_pb_commit_to(hs_pb *pb, uint64_t c, hs_time_ns now) {
  if (c > pb_last(pb)) c = pb_last(pb);
  if (c <= pb->commit) return;
  for (uint64_t s = pb->commit + 1; s <= c; s++) {
    pb_entry *e = pb_entry_at(pb, s);
    if (pb_store(pb, e->key, e->value, e->value_len) != HS_OK) {
      c = s - 1; /* out of memory: commit what was applied */
      break;
    }
  }
  pb->commit = c;
  uint32_t done = 0;
  while (done < pb->pending_n && pb->pending[done].seq <= c) done++;
  if (done) {
    pb_pending *list = malloc(done * sizeof *list);
    if (list) memcpy(list, pb->pending, done * sizeof *list);
    memmove(pb->pending, pb->pending + done, (pb->pending_n - done) * sizeof *pb->pending);
    pb->pending_n -= done;
    for (uint32_t i = 0; list && i < done; i++) {
      pb->st.writes_committed++;
      pb->st.write_latency_sum_ns += (uint64_t)(now - list[i].accepted);
      if (pb->cb.write_done) pb->cb.write_done(pb->ud, list[i].tag, HS_OK, list[i].seq);
    }
    free(list);
  }
  hs_pb_compact(pb);
}

/* ---- the primary -------------------------------------------------------------------------------------- */

static pb_peer *pb_peer_of(hs_pb *pb, uint32_t id) {
  for (uint32_t i = 0; i < pb->n_peers; i++)
    if (pb->peers[i].id == id) return &pb->peers[i];
  return NULL;
}

/* A REPLICATE: (prev, tag at prev) and, when with_entry, the entry at prev + 1. */
static void pb_send_replicate(hs_pb *pb, pb_peer *p, uint64_t prev, bool with_entry, hs_time_ns now) {
  hs_repl_msg m = {.type = HS_REPL_MSG_PB_REPLICATE, .to = p->id, .epoch = pb->view.epoch, .seq = prev,
                   .prev_tag = hs_pb_tag_at(pb, prev), .commit = pb->commit, .context = pb->start_seq};
  if (with_entry) {
    pb_entry *e = pb_entry_at(pb, prev + 1);
    const hs_repl_key *k = &pb->keys.keys[e->key];
    m.tag = e->tag;
    m.key = k->p;
    m.key_len = k->len;
    m.value = e->value;
    m.value_len = e->value_len;
    pb->st.replications_sent++;
  }
  hs_pb_send(pb, &m);
  p->last_sent = now;
}

/* The committed state, as a snapshot at the commit point: u32 count, (key, value) each. */
static void pb_send_snapshot(hs_pb *pb, pb_peer *p, hs_time_ns now) {
  hs_buf_reset(&pb->snap);
  hs_wr32(&pb->snap, 0);
  uint32_t count = 0;
  for (uint32_t i = 0; i < pb->keys.n; i++) {
    if (!pb->vals[i].len) continue;
    hs_wr_bytes(&pb->snap, pb->keys.keys[i].p, pb->keys.keys[i].len);
    hs_wr_bytes(&pb->snap, pb->vals[i].p, pb->vals[i].len);
    count++;
  }
  if (pb->snap.failed || pb->snap.len > HS_REPL_MAX_BLOB) return;
  hs_put32(pb->snap.data, count);
  hs_repl_msg m = {.type = HS_REPL_MSG_PB_SNAPSHOT, .to = p->id, .epoch = pb->view.epoch, .seq = pb->commit,
                   .tag = hs_pb_tag_at(pb, pb->commit), .commit = pb->commit, .context = pb->start_seq,
                   .blob = pb->snap.data,
                   .blob_len = (uint32_t)pb->snap.len};
  hs_pb_send(pb, &m);
  pb->st.snapshots_sent++;
  p->next = pb->commit + 1;
  p->last_sent = now;
}

/* Sends p the entries from p->next within the window, or a snapshot when they left the log. */
static void pb_send_from(hs_pb *pb, pb_peer *p, hs_time_ns now) {
  if (p->next <= pb->base_seq) pb_send_snapshot(pb, p, now);
  while (p->next <= pb_last(pb) && p->next > pb->base_seq && p->next - p->match <= pb->max_inflight) {
    pb_send_replicate(pb, p, p->next - 1, true, now);
    p->next++;
  }
}

/* What p needs now: a probe, the missing entries, or a heartbeat carrying the commit point. */
static void pb_send_peer(hs_pb *pb, pb_peer *p, hs_time_ns now) {
  if (p->probing) {
    pb_send_replicate(pb, p, pb_last(pb), false, now);
  } else if (p->match < pb_last(pb)) {
    p->next = p->match + 1;
    pb_send_from(pb, p, now);
  } else {
    pb_send_replicate(pb, p, p->match, false, now);
  }
}

void hs_pb_send_all(hs_pb *pb, hs_time_ns now) {
  for (uint32_t i = 0; i < pb->n_peers; i++) pb_send_peer(pb, &pb->peers[i], now);
}

void hs_pb_retry(hs_pb *pb, hs_time_ns now) {
  for (uint32_t i = 0; i < pb->n_peers; i++)
    if (now - pb->peers[i].last_sent >= pb->retry_interval) pb_send_peer(pb, &pb->peers[i], now);
}

void hs_pb_replicate_new(hs_pb *pb, uint64_t seq, hs_time_ns now) {
  for (uint32_t i = 0; i < pb->n_peers; i++) {
    pb_peer *p = &pb->peers[i];
    if (!p->probing && p->next == seq && seq - p->match <= pb->max_inflight) {
      pb_send_replicate(pb, p, seq - 1, true, now);
      p->next++;
    }
  }
}

static int pb_cmp_desc(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x > y ? -1 : x < y;
}

/* The commit point the mode allows: every backup's match (sync); the k-th highest among the
 * backups the master says are synced (semi-sync: only those can be promoted, so only their
 * copies keep a write; with fewer than k, all of them; with backups but none synced, none is
 * committed until one is); or the log's end (async, or no backups). Only under the lease: once
 * it expired the master may be choosing a successor from the backups' reports, which must hold
 * every write this primary acknowledged (hs_repl_master.h, RULES). */
void hs_pb_advance_commit(hs_pb *pb, hs_time_ns now) {
  if (pb->role != HS_PB_PRIMARY || !hs_repl_view_leased(&pb->view, now)) return;
  uint64_t c = pb_last(pb);
  uint32_t n = 0, k = 0;
  if (pb->mode == HS_PB_SYNC) k = pb->n_peers;
  else if (pb->mode == HS_PB_SEMI_SYNC && pb->semi_acks && pb->n_peers) k = pb->semi_acks;
  for (uint32_t i = 0; k && i < pb->n_peers; i++)
    if (pb->mode == HS_PB_SYNC || hs_repl_view_synced_at(&pb->view, i + 1))
      pb->match_scratch[n++] = pb->peers[i].match;
  if (k > 0 && n == 0) return; /* semi-sync: backups, but none synced yet */
  if (k > n) k = n;
  if (k > 0) {
    qsort(pb->match_scratch, n, sizeof *pb->match_scratch, pb_cmp_desc);
    c = pb->match_scratch[k - 1];
  }
  hs_pb_commit_to(pb, c, now);
}

int hs_pb_on_ack(hs_pb *pb, const hs_repl_msg *m, hs_time_ns now) {
  if (m->epoch != pb->view.epoch) {
    if ((m->flags & HS_REPL_FLAG_STALE) && m->epoch > pb->view.epoch) pb->ping_at = now; /* deposed: ask */
    return HS_OK;
  }
  pb_peer *p = pb->role == HS_PB_PRIMARY ? pb_peer_of(pb, m->from) : NULL;
  if (!p) return HS_OK;
  pb->st.acks_received++;
  if (m->flags & HS_REPL_FLAG_REJECT) {
    /* the backup's commit point: resend from there if our logs agree on it, else a snapshot */
    uint64_t hint = m->seq;
    p->probing = false;
    if (hint < p->match) return HS_OK; /* an old answer */
    /* Already resent from this very point, recently: the rest of a window sent before is
     * rejected too, one answer per message, and resending the window for each would multiply
     * the traffic (with duplication and reordering, without bound). A loss is the retry
     * timer's business. */
    if (hint == p->resent_from && now - p->resent_at < pb->retry_interval) return HS_OK;
    p->resent_from = hint;
    p->resent_at = now;
    if (hint >= pb->base_seq && hint <= pb_last(pb) && hs_pb_tag_at(pb, hint) == m->tag) {
      p->match = hint;
      p->next = hint + 1;
      pb_send_from(pb, p, now);
    } else {
      pb_send_snapshot(pb, p, now);
    }
    return HS_OK;
  }
  if (m->seq > pb_last(pb)) return HS_EINVAL;
  if (m->seq > p->match) p->match = m->seq;
  p->probing = false;
  if (p->next <= p->match) p->next = p->match + 1;
  hs_pb_advance_commit(pb, now);
  pb_send_from(pb, p, now);
  return HS_OK;
}

/* ---- the backups --------------------------------------------------------------------------------------- */

static void pb_ack(hs_pb *pb, uint32_t to, uint32_t flags, uint64_t epoch, uint64_t seq, uint64_t tag) {
  hs_repl_msg a = {.type = HS_REPL_MSG_PB_ACK, .to = to, .flags = flags, .epoch = epoch, .seq = seq, .tag = tag};
  hs_pb_send(pb, &a);
}

/* Whether a replication message comes from this view's primary; answers an older view's with
 * STALE. Returns 1 to go on, 0 to ignore, HS_EINVAL. */
static int pb_from_primary(hs_pb *pb, const hs_repl_msg *m, hs_time_ns now) {
  if (m->epoch < pb->view.epoch) {
    pb->st.stale_refused++;
    pb_ack(pb, m->from, HS_REPL_FLAG_STALE, pb->view.epoch, 0, 0);
    return 0;
  }
  if (m->epoch > pb->view.epoch) { /* a view not known yet: ask the master soon */
    pb->ping_at = now;
    return 0;
  }
  if (m->from != hs_repl_view_first(&pb->view)) return HS_EINVAL;
  return pb->role == HS_PB_BACKUP ? 1 : 0;
}

/* The primary's commit point, and the end of the log it started its view with: everything
 * committed before this view is at or below it, everything committed since went through this
 * backup. Holding both, the backup holds every committed write: it is synced. */
static void pb_learn_commit(hs_pb *pb, uint64_t primary_commit, uint64_t primary_start, hs_time_ns now) {
  if (primary_commit > pb->seen_primary_commit) pb->seen_primary_commit = primary_commit;
  uint64_t c = primary_commit < pb->verified ? primary_commit : pb->verified;
  hs_pb_commit_to(pb, c, now);
  if (!pb->view.synced && pb->verified >= primary_commit && pb->verified >= primary_start) {
    pb->view.synced = true; /* tell the master */
    pb->ping_at = now;
  }
}

int hs_pb_on_replicate(hs_pb *pb, const hs_repl_msg *m, hs_time_ns now) {
  int go = pb_from_primary(pb, m, now);
  if (go <= 0) return go;
  bool entry = m->value_len > 0;
  if (entry && (m->tag > m->epoch || m->key_len > HS_REPL_MAX_KEY || !hs_repl_value_ok(m->value, m->value_len)))
    return HS_EINVAL;
  uint64_t prev = m->seq;
  if (prev < pb->base_seq || prev > pb_last(pb) || hs_pb_tag_at(pb, prev) != m->prev_tag) {
    pb_ack(pb, m->from, HS_REPL_FLAG_REJECT, pb->view.epoch, pb->commit, hs_pb_tag_at(pb, pb->commit));
    if (m->commit > pb->seen_primary_commit) pb->seen_primary_commit = m->commit;
    return HS_OK;
  }
  if (prev > pb->verified) pb->verified = prev;
  if (entry) {
    uint64_t s = prev + 1;
    if (s <= pb_last(pb) && hs_pb_tag_at(pb, s) != m->tag) hs_pb_log_truncate(pb, s); /* an older view's */
    if (s > pb_last(pb)) {
      int rc = hs_pb_log_append(pb, m->tag, m->key, m->key_len, m->value, m->value_len);
      if (rc != HS_OK) return rc;
      pb->st.replications_applied++;
    }
    if (s > pb->verified) pb->verified = s;
  }
  pb_learn_commit(pb, m->commit, m->context, now);
  pb_ack(pb, m->from, 0, pb->view.epoch, pb->verified, 0);
  return HS_OK;
}

/* Reads a snapshot blob: checks it (store == false), or replaces the store with it. */
static bool pb_read_snapshot(hs_pb *pb, const hs_repl_msg *m, bool store) {
  hs_rd r = hs_rd_init(m->blob, m->blob_len);
  uint32_t n = hs_rd32(&r);
  for (uint32_t i = 0; i < n && !r.bad; i++) {
    uint32_t klen, vlen, idx;
    const uint8_t *key = hs_rd_bytes(&r, HS_REPL_MAX_KEY, &klen);
    const uint8_t *value = hs_rd_bytes(&r, HS_REPL_MAX_VALUE, &vlen);
    if (r.bad || !hs_repl_value_ok(value, vlen)) return false;
    if (store && (pb_key(pb, key, klen, &idx) != HS_OK || pb_store(pb, idx, value, vlen) != HS_OK)) return false;
  }
  return hs_rd_done(&r);
}

int hs_pb_on_snapshot(hs_pb *pb, const hs_repl_msg *m, hs_time_ns now) {
  int go = pb_from_primary(pb, m, now);
  if (go <= 0) return go;
  if (m->tag > m->epoch || m->seq > m->commit || !pb_read_snapshot(pb, m, false)) return HS_EINVAL;
  if (pb->verified < m->seq) {
    hs_pb_clear_data(pb);
    if (!pb_read_snapshot(pb, m, true)) return HS_ENOMEM;
    pb->base_seq = pb->commit = pb->verified = m->seq;
    pb->base_tag = m->tag;
    pb->st.snapshots_installed++;
  }
  pb_learn_commit(pb, m->commit, m->context, now);
  pb_ack(pb, m->from, 0, pb->view.epoch, pb->verified, 0);
  return HS_OK;
}
