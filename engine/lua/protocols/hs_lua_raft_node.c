/*
 * hs_lua_raft_node.c - hs.RaftNode: the Raft adapter (engine/raft/hs_raft_node.h) as a C entity
 * usable from Lua, with hs.KVStateMachine or any Lua table with apply/snapshot/restore as
 * its state machine, client requests from Lua (submit, read) and over the network.
 * hs.RaftChecker is in hs_lua_raft_checker.c.
 *
 * Class user value HS_CENTITY_UV is a table: { sm =, futures = {tag -> pending}, history = {...},
 * network =, peers = {names}, new_future = <happysim.future's new> }. A pending request is a
 * Future (submit), { future =, query = } (read, membership) or { client =, request_id =,
 * type = [, query =] } (a request over the network).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/hs_lua_raft.h"

static const hs_lua_class raft_class;

/* ---- completions ------------------------------------------------------------------------ */

/* The name of raft id `id`, NULL when unknown. */
static const char *id_name(lraft *r, uint32_t id) {
  hs_entity *e = id && id < r->node.kit.peer_cap ? r->node.kit.peers[id] : NULL;
  return e ? e->name : NULL;
}

static const char *leader_name(lraft *r) { return id_name(r, hs_raft_leader(r->node.raft)); }

/* An error value; not_leader carries the leader this node knows, transferring the node that
 * leadership is going to: where a client should ask next. */
static void push_raft_error(lua_State *L, lraft *r, const char *code, const char *message) {
  hs_push_error(L, code, message);
  const char *hint = NULL;
  if (strcmp(code, "not_leader") == 0)
    hint = leader_name(r);
  else if (strcmp(code, "transferring") == 0)
    hint = id_name(r, hs_raft_transfer_target(r->node.raft));
  if (hint) {
    lua_pushstring(L, hint);
    lua_setfield(L, -2, "leader");
  }
}

static const char *reason_code(int reason) {
  switch (reason) {
  case HS_RAFT_ENOTLEADER: return "not_leader";
  case HS_RAFT_ETRUNCATED: return "lost";
  case HS_RAFT_ECRASHED: return "crashed";
  case HS_RAFT_ETRANSFER: return "transferring";
  case HS_RAFT_EBUSY: return "busy";
  case HS_RAFT_ETIMEOUT: return "timeout";
  case HS_RAFT_ELEADERSHIP: return "leadership_lost";
  case HS_EINVAL: return "invalid";
  default: return "unknown";
  }
}

static void hook_resolved(void *ud, uint64_t tag, uint64_t index, hs_value result, const char *err) {
  lraft *r = ud;
  lua_State *L = hs_lcons_pending(&r->c, tag);
  if (!L) return;
  if (err) {
    hs_push_error(L, err == hs_session_expired_msg ? "session_expired" : "apply_failed", err);
    hs_lcons_settle(L, &r->c, 0, 1);
    return;
  }
  lua_pushinteger(L, (lua_Integer)index);
  hs_lua_decode(L, result.p, result.len);
  hs_lcons_settle(L, &r->c, 1, 2);
}

static void hook_lost(void *ud, uint64_t tag, uint64_t index, int reason) {
  lraft *r = ud;
  lua_State *L = hs_lcons_pending(&r->c, tag);
  if (!L) return;
  char msg[128];
  snprintf(msg, sizeof msg, "entry %llu on '%s': %s", (unsigned long long)index, r->base.e.name, hs_raft_strerror(reason));
  push_raft_error(L, r, reason_code(reason), msg);
  hs_lcons_settle(L, &r->c, 0, 1);
}

static void hook_read_done(void *ud, uint64_t req, uint64_t read_index, int status) {
  lraft *r = ud;
  lua_State *L = hs_lcons_pending(&r->c, req);
  if (!L) return;
  if (status != HS_OK) {
    push_raft_error(L, r, status == HS_RAFT_ECRASHED ? "crashed" : "not_leader", hs_raft_strerror(status));
    hs_lcons_settle(L, &r->c, 0, 1);
    return;
  }
  lua_getfield(L, -1, "query");
  hs_buf_reset(&r->c.cmd);
  hs_buf_reset(&r->c.lsm.buf);
  hs_lua_encode(L, &r->c.cmd, -1, "query");
  lua_pop(L, 1);
  const char *err = r->node.sm.query(r->node.sm.ud, (hs_value){r->c.cmd.data, r->c.cmd.len}, &r->c.lsm.buf);
  if (err) {
    hs_push_error(L, "read_failed", err);
    hs_lcons_settle(L, &r->c, 0, 1);
    return;
  }
  lua_pushinteger(L, (lua_Integer)read_index);
  hs_lua_decode(L, r->c.lsm.buf.data, r->c.lsm.buf.len);
  hs_lcons_settle(L, &r->c, 1, 2);
}

static void push_id_name(lua_State *L, lraft *r, uint32_t id);

