/*
 * hs_lua_swim.c - hs.MembershipProtocol: a SWIM member (engine/membership/hs_swim_node.h) as a
 * C entity usable from Lua, one per member:
 *
 *   hs.MembershipProtocol{ name = "m1", network = net, members = { names or nodes },
 *                          probe_interval = 1 (protocol_period), ping_timeout = probe_interval / 5,
 *                          indirect_probe_count = 3 (indirect_probes), suspicion_timeout = 5,
 *                          suspicion_max_mult = 3, retransmit_mult = 3, max_piggyback = 16,
 *                          on_member_change = function(node, member, state, prev, incarnation) end }
 *   node:start()  node:add_member(x)  node:get_member_state(name)  node:member_incarnation(name)
 *   node.alive_members  node.suspected_members  node.dead_members  (sorted names, others only)
 *   node.stats  node.incarnation  node.started  node.network
 *
 * THE GROUP. SWIM's cores number members with small integer ids. Every MembershipProtocol on
 * one Network shares a hidden group (happysim.SwimGroup, found through a weak registry table
 * keyed by the network): the hs_swim_dir of member entities and the names <-> ids maps. A name
 * gets its id the first time it is mentioned (a member's own name, then its members list, in
 * the order of construction), so ids are deterministic. A member's initial view is its
 * members list plus itself, all alive at incarnation 0; a name never built as a member is a
 * member that never answers.
 *
 * A LIST SHARED BY MANY MEMBERS (members = names, the same list for ten thousand members) is
 * resolved once: the group keeps the last list it resolved (its values, anchored) and its ids;
 * a members list with the same values is recognised by comparing values by identity, which is
 * cheap against looking every name up again. When the view is ids 1..n (the usual case) the
 * core is given n and builds its table in one go.
 *
 * ON_MEMBER_CHANGE is called for every change of this member's view (member, its new state,
 * the previous one, its incarnation), synchronously through the door after the core has
 * handled the message or timer that caused it (not while it runs): the callback may call the
 * node (add_member, crash) but cannot wait (hs.sleep, hs.await).
 *
 * Class user value HS_CENTITY_UV: a table { group =, names = (the group's id -> name),
 * ids = (name -> id), network =, on_member_change = }.
 */
#include <stdlib.h>
#include <string.h>

#include "hs_lua_centity.h"
#include "hs_lua_net.h"
#include "membership/hs_swim_node.h"
#include "protocols/hs_lua_protocols.h"

#define SWIM_MT "happysim.MembershipProtocol"
#define GROUP_MT "happysim.SwimGroup"
#define GROUPS_KEY "happysim.swim_groups" /* registry: weak-keyed Network -> SwimGroup */

/* ---- the group: one per network --------------------------------------------------------------- */

typedef struct sgroup {
  hs_swim_dir dir;
  uint32_t next_id; /* the next id to hand out (ids start at 1) */
  /* the last members list resolved: its values by identity, and what they resolved to */
  const void **cache_ptrs;
  uint32_t cache_len;
  uint32_t *cache_ids; /* distinct ids, in list order */
  uint32_t cache_distinct, cache_max;
  uint8_t *cache_in; /* by id, 0 .. cache_max: in the list */
  int live;
} sgroup;

static void group_drop_cache(sgroup *g) {
  free(g->cache_ptrs);
  free(g->cache_ids);
  free(g->cache_in);
  g->cache_ptrs = NULL;
  g->cache_ids = NULL;
  g->cache_in = NULL;
  g->cache_len = g->cache_distinct = g->cache_max = 0;
}

static int l_group_gc(lua_State *L) {
  sgroup *g = luaL_checkudata(L, 1, GROUP_MT);
  if (g->live) {
    hs_swim_dir_free(&g->dir);
    group_drop_cache(g);
  }
  g->live = 0;
  return 0;
}

/* Pushes the group of the network at net_idx (made on first use). Its user value is a table
 * { ids = { name -> id }, names = { id -> name }, cache = (the values of the cached list) }. */
