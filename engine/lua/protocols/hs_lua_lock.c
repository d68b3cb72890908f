/*
 * hs_lua_lock.c - hs.DistributedLock: the lock server (engine/coord/hs_lock_node.h) as a C
 * entity usable from Lua, and hs.FencedResource (hs_fenced: a storage that refuses stale
 * fencing tokens).
 *
 *   local lock = hs.DistributedLock{ name = "locks", lease_duration = 10, max_waiters = 0 }
 *   local g, err = hs.await(lock:acquire("db", "client1", { timeout = 5 }))
 *   -- g = { lock_name =, fencing_token =, holder =, granted_at =, lease_duration =, expires_at = }
 *   lock:try_acquire("db", "client2")  -- a grant, or nil, err (code "lock_held")
 *   lock:release("db", g.fencing_token) -- true, or false (a stale or wrong token)
 *   lock:renew("db", g.fencing_token)   -- the renewed grant, or nil, err (code "stale_token")
 *
 * The server is an entity: built with `network =` or `sim =` it follows the order of
 * construction of docs/API.md 5.1 (detached until its simulation lists it; with neither option it
 * is attached by hs.Simulation{ entities = } or sim:add). Leases expire in simulated time,
 * tokens are per lock and only grow, and crash()/restart() keep them (see hs_lock.h).
 * Requesters are names (an entity is taken by its name).
 *
 * CLIENTS OVER THE NETWORK (docs/API.md 5.1) send requests with net:request(client, lock, TYPE,
 * payload): "acquire" { lock =, requester = (the client's name), lease =, timeout = },
 * "try_acquire" { lock =, requester =, lease = }, "release" { lock =, token = } and
 * "renew" { lock =, token =, lease = }. The reply is { ok = true, value = grant } (release: value
 * = true or false) or { ok = false, error = { code =, message = } } with the method's codes, and
 * bad_request for a payload that is not one of these. A queued acquire is answered when it is
 * granted or times out; a crashed server answers nothing (its waiters are dropped, as they are
 * rejected with "crashed" for local callers). Requests are not deduplicated: a duplicated acquire
 * is a second acquire by the same requester.
 *
 * Class user value HS_CENTITY_UV is a table { futures = { tag -> Future or network request },
 * new_future = fn }; a network request is { client =, net =, request_id =, type = }.
 */
#include <string.h>

#include "coord/hs_lock_node.h"
#include "hs_lua_centity.h"
#include "hs_lua_net.h"
#include "protocols/hs_lua_protocols.h"
#include "protocols/hs_lua_request.h"

#define FENCED_MT "happysim.FencedResource"

typedef struct llock {
  hs_lua_centity base;
  hs_lock_node node;
  int inited;
  hs_lock_config cfg; /* the options, checked at construction */
  uint64_t next_tag;
  lua_State *L;    /* thread of the Lua call into the server now, if any */
  lua_State *main; /* the main thread: for timers that fire while no Lua thread is known */
  uint64_t requests, bad_requests; /* over the network */
} llock;

static const hs_lua_class lock_class;

static lua_State *thread_of(llock *k) {
  if (k->L) return k->L;
  lua_State *L = hs_lsim_of(k->base.e.sim)->L;
  return L ? L : k->main;
}

/* Pushes the server's state table (its Lua object found by entity id). */
static void push_state(lua_State *L, llock *k) {
  hs_push_entity_object(L, hs_lsim_of(k->base.e.sim), &k->base.e);
  lua_getiuservalue(L, -1, HS_CENTITY_UV);
  lua_remove(L, -2);
}

static const char *code_of(int rc) {
  switch (rc) {
  case HS_LOCK_EHELD: return "lock_held";
  case HS_LOCK_EFULL: return "queue_full";
  case HS_LOCK_ESTALE: return "stale_token";
  case HS_LOCK_ETIMEOUT: return "timeout";
  case HS_LOCK_ECRASHED: return "crashed";
  case HS_LOCK_ENOTFOUND: return "not_found";
  case HS_ENOMEM: return "out_of_memory";
  default: return "invalid";
  }
}

