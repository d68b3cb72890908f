/*
 * hs_lua_consensus.c - what RaftNode (hs_lua_raft_node.c) and the Paxos nodes
 * (hs_lua_paxos_node.c) share of their bindings: threads, state table, pending requests,
 * client sessions, construction steps. See hs_lua_consensus.h.
 */
#include <stdio.h>
#include <string.h>

#include "protocols/hs_lua_consensus.h"
#include "sm/hs_session.h"

/* The node's state machine (protocols/hs_lua_sm.h) calls Lua on this thread, with this object. */
static lua_State *sm_thread(void *owner) { return hs_lcons_thread(owner); }

static void push_sm(lua_State *L, void *owner) {
  hs_lcons_push_state(L, owner);
  lua_getfield(L, -1, "sm");
  lua_remove(L, -2);
}

void hs_lcons_init(lua_State *L, hs_lcons *c, hs_entity *e, hs_lnet *ln, const char *states_key) {
  c->e = e;
  c->ln = ln;
  c->states_key = states_key;
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  c->main = lua_tothread(L, -1);
  lua_pop(L, 1);
  hs_buf_init(&c->cmd);
  hs_lsm_init(&c->lsm, e, c, sm_thread, push_sm);
}

void hs_lcons_free(hs_lcons *c) {
  hs_buf_free(&c->cmd);
  hs_lsm_free(&c->lsm);
}

void hs_lcons_open(lua_State *L, const char *states_key) {
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "v");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, states_key);
}

/* ---- threads ---------------------------------------------------------------------------- */

lua_State *hs_lcons_thread(const hs_lcons *c) {
  if (c->L) return c->L;
  lua_State *L = hs_lsim_of(c->e->sim)->L;
  return L ? L : c->main;
}

hs_lcons_call hs_lcons_enter(hs_lcons *c, lua_State *L) {
  hs_lcons_call saved = {c->L, c->ln->L};
  c->L = L;
  c->ln->L = L;
  return saved;
}

void hs_lcons_leave(hs_lcons *c, lua_State *L, hs_lcons_call saved) {
  c->L = saved.node_L;
  c->ln->L = saved.net_L;
  hs_door_raise(L, hs_lsim_of(c->e->sim)); /* a filter or a hook that raised meanwhile, between runs */
}

/* ---- the state table -------------------------------------------------------------------- */

void hs_lcons_push_state(lua_State *L, hs_lcons *c) {
  lua_getfield(L, LUA_REGISTRYINDEX, c->states_key); /* the fast way (hooks run per command) */
  if (lua_rawgetp(L, -1, c) != LUA_TNIL) {
    lua_remove(L, -2);
    return;
  }
  lua_pop(L, 2);
  hs_push_entity_object(L, hs_lsim_of(c->e->sim), c->e);
  lua_getiuservalue(L, -1, HS_CENTITY_UV);
  lua_remove(L, -2);
}

void hs_lcons_bind_state(lua_State *L, hs_lcons *c, int state_idx) {
  state_idx = lua_absindex(L, state_idx);
  lua_getfield(L, LUA_REGISTRYINDEX, c->states_key);
  lua_pushvalue(L, state_idx);
  lua_rawsetp(L, -2, c);
  lua_pop(L, 1);
}

void hs_lcons_new_state(lua_State *L, int nrec, int sm_idx, int net_idx, int peers_idx) {
  lua_createtable(L, 0, nrec);
  int state = lua_gettop(L);
  lua_pushvalue(L, sm_idx);
  lua_setfield(L, state, "sm");
  lua_newtable(L);
  lua_setfield(L, state, "futures");
  lua_newtable(L);
  lua_setfield(L, state, "history");
  lua_pushvalue(L, net_idx);
  lua_setfield(L, state, "network");
  lua_pushvalue(L, peers_idx);
  lua_setfield(L, state, "peers"); /* the option until attach turns it into names */
  lua_getfield(L, 1, "checker");
  lua_setfield(L, state, "checker"); /* anchors it; watched from attach on */
  lua_getglobal(L, "require");
  lua_pushliteral(L, "happysim.future");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "new");
  lua_setfield(L, state, "new_future");
  lua_pop(L, 1);
}

void hs_lcons_push_history(lua_State *L, hs_lcons *c, hs_time_ns now, const char *role) {
  hs_lcons_push_state(L, c);
  lua_getfield(L, -1, "history");
  lua_createtable(L, 0, 4);
  lua_pushnumber(L, hs_time_to_s(now));
  lua_setfield(L, -2, "time");
  lua_pushstring(L, role);
  lua_setfield(L, -2, "role");
}

void hs_lcons_add_history(lua_State *L) {
  lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
  lua_pop(L, 2);
}

/* ---- pending requests ------------------------------------------------------------------- */

/* Stores the value below the futures table on top under a new tag; pops both and `pending`. */
static uint64_t store_pending(lua_State *L, hs_lcons *c) {
  uint64_t tag = ++c->next_tag;
  lua_getfield(L, -1, "futures");
  lua_pushvalue(L, -3);
  lua_rawseti(L, -2, (lua_Integer)tag);
  lua_pop(L, 3);
  return tag;
}

uint64_t hs_lcons_add_pending(lua_State *L, hs_lcons *c) {
  hs_lcons_push_state(L, c);
  return store_pending(L, c);
}

uint64_t hs_lcons_add_pending_arg1(lua_State *L, hs_lcons *c) {
  lua_getiuservalue(L, 1, HS_CENTITY_UV);
  return store_pending(L, c);
}

