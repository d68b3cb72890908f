/*
 * hs_lin_models.c - the built-in sequential models of the linearizability checker.
 *
 * Every state is a canonical hs_value encoding, so a report can decode it:
 *   register, cas_register, kv   the register's value (nil at first)
 *   kv_map                       a table key -> value (keys without a value are absent)
 *   set                          an array of the elements, sorted by their bytes
 *   counter                      an integer (0 at first)
 * Values compare by their canonical bytes (see hs_lin_canon).
 */
#include <stdlib.h>
#include <string.h>

#include "lin/hs_lin.h"

enum kind { K_REGISTER, K_CAS_REGISTER, K_KV, K_KV_MAP, K_SET, K_COUNTER };

typedef struct builtin {
  hs_lin_model model;
  enum kind kind;
} builtin;

static const uint8_t NIL_BYTE = HS_V_NIL;

/* An absent value (len 0) is nil. */
static hs_value or_nil(hs_value v) { return v.len ? v : (hs_value){&NIL_BYTE, 1}; }

static size_t vsize(hs_value v) { return hs_value_size(or_nil(v)); }

static bool same(hs_value a, hs_value b) { return hs_value_equal(or_nil(a), or_nil(b)); }

static void put_value(hs_buf *out, hs_value v) {
  v = or_nil(v);
  hs_buf_put_raw(out, v.p, hs_value_size(v));
}

static int cmp_bytes(hs_value a, hs_value b) {
  size_t la = vsize(a), lb = vsize(b);
  a = or_nil(a);
  b = or_nil(b);
  int c = memcmp(a.p, b.p, la < lb ? la : lb);
  if (c) return c;
  return la < lb ? -1 : la > lb;
}

/* cas input: { expected, new } */
static bool cas_args(hs_value in, hs_value *expected, hs_value *next) {
  return hs_value_index(in, 0, expected) && hs_value_index(in, 1, next);
}

static bool is_int(hs_value v) {
  int64_t i;
  return hs_value_int(v, &i);
}

/* ---- the register family ------------------------------------------------------- */

static int register_step(enum kind kind, hs_value state, const hs_lin_op *op, hs_buf *out) {
  switch (op->f) {
  case HS_LIN_F_READ:
    if (!op->unknown && !same(state, op->output)) return 0;
    put_value(out, state);
    return 1;
  case HS_LIN_F_WRITE: put_value(out, op->input); return 1;
  case HS_LIN_F_CAS: {
    hs_value expected, next;
    if (kind == K_REGISTER || !cas_args(op->input, &expected, &next)) return -1;
    if (!same(state, expected)) return 0;
    put_value(out, next);
    return 1;
  }
  default: return -1;
  }
}

/* ---- kv_map: a table key -> value ---------------------------------------------- */

typedef struct kv_entry {
  hs_value k, v;
} kv_entry;

/* Rewrites the map with key := value (nil removes it). */
static int kv_map_put(hs_value map, hs_value key, hs_value value, hs_buf *out) {
  hs_value_iter it;
  if (!hs_value_iter_init(&it, map) || it.narr) return -1;
  bool remove = hs_value_type(or_nil(value)) == HS_V_NIL;
  size_t header = out->len;
  hs_buf_put_table(out, 0, 0);
  uint32_t count = 0;
  bool placed = remove;
  hs_value k, v;
  while (hs_value_iter_pair(&it, &k, &v)) {
    int c = cmp_bytes(k, key);
    if (!placed && c >= 0) {
      put_value(out, key);
      put_value(out, value);
      count++;
      placed = true;
    }
    if (c == 0) continue;
    put_value(out, k);
    put_value(out, v);
    count++;
  }
  if (!placed) {
    put_value(out, key);
    put_value(out, value);
    count++;
  }
  hs_buf_patch_table(out, header, 0, count);
  return 1;
}

static hs_value kv_map_get(hs_value map, hs_value key) {
  hs_value_iter it;
  hs_value k, v;
  hs_value_iter_init(&it, map);
  while (hs_value_iter_pair(&it, &k, &v))
    if (same(k, key)) return v;
  return (hs_value){&NIL_BYTE, 1};
}

