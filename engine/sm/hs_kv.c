#include "sm/hs_kv.h"

#include "core/hs_rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hs_kv_init(hs_kv *kv) { memset(kv, 0, sizeof *kv); }

static void free_slots(hs_kv_entry *slots, size_t cap) {
  for (size_t i = 0; i < cap; i++) {
    free(slots[i].key);
    free(slots[i].value);
  }
  free(slots);
}

void hs_kv_free(hs_kv *kv) {
  free_slots(kv->slots, kv->cap);
  hs_kv_init(kv);
}

/* The slot holding key, or the first free one for it (NULL when the table is empty). */
static hs_kv_entry *find(const hs_kv *kv, const char *key, size_t len, uint64_t h, bool for_insert) {
  if (!kv->cap) return NULL;
  hs_kv_entry *tomb = NULL;
  for (size_t i = h & (kv->cap - 1), n = 0; n < kv->cap; i = (i + 1) & (kv->cap - 1), n++) {
    hs_kv_entry *e = &kv->slots[i];
    if (!e->key) return for_insert ? (tomb ? tomb : e) : NULL;
    if (!e->value) {
      if (!tomb) tomb = e;
      continue;
    }
    if (e->hash == h && e->key_len == len && memcmp(e->key, key, len) == 0) return e;
  }
  return for_insert ? tomb : NULL;
}

static bool grow(hs_kv *kv) {
  size_t cap = kv->cap ? kv->cap * 2 : 16;
  if (kv->count * 2 < kv->cap) cap = kv->cap; /* mostly tombstones: rehash in place */
  hs_kv_entry *slots = calloc(cap, sizeof *slots);
  if (!slots) return false;
  for (size_t i = 0; i < kv->cap; i++) {
    hs_kv_entry *e = &kv->slots[i];
    if (!e->key) continue;
    if (!e->value) {
      free(e->key);
      continue;
    }
    size_t j = e->hash & (cap - 1);
    while (slots[j].key) j = (j + 1) & (cap - 1);
    slots[j] = *e;
  }
  free(kv->slots);
  kv->slots = slots;
  kv->cap = cap;
  kv->used = kv->count;
  return true;
}

/* Stores a copy of value under key; false when out of memory. */
static bool put(hs_kv *kv, const char *key, size_t len, const uint8_t *value, size_t vlen) {
  if ((kv->used + 1) * 4 > kv->cap * 3 && !grow(kv)) return false;
  uint64_t h = hs_hash_bytes(key, len);
  hs_kv_entry *e = find(kv, key, len, h, true);
  if (e->key && e->value && e->value_len == vlen) { /* replace in place (same size: a number ...) */
    memcpy(e->value, value, vlen);
    return true;
  }
  uint8_t *copy = malloc(vlen ? vlen : 1);
  if (!copy) return false;
  memcpy(copy, value, vlen);
  if (e->key && e->value) { /* replace */
    free(e->value);
  } else {
    if (!e->key) kv->used++;
    free(e->key);
    e->key = malloc(len + 1);
    if (!e->key) {
      free(copy);
      e->value = NULL;
      return false;
    }
    memcpy(e->key, key, len);
    e->key[len] = 0;
    e->key_len = len;
    e->hash = h;
    kv->count++;
  }
  e->value = copy;
  e->value_len = vlen;
  return true;
}

bool hs_kv_get(const hs_kv *kv, const char *key, size_t len, hs_value *out) {
  hs_kv_entry *e = find(kv, key, len, hs_hash_bytes(key, len), false);
  if (!e) return false;
  out->p = e->value;
  out->len = e->value_len;
  return true;
}

static void put_value(hs_buf *out, hs_value v) {
  size_t n = hs_value_size(v);
  if (n)
    hs_buf_put_raw(out, v.p, n);
  else
    hs_buf_put_nil(out);
}

/* The fields of a command, found in one pass over its map part (as hs_value_field would find
 * each: the first item with that key, among those before any malformed item), with the
 * sizes of their encodings; op and key also as strings when they are strings. */
typedef struct kv_fields {
  hs_value op, key, value, expected;
  size_t value_size;
  const char *ops, *ks; /* NULL unless a string */
  size_t oplen, klen;
  bool has_op, has_key, has_value, has_expected;
} kv_fields;

static void command_fields(hs_value cmd, kv_fields *f) {
  memset(f, 0, sizeof *f);
  hs_value_iter it;
  hs_value k, v;
  hs_value_iter_init(&it, cmd);
  while (hs_value_iter_pair(&it, &k, &v)) {
    size_t ks = k.len, vs = v.len;
    if (k.p[0] != HS_V_STRING) continue;
    size_t n = ks - 5; /* a string encodes as its tag, a u32 length, then the bytes */
    const char *s = (const char *)k.p + 5;
    const char *vstr = v.p[0] == HS_V_STRING ? (const char *)v.p + 5 : NULL;
    if (n == 2 && memcmp(s, "op", 2) == 0 && !f->has_op) {
      f->op = v;
      f->has_op = true;
      f->ops = vstr;
      f->oplen = vs - 5;
    } else if (n == 3 && memcmp(s, "key", 3) == 0 && !f->has_key) {
      f->key = v;
      f->has_key = true;
      f->ks = vstr;
      f->klen = vs - 5;
    } else if (n == 5 && memcmp(s, "value", 5) == 0 && !f->has_value) {
      f->value = v;
      f->value_size = vs;
      f->has_value = true;
    } else if (n == 8 && memcmp(s, "expected", 8) == 0 && !f->has_expected) {
      f->expected = v;
      f->has_expected = true;
    }
  }
}

