/* hs_chain_obj.c - chain replication and CRAQ: versioned objects, commitment, reads and
 * version queries, state transfers (hs_chain.h). */
#include "repl/hs_chain_internal.h"

#include <stdlib.h>

/* ---- objects --------------------------------------------------------------------------------------- */

static void ch_obj_free(ch_obj *o) {
  for (uint32_t i = 0; i < o->n; i++) free(o->v[i].value);
  free(o->v);
  memset(o, 0, sizeof *o);
}

void hs_chain_clear_data(hs_chain *c) {
  for (uint32_t i = 0; i < c->keys.n; i++) ch_obj_free(&c->objs[i]);
  hs_repl_map_clear(&c->keys);
  c->applied = c->committed = 0;
  c->inflight_off = 0;
  c->succ_applied = 0;
}

static int ch_key(hs_chain *c, const uint8_t *key, uint32_t len, uint32_t *idx) {
  bool added;
  int rc = hs_repl_map_add(&c->keys, key, len, idx, &added);
  if (rc == HS_OK) rc = hs_repl_grow((void **)&c->objs, &c->objs_cap, c->keys.n, sizeof *c->objs);
  return rc;
}

/* Appends the key of write applied + 1 to the in-flight list. */
static int ch_inflight_push(hs_chain *c, uint32_t key) {
  uint64_t n = ch_inflight_n(c);
  if (c->inflight_off > 0 && c->inflight_off >= n) { /* mostly consumed: move the rest down */
    memmove(c->inflight, c->inflight + c->inflight_off, n * sizeof *c->inflight);
    c->inflight_off = 0;
  }
  if (c->inflight_off + n + 1 > c->inflight_cap) {
    uint64_t cap = c->inflight_cap ? c->inflight_cap * 2 : 64;
    uint32_t *p = realloc(c->inflight, cap * sizeof *p);
    if (!p) return HS_ENOMEM;
    c->inflight = p;
    c->inflight_cap = cap;
  }
  c->inflight[c->inflight_off + n] = key;
  return HS_OK;
}

static int ch_add_version(hs_chain *c, uint32_t idx, uint64_t seq, bool clean, const uint8_t *value, uint32_t len) {
  ch_obj *o = &c->objs[idx];
  if (hs_repl_grow((void **)&o->v, &o->cap, o->n + 1, sizeof *o->v)) return HS_ENOMEM;
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy) return HS_ENOMEM;
  memcpy(copy, value, len);
  o->v[o->n++] = (ch_version){seq, clean, copy, len};
  return HS_OK;
}

int hs_chain_apply(hs_chain *c, uint64_t seq, const uint8_t *key, uint32_t key_len, const uint8_t *value,
                   uint32_t len) {
  uint32_t idx;
  int rc = ch_key(c, key, key_len, &idx);
  if (rc == HS_OK) rc = ch_inflight_push(c, idx);
  if (rc == HS_OK) rc = ch_add_version(c, idx, seq, false, value, len);
  if (rc == HS_OK) c->applied = seq;
  return rc;
}

const ch_version *hs_chain_find_version(const hs_chain *c, uint32_t key, uint64_t seq) {
  const ch_obj *o = &c->objs[key];
  for (uint32_t i = o->n; i-- > 0;)
    if (o->v[i].seq == seq) return &o->v[i];
  return NULL;
}

/* Version seq of o becomes clean; the versions before it are forgotten. */
static void ch_obj_commit(ch_obj *o, uint64_t seq) {
  uint32_t i = 0;
  while (i < o->n && o->v[i].seq != seq) i++;
  if (i == o->n) return;
  o->v[i].clean = true;
  for (uint32_t k = 0; k < i; k++) free(o->v[k].value);
  memmove(o->v, o->v + i, (o->n - i) * sizeof *o->v);
  o->n -= i;
}

void hs_chain_commit_to(hs_chain *c, uint64_t seq, hs_time_ns now) {
  (void)now;
  if (seq > c->applied) seq = c->applied;
  if (seq <= c->committed) return;
  for (uint64_t s = c->committed + 1; s <= seq; s++) ch_obj_commit(&c->objs[ch_inflight_key(c, s)], s);
  c->inflight_off += seq - c->committed;
  c->committed = seq;
  uint32_t done = 0;
  while (done < c->writes_n && c->writes[done].seq <= seq) done++;
  if (done) {
    ch_pending_write *list = malloc(done * sizeof *list);
    if (list) memcpy(list, c->writes, done * sizeof *list);
    memmove(c->writes, c->writes + done, (c->writes_n - done) * sizeof *c->writes);
    c->writes_n -= done;
    for (uint32_t i = 0; list && i < done; i++) {
      c->st.writes_committed++;
      if (c->cb.write_done) c->cb.write_done(c->ud, list[i].tag, HS_OK, list[i].seq);
    }
    free(list);
  }
  uint32_t pred = hs_repl_view_pred(&c->view);
  if (pred) { /* the acknowledgement goes on up the chain */
    hs_repl_msg a = {.type = HS_REPL_MSG_CH_ACK, .to = pred, .epoch = c->view.epoch, .seq = c->committed,
                     .commit = c->applied};
    hs_chain_send(c, &a);
    c->st.acks_sent++;
  }
}