/* Pushes a grant as the seed's LockGrant (a plain table, expires_at included). */
static void push_grant(lua_State *L, const hs_lock_grant *g) {
  lua_createtable(L, 0, 6);
  lua_pushlstring(L, g->lock, g->lock_len);
  lua_setfield(L, -2, "lock_name");
  lua_pushinteger(L, (lua_Integer)g->fencing_token);
  lua_setfield(L, -2, "fencing_token");
  lua_pushlstring(L, g->holder, g->holder_len);
  lua_setfield(L, -2, "holder");
  lua_pushnumber(L, hs_time_to_s(g->granted_at_ns));
  lua_setfield(L, -2, "granted_at");
  lua_pushnumber(L, hs_time_to_s(g->lease_ns));
  lua_setfield(L, -2, "lease_duration");
  lua_pushnumber(L, hs_time_to_s(g->expires_at_ns));
  lua_setfield(L, -2, "expires_at");
}

/* Keeps the pending value at idx (a Future or a network request) under a new tag. */
static uint64_t store_pending(lua_State *L, llock *k, int idx) {
  idx = lua_absindex(L, idx);
  uint64_t tag = ++k->next_tag;
  push_state(L, k);
  lua_getfield(L, -1, "futures");
  lua_pushvalue(L, idx);
  lua_rawseti(L, -2, (lua_Integer)tag);
  lua_pop(L, 2);
  return tag;
}

/* Pushes and clears futures[tag]; returns its type (nil when unknown or settled). */
static int take_future(lua_State *L, llock *k, uint64_t tag) {
  push_state(L, k);
  return hs_lua_take_pending(L, tag);
}

/* A network request and one value are on top: the client gets { ok = true, value = v } or
 * { ok = false, error = v } in reply, unless the server is crashed. Pops both. */
static void reply(lua_State *L, llock *k, int ok) {
  int req = lua_gettop(L) - 1;
  lua_createtable(L, 0, 2);
  lua_pushboolean(L, ok);
  lua_setfield(L, -2, "ok");
  lua_pushvalue(L, req + 1);
  lua_setfield(L, -2, ok ? "value" : "error");
  hs_lua_reply_request(L, &k->base.e, req, req + 2);
  lua_settop(L, req - 1);
}

/* The Future (or a network request) and one value are on top: future:resolve(v) or
 * future:reject(v), through the door. Pops both. */
static void settle(lua_State *L, llock *k, int ok) {
  if (!lua_getmetatable(L, -2)) { /* a network request: a plain table */
    reply(L, k, ok);
    return;
  }
  lua_pop(L, 1);
  lua_getfield(L, -2, ok ? "resolve" : "reject"); /* f v m */
  lua_rotate(L, -3, 1);                            /* m f v */
  const hs_event *ev = k->base.e.sim->current;
  hs_door_site site = {"settling a lock request", NULL, &k->base.e, ev ? ev->type : NULL};
  hs_door_call(L, hs_lsim_of(k->base.e.sim), 2, 0, &site);
}