/* A leadership transfer started here ended: resolve with (leader name, term) or reject. */
static void hook_transfer_done(void *ud, uint64_t tag, int status) {
  lraft *r = ud;
  lua_State *L = hs_lcons_pending(&r->c, tag);
  if (!L) return;
  if (status != HS_OK) {
    char msg[128];
    snprintf(msg, sizeof msg, "transfer_leadership on '%s': %s", r->base.e.name, hs_raft_strerror(status));
    push_raft_error(L, r, reason_code(status), msg);
    hs_lcons_settle(L, &r->c, 0, 1);
    return;
  }
  push_id_name(L, r, hs_raft_leader(r->node.raft));
  lua_pushinteger(L, (lua_Integer)hs_raft_term(r->node.raft));
  hs_lcons_settle(L, &r->c, 1, 2);
}

static void hook_role_changed(void *ud, const hs_raft_role_event *ev) {
  lraft *r = ud;
  hs_trace_role(hs_lsim_of(r->base.e.sim), &r->base.e, hs_raft_role_name(ev->role));
  lua_State *L = hs_lcons_thread(&r->c);
  if (!L) return;
  hs_lcons_push_history(L, &r->c, ev->now, hs_raft_role_name(ev->role));
  lua_pushinteger(L, (lua_Integer)ev->term);
  lua_setfield(L, -2, "term");
  hs_entity *leader = ev->leader && ev->leader < r->node.kit.peer_cap ? r->node.kit.peers[ev->leader] : NULL;
  if (leader) {
    lua_pushstring(L, leader->name);
    lua_setfield(L, -2, "leader");
  }
  hs_lcons_add_history(L);
}

/* Finds the entity of a raft id through the simulation's id registry (members added later). */
static hs_entity *hook_resolve_peer(void *ud, uint32_t id) {
  lraft *r = ud;
  lua_State *L = hs_lcons_thread(&r->c);
  if (!L) return NULL;
  hs_lsim *ls = hs_lsim_of(r->base.e.sim);
  hs_push_sim(L, ls);
  lua_getiuservalue(L, -1, 1);
  lua_getfield(L, -1, "raft_names");
  hs_entity *e = NULL;
  if (lua_istable(L, -1) && lua_rawgeti(L, -1, id) == LUA_TSTRING) {
    lua_getfield(L, -3, "names");
    lua_pushvalue(L, -2);
    lua_rawget(L, -2);
    lraft *p = luaL_testudata(L, -1, "happysim.RaftNode");
    if (p) e = &p->base.e;
    lua_pop(L, 2);
  }
  lua_pop(L, 4);
  return e;
}

/* ---- entity vtable ------------------------------------------------------------------------ */

static void client_request(lraft *r, hs_message *m);

static void on_message(hs_entity *e, hs_message *m) {
  lraft *r = (lraft *)e;
  if (!r->started) return;
  if (hs_raft_node_is_protocol(m))
    hs_raft_node_on_message(&r->node, m);
  else if (hs_blob_kind(m->payload) == HS_MSG_REQUEST)
    client_request(r, m);
}

static void on_crash(hs_entity *e) {
  lraft *r = (lraft *)e;
  if (r->started) hs_raft_node_on_crash(&r->node);
}

static void on_restart(hs_entity *e) {
  lraft *r = (lraft *)e;
  if (r->started) hs_raft_node_on_restart(&r->node);
}

static const hs_entity_vtable raft_vt = {.kind = "RaftNode", .on_crash = on_crash, .on_restart = on_restart,
                                         .on_message = on_message};

/* ---- requests --------------------------------------------------------------------------- */