int hs_lcons_take_pending(lua_State *L, hs_lcons *c, uint64_t tag) {
  hs_lcons_push_state(L, c);
  return hs_lua_take_pending(L, tag);
}

lua_State *hs_lcons_pending(hs_lcons *c, uint64_t tag) {
  lua_State *L = hs_lcons_thread(c);
  if (!L) return NULL;
  if (hs_lcons_take_pending(L, c, tag) == LUA_TNIL) {
    lua_pop(L, 1);
    return NULL;
  }
  return L;
}

void hs_lcons_settle(lua_State *L, hs_lcons *c, int ok, int nvalues) {
  hs_lua_settle_request(L, c->e, ok, nvalues);
}

void hs_lcons_push_future(lua_State *L) {
  lua_getiuservalue(L, 1, HS_CENTITY_UV);
  lua_getfield(L, -1, "new_future");
  lua_call(L, 0, 1);
  lua_remove(L, -2);
}

void hs_lcons_push_pending_future(lua_State *L) {
  lua_createtable(L, 0, 2);
  hs_lcons_push_future(L);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "future");
}

/* Starts c->cmd with the session envelope of submit's optional argument 3. */
static void begin_session(lua_State *L, hs_lcons *c) {
  if (lua_isnoneornil(L, 3)) return;
  if (!lua_istable(L, 3))
    luaL_argerror(L, 3, lua_pushfstring(L, "session table { client =, request_id = } expected, got %s", hs_typename_of(L, 3)));
  if (lua_getfield(L, 3, "client") != LUA_TSTRING) luaL_argerror(L, 3, "field 'client' must be a string");
  size_t len;
  const char *client = lua_tolstring(L, -1, &len);
  int isint = 0;
  lua_Integer id = lua_getfield(L, 3, "request_id") == LUA_TNUMBER ? lua_tointegerx(L, -1, &isint) : 0;
  if (!isint || id < 1) luaL_argerror(L, 3, "field 'request_id' must be an integer >= 1");
  hs_session_begin(&c->cmd, client, len, (uint64_t)id);
  lua_pop(L, 2);
}

uint64_t hs_lcons_begin_submit(lua_State *L, hs_lcons *c) {
  luaL_checkany(L, 2);
  lua_settop(L, 3);
  hs_buf_reset(&c->cmd);
  begin_session(L, c);
  lua_settop(L, 2);
  size_t off = c->cmd.len;
  hs_lua_encode(L, &c->cmd, 2, "submit: command");
  const char *why = hs_lsm_validate(L, &c->lsm, c->cmd.data + off, c->cmd.len - off, 2, 0);
  if (why) luaL_error(L, "bad argument #1 to 'submit' (invalid command: %s)", why);
  hs_lcons_push_future(L); /* 3: the Future is the pending request itself */
  lua_pushvalue(L, 3);
  return hs_lcons_add_pending_arg1(L, c);
}

int hs_lcons_refuse_command(lua_State *L, hs_lcons *c, const hs_message *m) {
  const hs_blob *b = m->payload;
  const char *why = hs_lsm_validate(L, &c->lsm, b->data + HS_MSG_HEADER, b->size - HS_MSG_HEADER, 0, 1);
  if (!why) return 0;
  char msg[256];
  snprintf(msg, sizeof msg, "submit to '%s': invalid command: %s", c->e->name, why);
  hs_push_error(L, "invalid_command", msg);
  hs_lcons_settle(L, c, 0, 1);
  return 1;
}

/* ---- construction and fields ------------------------------------------------------------ */

hs_lnet *hs_lcons_check_network(lua_State *L, const char **name) {
  hs_lnet *ln = hs_lua_opt_network(L); /* 2 network, 3 sim or nil */
  *name = NULL;
  if (lua_getfield(L, 1, "name") != LUA_TNIL) { /* 4 */
    if (lua_type(L, 4) != LUA_TSTRING) luaL_argerror(L, 1, "field 'name' must be a string");
    *name = lua_tostring(L, 4);
  }
  return ln;
}

lua_Integer hs_lcons_field_count(lua_State *L, const char *field, lua_Integer dflt, lua_Integer lo, lua_Integer hi) {
  lua_Integer v = dflt;
  if (lua_getfield(L, 1, field) != LUA_TNIL) {
    int isint;
    v = lua_tointegerx(L, -1, &isint);
    if (!isint || v < lo || v > hi)
      luaL_argerror(L, 1, lua_pushfstring(L, "field '%s' must be an integer in [%I, %I]", field, lo, hi));
  }
  lua_pop(L, 1);
  return v;
}

void hs_lcons_set_command(lua_State *L, const uint8_t *data, uint32_t len) {
  hs_session_cmd c;
  int session = hs_session_parse(data, len, &c);
  if (session == 1) {
    if (hs_value_size(c.cmd) == c.cmd.len) {
      hs_lua_decode(L, c.cmd.p, c.cmd.len);
      lua_setfield(L, -2, "command");
    }
    lua_pushlstring(L, c.client, c.client_len);
    lua_setfield(L, -2, "client");
    lua_pushinteger(L, (lua_Integer)c.request_id);
    lua_setfield(L, -2, "request_id");
  } else if (session == 0 && len && hs_value_size((hs_value){data, len}) == len) {
    hs_lua_decode(L, data, len);
    lua_setfield(L, -2, "command");
  }
}