static void hook_granted(void *ud, const hs_lock_grant *g) {
  llock *k = ud;
  lua_State *L = thread_of(k);
  if (take_future(L, k, g->tag) == LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  push_grant(L, g);
  settle(L, k, 1);
}

static void hook_waiter_done(void *ud, uint64_t tag, int reason) {
  llock *k = ud;
  lua_State *L = thread_of(k);
  if (take_future(L, k, tag) == LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  hs_push_error(L, code_of(reason),
                lua_pushfstring(L, "acquire on '%s': %s", k->base.e.name, hs_lock_strerror(reason)));
  lua_remove(L, -2);
  settle(L, k, 0);
}

/* ---- entity ------------------------------------------------------------------------------ */

static void on_crash(hs_entity *e) {
  llock *k = (llock *)e;
  if (k->inited) {
    k->L = NULL;
    hs_lock_node_on_crash(&k->node);
  }
}

static void on_restart(hs_entity *e) {
  llock *k = (llock *)e;
  if (k->inited) hs_lock_node_on_restart(&k->node);
}

static void on_message(hs_entity *e, hs_message *m);
static const hs_entity_vtable lock_vt = {
    .kind = "DistributedLock", .on_crash = on_crash, .on_restart = on_restart, .on_message = on_message};

static llock *check_lock(lua_State *L) { return hs_lua_check_centity(L, 1, &lock_class); }

/* A requester argument: a name, or an entity (its name). */
static const char *check_requester(lua_State *L, int arg, size_t *len) {
  if (lua_type(L, arg) == LUA_TSTRING) return lua_tolstring(L, arg, len);
  if (lua_type(L, arg) == LUA_TTABLE || lua_type(L, arg) == LUA_TUSERDATA) {
    if (lua_getfield(L, arg, "name") == LUA_TSTRING) {
      lua_replace(L, arg);
      return lua_tolstring(L, arg, len);
    }
    lua_pop(L, 1);
  }
  luaL_argexpected(L, 0, arg, "requester name or entity");
  return NULL;
}

static const char *check_lock_name(lua_State *L, int arg, size_t *len) {
  const char *s = hs_check_string(L, arg, len);
  if (*len == 0) luaL_argerror(L, arg, "lock name must not be empty");
  return s;
}

/* The options table of acquire/try_acquire/renew at arg: { timeout =, lease = }. */
static void opt_request(lua_State *L, llock *k, int arg, hs_time_ns *lease, hs_time_ns *timeout) {
  *lease = 0;
  if (timeout) *timeout = HS_TIME_NEVER;
  if (lua_isnoneornil(L, arg)) return;
  luaL_checktype(L, arg, LUA_TTABLE);
  static const char *const with_timeout[] = {"timeout", "lease", NULL};
  static const char *const without[] = {"lease", NULL};
  hs_check_options(L, arg, arg, timeout ? with_timeout : without);
  double l = hs_field_positive_seconds(L, arg, arg, "lease", 0);
  *lease = l > 0 ? hs_time_from_s(l) : 0;
  hs_time_ns max = k->cfg.max_lease_ns ? k->cfg.max_lease_ns : k->cfg.lease_ns;
  if (*lease > max)
    luaL_argerror(L, arg, lua_pushfstring(L, "field 'lease' is longer than the server's max_lease (%f s)", hs_time_to_s(max)));
  if (timeout && lua_getfield(L, arg, "timeout") != LUA_TNIL) {
    lua_pop(L, 1);
    *timeout = hs_time_from_s(hs_field_positive_seconds(L, arg, arg, "timeout", 1));
  } else if (timeout) {
    lua_pop(L, 1);
  }
}

static void check_rc(lua_State *L, int rc, const char *fname) {
  if (rc == HS_ENOMEM) luaL_error(L, "%s: out of memory", fname);
  if (rc == HS_EINVAL) luaL_error(L, "%s: invalid request", fname);
}

/* lock:acquire(lock, requester [, { timeout =, lease = }]) -> Future of a grant; rejected with
 * timeout, queue_full or crashed. */
static int l_acquire(lua_State *L) {
  llock *k = check_lock(L);
  size_t ll, rl;
  const char *lock = check_lock_name(L, 2, &ll);
  const char *req = check_requester(L, 3, &rl);
  hs_time_ns lease, timeout;
  opt_request(L, k, 4, &lease, &timeout);
  lua_settop(L, 3);
  lua_getiuservalue(L, 1, HS_CENTITY_UV); /* 4 */
  lua_getfield(L, 4, "new_future");
  lua_call(L, 0, 1); /* 5: the Future */
  uint64_t tag = store_pending(L, k, 5);
  hs_lock_grant g;
  lua_State *saved = k->L;
  k->L = L;
  int rc = hs_lock_node_acquire(&k->node, lock, ll, req, rl, lease, timeout, tag, &g);
  k->L = saved;
  check_rc(L, rc, "acquire");
  if (rc != HS_LOCK_QUEUED && take_future(L, k, tag) != LUA_TNIL) {
    if (rc == HS_OK) {
      push_grant(L, &g);
    } else {
      hs_push_error(L, code_of(rc), lua_pushfstring(L, "acquire('%s') on '%s': %s", lock, k->base.e.name, hs_lock_strerror(rc)));
      lua_remove(L, -2);
    }
    settle(L, k, rc == HS_OK);
    hs_door_raise(L, hs_lsim_of(k->base.e.sim));
  }
  lua_settop(L, 5);
  return 1;
}

/* lock:try_acquire(lock, requester [, { lease = }]) -> grant, or nil, err (lock_held, crashed) */
static int l_try_acquire(lua_State *L) {
  llock *k = check_lock(L);
  size_t ll, rl;
  const char *lock = check_lock_name(L, 2, &ll);
  const char *req = check_requester(L, 3, &rl);
  hs_time_ns lease;
  opt_request(L, k, 4, &lease, NULL);
  hs_lock_grant g;
  int rc = hs_lock_node_try_acquire(&k->node, lock, ll, req, rl, lease, &g);
  check_rc(L, rc, "try_acquire");
  if (rc == HS_OK) {
    push_grant(L, &g);
    return 1;
  }
  lua_pushnil(L);
  hs_push_error(L, code_of(rc), lua_pushfstring(L, "try_acquire('%s') on '%s': %s", lock, k->base.e.name, hs_lock_strerror(rc)));
  lua_remove(L, -2);
  return 2;
}

static uint64_t check_token(lua_State *L, int arg) {
  lua_Integer t = hs_check_integer(L, arg);
  if (t < 1) luaL_argerror(L, arg, "fencing token must be >= 1");
  return (uint64_t)t;
}

/* lock:release(lock, token) -> true, or false (not the holder's valid token) */
static int l_release(lua_State *L) {
  llock *k = check_lock(L);
  size_t ll;
  const char *lock = check_lock_name(L, 2, &ll);
  uint64_t token = check_token(L, 3);
  lua_State *saved = k->L;
  k->L = L;
  int rc = hs_lock_node_release(&k->node, lock, ll, token);
  k->L = saved;
  hs_door_raise(L, hs_lsim_of(k->base.e.sim)); /* a waiter's future settled meanwhile */
  lua_pushboolean(L, rc == HS_OK);
  return 1;
}

/* lock:renew(lock, token [, { lease = }]) -> the renewed grant, or nil, err (stale_token) */
static int l_renew(lua_State *L) {
  llock *k = check_lock(L);
  size_t ll;
  const char *lock = check_lock_name(L, 2, &ll);
  uint64_t token = check_token(L, 3);
  hs_time_ns lease;
  opt_request(L, k, 4, &lease, NULL);
  hs_lock_grant g;
  int rc = hs_lock_node_renew(&k->node, lock, ll, token, lease, &g);
  check_rc(L, rc, "renew");
  if (rc == HS_OK) {
    push_grant(L, &g);
    return 1;
  }
  lua_pushnil(L);
  hs_push_error(L, code_of(rc), lua_pushfstring(L, "renew('%s') on '%s': %s", lock, k->base.e.name, hs_lock_strerror(rc)));
  lua_remove(L, -2);
  return 2;
}

/* lock:holder(lock) -> the valid grant now, or nil */
static int l_holder(lua_State *L) {
  llock *k = check_lock(L);
  size_t ll;
  const char *lock = check_lock_name(L, 2, &ll);
  hs_lock_grant g;
  if (hs_lock_holder(k->node.server, k->base.e.sim->now_ns, lock, ll, &g))
    push_grant(L, &g);
  else
    lua_pushnil(L);
  return 1;
}

/* lock:last_token(lock) -> the last fencing token given for it (0: never granted) */
static int l_last_token(lua_State *L) {
  llock *k = check_lock(L);
  size_t ll;
  const char *lock = check_lock_name(L, 2, &ll);
  lua_pushinteger(L, (lua_Integer)hs_lock_last_token(k->node.server, lock, ll));
  return 1;
}

static int l_waiting(lua_State *L) {
  llock *k = check_lock(L);
  size_t ll;
  const char *lock = check_lock_name(L, 2, &ll);
  lua_pushinteger(L, hs_lock_waiting(k->node.server, lock, ll));
  return 1;
}

/* ---- clients over the network ---------------------------------------------------------------- */

enum { REQ_ACQUIRE = 0, REQ_TRY, REQ_RELEASE, REQ_RENEW, REQ_COUNT };
static const char *const request_types[REQ_COUNT] = {"acquire", "try_acquire", "release", "renew"};
static const char *const request_fields[REQ_COUNT][5] = {{"lock", "requester", "lease", "timeout", NULL},
                                                         {"lock", "requester", "lease", NULL},
                                                         {"lock", "token", NULL},
                                                         {"lock", "token", "lease", NULL}};

typedef struct lock_request {
  const char *lock, *requester;
  size_t lock_len, requester_len;
  uint64_t token;
  hs_time_ns lease, timeout;
} lock_request;

/* A field of the payload at idx in seconds: > 0 and finite, or absent (0). -1: not that. */
static double seconds_field(lua_State *L, int idx, const char *field) {
  int t = lua_getfield(L, idx, field);
  double v = t == LUA_TNIL ? 0 : t == LUA_TNUMBER ? lua_tonumber(L, -1) : -1;
  lua_pop(L, 1);
  return t == LUA_TNIL || (v > 0 && v < 1e9) ? v : -1;
}

/* Reads request op from the payload at idx (strings stay anchored by it): NULL, or what is wrong
 * (pushed). */
static const char *read_request(lua_State *L, llock *k, int idx, int op, const hs_message *m, lock_request *r) {
  const char *type = request_types[op];
  if (!lua_istable(L, idx))
    return lua_pushfstring(L, "%s: the payload must be a table { lock = ... }, got %s", type, hs_typename_of(L, idx));
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    int known = 0;
    for (int i = 0; request_fields[op][i] && !known; i++)
      known = lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), request_fields[op][i]) == 0;
    if (!known) {
      const char *what = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : hs_typename_of(L, -1);
      return lua_pushfstring(L, "%s: unknown field '%s'", type, what);
    }
  }
  memset(r, 0, sizeof *r);
  lua_getfield(L, idx, "lock");
  r->lock = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &r->lock_len) : NULL;
  lua_pop(L, 1);
  if (!r->lock || r->lock_len == 0) return lua_pushfstring(L, "%s: field 'lock' must be a non-empty string", type);
  if (op == REQ_ACQUIRE || op == REQ_TRY) {
    int t = lua_getfield(L, idx, "requester");
    r->requester = t == LUA_TSTRING ? lua_tolstring(L, -1, &r->requester_len) : NULL;
    lua_pop(L, 1);
    if (t == LUA_TNIL) {
      r->requester = m->src->name;
      r->requester_len = strlen(m->src->name);
    } else if (!r->requester || r->requester_len == 0) {
      return lua_pushfstring(L, "%s: field 'requester' must be a non-empty string", type);
    }
  } else {
    lua_getfield(L, idx, "token");
    int isint = 0;
    lua_Integer token = lua_tointegerx(L, -1, &isint);
    lua_pop(L, 1);
    if (!isint || token < 1) return lua_pushfstring(L, "%s: field 'token' must be an integer >= 1", type);
    r->token = (uint64_t)token;
  }
  double lease = seconds_field(L, idx, "lease");
  hs_time_ns max = k->cfg.max_lease_ns ? k->cfg.max_lease_ns : k->cfg.lease_ns;
  if (lease < 0 || hs_time_from_s(lease) > max)
    return lua_pushfstring(L, "%s: field 'lease' must be a number of seconds > 0 and at most the server's max_lease (%f s)",
                           type, hs_time_to_s(max));
  r->lease = lease > 0 ? hs_time_from_s(lease) : 0;
  double timeout = seconds_field(L, idx, "timeout");
  if (timeout < 0) return lua_pushfstring(L, "%s: field 'timeout' must be a number of seconds > 0", type);
  r->timeout = timeout > 0 ? hs_time_from_s(timeout) : HS_TIME_NEVER;
  return NULL;
}

