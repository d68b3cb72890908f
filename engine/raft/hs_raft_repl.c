/*
 * hs_raft_repl.c - log replication on both sides, commitment, applying, the proposals
 * accepted here, and snapshots (taking them, sending them, installing them).
 *
 * LEADER SIDE. Each member has a progress record (hs_raft_peer):
 *   PROBE      after an election or a rejection: one AppendEntries at next_index is
 *              outstanding (probe_sent); the answer, or the next heartbeat answer, unpauses it.
 *   REPLICATE  the follower matched: AppendEntries are pipelined, next_index advancing on each
 *              send, at most max_inflight unacknowledged. A heartbeat answer that finds the
 *              oldest unacknowledged message sent more than a heartbeat interval ago takes it
 *              as lost and goes back to PROBE from match + 1.
 *   SNAPSHOT   next_index was compacted away: the snapshot was sent, and the follower waits
 *              for its answer (after an election timeout without one, it probes past it).
 * A rejection carries a conflict hint; the leader jumps next_index past its own last entry of
 * the conflicting term, or to the hinted index if it has no entry of that term, so a divergent
 * suffix costs one round trip per term, not per entry. Stale answers (old rejections,
 * reordered acknowledgements) never move match_index backwards.
 *
 * The message's entries point into the leader's log (r->scratch holds the views): valid only
 * during the send callback.
 */
#include "raft/hs_raft_internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- Progress ----------------------------------------------------------------------------- */

void hs_raft_repl_free_inflight(hs_raft_peer *p) { p->infl_head = p->infl_count = 0; }

static void repl_infl_push(hs_raft *r, hs_raft_peer *p, uint64_t last) {
  uint32_t slot = (p->infl_head + p->infl_count) % r->max_inflight;
  p->infl_last[slot] = last;
  p->infl_sent[slot] = r->now;
  p->infl_count++;
}

static void repl_infl_free_to(hs_raft *r, hs_raft_peer *p, uint64_t index) {
  while (p->infl_count && p->infl_last[p->infl_head] <= index) {
    p->infl_head = (p->infl_head + 1) % r->max_inflight;
    p->infl_count--;
  }
}

void hs_raft_repl_reset_progress(hs_raft *r, hs_raft_peer *p) {
  uint64_t last = hs_raft_log_last(&r->log);
  p->match = p->id == r->id ? last : 0;
  p->next = last + 1;
  p->mode = HS_RAFT_PR_PROBE;
  p->probe_sent = false;
  p->recent_active = false;
  p->read_ack = 0;
  p->pending_snapshot = 0;
  p->snapshot_sent_ns = 0;
  hs_raft_repl_free_inflight(p);
}

static void repl_become_probe(hs_raft_peer *p, uint64_t next) {
  p->mode = HS_RAFT_PR_PROBE;
  p->probe_sent = false;
  p->next = next;
  hs_raft_repl_free_inflight(p);
}

static void repl_become_replicate(hs_raft_peer *p) {
  p->mode = HS_RAFT_PR_REPLICATE;
  p->probe_sent = false;
  p->next = p->match + 1;
  hs_raft_repl_free_inflight(p);
}

/* ---- Sending ---------------------------------------------------------------------------------- */

static void repl_send_snapshot(hs_raft *r, hs_raft_peer *p) {
  size_t conf_len = hs_raft_conf_encode(&r->snap_conf, r->conf_buf, sizeof r->conf_buf);
  hs_raft_msg m = {
      .type = HS_RAFT_MSG_SNAP,
      .to = p->id,
      .term = r->term,
      .index = r->log.snap_index,
      .log_term = r->log.snap_term,
      .commit = r->commit,
      .conf = r->conf_buf,
      .conf_len = (uint32_t)conf_len,
      .snapshot = r->snap_len ? r->snap_data : NULL,
      .snapshot_len = r->snap_len,
  };
  p->mode = HS_RAFT_PR_SNAPSHOT;
  p->probe_sent = false;
  p->pending_snapshot = r->log.snap_index;
  p->snapshot_sent_ns = r->now;
  hs_raft_repl_free_inflight(p);
  hs_raft_send(r, &m);
}

/* Sends p what it lacks from next_index on, within the batch limits, unless its progress is
 * paused. allow_empty: send even without entries (a probe, or to carry the commit index). */
