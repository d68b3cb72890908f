/*
 * hs_raft_conf.c - the configuration in effect, the progress table that follows it, and
 * single-server membership changes (thesis 4.1).
 *
 * A configuration entry takes effect on a node as soon as it is in its log, committed or not;
 * when a conflicting suffix holding it is truncated, the node falls back to the previous
 * configuration in its log (or the snapshot's, or the bootstrap one). A leader accepts one
 * change at a time: none while the previous configuration entry is uncommitted, and none
 * before it has committed an entry of its own term (the fix to the single-server change
 * algorithm posted by Ongaro in 2015: without it, two leaders of successive terms could each
 * add a server from divergent configurations and form disjoint majorities).
 */
#include "raft/hs_raft_internal.h"

#include <stdlib.h>
#include <string.h>

uint32_t hs_raft_quorum(const hs_raft *r) { return r->conf.n_voters / 2 + 1; }

bool hs_raft_is_voter(const hs_raft *r) { return hs_raft_conf_is_voter(&r->conf, r->id); }

hs_raft_peer *hs_raft_peer_find(hs_raft *r, uint32_t id) {
  for (uint32_t i = 0; i < r->n_peers; i++)
    if (r->peers[i].id == id) return &r->peers[i];
  return NULL;
}

static void conf_free_peer(hs_raft_peer *p) {
  free(p->infl_last);
  free(p->infl_sent);
  p->infl_last = NULL;
  p->infl_sent = NULL;
}

void hs_raft_conf_free_peers(hs_raft *r) {
  for (uint32_t i = 0; i < r->n_peers; i++) conf_free_peer(&r->peers[i]);
  free(r->peers);
  r->peers = NULL;
  r->n_peers = 0;
}

static bool conf_same_members(const hs_raft_conf *a, const hs_raft_conf *b) {
  return a->n_voters == b->n_voters && a->n_learners == b->n_learners &&
         !memcmp(a->voters, b->voters, a->n_voters * sizeof *a->voters) &&
         !memcmp(a->learners, b->learners, a->n_learners * sizeof *a->learners);
}

/* Makes c the configuration in effect (set by the entry at index, 0 for the snapshot's) and
 * rebuilds the progress table: members that stay keep their progress, new ones start probing
 * from the end of the log. */
int hs_raft_conf_set(hs_raft *r, const hs_raft_conf *c, uint64_t index) {
  if (r->peers && conf_same_members(&r->conf, c)) {
    r->conf_index = index;
    return HS_OK;
  }
  uint32_t n = c->n_voters + c->n_learners;
  hs_raft_peer *peers = calloc(n ? n : 1, sizeof *peers);
  if (!peers) return HS_ENOMEM;
  for (uint32_t i = 0; i < n; i++) {
    bool voter = i < c->n_voters;
    uint32_t id = voter ? c->voters[i] : c->learners[i - c->n_voters];
    hs_raft_peer *old = hs_raft_peer_find(r, id);
    hs_raft_peer *p = &peers[i];
    if (old) {
      *p = *old;
      old->infl_last = NULL; /* moved */
      old->infl_sent = NULL;
    } else {
      p->id = id;
      p->infl_last = malloc(r->max_inflight * sizeof *p->infl_last);
      p->infl_sent = malloc(r->max_inflight * sizeof *p->infl_sent);
      if (!p->infl_last || !p->infl_sent) {
        for (uint32_t j = 0; j <= i; j++) { /* give moved rings back, free new ones */
          hs_raft_peer *o = hs_raft_peer_find(r, peers[j].id);
          if (o && !o->infl_last) {
            o->infl_last = peers[j].infl_last;
            o->infl_sent = peers[j].infl_sent;
          } else {
            conf_free_peer(&peers[j]);
          }
        }
        free(peers);
        return HS_ENOMEM;
      }
      hs_raft_repl_reset_progress(r, p);
    }
    p->voter = voter;
  }
  hs_raft_conf_free_peers(r);
  r->peers = peers;
  r->n_peers = n;
  r->conf = *c;
  r->conf_index = index;
  return HS_OK;
}

/* The latest configuration entry at or below index, else the snapshot's configuration. */
static bool conf_find(const hs_raft *r, uint64_t index, hs_raft_conf *out, uint64_t *at) {
  uint64_t last = hs_raft_log_last(&r->log);
  if (index > last) index = last;
  for (uint64_t i = index; i > r->log.snap_index; i--) {
    const hs_raft_rec *rec = hs_raft_log_rec(&r->log, i);
    if (rec->type != HS_RAFT_ENTRY_CONF) continue;
    if (hs_raft_conf_decode(out, hs_raft_log_data(&r->log, rec), rec->len) == HS_OK) {
      *at = i;
      return true;
    }
  }
  *out = r->snap_conf;
  *at = 0;
  return false;
}

void hs_raft_conf_at(const hs_raft *r, uint64_t index, hs_raft_conf *out) {
  uint64_t at;
  conf_find(r, index, out, &at);
}

int hs_raft_conf_recompute(hs_raft *r) {
  hs_raft_conf c;
  uint64_t at;
  conf_find(r, hs_raft_log_last(&r->log), &c, &at);
  return hs_raft_conf_set(r, &c, at);
}

int hs_raft_propose_conf(hs_raft *r, hs_time_ns now, hs_raft_conf_op op, uint32_t node, uint64_t tag,
                         uint64_t *index_out) {
  if (!r->started) return HS_RAFT_ESTATE;
  if (r->crashed) return HS_RAFT_ECRASHED;
  r->now = now;
  if (r->role != HS_RAFT_LEADER) return HS_RAFT_ENOTLEADER;
  if (r->transfer_to != HS_RAFT_NONE) return HS_RAFT_ETRANSFER;
  uint64_t commit_term = 0;
  hs_raft_log_term(&r->log, r->commit, &commit_term);
  if (commit_term != r->term || r->conf_index > r->commit) return HS_RAFT_EBUSY;
  hs_raft_conf c = r->conf;
  if (hs_raft_conf_apply(&c, op, node)) return HS_EINVAL;
  size_t len = hs_raft_conf_encode(&c, r->conf_buf, sizeof r->conf_buf);
  uint64_t index;
  int rc = hs_raft_repl_append_local(r, HS_RAFT_ENTRY_CONF, r->conf_buf, len, &index);
  if (rc) return rc;
  rc = hs_raft_conf_set(r, &c, index);
  if (rc) return rc;
  rc = hs_raft_repl_track(r, index, tag);
  if (rc) return rc;
  if (index_out) *index_out = index;
  hs_raft_repl_bcast_append(r, false);
  for (uint32_t i = 0; i < r->n_peers; i++) /* a new member is probed at once */
    if (r->peers[i].mode == HS_RAFT_PR_PROBE) hs_raft_repl_send_append(r, &r->peers[i], true);
  hs_raft_repl_maybe_commit(r);
  return HS_OK;
}