static sgroup *push_group(lua_State *L, int net_idx) {
  net_idx = lua_absindex(L, net_idx);
  lua_getfield(L, LUA_REGISTRYINDEX, GROUPS_KEY);
  lua_pushvalue(L, net_idx);
  if (lua_rawget(L, -2) != LUA_TNIL) {
    lua_remove(L, -2);
    return lua_touserdata(L, -1);
  }
  lua_pop(L, 1);
  sgroup *g = lua_newuserdatauv(L, sizeof *g, 1);
  memset(g, 0, sizeof *g);
  hs_swim_dir_init(&g->dir);
  g->next_id = 1;
  g->live = 1;
  luaL_setmetatable(L, GROUP_MT);
  lua_createtable(L, 0, 3);
  lua_newtable(L);
  lua_setfield(L, -2, "ids");
  lua_newtable(L);
  lua_setfield(L, -2, "names");
  lua_setiuservalue(L, -2, 1);
  lua_pushvalue(L, net_idx);
  lua_pushvalue(L, -2);
  lua_rawset(L, -4);
  lua_remove(L, -2);
  return g;
}

/* The id of the name at name_idx in the group whose ids/names tables are at ids_idx and
 * names_idx; with assign, a new name gets the next id (0 when unknown without assign). */
static uint32_t name_id(lua_State *L, sgroup *g, int ids_idx, int names_idx, int name_idx, int assign) {
  lua_pushvalue(L, name_idx);
  int isint = 0;
  lua_Integer id = lua_rawget(L, ids_idx) == LUA_TNUMBER ? lua_tointegerx(L, -1, &isint) : 0;
  lua_pop(L, 1);
  if (isint && id > 0) return (uint32_t)id;
  if (!assign) return 0;
  if (g->next_id >= (1u << 24) - 1) luaL_error(L, "MembershipProtocol: too many member names on one network");
  uint32_t nid = g->next_id++;
  lua_pushvalue(L, name_idx);
  lua_pushinteger(L, nid);
  lua_rawset(L, ids_idx);
  lua_pushvalue(L, name_idx);
  lua_rawseti(L, names_idx, nid);
  return nid;
}

/* ---- the member ------------------------------------------------------------------------------- */

typedef struct lswim {
  hs_lua_centity base;
  hs_swim_node node;
  hs_lnet *ln;
  sgroup *group; /* anchored by the state table */
  uint32_t id;
  int inited, started, start_deferred;
  hs_swim_config cfg; /* options, checked at construction */
  /* the initial view until the core is built: ids 1..view_n, then view_extra */
  uint32_t view_n;
  uint32_t *view_extra;
  uint32_t n_extra, cap_extra;
  /* changes waiting for on_member_change (when it is set) */
  hs_swim_member_event *changes;
  uint32_t n_changes, cap_changes;
  int has_hook, flushing;
  lua_State *main;
} lswim;

static const hs_lua_class swim_class;

static lua_State *thread_of(lswim *r) {
  lua_State *L = hs_lsim_of(r->base.e.sim)->L;
  return L ? L : r->main;
}

/* Pushes field k of the member's state table. */
static void push_state_field(lua_State *L, lswim *r, const char *k) {
  hs_push_entity_object(L, hs_lsim_of(r->base.e.sim), &r->base.e);
  lua_getiuservalue(L, -1, HS_CENTITY_UV);
  lua_getfield(L, -1, k);
  lua_replace(L, -3);
  lua_pop(L, 1);
}

static int add_extra(lswim *r, uint32_t id) {
  if (r->n_extra == r->cap_extra) {
    uint32_t cap = r->cap_extra ? r->cap_extra * 2 : 16;
    uint32_t *p = realloc(r->view_extra, cap * sizeof *p);
    if (!p) return HS_ENOMEM;
    r->view_extra = p;
    r->cap_extra = cap;
  }
  r->view_extra[r->n_extra++] = id;
  return HS_OK;
}

/* The name of the member item at idx (a name or a MembershipProtocol on network ln), pushed;
 * raises naming the item. */
