/*
 * hs_raft_read.c - linearizable reads with ReadIndex (thesis 6.4).
 *
 * A read is queued on the leader with a new round number (read_seq) and a heartbeat round
 * carrying that number goes out at once. It is
 *   indexed    when an entry of the leader's term is committed: its read index is the commit
 *              index then (a new leader does not know what its predecessors committed until
 *              its own no-op commits);
 *   confirmed  when a quorum of voters (the leader included, if it is one) acknowledged a
 *              heartbeat of a round >= its own: nobody else led a later term when the read
 *              arrived;
 *   served     once both hold and the state machine has applied the read index.
 * Round numbers only grow, and the read index only grows with the queue order, so reads
 * complete in FIFO order. A leader that steps down fails the queued reads.
 */
#include "raft/hs_raft_internal.h"

#include <stdlib.h>
#include <string.h>

void hs_raft_read_process(hs_raft *r) {
  while (r->reads_len) {
    hs_raft_read *rd = &r->reads[r->reads_head];
    if (!rd->confirmed || rd->index == 0 || r->applied < rd->index) break;
    hs_raft_read done = *rd;
    r->reads_head++;
    r->reads_len--;
    if (r->reads_len == 0) r->reads_head = 0;
    r->stats.reads_served++;
    if (r->cb.read_done) r->cb.read_done(r->ud, done.request_id, done.index, HS_OK);
  }
}

/* Called when the commit index moved on the leader. */
void hs_raft_read_on_commit(hs_raft *r) {
  uint64_t t = 0;
  if (!r->reads_len || !hs_raft_log_term(&r->log, r->commit, &t) || t != r->term) return;
  for (size_t i = 0; i < r->reads_len; i++) {
    hs_raft_read *rd = &r->reads[r->reads_head + i];
    if (rd->index == 0) rd->index = r->commit;
  }
  hs_raft_read_process(r);
}

/* The highest round acknowledged by a quorum of voters. */
static uint64_t read_quorum_round(hs_raft *r) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < r->n_peers; i++) {
    const hs_raft_peer *p = &r->peers[i];
    if (!p->voter) continue;
    uint64_t a = p->id == r->id ? UINT64_MAX : p->read_ack;
    uint32_t j = n++;
    while (j > 0 && r->match_scratch[j - 1] < a) {
      r->match_scratch[j] = r->match_scratch[j - 1];
      j--;
    }
    r->match_scratch[j] = a;
  }
  uint32_t q = hs_raft_quorum(r);
  return n >= q ? r->match_scratch[q - 1] : 0;
}

void hs_raft_read_on_ack(hs_raft *r) {
  if (!r->reads_len) return;
  uint64_t round = read_quorum_round(r);
  for (size_t i = 0; i < r->reads_len; i++) {
    hs_raft_read *rd = &r->reads[r->reads_head + i];
    if (rd->seq <= round) rd->confirmed = true;
  }
  hs_raft_read_process(r);
}

void hs_raft_read_fail_all(hs_raft *r, int status) {
  while (r->reads_len) {
    hs_raft_read done = r->reads[r->reads_head];
    r->reads_head++;
    r->reads_len--;
    if (r->cb.read_done) r->cb.read_done(r->ud, done.request_id, 0, status);
  }
  r->reads_head = 0;
}

static int read_push(hs_raft *r, hs_raft_read rd) {
  if (r->reads_head + r->reads_len == r->reads_cap) {
    if (r->reads_head) {
      memmove(r->reads, r->reads + r->reads_head, r->reads_len * sizeof *r->reads);
      r->reads_head = 0;
    }
    if (r->reads_len == r->reads_cap) {
      size_t cap = r->reads_cap ? r->reads_cap * 2 : 16;
      hs_raft_read *p = realloc(r->reads, cap * sizeof *p);
      if (!p) return HS_ENOMEM;
      r->reads = p;
      r->reads_cap = cap;
    }
  }
  r->reads[r->reads_head + r->reads_len++] = rd;
  return HS_OK;
}

int hs_raft_read_index(hs_raft *r, hs_time_ns now, uint64_t request_id) {
  if (!r->started) return HS_RAFT_ESTATE;
  if (r->crashed) return HS_RAFT_ECRASHED;
  r->now = now;
  if (r->role != HS_RAFT_LEADER) return HS_RAFT_ENOTLEADER;
  uint64_t t = 0;
  hs_raft_log_term(&r->log, r->commit, &t);
  hs_raft_read rd = {request_id, ++r->read_seq, t == r->term ? r->commit : 0, false};
  int rc = read_push(r, rd);
  if (rc) return rc;
  if (read_quorum_round(r) >= rd.seq) { /* a single voter */
    hs_raft_read_on_ack(r);
  } else {
    hs_raft_repl_bcast_heartbeat(r);
  }
  return HS_OK;
}
