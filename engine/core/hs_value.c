#include "hs_value.h"

#include <stdlib.h>
#include <string.h>

void hs_buf_init(hs_buf *b) { memset(b, 0, sizeof *b); }

void hs_buf_free(hs_buf *b) {
  free(b->data);
  hs_buf_init(b);
}

void hs_buf_reset(hs_buf *b) {
  b->len = 0;
  b->failed = 0;
}

uint8_t *hs_buf_reserve(hs_buf *b, size_t n) {
  if (b->failed) return NULL;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n) cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    if (!d) {
      b->failed = 1;
      return NULL;
    }
    b->data = d;
    b->cap = cap;
  }
  uint8_t *p = b->data + b->len;
  b->len += n;
  return p;
}

static void put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

void hs_buf_put_nil(hs_buf *b) {
  uint8_t *p = hs_buf_reserve(b, 1);
  if (p) *p = HS_V_NIL;
}

void hs_buf_put_bool(hs_buf *b, bool v) {
  uint8_t *p = hs_buf_reserve(b, 1);
  if (p) *p = v ? HS_V_TRUE : HS_V_FALSE;
}

void hs_buf_put_int(hs_buf *b, int64_t v) {
  uint8_t *p = hs_buf_reserve(b, 9);
  if (!p) return;
  p[0] = HS_V_INT;
  put_u64(p + 1, (uint64_t)v);
}

void hs_buf_put_double(hs_buf *b, double v) {
  uint8_t *p = hs_buf_reserve(b, 9);
  if (!p) return;
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  p[0] = HS_V_DOUBLE;
  put_u64(p + 1, bits);
}

void hs_buf_put_string(hs_buf *b, const char *s, size_t len) {
  if (len > UINT32_MAX) {
    b->failed = 1;
    return;
  }
  uint8_t *p = hs_buf_reserve(b, 5 + len);
  if (!p) return;
  p[0] = HS_V_STRING;
  put_u32(p + 1, (uint32_t)len);
  if (len) memcpy(p + 5, s, len);
}

void hs_buf_put_raw(hs_buf *b, const void *data, size_t len) {
  uint8_t *p = hs_buf_reserve(b, len);
  if (p && len) memcpy(p, data, len);
}

void hs_buf_put_table(hs_buf *b, uint32_t narr, uint32_t nmap) {
  uint8_t *p = hs_buf_reserve(b, 9);
  if (!p) return;
  p[0] = HS_V_TABLE;
  put_u32(p + 1, narr);
  put_u32(p + 5, nmap);
}

void hs_buf_patch_table(hs_buf *b, size_t at, uint32_t narr, uint32_t nmap) {
  if (b->failed || at + 9 > b->len) return;
  put_u32(b->data + at + 1, narr);
  put_u32(b->data + at + 5, nmap);
}

enum hs_value_type hs_value_type(hs_value v) {
  if (v.len == 0 || v.p[0] > HS_V_TABLE) return HS_V_BAD;
  return (enum hs_value_type)v.p[0];
}

/* Bounded recursion: encoders refuse deeper nesting, so a deeper input is malformed. */
#define MAX_DEPTH 200

static size_t size_at(const uint8_t *p, size_t len, int depth) {
  if (len == 0 || depth > MAX_DEPTH) return 0;
  switch (p[0]) {
  case HS_V_NIL:
  case HS_V_FALSE:
  case HS_V_TRUE: return 1;
  case HS_V_INT:
  case HS_V_DOUBLE: return len >= 9 ? 9 : 0;
  case HS_V_STRING: {
    if (len < 5) return 0;
    size_t n = get_u32(p + 1);
    return len - 5 >= n ? 5 + n : 0;
  }
  case HS_V_TABLE: {
    if (len < 9) return 0;
    uint64_t items = (uint64_t)get_u32(p + 1) + 2 * (uint64_t)get_u32(p + 5);
    size_t off = 9;
    for (uint64_t i = 0; i < items; i++) {
      size_t s = size_at(p + off, len - off, depth + 1);
      if (!s) return 0;
      off += s;
    }
    return off;
  }
  default: return 0;
  }
}

size_t hs_value_size(hs_value v) { return size_at(v.p, v.len, 0); }

bool hs_value_int(hs_value v, int64_t *out) {
  if (hs_value_type(v) != HS_V_INT || v.len < 9) return false;
  *out = (int64_t)get_u64(v.p + 1);
  return true;
}

bool hs_value_number(hs_value v, double *out) {
  int64_t i;
  if (hs_value_int(v, &i)) {
    *out = (double)i;
    return true;
  }
  if (hs_value_type(v) != HS_V_DOUBLE || v.len < 9) return false;
  uint64_t bits = get_u64(v.p + 1);
  memcpy(out, &bits, sizeof *out);
  return true;
}

const char *hs_value_string(hs_value v, size_t *len) {
  if (hs_value_type(v) != HS_V_STRING || !hs_value_size(v)) return NULL;
  *len = get_u32(v.p + 1);
  return (const char *)v.p + 5;
}

bool hs_value_table(hs_value v, uint32_t *narr, uint32_t *nmap) {
  if (hs_value_type(v) != HS_V_TABLE || v.len < 9) return false;
  *narr = get_u32(v.p + 1);
  *nmap = get_u32(v.p + 5);
  return true;
}

bool hs_value_iter_init(hs_value_iter *it, hs_value t) {
  memset(it, 0, sizeof *it);
  if (!hs_value_table(t, &it->narr, &it->nmap)) {
    it->failed = true;
    return false;
  }
  it->p = t.p;
  it->len = t.len;
  it->off = 9;
  return true;
}

/* The item at it->off, moving past it. */
static bool iter_item(hs_value_iter *it, hs_value *out) {
  size_t s = size_at(it->p + it->off, it->len - it->off, 0);
  if (!s) {
    it->failed = true;
    return false;
  }
  *out = (hs_value){it->p + it->off, s};
  it->off += s;
  return true;
}

bool hs_value_iter_next(hs_value_iter *it, hs_value *item) {
  if (it->failed || it->arr_read >= it->narr || !iter_item(it, item)) return false;
  it->arr_read++;
  return true;
}

bool hs_value_iter_pair(hs_value_iter *it, hs_value *key, hs_value *val) {
  hs_value skipped;
  while (hs_value_iter_next(it, &skipped)) {}
  if (it->failed || it->map_read >= it->nmap || !iter_item(it, key) || !iter_item(it, val)) return false;
  it->map_read++;
  return true;
}

bool hs_value_index(hs_value v, uint32_t i, hs_value *out) {
  hs_value_iter it;
  if (!hs_value_iter_init(&it, v) || i >= it.narr) return false;
  for (uint32_t j = 0; j <= i; j++)
    if (!hs_value_iter_next(&it, out)) return false;
  return true;
}

bool hs_value_field(hs_value v, const char *key, hs_value *out) {
  hs_value_iter it;
  hs_value k, val;
  size_t klen = strlen(key);
  hs_value_iter_init(&it, v);
  while (hs_value_iter_pair(&it, &k, &val)) {
    size_t n;
    const char *s = hs_value_string(k, &n);
    if (s && n == klen && memcmp(s, key, n) == 0) {
      *out = val;
      return true;
    }
  }
  return false;
}

bool hs_value_equal(hs_value a, hs_value b) {
  size_t sa = hs_value_size(a), sb = hs_value_size(b);
  return sa && sa == sb && memcmp(a.p, b.p, sa) == 0;
}