static void push_item_name(lua_State *L, int idx, hs_lnet *ln, const char *what, int item) {
  if (lua_type(L, idx) == LUA_TSTRING) {
    lua_pushvalue(L, idx);
    return;
  }
  lswim *o = luaL_testudata(L, idx, SWIM_MT);
  if (o && o->base.e.name) {
    if (o->ln != ln) luaL_error(L, "%s: member '%s' is on another network", what, o->base.e.name);
    lua_pushstring(L, o->base.e.name);
    return;
  }
  if (item)
    luaL_argerror(L, 1, lua_pushfstring(L, "field 'members': item %d must be a MembershipProtocol or a name, got %s",
                                        item, hs_typename_of(L, idx)));
  luaL_argerror(L, 2, lua_pushfstring(L, "a MembershipProtocol or a name expected, got %s", hs_typename_of(L, idx)));
}

/* Whether the list at list_idx holds exactly the values of the group's cached list. */
static int cache_matches(lua_State *L, sgroup *g, int list_idx, lua_Integer len) {
  if (!g->cache_ptrs || (lua_Integer)g->cache_len != len) return 0;
  for (lua_Integer i = 1; i <= len; i++) {
    lua_rawgeti(L, list_idx, i);
    const void *p = lua_topointer(L, -1);
    lua_pop(L, 1);
    if (!p || p != g->cache_ptrs[i - 1]) return 0;
  }
  return 1;
}

/* Resolves the members list at list_idx to ids (assigning ids to new names) into the group's
 * cache, anchoring its values in the group (state table at gstate_idx). */
static void resolve_list(lua_State *L, sgroup *g, int gstate_idx, int list_idx, lua_Integer len, hs_lnet *ln) {
  int ids = lua_gettop(L) + 1;
  lua_getfield(L, gstate_idx, "ids");
  lua_getfield(L, gstate_idx, "names");
  int names = ids + 1;
  group_drop_cache(g);
  size_t n = (size_t)len;
  g->cache_ptrs = malloc((n ? n : 1) * sizeof *g->cache_ptrs);
  g->cache_ids = malloc((n ? n : 1) * sizeof *g->cache_ids);
  if (!g->cache_ptrs || !g->cache_ids) {
    group_drop_cache(g);
    luaL_error(L, "MembershipProtocol: out of memory");
  }
  lua_createtable(L, (int)(len < 1 << 30 ? len : 0), 0); /* the values, anchored */
  int vals = lua_gettop(L);
  for (lua_Integer i = 1; i <= len; i++) {
    lua_rawgeti(L, list_idx, i);
    push_item_name(L, -1, ln, "MembershipProtocol", (int)i);
    uint32_t id = name_id(L, g, ids, names, lua_gettop(L), 1);
    lua_pop(L, 1);
    g->cache_ptrs[i - 1] = lua_topointer(L, -1);
    lua_rawseti(L, vals, i);
    g->cache_ids[i - 1] = id;
    if (id > g->cache_max) g->cache_max = id;
  }
  g->cache_in = calloc((size_t)g->cache_max + 1, 1);
  if (!g->cache_in) {
    group_drop_cache(g);
    luaL_error(L, "MembershipProtocol: out of memory");
  }
  uint32_t distinct = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t id = g->cache_ids[i];
    if (g->cache_in[id]) continue;
    g->cache_in[id] = 1;
    g->cache_ids[distinct++] = id;
  }
  g->cache_distinct = distinct;
  g->cache_len = (uint32_t)len;
  lua_setfield(L, gstate_idx, "cache");
  lua_pop(L, 2);
}

/* The member's initial view from the group's cached list: ids 1..n when that is what the list
 * and the member make, else each id. */
static void view_from_cache(lua_State *L, lswim *r, sgroup *g) {
  uint32_t x = r->id;
  int x_in = x <= g->cache_max && g->cache_in && g->cache_in[x];
  uint32_t size = g->cache_distinct + !x_in, top = g->cache_max > x ? g->cache_max : x;
  if (size == top) {
    r->view_n = top;
    return;
  }
  for (uint32_t i = 0; i < g->cache_distinct; i++)
    if (g->cache_ids[i] != x && add_extra(r, g->cache_ids[i]) != HS_OK) luaL_error(L, "MembershipProtocol: out of memory");
}