/* Serves request m (its pending value at req) and replies, now or when a queued acquire ends. */
static void serve(lua_State *L, llock *k, int req, const hs_message *m) {
  int op = 0;
  while (op < REQ_COUNT && strcmp(m->type, request_types[op]) != 0) op++;
  lock_request r;
  const char *wrong = NULL;
  if (op == REQ_COUNT) {
    wrong = lua_pushfstring(L, "DistributedLock '%s' serves 'acquire', 'try_acquire', 'release' and 'renew' requests, "
                               "not '%s'", k->base.e.name, m->type);
  } else {
    hs_lnet_push_body(L, m->payload);
    wrong = read_request(L, k, lua_gettop(L), op, m, &r);
  }
  if (wrong) {
    k->bad_requests++;
    lua_pushvalue(L, req);
    hs_push_error(L, "bad_request", wrong);
    reply(L, k, 0);
    return;
  }
  k->requests++;
  hs_lock_grant g;
  uint64_t tag = 0;
  int rc;
  switch (op) {
  case REQ_ACQUIRE:
    tag = store_pending(L, k, req);
    rc = hs_lock_node_acquire(&k->node, r.lock, r.lock_len, r.requester, r.requester_len, r.lease, r.timeout, tag, &g);
    if (rc == HS_LOCK_QUEUED || take_future(L, k, tag) == LUA_TNIL) return; /* answered when it ends */
    break;
  case REQ_TRY:
    rc = hs_lock_node_try_acquire(&k->node, r.lock, r.lock_len, r.requester, r.requester_len, r.lease, &g);
    lua_pushvalue(L, req);
    break;
  case REQ_RELEASE:
    rc = hs_lock_node_release(&k->node, r.lock, r.lock_len, r.token);
    lua_pushvalue(L, req);
    lua_pushboolean(L, rc == HS_OK);
    reply(L, k, 1);
    return;
  default:
    rc = hs_lock_node_renew(&k->node, r.lock, r.lock_len, r.token, r.lease, &g);
    lua_pushvalue(L, req);
    break;
  }
  if (rc == HS_OK) {
    push_grant(L, &g);
  } else {
    hs_push_error(L, code_of(rc), lua_pushfstring(L, "%s('%s') on '%s': %s", request_types[op], r.lock, k->base.e.name,
                                                  hs_lock_strerror(rc)));
    lua_remove(L, -2);
  }
  reply(L, k, rc == HS_OK);
}

