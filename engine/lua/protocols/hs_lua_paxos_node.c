/*
 * hs_lua_paxos_node.c - hs.PaxosNode (single-decree), hs.MultiPaxosNode and hs.FlexiblePaxosNode:
 * the Paxos adapter (engine/paxos/hs_paxos_node.h) as C entities usable from Lua, with
 * hs.KVStateMachine or any Lua table with apply/restore (snapshot, read, validate optional)
 * as the state machine of a Multi-Paxos node, client requests from Lua (submit, read) and over
 * the network. hs.PaxosChecker (the safety invariants) is in hs_lua_paxos_checker.c.
 *
 * MEMBERS. A node's cluster is itself and its peers (nodes or names); member ids are the
 * positions of the members' names in sorted order, so every node of a cluster numbers the
 * members alike (ballots break ties by id: by name). The core is built when the node is
 * attached, and again by set_peers until the node starts; from then on the members are fixed.
 * A Multi-Paxos node starts with node:start(); a PaxosNode (whose acceptor needs no timer)
 * starts at its first use: start(), propose(), start_phase1(), or the first protocol message.
 *
 * Class user value HS_CENTITY_UV is a table: { sm =, futures = {tag -> pending}, history = {...},
 * network =, peers = {names}, members = {id -> name}, checker =, proposals = {Futures}
 * (PaxosNode), new_future = <happysim.future's new> }. A pending request is a Future (submit),
 * { future =, read = true } (read) or { client =, request_id =, type = } (over the network).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocols/hs_lua_paxos.h"

static const hs_lua_class single_class, multi_class, flex_class;

/* The network requests a node remembers having taken in (see seen_before). */
#define SEEN_REQUESTS 4096
#define SEEN_SLOTS (2 * SEEN_REQUESTS) /* a power of two */

static const char *class_name(const lpaxos *r) { return r->base.cls->name; }

/* A Paxos node of any of the three classes at idx, or NULL. */
static lpaxos *test_paxos(lua_State *L, int idx) {
  lpaxos *r = luaL_testudata(L, idx, MT_MULTI);
  if (!r) r = luaL_testudata(L, idx, MT_FLEX);
  if (!r) r = luaL_testudata(L, idx, MT_SINGLE);
  return r;
}

/* Pushes the name of member `id` (nil when unknown). */
static void push_member(lua_State *L, lpaxos *r, uint32_t id) {
  if (id == HS_PAXOS_NONE) {
    lua_pushnil(L);
    return;
  }
  if (id < r->node.kit.peer_cap && r->node.kit.peers[id]) {
    lua_pushstring(L, r->node.kit.peers[id]->name);
    return;
  }
  hs_lcons_push_state(L, &r->c);
  lua_getfield(L, -1, "members");
  if (lua_istable(L, -1))
    lua_rawgeti(L, -1, id);
  else
    lua_pushnil(L);
  lua_replace(L, -3);
  lua_pop(L, 1);
}

/* Pushes a ballot as the seed's Ballot: { number = round, node_id = name } (number 0: none). */
static void push_ballot(lua_State *L, lpaxos *r, hs_paxos_ballot b) {
  lua_createtable(L, 0, 2);
  lua_pushinteger(L, (lua_Integer)b.round);
  lua_setfield(L, -2, "number");
  if (b.round) {
    push_member(L, r, b.node);
    lua_setfield(L, -2, "node_id");
  }
}

/* ---- completions ------------------------------------------------------------------------------ */

/* An error value; not_leader carries the leader this node knows: where a client should ask. */
static void push_paxos_error(lua_State *L, lpaxos *r, const char *code, const char *message) {
  hs_push_error(L, code, message);
  if (strcmp(code, "not_leader") == 0 && r->node.mp) {
    push_member(L, r, hs_mpaxos_leader(r->node.mp));
    lua_setfield(L, -2, "leader");
  }
}

static const char *reason_code(int reason) {
  switch (reason) {
  case HS_PAXOS_ENOTLEADER: return "not_leader";
  case HS_PAXOS_ELOST: return "lost";
  case HS_PAXOS_ECRASHED: return "crashed";
  case HS_PAXOS_EBUSY: return "busy";
  case HS_EINVAL: return "invalid";
  default: return "unknown";
  }
}

/* Whether the pending value on top is a read's. */
static int pending_is_read(lua_State *L) {
  if (!lua_istable(L, -1) || lua_getmetatable(L, -1)) {
    if (lua_istable(L, -1)) lua_pop(L, 1); /* a Future: a submit */
    return 0;
  }
  int read = lua_getfield(L, -1, "read") != LUA_TNIL;
  lua_pop(L, 1);
  if (!read) {
    read = lua_getfield(L, -1, "type") == LUA_TSTRING && strcmp(lua_tostring(L, -1), "read") == 0;
    lua_pop(L, 1);
  }
  return read;
}

static void hook_resolved(void *ud, uint64_t tag, uint64_t slot, hs_value result, const char *err) {
  lpaxos *r = ud;
  lua_State *L = hs_lcons_pending(&r->c, tag);
  if (!L) return;
  if (err) {
    const char *code = pending_is_read(L) ? "read_failed"
                       : err == hs_session_expired_msg ? "session_expired"
                                                       : "apply_failed";
    hs_push_error(L, code, err);
    hs_lcons_settle(L, &r->c, 0, 1);
    return;
  }
  lua_pushinteger(L, (lua_Integer)slot);
  hs_lua_decode(L, result.p, result.len);
  hs_lcons_settle(L, &r->c, 1, 2);
}

static void hook_lost(void *ud, uint64_t tag, uint64_t slot, int reason) {
  lpaxos *r = ud;
  lua_State *L = hs_lcons_pending(&r->c, tag);
  if (!L) return;
  char msg[160];
  snprintf(msg, sizeof msg, "slot %llu on '%s': %s", (unsigned long long)slot, r->base.e.name,
           reason == HS_PAXOS_ELOST ? "another value was chosen for the slot (not applied)" : hs_paxos_strerror(reason));
  push_paxos_error(L, r, reason_code(reason), msg);
  hs_lcons_settle(L, &r->c, 0, 1);
}

static void hook_role_changed(void *ud, const hs_mpaxos_role_event *ev) {
  lpaxos *r = ud;
  lua_State *L = hs_lcons_thread(&r->c);
  if (!L) return;
  hs_lcons_push_history(L, &r->c, ev->now, hs_mpaxos_role_name(ev->role));
  hs_trace_role(hs_lsim_of(r->base.e.sim), &r->base.e, hs_mpaxos_role_name(ev->role));
  push_ballot(L, r, ev->ballot);
  lua_setfield(L, -2, "ballot");
  push_member(L, r, ev->leader);
  lua_setfield(L, -2, "leader");
  hs_lcons_add_history(L);
}

/* Single-decree: settles every proposal made here: resolves it with the decided value (data,
 * len), or, with code non-NULL, rejects it with that error (a crash loses them). */
