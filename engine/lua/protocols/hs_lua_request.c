/*
 * hs_lua_request.c - a consensus node's pending client request, settled through the door or
 * answered over the network (hs_lua_request.h).
 */
#include "protocols/hs_lua_request.h"

void hs_lua_settle_request(lua_State *L, hs_entity *node, hs_lnet *ln, int ok, int nvalues) {
  int base = lua_gettop(L) - nvalues; /* the pending value sits at base */
  int future = 0;
  if (lua_getmetatable(L, base)) { /* a Future (the plain pending tables have no metatable) */
    lua_pop(L, 1);
    lua_pushvalue(L, base);
    future = 1;
  } else if (lua_getfield(L, base, "future") != LUA_TNIL) {
    future = 1;
  } else {
    lua_pop(L, 1);
  }
  if (future) {
    lua_getfield(L, -1, ok ? "resolve" : "reject");
    lua_insert(L, base + 1);
    lua_insert(L, base + 2);
    const hs_event *ev = node->sim->current;
    hs_door_site site = {"settling a request", NULL, node, ev ? ev->type : NULL};
    hs_door_call(L, hs_lsim_of(node->sim), nvalues + 1, 0, &site);
    lua_settop(L, base - 1);
    return;
  }
  /* a client over the network: reply { ok = true, index =, result = } or { ok = false, error = } */
  lua_createtable(L, 0, 3);
  int reply = lua_gettop(L);
  lua_pushboolean(L, ok);
  lua_setfield(L, reply, "ok");
  if (ok) {
    lua_pushvalue(L, base + 1);
    lua_setfield(L, reply, "index");
    if (nvalues > 1) {
      lua_pushvalue(L, base + 2);
      lua_setfield(L, reply, "result");
    }
  } else {
    lua_pushvalue(L, base + 1);
    lua_setfield(L, reply, "error");
  }
  lua_getfield(L, base, "request_id");
  uint64_t rid = (uint64_t)lua_tointeger(L, -1);
  lua_getfield(L, base, "client");
  hs_entity *dst = lua_touserdata(L, -1);
  lua_getfield(L, base, "type");
  const char *type = lua_tostring(L, -1);
  if (dst && type && !hs_entity_crashed(node)) hs_lnet_send_value(L, ln, node, dst, type, reply, HS_MSG_REPLY, rid);
  lua_settop(L, base - 1);
}