static void on_message(hs_entity *e, hs_message *m) {
  llock *k = (llock *)e;
  lua_State *L = hs_lsim_of(e->sim)->L;
  if (!k->inited || !L) return;
  if (hs_blob_kind(m->payload) != HS_MSG_REQUEST) { /* a plain message or a reply: nobody to answer */
    k->bad_requests++;
    return;
  }
  int top = lua_gettop(L);
  hs_lua_push_client_request(L, m); /* the request's pending value */
  lua_State *saved = k->L;
  k->L = L;
  serve(L, k, top + 1, m);
  k->L = saved;
  lua_settop(L, top);
}

static void push_stats(lua_State *L, llock *k) {
  hs_lock_stats s;
  hs_lock_get_stats(k->node.server, &s);
  lua_createtable(L, 0, 11);
#define FIELD(f)                                                                                                       \
  lua_pushinteger(L, (lua_Integer)s.f);                                                                                \
  lua_setfield(L, -2, #f)
  FIELD(total_acquires);
  FIELD(total_releases);
  FIELD(total_expirations);
  FIELD(total_rejections);
  FIELD(active_locks);
  FIELD(total_waiters);
  FIELD(total_timeouts);
  FIELD(stale_refused);
  FIELD(renewals);
  FIELD(crashes);
#undef FIELD
  lua_pushinteger(L, (lua_Integer)k->requests);
  lua_setfield(L, -2, "requests");
  lua_pushinteger(L, (lua_Integer)k->bad_requests);
  lua_setfield(L, -2, "bad_requests");
  lua_pushboolean(L, s.crashed);
  lua_setfield(L, -2, "crashed");
}

static int get_field(lua_State *L, void *self, const char *key) {
  llock *k = self;
  if (strcmp(key, "stats") == 0)
    push_stats(L, k);
  else if (strcmp(key, "lease_duration") == 0)
    lua_pushnumber(L, hs_time_to_s(k->cfg.lease_ns));
  else if (strcmp(key, "max_waiters") == 0)
    lua_pushinteger(L, k->cfg.max_waiters);
  else
    return 0;
  return 1;
}

static void finalize(void *self) {
  llock *k = self;
  if (k->inited) hs_lock_node_free(&k->node);
  k->inited = 0;
}

static const luaL_Reg methods[] = {{"acquire", l_acquire}, {"try_acquire", l_try_acquire}, {"release", l_release},
                                   {"renew", l_renew},     {"holder", l_holder},           {"last_token", l_last_token},
                                   {"waiting", l_waiting}, {NULL, NULL}};

static void attach(lua_State *L, void *self, int self_idx, int sim_idx);
static const hs_lua_class lock_class = {"DistributedLock", sizeof(llock), &lock_vt, methods, get_field, finalize, 1,
                                        attach};

/* The part of construction that needs the simulation: the server and its timer. */
static void attach(lua_State *L, void *self, int self_idx, int sim_idx) {
  (void)self_idx;
  (void)sim_idx;
  llock *k = self;
  hs_lock_node_hooks hooks = {.granted = hook_granted, .waiter_done = hook_waiter_done, .ud = k};
  int rc = hs_lock_node_init(&k->node, &k->base.e, &k->cfg, &hooks);
  if (rc != HS_OK) luaL_error(L, "DistributedLock: %s", hs_lock_strerror(rc));
  k->inited = 1;
}

static const char *const options[] = {"name", "network", "sim", "lease_duration", "max_lease", "max_waiters",
                                      "restart_grace", NULL};

/* hs.DistributedLock{ name =, network = | sim =, lease_duration = 10, max_lease = lease_duration,
 * max_waiters = 0 (unlimited), restart_grace = true } */
static int l_lock_new(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  hs_check_options(L, 1, 1, options);
  const char *name = NULL;
  if (lua_getfield(L, 1, "name") != LUA_TNIL) { /* 2 */
    if (lua_type(L, 2) != LUA_TSTRING) luaL_argerror(L, 1, "field 'name' must be a string");
    name = lua_tostring(L, 2);
  }
  hs_lock_config cfg;
  hs_lock_config_init(&cfg);
  double lease = hs_field_positive_seconds(L, 1, 1, "lease_duration", 10.0);
  double max_lease = hs_field_positive_seconds(L, 1, 1, "max_lease", lease);
  if (max_lease < lease) luaL_argerror(L, 1, "field 'max_lease' must not be below 'lease_duration'");
  cfg.lease_ns = hs_time_from_s(lease);
  cfg.max_lease_ns = hs_time_from_s(max_lease);
  if (lua_getfield(L, 1, "max_waiters") != LUA_TNIL) {
    int isint = 0;
    lua_Integer n = lua_type(L, -1) == LUA_TNUMBER ? lua_tointegerx(L, -1, &isint) : 0;
    if (!isint || n < 0 || n > 1000000000) luaL_argerror(L, 1, "field 'max_waiters' must be an integer >= 0");
    cfg.max_waiters = (uint32_t)n;
  }
  lua_pop(L, 1);
  cfg.restart_grace = hs_field_boolean(L, 1, 1, "restart_grace", 1);
  lua_getfield(L, 1, "network"); /* 3 */
  lua_getfield(L, 1, "sim");     /* 4 */
  hs_lnet *ln = NULL;
  if (!lua_isnil(L, 3) && !(ln = luaL_testudata(L, 3, HS_NET_MT)))
    luaL_argerror(L, 1, lua_pushfstring(L, "field 'network' must be an hs.Network, got %s", hs_typename_of(L, 3)));
  if (!lua_isnil(L, 4) && !luaL_testudata(L, 4, HS_SIM_MT))
    luaL_argerror(L, 1, lua_pushfstring(L, "field 'sim' must be an hs.Simulation, got %s", hs_typename_of(L, 4)));
  int sim_idx = 0;
  if (!lua_isnil(L, 4)) {
    hs_check_sim(L, 4);
    sim_idx = 4;
  } else if (ln && ln->owner) {
    hs_check_bound_net(L, 3);
    lua_getiuservalue(L, 3, 1);
    lua_replace(L, 4);
    sim_idx = 4;
  }
  llock *k = sim_idx ? hs_lua_new_centity(L, sim_idx, &lock_class, name)
                     : hs_lua_new_detached_centity(L, ln ? 3 : 0, &lock_class, name); /* 5 */
  int closed = k->base.closed;
  k->base.closed = 1; /* until built: harmless to collect */
  k->cfg = cfg;
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  k->main = lua_tothread(L, -1);
  lua_pop(L, 1);
  lua_createtable(L, 0, 2); /* 6: state */
  lua_newtable(L);
  lua_setfield(L, 6, "futures");
  lua_getglobal(L, "require");
  lua_pushliteral(L, "happysim.future");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "new");
  lua_setfield(L, 6, "new_future");
  lua_pop(L, 1);
  hs_lua_finish_centity(L, &k->base, 5, sim_idx, closed);
  return 1;
}