/* ---- reads ------------------------------------------------------------------------------------------- */

static void ch_read_done(hs_chain *c, uint64_t tag, int status, const ch_version *v) {
  if (status == HS_OK) c->st.reads_served++;
  if (c->cb.read_done)
    c->cb.read_done(c->ud, tag, status, v ? v->value : NULL, v ? v->len : 0, v ? v->seq : 0);
}

static void ch_query(hs_chain *c, const ch_pending_read *r) {
  const hs_repl_key *k = &c->keys.keys[r->key];
  hs_repl_msg q = {.type = HS_REPL_MSG_CH_QUERY, .to = hs_repl_view_last(&c->view), .epoch = c->view.epoch,
                   .context = r->id, .key = k->p, .key_len = k->len};
  hs_chain_send(c, &q);
}

/* The latest version of key idx when it may be answered at once (clean, or any at the tail),
 * else NULL with *dirty set. */
static const ch_version *ch_local_answer(const hs_chain *c, int64_t idx, bool *dirty) {
  *dirty = false;
  if (idx < 0 || c->objs[idx].n == 0) return NULL;
  const ch_obj *o = &c->objs[idx];
  const ch_version *latest = &o->v[o->n - 1];
#ifdef HS_CRAQ_UNSAFE_DIRTY_READS
  return latest; /* test-only: a dirty version answered as if it were clean */
#else
  if (c->unsafe_dirty_reads) return latest; /* test-only, at run time: the same bug */
  if (latest->clean || hs_chain_is_tail(c)) return latest;
  *dirty = true;
  return NULL;
#endif
}

int hs_chain_read(hs_chain *c, hs_time_ns now, const void *key, size_t key_len, uint64_t tag) {
  if (c->crashed) return HS_REPL_ECRASHED;
  if (c->role == HS_CHAIN_NONE) return HS_REPL_EUNAVAILABLE;
  if (!c->craq && !hs_chain_is_tail(c)) return HS_REPL_ENOTTAIL;
  if (!hs_repl_view_leased(&c->view, now)) return HS_REPL_ENOLEASE;
  int64_t idx = hs_repl_map_find(&c->keys, key, key_len);
  bool dirty;
  const ch_version *v = ch_local_answer(c, idx, &dirty);
  if (!dirty) {
    c->st.clean_reads++;
    ch_read_done(c, tag, HS_OK, v);
    return HS_OK;
  }
  if (hs_repl_grow((void **)&c->reads, &c->reads_cap, c->reads_n + 1, sizeof *c->reads)) return HS_ENOMEM;
  ch_pending_read *r = &c->reads[c->reads_n++];
  *r = (ch_pending_read){tag, ++c->next_read, (uint32_t)idx, now + c->read_timeout};
  c->st.dirty_reads++;
  ch_query(c, r);
  return HS_OK;
}

/* The tail answers with the committed version of the key: its latest (0 when none). */
int hs_chain_on_query(hs_chain *c, const hs_repl_msg *m, hs_time_ns now) {
  if (m->key_len > HS_REPL_MAX_KEY) return HS_EINVAL;
  hs_repl_msg r = {.type = HS_REPL_MSG_CH_QUERY_RESP, .to = m->from, .epoch = c->view.epoch, .context = m->context};
  if (m->epoch != c->view.epoch || !hs_chain_is_tail(c) || !hs_repl_view_leased(&c->view, now)) {
    r.flags = HS_REPL_FLAG_REJECT;
    if (m->epoch > c->view.epoch) c->ping_at = now;
  } else {
    int64_t idx = hs_repl_map_find(&c->keys, m->key, m->key_len);
    r.seq = idx >= 0 && c->objs[idx].n ? c->objs[idx].v[c->objs[idx].n - 1].seq : 0;
    c->st.version_queries++;
  }
  hs_chain_send(c, &r);
  return HS_OK;
}

