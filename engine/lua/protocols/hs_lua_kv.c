/*
 * hs_lua_kv.c - hs.KVStateMachine(): the C key-value state machine, usable from Lua
 * on its own and by RaftNode (which calls it without going through Lua).
 *
 *   local kv = hs.KVStateMachine()
 *   kv:apply{ op = "set", key = "x", value = 1 }   --> 1
 *   kv:apply{ op = "cas", key = "x", expected = 1, value = 2 }   --> true
 *   kv.data --> { x = 2 } (a copy)
 */
#include <string.h>

#include "protocols/hs_lua_protocols.h"

#define HS_KV_MT "happysim.KVStateMachine"

typedef struct lkv {
  hs_kv kv;
  hs_buf in, out;
} lkv;

hs_kv *hs_check_kv(lua_State *L, int idx) { return &((lkv *)luaL_checkudata(L, idx, HS_KV_MT))->kv; }
int hs_is_kv(lua_State *L, int idx) { return luaL_testudata(L, idx, HS_KV_MT) != NULL; }

static int l_kv_new(lua_State *L) {
  lkv *k = lua_newuserdatauv(L, sizeof *k, 0);
  hs_kv_init(&k->kv);
  hs_buf_init(&k->in);
  hs_buf_init(&k->out);
  luaL_setmetatable(L, HS_KV_MT);
  return 1;
}

/* kv:apply(cmd) -> result; raises on a malformed command, as the seed's ValueError */
static int l_apply(lua_State *L) {
  lkv *k = luaL_checkudata(L, 1, HS_KV_MT);
  luaL_checktype(L, 2, LUA_TTABLE);
  hs_buf_reset(&k->in);
  hs_buf_reset(&k->out);
  hs_lua_encode(L, &k->in, 2, "command");
  const char *err = hs_kv_apply(&k->kv, (hs_value){k->in.data, k->in.len}, &k->out);
  if (err) return luaL_error(L, "apply: %s", err);
  if (k->out.failed) return luaL_error(L, "apply: out of memory");
  hs_lua_decode(L, k->out.data, k->out.len);
  return 1;
}

static int l_snapshot(lua_State *L) {
  lkv *k = luaL_checkudata(L, 1, HS_KV_MT);
  hs_buf_reset(&k->out);
  hs_kv_snapshot(&k->kv, &k->out);
  if (k->out.failed) return luaL_error(L, "snapshot: out of memory");
  hs_lua_decode(L, k->out.data, k->out.len);
  return 1;
}

static int l_restore(lua_State *L) {
  lkv *k = luaL_checkudata(L, 1, HS_KV_MT);
  luaL_checktype(L, 2, LUA_TTABLE);
  hs_buf_reset(&k->in);
  hs_lua_encode(L, &k->in, 2, "snapshot");
  const char *err = hs_kv_restore(&k->kv, (hs_value){k->in.data, k->in.len});
  if (err) return luaL_argerror(L, 2, err);
  return 0;
}

static int l_kv_index(lua_State *L) {
  lkv *k = luaL_checkudata(L, 1, HS_KV_MT);
  if (lua_type(L, 2) != LUA_TSTRING) return 0; /* kv[1] is nil, not kv["1"] */
  const char *key = lua_tostring(L, 2);
  if (strcmp(key, "data") == 0) return l_snapshot(L);
  if (strcmp(key, "size") == 0) {
    lua_pushinteger(L, (lua_Integer)k->kv.count);
    return 1;
  }
  if (strcmp(key, "applied") == 0) {
    lua_pushinteger(L, (lua_Integer)k->kv.applied);
    return 1;
  }
  lua_getmetatable(L, 1);
  lua_getfield(L, -1, "methods");
  lua_getfield(L, -1, key);
  return 1;
}

static int l_kv_gc(lua_State *L) {
  lkv *k = luaL_checkudata(L, 1, HS_KV_MT);
  hs_kv_free(&k->kv);
  hs_buf_free(&k->in);
  hs_buf_free(&k->out);
  return 0;
}

static int l_kv_tostring(lua_State *L) {
  lkv *k = luaL_checkudata(L, 1, HS_KV_MT);
  lua_pushfstring(L, "KVStateMachine (%d keys)", (int)k->kv.count);
  return 1;
}

void hs_kv_open(lua_State *L) {
  static const luaL_Reg meta[] = {{"__index", l_kv_index}, {"__gc", l_kv_gc}, {"__tostring", l_kv_tostring}, {NULL, NULL}};
  static const luaL_Reg methods[] = {{"apply", l_apply}, {"snapshot", l_snapshot}, {"restore", l_restore}, {NULL, NULL}};
  luaL_newmetatable(L, HS_KV_MT);
  luaL_setfuncs(L, meta, 0);
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, "methods");
  lua_pop(L, 1);
}

int hs_l_kv_new(lua_State *L) { return l_kv_new(L); }

const luaL_Reg hs_kv_funcs[] = {{"KVStateMachine", l_kv_new}, {NULL, NULL}};
