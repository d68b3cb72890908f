/*
 * hs_lua_repl.c - what every replication node binding shares (hs_lua_repl.h): ids by name,
 * construction and attach (API.md 5.1: a node built on a network not attached yet is
 * finished, and started, when the network attaches), requests as Futures settled by the
 * adapter's done hook, crash handling (no Future is left hanging), the entity vtable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/hs_lua_repl.h"
#include "protocols/hs_lua_request.h"

/* registry: weak map lightuserdata(lrepl) -> its state table, so hooks find it fast */
#define HS_REPL_STATES_KEY "happysim.repl_states"

/* ---- threads --------------------------------------------------------------------------- */

lua_State *hs_lrepl_thread(lrepl *r) {
  if (r->L) return r->L;
  lua_State *L = hs_lsim_of(r->base.e.sim)->L;
  return L ? L : r->main;
}

lrepl_call hs_lrepl_enter(lrepl *r, lua_State *L) {
  lrepl_call saved = {r->L, r->ln->L};
  r->L = L;
  r->ln->L = L;
  return saved;
}

void hs_lrepl_leave(lrepl *r, lua_State *L, lrepl_call saved) {
  r->L = saved.node_L;
  r->ln->L = saved.net_L;
  hs_door_raise(L, hs_lsim_of(r->base.e.sim));
}

void hs_lrepl_state(lua_State *L, lrepl *r) {
  lua_getfield(L, LUA_REGISTRYINDEX, HS_REPL_STATES_KEY);
  lua_rawgetp(L, -1, r);
  lua_remove(L, -2);
}

/* ---- names and ids ------------------------------------------------------------------------ */

lrepl *hs_lrepl_test(lua_State *L, int idx) {
  if (lua_type(L, idx) != LUA_TUSERDATA) return NULL;
  if (luaL_getmetafield(L, idx, "__hs_centity") == LUA_TNIL) return NULL;
  lua_pop(L, 1);
  hs_lua_centity *ce = lua_touserdata(L, idx);
  return ce->cls->finalize == hs_lrepl_finalize ? (lrepl *)ce : NULL;
}

lrepl *hs_lrepl_check(lua_State *L, int idx, const hs_lua_class *cls) {
  lrepl *r = hs_lua_check_centity(L, idx, cls);
  if (!r->inited) luaL_error(L, "%s '%s' is not built", cls->name, r->base.e.name);
  return r;
}

const char *hs_lrepl_name_of(lua_State *L, int idx) {
  lrepl *r = hs_lrepl_test(L, idx);
  if (r) return r->base.e.name;
  return lua_type(L, idx) == LUA_TSTRING ? lua_tostring(L, idx) : NULL;
}

uint32_t hs_lrepl_id(lua_State *L, hs_lsim *ls, const char *name) {
  return hs_sim_name_id(L, ls, "repl_ids", "repl_names", name);
}

/* Pushes the name of id from the simulation's map (nil when unknown). */
static void push_name(lua_State *L, hs_lsim *ls, uint32_t id) {
  hs_push_sim(L, ls);
  lua_getiuservalue(L, -1, 1);
  if (lua_getfield(L, -1, "repl_names") == LUA_TTABLE)
    lua_rawgeti(L, -1, id);
  else
    lua_pushnil(L);
  lua_replace(L, -4);
  lua_pop(L, 2);
}

const char *hs_lrepl_id_name(lrepl *r, uint32_t id) {
  hs_entity *e = hs_repl_port_peer(&r->u.port, id);
  return e ? e->name : NULL;
}

void hs_lrepl_push_id_name(lua_State *L, lrepl *r, uint32_t id) {
  const char *n = id ? hs_lrepl_id_name(r, id) : NULL;
  if (n) {
    lua_pushstring(L, n);
    return;
  }
  if (id)
    push_name(L, hs_lsim_of(r->base.e.sim), id);
  else
    lua_pushnil(L);
}

