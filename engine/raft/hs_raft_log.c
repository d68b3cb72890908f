/*
 * hs_raft_log.c - the in-memory Raft log.
 *
 * Entry records live in a growable array whose first slot is the entry after the snapshot
 * point (snap_index, snap_term); their data lives in one growable byte arena, in index order.
 * Appending is amortised O(1) and allocates only when an array doubles; truncating a suffix
 * just shortens both; compaction moves the surviving records and bytes to the front once per
 * snapshot. Offsets in records are absolute (they never change when the front is dropped):
 * the arena remembers the absolute offset of its first byte.
 */
#include "raft/hs_raft_internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

void hs_raft_log_init(hs_raft_log *l) { memset(l, 0, sizeof *l); }

void hs_raft_log_free(hs_raft_log *l) {
  free(l->recs);
  free(l->bytes);
  memset(l, 0, sizeof *l);
}

bool hs_raft_log_term(const hs_raft_log *l, uint64_t index, uint64_t *term) {
  if (index == l->snap_index) {
    *term = l->snap_term;
    return true;
  }
  if (index < l->snap_index || index > hs_raft_log_last(l)) return false;
  *term = hs_raft_log_rec(l, index)->term;
  return true;
}

void hs_raft_log_view(const hs_raft_log *l, uint64_t index, hs_raft_entry *e) {
  const hs_raft_rec *rec = hs_raft_log_rec(l, index);
  e->index = index;
  e->term = rec->term;
  e->type = (hs_raft_entry_type)rec->type;
  e->len = rec->len;
  e->data = hs_raft_log_data(l, rec);
}

static int log_reserve(hs_raft_log *l, size_t more_bytes) {
  if (l->count == l->cap) {
    uint64_t cap = l->cap ? l->cap * 2 : 64;
    hs_raft_rec *recs = realloc(l->recs, cap * sizeof *recs);
    if (!recs) return HS_ENOMEM;
    l->recs = recs;
    l->cap = cap;
  }
  if (l->bytes_len + more_bytes > l->bytes_cap) {
    uint64_t cap = l->bytes_cap ? l->bytes_cap : 1024;
    while (cap < l->bytes_len + more_bytes) cap *= 2;
    uint8_t *bytes = realloc(l->bytes, cap);
    if (!bytes) return HS_ENOMEM;
    l->bytes = bytes;
    l->bytes_cap = cap;
  }
  return HS_OK;
}

int hs_raft_log_append(hs_raft_log *l, uint64_t term, hs_raft_entry_type type, const void *data, size_t len) {
  if (len > UINT32_MAX) return HS_EINVAL;
  int rc = log_reserve(l, len);
  if (rc) return rc;
  hs_raft_rec *rec = &l->recs[l->count++];
  rec->term = term;
  rec->type = (uint32_t)type;
  rec->len = (uint32_t)len;
  rec->off = l->bytes_base + l->bytes_len;
  if (len) memcpy(l->bytes + l->bytes_len, data, len);
  l->bytes_len += len;
  return HS_OK;
}

void hs_raft_log_truncate(hs_raft_log *l, uint64_t from) {
  assert(from > l->snap_index);
  if (from > hs_raft_log_last(l)) return;
  const hs_raft_rec *rec = hs_raft_log_rec(l, from);
  l->bytes_len = rec->off - l->bytes_base;
  l->count = from - l->snap_index - 1;
}

void hs_raft_log_compact(hs_raft_log *l, uint64_t index) {
  assert(index > l->snap_index && index <= hs_raft_log_last(l));
  uint64_t term = hs_raft_log_rec(l, index)->term;
  uint64_t drop = index - l->snap_index;
  uint64_t keep = l->count - drop;
  uint64_t new_base = keep ? l->recs[drop].off : l->bytes_base + l->bytes_len;
  uint64_t cut = new_base - l->bytes_base;
  memmove(l->recs, l->recs + drop, keep * sizeof *l->recs);
  if (l->bytes_len > cut) memmove(l->bytes, l->bytes + cut, l->bytes_len - cut);
  l->bytes_len -= cut;
  l->bytes_base = new_base;
  l->count = keep;
  l->snap_index = index;
  l->snap_term = term;
}

void hs_raft_log_reset(hs_raft_log *l, uint64_t index, uint64_t term) {
  l->bytes_base += l->bytes_len;
  l->bytes_len = 0;
  l->count = 0;
  l->snap_index = index;
  l->snap_term = term;
}

/* Terms never decrease along a log, so both searches are binary. */
uint64_t hs_raft_log_term_start(const hs_raft_log *l, uint64_t at) {
  uint64_t term = hs_raft_log_rec(l, at)->term;
  uint64_t lo = hs_raft_log_first(l), hi = at; /* answer in [lo, hi] */
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo) / 2;
    if (hs_raft_log_rec(l, mid)->term < term) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

uint64_t hs_raft_log_last_at_most(const hs_raft_log *l, uint64_t hi, uint64_t term) {
  uint64_t last = hs_raft_log_last(l);
  if (hi > last) hi = last;
  if (hi <= l->snap_index) return l->snap_index;
  uint64_t lo = l->snap_index; /* invariant: lo qualifies (or is the snapshot point) */
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo + 1) / 2;
    if (hs_raft_log_rec(l, mid)->term <= term) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
