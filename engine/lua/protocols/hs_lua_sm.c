/* hs_lua_sm.c - a protocol node's state machine: the C KV store or a Lua table (hs_lua_sm.h). */
#include <stdio.h>
#include <string.h>

#include "protocols/hs_lua_sm.h"

void hs_lsm_init(hs_lsm *s, const hs_entity *entity, void *owner, lua_State *(*thread)(void *owner),
                 void (*push_sm)(lua_State *L, void *owner)) {
  memset(s, 0, sizeof *s);
  hs_buf_init(&s->buf);
  s->entity = entity;
  s->owner = owner;
  s->thread = thread;
  s->push_sm = push_sm;
}

void hs_lsm_free(hs_lsm *s) { hs_buf_free(&s->buf); }

/* ---- hs.KVStateMachine ---------------------------------------------------------------------- */

static const char *kv_apply(void *ud, hs_value cmd, hs_buf *out) { return hs_kv_apply(((hs_lsm *)ud)->kv, cmd, out); }

static const uint8_t *kv_snapshot(void *ud, size_t *len) {
  hs_lsm *s = ud;
  hs_buf_reset(&s->buf);
  hs_kv_snapshot(s->kv, &s->buf);
  *len = s->buf.len;
  return s->buf.failed ? NULL : s->buf.data;
}

static void kv_restore(void *ud, const uint8_t *data, size_t len) {
  hs_lsm *s = ud;
  if (!data) {
    hs_kv_free(s->kv);
    return;
  }
  hs_kv_restore(s->kv, (hs_value){data, len});
}

static const char *kv_query(void *ud, hs_value q, hs_buf *out) {
  hs_lsm *s = ud;
  hs_value op, key;
  size_t n, klen;
  const char *str, *k;
  if (!hs_value_field(q, "op", &op) || !(str = hs_value_string(op, &n)) || n != 3 || memcmp(str, "get", 3) != 0)
    return "a read must be { op = \"get\", key = k }";
  if (!hs_value_field(q, "key", &key) || !(k = hs_value_string(key, &klen))) return "a read needs a string 'key'";
  hs_value v;
  if (hs_kv_get(s->kv, k, klen, &v))
    hs_buf_put_raw(out, v.p, hs_value_size(v));
  else
    hs_buf_put_nil(out);
  return NULL;
}

/* ---- a Lua table: sm:apply(cmd), sm:snapshot(), sm:restore(snap), sm:read(query) ------------ */

typedef struct sm_call {
  hs_lsm *s;
  const char *method;
  const uint8_t *in;
  size_t in_len;
  hs_buf *out;
} sm_call;

static int sm_call_protected(lua_State *L) {
  sm_call *c = lua_touserdata(L, 1);
  c->s->push_sm(L, c->s->owner);
  int sm = lua_gettop(L);
  if (lua_getfield(L, sm, c->method) != LUA_TFUNCTION)
    return luaL_error(L, "state machine has no '%s' method", c->method);
  lua_pushvalue(L, sm);
  int nargs = 1;
  if (c->in) {
    hs_lua_decode(L, c->in, c->in_len);
    nargs = 2;
  } else if (strcmp(c->method, "restore") == 0) {
    lua_pushnil(L);
    nargs = 2;
  }
  lua_call(L, nargs, 1);
  if (c->out) hs_lua_encode(L, c->out, -1, "state machine result");
  return 0;
}

/* The door's site of a call made for the node: what, the node, the event being handled now. */
static hs_door_site site_of(const hs_lsm *s, const char *what) {
  const hs_event *ev = s->entity->sim->current;
  return (hs_door_site){what, NULL, s->entity, ev ? ev->type : NULL};
}

/* Runs a Lua state machine method through the door; NULL, or an error message when it raised
 * (the door has reported it: the run stops, or the Lua call into the node raises). */
static const char *sm_lua(hs_lsm *s, const char *method, const uint8_t *in, size_t len, hs_buf *out) {
  lua_State *L = s->thread(s->owner);
  if (!L) return "no Lua thread to run the state machine";
  sm_call c = {s, method, in, len, out};
  const char *what = method[0] == 'a'   ? "state machine apply"
                     : method[0] == 's' ? "state machine snapshot"
                     : method[2] == 's' ? "state machine restore"
                                        : "state machine read";
  hs_door_site site = site_of(s, what);
  lua_pushcfunction(L, sm_call_protected);
  lua_pushlightuserdata(L, &c);
  if (hs_door_call(L, hs_lsim_of(s->entity->sim), 1, 0, &site) != LUA_OK) {
    snprintf(s->error, sizeof s->error, "the state machine's %s raised an error", method);
    return s->error;
  }
  return NULL;
}

static const char *lua_apply(void *ud, hs_value cmd, hs_buf *out) {
  return sm_lua(ud, "apply", cmd.p, hs_value_size(cmd), out);
}

static const uint8_t *lua_snapshot(void *ud, size_t *len) {
  hs_lsm *s = ud;
  hs_buf_reset(&s->buf);
  if (sm_lua(s, "snapshot", NULL, 0, &s->buf)) return NULL;
  *len = s->buf.len;
  return s->buf.data;
}

static void lua_restore(void *ud, const uint8_t *data, size_t len) { sm_lua(ud, "restore", data, len, NULL); }

static const char *lua_query(void *ud, hs_value q, hs_buf *out) {
  return sm_lua(ud, "read", q.p, hs_value_size(q), out);
}

hs_sm_ops hs_lsm_ops(lua_State *L, hs_lsm *s, int idx) {
  if (hs_is_kv(L, idx)) {
    s->kv = hs_check_kv(L, idx);
    return (hs_sm_ops){kv_apply, kv_snapshot, kv_restore, kv_query, s};
  }
  s->kv = NULL;
  return (hs_sm_ops){lua_apply, lua_snapshot, lua_restore, lua_query, s};
}

const char *hs_lsm_validate(lua_State *L, hs_lsm *s, const uint8_t *p, size_t len, int value_idx, int protect) {
  if (s->kv) return hs_kv_validate((hs_value){p, len}, s->error, sizeof s->error);
  int top = lua_gettop(L);
  s->push_sm(L, s->owner);
  if (lua_getfield(L, -1, "validate") != LUA_TFUNCTION) { /* optional: without it, everything goes */
    lua_settop(L, top);
    return NULL;
  }
  lua_insert(L, -2); /* validate sm */
  if (value_idx)
    lua_pushvalue(L, value_idx);
  else
    hs_lua_decode(L, p, len);
  if (protect) { /* from the simulator (a network submit): an error stops the run, like apply's */
    hs_door_site site = {"state machine validate", NULL, s->entity, NULL};
    if (hs_door_call(L, hs_lsim_of(s->entity->sim), 2, 2, &site) != LUA_OK) {
      lua_settop(L, top);
      return "validate raised an error";
    }
  } else {
    lua_call(L, 2, 2);
  }
  const char *why = NULL;
  if (!lua_toboolean(L, -2)) {
    snprintf(s->error, sizeof s->error, "%s",
             lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "refused by the state machine's validate");
    why = s->error;
  }
  lua_settop(L, top);
  return why;
}
