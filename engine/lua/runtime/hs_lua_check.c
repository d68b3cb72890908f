/*
 * hs_lua_check.c - the linearizability checker (engine/lin) seen from Lua.
 *
 *   core.check.linearizable(ops, model, opts) -> raw result | nil, message
 *
 * check.lua turns a Jepsen-style history into `ops` (one table per operation: f, key,
 * value, output, unknown, call, ret, index) and the raw result into the report users see.
 * `model` is a built-in model's name or a Lua model table { init, step, hash, partition }.
 * A Lua model is called synchronously with a traceback handler; its states live in a
 * table on this call's stack, keyed by luaL_ref handles the checker hands back when it
 * drops a state. All C memory hangs off a userdata, so an error anywhere leaks nothing.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lin/hs_lin.h"
#include "hs_lua.h"

#define HS_LINCHECK_MT "happysim.LinCheck"

typedef struct lmodel {
  hs_lin_model model;
  lua_State *L;   /* NULL once the stack slots below are gone */
  int model_idx;  /* the model table */
  int states_idx; /* handle -> state (handle 0: decode the identity bytes, see plain_identity) */
  int ops_idx;    /* the ops array (1-based) */
  int tb_idx;     /* the traceback handler */
  int step_idx;   /* the model's step function */
  const hs_lin_op *op0; /* ops[0], to find an op's index */
  bool has_hash;
  bool failed; /* a callback raised: the search stops */
  int err_ref; /* registry ref of the first error message */
  hs_buf enc; /* scratch for encodings */
  /* Steps from a plain state to a plain state (or to illegal), remembered: the search
   * steps the same operation from the same state many times (each configuration with that
   * state tries it), and a Lua call costs more than a lookup. A model's step is a function
   * of the state and the operation. Open addressing over entries in `cache_data`. */
  uint32_t *cache_slots; /* entry offset + 1, 0 = empty */
  size_t cache_cap, cache_count;
  hs_buf cache_data;     /* entries: hash u64, op u32, rc u32, in_len u32, out_len u32, in, out */
} lmodel;

typedef struct lcheck {
  hs_lin_op *ops;
  size_t n;
  hs_buf values; /* canonical encodings of every key, input and output */
  hs_buf scratch;
  hs_lin_result result;
  bool has_result;
  const hs_lin_model *model;
  lmodel lm;
} lcheck;

static void lcheck_close(lcheck *c) {
  if (c->has_result) {
    hs_lin_result_free(&c->result, c->lm.L ? c->model : NULL);
    c->has_result = false;
  }
  free(c->ops);
  c->ops = NULL;
  hs_buf_free(&c->values);
  hs_buf_free(&c->scratch);
  hs_buf_free(&c->lm.enc);
  free(c->lm.cache_slots);
  c->lm.cache_slots = NULL;
  c->lm.cache_cap = c->lm.cache_count = 0;
  hs_buf_free(&c->lm.cache_data);
}

static int lcheck_gc(lua_State *L) {
  lcheck *c = luaL_checkudata(L, 1, HS_LINCHECK_MT);
  c->lm.L = NULL;
  lcheck_close(c);
  return 0;
}

