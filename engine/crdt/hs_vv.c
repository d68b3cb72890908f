/* hs_vv.c - version vectors (replica id -> counter, sorted by id) and owned byte strings. */
#include <stdlib.h>
#include <string.h>

#include "crdt/hs_crdt_internal.h"

int hs_bytes_set(hs_bytes *b, const void *p, size_t len) {
  if (len > HS_CRDT_MAX_BYTES) return HS_EINVAL;
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy) return HS_ENOMEM;
  if (len) memcpy(copy, p, len);
  free(b->p);
  b->p = copy;
  b->len = (uint32_t)len;
  return HS_OK;
}

void hs_bytes_free(hs_bytes *b) {
  free(b->p);
  b->p = NULL;
  b->len = 0;
}

int hs_bytes_cmp(const void *a, size_t alen, const void *b, size_t blen) {
  size_t n = alen < blen ? alen : blen;
  int c = n ? memcmp(a, b, n) : 0;
  if (c) return c;
  return alen < blen ? -1 : alen > blen;
}

const char *hs_crdt_string_at(hs_value t, uint32_t i, size_t *len) {
  hs_value item;
  if (!hs_value_index(t, i, &item)) return NULL;
  const char *s = hs_value_string(item, len);
  return s && *len <= HS_CRDT_MAX_BYTES ? s : NULL;
}

bool hs_crdt_header(hs_value in, const char *kind, uint32_t *narr) {
  uint32_t nmap;
  size_t len;
  if (!hs_value_table(in, narr, &nmap) || nmap != 0 || *narr < 1) return false;
  const char *k = hs_crdt_string_at(in, 0, &len);
  return k && len == strlen(kind) && memcmp(k, kind, len) == 0;
}

void hs_vv_init(hs_vv *v) { memset(v, 0, sizeof *v); }

void hs_vv_free(hs_vv *v) {
  for (uint32_t i = 0; i < v->n; i++) hs_bytes_free(&v->e[i].id);
  free(v->e);
  hs_vv_init(v);
}

/* The index of id in v, or -(insertion point) - 1. */
static int64_t find(const hs_vv *v, const void *id, size_t len) {
  uint32_t lo = 0, hi = v->n;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    int c = hs_bytes_cmp(v->e[mid].id.p, v->e[mid].id.len, id, len);
    if (c == 0) return mid;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -(int64_t)lo - 1;
}

uint64_t hs_vv_get(const hs_vv *v, const void *id, size_t len) {
  int64_t i = find(v, id, len);
  return i >= 0 ? v->e[i].n : 0;
}

int hs_vv_raise(hs_vv *v, const void *id, size_t len, uint64_t n) {
  int64_t i = find(v, id, len);
  if (i >= 0) {
    if (n > v->e[i].n) v->e[i].n = n;
    return HS_OK;
  }
  if (n == 0) return HS_OK; /* a missing id reads 0 already */
  uint32_t at = (uint32_t)(-i - 1);
  if (v->n == v->cap) {
    uint32_t cap = v->cap ? v->cap * 2 : 4;
    hs_vv_entry *e = realloc(v->e, cap * sizeof *e);
    if (!e) return HS_ENOMEM;
    v->e = e;
    v->cap = cap;
  }
  hs_bytes b = {0};
  int rc = hs_bytes_set(&b, id, len);
  if (rc != HS_OK) return rc;
  memmove(v->e + at + 1, v->e + at, (v->n - at) * sizeof *v->e);
  v->e[at] = (hs_vv_entry){b, n};
  v->n++;
  return HS_OK;
}

int hs_vv_merge(hs_vv *v, const hs_vv *other) {
  for (uint32_t i = 0; i < other->n; i++) {
    int rc = hs_vv_raise(v, other->e[i].id.p, other->e[i].id.len, other->e[i].n);
    if (rc != HS_OK) return rc;
  }
  return HS_OK;
}

int hs_vv_copy(hs_vv *dst, const hs_vv *src) {
  hs_vv_free(dst);
  return hs_vv_merge(dst, src);
}

bool hs_vv_equal(const hs_vv *a, const hs_vv *b) {
  if (a->n != b->n) return false;
  for (uint32_t i = 0; i < a->n; i++)
    if (a->e[i].n != b->e[i].n || hs_bytes_cmp(a->e[i].id.p, a->e[i].id.len, b->e[i].id.p, b->e[i].id.len) != 0)
      return false;
  return true;
}

void hs_vv_encode(const hs_vv *v, hs_buf *out) {
  hs_buf_put_table(out, 2 * v->n, 0);
  for (uint32_t i = 0; i < v->n; i++) {
    hs_buf_put_string(out, (const char *)v->e[i].id.p, v->e[i].id.len);
    hs_buf_put_int(out, (int64_t)v->e[i].n);
  }
}

/* Merges (pointwise max) the encoded vector `in` into v. */
int hs_vv_decode(hs_vv *v, hs_value in) {
  uint32_t narr, nmap;
  if (!hs_value_table(in, &narr, &nmap) || nmap != 0 || narr % 2) return HS_EINVAL;
  for (uint32_t i = 0; i < narr; i += 2) {
    size_t len;
    const char *id = hs_crdt_string_at(in, i, &len);
    hs_value nv;
    int64_t n;
    if (!id || !hs_value_index(in, i + 1, &nv) || !hs_value_int(nv, &n) || n < 0) return HS_EINVAL;
    int rc = hs_vv_raise(v, id, len, (uint64_t)n);
    if (rc != HS_OK) return rc;
  }
  return HS_OK;
}
