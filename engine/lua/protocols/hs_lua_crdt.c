/*
 * hs_lua_crdt.c - hs.GCounter, hs.PNCounter, hs.LWWRegister, hs.ORSet: the C CRDTs of
 * engine/crdt as Lua values (docs/API.md 5.2).
 *
 *   local c = hs.GCounter{ node_id = "a" }; c:increment(5); c.value
 *   c:merge(other)          -- another GCounter, or a state table from other:state()
 *   other:state()           -- a plain table (what CRDTStore gossips): { type = "GCounter", ... }
 *
 * A state table crosses the simulated network like any payload; merge checks it field by field
 * and refuses a malformed or foreign one with an error naming what is wrong.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "crdt/hs_crdt.h"
#include "protocols/hs_lua_protocols.h"

enum crdt_kind { K_GCOUNTER, K_PNCOUNTER, K_LWW, K_ORSET, K_COUNT };

static const char *const kind_names[K_COUNT] = {"GCounter", "PNCounter", "LWWRegister", "ORSet"};
static const char *const kind_mts[K_COUNT] = {"happysim.GCounter", "happysim.PNCounter", "happysim.LWWRegister",
                                              "happysim.ORSet"};

typedef struct lcrdt {
  int kind;
  int live; /* initialized: __gc frees */
  union {
    hs_gcounter g;
    hs_pncounter pn;
    hs_lww lww;
    hs_orset set;
  } u;
} lcrdt;

/* The CRDT at idx of any kind (raises otherwise). */
static lcrdt *check_any(lua_State *L, int idx) {
  for (int k = 0; k < K_COUNT; k++) {
    lcrdt *c = luaL_testudata(L, idx, kind_mts[k]);
    if (c) return c;
  }
  luaL_typeerror(L, idx, "CRDT");
  return NULL;
}

static lcrdt *check_kind(lua_State *L, int idx, int kind) { return luaL_checkudata(L, idx, kind_mts[kind]); }

static void check_rc(lua_State *L, int rc, const char *fname, const char *what) {
  if (rc == HS_ENOMEM) luaL_error(L, "%s: out of memory", fname);
  if (rc != HS_OK) luaL_error(L, "%s: %s", fname, what);
}

/* hs.X{ node_id = "a" } */
static int new_crdt(lua_State *L, int kind) {
  const char *fname = kind_names[kind];
  if (!lua_istable(L, 1))
    return luaL_error(L, "bad argument #1 to '%s' (table { node_id = <string> } expected, got %s)", fname,
                      hs_typename_of(L, 1));
  static const char *const known[] = {"node_id", NULL};
  hs_check_options(L, 1, 1, known);
  if (lua_getfield(L, 1, "node_id") != LUA_TSTRING)
    return luaL_error(L, "bad argument #1 to '%s' (field 'node_id' must be a string, got %s)", fname,
                      hs_typename_of(L, -1));
  size_t len;
  const char *id = lua_tolstring(L, -1, &len);
  if (len == 0) return luaL_error(L, "bad argument #1 to '%s' (field 'node_id' must not be empty)", fname);
  lcrdt *c = lua_newuserdatauv(L, sizeof *c, 0);
  memset(c, 0, sizeof *c);
  c->kind = kind;
  luaL_setmetatable(L, kind_mts[kind]);
  int rc = kind == K_GCOUNTER    ? hs_gcounter_init(&c->u.g, id, len)
           : kind == K_PNCOUNTER ? hs_pncounter_init(&c->u.pn, id, len)
           : kind == K_LWW       ? hs_lww_init(&c->u.lww, id, len)
                                 : hs_orset_init(&c->u.set, id, len);
  c->live = 1;
  check_rc(L, rc, fname, "node_id is too long");
  return 1;
}

static int l_gcounter_new(lua_State *L) { return new_crdt(L, K_GCOUNTER); }
static int l_pncounter_new(lua_State *L) { return new_crdt(L, K_PNCOUNTER); }
static int l_lww_new(lua_State *L) { return new_crdt(L, K_LWW); }
static int l_orset_new(lua_State *L) { return new_crdt(L, K_ORSET); }

