/*
 * hs_paxos_util.c - what both Paxos cores use: member bits, the structural checks every
 * message goes through, byte buffers.
 */
#include "paxos/hs_paxos_internal.h"

#include <stdlib.h>
#include <string.h>

int hs_paxos_buf_set(hs_paxos_buf *b, const void *data, size_t len) {
  if (len > UINT32_MAX) return HS_EINVAL;
  if (len > b->cap) {
    uint8_t *p = realloc(b->data, len);
    if (!p) return HS_ENOMEM;
    b->data = p;
    b->cap = (uint32_t)len;
  }
  if (len) memcpy(b->data, data, len);
  b->len = (uint32_t)len;
  return HS_OK;
}

void hs_paxos_buf_free(hs_paxos_buf *b) {
  free(b->data);
  memset(b, 0, sizeof *b);
}

int hs_paxos_members_init(hs_paxos_members *ms, uint32_t self, const uint32_t *ids, uint32_t n) {
  memset(ms, 0, sizeof *ms);
  if (n == 0 || n > HS_PAXOS_MAX_NODES || !ids || self == HS_PAXOS_NONE) return HS_EINVAL;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t id = ids[i], j = ms->n;
    if (id == HS_PAXOS_NONE) return HS_EINVAL;
    while (j > 0 && ms->ids[j - 1] > id) {
      ms->ids[j] = ms->ids[j - 1];
      j--;
    }
    if (j > 0 && ms->ids[j - 1] == id) return HS_EINVAL; /* duplicate */
    ms->ids[j] = id;
    ms->n++;
  }
  ms->all_bits = n == 64 ? ~(uint64_t)0 : (((uint64_t)1 << n) - 1);
  ms->self_bit = hs_paxos_members_bit(ms, self);
  return ms->self_bit ? HS_OK : HS_EINVAL;
}

uint64_t hs_paxos_members_bit(const hs_paxos_members *ms, uint32_t id) {
  uint32_t lo = 0, hi = ms->n;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (ms->ids[mid] < id) lo = mid + 1;
    else hi = mid;
  }
  return lo < ms->n && ms->ids[lo] == id ? (uint64_t)1 << lo : 0;
}

static bool util_ballot_sane(hs_paxos_ballot b) { return b.round <= HS_PAXOS_MAX_COUNTER; }

bool hs_paxos_msg_sane(const hs_paxos_msg *m, uint32_t self, const hs_paxos_members *ms) {
  const uint64_t max = HS_PAXOS_MAX_COUNTER;
  if (!m || m->to != self || m->from == HS_PAXOS_NONE || m->from == self || !hs_paxos_members_bit(ms, m->from))
    return false;
  if ((unsigned)m->type >= HS_PAXOS_MSG_TYPE_COUNT || (m->n_values && !m->values)) return false;
  if (!util_ballot_sane(m->ballot) || !util_ballot_sane(m->promised) || m->slot > max || m->last > max ||
      m->commit > max)
    return false;
  for (uint32_t i = 0; i < m->n_values; i++) {
    const hs_paxos_value *v = &m->values[i];
    if (v->slot == 0 || v->slot > max || !util_ballot_sane(v->ballot) || !util_ballot_sane(v->origin)) return false;
    if ((unsigned)v->type > HS_PAXOS_VALUE_NOOP || (v->type == HS_PAXOS_VALUE_NOOP && v->len) || (v->len && !v->data))
      return false;
    if (i > 0 && v->slot <= m->values[i - 1].slot) return false; /* strictly increasing */
  }
  switch (m->type) {
  case HS_PAXOS_MSG_PREPARE:
  case HS_PAXOS_MSG_ACCEPT:
  case HS_PAXOS_MSG_HEARTBEAT: /* a proposer's ballot is its own */
    return m->ballot.round >= 1 && m->ballot.node == m->from;
  case HS_PAXOS_MSG_NACK: return m->promised.round >= 1;
  case HS_PAXOS_MSG_ACCEPTED: return m->slot >= 1 && m->last >= m->slot;
  case HS_PAXOS_MSG_CHOSEN:
    for (uint32_t i = 0; i < m->n_values; i++)
      if (!m->values[i].chosen) return false;
    return true;
  default: return true;
  }
}