/* ---- hs.FencedResource ------------------------------------------------------------------- */

/* hs.FencedResource{ name = } : r:write(token, value) -> true, or nil, err (stale_token);
 * r.value, r.highest_token, r.writes_accepted, r.writes_refused, r.name */
static int l_fenced_new(lua_State *L) {
  static const char *const known[] = {"name", NULL};
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    hs_check_options(L, 1, 1, known);
  }
  hs_fenced *f = lua_newuserdatauv(L, sizeof *f, 2); /* uv 1 the value, 2 the name */
  hs_fenced_init(f);
  luaL_setmetatable(L, FENCED_MT);
  if (lua_istable(L, 1)) {
    if (lua_getfield(L, 1, "name") != LUA_TNIL && lua_type(L, -1) != LUA_TSTRING)
      luaL_argerror(L, 1, "field 'name' must be a string");
    lua_setiuservalue(L, -2, 2);
  }
  return 1;
}

static int l_fenced_write(lua_State *L) {
  hs_fenced *f = luaL_checkudata(L, 1, FENCED_MT);
  uint64_t token = check_token(L, 2);
  luaL_checkany(L, 3);
  uint64_t highest = f->highest;
  if (hs_fenced_write(f, token) != HS_OK) {
    lua_pushnil(L);
    hs_push_error(L, "stale_token",
                  lua_pushfstring(L, "write with fencing token %I refused: the resource has seen token %I",
                                  (lua_Integer)token, (lua_Integer)highest));
    lua_remove(L, -2);
    return 2;
  }
  lua_pushvalue(L, 3);
  lua_setiuservalue(L, 1, 1);
  lua_pushboolean(L, 1);
  return 1;
}