void hs_raft_repl_send_append(hs_raft *r, hs_raft_peer *p, bool allow_empty) {
  if (p->id == r->id) return;
  if (p->mode == HS_RAFT_PR_SNAPSHOT) return;
  if (p->mode == HS_RAFT_PR_PROBE && p->probe_sent) return;
  if (p->mode == HS_RAFT_PR_REPLICATE && p->infl_count >= r->max_inflight) return;
  uint64_t last = hs_raft_log_last(&r->log);
  if (p->next > last + 1) p->next = last + 1;
  uint64_t prev = p->next - 1, prev_term;
  if (!hs_raft_log_term(&r->log, prev, &prev_term)) { /* compacted away */
    repl_send_snapshot(r, p);
    return;
  }
  uint32_t n = 0;
  uint64_t bytes = 0;
  for (uint64_t i = p->next; i <= last && n < r->max_msg_entries; i++) {
    const hs_raft_rec *rec = hs_raft_log_rec(&r->log, i);
    if (n > 0 && bytes + rec->len > r->max_msg_bytes) break;
    hs_raft_log_view(&r->log, i, &r->scratch[n++]);
    bytes += rec->len;
  }
  if (n == 0 && !allow_empty) return;
  hs_raft_msg m = {
      .type = HS_RAFT_MSG_APP,
      .to = p->id,
      .term = r->term,
      .index = prev,
      .log_term = prev_term,
      .commit = r->commit,
      .entries = n ? r->scratch : NULL,
      .n_entries = n,
  };
  if (p->mode == HS_RAFT_PR_PROBE) {
    p->probe_sent = true;
  } else if (n > 0) {
    p->next = prev + n + 1;
    repl_infl_push(r, p, prev + n);
  }
  hs_raft_send(r, &m);
}

void hs_raft_repl_bcast_append(hs_raft *r, bool allow_empty) {
  for (uint32_t i = 0; i < r->n_peers; i++) hs_raft_repl_send_append(r, &r->peers[i], allow_empty);
}

/* A heartbeat carries commit = min(commit, match): a follower may commit only what it is known
 * to share with the leader. context = the latest read round (ReadIndex). */
void hs_raft_repl_bcast_heartbeat(hs_raft *r) {
  for (uint32_t i = 0; i < r->n_peers; i++) {
    hs_raft_peer *p = &r->peers[i];
    if (p->id == r->id) continue;
    hs_raft_msg m = {
        .type = HS_RAFT_MSG_HEARTBEAT,
        .to = p->id,
        .term = r->term,
        .commit = p->match < r->commit ? p->match : r->commit,
        .context = r->read_seq,
    };
    hs_raft_send(r, &m);
  }
}

/* ---- Proposals accepted here -------------------------------------------------------------------- */

int hs_raft_repl_track(hs_raft *r, uint64_t index, uint64_t tag) {
  if (r->props_head + r->props_len == r->props_cap) {
    if (r->props_head > 0) { /* slide down first */
      memmove(r->props, r->props + r->props_head, r->props_len * sizeof *r->props);
      r->props_head = 0;
    }
    if (r->props_len == r->props_cap) {
      size_t cap = r->props_cap ? r->props_cap * 2 : 64;
      hs_raft_prop *p = realloc(r->props, cap * sizeof *p);
      if (!p) return HS_ENOMEM;
      r->props = p;
      r->props_cap = cap;
    }
  }
  r->props[r->props_head + r->props_len++] = (hs_raft_prop){index, r->term, tag};
  return HS_OK;
}

/* Reports every tracked proposal at index >= from_index lost, in index order. */
void hs_raft_repl_lose_props(hs_raft *r, uint64_t from_index, int reason) {
  size_t keep = r->props_len;
  while (keep > 0 && r->props[r->props_head + keep - 1].index >= from_index) keep--;
  size_t lost = r->props_len - keep;
  r->props_len = keep;
  for (size_t i = 0; i < lost; i++) {
    const hs_raft_prop *p = &r->props[r->props_head + keep + i];
    r->stats.proposals_lost++;
    if (r->cb.proposal_lost) r->cb.proposal_lost(r->ud, p->tag, p->index, reason);
  }
  if (r->props_len == 0) r->props_head = 0;
}

/* ---- Commitment and applying ----------------------------------------------------------------- */