static int l_gc(lua_State *L) {
  lcrdt *c = lua_touserdata(L, 1);
  if (!c->live) return 0;
  c->live = 0;
  switch (c->kind) {
  case K_GCOUNTER: hs_gcounter_free(&c->u.g); break;
  case K_PNCOUNTER: hs_pncounter_free(&c->u.pn); break;
  case K_LWW: hs_lww_free(&c->u.lww); break;
  default: hs_orset_free(&c->u.set); break;
  }
  return 0;
}

static const hs_bytes *self_id(const lcrdt *c) {
  switch (c->kind) {
  case K_GCOUNTER: return &c->u.g.self;
  case K_PNCOUNTER: return &c->u.pn.p.self;
  case K_LWW: return &c->u.lww.self;
  default: return &c->u.set.self;
  }
}

/* An amount argument: an integer >= 0 (default 1). */
static uint64_t check_amount(lua_State *L, int arg) {
  if (lua_isnoneornil(L, arg)) return 1;
  int isint;
  lua_Integer n = lua_tointegerx(L, arg, &isint);
  if (lua_type(L, arg) != LUA_TNUMBER || !isint || n < 0)
    luaL_argerror(L, arg, lua_pushfstring(L, "amount must be an integer >= 0, got %s", luaL_tolstring(L, arg, NULL)));
  return (uint64_t)n;
}

/* ---- updates ----------------------------------------------------------------------------- */

static int l_increment(lua_State *L) {
  lcrdt *c = check_any(L, 1);
  uint64_t n = check_amount(L, 2);
  if (c->kind == K_GCOUNTER) {
    check_rc(L, hs_gcounter_increment(&c->u.g, n), "increment", "the total would pass 2^63 - 1");
    lua_pushinteger(L, (lua_Integer)hs_gcounter_value(&c->u.g));
  } else if (c->kind == K_PNCOUNTER) {
    check_rc(L, hs_pncounter_increment(&c->u.pn, n), "increment", "the increments would pass 2^63 - 1");
    lua_pushinteger(L, (lua_Integer)hs_pncounter_value(&c->u.pn));
  } else {
    return luaL_error(L, "increment: a %s has no increment", kind_names[c->kind]);
  }
  return 1;
}

static int l_decrement(lua_State *L) {
  lcrdt *c = check_kind(L, 1, K_PNCOUNTER);
  check_rc(L, hs_pncounter_decrement(&c->u.pn, check_amount(L, 2)), "decrement", "the decrements would pass 2^63 - 1");
  lua_pushinteger(L, (lua_Integer)hs_pncounter_value(&c->u.pn));
  return 1;
}

/* r:set(value, timestamp) -> true if this write is now the register's value */
static int l_lww_set(lua_State *L) {
  lcrdt *c = check_kind(L, 1, K_LWW);
  luaL_checkany(L, 2);
  if (lua_type(L, 3) != LUA_TNUMBER || !(lua_tonumber(L, 3) == lua_tonumber(L, 3)) ||
      lua_tonumber(L, 3) == HUGE_VAL || lua_tonumber(L, 3) == -HUGE_VAL)
    return luaL_argerror(L, 3, lua_pushfstring(L, "timestamp must be a finite number, got %s", luaL_tolstring(L, 3, NULL)));
  double ts = lua_tonumber(L, 3);
  hs_buf *b = hs_lua_newbuf(L);
  hs_lua_encode(L, b, 2, "set: value"); /* raises on a value that cannot be encoded */
  int rc = hs_lww_set(&c->u.lww, b->data, b->len, ts);
  int mine = rc == HS_OK && c->u.lww.set && c->u.lww.timestamp == ts && c->u.lww.value.len == b->len &&
             memcmp(c->u.lww.value.p, b->data, b->len) == 0;
  hs_buf_free(b);
  check_rc(L, rc, "set", "bad value");
  lua_pushboolean(L, mine);
  return 1;
}

/* Encodes the element argument at 2 into a new buffer (pushed; raises on what cannot be
 * encoded). */
static hs_buf *encode_elem(lua_State *L, const char *what) {
  luaL_checkany(L, 2);
  hs_buf *b = hs_lua_newbuf(L);
  hs_lua_encode(L, b, 2, what);
  return b;
}