static void ch_remove_read(hs_chain *c, uint32_t i) {
  memmove(c->reads + i, c->reads + i + 1, (c->reads_n - i - 1) * sizeof *c->reads);
  c->reads_n--;
}

/* The committed version s of a dirty key: answered with version s, or with the latest clean
 * version when that is at least as new (it became clean meanwhile). */
int hs_chain_on_query_resp(hs_chain *c, const hs_repl_msg *m, hs_time_ns now) {
  (void)now;
  uint32_t i = 0;
  while (i < c->reads_n && c->reads[i].id != m->context) i++;
  /* late, for an older query, or from a node that is no longer the tail */
  if (i == c->reads_n || m->epoch != c->view.epoch || m->from != hs_repl_view_last(&c->view)) return HS_OK;
  ch_pending_read r = c->reads[i];
  ch_remove_read(c, i);
  if (m->flags & HS_REPL_FLAG_REJECT) {
    ch_read_done(c, r.tag, HS_REPL_ECONFIG, NULL);
    return HS_OK;
  }
  const ch_obj *o = &c->objs[r.key];
  const ch_version *answer = NULL;
  if (o->n && o->v[0].clean && o->v[0].seq >= m->seq) answer = &o->v[0];
  else if (m->seq) answer = hs_chain_find_version(c, r.key, m->seq);
  if (m->seq && !answer) { /* this node no longer holds it (a state transfer replaced its objects) */
    ch_read_done(c, r.tag, HS_REPL_ECONFIG, NULL);
    return HS_OK;
  }
  ch_read_done(c, r.tag, HS_OK, answer);
  return HS_OK;
}

void hs_chain_fail_reads(hs_chain *c, int status) {
  uint32_t n = c->reads_n;
  c->reads_n = 0;
  for (uint32_t i = 0; i < n; i++) ch_read_done(c, c->reads[i].tag, status, NULL);
}

void hs_chain_expire_reads(hs_chain *c, hs_time_ns now) {
  for (uint32_t i = 0; i < c->reads_n;) {
    if (c->reads[i].deadline > now) {
      i++;
      continue;
    }
    uint64_t tag = c->reads[i].tag;
    ch_remove_read(c, i);
    ch_read_done(c, tag, HS_REPL_ETIMEOUT, NULL);
  }
}

/* After a configuration change: pending reads ask the new tail (or are answered here when
 * this node is the tail now). */
void hs_chain_requery(hs_chain *c) {
  for (uint32_t i = 0; i < c->reads_n;) {
    if (c->role == HS_CHAIN_NONE) {
      i++;
      continue;
    }
    if (hs_chain_is_tail(c)) {
      ch_pending_read r = c->reads[i];
      ch_remove_read(c, i);
      const ch_obj *o = &c->objs[r.key];
      ch_read_done(c, r.tag, HS_OK, o->n ? &o->v[o->n - 1] : NULL);
      continue;
    }
    ch_query(c, &c->reads[i]);
    i++;
  }
}

/* ---- state transfer ------------------------------------------------------------------------------------ */

/* Our objects (every version held) to the successor, at most every half retry interval:
 * u32 keys, then per key its bytes, u32 versions, per version u64 seq and the value. */
void hs_chain_send_snapshot(hs_chain *c, hs_time_ns now) {
  if (!c->succ || (c->snap_sent != INT64_MIN && now - c->snap_sent < c->retry_interval / 2)) return;
  hs_buf_reset(&c->snap);
  hs_wr32(&c->snap, 0);
  uint32_t count = 0;
  for (uint32_t i = 0; i < c->keys.n; i++) {
    const ch_obj *o = &c->objs[i];
    if (!o->n) continue;
    hs_wr_bytes(&c->snap, c->keys.keys[i].p, c->keys.keys[i].len);
    hs_wr32(&c->snap, o->n);
    for (uint32_t k = 0; k < o->n; k++) {
      hs_wr64(&c->snap, o->v[k].seq);
      hs_wr_bytes(&c->snap, o->v[k].value, o->v[k].len);
    }
    count++;
  }
  if (c->snap.failed || c->snap.len > HS_REPL_MAX_BLOB) return;
  hs_put32(c->snap.data, count);
  hs_repl_msg m = {.type = HS_REPL_MSG_CH_SNAPSHOT, .to = c->succ, .epoch = c->view.epoch, .seq = c->applied,
                   .commit = c->committed, .blob = c->snap.data, .blob_len = (uint32_t)c->snap.len};
  hs_chain_send(c, &m);
  c->snap_sent = now;
  c->st.snapshots_sent++;
}

/* Checks a snapshot (install == false), or installs it: per key ascending versions within
 * 1..applied, and the dirty ones (above committed) exactly committed + 1 .. applied. */