/* ---- hooks and entity --------------------------------------------------------------------------- */

static void hook_changed(void *ud, const hs_swim_member_event *ev) {
  lswim *r = ud;
  if (!r->has_hook) return;
  if (r->n_changes == r->cap_changes) {
    uint32_t cap = r->cap_changes ? r->cap_changes * 2 : 16;
    hs_swim_member_event *p = realloc(r->changes, cap * sizeof *p);
    if (!p) return; /* out of memory: the change is not reported */
    r->changes = p;
    r->cap_changes = cap;
  }
  r->changes[r->n_changes++] = *ev;
}

/* After the core returned: on_member_change(node, member, state, prev, incarnation) for each
 * change, in order. Changes reported while it runs (by a call it makes) wait their turn. */
static void hook_after(void *ud) {
  lswim *r = ud;
  if (!r->n_changes || r->flushing) return;
  r->flushing = 1;
  lua_State *L = thread_of(r);
  hs_lsim *ls = hs_lsim_of(r->base.e.sim);
  int top = lua_gettop(L);
  for (uint32_t i = 0; i < r->n_changes; i++) {
    hs_swim_member_event ev = r->changes[i];
    push_state_field(L, r, "on_member_change");
    hs_push_entity_object(L, ls, &r->base.e);
    push_state_field(L, r, "names");
    lua_rawgeti(L, -1, ev.member);
    lua_remove(L, -2);
    lua_pushstring(L, hs_swim_state_name(ev.state));
    ev.prev_state == HS_SWIM_UNKNOWN ? lua_pushnil(L) : lua_pushstring(L, hs_swim_state_name(ev.prev_state));
    lua_pushinteger(L, ev.incarnation);
    hs_door_site site = {"on_member_change", NULL, &r->base.e, NULL};
    hs_door_call(L, ls, 5, 0, &site);
    lua_settop(L, top);
  }
  r->n_changes = 0;
  r->flushing = 0;
}

static void on_message(hs_entity *e, hs_message *m) {
  lswim *r = (lswim *)e;
  if (r->inited && hs_swim_node_is_protocol(m)) hs_swim_node_on_message(&r->node, m);
}

static void on_crash(hs_entity *e) {
  lswim *r = (lswim *)e;
  if (r->inited) hs_swim_node_on_crash(&r->node);
}

static void on_restart(hs_entity *e) {
  lswim *r = (lswim *)e;
  if (r->inited) hs_swim_node_on_restart(&r->node);
}

static const hs_entity_vtable swim_vt = {.kind = "MembershipProtocol", .on_crash = on_crash, .on_restart = on_restart,
                                         .on_message = on_message};

/* node:start(): the first protocol period begins at a random phase within one period. */
static int l_start(lua_State *L) {
  lswim *r = luaL_checkudata(L, 1, SWIM_MT);
  if (hs_lua_defer_start(L, &r->base, &r->start_deferred)) return 1; /* starts once attached */
  r = hs_lua_check_centity(L, 1, &swim_class);
  if (r->started) return luaL_error(L, "start: MembershipProtocol '%s' is already started", r->base.e.name);
  int rc = hs_swim_node_start(&r->node);
  if (rc != HS_OK) return luaL_error(L, "start: %s", hs_swim_strerror(rc));
  r->started = 1;
  lua_settop(L, 1);
  return 1;
}

/* The id of the member named (or given) at idx, 0 when the group has none by that name; the
 * member r is the userdata at 1 (a method's self). */