static int kv_map_step(hs_value state, const hs_lin_op *op, hs_buf *out) {
  hs_value cur = kv_map_get(state, op->key);
  switch (op->f) {
  case HS_LIN_F_READ:
    if (!op->unknown && !same(cur, op->output)) return 0;
    put_value(out, state);
    return 1;
  case HS_LIN_F_WRITE: return kv_map_put(state, op->key, op->input, out);
  case HS_LIN_F_CAS: {
    hs_value expected, next;
    if (!cas_args(op->input, &expected, &next)) return -1;
    if (!same(cur, expected)) return 0;
    return kv_map_put(state, op->key, next, out);
  }
  default: return -1;
  }
}

/* ---- set: add(x), read() -> { elements } --------------------------------------- */

static int cmp_view(const void *a, const void *b) { return cmp_bytes(*(const hs_value *)a, *(const hs_value *)b); }

/* The array items of a table, sorted, duplicates removed; NULL on failure. */
static hs_value *sorted_items(hs_value t, uint32_t *count) {
  hs_value_iter it;
  if (!hs_value_iter_init(&it, t)) return NULL;
  uint32_t narr = it.narr;
  hs_value *items = malloc((narr ? narr : 1) * sizeof *items);
  if (!items) return NULL;
  for (uint32_t i = 0; i < narr; i++)
    if (!hs_value_iter_next(&it, &items[i])) {
      free(items);
      return NULL;
    }
  qsort(items, narr, sizeof *items, cmp_view);
  uint32_t n = 0;
  for (uint32_t i = 0; i < narr; i++)
    if (n == 0 || cmp_bytes(items[n - 1], items[i]) != 0) items[n++] = items[i];
  *count = n;
  return items;
}

static int set_step(hs_value state, const hs_lin_op *op, hs_buf *out) {
  hs_value_iter it;
  hs_value e;
  if (!hs_value_iter_init(&it, state)) return -1;
  switch (op->f) {
  case HS_LIN_F_READ: {
    if (!op->unknown) {
      uint32_t n;
      hs_value *items = sorted_items(op->output, &n);
      if (!items) return -1;
      bool eq = n == it.narr;
      for (uint32_t i = 0; eq && i < n; i++) eq = hs_value_iter_next(&it, &e) && cmp_bytes(e, items[i]) == 0;
      free(items);
      if (!eq) return 0;
    }
    put_value(out, state);
    return 1;
  }
  case HS_LIN_F_ADD: {
    size_t header = out->len;
    hs_buf_put_table(out, 0, 0);
    uint32_t count = 0;
    bool placed = false;
    while (hs_value_iter_next(&it, &e)) {
      int c = placed ? -1 : cmp_bytes(e, op->input);
      if (c == 0) placed = true;
      if (c > 0) {
        put_value(out, op->input);
        count++;
        placed = true;
      }
      put_value(out, e);
      count++;
    }
    if (!placed) {
      put_value(out, op->input);
      count++;
    }
    hs_buf_patch_table(out, header, count, 0);
    return 1;
  }
  default: return -1;
  }
}

/* ---- counter: add(n), read() -> n ---------------------------------------------- */

static int counter_step(hs_value state, const hs_lin_op *op, hs_buf *out) {
  int64_t cur, n;
  if (!hs_value_int(state, &cur)) return -1;
  switch (op->f) {
  case HS_LIN_F_READ:
    if (!op->unknown && !(hs_value_int(op->output, &n) && n == cur)) return 0;
    put_value(out, state);
    return 1;
  case HS_LIN_F_ADD:
    if (!hs_value_int(op->input, &n)) return -1;
    hs_buf_put_int(out, (int64_t)((uint64_t)cur + (uint64_t)n));
    return 1;
  default: return -1;
  }
}

/* ---- the model interface ------------------------------------------------------- */

static int b_init(void *ud, hs_value key, hs_buf *out, uint64_t *handle) {
  (void)key;
  *handle = 0;
  switch (((builtin *)ud)->kind) {
  case K_KV_MAP: hs_buf_put_table(out, 0, 0); break;
  case K_SET: hs_buf_put_table(out, 0, 0); break;
  case K_COUNTER: hs_buf_put_int(out, 0); break;
  default: hs_buf_put_nil(out); break;
  }
  return out->failed ? -1 : 1;
}