void hs_lrepl_check_list(lua_State *L, const char *field, int required) {
  int t = lua_getfield(L, 1, field);
  if (t == LUA_TNIL) {
    if (required) luaL_argerror(L, 1, lua_pushfstring(L, "field '%s' is required (a list of nodes or names)", field));
    lua_pop(L, 1);
    return;
  }
  if (t != LUA_TTABLE) luaL_argerror(L, 1, lua_pushfstring(L, "field '%s' must be a list of nodes or names", field));
  lua_Integer n = luaL_len(L, -1);
  if (n > (lua_Integer)HS_REPL_MAX_NODES)
    luaL_argerror(L, 1, lua_pushfstring(L, "field '%s': at most %d nodes", field, (int)HS_REPL_MAX_NODES));
  for (lua_Integer i = 1; i <= n; i++) {
    lua_geti(L, -1, i);
    if (!hs_lrepl_name_of(L, -1))
      luaL_argerror(L, 1, lua_pushfstring(L, "field '%s': item %d must be a replication node or a name, got %s", field,
                                          (int)i, hs_typename_of(L, -1)));
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

void hs_lrepl_push_names(lua_State *L, int idx, const char *skip) {
  idx = lua_absindex(L, idx);
  lua_newtable(L);
  if (!lua_istable(L, idx)) return;
  lua_Integer n = luaL_len(L, idx), k = 0;
  for (lua_Integer i = 1; i <= n; i++) {
    lua_geti(L, idx, i);
    const char *name = hs_lrepl_name_of(L, -1);
    if (name && (!skip || strcmp(name, skip) != 0)) {
      lua_pushstring(L, name);
      lua_rawseti(L, -3, ++k);
    }
    lua_pop(L, 1);
  }
}

/* ---- options --------------------------------------------------------------------------------- */

lua_Integer hs_lrepl_opt_int(lua_State *L, const char *field, lua_Integer dflt, lua_Integer lo, lua_Integer hi) {
  lua_Integer v = dflt;
  if (lua_getfield(L, 1, field) != LUA_TNIL) {
    int isint;
    v = lua_tointegerx(L, -1, &isint);
    if (!isint || lua_type(L, -1) != LUA_TNUMBER || v < lo || v > hi)
      luaL_argerror(L, 1, lua_pushfstring(L, "field '%s' must be an integer in [%I, %I]", field, lo, hi));
  }
  lua_pop(L, 1);
  return v;
}

const char *hs_lrepl_opt_name(lua_State *L) {
  const char *name = NULL;
  if (lua_getfield(L, 1, "name") != LUA_TNIL) {
    if (lua_type(L, -1) != LUA_TSTRING || lua_rawlen(L, -1) == 0) luaL_argerror(L, 1, "field 'name' must be a non-empty string");
    name = lua_tostring(L, -1); /* kept alive by the options table */
  }
  lua_pop(L, 1);
  return name;
}

/* ---- construction ----------------------------------------------------------------------------- */

/* The class attach callback (hs_lua_centity.h): the part of construction that needs the
 * simulation. */
void hs_lrepl_attach(lua_State *L, void *self, int self_idx, int sim_idx) {
  (void)sim_idx;
  lrepl *r = self;
  int top = lua_gettop(L);
  lua_getiuservalue(L, self_idx, HS_CENTITY_UV);
  int state = lua_gettop(L);
  lua_getfield(L, LUA_REGISTRYINDEX, HS_REPL_STATES_KEY);
  lua_pushvalue(L, state);
  lua_rawsetp(L, -2, r);
  lua_pop(L, 1);
  switch (r->kind) {
  case LREPL_PB: hs_lrepl_pb_attach(L, r, self_idx, state); break;
  case LREPL_CHAIN: hs_lrepl_chain_attach(L, r, self_idx, state); break;
  case LREPL_ML: hs_lrepl_ml_attach(L, r, self_idx, state); break;
  default: hs_lrepl_master_attach(L, r, self_idx, state); break;
  }
  r->inited = 1;
  lua_settop(L, top);
}

lrepl *hs_lrepl_new(lua_State *L, const hs_lua_class *cls, int kind, const char *name, hs_lnet *ln) {
  lrepl *r = ln->owner ? hs_lua_new_centity(L, 3, cls, name) : hs_lua_new_detached_centity(L, 2, cls, name);
  int ud = lua_gettop(L);
  r->base.closed = 1; /* until built: harmless to collect */
  r->kind = kind;
  r->ln = ln;
  hs_buf_init(&r->buf);
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  r->main = lua_tothread(L, -1);
  lua_pop(L, 1);
  lua_createtable(L, 0, 8);
  lua_newtable(L);
  lua_setfield(L, -2, "futures");
  lua_pushvalue(L, 2);
  lua_setfield(L, -2, "network");
  lua_getglobal(L, "require");
  lua_pushliteral(L, "happysim.future");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "new");
  lua_setfield(L, -3, "new_future");
  lua_pop(L, 1);
  lua_setiuservalue(L, ud, HS_CENTITY_UV);
  return r;
}

void hs_lrepl_finish(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  lrepl *r = lua_touserdata(L, idx);
  int top = lua_gettop(L);
  if (r->ln->owner) {
    lua_getiuservalue(L, idx, 1); /* the simulation */
    hs_lrepl_attach(L, r, idx, lua_gettop(L));
    r->base.closed = 0;
    lua_pushcfunction(L, hs_lrepl_l_start);
    lua_pushvalue(L, idx);
    lua_call(L, 1, 0);
  } else {
    r->base.closed = 0;
    r->start_deferred = 1;
    lua_getiuservalue(L, idx, 1); /* its network */
    hs_lnet_defer_start(L, lua_gettop(L), idx);
  }
  lua_settop(L, top);
}

/* node:start(): arms the node's timers (pings to the master, anti-entropy). Nodes start
 * themselves once attached, so calling it is never needed; it does nothing the second time. */
int hs_lrepl_l_start(lua_State *L) {
  lrepl *r = hs_lrepl_test(L, 1);
  if (!r) return luaL_typeerror(L, 1, "replication node");
  lua_settop(L, 1);
  if (r->base.detached || r->started) return 1;
  if (r->base.closed) return luaL_error(L, "start: %s '%s': use after close", r->base.cls->name, r->base.e.name);
  r->started = 1;
  lrepl_call saved = hs_lrepl_enter(r, L);
  int rc;
  switch (r->kind) {
  case LREPL_PB: rc = hs_pb_node_start(&r->u.pb); break;
  case LREPL_CHAIN: rc = hs_chain_node_start(&r->u.ch); break;
  case LREPL_ML: rc = hs_ml_node_start(&r->u.ml); break;
  default: rc = hs_master_node_start(&r->u.ms); break;
  }
  hs_lrepl_leave(r, L, saved);
  if (rc != HS_OK) return luaL_error(L, "start: %s", hs_repl_strerror(rc));
  return 1;
}

/* ---- hooks ------------------------------------------------------------------------------------ */

static hs_entity *hook_resolve_peer(void *ud, uint32_t id) {
  lrepl *r = ud;
  lua_State *L = hs_lrepl_thread(r);
  if (!L) return NULL;
  int top = lua_gettop(L);
  hs_lsim *ls = hs_lsim_of(r->base.e.sim);
  push_name(L, ls, id);
  hs_entity *e = NULL;
  if (lua_type(L, -1) == LUA_TSTRING) {
    hs_push_sim(L, ls);
    hs_push_uv_table(L, lua_gettop(L), "names");
    lua_pushvalue(L, top + 1);
    lua_rawget(L, -2);
    lrepl *p = hs_lrepl_test(L, -1);
    if (p && !p->base.detached && !p->base.closed) e = &p->base.e;
  }
  lua_settop(L, top);
  return e;
}

/* Pushes and clears futures[tag]; returns 0 (nothing pushed) when there is none. */
static int take(lua_State *L, lrepl *r, uint64_t tag) {
  hs_lrepl_state(L, r);
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    return 0;
  }
  if (hs_lua_take_pending(L, tag) == LUA_TNIL) {
    lua_pop(L, 1);
    return 0;
  }
  return 1;
}