static uint32_t lookup_id(lua_State *L, lswim *r, int idx, int assign, const char *what) {
  idx = lua_absindex(L, idx);
  int top = lua_gettop(L);
  push_item_name(L, idx, r->ln, what, 0);
  int name = lua_gettop(L);
  lua_getiuservalue(L, 1, HS_CENTITY_UV);
  lua_getfield(L, -1, "ids");
  lua_getfield(L, -2, "names");
  lua_remove(L, -3);
  uint32_t id = name_id(L, r->group, name + 1, name + 2, name, assign);
  lua_settop(L, top);
  return id;
}

/* node:add_member(x): x (a name or a MembershipProtocol) joins this member's view, alive at
 * incarnation 0 unless it knows better. */
static int l_add_member(lua_State *L) {
  lswim *r = luaL_checkudata(L, 1, SWIM_MT);
  if (r->base.closed) return luaL_error(L, "add_member: MembershipProtocol '%s': use after close", r->base.e.name);
  if (!r->base.detached) r = hs_lua_check_centity(L, 1, &swim_class);
  luaL_checkany(L, 2);
  uint32_t id = lookup_id(L, r, 2, 1, "add_member");
  if (id == r->id) return 0;
  int rc = r->inited ? hs_swim_add_member(r->node.swim, id) : id <= r->view_n ? HS_OK : add_extra(r, id);
  if (rc != HS_OK) return luaL_error(L, "add_member: %s", hs_swim_strerror(rc));
  return 0;
}

/* node:get_member_state(x) -> "alive" | "suspect" | "dead" | nil (not a member it knows) */
static int l_get_member_state(lua_State *L) {
  lswim *r = hs_lua_check_centity(L, 1, &swim_class);
  luaL_checkany(L, 2);
  uint32_t id = lookup_id(L, r, 2, 0, "get_member_state");
  hs_swim_state st = id ? hs_swim_member_state(r->node.swim, id) : HS_SWIM_UNKNOWN;
  if (st == HS_SWIM_UNKNOWN) lua_pushnil(L);
  else lua_pushstring(L, hs_swim_state_name(st));
  return 1;
}