/* Proposes the encoded command in r->c.cmd under tag; on refusal settles it at once. */
static void propose(lua_State *L, lraft *r, uint64_t tag) {
  hs_lcons_call saved = hs_lcons_enter(&r->c, L);
  int rc = hs_raft_propose(r->node.raft, r->base.e.sim->now_ns, r->c.cmd.data, r->c.cmd.len, tag, NULL);
  hs_lcons_leave(&r->c, L, saved);
  if (rc == HS_OK) return;
  if (hs_lcons_take_pending(L, &r->c, tag) == LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  char msg[96];
  snprintf(msg, sizeof msg, "submit on '%s': %s", r->base.e.name, hs_raft_strerror(rc));
  push_raft_error(L, r, reason_code(rc), msg);
  hs_lcons_settle(L, &r->c, 0, 1);
}

static void start_read(lua_State *L, lraft *r, uint64_t tag) {
  hs_lcons_call saved = hs_lcons_enter(&r->c, L);
  if (r->unsafe_local_reads && !hs_entity_crashed(&r->base.e)) {
    /* unsafe_local_reads (test-only): answer at once from whatever this node has applied,
     * leader or not, with no ReadIndex round: stale reads are possible, on purpose */
    hook_read_done(r, tag, hs_raft_applied_index(r->node.raft), HS_OK);
    hs_lcons_leave(&r->c, L, saved);
    return;
  }
  int rc = hs_raft_read_index(r->node.raft, r->base.e.sim->now_ns, tag);
  hs_lcons_leave(&r->c, L, saved);
  if (rc == HS_OK) return;
  if (hs_lcons_take_pending(L, &r->c, tag) == LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  push_raft_error(L, r, reason_code(rc), hs_raft_strerror(rc));
  hs_lcons_settle(L, &r->c, 0, 1);
}

/* A client's request over the network: "submit" (payload = command) or "read" (a query). */
static void client_request(lraft *r, hs_message *m) {
  lua_State *L = hs_lsim_of(r->base.e.sim)->L;
  if (!L) return;
  int top = lua_gettop(L);
  hs_lua_push_client_request(L, m);
  int is_read = strcmp(m->type, "read") == 0;
  if (!is_read && strcmp(m->type, "submit") != 0) {
    hs_push_error(L, "bad_request", "RaftNode accepts 'submit' and 'read' requests");
    hs_lcons_settle(L, &r->c, 0, 1);
    lua_settop(L, top);
    return;
  }
  if (!is_read && hs_lcons_refuse_command(L, &r->c, m)) {
    lua_settop(L, top);
    return;
  }
  const hs_blob *b = m->payload;
  hs_buf_reset(&r->c.cmd);
  if (!is_read) /* the client's session: a duplicated request is applied once */
    hs_session_begin(&r->c.cmd, m->src->name, strlen(m->src->name), hs_blob_request_id(b));
  hs_buf_put_raw(&r->c.cmd, b->data + HS_MSG_HEADER, b->size - HS_MSG_HEADER);
  if (is_read) {
    hs_lnet_push_body(L, m->payload);
    lua_setfield(L, -2, "query");
  }
  lua_pushvalue(L, -1);
  uint64_t tag = hs_lcons_add_pending(L, &r->c);
  lua_pop(L, 1);
  if (is_read)
    start_read(L, r, tag);
  else
    propose(L, r, tag);
  lua_settop(L, top);
}

/* hs_lua_check_centity for this class without formatting the metatable name on each call
 * (submit is a hot path): a live RaftNode of an open simulation at idx, or raises. */
lraft *hs_lraft_check(lua_State *L, int idx) {
  lraft *r = luaL_checkudata(L, idx, "happysim.RaftNode");
  if (r->base.closed) luaL_error(L, "RaftNode '%s': use after close", r->base.e.name);
  if (r->base.detached) hs_lua_detached_error(L, &r->base, NULL);
  if (r->base.e.sim->closed) luaL_error(L, "RaftNode '%s': its simulation is closed", r->base.e.name);
  return r;
}

static lraft *check_started(lua_State *L, const char *fname) {
  lraft *r = hs_lraft_check(L, 1);
  if (!r->started) luaL_error(L, "%s: RaftNode '%s' is not started (call node:start())", fname, r->base.e.name);
  return r;
}

/* node:submit(cmd [, session]) -> Future resolving to (index, result) once applied. With a
 * session { client =, request_id = }, the command is applied at most once per request id:
 * a retry with the same id (to this or another leader) gets the first result. */
static int l_submit(lua_State *L) {
  lraft *r = check_started(L, "submit");
  uint64_t tag = hs_lcons_begin_submit(L, &r->c); /* 3: the Future */
  propose(L, r, tag);
  lua_settop(L, 3);
  return 1;
}

/* node:read(query) -> Future resolving to (read_index, result): a linearizable read */
static int l_read(lua_State *L) {
  lraft *r = check_started(L, "read");
  luaL_checkany(L, 2);
  lua_settop(L, 2);
  hs_buf_reset(&r->c.cmd);
  hs_lua_encode(L, &r->c.cmd, 2, "read: query"); /* fails now on a value that cannot be sent */
  hs_lcons_push_pending_future(L);                /* 3 pending, 4 future */
  lua_pushvalue(L, 2);
  lua_setfield(L, 3, "query");
  lua_pushvalue(L, 3);
  uint64_t tag = hs_lcons_add_pending_arg1(L, &r->c);
  start_read(L, r, tag);
  lua_settop(L, 4);
  return 1;
}

/* Resolves a member argument (a RaftNode, or a node name) to its raft id, assigning ids to
 * names on first sight: the ids are shared by every node of the simulation. */
static uint32_t member_id(lua_State *L, lraft *r, int arg) {
  arg = lua_absindex(L, arg);
  const char *name;
  lraft *other = luaL_testudata(L, arg, "happysim.RaftNode");
  if (other)
    name = other->base.e.name;
  else if (lua_type(L, arg) == LUA_TSTRING)
    name = lua_tostring(L, arg);
  else
    return (uint32_t)luaL_argerror(L, arg, lua_pushfstring(L, "RaftNode or node name expected, got %s", hs_typename_of(L, arg)));
  return hs_sim_name_id(L, hs_lsim_of(r->base.e.sim), "raft_ids", "raft_names", name);
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Pushes the initial voters of the node at idx as one string, its names sorted and joined by
 * ", " (the node itself and its peers), so that two nodes' configurations compare as strings. */
static void push_voters(lua_State *L, int idx) {
  idx = lua_absindex(L, idx);
  lraft *r = lua_touserdata(L, idx);
  lua_getiuservalue(L, idx, HS_CENTITY_UV);
  lua_getfield(L, -1, "peers"); /* names, the node itself left out; kept alive on the stack */
  int peers = lua_gettop(L);
  const char *names[HS_RAFT_MAX_NODES + 1];
  size_t n = 0;
  names[n++] = r->base.e.name;
  for (lua_Integer i = 1; i <= luaL_len(L, peers) && n <= HS_RAFT_MAX_NODES; i++) {
    lua_rawgeti(L, peers, i);
    names[n++] = lua_tostring(L, -1); /* the list keeps the string alive */
    lua_pop(L, 1);
  }
  qsort(names, n, sizeof *names, cmp_names);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (size_t i = 0; i < n; i++) {
    if (i) luaL_addstring(&b, ", ");
    luaL_addstring(&b, names[i]);
  }
  luaL_pushresult(&b);
  lua_replace(L, peers - 1);
  lua_settop(L, peers - 1);
}

/* Raises unless the initial configuration of the node at 1 is the one of its peer at idx:
 * nodes that disagree on who votes can each wait forever for a quorum the others never form
 * (a node missing from its own peers' lists is never elected). Nodes that join are exempt. */
static void check_same_voters(lua_State *L, lraft *r, int idx) {
  lraft *p = lua_touserdata(L, idx);
  if (r->join || p->join) return;
  push_voters(L, 1);
  push_voters(L, idx);
  if (!lua_rawequal(L, -1, -2))
    luaL_error(L, "start: RaftNode '%s' and its peer '%s' disagree on the cluster's members ({ %s } and { %s }): "
                  "give every node the same peers (each may list itself), or build a new node with join = true "
                  "and add_member it",
               r->base.e.name, p->base.e.name, lua_tostring(L, -2), lua_tostring(L, -1));
  lua_pop(L, 2);
}

/* node:start(): resolves the peers and arms the election timer. */
static int l_start(lua_State *L) {
  lraft *r = luaL_checkudata(L, 1, "happysim.RaftNode");
  if (hs_lua_defer_start(L, &r->base, &r->start_deferred)) return 1; /* starts once attached */
  r = hs_lraft_check(L, 1);
  if (r->started) return luaL_error(L, "start: RaftNode '%s' is already started", r->base.e.name);
  lua_settop(L, 1);
  lua_getiuservalue(L, 1, HS_CENTITY_UV); /* 2 */
  lua_getfield(L, 2, "peers");            /* 3 */
  lua_getiuservalue(L, 1, 1);             /* 4: sim */
  hs_push_uv_table(L, 4, "names");        /* 5 */
  lua_Integer n = luaL_len(L, 3);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_geti(L, 3, i);
    if (lua_getfield(L, 5, lua_tostring(L, -1)) == LUA_TNIL)
      return luaL_error(L, "start: RaftNode '%s' has an unknown peer '%s'", r->base.e.name, lua_tostring(L, -2));
    lraft *p = luaL_testudata(L, -1, "happysim.RaftNode");
    if (!p) return luaL_error(L, "start: peer '%s' of '%s' is not a RaftNode", lua_tostring(L, -2), r->base.e.name);
    if (p->c.ln != r->c.ln) return luaL_error(L, "start: peer '%s' is on another network", p->base.e.name);
    check_same_voters(L, r, lua_gettop(L));
    hs_raft_node_set_peer(&r->node, member_id(L, r, -1), &p->base.e);
    lua_pop(L, 2);
  }
  r->started = 1;
  hs_lcons_call saved = hs_lcons_enter(&r->c, L);
  int rc = hs_raft_node_start(&r->node);
  hs_lcons_leave(&r->c, L, saved);
  if (rc != HS_OK) return luaL_error(L, "start: %s", hs_raft_strerror(rc));
  lua_settop(L, 1);
  return 1;
}

/* node:campaign(): starts an election now (tests and scenarios). */
static int l_campaign(lua_State *L) {
  lraft *r = check_started(L, "campaign");
  hs_lcons_call saved = hs_lcons_enter(&r->c, L);
  int rc = hs_raft_campaign(r->node.raft, r->base.e.sim->now_ns);
  hs_lcons_leave(&r->c, L, saved);
  lua_pushboolean(L, rc == HS_OK);
  return 1;
}

enum { MEMBER_TRANSFER = -1 }; /* member_request's op for a leadership transfer */

/* A request about the member at argument 2 (a RaftNode or a name): a membership change `op`,
 * or a leadership transfer to it. Returns its Future; a refusal rejects it at once. */
/* Checks the member argument at 2 of a membership change or transfer: a RaftNode, or the name
 * of one registered with the simulation; raises a "bad argument" naming fname otherwise. Then,
 * on the leader (whose configuration is the current one), returns why the change makes no sense
 * for that node now (an outcome, not a mistake: configurations change), or NULL. */
static const char *check_member_arg(lua_State *L, lraft *r, int op, const char *fname) {
  const char *name;
  if (luaL_testudata(L, 2, "happysim.RaftNode")) {
    name = ((lraft *)lua_touserdata(L, 2))->base.e.name;
  } else if (lua_type(L, 2) == LUA_TSTRING) {
    name = lua_tostring(L, 2);
    lua_getiuservalue(L, 1, 1); /* the simulation */
    hs_push_uv_table(L, lua_gettop(L), "names");
    lua_getfield(L, -1, name);
    int known = luaL_testudata(L, -1, "happysim.RaftNode") != NULL;
    lua_pop(L, 3);
    if (!known)
      luaL_error(L, "bad argument #1 to '%s' (unknown node '%s': no RaftNode of that name in the simulation)", fname,
                 name);
  } else {
    luaL_error(L, "bad argument #1 to '%s' (RaftNode or node name expected, got %s)", fname, hs_typename_of(L, 2));
    return NULL;
  }
  if (hs_raft_role_of(r->node.raft) != HS_RAFT_LEADER) return NULL; /* a follower answers not_leader */
  const hs_raft_conf *conf = hs_raft_conf_get(r->node.raft, NULL);
  uint32_t id = member_id(L, r, 2);
  int voter = hs_raft_conf_is_voter(conf, id), learner = hs_raft_conf_is_learner(conf, id);
  if (op == MEMBER_TRANSFER && !voter) return "is not a voter of the current configuration";
  if (op == HS_RAFT_CONF_ADD_VOTER && voter) return "is a voter already";
  if (op == HS_RAFT_CONF_ADD_LEARNER && (voter || learner)) return voter ? "is a voter already" : "is a learner already";
  if (op == HS_RAFT_CONF_REMOVE && !voter && !learner) return "is not a member of the current configuration";
  return NULL;
}

static int member_request(lua_State *L, int op, const char *fname) {
  lraft *r = check_started(L, fname);
  luaL_checkany(L, 2);
  const char *why = check_member_arg(L, r, op, fname);
  uint32_t id = member_id(L, r, 2);
  const char *target = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : ((lraft *)lua_touserdata(L, 2))->base.e.name;
  lua_settop(L, 2);
  hs_lcons_push_pending_future(L); /* 3, 4 */
  lua_pushvalue(L, 3);
  uint64_t tag = hs_lcons_add_pending_arg1(L, &r->c);
  int rc = HS_EINVAL;
  if (!why) {
    hs_lcons_call saved = hs_lcons_enter(&r->c, L);
    hs_time_ns now = r->base.e.sim->now_ns;
    rc = op == MEMBER_TRANSFER ? hs_raft_transfer_leadership(r->node.raft, now, id, tag)
                               : hs_raft_propose_conf(r->node.raft, now, (hs_raft_conf_op)op, id, tag, NULL);
    hs_lcons_leave(&r->c, L, saved);
  }
  if (rc != HS_OK && hs_lcons_take_pending(L, &r->c, tag) != LUA_TNIL) {
    char msg[256];
    snprintf(msg, sizeof msg, "%s('%s') on '%s': %s", fname, target, r->base.e.name,
             why ? why : hs_raft_strerror(rc));
    push_raft_error(L, r, reason_code(rc), msg);
    hs_lcons_settle(L, &r->c, 0, 1);
  }
  lua_settop(L, 4);
  return 1;
}

/* node:add_member(node_or_name [, { learner = true }]) -> Future; node:remove_member(x) -> Future */
static int l_add_member(lua_State *L) {
  int learner = 0;
  if (lua_istable(L, 3)) learner = hs_field_boolean(L, 3, 3, "learner", 0);
  lua_settop(L, 2);
  return member_request(L, learner ? HS_RAFT_CONF_ADD_LEARNER : HS_RAFT_CONF_ADD_VOTER, "add_member");
}

static int l_remove_member(lua_State *L) { return member_request(L, HS_RAFT_CONF_REMOVE, "remove_member"); }

/* node:transfer_leadership(node_or_name) -> Future resolving to (leader name, term) once this
 * node learns that the target leads; rejected with not_leader, transferring (one at a time),
 * invalid (not a voter), timeout (not done within an election timeout), leadership_lost
 * (another node won) or crashed. Proposals are refused with transferring meanwhile. */
static int l_transfer_leadership(lua_State *L) { return member_request(L, MEMBER_TRANSFER, "transfer_leadership"); }

/* ---- fields --------------------------------------------------------------------------- */

static void push_id_name(lua_State *L, lraft *r, uint32_t id) {
  const char *name = id_name(r, id);
  if (name)
    lua_pushstring(L, name);
  else
    lua_pushnil(L);
}

static void push_stats(lua_State *L, lraft *r) {
  hs_raft_stats s;
  hs_raft_get_stats(r->node.raft, &s);
  lua_createtable(L, 0, 24);
  lua_pushstring(L, hs_raft_role_name(s.state));
  lua_setfield(L, -2, "state");
  push_id_name(L, r, s.current_leader);
  lua_setfield(L, -2, "current_leader");
  push_id_name(L, r, s.voted_for);
  lua_setfield(L, -2, "voted_for");
#define FIELD(f)                                                                                                       \
  lua_pushinteger(L, (lua_Integer)s.f);                                                                                \
  lua_setfield(L, -2, #f)
  FIELD(current_term);
  FIELD(log_length);
  FIELD(first_index);
  FIELD(snapshot_index);
  FIELD(commit_index);
  FIELD(applied_index);
  FIELD(commands_committed);
  FIELD(entries_applied);
  FIELD(elections_started);
  FIELD(pre_votes_started);
  FIELD(votes_received);
  FIELD(elections_won);
  FIELD(messages_sent);
  FIELD(proposals_lost);
  FIELD(reads_served);
  FIELD(snapshots_taken);
  FIELD(snapshots_installed);
  FIELD(transfers_started);
  FIELD(transfers_done);
#undef FIELD
  lua_pushinteger(L, (lua_Integer)r->node.counts.duplicates);
  lua_setfield(L, -2, "duplicate_commands");
  lua_pushinteger(L, (lua_Integer)r->node.counts.expired);
  lua_setfield(L, -2, "expired_commands");
  lua_pushinteger(L, (lua_Integer)r->node.malformed);
  lua_setfield(L, -2, "malformed_messages");
  lua_pushboolean(L, s.crashed);
  lua_setfield(L, -2, "crashed");
}

/* node.log: { { index =, term =, type = "normal"|"noop"|"config", command = [, client =,
 * request_id =] } ... } from the first index still in memory (entries before it are in the
 * snapshot); client and request_id for a command of a client session. */
static void push_log(lua_State *L, lraft *r) {
  uint64_t first = hs_raft_first_index(r->node.raft), last = hs_raft_last_index(r->node.raft);
  lua_createtable(L, (int)(last >= first ? last - first + 1 : 0), 0);
  static const char *const types[] = {"normal", "noop", "config"};
  for (uint64_t i = first; i <= last && i > 0; i++) {
    hs_raft_entry e;
    if (hs_raft_entry_at(r->node.raft, i, &e) != HS_OK) break;
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, (lua_Integer)e.index);
    lua_setfield(L, -2, "index");
    lua_pushinteger(L, (lua_Integer)e.term);
    lua_setfield(L, -2, "term");
    lua_pushstring(L, types[e.type]);
    lua_setfield(L, -2, "type");
    if (e.type == HS_RAFT_ENTRY_NORMAL) hs_lcons_set_command(L, e.data, e.len);
    lua_rawseti(L, -2, (lua_Integer)(i - first + 1));
  }
}

static int get_field(lua_State *L, void *self, const char *k) {
  lraft *r = self;
  hs_raft *raft = r->node.raft;
  if (strcmp(k, "state") == 0 || strcmp(k, "role") == 0)
    lua_pushstring(L, hs_raft_role_name(hs_raft_role_of(raft)));
  else if (strcmp(k, "is_leader") == 0)
    lua_pushboolean(L, !hs_raft_crashed(raft) && hs_raft_role_of(raft) == HS_RAFT_LEADER);
  else if (strcmp(k, "current_term") == 0)
    lua_pushinteger(L, (lua_Integer)hs_raft_term(raft));
  else if (strcmp(k, "current_leader") == 0)
    push_id_name(L, r, hs_raft_leader(raft));
  else if (strcmp(k, "voted_for") == 0)
    push_id_name(L, r, hs_raft_vote(raft));
  else if (strcmp(k, "commit_index") == 0)
    lua_pushinteger(L, (lua_Integer)hs_raft_commit_index(raft));
  else if (strcmp(k, "last_applied") == 0)
    lua_pushinteger(L, (lua_Integer)hs_raft_applied_index(raft));
  else if (strcmp(k, "log_length") == 0)
    lua_pushinteger(L, (lua_Integer)hs_raft_last_index(raft));
  else if (strcmp(k, "id") == 0)
    lua_pushinteger(L, hs_raft_id(raft));
  else if (strcmp(k, "started") == 0)
    lua_pushboolean(L, r->started);
  else if (strcmp(k, "stats") == 0)
    push_stats(L, r);
  else if (strcmp(k, "log") == 0)
    push_log(L, r);
  else if (strcmp(k, "history") == 0 || strcmp(k, "state_machine") == 0 || strcmp(k, "network") == 0 ||
           strcmp(k, "peers") == 0) {
    lua_getiuservalue(L, 1, HS_CENTITY_UV);
    lua_getfield(L, -1, strcmp(k, "state_machine") == 0 ? "sm" : k);
  } else
    return 0;
  return 1;
}

static void finalize(void *self) {
  lraft *r = self;
  hs_raft_node_free(&r->node);
  hs_lcons_free(&r->c);
}

static const luaL_Reg methods[] = {{"start", l_start},
                                   {"submit", l_submit},
                                   {"read", l_read},
                                   {"campaign", l_campaign},
                                   {"add_member", l_add_member},
                                   {"remove_member", l_remove_member},
                                   {"transfer_leadership", l_transfer_leadership},
                                   {NULL, NULL}};

static void attach(lua_State *L, void *self, int self_idx, int sim_idx);
static const hs_lua_class raft_class = {"RaftNode", sizeof(lraft), &raft_vt, methods, get_field, finalize, 1, attach};

/* ---- construction ----------------------------------------------------------------------- */

static const char *const options[] = {"name",
                                      "network",
                                      "peers",
                                      "state_machine",
                                      "election_timeout_min",
                                      "election_timeout_max",
                                      "heartbeat_interval",
                                      "pre_vote",
                                      "check_quorum",
                                      "snapshot_threshold",
                                      "max_entries_per_message",
                                      "max_inflight",
                                      "join",
                                      "checker",
                                      "unsafe_local_reads",
                                      NULL};


/* The name of a peers item (a RaftNode or a name), or NULL. Tests the type first: lua_tostring
 * would turn a number into a string in place. */
static const char *peer_name(lua_State *L, int idx) {
  lraft *p = luaL_testudata(L, idx, "happysim.RaftNode");
  if (p) return p->base.e.name;
  return lua_type(L, idx) == LUA_TSTRING ? lua_tostring(L, idx) : NULL;
}

/* Checks the peers list at idx (a table or nil) before the node exists, so that a bad list
 * leaves no half-built entity registered: every item a RaftNode or a name, at most
 * HS_RAFT_MAX_NODES members counting the node itself. */
static void check_peers(lua_State *L, int idx, const char *self) {
  if (!lua_istable(L, idx)) return;
  lua_Integer np = luaL_len(L, idx);
  lua_newtable(L); /* distinct names */
  int seen = lua_gettop(L);
  lua_Integer distinct = 1; /* the node itself */
  for (lua_Integer i = 1; i <= np; i++) {
    lua_geti(L, idx, i);
    const char *pname = peer_name(L, -1);
    if (!pname)
      luaL_argerror(L, 1, lua_pushfstring(L, "field 'peers': item %d must be a RaftNode or a name, got %s", (int)i,
                                          hs_typename_of(L, -1)));
    if ((!self || strcmp(pname, self) != 0) && lua_getfield(L, seen, pname) == LUA_TNIL) {
      lua_pushboolean(L, 1);
      lua_setfield(L, seen, pname);
      if (++distinct > (lua_Integer)HS_RAFT_MAX_NODES)
        luaL_argerror(L, 1, lua_pushfstring(L, "field 'peers': at most %d members", (int)HS_RAFT_MAX_NODES));
    }
    lua_settop(L, seen);
  }
  lua_pop(L, 1);
}

/* The part of construction that needs the simulation (at sim_idx): member ids, the protocol
 * core, the checker. Runs at once for a node built on an attached network, else when its
 * network is attached (hs_lua_centity.h). The node is at self_idx. */
static void attach(lua_State *L, void *self, int self_idx, int sim_idx) {
  lraft *r = self;
  int top = lua_gettop(L);
  hs_lsim *ls = hs_check_sim(L, sim_idx);
  lua_getiuservalue(L, self_idx, HS_CENTITY_UV); /* top+1: state */
  int state = top + 1;
  if (lua_getfield(L, state, "checker") != LUA_TNIL) {
    lchecker *c = lua_touserdata(L, -1);
    if (c->ls && c->ls != ls) luaL_error(L, "RaftNode '%s': its checker watches nodes of another simulation", r->base.e.name);
  }
  lua_pop(L, 1);
  lua_getfield(L, state, "peers"); /* top+2: the peers option (nodes or names), or nil */
  int peers = top + 2;
  lua_newtable(L); /* top+3: peer names */
  uint32_t voters[HS_RAFT_MAX_NODES];
  uint32_t nv = 0;
  if (!r->join) voters[nv++] = member_id(L, r, self_idx);
  lua_Integer np = lua_istable(L, peers) ? luaL_len(L, peers) : 0;
  for (lua_Integer i = 1; i <= np; i++) {
    lua_geti(L, peers, i);
    const char *pname = peer_name(L, -1); /* checked by check_peers */
    uint32_t id = member_id(L, r, -1);
    lua_pop(L, 1);
    if (strcmp(pname, r->base.e.name) == 0) continue; /* the node itself may be listed */
    int dup = 0;
    for (uint32_t j = 0; j < nv; j++) dup |= voters[j] == id;
    if (dup) continue;
    if (nv == HS_RAFT_MAX_NODES) luaL_error(L, "RaftNode '%s': too many peers", r->base.e.name);
    if (!r->join) voters[nv++] = id;
    lua_pushstring(L, pname);
    lua_rawseti(L, top + 3, (lua_Integer)luaL_len(L, top + 3) + 1);
  }
  lua_setfield(L, state, "peers"); /* from now on: the peers' names */
  hs_lcons_bind_state(L, &r->c, state);

  hs_raft_config cfg = r->opts;
  cfg.id = member_id(L, r, self_idx);
  cfg.voters = voters;
  cfg.n_voters = nv;
  char stream[160];
  snprintf(stream, sizeof stream, "raft:%s", r->base.e.name);
  hs_sim_stream(r->base.e.sim, &cfg.rng, stream, strlen(stream));
  lua_getfield(L, state, "sm");
  hs_sm_ops sm = hs_lsm_ops(L, &r->c.lsm, -1);
  lua_pop(L, 1);
  hs_raft_node_hooks hooks = {.resolved = hook_resolved,
                              .lost = hook_lost,
                              .read_done = hook_read_done,
                              .role_changed = hook_role_changed,
                              .transfer_done = hook_transfer_done,
                              .resolve_peer = hook_resolve_peer,
                              .ud = r};
  int rc = hs_raft_node_init(&r->node, &r->base.e, &r->c.ln->net, &r->c.ln->pool, &cfg, &sm, &hooks);
  if (rc != HS_OK) luaL_error(L, "RaftNode: %s", hs_raft_strerror(rc));
  if (lua_getfield(L, state, "checker") != LUA_TNIL) hs_lraft_watch(L, lua_gettop(L), r);
  lua_settop(L, top);
}

/* hs.RaftNode{ name =, network =, peers = { names or nodes }, state_machine =, ... }
 * On a network not attached to a simulation yet, the node is built detached: every option
 * is checked now, and the rest is done when the network is attached (docs/API.md 5.1). */
/* unsafe_local_reads = true is TEST-ONLY and UNSAFE: node:read() and "read" requests are answered
 * at once from the local state machine by whichever node gets them, leader or not, without
 * ReadIndex, so reads may be stale (not linearizable). It exists so that scenarios can show the
 * linearizability checker catching a broken read path (scripts/raft_unsafe_reads.lua). */
static int l_raft_new(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  hs_check_options(L, 1, 1, options);
  const char *name;
  hs_lnet *ln = hs_lcons_check_network(L, &name); /* 2 network, 3 sim or nil, 4 name or nil */
  double tmin = hs_field_positive_seconds(L, 1, 1, "election_timeout_min", 1.5);
  double tmax = hs_field_positive_seconds(L, 1, 1, "election_timeout_max", 3.0);
  double hb = hs_field_positive_seconds(L, 1, 1, "heartbeat_interval", 0.5);
  if (!(tmax > tmin))
    luaL_argerror(L, 1, "field 'election_timeout_max' must be greater than 'election_timeout_min'");
  if (!(hb > 0) || !(hb < tmin))
    luaL_argerror(L, 1, "field 'heartbeat_interval' must be positive and below 'election_timeout_min'");
  hs_raft_config cfg;
  hs_raft_config_init(&cfg);
  cfg.election_timeout_min_ns = hs_time_from_s(tmin);
  cfg.election_timeout_max_ns = hs_time_from_s(tmax);
  cfg.heartbeat_interval_ns = hs_time_from_s(hb);
  cfg.pre_vote = hs_field_boolean(L, 1, 1, "pre_vote", 1);
  cfg.check_quorum = hs_field_boolean(L, 1, 1, "check_quorum", 1);
  int join = hs_field_boolean(L, 1, 1, "join", 0);
  int unsafe_reads = hs_field_boolean(L, 1, 1, "unsafe_local_reads", 0); /* test-only */
  cfg.snapshot_threshold = (uint64_t)hs_lcons_field_count(L, "snapshot_threshold", 0, 0, (lua_Integer)1 << 40);
  cfg.max_msg_entries = (uint32_t)hs_lcons_field_count(L, "max_entries_per_message", 64, 1, 1 << 20);
  cfg.max_inflight = (uint32_t)hs_lcons_field_count(L, "max_inflight", 32, 1, 1 << 16);
  lua_getfield(L, 1, "peers"); /* 5 */
  if (!lua_isnil(L, 5) && !lua_istable(L, 5)) luaL_argerror(L, 1, "field 'peers' must be a list of nodes or names");
  check_peers(L, 5, name);
  if (lua_getfield(L, 1, "checker") != LUA_TNIL) {
    lchecker *c = luaL_testudata(L, -1, HS_CHECKER_MT);
    if (!c)
      luaL_argerror(L, 1, lua_pushfstring(L, "field 'checker' must be an hs.RaftChecker, got %s", hs_typename_of(L, -1)));
    if (c->ls && ln->owner && c->ls != hs_check_sim(L, 3))
      luaL_argerror(L, 1, "field 'checker' watches nodes of another simulation");
  }
  lua_pop(L, 1);
  lua_getfield(L, 1, "state_machine"); /* 6 */
  if (lua_isnil(L, 6)) {
    lua_pop(L, 1);
    hs_l_kv_new(L);
  } else if (!hs_is_kv(L, 6) && !lua_istable(L, 6)) {
    luaL_argerror(L, 1, "field 'state_machine' must be an hs.KVStateMachine or a table with apply/snapshot/restore");
  } else if (!hs_is_kv(L, 6) && lua_getfield(L, 6, "apply") != LUA_TFUNCTION) {
    luaL_argerror(L, 1, "field 'state_machine' has no apply method");
  }
  lua_settop(L, 6);

  lraft *r = ln->owner ? hs_lua_new_centity(L, 3, &raft_class, name)
                       : hs_lua_new_detached_centity(L, 2, &raft_class, name); /* 7 */
  int closed = r->base.closed;
  r->base.closed = 1; /* until built: harmless to collect */
  r->unsafe_local_reads = unsafe_reads;
  r->opts = cfg;
  r->join = join;
  hs_lcons_init(L, &r->c, &r->base.e, ln, HS_RAFT_STATES_KEY);
  hs_lcons_new_state(L, 8, 6, 2, 5); /* 8: the state table */
  hs_lua_finish_centity(L, &r->base, 7, 3, closed);
  return 1;
}

static int l_unsafe_build(lua_State *L) {
  lua_pushboolean(L, hs_raft_unsafe_build());
  return 1;
}

void hs_raft_open(lua_State *L) {
  hs_lcons_open(L, HS_RAFT_STATES_KEY);
  hs_lraft_checker_open(L);
}

const luaL_Reg hs_raft_funcs[] = {{"RaftNode", l_raft_new},
                                  {"RaftChecker", hs_l_raft_checker_new},
                                  {"raft_unsafe_build", l_unsafe_build},
                                  {NULL, NULL}};