/* The record at base; ok and the values above it: settles its future (pops everything). */
static void settle(lua_State *L, lrepl *r, int base, int ok, int nvalues) {
  lua_getfield(L, base, "future");
  lua_getfield(L, -1, ok ? "resolve" : "reject");
  lua_insert(L, -2);
  lua_rotate(L, base + 1, 2); /* resolve future values... */
  hs_door_site site = {"settling a request", NULL, &r->base.e, r->base.e.sim->current ? r->base.e.sim->current->type : NULL};
  hs_door_call(L, hs_lsim_of(r->base.e.sim), nvalues + 1, 0, &site);
  lua_settop(L, base - 1);
}

void hs_lrepl_resolve(lua_State *L, lrepl *r, uint64_t tag, int nvalues) {
  int first = lua_gettop(L) - nvalues + 1;
  if (!take(L, r, tag)) {
    lua_settop(L, first - 1);
    return;
  }
  lua_insert(L, first);
  settle(L, r, first, 1, nvalues);
}

/* Pushes the error value of a refused or failed request. */
static void push_error(lua_State *L, lrepl *r, int status, const char *what, hs_entity *hint) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s on '%s': %s", what, r->base.e.name, hs_repl_strerror(status));
  hs_push_error(L, hs_repl_error_code(status), msg);
  if (hint && hint->name) {
    lua_pushstring(L, hint->name);
    lua_setfield(L, -2, "leader");
  }
}