static void settle_proposals(lua_State *L, lpaxos *r, const uint8_t *data, uint32_t len, const char *code,
                             const char *message) {
  hs_lcons_push_state(L, &r->c);
  lua_getfield(L, -1, "proposals");
  lua_newtable(L);
  lua_setfield(L, -3, "proposals");
  int list = lua_gettop(L);
  for (lua_Integer i = 1; i <= luaL_len(L, list); i++) {
    lua_rawgeti(L, list, i);
    if (code)
      hs_push_error(L, code, message);
    else
      hs_lua_decode(L, data, len);
    hs_lcons_settle(L, &r->c, !code, 1);
  }
  lua_pop(L, 2);
}

/* Single-decree: every proposal made here resolves with the decision. */
static void hook_decided(void *ud, const uint8_t *data, uint32_t len) {
  lpaxos *r = ud;
  lua_State *L = hs_lcons_thread(&r->c);
  if (L) settle_proposals(L, r, data, len, NULL, NULL);
}

/* The entity of member `id`, found by name among the simulation's entities. */
static hs_entity *hook_resolve_peer(void *ud, uint32_t id) {
  lpaxos *r = ud;
  lua_State *L = hs_lcons_thread(&r->c);
  if (!L) return NULL;
  int top = lua_gettop(L);
  hs_entity *e = NULL;
  hs_lcons_push_state(L, &r->c);
  lua_getfield(L, -1, "members");
  if (lua_istable(L, -1) && lua_rawgeti(L, -1, id) == LUA_TSTRING) {
    hs_push_sim(L, hs_lsim_of(r->base.e.sim));
    lua_getiuservalue(L, -1, 1);
    lua_getfield(L, -1, "names");
    lua_pushvalue(L, -4);
    lua_rawget(L, -2);
    lpaxos *p = test_paxos(L, -1);
    if (p && p->base.cls == r->base.cls && !p->base.detached) e = &p->base.e;
  }
  lua_settop(L, top);
  return e;
}

/* ---- entity vtable ------------------------------------------------------------------------------ */

static void client_request(lpaxos *r, hs_message *m);
static void autostart_single(lpaxos *r);

static void on_message(hs_entity *e, hs_message *m) {
  lpaxos *r = (lpaxos *)e;
  if (!r->built) return;
  if (hs_paxos_node_is_protocol(m)) {
    if (!r->started && !r->multi) autostart_single(r);
    if (r->started) hs_paxos_node_on_message(&r->node, m);
  } else if (hs_blob_kind(m->payload) == HS_MSG_REQUEST) {
    client_request(r, m);
  }
}

static void on_crash(hs_entity *e) {
  lpaxos *r = (lpaxos *)e;
  if (r->seen_slots) { /* the requests taken in are volatile: forgotten */
    memset(r->seen_slots, 0, (SEEN_SLOTS + SEEN_REQUESTS) * sizeof *r->seen_slots);
    r->seen_count = 0;
  }
  if (!r->started) return;
  hs_paxos_node_on_crash(&r->node);
  if (!r->multi) {
    lua_State *L = hs_lcons_thread(&r->c);
    if (L) settle_proposals(L, r, NULL, 0, "crashed", "the proposer crashed: its proposal is lost");
  }
}

static void on_restart(hs_entity *e) {
  lpaxos *r = (lpaxos *)e;
  if (r->started) hs_paxos_node_on_restart(&r->node);
}

static const hs_entity_vtable single_vt = {.kind = "PaxosNode", .on_crash = on_crash, .on_restart = on_restart,
                                           .on_message = on_message};
static const hs_entity_vtable multi_vt = {.kind = "MultiPaxosNode", .on_crash = on_crash, .on_restart = on_restart,
                                          .on_message = on_message};
static const hs_entity_vtable flex_vt = {.kind = "FlexiblePaxosNode", .on_crash = on_crash, .on_restart = on_restart,
                                         .on_message = on_message};

/* ---- requests --------------------------------------------------------------------------------- */