/* The state machine's snapshot replaces the applied prefix of the log once it is long enough. */
static void repl_maybe_snapshot(hs_raft *r) {
  if (!r->snapshot_threshold || !r->cb.snapshot_take) return;
  if (r->applied <= r->log.snap_index || r->applied - r->log.snap_index < r->snapshot_threshold) return;
  size_t len = 0;
  const uint8_t *data = r->cb.snapshot_take(r->ud, r->applied, &len);
  if (!data) return; /* declined */
  hs_raft_conf conf;
  hs_raft_conf_at(r, r->applied, &conf);
  uint8_t *copy = r->snap_data;
  if (len > r->snap_cap) {
    copy = realloc(r->snap_data, len);
    if (!copy) return;
    r->snap_data = copy;
    r->snap_cap = len;
  }
  if (len) memcpy(r->snap_data, data, len);
  r->snap_len = len;
  r->snap_conf = conf;
  hs_raft_log_compact(&r->log, r->applied);
  if (r->conf_index <= r->log.snap_index) r->conf_index = 0;
  r->stats.snapshots_taken++;
  if (r->cb.persist_snapshot) r->cb.persist_snapshot(r->ud, r->log.snap_index, r->log.snap_term);
}

static void repl_apply_committed(hs_raft *r) {
  while (r->applied < r->commit) {
    uint64_t i = r->applied + 1;
    hs_raft_entry e;
    hs_raft_log_view(&r->log, i, &e);
    r->applied = i;
    r->stats.entries_applied++;
    if (e.type == HS_RAFT_ENTRY_NORMAL) r->stats.commands_committed++;
    bool mine = false;
    uint64_t tag = 0;
    while (r->props_len && r->props[r->props_head].index <= i) {
      hs_raft_prop p = r->props[r->props_head];
      r->props_head++;
      r->props_len--;
      if (p.index == i && p.term == e.term) {
        mine = true;
        tag = p.tag;
      } else { /* cannot happen: a replaced entry is reported when truncated */
        r->stats.proposals_lost++;
        if (r->cb.proposal_lost) r->cb.proposal_lost(r->ud, p.tag, p.index, HS_RAFT_ETRUNCATED);
      }
    }
    if (r->props_len == 0) r->props_head = 0;
    if (r->cb.apply) r->cb.apply(r->ud, &e, mine, tag);
  }
  repl_maybe_snapshot(r);
  hs_raft_read_process(r);
}

static void repl_commit_to(hs_raft *r, uint64_t index) {
  uint64_t last = hs_raft_log_last(&r->log);
  if (index > last) index = last;
  if (index <= r->commit) return;
  r->commit = index;
  repl_apply_committed(r);
}

/* Leader: the highest index stored on a quorum of voters commits, if it is of the current
 * term (5.4.2: earlier-term entries are committed only indirectly, by a later one). A leader
 * that removed itself from the configuration steps down once that change is committed. */
void hs_raft_repl_maybe_commit(hs_raft *r) {
  if (r->role != HS_RAFT_LEADER) return;
  uint32_t n = 0;
  uint64_t last = hs_raft_log_last(&r->log);
  for (uint32_t i = 0; i < r->n_peers; i++) {
    const hs_raft_peer *p = &r->peers[i];
    if (!p->voter) continue;
    uint64_t m = p->id == r->id ? last : p->match;
    uint32_t j = n++; /* insertion sort, descending */
    while (j > 0 && r->match_scratch[j - 1] < m) {
      r->match_scratch[j] = r->match_scratch[j - 1];
      j--;
    }
    r->match_scratch[j] = m;
  }
  uint32_t q = hs_raft_quorum(r);
  if (n < q) return;
  uint64_t candidate = r->match_scratch[q - 1], t = 0;
  if (candidate <= r->commit || !hs_raft_log_term(&r->log, candidate, &t) || t != r->term) return;
  repl_commit_to(r, candidate);
  if (r->role != HS_RAFT_LEADER) return;
  hs_raft_read_on_commit(r);
  hs_raft_repl_bcast_append(r, true); /* tell the followers */
  if (!hs_raft_is_voter(r) && r->commit >= r->conf_index) hs_raft_become_follower(r, r->term, HS_RAFT_NONE);
}

/* Appends an entry of the current term to the leader's own log and counts it as stored here. */
int hs_raft_repl_append_local(hs_raft *r, hs_raft_entry_type type, const void *data, size_t len, uint64_t *index) {
  int rc = hs_raft_log_append(&r->log, r->term, type, data, len);
  if (rc) return rc;
  uint64_t i = hs_raft_log_last(&r->log);
  hs_raft_peer *self = hs_raft_peer_find(r, r->id);
  if (self) {
    self->match = i;
    self->next = i + 1;
  }
  if (r->cb.persist_entries) r->cb.persist_entries(r->ud, i, i);
  *index = i;
  return HS_OK;
}

/* ---- Follower side ------------------------------------------------------------------------------- */

static void repl_heard_leader(hs_raft *r) {
  r->leader_contact_ns = r->now;
  hs_raft_arm_election(r);
}

