/*
 * hs_lua_request.c - a protocol node's pending client request, settled through the door or
 * answered over the network (hs_lua_request.h).
 */
#include "protocols/hs_lua_request.h"

int hs_lua_take_pending(lua_State *L, uint64_t tag) {
  lua_getfield(L, -1, "futures");
  lua_remove(L, -2);
  int t = lua_rawgeti(L, -1, (lua_Integer)tag);
  lua_pushnil(L);
  lua_rawseti(L, -3, (lua_Integer)tag);
  lua_remove(L, -2);
  return t;
}

void hs_lua_push_client_request(lua_State *L, const hs_message *m) {
  lua_createtable(L, 0, 4);
  lua_pushinteger(L, (lua_Integer)hs_blob_request_id(m->payload));
  lua_setfield(L, -2, "request_id");
  lua_pushlightuserdata(L, m->src);
  lua_setfield(L, -2, "client");
  lua_pushlightuserdata(L, (hs_lnet *)m->net); /* an hs_lnet starts with its hs_net */
  lua_setfield(L, -2, "net");
  lua_pushstring(L, m->type);
  lua_setfield(L, -2, "type");
}

void hs_lua_reply_request(lua_State *L, hs_entity *node, int pending, int reply) {
  int top = lua_gettop(L);
  lua_getfield(L, pending, "client");
  hs_entity *client = lua_touserdata(L, -1);
  lua_getfield(L, pending, "net");
  hs_lnet *ln = lua_touserdata(L, -1);
  lua_getfield(L, pending, "request_id");
  uint64_t rid = (uint64_t)lua_tointeger(L, -1);
  lua_getfield(L, pending, "type"); /* stays on the stack while the string is used */
  const char *type = lua_tostring(L, -1);
  if (client && ln && type && !hs_entity_crashed(node))
    hs_lnet_send_value(L, ln, node, client, type, reply, HS_MSG_REPLY, rid);
  lua_settop(L, top);
}

void hs_lua_settle_request(lua_State *L, hs_entity *node, int ok, int nvalues) {
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
  hs_lua_reply_request(L, node, base, reply);
  lua_settop(L, base - 1);
}