/* A closed checker userdata; its metatable is made on first use. */
static lcheck *new_lcheck(lua_State *L) {
  lcheck *c = lua_newuserdatauv(L, sizeof *c, 0);
  memset(c, 0, sizeof *c);
  if (luaL_newmetatable(L, HS_LINCHECK_MT)) {
    lua_pushcfunction(L, lcheck_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  return c;
}

/* ---- a model written in Lua ------------------------------------------------------ *
 *
 * The search calls step for every configuration it tries, so a step is kept short: the
 * model's step function is called directly under lua_pcall (with the traceback handler),
 * and a state that is nil, a boolean, an integer or a string (without a hash function) is
 * its own identity: its canonical bytes are written in C, no reference is taken, and the
 * state is decoded from those bytes when it is stepped again. Other states (tables) are
 * encoded and canonicalized under a protected call and kept in the states table. */

/* The protected callbacks run in a frame of their own: (lcall, model, states, ops [, value]). */
#define P_MODEL 2
#define P_STATES 3
#define P_OPS 4
#define P_VALUE 5

/* Writes the identity of a plain state (see above) at idx to out; false for another. */
static bool plain_identity(lua_State *L, int idx, hs_buf *out) {
  switch (lua_type(L, idx)) {
  case LUA_TNIL: hs_buf_put_nil(out); return true;
  case LUA_TBOOLEAN: hs_buf_put_bool(out, lua_toboolean(L, idx)); return true;
  case LUA_TNUMBER:
    if (!lua_isinteger(L, idx)) return false; /* 1.0 and 1 share an identity, but not a decoding */
    hs_buf_put_int(out, (int64_t)lua_tointeger(L, idx));
    return true;
  case LUA_TSTRING: {
    size_t len;
    const char *str = lua_tolstring(L, idx, &len);
    hs_buf_put_string(out, str, len);
    return true;
  }
  default: return false;
  }
}

/* Writes the identity of the state at idx: its hash() result, or its canonical encoding. */
static void push_identity(lua_State *L, lmodel *lm, int idx, hs_buf *out) {
  idx = lua_absindex(L, idx);
  hs_buf_reset(&lm->enc);
  if (lm->has_hash) {
    lua_getfield(L, P_MODEL, "hash");
    lua_pushvalue(L, idx);
    lua_call(L, 1, 1);
    int t = lua_type(L, -1);
    if (t != LUA_TSTRING && t != LUA_TNUMBER)
      luaL_error(L, "the model's hash must return a string or a number, got %s", luaL_typename(L, -1));
    hs_lua_encode(L, &lm->enc, -1, "the state's hash");
    lua_pop(L, 1);
  } else {
    hs_lua_encode(L, &lm->enc, idx, "a model state (give the model a hash function for states that are not plain data)");
  }
  if (!hs_lin_canon((hs_value){lm->enc.data, lm->enc.len}, out) || out->failed)
    luaL_error(L, "a model state could not be encoded");
}

typedef struct lcall {
  lmodel *lm;
  hs_value key;
  size_t op;     /* 0-based */
  hs_buf *out;
  int64_t handle;
  int legal;
} lcall;

/* Protected: the identity of the state (the extra value), which is kept (a->handle). */
static int p_identity(lua_State *L) {
  lcall *a = lua_touserdata(L, 1);
  push_identity(L, a->lm, P_VALUE, a->out);
  lua_pushvalue(L, P_VALUE);
  a->handle = luaL_ref(L, P_STATES);
  a->legal = 1;
  return 0;
}

/* Protected: init([key]) -> state */
static int p_init(lua_State *L) {
  lcall *a = lua_touserdata(L, 1);
  lmodel *lm = a->lm;
  lua_getfield(L, P_MODEL, "init");
  if (a->key.len)
    hs_lua_decode(L, a->key.p, a->key.len);
  else
    lua_pushnil(L);
  lua_call(L, 1, 1);
  a->handle = 0;
  if (lm->has_hash || !plain_identity(L, -1, a->out)) {
    push_identity(L, lm, -1, a->out);
    lua_pushvalue(L, -1);
    a->handle = luaL_ref(L, P_STATES);
  }
  a->legal = 1;
  return 0;
}

/* Protected: readonly(op) -> boolean */
static int p_readonly(lua_State *L) {
  lcall *a = lua_touserdata(L, 1);
  lua_getfield(L, P_MODEL, "readonly");
  lua_rawgeti(L, P_OPS, (lua_Integer)a->op + 1);
  lua_call(L, 1, 1);
  a->legal = lua_toboolean(L, -1);
  return 0;
}

/* Keeps the first error message (on top of the stack); the search stops. */
static void lm_fail(lmodel *lm) {
  lm->failed = true;
  lm->err_ref = luaL_ref(lm->L, LUA_REGISTRYINDEX);
}

/* Runs a protected callback, with the value at extra_idx as its fifth argument when it is
 * not 0; on an error keeps the first message and returns -1. */
static int lm_call(lmodel *lm, lua_CFunction fn, lcall *a, int extra_idx) {
  lua_State *L = lm->L;
  if (!L || lm->failed) return -1;
  if (!lua_checkstack(L, 8)) return -1;
  lua_pushcfunction(L, fn);
  lua_pushlightuserdata(L, a);
  lua_pushvalue(L, lm->model_idx);
  lua_pushvalue(L, lm->states_idx);
  lua_pushvalue(L, lm->ops_idx);
  if (extra_idx) lua_pushvalue(L, extra_idx);
  if (lua_pcall(L, extra_idx ? 5 : 4, 0, lm->tb_idx) != LUA_OK) {
    lm_fail(lm);
    return -1;
  }
  return a->legal;
}

static int lm_init(void *ud, hs_value key, hs_buf *out, uint64_t *handle) {
  lmodel *lm = ud;
  lcall a = {.lm = lm, .key = key, .out = out};
  int rc = lm_call(lm, p_init, &a, 0);
  if (rc == 1) *handle = (uint64_t)a.handle;
  return rc;
}

/* Pushes the state of handle (0: decoded from its identity bytes). */
static void push_state(lmodel *lm, hs_lin_state s) {
  if (s.handle)
    lua_rawgeti(lm->L, lm->states_idx, (lua_Integer)(int64_t)s.handle);
  else
    hs_lua_decode(lm->L, s.bytes, s.len);
}

/* ---- the step cache (plain states only: see lmodel) ---- */

#define CACHE_MAX_ENTRIES (1u << 20)
#define CACHE_HDR 24

static uint64_t cache_hash(uint32_t op, const uint8_t *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL ^ ((uint64_t)op * 0x9e3779b97f4a7c15ULL);
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h ^ (h >> 29);
}

static const uint8_t *cache_entry(const lmodel *lm, uint32_t slot) { return lm->cache_data.data + (slot - 1); }

/* The cached entry for (op, state), or NULL. */
static const uint8_t *cache_find(const lmodel *lm, uint64_t h, uint32_t op, hs_lin_state s) {
  if (!lm->cache_cap) return NULL;
  for (size_t j = h & (lm->cache_cap - 1);; j = (j + 1) & (lm->cache_cap - 1)) {
    uint32_t slot = lm->cache_slots[j];
    if (!slot) return NULL;
    const uint8_t *e = cache_entry(lm, slot);
    uint64_t eh;
    uint32_t eop, in_len;
    memcpy(&eh, e, 8);
    memcpy(&eop, e + 8, 4);
    memcpy(&in_len, e + 16, 4);
    if (eh == h && eop == op && in_len == s.len && memcmp(e + CACHE_HDR, s.bytes, s.len) == 0) return e;
  }
}

/* Remembers (op, state) -> (rc, out); silently does nothing when full or out of memory. */
static void cache_add(lmodel *lm, uint64_t h, uint32_t op, hs_lin_state s, int rc, const hs_buf *out) {
  if (lm->cache_count >= CACHE_MAX_ENTRIES || lm->cache_data.len + CACHE_HDR + s.len + out->len >= UINT32_MAX) return;
  if ((lm->cache_count + 1) * 2 > lm->cache_cap) {
    size_t cap = lm->cache_cap ? 2 * lm->cache_cap : 1024;
    uint32_t *slots = calloc(cap, sizeof *slots);
    if (!slots) return;
    for (size_t i = 0; i < lm->cache_cap; i++) {
      uint32_t slot = lm->cache_slots[i];
      if (!slot) continue;
      uint64_t eh;
      memcpy(&eh, cache_entry(lm, slot), 8);
      size_t j = eh & (cap - 1);
      while (slots[j]) j = (j + 1) & (cap - 1);
      slots[j] = slot;
    }
    free(lm->cache_slots);
    lm->cache_slots = slots;
    lm->cache_cap = cap;
  }
  size_t at = lm->cache_data.len;
  uint32_t hdr[4] = {op, (uint32_t)rc, (uint32_t)s.len, rc == 1 ? (uint32_t)out->len : 0};
  hs_buf_put_raw(&lm->cache_data, &h, 8);
  hs_buf_put_raw(&lm->cache_data, hdr, sizeof hdr);
  hs_buf_put_raw(&lm->cache_data, s.bytes, s.len);
  if (rc == 1) hs_buf_put_raw(&lm->cache_data, out->data, out->len);
  if (lm->cache_data.failed) return;
  size_t j = h & (lm->cache_cap - 1);
  while (lm->cache_slots[j]) j = (j + 1) & (lm->cache_cap - 1);
  lm->cache_slots[j] = (uint32_t)(at + 1);
  lm->cache_count++;
}

/* step(state, op) -> ok, new_state: called directly, under lua_pcall. */
static int lm_step(void *ud, hs_lin_state s, const hs_lin_op *op, hs_buf *out, uint64_t *handle) {
  lmodel *lm = ud;
  lua_State *L = lm->L;
  if (!L || lm->failed) return -1;
  uint32_t opi = (uint32_t)(op - lm->op0);
  uint64_t h = 0;
  if (!s.handle) { /* a plain state: maybe stepped before */
    h = cache_hash(opi, s.bytes, s.len);
    const uint8_t *e = cache_find(lm, h, opi, s);
    if (e) {
      uint32_t hdr[4];
      memcpy(hdr, e + 8, sizeof hdr);
      *handle = 0;
      if (hdr[1] == 1) hs_buf_put_raw(out, e + CACHE_HDR + hdr[2], hdr[3]);
      return (int)hdr[1];
    }
  }
  int top = lua_gettop(L);
  lua_pushvalue(L, lm->step_idx);
  push_state(lm, s);
  lua_rawgeti(L, lm->ops_idx, (lua_Integer)(op - lm->op0) + 1);
  if (lua_pcall(L, 2, 2, lm->tb_idx) != LUA_OK) {
    lm_fail(lm);
    lua_settop(L, top);
    return -1;
  }
  int rc = lua_toboolean(L, top + 1);
  bool plain = true;
  if (rc) {
    *handle = 0;
    if (lm->has_hash || !plain_identity(L, top + 2, out)) {
      plain = false;
      lcall a = {.lm = lm, .out = out};
      rc = lm_call(lm, p_identity, &a, top + 2);
      if (rc == 1) *handle = (uint64_t)a.handle;
    }
  }
  lua_settop(L, top);
  if (!s.handle && plain && !out->failed) cache_add(lm, h, opi, s, rc, out);
  return rc;
}

static void lm_release(void *ud, uint64_t handle) {
  lmodel *lm = ud;
  if (lm->L && handle) luaL_unref(lm->L, lm->states_idx, (int)(int64_t)handle);
}

static bool lm_readonly(void *ud, const hs_lin_op *op) {
  lmodel *lm = ud;
  lcall a = {.lm = lm, .op = (size_t)(op - lm->op0)};
  return lm_call(lm, p_readonly, &a, 0) == 1;
}

/* ---- building the operations ------------------------------------------------------ */

/* Encodes field `name` of the table at idx canonically; returns its offset (len 0: nil). */
static void put_field(lua_State *L, lcheck *c, int idx, const char *name, size_t *off, size_t *len, lua_Integer record) {
  *off = c->values.len;
  *len = 0;
  int t = lua_getfield(L, idx, name);
  if (t != LUA_TNIL) {
    hs_buf_reset(&c->scratch);
    /* only tables (and functions, userdata...) can fail to encode: name the record then */
    bool plain = t == LUA_TNUMBER || t == LUA_TSTRING || t == LUA_TBOOLEAN;
    const char *what = plain ? "a value" : lua_pushfstring(L, "history record %I: %s", record, name);
    hs_lua_encode(L, &c->scratch, plain ? -1 : -2, what);
    if (!plain) lua_pop(L, 1);
    if (!hs_lin_canon((hs_value){c->scratch.data, c->scratch.len}, &c->values) || c->values.failed)
      luaL_error(L, "history record %I: %s could not be encoded", record, name);
    *len = c->values.len - *off;
  }
  lua_pop(L, 1);
}

static int64_t int_field(lua_State *L, int idx, const char *name, int64_t dflt) {
  int64_t v = dflt;
  if (lua_getfield(L, idx, name) != LUA_TNIL) {
    int isint;
    v = (int64_t)lua_tointegerx(L, -1, &isint);
    if (!isint) luaL_error(L, "ops: field '%s' must be an integer", name);
  }
  lua_pop(L, 1);
  return v;
}

/* The integer field `name`, or 0 when it is absent or not an integer (for reports only). */
static int64_t int_or_zero(lua_State *L, int idx, const char *name) {
  lua_getfield(L, idx, name);
  int isint;
  int64_t v = (int64_t)lua_tointegerx(L, -1, &isint);
  lua_pop(L, 1);
  return isint ? v : 0;
}

/* ---- the result --------------------------------------------------------------------- */

static void push_index_list(lua_State *L, const size_t *xs, size_t n) {
  lua_createtable(L, (int)n, 0);
  for (size_t i = 0; i < n; i++) {
    lua_pushinteger(L, (lua_Integer)xs[i] + 1);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
}

static void push_result(lua_State *L, lcheck *c, bool lua_model) {
  hs_lin_result *r = &c->result;
  lua_createtable(L, 0, 12);
  lua_pushstring(L, hs_lin_verdict_name(r->verdict));
  lua_setfield(L, -2, "verdict");
  if (r->reason) {
    lua_pushstring(L, r->reason);
    lua_setfield(L, -2, "reason");
  }
  lua_pushinteger(L, (lua_Integer)r->steps);
  lua_setfield(L, -2, "steps");
  lua_pushinteger(L, (lua_Integer)r->configurations);
  lua_setfield(L, -2, "configurations");
  lua_pushinteger(L, (lua_Integer)r->partitions);
  lua_setfield(L, -2, "partitions");
  lua_pushinteger(L, (lua_Integer)r->partitions_checked);
  lua_setfield(L, -2, "partitions_checked");
  if (r->verdict != HS_LIN_INVALID) return;
  lua_pushinteger(L, (lua_Integer)r->partition_op + 1);
  lua_setfield(L, -2, "partition_op");
  lua_pushinteger(L, (lua_Integer)r->prefix_len);
  lua_setfield(L, -2, "prefix_length");
  size_t tail = r->prefix_len < 10 ? r->prefix_len : 10;
  push_index_list(L, r->prefix + (r->prefix_len - tail), tail);
  lua_setfield(L, -2, "prefix_tail");
  push_index_list(L, r->prefix, r->prefix_len);
  lua_setfield(L, -2, "prefix");
  lua_pushinteger(L, (lua_Integer)r->blocked + 1);
  lua_setfield(L, -2, "blocked");
  push_index_list(L, r->pending, r->pending_len);
  lua_setfield(L, -2, "pending");
  if (r->has_state) {
    if (lua_model && r->state_handle)
      lua_rawgeti(L, c->lm.states_idx, (lua_Integer)(int64_t)r->state_handle);
    else
      hs_lua_decode(L, r->state.data, r->state.len);
    lua_setfield(L, -2, "state");
  }
}

/* core.check.linearizable(ops, model, { timeout =, max_steps =, max_memory_mb = }) */
static int l_linearizable(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  bool lua_model = lua_type(L, 2) == LUA_TTABLE;
  if (!lua_model) luaL_checktype(L, 2, LUA_TSTRING);
  luaL_checktype(L, 3, LUA_TTABLE);
  lua_settop(L, 3);
  hs_lin_options opt = {0};
  lua_getfield(L, 3, "timeout");
  opt.timeout_s = lua_isnil(L, -1) ? 0 : luaL_checknumber(L, -1);
  lua_getfield(L, 3, "max_steps");
  opt.max_steps = lua_isnil(L, -1) ? 0 : (uint64_t)luaL_checkinteger(L, -1);
  lua_getfield(L, 3, "max_memory_mb");
  opt.max_bytes = lua_isnil(L, -1) ? 0 : (size_t)(luaL_checknumber(L, -1) * 1048576.0);
  lua_settop(L, 3);

  lcheck *c = new_lcheck(L);            /* 4 */
  lua_pushcfunction(L, hs_door_msgh); /* 5 */
  lua_newtable(L);                      /* 6: model states */
  size_t n = (size_t)lua_rawlen(L, 1);
  /* per op: offset and length of its key, input and output in c->values */
  size_t *offs = lua_newuserdatauv(L, (n ? 6 * n : 1) * sizeof *offs, 0); /* 7 */
  memset(offs, 0, (n ? 6 * n : 1) * sizeof *offs);
  c->ops = calloc(n ? n : 1, sizeof *c->ops);
  if (!c->ops) return luaL_error(L, "linearizable: out of memory");
  c->n = n;

  for (size_t i = 0; i < n; i++) {
    lua_rawgeti(L, 1, (lua_Integer)i + 1);
    int t = lua_gettop(L);
    luaL_checktype(L, t, LUA_TTABLE);
    hs_lin_op *o = &c->ops[i];
    lua_Integer record = int_field(L, t, "index", (int64_t)i + 1);
    lua_getfield(L, t, "f");
    const char *f = lua_tostring(L, -1);
    o->f = f ? hs_lin_f_from_name(f) : HS_LIN_F_OTHER;
    lua_pop(L, 1);
    o->call = int_field(L, t, "call", 0);
    o->ret = int_field(L, t, "ret", HS_LIN_INF);
    o->process = int_or_zero(L, t, "process");
    o->unknown = o->ret == HS_LIN_INF;
    put_field(L, c, t, "key", &offs[6 * i], &offs[6 * i + 1], record);
    put_field(L, c, t, "value", &offs[6 * i + 2], &offs[6 * i + 3], record);
    if (!o->unknown) put_field(L, c, t, "output", &offs[6 * i + 4], &offs[6 * i + 5], record);
    lua_pop(L, 1);
  }
  for (size_t i = 0; i < n; i++) {
    hs_lin_op *o = &c->ops[i];
    o->key = (hs_value){offs[6 * i + 1] ? c->values.data + offs[6 * i] : NULL, offs[6 * i + 1]};
    o->input = (hs_value){offs[6 * i + 3] ? c->values.data + offs[6 * i + 2] : NULL, offs[6 * i + 3]};
    o->output = (hs_value){offs[6 * i + 5] ? c->values.data + offs[6 * i + 4] : NULL, offs[6 * i + 5]};
  }

  if (lua_model) {
    lmodel *lm = &c->lm;
    lm->L = L;
    lm->model_idx = 2;
    lm->states_idx = 6;
    lm->ops_idx = 1;
    lm->tb_idx = 5;
    lm->op0 = c->ops;
    lm->err_ref = LUA_NOREF;
    lua_getfield(L, 2, "hash");
    lm->has_hash = !lua_isnil(L, -1);
    lua_getfield(L, 2, "partition");
    lm->model.partition_by_key = lua_isstring(L, -1) && strcmp(lua_tostring(L, -1), "key") == 0;
    lua_pop(L, 2);
    lua_getfield(L, 2, "step"); /* 8 */
    lm->step_idx = lua_gettop(L);
    if (lua_getfield(L, 2, "readonly") != LUA_TNIL) lm->model.readonly = lm_readonly;
    lua_pop(L, 1);
    if (!lua_checkstack(L, 16)) return luaL_error(L, "linearizable: stack overflow");
    lm->model.name = "lua";
    lm->model.ud = lm;
    lm->model.init = lm_init;
    lm->model.step = lm_step;
    lm->model.release = lm_release;
    c->model = &lm->model;
  } else {
    c->model = hs_lin_model_builtin(lua_tostring(L, 2));
    if (!c->model) return luaL_argerror(L, 2, lua_pushfstring(L, "unknown model '%s'", lua_tostring(L, 2)));
    for (size_t i = 0; i < n && c->model->check_op; i++) {
      const char *why = c->model->check_op(c->model->ud, &c->ops[i]);
      if (why) {
        lua_rawgeti(L, 1, (lua_Integer)i + 1);
        lua_Integer record = int_field(L, lua_gettop(L), "index", (int64_t)i + 1);
        lua_pushnil(L);
        lua_pushfstring(L, "history record %I: %s (model '%s')", record, why, c->model->name);
        return 2;
      }
    }
  }

  hs_lin_check(c->model, c->ops, c->n, &opt, &c->result);
  c->has_result = true;
  if (c->result.verdict == HS_LIN_ERROR) {
    lua_pushnil(L);
    if (c->lm.failed) {
      lua_rawgeti(L, LUA_REGISTRYINDEX, c->lm.err_ref);
      luaL_unref(L, LUA_REGISTRYINDEX, c->lm.err_ref);
      lua_pushfstring(L, "the model failed: %s", luaL_tolstring(L, -1, NULL));
      lua_replace(L, -3);
      lua_pop(L, 1);
    } else {
      lua_pushfstring(L, "the check failed: %s", c->result.reason ? c->result.reason : "?");
    }
    lcheck_close(c);
    return 2;
  }
  push_result(L, c, lua_model);
  lcheck_close(c);
  return 1;
}

/* core.check.canonical(v) -> the canonical encoding (a string), for tests and hashing */
static int l_canonical(lua_State *L) {
  luaL_checkany(L, 1);
  lua_settop(L, 1);
  lcheck *c = new_lcheck(L);
  hs_lua_encode(L, &c->scratch, 1, "value");
  if (!hs_lin_canon((hs_value){c->scratch.data, c->scratch.len}, &c->values) || c->values.failed)
    return luaL_error(L, "canonical: the value could not be encoded");
  lua_pushlstring(L, (const char *)c->values.data, c->values.len);
  lcheck_close(c);
  return 1;
}

/* core.check.clock() -> seconds of a monotonic wall clock (CLOCK_MONOTONIC), for reports
 * of how long things took (`happysim check` sweeps); nothing that decides a verdict or a
 * run reads it. */
static int l_clock(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
  return 1;
}

/* ---- hooks for invariants (lua/happysim/invariants.lua) -----------------------------
 *
 * Invariants need to run code around sim:run / run_until / step and to share sim:trace.
 * The methods are replaced by C wrappers: for a simulation without invariants a wrapper
 * calls the engine's function directly, in the same stack frame, so that argument errors
 * read exactly as before; for a hooked one it calls the Lua hook
 * hook(name, original, sim, ...) and returns what the hook returns.
 */

#define HS_HOOKED_KEY "happysim.check.hooked" /* registry: weak-keyed sim -> true */
#define HS_HOOK_FN_KEY "happysim.check.hook"  /* registry: the Lua hook */

typedef struct hooked_method {
  const char *name;
  lua_CFunction wrapper;
  lua_CFunction orig; /* the engine's function: the same in every Lua state */
} hooked_method;

static int hook_dispatch(lua_State *L, int which);

static int w_run(lua_State *L) { return hook_dispatch(L, 0); }
static int w_run_until(lua_State *L) { return hook_dispatch(L, 1); }
static int w_step(lua_State *L) { return hook_dispatch(L, 2); }
static int w_trace(lua_State *L) { return hook_dispatch(L, 3); }

static hooked_method hooked_methods[] = {
    {"run", w_run, NULL}, {"run_until", w_run_until, NULL}, {"step", w_step, NULL}, {"trace", w_trace, NULL}};

static bool is_hooked(lua_State *L) {
  if (lua_type(L, 1) != LUA_TUSERDATA) return false;
  if (lua_getfield(L, LUA_REGISTRYINDEX, HS_HOOKED_KEY) != LUA_TTABLE) {
    lua_pop(L, 1);
    return false;
  }
  lua_pushvalue(L, 1);
  bool hooked = lua_rawget(L, -2) != LUA_TNIL;
  lua_pop(L, 2);
  return hooked;
}

static int hook_dispatch(lua_State *L, int which) {
  hooked_method *hm = &hooked_methods[which];
  if (!is_hooked(L)) return hm->orig(L);
  int nargs = lua_gettop(L);
  lua_getfield(L, LUA_REGISTRYINDEX, HS_HOOK_FN_KEY);
  lua_pushstring(L, hm->name);
  lua_pushcfunction(L, hm->orig);
  lua_rotate(L, 1, 3); /* hook, name, orig, args... */
  lua_call(L, nargs + 2, LUA_MULTRET);
  return lua_gettop(L);
}

/* core.check.hook_methods(hook) -> { run =, run_until =, step =, trace = } (the originals) */
static int l_hook_methods(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_settop(L, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, HS_HOOK_FN_KEY);
  if (lua_getfield(L, LUA_REGISTRYINDEX, HS_HOOKED_KEY) != LUA_TTABLE) {
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, HS_HOOKED_KEY);
  }
  lua_pop(L, 1);
  luaL_getmetatable(L, HS_SIM_MT);
  lua_getfield(L, -1, "methods");
  int methods = lua_gettop(L);
  lua_createtable(L, 0, 4);
  for (size_t i = 0; i < sizeof hooked_methods / sizeof hooked_methods[0]; i++) {
    hooked_method *hm = &hooked_methods[i];
    lua_getfield(L, methods, hm->name);
    lua_CFunction f = lua_tocfunction(L, -1);
    lua_pop(L, 1);
    if (!f) return luaL_error(L, "hook_methods: sim:%s is not a C function", hm->name);
    if (f != hm->wrapper) hm->orig = f; /* hooking twice keeps the engine's function */
    lua_pushcfunction(L, hm->wrapper);
    lua_setfield(L, methods, hm->name);
    lua_pushcfunction(L, hm->orig);
    lua_setfield(L, -2, hm->name);
  }
  return 1;
}

/* core.check.hook_sim(sim, on): route this simulation's methods through the hook (or not). */
static int l_hook_sim(lua_State *L) {
  hs_check_sim(L, 1);
  luaL_checkany(L, 2);
  if (lua_getfield(L, LUA_REGISTRYINDEX, HS_HOOKED_KEY) != LUA_TTABLE)
    return luaL_error(L, "hook_sim: call hook_methods first");
  lua_pushvalue(L, 1);
  if (lua_toboolean(L, 2))
    lua_pushboolean(L, 1);
  else
    lua_pushnil(L);
  lua_rawset(L, -3);
  return 0;
}

/* core.check.trace_of(sim) -> the function sim:trace installed (the sim's U.trace), or nil */
static int l_trace_of(lua_State *L) {
  hs_check_sim(L, 1);
  lua_getiuservalue(L, 1, 1);
  lua_getfield(L, -1, "trace");
  return 1;
}

/* Sets field `check` of the table on top of L (the core module) to these functions. */
void hs_check_register(lua_State *L) {
  static const luaL_Reg funcs[] = {{"linearizable", l_linearizable}, {"canonical", l_canonical},
                                   {"hook_methods", l_hook_methods}, {"hook_sim", l_hook_sim},
                                   {"trace_of", l_trace_of},         {"clock", l_clock},
                                   {NULL, NULL}};
  luaL_newlib(L, funcs);
  lua_setfield(L, -2, "check");
}