const char *hs_kv_apply(hs_kv *kv, hs_value cmd, hs_buf *out) {
  kv_fields f;
  command_fields(cmd, &f);
  hs_value value = f.value;
  size_t oplen = f.oplen, klen = f.klen;
  const char *ops = f.ops, *ks = f.ks;
  if (!ops) return "command must be a table with a string field 'op'";
  if (!ks) return "command must have a string field 'key'";
  if (oplen == 3 && memcmp(ops, "set", 3) == 0) { /* needs no lookup of the current value */
    if (!f.has_value) return "set needs a field 'value'";
    if (!put(kv, ks, klen, value.p, f.value_size)) return "out of memory";
    hs_buf_put_raw(out, value.p, f.value_size); /* a value's size is never 0 */
    kv->applied++;
    return NULL;
  }
  hs_value cur;
  bool has = hs_kv_get(kv, ks, klen, &cur);
  if (oplen == 3 && memcmp(ops, "get", 3) == 0) {
    if (has)
      put_value(out, cur);
    else
      hs_buf_put_nil(out);
  } else if (oplen == 6 && memcmp(ops, "delete", 6) == 0) {
    if (has) {
      put_value(out, cur);
      hs_kv_entry *e = find(kv, ks, klen, hs_hash_bytes(ks, klen), false);
      free(e->value);
      e->value = NULL; /* tombstone */
      kv->count--;
    } else {
      hs_buf_put_nil(out);
    }
  } else if (oplen == 3 && memcmp(ops, "cas", 3) == 0) {
    hs_value expected = f.expected;
    if (!f.has_value) return "cas needs a field 'value'";
    bool want_absent = !f.has_expected || hs_value_type(expected) == HS_V_NIL;
    bool match = want_absent ? !has : (has && hs_value_equal(cur, expected));
    if (match && !put(kv, ks, klen, value.p, f.value_size)) return "out of memory";
    hs_buf_put_bool(out, match);
  } else {
    return "unknown op (expected set, get, delete or cas)";
  }
  kv->applied++;
  return NULL;
}

/* The canonical order of a map's pairs (hs_lua_value.c): by the bytes of the encoded keys,
 * here a string tag, the length as u32 little-endian, then the key's bytes. So a snapshot is
 * byte for byte what encoding the same table from Lua gives. */
static int cmp_entry(const void *a, const void *b) {
  const hs_kv_entry *x = *(const hs_kv_entry *const *)a, *y = *(const hs_kv_entry *const *)b;
  for (int i = 0; i < 4; i++) { /* the length, least significant byte first */
    unsigned bx = (unsigned)(x->key_len >> (8 * i)) & 0xff, by = (unsigned)(y->key_len >> (8 * i)) & 0xff;
    if (bx != by) return bx < by ? -1 : 1;
  }
  return memcmp(x->key, y->key, x->key_len); /* equal lengths */
}

void hs_kv_snapshot(const hs_kv *kv, hs_buf *out) {
  hs_kv_entry **live = malloc((kv->count ? kv->count : 1) * sizeof *live);
  if (!live) {
    out->failed = 1;
    return;
  }
  size_t n = 0;
  for (size_t i = 0; i < kv->cap; i++)
    if (kv->slots[i].key && kv->slots[i].value) live[n++] = &kv->slots[i];
  qsort(live, n, sizeof *live, cmp_entry);
  hs_buf_put_table(out, 0, (uint32_t)n);
  for (size_t i = 0; i < n; i++) {
    hs_buf_put_string(out, live[i]->key, live[i]->key_len);
    put_value(out, (hs_value){live[i]->value, live[i]->value_len});
  }
  free(live);
}

const char *hs_kv_restore(hs_kv *kv, hs_value snap) {
  uint32_t narr, nmap;
  if (!hs_value_table(snap, &narr, &nmap) || narr != 0 || hs_value_size(snap) == 0)
    return "snapshot must be a table of string keys";
  hs_kv fresh;
  hs_kv_init(&fresh);
  hs_value_iter it;
  hs_value k, v;
  hs_value_iter_init(&it, snap);
  while (hs_value_iter_pair(&it, &k, &v)) {
    size_t klen;
    const char *ks = hs_value_string(k, &klen);
    if (!ks) {
      hs_kv_free(&fresh);
      return "snapshot keys must be strings";
    }
    if (!put(&fresh, ks, klen, v.p, v.len)) {
      hs_kv_free(&fresh);
      return "out of memory";
    }
  }
  fresh.applied = kv->applied;
  hs_kv_free(kv);
  *kv = fresh;
  return NULL;
}

/* Whether the encoded command is one hs_kv_apply takes (as apply checks it, without applying):
 * NULL, or why not (written into buf). A leader checks a command with it before the command
 * enters the replicated log. */
const char *hs_kv_validate(hs_value cmd, char *buf, size_t n) {
  kv_fields f;
  command_fields(cmd, &f);
  if (!f.ops) return "command must be a table with a string field 'op'";
  if (!f.ks) return "command must have a string field 'key'";
  if ((f.oplen == 3 && memcmp(f.ops, "set", 3) == 0) || (f.oplen == 3 && memcmp(f.ops, "cas", 3) == 0))
    return f.has_value ? NULL : (f.ops[0] == 's' ? "set needs a field 'value'" : "cas needs a field 'value'");
  if ((f.oplen == 3 && memcmp(f.ops, "get", 3) == 0) || (f.oplen == 6 && memcmp(f.ops, "delete", 6) == 0)) return NULL;
  snprintf(buf, n, "unknown op '%.*s' (expected set, get, delete or cas)", (int)(f.oplen > 64 ? 64 : f.oplen), f.ops);
  return buf;
}