static int l_fenced_index(lua_State *L) {
  hs_fenced *f = luaL_checkudata(L, 1, FENCED_MT);
  const char *k = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "";
  if (strcmp(k, "write") == 0)
    lua_pushcfunction(L, l_fenced_write);
  else if (strcmp(k, "value") == 0)
    lua_getiuservalue(L, 1, 1);
  else if (strcmp(k, "name") == 0)
    lua_getiuservalue(L, 1, 2);
  else if (strcmp(k, "highest_token") == 0)
    lua_pushinteger(L, (lua_Integer)f->highest);
  else if (strcmp(k, "writes_accepted") == 0)
    lua_pushinteger(L, (lua_Integer)f->writes_accepted);
  else if (strcmp(k, "writes_refused") == 0)
    lua_pushinteger(L, (lua_Integer)f->writes_refused);
  else
    lua_pushnil(L);
  return 1;
}

static int l_fenced_newindex(lua_State *L) {
  return luaL_error(L, "FencedResource: cannot set field '%s' (use write)", luaL_tolstring(L, 2, NULL));
}

void hs_lock_open(lua_State *L) {
  static const luaL_Reg meta[] = {{"__index", l_fenced_index}, {"__newindex", l_fenced_newindex}, {NULL, NULL}};
  luaL_newmetatable(L, FENCED_MT);
  luaL_setfuncs(L, meta, 0);
  lua_pop(L, 1);
}

const luaL_Reg hs_lock_funcs[] = {{"DistributedLock", l_lock_new}, {"FencedResource", l_fenced_new}, {NULL, NULL}};
