/* Vector clocks as sorted (node, counter) arrays (see hs_clock.h). */
#include "clock/hs_clock.h"

#include <stdlib.h>
#include <string.h>

void hs_vclock_init(hs_vclock *v) {
  v->n = v->cap = 0;
  v->ids = NULL;
  v->counts = NULL;
}

void hs_vclock_free(hs_vclock *v) {
  free(v->ids);
  free(v->counts);
  hs_vclock_init(v);
}

/* Makes room for cap entries. HS_OK or HS_ENOMEM (v unchanged). */
static int reserve(hs_vclock *v, uint32_t cap) {
  if (cap <= v->cap) return HS_OK;
  uint32_t want = v->cap ? v->cap : 4;
  while (want < cap) {
    if (want > UINT32_MAX / 2) return HS_ENOMEM;
    want *= 2;
  }
  uint32_t *ids = malloc((size_t)want * sizeof *ids);
  uint64_t *counts = malloc((size_t)want * sizeof *counts);
  if (!ids || !counts) {
    free(ids);
    free(counts);
    return HS_ENOMEM;
  }
  if (v->n) {
    memcpy(ids, v->ids, (size_t)v->n * sizeof *ids);
    memcpy(counts, v->counts, (size_t)v->n * sizeof *counts);
  }
  free(v->ids);
  free(v->counts);
  v->ids = ids;
  v->counts = counts;
  v->cap = want;
  return HS_OK;
}

/* The index of node's entry, or of where it would be inserted; *found says which. */
static uint32_t find(const hs_vclock *v, uint32_t node, bool *found) {
  uint32_t lo = 0, hi = v->n;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (v->ids[mid] < node)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = lo < v->n && v->ids[lo] == node;
  return lo;
}

int hs_vclock_copy(hs_vclock *dst, const hs_vclock *src) {
  if (dst == src) return HS_OK;
  int rc = reserve(dst, src->n);
  if (rc != HS_OK) return rc;
  if (src->n) {
    memcpy(dst->ids, src->ids, (size_t)src->n * sizeof *dst->ids);
    memcpy(dst->counts, src->counts, (size_t)src->n * sizeof *dst->counts);
  }
  dst->n = src->n;
  return HS_OK;
}

uint64_t hs_vclock_get(const hs_vclock *v, uint32_t node) {
  bool found;
  uint32_t i = find(v, node, &found);
  return found ? v->counts[i] : 0;
}

int hs_vclock_set(hs_vclock *v, uint32_t node, uint64_t count) {
  bool found;
  uint32_t i = find(v, node, &found);
  if (found) {
    if (count) {
      v->counts[i] = count;
    } else { /* a zero entry is the same as no entry: keep the representation canonical */
      memmove(v->ids + i, v->ids + i + 1, (size_t)(v->n - i - 1) * sizeof *v->ids);
      memmove(v->counts + i, v->counts + i + 1, (size_t)(v->n - i - 1) * sizeof *v->counts);
      v->n--;
    }
    return HS_OK;
  }
  if (!count) return HS_OK;
  if (v->n == UINT32_MAX) return HS_ENOMEM;
  int rc = reserve(v, v->n + 1);
  if (rc != HS_OK) return rc;
  memmove(v->ids + i + 1, v->ids + i, (size_t)(v->n - i) * sizeof *v->ids);
  memmove(v->counts + i + 1, v->counts + i, (size_t)(v->n - i) * sizeof *v->counts);
  v->ids[i] = node;
  v->counts[i] = count;
  v->n++;
  return HS_OK;
}

int hs_vclock_increment(hs_vclock *v, uint32_t node) {
  uint64_t c = hs_vclock_get(v, node);
  if (c == UINT64_MAX) return HS_EINVAL;
  return hs_vclock_set(v, node, c + 1);
}

int hs_vclock_merge(hs_vclock *dst, const hs_vclock *src) {
  if (dst == src || src->n == 0) return HS_OK;
  /* Merge the two sorted lists into fresh arrays, then swap them in: dst is untouched on failure. */
  hs_vclock out;
  hs_vclock_init(&out);
  uint64_t total = (uint64_t)dst->n + src->n;
  if (total > UINT32_MAX) return HS_ENOMEM;
  int rc = reserve(&out, (uint32_t)total);
  if (rc != HS_OK) return rc;
  uint32_t i = 0, j = 0;
  while (i < dst->n || j < src->n) {
    uint32_t id;
    uint64_t c;
    if (j >= src->n || (i < dst->n && dst->ids[i] < src->ids[j])) {
      id = dst->ids[i];
      c = dst->counts[i++];
    } else if (i >= dst->n || src->ids[j] < dst->ids[i]) {
      id = src->ids[j];
      c = src->counts[j++];
    } else {
      id = dst->ids[i];
      c = dst->counts[i] > src->counts[j] ? dst->counts[i] : src->counts[j];
      i++;
      j++;
    }
    out.ids[out.n] = id;
    out.counts[out.n++] = c;
  }
  hs_vclock_free(dst);
  *dst = out;
  return HS_OK;
}

int hs_vclock_receive(hs_vclock *v, uint32_t self, const hs_vclock *remote) {
  int rc = hs_vclock_merge(v, remote);
  return rc != HS_OK ? rc : hs_vclock_increment(v, self);
}

hs_order hs_vclock_compare(const hs_vclock *a, const hs_vclock *b) {
  bool a_less = false, b_less = false; /* some entry of a < b's, some entry of b < a's */
  uint32_t i = 0, j = 0;
  while (i < a->n || j < b->n) {
    uint64_t ca, cb;
    if (j >= b->n || (i < a->n && a->ids[i] < b->ids[j])) {
      ca = a->counts[i++];
      cb = 0;
    } else if (i >= a->n || b->ids[j] < a->ids[i]) {
      ca = 0;
      cb = b->counts[j++];
    } else {
      ca = a->counts[i++];
      cb = b->counts[j++];
    }
    if (ca < cb) a_less = true;
    if (cb < ca) b_less = true;
    if (a_less && b_less) return HS_ORDER_CONCURRENT;
  }
  if (a_less) return HS_ORDER_BEFORE;
  if (b_less) return HS_ORDER_AFTER;
  return HS_ORDER_EQUAL;
}
