/*
 * hs_mpaxos_log.c - the Multi-Paxos slot log.
 *
 * One record per slot from slot 1 to the highest slot holding a value (slots between may be
 * empty: ballot round 0); the values' bytes live in one growable arena. A value replaced by a
 * longer one (an acceptor taking a later ballot's value) gets fresh space at the end of the
 * arena; a shorter or equal one is written in place. Replacements only happen around changes
 * of leader, so the arena wastes little. Appending is amortised O(1) and allocates only when an
 * array doubles.
 */
#include "paxos/hs_paxos_internal.h"

#include <stdlib.h>
#include <string.h>

void hs_mpaxos_log_init(hs_mpaxos_log *l) { memset(l, 0, sizeof *l); }

void hs_mpaxos_log_free(hs_mpaxos_log *l) {
  free(l->recs);
  free(l->bytes);
  memset(l, 0, sizeof *l);
}

void hs_mpaxos_log_view(const hs_mpaxos_log *l, uint64_t slot, hs_paxos_value *v) {
  const hs_mpaxos_rec *r = hs_mpaxos_log_rec(l, slot);
  v->slot = slot;
  v->ballot = r->ballot;
  v->origin = r->origin;
  v->type = (hs_paxos_value_type)r->type;
  v->chosen = r->chosen != 0;
  v->len = r->len;
  v->data = hs_mpaxos_log_data(l, r);
}

static int log_grow_recs(hs_mpaxos_log *l, uint64_t slot) {
  if (slot <= l->cap) return HS_OK;
  uint64_t cap = l->cap ? l->cap : 64;
  while (cap < slot) cap *= 2;
  hs_mpaxos_rec *recs = realloc(l->recs, cap * sizeof *recs);
  if (!recs) return HS_ENOMEM;
  l->recs = recs;
  l->cap = cap;
  return HS_OK;
}

static int log_reserve_bytes(hs_mpaxos_log *l, uint64_t more) {
  if (l->bytes_len + more <= l->bytes_cap) return HS_OK;
  uint64_t cap = l->bytes_cap ? l->bytes_cap : 1024;
  while (cap < l->bytes_len + more) cap *= 2;
  uint8_t *bytes = realloc(l->bytes, cap);
  if (!bytes) return HS_ENOMEM;
  l->bytes = bytes;
  l->bytes_cap = cap;
  return HS_OK;
}

int hs_mpaxos_log_set(hs_mpaxos_log *l, uint64_t slot, hs_paxos_ballot ballot, hs_paxos_ballot origin,
                      hs_paxos_value_type type, const uint8_t *data, uint32_t len) {
  int rc = log_grow_recs(l, slot);
  if (rc) return rc;
  if (slot > l->count) {
    memset(l->recs + l->count, 0, (slot - l->count) * sizeof *l->recs);
    l->count = slot;
  }
  hs_mpaxos_rec *r = hs_mpaxos_log_rec(l, slot);
  if (len > r->len) {
    /* data may point into the arena itself (a value copied between slots): keep its offset */
    bool inside = data && data >= l->bytes && data < l->bytes + l->bytes_len;
    uint64_t data_off = inside ? (uint64_t)(data - l->bytes) : 0;
    rc = log_reserve_bytes(l, len);
    if (rc) return rc;
    if (inside) data = l->bytes + data_off;
    r->off = l->bytes_len;
    l->bytes_len += len;
  }
  if (len && l->bytes + r->off != data) memmove(l->bytes + r->off, data, len);
  r->len = len;
  r->ballot = ballot;
  r->origin = origin;
  r->type = (uint8_t)type;
  r->acks = 0;
  return HS_OK;
}