/*
 * AppendEntries (Figure 2, receiver implementation). Entries at or below the commit index are
 * known to match the leader's and are skipped. The previous entry must match, else the
 * rejection carries the conflict hint. Entries already present with the same term are kept
 * (a duplicate is idempotent); the first conflicting one and all that follow are deleted
 * (never a committed one); the rest is appended and persisted before the acknowledgement,
 * which names the last index of this message (not of the log: what follows is unverified).
 */
void hs_raft_repl_on_append(hs_raft *r, const hs_raft_msg *m) {
  repl_heard_leader(r);
  hs_raft_msg resp = {.type = HS_RAFT_MSG_APP_RESP, .to = m->from, .term = r->term};
  uint64_t prev = m->index, prev_term = m->log_term;
  const hs_raft_entry *ents = m->entries;
  uint64_t n = m->n_entries;
  for (uint64_t k = 0; k < n; k++)
    if (ents[k].index != prev + 1 + k || ents[k].type > HS_RAFT_ENTRY_CONF) return; /* malformed */

  if (prev < r->commit) {
    uint64_t skip = r->commit - prev;
    if (skip >= n) {
      resp.index = r->commit;
      hs_raft_send(r, &resp);
      return;
    }
    ents += skip;
    n -= skip;
    prev = r->commit;
    hs_raft_log_term(&r->log, prev, &prev_term);
  }
  uint64_t last = hs_raft_log_last(&r->log), t = 0;
  if (!hs_raft_log_term(&r->log, prev, &t) || t != prev_term) {
    resp.reject = true;
    resp.index = m->index;
    if (prev > last || prev <= r->log.snap_index) {
      resp.hint_term = 0;
      resp.hint_index = last + 1;
    } else {
      resp.hint_term = t;
      resp.hint_index = hs_raft_log_term_start(&r->log, prev);
    }
    hs_raft_send(r, &resp);
    return;
  }

  uint64_t first_new = 0;
  bool conf_dirty = false;
  int rc = HS_OK;
  for (uint64_t k = 0; k < n; k++) {
    uint64_t idx = prev + 1 + k;
    if (idx <= hs_raft_log_last(&r->log)) {
      if (hs_raft_log_rec(&r->log, idx)->term == ents[k].term) continue;
      if (idx <= r->commit) return; /* would delete a committed entry: cannot come from a leader */
      if (r->conf_index >= idx) conf_dirty = true;
      hs_raft_log_truncate(&r->log, idx);
      hs_raft_repl_lose_props(r, idx, HS_RAFT_ETRUNCATED);
    }
    rc = hs_raft_log_append(&r->log, ents[k].term, ents[k].type, ents[k].data, ents[k].len);
    if (rc) {
      n = k; /* acknowledge what was stored */
      break;
    }
    if (!first_new) first_new = idx;
    if (ents[k].type == HS_RAFT_ENTRY_CONF) conf_dirty = true;
  }
  if (conf_dirty) hs_raft_conf_recompute(r);
  if (first_new && r->cb.persist_entries) r->cb.persist_entries(r->ud, first_new, hs_raft_log_last(&r->log));
  uint64_t last_new = prev + n;
  if (m->commit > r->commit) repl_commit_to(r, m->commit < last_new ? m->commit : last_new);
  resp.index = last_new;
  hs_raft_send(r, &resp);
}

void hs_raft_repl_on_heartbeat(hs_raft *r, const hs_raft_msg *m) {
  repl_heard_leader(r);
  if (m->commit > r->commit) repl_commit_to(r, m->commit);
  hs_raft_msg resp = {
      .type = HS_RAFT_MSG_HEARTBEAT_RESP,
      .to = m->from,
      .term = r->term,
      .context = m->context,
      .index = hs_raft_log_last(&r->log),
  };
  hs_raft_send(r, &resp);
}

/*
 * InstallSnapshot (single chunk). A snapshot at or below the commit index is old news. If the
 * log has the snapshot's last entry, the log already matches up to there: commit it and keep
 * what follows. Otherwise the whole log is replaced by the snapshot and the state machine
 * restored from it; proposals tracked here can no longer be followed (outcome unknown).
 */