void hs_lrepl_reject(lua_State *L, lrepl *r, uint64_t tag, int status, const char *what, hs_entity *hint) {
  if (!take(L, r, tag)) return;
  int base = lua_gettop(L);
  if (!what) {
    lua_getfield(L, base, "read");
    what = lua_toboolean(L, -1) ? "read" : "write";
    lua_pop(L, 1);
  }
  push_error(L, r, status, what, hint);
  settle(L, r, base, 0, 1);
}

static int cmp_tags(const void *a, const void *b) {
  lua_Integer x = *(const lua_Integer *)a, y = *(const lua_Integer *)b;
  return (x > y) - (x < y);
}

void hs_lrepl_fail_all(lrepl *r, const char *code) {
  (void)code;
  lua_State *L = hs_lrepl_thread(r);
  if (!L) return;
  int top = lua_gettop(L);
  hs_lrepl_state(L, r);
  if (!lua_istable(L, -1)) {
    lua_settop(L, top);
    return;
  }
  lua_getfield(L, -1, "futures");
  size_t n = 0, cap = 0;
  lua_Integer *tags = NULL;
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_pop(L, 1);
    if (n == cap) {
      cap = cap ? 2 * cap : 16;
      lua_Integer *t = realloc(tags, cap * sizeof *t);
      if (!t) break;
      tags = t;
    }
    tags[n++] = lua_tointeger(L, -1);
  }
  lua_settop(L, top);
  if (tags) qsort(tags, n, sizeof *tags, cmp_tags); /* in request order: deterministic */
  for (size_t i = 0; i < n; i++) hs_lrepl_reject(L, r, (uint64_t)tags[i], HS_REPL_ECRASHED, NULL, NULL);
  free(tags);
  lua_settop(L, top);
}

static void hook_done(void *ud, uint64_t tag, int status, hs_value value, uint64_t version) {
  lrepl *r = ud;
  lua_State *L = hs_lrepl_thread(r);
  if (!L) return;
  int top = lua_gettop(L);
  if (status != HS_OK) {
    if (!take(L, r, tag)) return;
    lua_getfield(L, -1, "read");
    int read = lua_toboolean(L, -1);
    lua_pop(L, 1);
    push_error(L, r, status, read ? "read" : "write", hs_lrepl_hint(r, !read));
    settle(L, r, top + 1, 0, 1);
    return;
  }
  if (!take(L, r, tag)) return;
  lua_getfield(L, -1, "read");
  int read = lua_toboolean(L, -1);
  lua_pop(L, 1);
  if (read) {
    if (value.len)
      hs_lua_decode(L, value.p, value.len);
    else
      lua_pushnil(L);
    lua_pushinteger(L, (lua_Integer)version);
    settle(L, r, top + 1, 1, 2);
  } else {
    lua_pushinteger(L, (lua_Integer)version);
    settle(L, r, top + 1, 1, 1);
  }
}

hs_repl_node_hooks hs_lrepl_hooks(lrepl *r) {
  return (hs_repl_node_hooks){.done = hook_done, .resolve_peer = hook_resolve_peer, .ud = r};
}

uint64_t hs_lrepl_pend(lua_State *L, lrepl *r, int read) {
  uint64_t tag = ++r->next_tag;
  lua_createtable(L, 0, 2);
  lua_pushboolean(L, read);
  lua_setfield(L, -2, "read");
  lua_getiuservalue(L, 1, HS_CENTITY_UV);
  lua_getfield(L, -1, "new_future");
  lua_call(L, 0, 1);
  lua_pushvalue(L, -1);
  lua_setfield(L, -4, "future"); /* record, state, future */
  lua_getfield(L, -2, "futures");
  lua_pushvalue(L, -4);
  lua_rawseti(L, -2, (lua_Integer)tag);
  lua_pop(L, 1);
  lua_remove(L, -2); /* record, future */
  lua_remove(L, -2); /* future */
  return tag;
}