/* node:member_incarnation(x) -> the incarnation this member knows of x (nil: not a member) */
static int l_member_incarnation(lua_State *L) {
  lswim *r = hs_lua_check_centity(L, 1, &swim_class);
  luaL_checkany(L, 2);
  uint32_t id = lookup_id(L, r, 2, 0, "member_incarnation");
  if (!id || hs_swim_member_state(r->node.swim, id) == HS_SWIM_UNKNOWN) lua_pushnil(L);
  else lua_pushinteger(L, hs_swim_member_incarnation(r->node.swim, id));
  return 1;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Pushes the sorted names of the other members in state st. */
static void push_members_in(lua_State *L, lswim *r, hs_swim_state st) {
  const hs_swim *s = r->node.swim;
  uint32_t bound = hs_swim_id_bound(s), n = 0;
  for (uint32_t id = 1; id < bound; id++) n += id != r->id && hs_swim_member_state(s, id) == st;
  const char **names = malloc((n ? n : 1) * sizeof *names);
  if (!names) luaL_error(L, "MembershipProtocol: out of memory");
  push_state_field(L, r, "names"); /* anchors the strings while sorting */
  uint32_t k = 0;
  for (uint32_t id = 1; id < bound && k < n; id++) {
    if (id == r->id || hs_swim_member_state(s, id) != st) continue;
    lua_rawgeti(L, -1, id);
    names[k++] = lua_tostring(L, -1);
    lua_pop(L, 1);
  }
  qsort(names, k, sizeof *names, cmp_str);
  lua_createtable(L, (int)k, 0);
  for (uint32_t i = 0; i < k; i++) {
    lua_pushstring(L, names[i]);
    lua_rawseti(L, -2, i + 1);
  }
  free(names);
  lua_remove(L, -2);
}

static void push_stats(lua_State *L, lswim *r) {
  hs_swim_stats s;
  hs_swim_get_stats(r->node.swim, &s);
  lua_createtable(L, 0, 18);
#define FIELD(f)                                                                                                       \
  lua_pushinteger(L, (lua_Integer)s.f);                                                                                \
  lua_setfield(L, -2, #f)
  FIELD(alive_count);
  FIELD(suspect_count);
  FIELD(dead_count);
  FIELD(probes_sent);
  FIELD(indirect_probes_sent);
  FIELD(acks_received);
  FIELD(updates_disseminated);
  FIELD(pings_relayed);
  FIELD(acks_relayed);
  FIELD(suspicions_raised);
  FIELD(declared_dead);
  FIELD(refutations);
  FIELD(messages_sent);
  FIELD(gossip_pending);
  FIELD(suspicions_pending);
#undef FIELD
  lua_pushinteger(L, (lua_Integer)r->node.malformed);
  lua_setfield(L, -2, "malformed");
  lua_pushinteger(L, (lua_Integer)hs_swim_incarnation(r->node.swim));
  lua_setfield(L, -2, "incarnation");
}

static int get_field(lua_State *L, void *self, const char *k) {
  lswim *r = self;
  if (strcmp(k, "alive_members") == 0)
    push_members_in(L, r, HS_SWIM_ALIVE);
  else if (strcmp(k, "suspected_members") == 0)
    push_members_in(L, r, HS_SWIM_SUSPECT);
  else if (strcmp(k, "dead_members") == 0)
    push_members_in(L, r, HS_SWIM_DEAD);
  else if (strcmp(k, "stats") == 0)
    push_stats(L, r);
  else if (strcmp(k, "incarnation") == 0)
    lua_pushinteger(L, (lua_Integer)hs_swim_incarnation(r->node.swim));
  else if (strcmp(k, "started") == 0)
    lua_pushboolean(L, r->started);
  else if (strcmp(k, "probe_interval") == 0 || strcmp(k, "protocol_period") == 0)
    lua_pushnumber(L, hs_time_to_s(r->cfg.probe_interval_ns));
  else if (strcmp(k, "suspicion_timeout") == 0)
    lua_pushnumber(L, hs_time_to_s(r->cfg.suspicion_timeout_ns));
  else if (strcmp(k, "network") == 0)
    push_state_field(L, r, "network");
  else
    return 0;
  return 1;
}

static void finalize(void *self) {
  lswim *r = self;
  if (r->inited) hs_swim_node_free(&r->node);
  r->inited = 0;
  free(r->view_extra);
  free(r->changes);
  r->view_extra = NULL;
  r->changes = NULL;
  r->n_extra = r->cap_extra = r->n_changes = r->cap_changes = 0;
}

static const luaL_Reg methods[] = {{"start", l_start},
                                   {"add_member", l_add_member},
                                   {"get_member_state", l_get_member_state},
                                   {"member_incarnation", l_member_incarnation},
                                   {NULL, NULL}};

static void attach(lua_State *L, void *self, int self_idx, int sim_idx);
static const hs_lua_class swim_class = {"MembershipProtocol", sizeof(lswim), &swim_vt, methods, get_field, finalize, 1,
                                        attach};

/* ---- construction ------------------------------------------------------------------------------ */

/* The rest of construction, once registered with its simulation: the member's entity in the
 * group's directory and its core with the initial view. */
static void attach(lua_State *L, void *self, int self_idx, int sim_idx) {
  (void)self_idx;
  (void)sim_idx;
  lswim *r = self;
  if (hs_swim_dir_set(&r->group->dir, r->id, &r->base.e) != HS_OK)
    luaL_error(L, "MembershipProtocol '%s': out of memory", r->base.e.name);
  hs_swim_config cfg = r->cfg;
  cfg.id = r->id;
  cfg.n_members = r->view_n;
  char stream[160];
  snprintf(stream, sizeof stream, "swim:%s", r->base.e.name);
  hs_sim_stream(r->base.e.sim, &cfg.rng, stream, strlen(stream));
  hs_swim_node_hooks hooks = {.member_changed = hook_changed, .after_core = hook_after, .ud = r};
  int rc = hs_swim_node_init(&r->node, &r->base.e, &r->ln->net, &r->ln->pool, &r->group->dir, &cfg, &hooks);
  if (rc != HS_OK) {
    hs_swim_node_free(&r->node);
    luaL_error(L, "MembershipProtocol '%s': %s", r->base.e.name, hs_swim_strerror(rc));
  }
  r->inited = 1;
  for (uint32_t i = 0; i < r->n_extra; i++)
    if (hs_swim_add_member(r->node.swim, r->view_extra[i]) != HS_OK)
      luaL_error(L, "MembershipProtocol '%s': out of memory", r->base.e.name);
  free(r->view_extra);
  r->view_extra = NULL;
  r->n_extra = r->cap_extra = 0;
}

/* An optional integer field in [lo, hi]; dflt when absent. */
static uint32_t field_count(lua_State *L, const char *field, const char *alias, lua_Integer lo, lua_Integer hi,
                            uint32_t dflt) {
  int t = lua_getfield(L, 1, field);
  if (alias) {
    int ta = lua_getfield(L, 1, alias);
    if (t != LUA_TNIL && ta != LUA_TNIL)
      luaL_argerror(L, 1, lua_pushfstring(L, "fields '%s' and '%s' are the same option: give one", field, alias));
    if (t == LUA_TNIL) {
      field = alias;
      t = ta;
      lua_remove(L, -2);
    } else {
      lua_pop(L, 1);
    }
  }
  uint32_t v = dflt;
  if (t != LUA_TNIL) {
    int isint = 0;
    lua_Integer n = t == LUA_TNUMBER ? lua_tointegerx(L, -1, &isint) : 0;
    if (!isint || n < lo || n > hi)
      luaL_argerror(L, 1, lua_pushfstring(L, "field '%s' must be an integer in [%d, %d], got %s", field, (int)lo,
                                          (int)hi, luaL_tolstring(L, -1, NULL)));
    v = (uint32_t)n;
  }
  lua_pop(L, 1);
  return v;
}

/* A positive duration field under one of two names; dflt (seconds) when absent. */
static double field_period(lua_State *L, const char *field, const char *alias, double dflt) {
  lua_getfield(L, 1, field);
  lua_getfield(L, 1, alias);
  int both = !lua_isnil(L, -1) && !lua_isnil(L, -2), use_alias = lua_isnil(L, -2) && !lua_isnil(L, -1);
  lua_pop(L, 2);
  if (both) luaL_argerror(L, 1, lua_pushfstring(L, "fields '%s' and '%s' are the same option: give one", field, alias));
  return hs_field_positive_seconds(L, 1, 1, use_alias ? alias : field, dflt);
}

static const char *const options[] = {"name",
                                      "network",
                                      "members",
                                      "probe_interval",
                                      "protocol_period",
                                      "ping_timeout",
                                      "suspicion_timeout",
                                      "suspicion_max_mult",
                                      "indirect_probe_count",
                                      "indirect_probes",
                                      "retransmit_mult",
                                      "max_piggyback",
                                      "on_member_change",
                                      "phi_threshold",
                                      NULL};

/* hs.MembershipProtocol{ name =, network =, members =, ... } (see the top of the file) */
static int l_swim_new(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  hs_check_options(L, 1, 1, options);
  if (lua_getfield(L, 1, "phi_threshold") != LUA_TNIL)
    luaL_argerror(L, 1, "field 'phi_threshold' is not supported: this SWIM detects failures by its probes "
                        "(hs.PhiAccrualDetector is the phi detector)");
  lua_pop(L, 1);
  hs_lnet *ln = hs_lua_opt_network(L); /* 2 network, 3 sim or nil */
  if (lua_getfield(L, 1, "name") != LUA_TSTRING) /* 4 */
    luaL_argerror(L, 1, "field 'name' is required (a string)");
  const char *name = lua_tostring(L, 4);
  hs_swim_config cfg;
  hs_swim_config_init(&cfg);
  double period = field_period(L, "probe_interval", "protocol_period", 1.0);
  double ping_timeout = hs_field_positive_seconds(L, 1, 1, "ping_timeout", period / 5);
  if (!(ping_timeout < period))
    luaL_argerror(L, 1, "field 'ping_timeout' must be below the protocol period ('probe_interval')");
  double suspicion = hs_field_positive_seconds(L, 1, 1, "suspicion_timeout", 5.0);
  cfg.probe_interval_ns = hs_time_from_s(period);
  cfg.ping_timeout_ns = hs_time_from_s(ping_timeout);
  cfg.suspicion_timeout_ns = hs_time_from_s(suspicion);
  if (cfg.ping_timeout_ns <= 0 || cfg.ping_timeout_ns >= cfg.probe_interval_ns || cfg.suspicion_timeout_ns <= 0)
    luaL_argerror(L, 1, "the protocol period, 'ping_timeout' and 'suspicion_timeout' must be at least a nanosecond apart");
  cfg.suspicion_max_mult = field_count(L, "suspicion_max_mult", NULL, 1, 1000, 3);
  cfg.indirect_probe_count = field_count(L, "indirect_probe_count", "indirect_probes", 0, 8, 3);
  cfg.retransmit_mult = field_count(L, "retransmit_mult", NULL, 1, 64, 3);
  cfg.max_piggyback = field_count(L, "max_piggyback", NULL, 1, HS_SWIM_MAX_UPDATES, 16);
  int t = lua_getfield(L, 1, "on_member_change"); /* 5 */
  if (t != LUA_TNIL && t != LUA_TFUNCTION)
    luaL_argerror(L, 1, lua_pushfstring(L, "field 'on_member_change' must be a function, got %s", hs_typename_of(L, 5)));
  t = lua_getfield(L, 1, "members"); /* 6 */
  if (t != LUA_TNIL && t != LUA_TTABLE)
    luaL_argerror(L, 1, lua_pushfstring(L, "field 'members' must be a list of nodes or names, got %s", hs_typename_of(L, 6)));
  sgroup *g = push_group(L, 2); /* 7 */
  lua_getiuservalue(L, 7, 1);   /* 8: the group's state */
  lua_getfield(L, 8, "ids");    /* 9 */
  lua_getfield(L, 8, "names");  /* 10 */
  uint32_t self_id = name_id(L, g, 9, 10, 4, 1);
  if (t == LUA_TTABLE) {
    lua_Integer len = luaL_len(L, 6);
    if (!cache_matches(L, g, 6, len)) resolve_list(L, g, 8, 6, len, ln);
  }
  lswim *r = ln->owner ? hs_lua_new_centity(L, 3, &swim_class, name)
                       : hs_lua_new_detached_centity(L, 2, &swim_class, name); /* 11 */
  int closed = r->base.closed;
  r->base.closed = 1;
  r->ln = ln;
  r->group = g;
  r->id = self_id;
  r->cfg = cfg;
  r->has_hook = !lua_isnil(L, 5);
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  r->main = lua_tothread(L, -1);
  lua_pop(L, 1);
  if (t == LUA_TTABLE) view_from_cache(L, r, g);
  lua_createtable(L, 0, 5); /* 12: state */
  lua_pushvalue(L, 7);
  lua_setfield(L, 12, "group");
  lua_pushvalue(L, 9);
  lua_setfield(L, 12, "ids");
  lua_pushvalue(L, 10);
  lua_setfield(L, 12, "names");
  lua_pushvalue(L, 2);
  lua_setfield(L, 12, "network");
  lua_pushvalue(L, 5);
  lua_setfield(L, 12, "on_member_change");
  hs_lua_finish_centity(L, &r->base, 11, 3, closed);
  return 1;
}

void hs_swim_open(lua_State *L) {
  static const luaL_Reg gmeta[] = {{"__gc", l_group_gc}, {NULL, NULL}};
  luaL_newmetatable(L, GROUP_MT);
  luaL_setfuncs(L, gmeta, 0);
  lua_pop(L, 1);
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, GROUPS_KEY);
}

const luaL_Reg hs_swim_funcs[] = {{"MembershipProtocol", l_swim_new}, {NULL, NULL}};