static int l_orset_add(lua_State *L) {
  lcrdt *c = check_kind(L, 1, K_ORSET);
  hs_buf *b = encode_elem(L, "add: element");
  int rc = hs_orset_add(&c->u.set, b->data, b->len);
  hs_buf_free(b);
  check_rc(L, rc, "add", "element too large");
  lua_settop(L, 1);
  return 1;
}

static int l_orset_remove(lua_State *L) {
  lcrdt *c = check_kind(L, 1, K_ORSET);
  hs_buf *b = encode_elem(L, "remove: element");
  int had = hs_orset_contains(&c->u.set, b->data, b->len);
  hs_orset_remove(&c->u.set, b->data, b->len);
  hs_buf_free(b);
  lua_pushboolean(L, had);
  return 1;
}

static int l_orset_contains(lua_State *L) {
  lcrdt *c = check_kind(L, 1, K_ORSET);
  hs_buf *b = encode_elem(L, "contains: element");
  lua_pushboolean(L, hs_orset_contains(&c->u.set, b->data, b->len));
  hs_buf_free(b);
  return 1;
}

/* ---- state tables ----------------------------------------------------------------------- */

static void push_vv(lua_State *L, const hs_vv *v) {
  lua_createtable(L, 0, (int)v->n);
  for (uint32_t i = 0; i < v->n; i++) {
    lua_pushlstring(L, (const char *)v->e[i].id.p, v->e[i].id.len);
    lua_pushinteger(L, (lua_Integer)v->e[i].n);
    lua_rawset(L, -3);
  }
}

static void push_elems(const uint8_t *elem, size_t len, void *ud) {
  lua_State *L = ud;
  hs_lua_decode(L, elem, len);
  lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
}

/* c:state() -> a plain table another replica merges */
static int l_state(lua_State *L) {
  lcrdt *c = check_any(L, 1);
  lua_createtable(L, 0, 4);
  lua_pushstring(L, kind_names[c->kind]);
  lua_setfield(L, -2, "type");
  switch (c->kind) {
  case K_GCOUNTER:
    push_vv(L, &c->u.g.counts);
    lua_setfield(L, -2, "counts");
    break;
  case K_PNCOUNTER:
    push_vv(L, &c->u.pn.p.counts);
    lua_setfield(L, -2, "p");
    push_vv(L, &c->u.pn.n.counts);
    lua_setfield(L, -2, "n");
    break;
  case K_LWW:
    if (c->u.lww.set) {
      hs_lua_decode(L, c->u.lww.value.p, c->u.lww.value.len);
      lua_setfield(L, -2, "value");
      lua_pushnumber(L, c->u.lww.timestamp);
      lua_setfield(L, -2, "timestamp");
      lua_pushlstring(L, (const char *)c->u.lww.node.p, c->u.lww.node.len);
      lua_setfield(L, -2, "node");
    }
    break;
  default:
    push_vv(L, &c->u.set.vv);
    lua_setfield(L, -2, "seen");
    lua_createtable(L, (int)c->u.set.n, 0);
    for (uint32_t i = 0; i < c->u.set.n; i++) {
      const hs_orset_dot *d = &c->u.set.dots[i];
      lua_createtable(L, 3, 0);
      hs_lua_decode(L, d->elem.p, d->elem.len);
      lua_rawseti(L, -2, 1);
      lua_pushlstring(L, (const char *)d->rid.p, d->rid.len);
      lua_rawseti(L, -2, 2);
      lua_pushinteger(L, (lua_Integer)d->c);
      lua_rawseti(L, -2, 3);
      lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "dots");
    break;
  }
  return 1;
}

/* Raises "bad argument #1 to 'merge' (<what>)". */
static int bad_state(lua_State *L, const char *what) {
  return luaL_error(L, "bad argument #1 to 'merge' (%s)", what);
}