static bool ch_read_snapshot(hs_chain *c, const hs_repl_msg *m, bool install, uint8_t *seen) {
  hs_rd r = hs_rd_init(m->blob, m->blob_len);
  uint32_t nkeys = hs_rd32(&r);
  uint64_t dirty = 0;
  for (uint32_t i = 0; i < nkeys && !r.bad; i++) {
    uint32_t klen, idx = 0;
    const uint8_t *key = hs_rd_bytes(&r, HS_REPL_MAX_KEY, &klen);
    uint32_t nv = hs_rd32(&r);
    if (r.bad || nv == 0) return false;
    if (install && ch_key(c, key, klen, &idx) != HS_OK) return false;
    uint64_t prev = 0;
    for (uint32_t k = 0; k < nv; k++) {
      uint64_t seq = hs_rd64(&r);
      uint32_t vlen;
      const uint8_t *value = hs_rd_bytes(&r, HS_REPL_MAX_VALUE, &vlen);
      if (r.bad || seq <= prev || seq > m->seq || !hs_repl_value_ok(value, vlen)) return false;
      prev = seq;
      if (seq > m->commit) {
        uint64_t at = seq - m->commit - 1;
        if (!install) {
          if (seen[at]) return false;
          seen[at] = 1;
          dirty++;
        } else {
          c->inflight[at] = idx;
        }
      }
      if (install && ch_add_version(c, idx, seq, seq <= m->commit, value, vlen) != HS_OK) return false;
    }
  }
  return hs_rd_done(&r) && (install || dirty == m->seq - m->commit);
}

int hs_chain_on_snapshot(hs_chain *c, const hs_repl_msg *m, hs_time_ns now) {
  (void)now;
  if (m->commit > m->seq || m->seq - m->commit > m->blob_len) return HS_EINVAL;
  if (c->view.synced && m->seq <= c->applied) { /* nothing new in it */
    hs_repl_msg a = {.type = HS_REPL_MSG_CH_ACK, .to = m->from, .epoch = c->view.epoch, .seq = c->committed,
                     .commit = c->applied};
    hs_chain_send(c, &a);
    return HS_OK;
  }
  uint64_t n = m->seq - m->commit;
  uint8_t *seen = calloc(n ? n : 1, 1);
  if (!seen) return HS_ENOMEM;
  bool ok = ch_read_snapshot(c, m, false, seen);
  free(seen);
  if (!ok) return HS_EINVAL;
  hs_chain_clear_data(c);
  if (n > c->inflight_cap) {
    uint32_t *p = realloc(c->inflight, n * sizeof *p);
    if (!p) return HS_ENOMEM;
    c->inflight = p;
    c->inflight_cap = n;
  }
  c->applied = m->seq;
  c->committed = m->commit;
  if (!ch_read_snapshot(c, m, true, NULL)) return HS_ENOMEM;
  c->view.synced = true;
  c->st.snapshots_installed++;
  hs_repl_msg a = {.type = HS_REPL_MSG_CH_ACK, .to = m->from, .epoch = c->view.epoch, .seq = c->committed,
                   .commit = c->applied};
  hs_chain_send(c, &a);
  return HS_OK;
}

/* ---- getters ------------------------------------------------------------------------------------------- */

uint32_t hs_chain_key_count(const hs_chain *c) { return c->keys.n; }

const uint8_t *hs_chain_key_at(const hs_chain *c, uint32_t i, uint32_t *len) {
  *len = c->keys.keys[i].len;
  return c->keys.keys[i].p;
}

bool hs_chain_key_dirty(const hs_chain *c, const void *key, size_t key_len) {
  int64_t i = hs_repl_map_find(&c->keys, key, key_len);
  return i >= 0 && c->objs[i].n && !c->objs[i].v[c->objs[i].n - 1].clean;
}

uint32_t hs_chain_versions(const hs_chain *c, const void *key, size_t key_len) {
  int64_t i = hs_repl_map_find(&c->keys, key, key_len);
  return i >= 0 ? c->objs[i].n : 0;
}

int hs_chain_version_at(const hs_chain *c, const void *key, size_t key_len, uint32_t i, uint64_t *seq, bool *clean,
                        const uint8_t **value, uint32_t *len) {
  int64_t k = hs_repl_map_find(&c->keys, key, key_len);
  if (k < 0 || i >= c->objs[k].n) return HS_EINVAL;
  const ch_version *v = &c->objs[k].v[i];
  *seq = v->seq;
  *clean = v->clean;
  *value = v->value;
  *len = v->len;
  return HS_OK;
}