uint64_t hs_lrepl_pend_write(lua_State *L, lrepl *r, const char **key, size_t *klen) {
  *key = hs_check_string(L, 2, klen);
  luaL_checkany(L, 3);
  lua_settop(L, 3);
  hs_buf_reset(&r->buf);
  hs_lua_encode(L, &r->buf, 3, "write: value");
  return hs_lrepl_pend(L, r, 0);
}

uint64_t hs_lrepl_pend_read(lua_State *L, lrepl *r, const char **key, size_t *klen) {
  *key = hs_check_string(L, 2, klen);
  lua_settop(L, 2);
  return hs_lrepl_pend(L, r, 1);
}

/* ---- the entity ---------------------------------------------------------------------------------- */

void hs_lrepl_on_message(hs_entity *e, hs_message *m) {
  lrepl *r = (lrepl *)e;
  if (!r->started || !r->inited) return;
  switch (r->kind) {
  case LREPL_PB: hs_pb_node_on_message(&r->u.pb, m); break;
  case LREPL_CHAIN: hs_chain_node_on_message(&r->u.ch, m); break;
  case LREPL_ML: hs_ml_node_on_message(&r->u.ml, m); break;
  default: hs_master_node_on_message(&r->u.ms, m); break;
  }
}

void hs_lrepl_on_crash(hs_entity *e) {
  lrepl *r = (lrepl *)e;
  if (!r->started || !r->inited) return;
  switch (r->kind) {
  case LREPL_PB: hs_pb_node_on_crash(&r->u.pb); break;
  case LREPL_CHAIN: hs_chain_node_on_crash(&r->u.ch); break;
  case LREPL_ML: hs_ml_node_on_crash(&r->u.ml); break;
  default: break; /* the master is assumed not to fail (hs_repl_master.h): a crash only cuts it off */
  }
  hs_lrepl_fail_all(r, "crashed");
}

void hs_lrepl_on_restart(hs_entity *e) {
  lrepl *r = (lrepl *)e;
  if (!r->started || !r->inited) return;
  switch (r->kind) {
  case LREPL_PB: hs_pb_node_on_restart(&r->u.pb); break;
  case LREPL_CHAIN: hs_chain_node_on_restart(&r->u.ch); break;
  case LREPL_ML: hs_ml_node_on_restart(&r->u.ml); break;
  default: break;
  }
}

void hs_lrepl_finalize(void *self) {
  lrepl *r = self;
  if (r->inited) {
    switch (r->kind) {
    case LREPL_PB: hs_pb_node_free(&r->u.pb); break;
    case LREPL_CHAIN: hs_chain_node_free(&r->u.ch); break;
    case LREPL_ML: hs_ml_node_free(&r->u.ml); break;
    default: hs_master_node_free(&r->u.ms); break;
    }
    r->inited = 0;
  }
  hs_buf_free(&r->buf);
}

int hs_lrepl_common_field(lua_State *L, lrepl *r, const char *k) {
  if (strcmp(k, "started") == 0)
    lua_pushboolean(L, r->started);
  else if (strcmp(k, "id") == 0)
    lua_pushinteger(L, (lua_Integer)hs_lrepl_id(L, hs_lsim_of(r->base.e.sim), r->base.e.name));
  else if (strcmp(k, "network") == 0) {
    lua_getiuservalue(L, 1, HS_CENTITY_UV);
    lua_getfield(L, -1, "network");
    lua_remove(L, -2);
  } else
    return 0;
  return 1;
}

hs_entity *hs_lrepl_hint(lrepl *r, int write) {
  switch (r->kind) {
  case LREPL_PB: return hs_pb_node_hint(&r->u.pb);
  case LREPL_CHAIN: return hs_chain_node_hint(&r->u.ch, write);
  default: return NULL;
  }
}

void hs_repl_open(lua_State *L) {
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "v");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, HS_REPL_STATES_KEY);
}

static int l_craq_unsafe_build(lua_State *L) {
  lua_pushboolean(L, hs_chain_unsafe_build());
  return 1;
}

const luaL_Reg hs_repl_funcs[] = {{"PrimaryNode", hs_l_primary_node_new},
                                  {"BackupNode", hs_l_backup_node_new},
                                  {"ReplicationMaster", hs_l_repl_master_new},
                                  {"ChainNode", hs_l_chain_node_new},
                                  {"LeaderNode", hs_l_leader_node_new},
                                  {"MerkleTree", hs_l_merkle_new},
                                  {"craq_unsafe_build", l_craq_unsafe_build},
                                  {NULL, NULL}};