static int b_step(void *ud, hs_lin_state s, const hs_lin_op *op, hs_buf *out, uint64_t *handle) {
  *handle = 0;
  enum kind kind = ((builtin *)ud)->kind;
  hs_value state = {s.bytes, s.len};
  int rc;
  switch (kind) {
  case K_KV_MAP: rc = kv_map_step(state, op, out); break;
  case K_SET: rc = set_step(state, op, out); break;
  case K_COUNTER: rc = counter_step(state, op, out); break;
  default: rc = register_step(kind, state, op, out); break;
  }
  return out->failed ? -1 : rc;
}

static bool b_readonly(void *ud, const hs_lin_op *op) {
  (void)ud;
  return op->f == HS_LIN_F_READ;
}

static const char *b_check_op(void *ud, const hs_lin_op *op) {
  enum kind kind = ((builtin *)ud)->kind;
  hs_value a, b;
  switch (kind) {
  case K_REGISTER:
    if (op->f != HS_LIN_F_READ && op->f != HS_LIN_F_WRITE) return "the register model knows read and write";
    return NULL;
  case K_CAS_REGISTER:
  case K_KV:
  case K_KV_MAP:
    if (op->f != HS_LIN_F_READ && op->f != HS_LIN_F_WRITE && op->f != HS_LIN_F_CAS)
      return "this model knows read, write and cas";
    if (op->f == HS_LIN_F_CAS && !cas_args(op->input, &a, &b)) return "a cas value must be { expected, new }";
    if ((kind == K_KV || kind == K_KV_MAP) && op->key.len == 0) return "a kv operation needs a key";
    return NULL;
  case K_SET:
    if (op->f != HS_LIN_F_READ && op->f != HS_LIN_F_ADD) return "the set model knows add and read";
    if (op->f == HS_LIN_F_READ && !op->unknown) {
      uint32_t narr, nmap;
      if (!hs_value_table(op->output, &narr, &nmap) || nmap) return "a set read must return an array of elements";
    }
    return NULL;
  case K_COUNTER:
    if (op->f != HS_LIN_F_READ && op->f != HS_LIN_F_ADD) return "the counter model knows add and read";
    if (op->f == HS_LIN_F_ADD && !is_int(op->input)) return "a counter add needs an integer value";
    if (op->f == HS_LIN_F_READ && !op->unknown && !is_int(op->output)) return "a counter read must return an integer";
    return NULL;
  }
  return NULL;
}

#define BUILTIN(var, name_, kind_, part)                                                               \
  static builtin var = {{.name = name_, .partition_by_key = part, .ud = &var, .init = b_init, .step = b_step, \
                         .readonly = b_readonly, .check_op = b_check_op},                              \
                        kind_}

BUILTIN(m_register, "register", K_REGISTER, false);
BUILTIN(m_cas_register, "cas_register", K_CAS_REGISTER, false);
BUILTIN(m_kv, "kv", K_KV, true);
BUILTIN(m_kv_map, "kv_map", K_KV_MAP, false);
BUILTIN(m_set, "set", K_SET, false);
BUILTIN(m_counter, "counter", K_COUNTER, false);

const hs_lin_model *hs_lin_model_builtin(const char *name) {
  static builtin *const all[] = {&m_register, &m_cas_register, &m_kv, &m_kv_map, &m_set, &m_counter};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    if (strcmp(all[i]->model.name, name) == 0) return &all[i]->model;
  return NULL;
}

int hs_lin_f_from_name(const char *name) {
  if (strcmp(name, "read") == 0) return HS_LIN_F_READ;
  if (strcmp(name, "write") == 0) return HS_LIN_F_WRITE;
  if (strcmp(name, "cas") == 0) return HS_LIN_F_CAS;
  if (strcmp(name, "add") == 0) return HS_LIN_F_ADD;
  return HS_LIN_F_OTHER;
}

const char *hs_lin_f_name(int f) {
  switch (f) {
  case HS_LIN_F_READ: return "read";
  case HS_LIN_F_WRITE: return "write";
  case HS_LIN_F_CAS: return "cas";
  case HS_LIN_F_ADD: return "add";
  default: return "other";
  }
}