/* Encodes the map { id = count } in field `field` of the state at 2 as an hs_vv array. */
static void encode_vv_field(lua_State *L, hs_buf *b, const char *field) {
  if (lua_getfield(L, 2, field) != LUA_TTABLE)
    bad_state(L, lua_pushfstring(L, "state field '%s' must be a table { node_id = count }", field));
  int t = lua_gettop(L);
  uint32_t n = 0;
  lua_pushnil(L);
  while (lua_next(L, t)) {
    n++;
    lua_pop(L, 1);
  }
  hs_buf_put_table(b, 2 * n, 0);
  lua_pushnil(L);
  while (lua_next(L, t)) {
    int isint;
    lua_Integer v = lua_tointegerx(L, -1, &isint);
    if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TNUMBER || !isint || v < 0)
      bad_state(L, lua_pushfstring(L, "state field '%s' must map node ids to counts >= 0", field));
    size_t len;
    const char *id = lua_tolstring(L, -2, &len);
    hs_buf_put_string(b, id, len);
    hs_buf_put_int(b, v);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* The encoded state (engine/crdt's format) of the state table at 2 for a CRDT of this kind. */
static void encode_state(lua_State *L, int kind, hs_buf *b) {
  if (lua_getfield(L, 2, "type") != LUA_TSTRING || strcmp(lua_tostring(L, -1), kind_names[kind]) != 0)
    bad_state(L, lua_pushfstring(L, "a %s or its state() expected, got a state of type %s", kind_names[kind],
                                 lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(none)"));
  lua_pop(L, 1);
  switch (kind) {
  case K_GCOUNTER:
    hs_buf_put_table(b, 2, 0);
    hs_buf_put_string(b, "gcounter", 8);
    encode_vv_field(L, b, "counts");
    break;
  case K_PNCOUNTER:
    hs_buf_put_table(b, 3, 0);
    hs_buf_put_string(b, "pncounter", 9);
    encode_vv_field(L, b, "p");
    encode_vv_field(L, b, "n");
    break;
  case K_LWW: {
    int has = lua_getfield(L, 2, "timestamp") != LUA_TNIL;
    if (!has) {
      hs_buf_put_table(b, 1, 0);
      hs_buf_put_string(b, "lww", 3);
      lua_pop(L, 1);
      break;
    }
    if (lua_type(L, -1) != LUA_TNUMBER) bad_state(L, "state field 'timestamp' must be a number");
    double ts = lua_tonumber(L, -1);
    if (lua_getfield(L, 2, "node") != LUA_TSTRING) bad_state(L, "state field 'node' must be a string");
    size_t len;
    const char *node = lua_tolstring(L, -1, &len);
    hs_buf_put_table(b, 4, 0);
    hs_buf_put_string(b, "lww", 3);
    hs_buf_put_double(b, ts);
    hs_buf_put_string(b, node, len);
    lua_getfield(L, 2, "value");
    hs_lua_encode(L, b, lua_gettop(L), "merge: state field 'value'");
    lua_pop(L, 3);
    break;
  }
  default: {
    hs_buf_put_table(b, 3, 0);
    hs_buf_put_string(b, "orset", 5);
    encode_vv_field(L, b, "seen");
    if (lua_getfield(L, 2, "dots") != LUA_TTABLE) bad_state(L, "state field 'dots' must be a list { { value, node, counter } ... }");
    int dots = lua_gettop(L);
    lua_Integer n = luaL_len(L, dots);
    if (n < 0 || n > (1 << 24)) bad_state(L, "state field 'dots' is too long");
    hs_buf_put_table(b, (uint32_t)(3 * n), 0);
    for (lua_Integer i = 1; i <= n; i++) {
      if (lua_rawgeti(L, dots, i) != LUA_TTABLE) bad_state(L, "state field 'dots' must be a list { { value, node, counter } ... }");
      int d = lua_gettop(L);
      lua_rawgeti(L, d, 1);
      hs_lua_encode(L, b, lua_gettop(L), "merge: a dot's value");
      int isint;
      size_t len;
      if (lua_rawgeti(L, d, 2) != LUA_TSTRING) bad_state(L, "a dot's node must be a string");
      const char *node = lua_tolstring(L, -1, &len);
      hs_buf_put_string(b, node, len);
      lua_rawgeti(L, d, 3);
      lua_Integer cnt = lua_tointegerx(L, -1, &isint);
      if (!isint || cnt < 1) bad_state(L, "a dot's counter must be an integer >= 1");
      hs_buf_put_int(b, cnt);
      lua_settop(L, dots);
    }
    lua_pop(L, 1);
    break;
  }
  }
}

/* c:merge(other) -> c: other is a CRDT of the same kind or its state() table */
static int l_merge(lua_State *L) {
  lcrdt *c = check_any(L, 1);
  lua_settop(L, 2);
  lcrdt *o = luaL_testudata(L, 2, kind_mts[c->kind]);
  int rc;
  if (o) {
    switch (c->kind) {
    case K_GCOUNTER: rc = hs_gcounter_merge(&c->u.g, &o->u.g); break;
    case K_PNCOUNTER: rc = hs_pncounter_merge(&c->u.pn, &o->u.pn); break;
    case K_LWW: rc = hs_lww_merge(&c->u.lww, &o->u.lww); break;
    default: rc = hs_orset_merge(&c->u.set, &o->u.set); break;
    }
  } else {
    if (!lua_istable(L, 2))
      return luaL_error(L, "bad argument #1 to 'merge' (a %s or its state() expected, got %s)", kind_names[c->kind],
                        hs_typename_of(L, 2));
    hs_buf *b = hs_lua_newbuf(L);
    encode_state(L, c->kind, b); /* may raise: the collector frees b */
    hs_value v = {b->data, b->len};
    switch (c->kind) {
    case K_GCOUNTER: rc = hs_gcounter_merge_encoded(&c->u.g, v); break;
    case K_PNCOUNTER: rc = hs_pncounter_merge_encoded(&c->u.pn, v); break;
    case K_LWW: rc = hs_lww_merge_encoded(&c->u.lww, v); break;
    default: rc = hs_orset_merge_encoded(&c->u.set, v); break;
    }
    hs_buf_free(b);
  }
  if (rc == HS_EINVAL) return bad_state(L, "an inconsistent state (a count past 2^63 - 1, or a dot its 'seen' does not cover)");
  check_rc(L, rc, "merge", "failed");
  lua_settop(L, 1);
  return 1;
}

/* ---- fields ------------------------------------------------------------------------------ */

static int l_index(lua_State *L) {
  lcrdt *c = check_any(L, 1);
  const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "";
  if (strcmp(k, "node_id") == 0) {
    const hs_bytes *id = self_id(c);
    lua_pushlstring(L, (const char *)id->p, id->len);
    return 1;
  }
  if (strcmp(k, "type") == 0) {
    lua_pushstring(L, kind_names[c->kind]);
    return 1;
  }
  if (strcmp(k, "value") == 0) {
    if (c->kind == K_GCOUNTER)
      lua_pushinteger(L, (lua_Integer)hs_gcounter_value(&c->u.g));
    else if (c->kind == K_PNCOUNTER)
      lua_pushinteger(L, (lua_Integer)hs_pncounter_value(&c->u.pn));
    else if (c->kind == K_LWW && c->u.lww.set)
      hs_lua_decode(L, c->u.lww.value.p, c->u.lww.value.len);
    else if (c->kind == K_ORSET)
      goto elements;
    else
      lua_pushnil(L);
    return 1;
  }
  if (c->kind == K_LWW && strcmp(k, "timestamp") == 0) {
    if (c->u.lww.set)
      lua_pushnumber(L, c->u.lww.timestamp);
    else
      lua_pushnil(L);
    return 1;
  }
  if (c->kind == K_LWW && strcmp(k, "node") == 0) {
    if (c->u.lww.set)
      lua_pushlstring(L, (const char *)c->u.lww.node.p, c->u.lww.node.len);
    else
      lua_pushnil(L);
    return 1;
  }
  if (c->kind == K_ORSET && strcmp(k, "elements") == 0) goto elements;
  if (c->kind == K_ORSET && strcmp(k, "size") == 0) {
    lua_pushinteger(L, hs_orset_size(&c->u.set));
    return 1;
  }
  lua_getmetatable(L, 1);
  lua_getfield(L, -1, "methods");
  lua_pushvalue(L, 2);
  lua_rawget(L, -2);
  return 1;
elements: /* the elements, in the order of their encodings */
  lua_createtable(L, (int)hs_orset_size(&c->u.set), 0);
  hs_orset_each(&c->u.set, push_elems, L);
  return 1;
}

static int l_newindex(lua_State *L) {
  lcrdt *c = check_any(L, 1);
  return luaL_error(L, "%s: cannot set field '%s' (use its methods)", kind_names[c->kind], luaL_tolstring(L, 2, NULL));
}

static int l_tostring(lua_State *L) {
  lcrdt *c = check_any(L, 1);
  const hs_bytes *bytes = self_id(c);
  const char *id = lua_pushlstring(L, (const char *)bytes->p, bytes->len); /* the ids are not NUL-terminated */
  switch (c->kind) {
  case K_GCOUNTER:
  case K_PNCOUNTER:
    lua_pushfstring(L, "%s '%s' (value %I)", kind_names[c->kind], id,
                    (lua_Integer)(c->kind == K_GCOUNTER ? (int64_t)hs_gcounter_value(&c->u.g) : hs_pncounter_value(&c->u.pn)));
    break;
  case K_LWW:
    lua_pushfstring(L, "LWWRegister '%s' (%s)", id, c->u.lww.set ? "set" : "unset");
    break;
  default:
    lua_pushfstring(L, "ORSet '%s' (%d elements)", id, (int)hs_orset_size(&c->u.set));
    break;
  }
  return 1;
}

/* Whether two CRDTs of a kind hold the same state (their replica ids aside). */
static int l_eq(lua_State *L) {
  lcrdt *a = check_any(L, 1), *b = check_any(L, 2);
  if (a->kind != b->kind) {
    lua_pushboolean(L, 0);
    return 1;
  }
  hs_buf x, y;
  hs_buf_init(&x);
  hs_buf_init(&y);
  switch (a->kind) {
  case K_GCOUNTER: hs_gcounter_encode(&a->u.g, &x); hs_gcounter_encode(&b->u.g, &y); break;
  case K_PNCOUNTER: hs_pncounter_encode(&a->u.pn, &x); hs_pncounter_encode(&b->u.pn, &y); break;
  case K_LWW: hs_lww_encode(&a->u.lww, &x); hs_lww_encode(&b->u.lww, &y); break;
  default: hs_orset_encode(&a->u.set, &x); hs_orset_encode(&b->u.set, &y); break;
  }
  lua_pushboolean(L, x.len == y.len && (x.len == 0 || memcmp(x.data, y.data, x.len) == 0));
  hs_buf_free(&x);
  hs_buf_free(&y);
  return 1;
}

void hs_crdt_open(lua_State *L) {
  static const luaL_Reg meta[] = {{"__index", l_index}, {"__newindex", l_newindex}, {"__gc", l_gc},
                                  {"__close", l_gc},     {"__tostring", l_tostring}, {"__eq", l_eq},
                                  {NULL, NULL}};
  static const luaL_Reg common[] = {{"merge", l_merge}, {"state", l_state}, {NULL, NULL}};
  static const luaL_Reg counter[] = {{"increment", l_increment}, {NULL, NULL}};
  static const luaL_Reg pn[] = {{"increment", l_increment}, {"decrement", l_decrement}, {NULL, NULL}};
  static const luaL_Reg lww[] = {{"set", l_lww_set}, {NULL, NULL}};
  static const luaL_Reg set[] = {
      {"add", l_orset_add}, {"remove", l_orset_remove}, {"contains", l_orset_contains}, {NULL, NULL}};
  const luaL_Reg *own[K_COUNT] = {counter, pn, lww, set};
  for (int k = 0; k < K_COUNT; k++) {
    luaL_newmetatable(L, kind_mts[k]);
    luaL_setfuncs(L, meta, 0);
    lua_newtable(L);
    luaL_setfuncs(L, common, 0);
    luaL_setfuncs(L, own[k], 0);
    lua_setfield(L, -2, "methods");
    lua_pop(L, 1);
  }
}

const luaL_Reg hs_crdt_funcs[] = {{"GCounter", l_gcounter_new},
                                  {"PNCounter", l_pncounter_new},
                                  {"LWWRegister", l_lww_new},
                                  {"ORSet", l_orset_new},
                                  {NULL, NULL}};
