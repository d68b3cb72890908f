/*
 * hs_lin_value.c - canonical value encodings, so that equal Lua values have equal bytes.
 *
 * The encoder writes a table's map part in lua_next order, which depends on how the
 * table was built; and 1 and 1.0 are equal in Lua but encode differently. The checker
 * compares and hashes values and states by their bytes, so it first rewrites each value
 * into one canonical form.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lin/hs_lin.h"

#define MAX_DEPTH 200

typedef struct pair {
  const uint8_t *k, *v;
  size_t klen, vlen;
  size_t koff, voff;
} pair;

static int cmp_bytes(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen) {
  size_t n = alen < blen ? alen : blen;
  int c = memcmp(a, b, n);
  if (c) return c;
  return alen < blen ? -1 : alen > blen;
}

static int cmp_pair(const void *a, const void *b) {
  const pair *x = a, *y = b;
  return cmp_bytes(x->k, x->klen, y->k, y->klen);
}

static bool canon(hs_value v, hs_buf *out, int depth);

static bool canon_table(hs_value v, hs_buf *out, int depth) {
  hs_value_iter it;
  if (!hs_value_iter_init(&it, v)) return false;
  uint32_t narr = it.narr, nmap = it.nmap;
  size_t header = out->len;
  hs_buf_put_table(out, 0, 0);
  hs_value item;
  while (hs_value_iter_next(&it, &item))
    if (!canon(item, out, depth + 1)) return false;
  if (it.failed) return false;
  if (nmap == 0) {
    hs_buf_patch_table(out, header, narr, 0);
    return !out->failed;
  }
  if (nmap == 1) { /* one entry is in order already, unless its key extends the array */
    hs_value_iter peek = it; /* the general path below reads the pair again from `it` */
    hs_value k, val;
    int64_t ik;
    if (!hs_value_iter_pair(&peek, &k, &val)) return false;
    if (!(hs_value_int(k, &ik) || hs_value_type(k) == HS_V_DOUBLE)) {
      if (!canon(k, out, depth + 1) || !canon(val, out, depth + 1)) return false;
      hs_buf_patch_table(out, header, narr, 1);
      return !out->failed;
    }
  }
  bool ok = true;
  hs_buf tmp;
  hs_buf_init(&tmp);
  pair *pairs = nmap ? calloc(nmap, sizeof *pairs) : NULL;
  if (nmap && !pairs) return false;
  for (uint32_t i = 0; ok && i < nmap; i++) {
    hs_value k, val;
    if (!hs_value_iter_pair(&it, &k, &val)) {
      ok = false;
      break;
    }
    pairs[i].koff = tmp.len;
    ok = canon(k, &tmp, depth + 1);
    pairs[i].klen = tmp.len - pairs[i].koff;
    pairs[i].voff = tmp.len;
    ok = ok && canon(val, &tmp, depth + 1);
    pairs[i].vlen = tmp.len - pairs[i].voff;
  }
  if (ok && tmp.failed) ok = false;
  if (ok) {
    for (uint32_t i = 0; i < nmap; i++) {
      pairs[i].k = tmp.data + pairs[i].koff;
      pairs[i].v = tmp.data + pairs[i].voff;
    }
    /* integer keys narr+1, narr+2 ... belong to the array part */
    uint32_t left = nmap;
    for (;;) {
      uint32_t j = 0;
      for (; j < left; j++) {
        int64_t ik;
        if (hs_value_int((hs_value){pairs[j].k, pairs[j].klen}, &ik) && ik == (int64_t)narr + 1) break;
      }
      if (j == left) break;
      hs_buf_put_raw(out, pairs[j].v, pairs[j].vlen);
      narr++;
      pairs[j] = pairs[--left];
    }
    if (left > 1) qsort(pairs, left, sizeof *pairs, cmp_pair);
    for (uint32_t j = 0; j < left; j++) {
      hs_buf_put_raw(out, pairs[j].k, pairs[j].klen);
      hs_buf_put_raw(out, pairs[j].v, pairs[j].vlen);
    }
    hs_buf_patch_table(out, header, narr, left);
  }
  free(pairs);
  hs_buf_free(&tmp);
  return ok && !out->failed;
}

static bool canon(hs_value v, hs_buf *out, int depth) {
  size_t size = hs_value_size(v);
  if (!size || depth > MAX_DEPTH) return false;
  switch (hs_value_type(v)) {
  case HS_V_DOUBLE: {
    double d;
    hs_value_number(v, &d);
    if (isfinite(d) && d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
      hs_buf_put_int(out, (int64_t)d);
      return !out->failed;
    }
    hs_buf_put_raw(out, v.p, size);
    return !out->failed;
  }
  case HS_V_TABLE: return canon_table(v, out, depth);
  case HS_V_BAD: return false;
  default: hs_buf_put_raw(out, v.p, size); return !out->failed;
  }
}

bool hs_lin_canon(hs_value v, hs_buf *out) { return canon(v, out, 0); }