void hs_raft_repl_on_snapshot(hs_raft *r, const hs_raft_msg *m) {
  repl_heard_leader(r);
  hs_raft_msg resp = {.type = HS_RAFT_MSG_APP_RESP, .to = m->from, .term = r->term};
  if (m->index <= r->commit) {
    resp.index = r->commit;
    hs_raft_send(r, &resp);
    return;
  }
  hs_raft_conf conf;
  if (m->index == 0 || hs_raft_conf_decode(&conf, m->conf, m->conf_len) || (m->snapshot_len && !m->snapshot))
    return; /* malformed */
  uint64_t t;
  if (hs_raft_log_term(&r->log, m->index, &t) && t == m->log_term) {
    repl_commit_to(r, m->index);
  } else {
    uint8_t *copy = r->snap_data;
    if (m->snapshot_len > r->snap_cap) {
      copy = realloc(r->snap_data, m->snapshot_len);
      if (!copy) return;
      r->snap_data = copy;
      r->snap_cap = m->snapshot_len;
    }
    if (m->snapshot_len) memcpy(r->snap_data, m->snapshot, m->snapshot_len);
    r->snap_len = m->snapshot_len;
    hs_raft_repl_lose_props(r, 0, HS_RAFT_ESNAPSHOT);
    hs_raft_log_reset(&r->log, m->index, m->log_term);
    r->snap_conf = conf;
    hs_raft_conf_recompute(r);
    r->commit = r->applied = m->index;
    r->stats.snapshots_installed++;
    if (r->cb.persist_snapshot) r->cb.persist_snapshot(r->ud, m->index, m->log_term);
    if (r->cb.snapshot_restore)
      r->cb.snapshot_restore(r->ud, m->index, m->log_term, r->snap_len ? r->snap_data : NULL, r->snap_len);
  }
  resp.index = m->index;
  hs_raft_send(r, &resp);
}

/* ---- Leader side: answers ------------------------------------------------------------------------ */

void hs_raft_repl_on_append_resp(hs_raft *r, const hs_raft_msg *m) {
  hs_raft_peer *p = hs_raft_peer_find(r, m->from);
  if (!p || p->id == r->id) return;
  p->recent_active = true;
  uint64_t last = hs_raft_log_last(&r->log);
  if (m->reject) {
    if (p->mode == HS_RAFT_PR_SNAPSHOT) return;
    if (p->mode == HS_RAFT_PR_REPLICATE ? m->index <= p->match : m->index != p->next - 1) return; /* stale */
    uint64_t next = m->hint_index;
    if (m->hint_term) {
      uint64_t j = hs_raft_log_last_at_most(&r->log, m->index, m->hint_term);
      uint64_t tj = 0;
      if (j > r->log.snap_index && hs_raft_log_term(&r->log, j, &tj) && tj == m->hint_term) next = j + 1;
    }
    if (next > m->index) next = m->index;
    if (next < p->match + 1) next = p->match + 1;
    if (next < 1) next = 1;
    repl_become_probe(p, next);
    hs_raft_repl_send_append(r, p, true);
    return;
  }
  if (m->index > last) return; /* cannot acknowledge what this leader never had */
  bool advanced = m->index > p->match;
  if (advanced) p->match = m->index;
  if (p->next < p->match + 1) p->next = p->match + 1;
  repl_infl_free_to(r, p, m->index);
  if (p->mode == HS_RAFT_PR_PROBE && m->index >= p->match) repl_become_replicate(p);
  else if (p->mode == HS_RAFT_PR_SNAPSHOT && p->match >= p->pending_snapshot) repl_become_replicate(p);
  if (advanced) hs_raft_repl_maybe_commit(r);
  if (r->role != HS_RAFT_LEADER) return;
  p = hs_raft_peer_find(r, m->from); /* maybe_commit does not change the table, but stay safe */
  if (!p) return;
  hs_raft_repl_send_append(r, p, false);
  hs_raft_transfer_progress(r, p);
}

void hs_raft_repl_on_heartbeat_resp(hs_raft *r, const hs_raft_msg *m) {
  hs_raft_peer *p = hs_raft_peer_find(r, m->from);
  if (!p || p->id == r->id) return;
  p->recent_active = true;
  if (m->context > p->read_ack) {
    p->read_ack = m->context;
    hs_raft_read_on_ack(r);
    if (r->role != HS_RAFT_LEADER) return;
  }
  switch (p->mode) {
  case HS_RAFT_PR_PROBE: p->probe_sent = false; break;
  case HS_RAFT_PR_REPLICATE:
    if (p->infl_count && p->infl_sent[p->infl_head] + r->hb_interval <= r->now) repl_become_probe(p, p->match + 1);
    break;
  case HS_RAFT_PR_SNAPSHOT:
    if (p->snapshot_sent_ns + r->et_min <= r->now) repl_become_probe(p, p->pending_snapshot + 1);
    break;
  }
  if (p->match < hs_raft_log_last(&r->log)) hs_raft_repl_send_append(r, p, p->mode == HS_RAFT_PR_PROBE);
  hs_raft_transfer_progress(r, p); /* a TimeoutNow that may have been lost goes again */
}
