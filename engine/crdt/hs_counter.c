/* hs_counter.c - GCounter and PNCounter (Shapiro et al. 2011, specifications 6 and 7). */
#include <string.h>

#include "crdt/hs_crdt_internal.h"

#define COUNT_MAX ((uint64_t)INT64_MAX) /* totals stay representable as Lua integers */

int hs_gcounter_init(hs_gcounter *g, const void *self, size_t len) {
  memset(g, 0, sizeof *g);
  hs_vv_init(&g->counts);
  return hs_bytes_set(&g->self, self, len);
}

void hs_gcounter_free(hs_gcounter *g) {
  hs_vv_free(&g->counts);
  hs_bytes_free(&g->self);
}

uint64_t hs_gcounter_value(const hs_gcounter *g) {
  uint64_t sum = 0;
  for (uint32_t i = 0; i < g->counts.n; i++) sum += g->counts.e[i].n; /* bounded by COUNT_MAX */
  return sum;
}

int hs_gcounter_increment(hs_gcounter *g, uint64_t n) {
  if (n > COUNT_MAX - hs_gcounter_value(g)) return HS_EINVAL;
  uint64_t mine = hs_vv_get(&g->counts, g->self.p, g->self.len);
  return hs_vv_raise(&g->counts, g->self.p, g->self.len, mine + n);
}

/* The total g would have after merging counts `other` (pointwise max), or UINT64_MAX when
 * it would pass COUNT_MAX. */
static uint64_t merged_total(const hs_vv *mine, const hs_vv *other) {
  uint64_t sum = 0;
  uint32_t i = 0, j = 0;
  while (i < mine->n || j < other->n) {
    int c = i == mine->n ? 1 : j == other->n ? -1
                         : hs_bytes_cmp(mine->e[i].id.p, mine->e[i].id.len, other->e[j].id.p, other->e[j].id.len);
    uint64_t n;
    if (c < 0) {
      n = mine->e[i++].n;
    } else if (c > 0) {
      n = other->e[j++].n;
    } else {
      n = mine->e[i].n > other->e[j].n ? mine->e[i].n : other->e[j].n;
      i++, j++;
    }
    if (n > COUNT_MAX - sum) return UINT64_MAX;
    sum += n;
  }
  return sum;
}

static int merge_counts(hs_vv *mine, const hs_vv *other) {
  if (merged_total(mine, other) == UINT64_MAX) return HS_EINVAL;
  return hs_vv_merge(mine, other);
}

int hs_gcounter_merge(hs_gcounter *g, const hs_gcounter *other) { return merge_counts(&g->counts, &other->counts); }

void hs_gcounter_encode(const hs_gcounter *g, hs_buf *out) {
  hs_buf_put_table(out, 2, 0);
  hs_buf_put_string(out, "gcounter", 8);
  hs_vv_encode(&g->counts, out);
}

/* Decodes the counts at item i of `in` and merges them into mine, or changes nothing. */
static int merge_counts_at(hs_vv *mine, hs_value in, uint32_t i) {
  hs_value item;
  if (!hs_value_index(in, i, &item)) return HS_EINVAL;
  hs_vv tmp;
  hs_vv_init(&tmp);
  int rc = hs_vv_decode(&tmp, item);
  if (rc == HS_OK) rc = merge_counts(mine, &tmp);
  hs_vv_free(&tmp);
  return rc;
}

int hs_gcounter_merge_encoded(hs_gcounter *g, hs_value in) {
  uint32_t narr;
  if (!hs_crdt_header(in, "gcounter", &narr) || narr != 2) return HS_EINVAL;
  return merge_counts_at(&g->counts, in, 1);
}

int hs_pncounter_init(hs_pncounter *c, const void *self, size_t len) {
  int rc = hs_gcounter_init(&c->p, self, len);
  int rc2 = hs_gcounter_init(&c->n, self, len);
  return rc != HS_OK ? rc : rc2;
}

void hs_pncounter_free(hs_pncounter *c) {
  hs_gcounter_free(&c->p);
  hs_gcounter_free(&c->n);
}

int hs_pncounter_increment(hs_pncounter *c, uint64_t n) { return hs_gcounter_increment(&c->p, n); }
int hs_pncounter_decrement(hs_pncounter *c, uint64_t n) { return hs_gcounter_increment(&c->n, n); }

int64_t hs_pncounter_value(const hs_pncounter *c) {
  return (int64_t)hs_gcounter_value(&c->p) - (int64_t)hs_gcounter_value(&c->n);
}

int hs_pncounter_merge(hs_pncounter *c, const hs_pncounter *other) {
  if (merged_total(&c->p.counts, &other->p.counts) == UINT64_MAX ||
      merged_total(&c->n.counts, &other->n.counts) == UINT64_MAX)
    return HS_EINVAL;
  int rc = hs_vv_merge(&c->p.counts, &other->p.counts);
  return rc != HS_OK ? rc : hs_vv_merge(&c->n.counts, &other->n.counts);
}

void hs_pncounter_encode(const hs_pncounter *c, hs_buf *out) {
  hs_buf_put_table(out, 3, 0);
  hs_buf_put_string(out, "pncounter", 9);
  hs_vv_encode(&c->p.counts, out);
  hs_vv_encode(&c->n.counts, out);
}

int hs_pncounter_merge_encoded(hs_pncounter *c, hs_value in) {
  uint32_t narr;
  if (!hs_crdt_header(in, "pncounter", &narr) || narr != 3) return HS_EINVAL;
  hs_pncounter tmp;
  int rc = hs_pncounter_init(&tmp, c->p.self.p, c->p.self.len);
  if (rc == HS_OK) rc = merge_counts_at(&tmp.p.counts, in, 1);
  if (rc == HS_OK) rc = merge_counts_at(&tmp.n.counts, in, 2);
  if (rc == HS_OK) rc = hs_pncounter_merge(c, &tmp);
  hs_pncounter_free(&tmp);
  return rc;
}