/* Submits the encoded command (or read) in r->c.cmd under tag; on refusal settles it at once. */
static void submit_cmd(lua_State *L, lpaxos *r, uint64_t tag, const char *fname) {
  hs_lcons_call saved = hs_lcons_enter(&r->c, L);
  int rc = hs_paxos_node_submit(&r->node, r->c.cmd.data, r->c.cmd.len, tag, NULL);
  hs_lcons_leave(&r->c, L, saved);
  if (rc == HS_OK) return;
  if (hs_lcons_take_pending(L, &r->c, tag) == LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  char msg[160];
  snprintf(msg, sizeof msg, "%s on '%s': %s", fname, r->base.e.name, hs_paxos_strerror(rc));
  push_paxos_error(L, r, reason_code(rc), msg);
  hs_lcons_settle(L, &r->c, 0, 1);
}

/* Whether this node has taken in the request of m before: a copy the network duplicated.
 * Copies of one request reach the same node, within the link's delays: answering only the
 * first keeps one outcome per request. (Two copies proposed apart could end differently, one
 * slot lost to a new leader and the other chosen, and the client would be told "lost" of a
 * command that took effect.) The node remembers the last SEEN_REQUESTS (sender, request id)
 * pairs it took in: a ring in arrival order and an open-addressing set (linear probing,
 * deletion by backward shift), allocated at the first request; volatile, like the requests
 * in progress, so a crash forgets them (a copy then meets the client sessions). */

static uint32_t seen_home(uint64_t key) {
  key ^= key >> 33;
  key *= 0xff51afd7ed558ccdULL;
  key ^= key >> 33;
  return (uint32_t)key & (SEEN_SLOTS - 1);
}

/* The slot holding key, or the empty slot where it would go. */
static uint32_t seen_slot(const uint64_t *slots, uint64_t key) {
  uint32_t i = seen_home(key);
  while (slots[i] && slots[i] != key) i = (i + 1) & (SEEN_SLOTS - 1);
  return i;
}

static void seen_remove(uint64_t *slots, uint64_t key) {
  uint32_t i = seen_slot(slots, key);
  if (!slots[i]) return;
  slots[i] = 0;
  for (uint32_t j = (i + 1) & (SEEN_SLOTS - 1); slots[j]; j = (j + 1) & (SEEN_SLOTS - 1)) {
    uint32_t home = seen_home(slots[j]);
    /* move slots[j] back into the hole at i unless its home lies cyclically in (i, j] */
    if (((j - home) & (SEEN_SLOTS - 1)) >= ((j - i) & (SEEN_SLOTS - 1))) {
      slots[i] = slots[j];
      slots[j] = 0;
      i = j;
    }
  }
}

static int seen_before(lpaxos *r, const hs_message *m) {
  if (!r->seen_slots) {
    r->seen_slots = calloc(SEEN_SLOTS + SEEN_REQUESTS, sizeof *r->seen_slots);
    if (!r->seen_slots) return 0; /* out of memory: take every copy in (sessions still apply each once) */
  }
  uint64_t *slots = r->seen_slots, *ring = slots + SEEN_SLOTS;
  uint64_t key = ((uint64_t)m->src->id + 1) << 40 | (hs_blob_request_id(m->payload) & ((1ULL << 40) - 1));
  uint32_t i = seen_slot(slots, key);
  if (slots[i]) return 1;
  uint32_t at = (uint32_t)(r->seen_count++ % SEEN_REQUESTS);
  if (ring[at]) { /* forget the oldest */
    seen_remove(slots, ring[at]);
    i = seen_slot(slots, key);
  }
  ring[at] = key;
  slots[i] = key;
  return 0;
}

/* A client's request over the network: "submit" (payload = command) or "read" (a query). */
static void client_request(lpaxos *r, hs_message *m) {
  lua_State *L = hs_lsim_of(r->base.e.sim)->L;
  if (!L) return;
  int top = lua_gettop(L);
  if (seen_before(r, m)) { /* a copy: the first one's outcome is the answer */
    r->dup_requests++;
    return;
  }
  hs_lua_push_client_request(L, m);
  int is_read = strcmp(m->type, "read") == 0;
  if (!r->multi || (!is_read && strcmp(m->type, "submit") != 0)) {
    hs_push_error(L, "bad_request",
                  r->multi ? "a Multi-Paxos node accepts 'submit' and 'read' requests" : "PaxosNode takes no client requests");
    hs_lcons_settle(L, &r->c, 0, 1);
    lua_settop(L, top);
    return;
  }
  if (!r->started || hs_entity_crashed(&r->base.e)) {
    push_paxos_error(L, r, r->started ? "crashed" : "not_leader", "the node is not started");
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
  if (is_read) /* a read takes a slot of its own: answered once every earlier slot applied */
    hs_paxos_node_begin_read(&r->c.cmd);
  else /* the client's session: a duplicated request is applied once */
    hs_session_begin(&r->c.cmd, m->src->name, strlen(m->src->name), hs_blob_request_id(b));
  hs_buf_put_raw(&r->c.cmd, b->data + HS_MSG_HEADER, b->size - HS_MSG_HEADER);
  lua_pushvalue(L, -1);
  uint64_t tag = hs_lcons_add_pending(L, &r->c);
  lua_pop(L, 1);
  submit_cmd(L, r, tag, is_read ? "read" : "submit");
  lua_settop(L, top);
}

/* A live, attached Paxos node of an open simulation at idx (any class), or raises. */
static lpaxos *check_paxos(lua_State *L, int idx) {
  lpaxos *r = test_paxos(L, idx);
  if (!r) luaL_typeerror(L, idx, "PaxosNode, MultiPaxosNode or FlexiblePaxosNode");
  if (r->base.closed) luaL_error(L, "%s '%s': use after close", class_name(r), r->base.e.name);
  if (r->base.detached) hs_lua_detached_error(L, &r->base, NULL);
  if (r->base.e.sim->closed) luaL_error(L, "%s '%s': its simulation is closed", class_name(r), r->base.e.name);
  return r;
}

/* The same for a Multi-Paxos method fname: the node must be started. */
static lpaxos *check_multi_started(lua_State *L, const char *fname) {
  lpaxos *r = check_paxos(L, 1);
  if (!r->multi) luaL_error(L, "%s: a PaxosNode has no '%s' (single-decree: use propose)", fname, fname);
  if (!r->started) luaL_error(L, "%s: %s '%s' is not started (call node:start())", fname, class_name(r), r->base.e.name);
  return r;
}

/* node:submit(cmd [, session]) -> Future resolving to (index, result) once applied; rejected
 * with not_leader (and the leader's name when known), busy, lost, crashed. With a session
 * { client =, request_id = } the command is applied at most once per request id. */
static int l_submit(lua_State *L) {
  lpaxos *r = check_multi_started(L, "submit");
  uint64_t tag = hs_lcons_begin_submit(L, &r->c); /* 3: the Future */
  submit_cmd(L, r, tag, "submit");
  lua_settop(L, 3);
  return 1;
}

/* node:read(query) -> Future resolving to (index, result): a linearizable read, ordered in the
 * log like a command (one Paxos round), answered from the state machine once every earlier
 * slot is applied; rejected like submit. */
static int l_read(lua_State *L) {
  lpaxos *r = check_multi_started(L, "read");
  luaL_checkany(L, 2);
  lua_settop(L, 2);
  hs_buf_reset(&r->c.cmd);
  hs_paxos_node_begin_read(&r->c.cmd);
  hs_lua_encode(L, &r->c.cmd, 2, "read: query"); /* fails now on a value that cannot be sent */
  hs_lcons_push_pending_future(L);             /* 3 pending, 4 future */
  lua_pushboolean(L, 1);
  lua_setfield(L, 3, "read");
  lua_pushvalue(L, 3);
  uint64_t tag = hs_lcons_add_pending_arg1(L, &r->c);
  submit_cmd(L, r, tag, "read");
  lua_settop(L, 4);
  return 1;
}

/* node:campaign(): starts an election now (tests and scenarios); false on a leader. */
static int l_campaign(lua_State *L) {
  lpaxos *r = check_multi_started(L, "campaign");
  if (hs_mpaxos_role_of(r->node.mp) == HS_MPAXOS_LEADER || hs_entity_crashed(&r->base.e)) {
    lua_pushboolean(L, 0);
    return 1;
  }
  hs_lcons_call saved = hs_lcons_enter(&r->c, L);
  int rc = hs_mpaxos_campaign(r->node.mp, r->base.e.sim->now_ns);
  hs_lcons_leave(&r->c, L, saved);
  lua_pushboolean(L, rc == HS_OK);
  return 1;
}

/* ---- members ------------------------------------------------------------------------------ */

/* The name of a peers item (a Paxos node or a name), or NULL. */
static const char *peer_name(lua_State *L, int idx) {
  lpaxos *p = test_paxos(L, idx);
  if (p) return p->base.e.name;
  return lua_type(L, idx) == LUA_TSTRING ? lua_tostring(L, idx) : NULL;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Pushes the list of peer names of the list at idx (nodes or names): the node's own name
 * (self, may be NULL) and duplicates left out, in the order given. Raises, for argument `arg`
 * of the running function, on an item that is neither, or on more than HS_PAXOS_MAX_NODES
 * members. */
static void push_peer_names(lua_State *L, int idx, const char *self, int arg, const char *what) {
  idx = lua_absindex(L, idx);
  lua_newtable(L); /* names */
  int names = lua_gettop(L);
  lua_newtable(L); /* seen */
  int seen = names + 1;
  lua_Integer n = 0;
  if (lua_istable(L, idx)) {
    for (lua_Integer i = 1; i <= luaL_len(L, idx); i++) {
      lua_geti(L, idx, i);
      const char *name = peer_name(L, -1);
      if (!name)
        luaL_argerror(L, arg, lua_pushfstring(L, "%s: item %d must be a Paxos node or a node name, got %s", what, (int)i,
                                              hs_typename_of(L, -1)));
      if ((!self || strcmp(name, self) != 0) && lua_getfield(L, seen, name) == LUA_TNIL) {
        lua_pushboolean(L, 1);
        lua_setfield(L, seen, name);
        if (n + 1 >= (lua_Integer)HS_PAXOS_MAX_NODES)
          luaL_argerror(L, arg, lua_pushfstring(L, "%s: at most %d members", what, (int)HS_PAXOS_MAX_NODES));
        lua_pushstring(L, name);
        lua_rawseti(L, names, ++n);
      }
      lua_settop(L, seen);
    }
  }
  lua_pop(L, 1);
}

/* Raises unless the quorum sizes (0: default) suit a cluster of n members: the message says
 * "quorum" and names the sizes. fname: the function to blame. */
static void check_quorums(lua_State *L, const char *fname, int arg, uint32_t n, uint32_t q1, uint32_t q2) {
  uint32_t r1, r2;
  if (hs_paxos_quorums(n, q1, q2, &r1, &r2) == HS_OK) return;
  const char *why;
  if (q1 > n || q2 > n)
    why = lua_pushfstring(L, "quorum sizes phase1_quorum = %d, phase2_quorum = %d do not fit a cluster of %d members",
                          (int)q1, (int)q2, (int)n);
  else
    why = lua_pushfstring(L, "quorum sizes phase1_quorum = %d and phase2_quorum = %d do not intersect in a cluster of "
                             "%d members: Q1 + Q2 must exceed N",
                          (int)(q1 ? q1 : r1), (int)(q2 ? q2 : r2), (int)n);
  if (arg)
    luaL_error(L, "bad argument #%d to '%s' (%s)", arg, fname, why);
  else
    luaL_error(L, "%s: %s", fname, why);
}

/* The quorum sizes the core uses (the defaults resolved). */
static void core_quorums(const lpaxos *r, uint32_t *q1, uint32_t *q2) {
  if (r->multi) {
    hs_mpaxos_stats s;
    hs_mpaxos_get_stats(r->node.mp, &s);
    *q1 = s.phase1_quorum;
    *q2 = s.phase2_quorum;
  } else {
    hs_paxos_stats s;
    hs_paxos_get_stats(r->node.sd, &s);
    *q1 = s.phase1_quorum;
    *q2 = s.phase2_quorum;
  }
}

static void quorum_options(const lpaxos *r, uint32_t *q1, uint32_t *q2) {
  *q1 = r->multi ? r->mopts.phase1_quorum : r->sopts.phase1_quorum;
  *q2 = r->multi ? r->mopts.phase2_quorum : r->sopts.phase2_quorum;
}

/* Builds (again) the protocol core from the node's members: its name and state.peers (names).
 * The node is at self_idx, its state table at state. Raises on bad quorums (fname). */
static void build_core(lua_State *L, lpaxos *r, int self_idx, int state, const char *fname) {
  int top = lua_gettop(L);
  lua_getfield(L, state, "peers");
  int peers = lua_gettop(L);
  const char *names[HS_PAXOS_MAX_NODES];
  uint32_t n = 0;
  names[n++] = r->base.e.name;
  for (lua_Integer i = 1; i <= luaL_len(L, peers) && n < HS_PAXOS_MAX_NODES; i++) {
    lua_rawgeti(L, peers, i);
    names[n++] = lua_tostring(L, -1); /* the list keeps it alive */
    lua_pop(L, 1);
  }
  uint32_t q1, q2;
  quorum_options(r, &q1, &q2);
  check_quorums(L, fname, 0, n, q1, q2);
  qsort(names, n, sizeof *names, cmp_names);
  lua_createtable(L, (int)n, 0); /* members: id -> name */
  uint32_t ids[HS_PAXOS_MAX_NODES], self = 0;
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (uint32_t i = 0; i < n; i++) {
    ids[i] = i + 1;
    if (strcmp(names[i], r->base.e.name) == 0) self = i + 1;
    lua_pushstring(L, names[i]);
    lua_rawseti(L, top + 2, i + 1);
    luaL_addstring(&b, names[i]);
    luaL_addchar(&b, '\n');
  }
  luaL_pushresult(&b);
  size_t klen;
  const char *key = lua_tolstring(L, -1, &klen);
  r->cluster = hs_hash_bytes(key, klen);
  lua_pop(L, 1);
  lua_setfield(L, state, "members");
  r->n_members = n;

  hs_paxos_node_hooks hooks = {.resolved = hook_resolved,
                               .lost = hook_lost,
                               .role_changed = hook_role_changed,
                               .decided = hook_decided,
                               .resolve_peer = hook_resolve_peer,
                               .ud = r};
  if (!r->built) hs_paxos_node_init(&r->node, &r->base.e, &r->c.ln->net, &r->c.ln->pool, &hooks);
  char stream[160];
  snprintf(stream, sizeof stream, "%s:%s", r->multi ? "mpaxos" : "paxos", r->base.e.name);
  int rc;
  if (r->multi) {
    hs_mpaxos_config cfg = r->mopts;
    cfg.id = self;
    cfg.members = ids;
    cfg.n_members = n;
    cfg.checker = r->checker ? &r->checker->c : NULL;
    hs_sim_stream(r->base.e.sim, &cfg.rng, stream, strlen(stream));
    lua_getfield(L, state, "sm");
    hs_sm_ops sm = hs_lsm_ops(L, &r->c.lsm, -1);
    lua_pop(L, 1);
    rc = hs_paxos_node_make_multi(&r->node, &cfg, &sm);
  } else {
    hs_paxos_config cfg = r->sopts;
    cfg.id = self;
    cfg.members = ids;
    cfg.n_members = n;
    cfg.checker = r->checker ? &r->checker->c : NULL;
    hs_sim_stream(r->base.e.sim, &cfg.rng, stream, strlen(stream));
    rc = hs_paxos_node_make_single(&r->node, &cfg);
  }
  r->built = 1; /* the adapter is set up (finalize frees it), with or without a core */
  if (rc != HS_OK) luaL_error(L, "%s: %s", fname, hs_paxos_strerror(rc));
  (void)self_idx;
  lua_settop(L, top);
}

/* Binds the node's checker (if any) to its cluster: the first node binds it, the others must be
 * of the same cluster and phase-2 quorum. NULL, or why not. */
static const char *bind_checker(lpaxos *r) {
  lchecker *c = r->checker;
  if (!c) return NULL;
  hs_lsim *ls = hs_lsim_of(r->base.e.sim);
  uint32_t q1, q2;
  core_quorums(r, &q1, &q2);
  if (c->ls && c->ls != ls) return "its PaxosChecker watches nodes of another simulation";
  if (c->bound && (c->cluster != r->cluster || c->c.phase2_quorum != q2))
    return "its PaxosChecker watches another cluster (one checker per cluster: same members, same phase2_quorum)";
  c->ls = ls;
  c->bound = 1;
  c->cluster = r->cluster;
  c->c.phase2_quorum = q2;
  return NULL;
}

/* Resolves the peers of the node at idx 1 (state at `state`) to their entities before a start:
 * each must be a node of the same class on the same network with the same members and quorums. */
static void resolve_peers(lua_State *L, lpaxos *r, int state, const char *fname) {
  int top = lua_gettop(L);
  lua_getfield(L, state, "members");
  int members = lua_gettop(L);
  lua_getiuservalue(L, 1, 1); /* the simulation */
  hs_push_uv_table(L, lua_gettop(L), "names");
  int names = lua_gettop(L);
  for (uint32_t id = 1; id <= r->n_members; id++) {
    lua_rawgeti(L, members, id);
    const char *name = lua_tostring(L, -1);
    if (strcmp(name, r->base.e.name) == 0) {
      lua_pop(L, 1);
      continue;
    }
    if (lua_getfield(L, names, name) == LUA_TNIL)
      luaL_error(L, "%s: %s '%s' has an unknown peer '%s' (no node of that name in the simulation)", fname,
                 class_name(r), r->base.e.name, name);
    lpaxos *p = test_paxos(L, -1);
    if (!p || p->base.cls != r->base.cls)
      luaL_error(L, "%s: peer '%s' of '%s' is not a %s", fname, name, r->base.e.name, class_name(r));
    if (p->c.ln != r->c.ln) luaL_error(L, "%s: peer '%s' is on another network", fname, name);
    uint32_t a1, a2, b1, b2;
    quorum_options(r, &a1, &a2);
    quorum_options(p, &b1, &b2);
    if (p->built && (p->cluster != r->cluster || a1 != b1 || a2 != b2))
      luaL_error(L, "%s: %s '%s' and its peer '%s' disagree on the cluster (members or quorum sizes): give every "
                    "node the same peers (each may list itself) and the same quorums",
                 fname, class_name(r), r->base.e.name, name);
    hs_paxos_node_set_peer(&r->node, id, &p->base.e);
    lua_pop(L, 2);
  }
  lua_settop(L, top);
}

/* Starts the core now (the node is argument 1 of a Lua call on L). */
static void start_now(lua_State *L, lpaxos *r, const char *fname) {
  lua_getiuservalue(L, 1, HS_CENTITY_UV);
  int state = lua_gettop(L);
  resolve_peers(L, r, state, fname);
  const char *why = bind_checker(r);
  if (why) luaL_error(L, "%s: %s '%s': %s", fname, class_name(r), r->base.e.name, why);
  lua_pop(L, 1);
  r->started = 1;
  hs_lcons_call saved = hs_lcons_enter(&r->c, L);
  int rc = hs_paxos_node_start(&r->node);
  hs_lcons_leave(&r->c, L, saved);
  if (rc != HS_OK) luaL_error(L, "%s: %s", fname, hs_paxos_strerror(rc));
  if (hs_entity_crashed(&r->base.e)) hs_paxos_node_on_crash(&r->node); /* crashed before it started */
}

/* A PaxosNode that gets a protocol message before any use starts then (its acceptor answers);
 * its peers are found as messages go out. */
static void autostart_single(lpaxos *r) {
  lua_State *L = hs_lcons_thread(&r->c);
  if (!L) return;
  const char *why = bind_checker(r);
  if (why) {
    hs_lsim *ls = hs_lsim_of(r->base.e.sim);
    lua_pushfstring(L, "happysim: PaxosNode '%s': %s", r->base.e.name, why);
    hs_sim_fail(ls, L); /* stops the run; between runs, waits for hs_door_raise */
    return;
  }
  r->started = 1;
  hs_paxos_node_start(&r->node);
}

/* node:start(): a Multi-Paxos node arms its election timer (its members are fixed from now
 * on); a PaxosNode starts answering (it would at its first use anyway). */
static int l_start(lua_State *L) {
  lpaxos *r = test_paxos(L, 1);
  if (!r) return luaL_typeerror(L, 1, "PaxosNode, MultiPaxosNode or FlexiblePaxosNode");
  if (hs_lua_defer_start(L, &r->base, &r->start_deferred)) return 1; /* starts once attached */
  r = check_paxos(L, 1);
  lua_settop(L, 1);
  if (r->started) {
    if (r->multi) return luaL_error(L, "start: %s '%s' is already started", class_name(r), r->base.e.name);
    return 1; /* a PaxosNode started at its first use */
  }
  start_now(L, r, "start");
  lua_settop(L, 1);
  return 1;
}

/* node:set_peers(list): the other members (nodes or names; the node itself may be listed and
 * is left out). Until the node starts (a PaxosNode: until its first use); quorum sizes that do
 * not suit the new cluster raise. */
static int l_set_peers(lua_State *L) {
  lpaxos *r = test_paxos(L, 1);
  if (!r) return luaL_typeerror(L, 1, "PaxosNode, MultiPaxosNode or FlexiblePaxosNode");
  if (r->base.closed) return luaL_error(L, "%s '%s': use after close", class_name(r), r->base.e.name);
  luaL_argexpected(L, lua_istable(L, 2), 2, "list of nodes or names");
  if (r->started || r->start_deferred)
    return luaL_error(L, "set_peers: %s '%s' is started: its members are fixed", class_name(r), r->base.e.name);
  lua_settop(L, 2);
  push_peer_names(L, 2, r->base.e.name, 2, "peers"); /* 3 */
  uint32_t q1, q2;
  quorum_options(r, &q1, &q2);
  check_quorums(L, "set_peers", 1, (uint32_t)luaL_len(L, 3) + 1, q1, q2);
  lua_getiuservalue(L, 1, HS_CENTITY_UV); /* 4 */
  lua_pushvalue(L, 3);
  lua_setfield(L, 4, "peers");
  if (r->built) build_core(L, r, 1, 4, "set_peers");
  lua_settop(L, 1);
  return 1;
}

/* ---- single-decree ------------------------------------------------------------------------------ */

static lpaxos *check_single(lua_State *L, const char *fname) {
  lpaxos *r = check_paxos(L, 1);
  if (r->multi) luaL_error(L, "%s: a %s has no '%s' (use submit)", fname, class_name(r), fname);
  if (!r->started) start_now(L, r, fname);
  return r;
}

/* node:propose(v) -> Future of the decided value (which may be another proposer's). Starts a
 * round now unless one is in progress; resolves at once when the node knows the decision;
 * rejected with crashed when this node crashes first. */
static int l_propose(lua_State *L) {
  lpaxos *r = check_single(L, "propose");
  luaL_checkany(L, 2);
  lua_settop(L, 2);
  hs_buf_reset(&r->c.cmd);
  hs_lua_encode(L, &r->c.cmd, 2, "propose: value");
  hs_lcons_push_future(L); /* 3 */
  const uint8_t *data;
  uint32_t len;
  if (hs_paxos_decided(r->node.sd, &data, &len)) {
    lua_getfield(L, 3, "resolve");
    lua_pushvalue(L, 3);
    hs_lua_decode(L, data, len);
    lua_call(L, 2, 0);
    return 1;
  }
  if (hs_entity_crashed(&r->base.e)) {
    lua_getfield(L, 3, "reject");
    lua_pushvalue(L, 3);
    hs_push_error(L, "crashed", "propose: the node is crashed");
    lua_call(L, 2, 0);
    return 1;
  }
  lua_getiuservalue(L, 1, HS_CENTITY_UV);
  lua_getfield(L, -1, "proposals");
  lua_pushvalue(L, 3);
  lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
  lua_settop(L, 3);
  hs_lcons_call saved = hs_lcons_enter(&r->c, L);
  int rc = hs_paxos_node_propose(&r->node, r->c.cmd.data, r->c.cmd.len);
  hs_lcons_leave(&r->c, L, saved);
  if (rc != HS_OK && rc != HS_PAXOS_ECRASHED) return luaL_error(L, "propose: %s", hs_paxos_strerror(rc));
  lua_settop(L, 3);
  return 1;
}

/* node:start_phase1(): a fresh round now (Prepare with a new ballot), abandoning the one in
 * progress - the seed's explicit form; propose already starts one. Needs a value proposed
 * here; true, or false when crashed or decided. */
static int l_start_phase1(lua_State *L) {
  lpaxos *r = check_single(L, "start_phase1");
  if (hs_entity_crashed(&r->base.e) || hs_paxos_decided(r->node.sd, NULL, NULL)) {
    lua_pushboolean(L, 0);
    return 1;
  }
  hs_lcons_call saved = hs_lcons_enter(&r->c, L);
  int rc = hs_paxos_node_start_round(&r->node);
  hs_lcons_leave(&r->c, L, saved);
  if (rc == HS_PAXOS_ESTATE)
    return luaL_error(L, "start_phase1: PaxosNode '%s' has no value to propose (call propose(v) first)", r->base.e.name);
  lua_pushboolean(L, rc == HS_OK);
  return 1;
}

/* ---- fields --------------------------------------------------------------------------------- */

#define SET_INT(name, v)                                                                                               \
  do {                                                                                                                 \
    lua_pushinteger(L, (lua_Integer)(v));                                                                              \
    lua_setfield(L, -2, name);                                                                                         \
  } while (0)

static void push_decided_value(lua_State *L, lpaxos *r) {
  const uint8_t *data;
  uint32_t len;
  if (hs_paxos_decided(r->node.sd, &data, &len))
    hs_lua_decode(L, data, len);
  else
    lua_pushnil(L);
}

static void push_single_stats(lua_State *L, lpaxos *r) {
  hs_paxos_stats s;
  hs_paxos_get_stats(r->node.sd, &s);
  lua_createtable(L, 0, 18);
  SET_INT("proposals_started", s.proposals_started);
  SET_INT("proposals_succeeded", s.proposals_succeeded);
  SET_INT("proposals_failed", s.proposals_failed);
  SET_INT("promises_received", s.promises_received);
  SET_INT("nacks_received", s.nacks_received);
  SET_INT("accepts_received", s.accepts_received);
  push_decided_value(L, r);
  lua_setfield(L, -2, "decided_value");
  SET_INT("messages_sent", s.messages_sent);
  SET_INT("ballots_tried", s.ballots_tried);
  SET_INT("malformed_messages", hs_paxos_node_malformed(&r->node));
  SET_INT("phase1_quorum", s.phase1_quorum);
  SET_INT("phase2_quorum", s.phase2_quorum);
  push_ballot(L, r, s.ballot);
  lua_setfield(L, -2, "ballot");
  push_ballot(L, r, s.promised);
  lua_setfield(L, -2, "promised");
  lua_pushstring(L, hs_paxos_phase_name(s.phase));
  lua_setfield(L, -2, "phase");
  lua_pushboolean(L, s.decided);
  lua_setfield(L, -2, "is_decided");
  lua_pushboolean(L, s.crashed);
  lua_setfield(L, -2, "crashed");
}

static void push_multi_stats(lua_State *L, lpaxos *r) {
  hs_mpaxos_stats s;
  hs_mpaxos_get_stats(r->node.mp, &s);
  lua_createtable(L, 0, 28);
  lua_pushboolean(L, s.is_leader);
  lua_setfield(L, -2, "is_leader");
  SET_INT("current_ballot", s.current_ballot.round);
  SET_INT("log_length", s.log_length);
  SET_INT("commit_index", s.commit_index);
  SET_INT("commands_committed", s.commands_committed);
  SET_INT("leader_changes", s.leader_changes);
  SET_INT("phase1_quorum", s.phase1_quorum);
  SET_INT("phase2_quorum", s.phase2_quorum);
  lua_pushstring(L, hs_mpaxos_role_name(s.role));
  lua_setfield(L, -2, "role");
  push_member(L, r, s.current_leader);
  lua_setfield(L, -2, "current_leader");
  SET_INT("applied_index", s.applied_index);
  SET_INT("messages_sent", s.messages_sent);
  SET_INT("ballots_tried", s.ballots_tried);
  SET_INT("elections_won", s.elections_won);
  SET_INT("promises_received", s.promises_received);
  SET_INT("nacks_received", s.nacks_received);
  SET_INT("accepts_received", s.accepts_received);
  SET_INT("values_reproposed", s.values_reproposed);
  SET_INT("noops_proposed", s.noops_proposed);
  SET_INT("proposals_lost", s.proposals_lost);
  SET_INT("catchups_sent", s.catchups_sent);
  SET_INT("reads_served", r->node.reads);
  SET_INT("duplicate_commands", r->node.counts.duplicates);
  SET_INT("expired_commands", r->node.counts.expired);
  SET_INT("duplicate_requests", r->dup_requests);
  SET_INT("malformed_messages", hs_paxos_node_malformed(&r->node));
  SET_INT("pending", hs_mpaxos_pending(r->node.mp));
  lua_pushboolean(L, s.crashed);
  lua_setfield(L, -2, "crashed");
}

/* node.log: { { slot =, index = slot, ballot = { number, node_id }, type = "normal"|"noop"|"read",
 * chosen =, command = [, client =, request_id =] } ... } for every slot holding a value
 * (query = for a read). */
static void push_log(lua_State *L, lpaxos *r) {
  uint64_t last = hs_mpaxos_last_slot(r->node.mp);
  lua_createtable(L, (int)last, 0);
  for (uint64_t s = 1; s <= last; s++) {
    hs_paxos_value v;
    if (hs_mpaxos_slot_at(r->node.mp, s, &v) != HS_OK) break;
    lua_createtable(L, 0, 6);
    SET_INT("slot", s);
    SET_INT("index", s);
    push_ballot(L, r, v.ballot);
    lua_setfield(L, -2, "ballot");
    lua_pushboolean(L, v.chosen);
    lua_setfield(L, -2, "chosen");
    const char *type = v.type == HS_PAXOS_VALUE_NOOP ? "noop" : "normal";
    if (v.ballot.round == 0) type = "empty";
    if (v.type == HS_PAXOS_VALUE_NORMAL && v.len && v.data[0] == HS_PAXOS_READ_TAG) {
      type = "read";
      if (hs_value_size((hs_value){v.data + 1, v.len - 1}) == v.len - 1) {
        hs_lua_decode(L, v.data + 1, v.len - 1);
        lua_setfield(L, -2, "query");
      }
    } else if (v.type == HS_PAXOS_VALUE_NORMAL && v.len) {
      hs_lcons_set_command(L, v.data, v.len);
    }
    lua_pushstring(L, type);
    lua_setfield(L, -2, "type");
    lua_rawseti(L, -2, (lua_Integer)s);
  }
}

static int state_field(lua_State *L, const char *k) {
  if (strcmp(k, "history") == 0 || strcmp(k, "state_machine") == 0 || strcmp(k, "network") == 0 ||
      strcmp(k, "peers") == 0 || strcmp(k, "checker") == 0 || strcmp(k, "members") == 0) {
    lua_getiuservalue(L, 1, HS_CENTITY_UV);
    lua_getfield(L, -1, strcmp(k, "state_machine") == 0 ? "sm" : k);
    return 1;
  }
  return 0;
}

static int get_single_field(lua_State *L, lpaxos *r, const char *k) {
  hs_paxos *p = r->node.sd;
  if (strcmp(k, "decided_value") == 0)
    push_decided_value(L, r);
  else if (strcmp(k, "is_decided") == 0)
    lua_pushboolean(L, hs_paxos_decided(p, NULL, NULL));
  else if (strcmp(k, "quorum_size") == 0 || strcmp(k, "phase1_quorum") == 0 || strcmp(k, "phase2_quorum") == 0) {
    uint32_t q1, q2;
    core_quorums(r, &q1, &q2);
    lua_pushinteger(L, k[5] == '2' ? q2 : q1);
  } else if (strcmp(k, "ballot") == 0)
    push_ballot(L, r, hs_paxos_ballot_of(p));
  else if (strcmp(k, "promised") == 0)
    push_ballot(L, r, hs_paxos_promised(p));
  else if (strcmp(k, "phase") == 0)
    lua_pushstring(L, hs_paxos_phase_name(hs_paxos_phase_of(p)));
  else if (strcmp(k, "stats") == 0)
    push_single_stats(L, r);
  else
    return 0;
  return 1;
}

static int get_multi_field(lua_State *L, lpaxos *r, const char *k) {
  hs_mpaxos *mp = r->node.mp;
  if (strcmp(k, "is_leader") == 0)
    lua_pushboolean(L, !hs_mpaxos_crashed(mp) && hs_mpaxos_role_of(mp) == HS_MPAXOS_LEADER);
  else if (strcmp(k, "role") == 0 || strcmp(k, "state") == 0)
    lua_pushstring(L, hs_mpaxos_role_name(hs_mpaxos_role_of(mp)));
  else if (strcmp(k, "current_leader") == 0)
    push_member(L, r, hs_mpaxos_leader(mp));
  else if (strcmp(k, "ballot") == 0)
    push_ballot(L, r, hs_mpaxos_promised(mp));
  else if (strcmp(k, "commit_index") == 0)
    lua_pushinteger(L, (lua_Integer)hs_mpaxos_commit_index(mp));
  else if (strcmp(k, "last_applied") == 0)
    lua_pushinteger(L, (lua_Integer)hs_mpaxos_applied_index(mp));
  else if (strcmp(k, "log_length") == 0)
    lua_pushinteger(L, (lua_Integer)hs_mpaxos_last_slot(mp));
  else if (strcmp(k, "phase1_quorum") == 0 || strcmp(k, "phase2_quorum") == 0) {
    uint32_t q1, q2;
    core_quorums(r, &q1, &q2);
    lua_pushinteger(L, k[5] == '2' ? q2 : q1);
  } else if (strcmp(k, "stats") == 0)
    push_multi_stats(L, r);
  else if (strcmp(k, "log") == 0)
    push_log(L, r);
  else
    return 0;
  return 1;
}

static int get_field(lua_State *L, void *self, const char *k) {
  lpaxos *r = self;
  if (strcmp(k, "started") == 0) {
    lua_pushboolean(L, r->started);
    return 1;
  }
  if (strcmp(k, "id") == 0) {
    lua_pushinteger(L, r->multi ? hs_mpaxos_id(r->node.mp) : hs_paxos_id(r->node.sd));
    return 1;
  }
  if (state_field(L, k)) return 1;
  return r->multi ? get_multi_field(L, r, k) : get_single_field(L, r, k);
}

static void finalize(void *self) {
  lpaxos *r = self;
  if (r->built) hs_paxos_node_free(&r->node);
  r->built = 0;
  free(r->seen_slots);
  r->seen_slots = NULL;
  hs_lcons_free(&r->c);
}

static const luaL_Reg single_methods[] = {{"start", l_start},
                                          {"set_peers", l_set_peers},
                                          {"propose", l_propose},
                                          {"start_phase1", l_start_phase1},
                                          {NULL, NULL}};

static const luaL_Reg multi_methods[] = {{"start", l_start},   {"set_peers", l_set_peers}, {"submit", l_submit},
                                         {"read", l_read},     {"campaign", l_campaign},   {NULL, NULL}};

static void attach(lua_State *L, void *self, int self_idx, int sim_idx);
static const hs_lua_class single_class = {"PaxosNode", sizeof(lpaxos), &single_vt, single_methods, get_field,
                                          finalize, 1, attach};
static const hs_lua_class multi_class = {"MultiPaxosNode", sizeof(lpaxos), &multi_vt, multi_methods, get_field,
                                         finalize, 1, attach};
static const hs_lua_class flex_class = {"FlexiblePaxosNode", sizeof(lpaxos), &flex_vt, multi_methods, get_field,
                                        finalize, 1, attach};

/* ---- construction --------------------------------------------------------------------------- */

static const char *const single_options[] = {"name", "network", "peers", "retry_delay", "round_timeout", "checker", NULL};
static const char *const multi_options[] = {"name",
                                            "network",
                                            "peers",
                                            "state_machine",
                                            "leader_lease_timeout",
                                            "election_timeout_max",
                                            "heartbeat_interval",
                                            "max_entries_per_message",
                                            "max_inflight",
                                            "checker",
                                            "unsafe_ignore_promises",
                                            NULL};
static const char *const flex_options[] = {"name",
                                           "network",
                                           "peers",
                                           "state_machine",
                                           "phase1_quorum",
                                           "phase2_quorum",
                                           "leader_lease_timeout",
                                           "election_timeout_max",
                                           "heartbeat_interval",
                                           "max_entries_per_message",
                                           "max_inflight",
                                           "checker",
                                           "unsafe_ignore_promises",
                                           NULL};

/* The part of construction that needs the simulation (at sim_idx): the peers' names, member
 * ids, the protocol core. At once for a node built on an attached network, else when its
 * network is attached (hs_lua_centity.h). The node is at self_idx. */
static void attach(lua_State *L, void *self, int self_idx, int sim_idx) {
  lpaxos *r = self;
  int top = lua_gettop(L);
  hs_lsim *ls = hs_check_sim(L, sim_idx);
  lua_getiuservalue(L, self_idx, HS_CENTITY_UV); /* top+1: state */
  int state = top + 1;
  if (r->checker && r->checker->ls && r->checker->ls != ls)
    luaL_error(L, "%s '%s': its checker watches nodes of another simulation", class_name(r), r->base.e.name);
  lua_getfield(L, state, "peers"); /* the peers option or set_peers' list (nodes or names) */
  push_peer_names(L, -1, r->base.e.name, 1, "field 'peers'");
  lua_setfield(L, state, "peers"); /* from now on: the peers' names */
  lua_pop(L, 1);
  hs_lcons_bind_state(L, &r->c, state);
  build_core(L, r, self_idx, state, class_name(r));
  lua_settop(L, top);
}

/* Reads the options common to the three classes; pushes nothing. */
static void read_single_options(lua_State *L, lpaxos *r) {
  double retry = hs_field_positive_seconds(L, 1, 1, "retry_delay", 0.5);
  double round = hs_field_positive_seconds(L, 1, 1, "round_timeout", 2 * retry);
  hs_paxos_config_init(&r->sopts);
  r->sopts.retry_delay_ns = hs_time_from_s(retry);
  r->sopts.round_timeout_ns = hs_time_from_s(round);
}

static void read_multi_options(lua_State *L, lpaxos *r, int flexible) {
  double lease = hs_field_positive_seconds(L, 1, 1, "leader_lease_timeout", 5.0);
  double tmax = hs_field_positive_seconds(L, 1, 1, "election_timeout_max", 2 * lease);
  double hb = hs_field_positive_seconds(L, 1, 1, "heartbeat_interval", 1.0);
  if (!(tmax > lease)) luaL_argerror(L, 1, "field 'election_timeout_max' must be greater than 'leader_lease_timeout'");
  if (!(hb < lease)) luaL_argerror(L, 1, "field 'heartbeat_interval' must be below 'leader_lease_timeout'");
  hs_mpaxos_config *c = &r->mopts;
  hs_mpaxos_config_init(c);
  c->election_timeout_min_ns = hs_time_from_s(lease);
  c->election_timeout_max_ns = hs_time_from_s(tmax);
  c->heartbeat_interval_ns = hs_time_from_s(hb);
  c->max_msg_slots = (uint32_t)hs_lcons_field_count(L, "max_entries_per_message", 64, 1, 1 << 20);
  c->max_inflight = (uint32_t)hs_lcons_field_count(L, "max_inflight", 32, 1, 1 << 16);
  c->unsafe_ignore_promises = hs_field_boolean(L, 1, 1, "unsafe_ignore_promises", 0); /* TEST-ONLY */
  if (flexible) {
    c->phase1_quorum = (uint32_t)hs_lcons_field_count(L, "phase1_quorum", 0, 1, HS_PAXOS_MAX_NODES);
    c->phase2_quorum = (uint32_t)hs_lcons_field_count(L, "phase2_quorum", 0, 1, HS_PAXOS_MAX_NODES);
  }
}

/* hs.PaxosNode / hs.MultiPaxosNode / hs.FlexiblePaxosNode { name =, network =, peers = { nodes
 * or names }, ... }. On a network not attached to a simulation yet, the node is built detached:
 * every option is checked now, and the rest is done when the network is attached (docs/API.md 5.1).
 *
 * unsafe_ignore_promises = true (Multi-Paxos) is TEST-ONLY and UNSAFE: a new leader ignores the
 * values the promises report and fills the slots with no-ops, so chosen commands can be lost or
 * overwritten (hs_mpaxos_config). It exists so that scenarios can show the checkers catching a
 * broken Paxos (scripts/multipaxos_unsafe.lua). */
static int new_node(lua_State *L, const hs_lua_class *cls) {
  int multi = cls != &single_class, flexible = cls == &flex_class;
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  hs_check_options(L, 1, 1, flexible ? flex_options : multi ? multi_options : single_options);
  const char *name;
  hs_lnet *ln = hs_lcons_check_network(L, &name); /* 2 network, 3 sim or nil, 4 name or nil */
  lpaxos opts;
  memset(&opts, 0, sizeof opts);
  if (multi)
    read_multi_options(L, &opts, flexible);
  else
    read_single_options(L, &opts);
  lua_getfield(L, 1, "peers"); /* 5 */
  if (!lua_isnil(L, 5) && !lua_istable(L, 5)) luaL_argerror(L, 1, "field 'peers' must be a list of nodes or names");
  push_peer_names(L, 5, name, 1, "field 'peers'");
  if (lua_istable(L, 5) && flexible) /* with the cluster known now, its quorums must suit it */
    check_quorums(L, cls->name, 1, (uint32_t)luaL_len(L, -1) + 1, opts.mopts.phase1_quorum, opts.mopts.phase2_quorum);
  lua_pop(L, 1);
  lchecker *checker = NULL;
  if (lua_getfield(L, 1, "checker") != LUA_TNIL) {
    checker = luaL_testudata(L, -1, HS_PCHECKER_MT);
    if (!checker)
      luaL_argerror(L, 1, lua_pushfstring(L, "field 'checker' must be an hs.PaxosChecker, got %s", hs_typename_of(L, -1)));
    if (checker->ls && ln->owner && checker->ls != hs_check_sim(L, 3))
      luaL_argerror(L, 1, "field 'checker' watches nodes of another simulation");
  }
  lua_pop(L, 1);
  lua_pushnil(L); /* 6: the state machine */
  if (multi) {
    lua_getfield(L, 1, "state_machine");
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      hs_l_kv_new(L);
    } else if (!hs_is_kv(L, -1) && !lua_istable(L, -1)) {
      luaL_argerror(L, 1, "field 'state_machine' must be an hs.KVStateMachine or a table with apply/restore");
    } else if (!hs_is_kv(L, -1)) {
      if (lua_getfield(L, -1, "apply") != LUA_TFUNCTION) luaL_argerror(L, 1, "field 'state_machine' has no apply method");
      if (lua_getfield(L, -2, "restore") != LUA_TFUNCTION)
        luaL_argerror(L, 1, "field 'state_machine' has no restore method (a restarted node rebuilds its state from "
                            "restore(nil) and the chosen commands)");
      lua_pop(L, 2);
    }
    lua_replace(L, 6);
  }
  lua_settop(L, 6);

  lpaxos *r = ln->owner ? hs_lua_new_centity(L, 3, cls, name) : hs_lua_new_detached_centity(L, 2, cls, name); /* 7 */
  int closed = r->base.closed;
  r->base.closed = 1; /* until built: harmless to collect */
  r->multi = multi;
  r->sopts = opts.sopts;
  r->mopts = opts.mopts;
  r->checker = checker;
  hs_lcons_init(L, &r->c, &r->base.e, ln, HS_PAXOS_STATES_KEY);
  hs_lcons_new_state(L, 10, 6, 2, 5); /* 8: the state table */
  lua_newtable(L);
  lua_setfield(L, 8, "proposals");
  hs_lua_finish_centity(L, &r->base, 7, 3, closed);
  return 1;
}

static int l_single_new(lua_State *L) { return new_node(L, &single_class); }
static int l_multi_new(lua_State *L) { return new_node(L, &multi_class); }
static int l_flex_new(lua_State *L) { return new_node(L, &flex_class); }

void hs_paxos_open(lua_State *L) {
  hs_lcons_open(L, HS_PAXOS_STATES_KEY);
  hs_lpaxos_checker_open(L);
}

const luaL_Reg hs_paxos_funcs[] = {{"PaxosNode", l_single_new},
                                   {"MultiPaxosNode", l_multi_new},
                                   {"FlexiblePaxosNode", l_flex_new},
                                   {"PaxosChecker", hs_l_paxos_checker_new},
                                   {NULL, NULL}};
