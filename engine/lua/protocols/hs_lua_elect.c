/*
 * hs_lua_elect.c - hs.LeaderElection: the election adapter (engine/coord/hs_elect_node.h) as a
 * C entity usable from Lua, with the built-in strategies (hs.BullyStrategy(),
 * hs.RingStrategy(), hs.RandomizedStrategy{ ballot_range = }) or a strategy written in Lua, and
 * hs.ElectionChecker (hs_elect_invariants.h: one backing per epoch, durable backing, at most
 * one leader per epoch accepted by a quorum).
 *
 * MEMBER IDS. The members (names, the node itself included or not) are sorted by name and
 * numbered 1..n in that order, so every node of a group agrees without sharing a table: the
 * "highest id" of bully and ring is the greatest name. Members are given by the members option
 * or node:add_member(x) (the seed's way) until the node starts; start() checks that every member
 * lists the same group, so a group whose lists differ (ids that do not agree) cannot run.
 *
 * A STRATEGY IN LUA is a table (give each node its own: it holds one node's state; an instance of
 * hs.ElectionStrategy:extend(...) is one) whose methods implement the core's vtable
 * (hs_elect_strategy_ops). Every method gets the node first:
 *   should_start_election(node) -> boolean       (required)
 *   start_election(node)                         (required; the new epoch is node.epoch)
 *   handle_election_message(node, from, kind, payload, epoch) -> false for a message it does not speak
 *   on_timeout(node)                             (required)
 *   accept_leader(node, leader) -> boolean       (optional; without it every leader is accepted)
 *   reset(node)                                  (optional: crash and restart)
 * and acts through the node's services, valid only in its own callbacks (raising elsewhere):
 *   node:send(member, kind, payload)  kind an integer 0..255, payload any value that can be sent
 *   node:set_timeout(dt | nil)  node:declare() -> true | false (backs another)
 *   node:back(member) -> boolean  node:campaign()  node:announce_to(member)  node:touch()
 * and reads node.id (its name), node.epoch, node.current_leader, node.is_leader,
 * node.backed, node.members (sorted), node:is_alive(member), node.quorum,
 * node.election_timeout, node:random() (a stream of its own).
 *
 * CALLBACKS ARE PROCESSES of the node (hs_proc_call: a pooled thread, no coroutine made per
 * call), so they may hs.sleep and hs.await. One that does not wait answers the core at once,
 * as a plain call would. Per node they run ONE AT A TIME, like an actor: while a callback waits,
 * the inputs the core hands the strategy (messages, its timer, the questions should_start_election
 * and accept_leader, start_election) queue in order (linput), and a drain timer delivers them
 * when no callback waits any more. A question that no longer stands when its turn comes is
 * dropped (should_start_election once a leader is known, start_election of an epoch gone by,
 * accept_leader asked in another epoch or once a leader is known). What the callback itself
 * causes runs at once, nested (node:campaign() calls start_election). The core keeps running
 * meanwhile: heartbeats, acknowledgements, epochs. A question answered after a wait, or from
 * the queue, goes to the core as a late answer (hs_elect.h: hs_elect_campaign_if_leaderless,
 * hs_elect_accept_leader); until then the core took "not now" (false). A crash bumps the node's
 * life: its waiting callbacks are killed with the entity, the queue is dropped, and a callback
 * of an earlier life never acts (its services do nothing, its answer is ignored). An error in a
 * callback stops the run through the door: time, entity, callback, event, traceback.
 *
 * Class user value HS_CENTITY_UV is a table { strategy =, history = {...}, members = {sorted
 * names}, network =, checker = }.
 */
#include <stdlib.h>
#include <string.h>

#include "coord/hs_elect_node.h"
#include "coord/hs_elect_strategies.h"
#include "hs_lua_centity.h"
#include "hs_lua_net.h"
#include "protocols/hs_lua_protocols.h"

#define ELECT_MT "happysim.LeaderElection"
#define CHECKER_MT "happysim.ElectionChecker"
#define STRATEGY_MT "happysim.ElectionStrategyBuiltin"

enum { S_LUA = 0, S_BULLY, S_RING, S_RANDOMIZED };

typedef struct lchecker {
  hs_elect_invariants inv;
  int live;
} lchecker;

/* An input for a Lua strategy kept while its callbacks wait (see the top of the file). */
typedef struct linput {
  uint8_t op;     /* OP_* */
  uint8_t kind;   /* OP_MESSAGE: its kind */
  uint32_t who;   /* OP_MESSAGE: the sender; OP_ACCEPT: the leader */
  uint64_t epoch; /* OP_START: the election's; OP_MESSAGE: the message's; OP_ACCEPT: when asked */
  uint8_t *data;  /* OP_MESSAGE: the payload's encoding (owned) */
  uint32_t len;
} linput;

#define ELECT_QUEUE_MAX 65536u /* inputs kept for a strategy whose callbacks wait */

typedef struct lelect {
  hs_lua_centity base;
  hs_elect_node node;
  hs_lnet *ln;
  int inited, started, start_deferred;
  int kind;                 /* S_* */
  hs_elect_config cfg;      /* timeouts (checked at construction) */
  hs_elect_bully_config bully;
  hs_elect_ring_config ring;
  hs_elect_randomized_config randomized;
  lchecker *checker;        /* optional, anchored by the state table */
  uint32_t n_members;
  lua_State *L;             /* the Lua thread calling into the node now, if any */
  lua_State *main;
  uint32_t lua_messages;    /* messages sent by a Lua strategy */
  /* a Lua strategy's callbacks (see the top of the file) */
  uint32_t life;             /* bumped at each crash: callbacks of an earlier life never act */
  uint32_t waiting;          /* callbacks now waiting (hs.sleep, hs.await) */
  linput *queue;             /* inputs that came while callbacks waited: a ring */
  uint32_t q_head, q_len, q_cap;
  hs_timer drain;            /* delivers the queue once no callback waits */
  int drain_inited;
  int applying;              /* a late answer is being given to the core */
  uint64_t late_refused;     /* messages refused by a handle_election_message that had waited */
} lelect;

static const hs_lua_class elect_class;

static lua_State *thread_of(lelect *r) {
  if (r->L) return r->L;
  lua_State *L = hs_lsim_of(r->base.e.sim)->L;
  return L ? L : r->main;
}

static void push_state(lua_State *L, lelect *r) {
  hs_push_entity_object(L, hs_lsim_of(r->base.e.sim), &r->base.e);
  lua_getiuservalue(L, -1, HS_CENTITY_UV);
  lua_remove(L, -2);
}

/* Pushes the name of member id (nil when none). */
static void push_member(lua_State *L, lelect *r, uint32_t id) {
  if (id == HS_ELECT_NONE || id > r->n_members) {
    lua_pushnil(L);
    return;
  }
  push_state(L, r);
  lua_getfield(L, -1, "members");
  lua_rawgeti(L, -1, id);
  lua_replace(L, -3);
  lua_pop(L, 1);
}

/* The id of the member named at idx (0 when not a member). */
static uint32_t member_id_of(lua_State *L, lelect *r, int idx) {
  idx = lua_absindex(L, idx);
  const char *name = NULL;
  if (lua_type(L, idx) == LUA_TSTRING) name = lua_tostring(L, idx);
  else {
    lelect *o = luaL_testudata(L, idx, ELECT_MT);
    if (o) name = o->base.e.name;
  }
  if (!name) return 0;
  push_state(L, r);
  lua_getfield(L, -1, "members");
  uint32_t found = 0;
  for (uint32_t i = 1; i <= r->n_members && !found; i++) {
    lua_rawgeti(L, -1, i);
    if (strcmp(lua_tostring(L, -1), name) == 0) found = i;
    lua_pop(L, 1);
  }
  lua_pop(L, 2);
  return found;
}

/* ---- a strategy written in Lua: its callbacks are processes of the node, one at a time ---------- */

enum { OP_SHOULD = 0, OP_START, OP_MESSAGE, OP_TIMEOUT, OP_ACCEPT, OP_RESET, OP_COUNT };

static const char *const op_method[OP_COUNT] = {"should_start_election", "start_election", "handle_election_message",
                                                "on_timeout", "accept_leader", "reset"};
static const char *const op_kind[OP_COUNT] = {
    "election strategy should_start_election", "election strategy start_election",
    "election strategy handle_election_message", "election strategy on_timeout",
    "election strategy accept_leader", "election strategy reset"};
/* The event a queued input came with, named when it runs later (NULL: the one running then). */
static const char *const op_event[OP_COUNT] = {NULL, NULL, "Election", "ElectionStrategyTimer", "LeaderHeartbeat", NULL};

static void strategy_ended(const hs_proc_end *end, lua_State *L, int nres, int status);

static const char *current_event(const lelect *r) {
  const hs_event *ev = r->base.e.sim->current;
  return ev ? ev->type : NULL;
}

static uint32_t life_of(const hs_proc_end *end) { return (uint32_t)(end->data[0] >> 32); }

/* Whether the code running now is a callback of this node's strategy, of its current life: its
 * services act, and a callback it causes (node:campaign() calls start_election) runs at once,
 * nested, as a method call would. */
static int in_callback(const lelect *r) {
  const hs_lproc *p = hs_proc_running();
  return p && p->end.fn == strategy_ended && p->end.ud == r && life_of(&p->end) == r->life;
}

/* Whether an input the core gives the strategy now must wait its turn: a callback waits (or
 * inputs queue already), and the input is not caused by the strategy itself (a nested call,
 * or the consequence of a late answer being given). */
static int must_queue(const lelect *r) { return (r->waiting || r->q_len) && !r->applying && !in_callback(r); }

static void clear_queue(lelect *r) {
  for (uint32_t i = 0; i < r->q_len; i++) free(r->queue[(r->q_head + i) % r->q_cap].data);
  r->q_head = r->q_len = 0;
}

/* Keeps an input until the callbacks before it finish (data, if any, is taken). A question
 * asked again while one like it waits is not kept twice; a full queue stops the run. */
static void enqueue(lua_State *L, lelect *r, linput in) {
  for (uint32_t i = 0; (in.op == OP_SHOULD || in.op == OP_ACCEPT) && i < r->q_len; i++) {
    const linput *q = &r->queue[(r->q_head + i) % r->q_cap];
    if (q->op == in.op && (in.op == OP_SHOULD || (in.op == OP_ACCEPT && q->who == in.who && q->epoch == in.epoch))) {
      free(in.data);
      return;
    }
  }
  if (r->q_len == r->q_cap) {
    uint32_t cap = r->q_cap ? r->q_cap * 2 : 8;
    linput *q = cap <= ELECT_QUEUE_MAX ? malloc(cap * sizeof *q) : NULL;
    if (!q) {
      free(in.data);
      hs_door_site site = {op_kind[in.op], NULL, &r->base.e, current_event(r)};
      lua_pushfstring(L, "%d inputs wait for the strategy while its callbacks wait (hs.sleep, hs.await): "
                         "a callback that never finishes?", (int)r->q_len);
      hs_door_fail(L, hs_lsim_of(r->base.e.sim), NULL, &site);
      return;
    }
    for (uint32_t i = 0; i < r->q_len; i++) q[i] = r->queue[(r->q_head + i) % r->q_cap];
    free(r->queue);
    r->queue = q;
    r->q_cap = cap;
    r->q_head = 0;
  }
  r->queue[(r->q_head + r->q_len) % r->q_cap] = in;
  r->q_len++;
}

/* Runs strategy:<op>(node, ...) with the nargs values on top of L (popped) as a process of the
 * node. LUA_OK: it returned without waiting; its first result is on L. LUA_YIELD: it waits
 * (hs.sleep, hs.await) and gives its answer when it ends (strategy_ended). Otherwise nothing is
 * on L: it raised (the door reported it: the run stops), or the node crashed under it. */
static int run_callback(lua_State *L, lelect *r, int op, int nargs, uint32_t who, uint64_t epoch, const char *event) {
  hs_lsim *ls = hs_lsim_of(r->base.e.sim);
  int base = lua_gettop(L) - nargs;
  push_state(L, r);
  lua_getfield(L, -1, "strategy");
  lua_remove(L, -2);
  if (lua_getfield(L, -1, op_method[op]) != LUA_TFUNCTION) { /* changed since the node was built */
    const char *type = hs_typename_of(L, -1);
    lua_settop(L, base);
    lua_pushfstring(L, "the strategy's '%s' is not a function (%s)", op_method[op], type);
    hs_door_site site = {op_kind[op], NULL, &r->base.e, event};
    hs_door_fail(L, ls, NULL, &site);
    return LUA_ERRRUN;
  }
  lua_insert(L, base + 1); /* fn args... strategy */
  lua_insert(L, base + 2); /* fn strategy args... */
  hs_push_entity_object(L, ls, &r->base.e);
  lua_insert(L, base + 3); /* fn strategy node args... */
  hs_proc_end end = {strategy_ended, r, {(uint64_t)op | (uint64_t)who << 8 | (uint64_t)r->life << 32, epoch},
                     op_kind[op]};
  int st = hs_proc_call(L, ls, nargs + 2, 1, &r->base.e, event, &end);
  if (st == LUA_YIELD) r->waiting++;
  return st;
}

/* Gives the core the answer on top of L of a callback that waited (or ran from the queue): a
 * yes to should_start_election campaigns if the node still has no leader, a yes to
 * accept_leader accepts the leader if the node is still in that epoch (hs_elect.h,
 * asynchronous answers), a false from handle_election_message counts the message malformed. */
static void apply_answer(lua_State *L, lelect *r, int op, uint32_t who, uint64_t epoch) {
  hs_elect *e = r->node.elect;
  hs_time_ns now = r->base.e.sim->now_ns;
  lua_State *saved = r->L;
  r->L = L;
  r->applying++;
  if (op == OP_SHOULD && lua_toboolean(L, -1))
    hs_elect_campaign_if_leaderless(e, now);
  else if (op == OP_ACCEPT && (lua_isnil(L, -1) || lua_toboolean(L, -1)))
    hs_elect_accept_leader(e, who, epoch, now);
  else if (op == OP_MESSAGE && lua_isboolean(L, -1) && !lua_toboolean(L, -1))
    r->late_refused++;
  r->applying--;
  r->L = saved;
}

/* A callback that waited has ended (hs_proc_end): its answer goes to the core, and once no
 * callback waits the queued inputs are delivered, in order, by the drain timer. A callback of
 * an earlier life (its node crashed since) never acts. */
static void strategy_ended(const hs_proc_end *end, lua_State *L, int nres, int status) {
  lelect *r = end->ud;
  if (life_of(end) != r->life) return;
  HS_ASSERT(r->waiting > 0);
  r->waiting--;
  if (status == LUA_OK && !hs_elect_crashed(r->node.elect)) {
    if (nres)
      lua_pushvalue(L, -nres);
    else
      lua_pushnil(L);
    apply_answer(L, r, (int)(end->data[0] & 0xff), (uint32_t)(end->data[0] >> 8) & 0xffffff, end->data[1]);
    lua_pop(L, 1);
  }
  if (!r->waiting && r->q_len && !hs_elect_crashed(r->node.elect)) hs_timer_start(&r->drain, 0);
}

/* Pushes the arguments of handle_election_message after the node: from, kind, payload, epoch. */
static void push_message(lua_State *L, lelect *r, uint32_t from, uint8_t kind, const uint8_t *data, uint32_t len,
                         uint64_t epoch) {
  push_member(L, r, from);
  lua_pushinteger(L, kind);
  hs_lua_decode(L, data, len);
  lua_pushinteger(L, (lua_Integer)epoch);
}

/* Runs a queued input, unless the question it asks no longer stands (should_start_election
 * while a leader is known, start_election of an epoch gone by, accept_leader asked in another
 * epoch or once a leader is known); its answer goes to the core. */
static void deliver(lua_State *L, lelect *r, const linput *in) {
  hs_elect *e = r->node.elect;
  int nargs = 0;
  switch (in->op) {
  case OP_SHOULD:
    if (hs_elect_is_leader(e) || hs_elect_leader(e) != HS_ELECT_NONE) return;
    break;
  case OP_START:
    if (hs_elect_epoch(e) != in->epoch) return;
    break;
  case OP_ACCEPT:
    if (hs_elect_epoch(e) != in->epoch || hs_elect_is_leader(e) || hs_elect_leader(e) != HS_ELECT_NONE) return;
    push_member(L, r, in->who);
    nargs = 1;
    break;
  case OP_MESSAGE:
    push_message(L, r, in->who, in->kind, in->data, in->len, in->epoch);
    nargs = 4;
    break;
  default: break;
  }
  const char *event = op_event[in->op] ? op_event[in->op] : current_event(r);
  if (run_callback(L, r, in->op, nargs, in->who, in->epoch, event) != LUA_OK) return;
  apply_answer(L, r, in->op, in->who, in->epoch);
  lua_pop(L, 1);
}

/* The drain timer: the inputs that queued while callbacks waited, in order, until one waits. */
static void on_drain(hs_entity *owner, hs_timer *t) {
  (void)owner;
  lelect *r = HS_CONTAINER_OF(t, lelect, drain);
  lua_State *L = thread_of(r);
  uint32_t life = r->life;
  while (r->q_len && !r->waiting && r->life == life && !hs_elect_crashed(r->node.elect)) {
    linput in = r->queue[r->q_head];
    r->q_head = (r->q_head + 1) % r->q_cap;
    r->q_len--;
    deliver(L, r, &in);
    free(in.data);
  }
}

/* The node crashed: its strategy's waiting callbacks are killed with it (they never act: the
 * life changes) and the inputs queued for them are dropped. */
static void forget_callbacks(lelect *r) {
  r->life++;
  r->waiting = 0;
  clear_queue(r);
  hs_timer_stop(&r->drain);
}

/* ---- the vtable (hs_elect_strategy_ops) over those callbacks ---- */

static bool ls_should(void *self, hs_elect *e, hs_time_ns now) {
  (void)e, (void)now;
  lelect *r = self;
  lua_State *L = thread_of(r);
  if (must_queue(r)) {
    enqueue(L, r, (linput){.op = OP_SHOULD});
    return false; /* not now: the answer comes when its turn comes */
  }
  if (run_callback(L, r, OP_SHOULD, 0, 0, 0, current_event(r)) != LUA_OK) return false;
  bool b = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return b;
}

static void ls_start(void *self, hs_elect *e, hs_time_ns now) {
  (void)now;
  lelect *r = self;
  lua_State *L = thread_of(r);
  if (must_queue(r)) {
    enqueue(L, r, (linput){.op = OP_START, .epoch = hs_elect_epoch(e)});
    return;
  }
  if (run_callback(L, r, OP_START, 0, 0, hs_elect_epoch(e), current_event(r)) == LUA_OK) lua_pop(L, 1);
}

static int ls_handle(void *self, hs_elect *e, const hs_elect_msg *m, hs_time_ns now) {
  (void)e, (void)now;
  lelect *r = self;
  if (m->type != HS_ELECT_MSG_CUSTOM || m->len == 0 || hs_value_size((hs_value){m->data, m->len}) != m->len)
    return HS_EINVAL;
  lua_State *L = thread_of(r);
  if (must_queue(r)) {
    uint8_t *copy = malloc(m->len);
    if (!copy) return HS_OK; /* out of memory: as if the message were lost */
    memcpy(copy, m->data, m->len);
    enqueue(L, r, (linput){.op = OP_MESSAGE, .kind = m->kind, .who = m->from, .epoch = m->epoch, .data = copy,
                           .len = m->len});
    return HS_OK;
  }
  push_message(L, r, m->from, m->kind, m->data, m->len, m->epoch);
  if (run_callback(L, r, OP_MESSAGE, 4, m->from, m->epoch, current_event(r)) != LUA_OK) return HS_OK;
  int refused = lua_isboolean(L, -1) && !lua_toboolean(L, -1);
  lua_pop(L, 1);
  return refused ? HS_EINVAL : HS_OK;
}

static void ls_timeout(void *self, hs_elect *e, hs_time_ns now) {
  (void)e, (void)now;
  lelect *r = self;
  lua_State *L = thread_of(r);
  if (must_queue(r)) {
    enqueue(L, r, (linput){.op = OP_TIMEOUT});
    return;
  }
  if (run_callback(L, r, OP_TIMEOUT, 0, 0, 0, current_event(r)) == LUA_OK) lua_pop(L, 1);
}

/* Whether the strategy has the optional method of op (nil: it has not). */
static int has_method(lua_State *L, lelect *r, int op) {
  push_state(L, r);
  lua_getfield(L, -1, "strategy");
  int t = lua_getfield(L, -1, op_method[op]);
  lua_pop(L, 3);
  return t != LUA_TNIL;
}

/* Without an accept_leader method every leader the core allows is accepted, and no callback runs. */
static bool ls_accept(void *self, hs_elect *e, uint32_t leader, hs_time_ns now) {
  (void)now;
  lelect *r = self;
  lua_State *L = thread_of(r);
  if (!has_method(L, r, OP_ACCEPT)) return true;
  if (must_queue(r)) {
    enqueue(L, r, (linput){.op = OP_ACCEPT, .who = leader, .epoch = hs_elect_epoch(e)});
    return false; /* refused for now: a yes later accepts it (hs_elect_accept_leader) */
  }
  push_member(L, r, leader);
  if (run_callback(L, r, OP_ACCEPT, 1, leader, hs_elect_epoch(e), current_event(r)) != LUA_OK) return false;
  bool b = lua_isnil(L, -1) || lua_toboolean(L, -1);
  lua_pop(L, 1);
  return b;
}

/* At a crash (after forget_callbacks: nothing queues) and a restart (a fresh start). */
static void ls_reset(void *self, hs_elect *e) {
  (void)e;
  lelect *r = self;
  lua_State *L = thread_of(r);
  if (!has_method(L, r, OP_RESET)) return;
  if (run_callback(L, r, OP_RESET, 0, 0, 0, current_event(r)) == LUA_OK) lua_pop(L, 1);
}

static const hs_elect_strategy_ops lua_strategy_ops = {.name = "lua",
                                                       .message_types = 1u << HS_ELECT_MSG_CUSTOM,
                                                       .should_start_election = ls_should,
                                                       .start_election = ls_start,
                                                       .handle_message = ls_handle,
                                                       .on_timeout = ls_timeout,
                                                       .accept_leader = ls_accept,
                                                       .reset = ls_reset,
                                                       .destroy = NULL};

/* ---- the services of the node, for its strategy's callbacks ---- */

/* The core a service acts on for the running callback of this node's strategy: raises outside
 * one; NULL when the node crashed after the callback began (the service then does nothing). */
static hs_elect *service(lua_State *L, lelect **out, const char *fname) {
  lelect *r = hs_lua_check_centity(L, 1, &elect_class);
  const hs_lproc *p = hs_proc_running();
  if (!p || p->end.fn != strategy_ended || p->end.ud != r)
    luaL_error(L, "%s: LeaderElection '%s': strategy services are only valid inside a strategy method", fname,
               r->base.e.name);
  *out = r;
  if (life_of(&p->end) != r->life || hs_elect_crashed(r->node.elect)) return NULL;
  return r->node.elect;
}

static uint32_t check_member(lua_State *L, lelect *r, int arg) {
  uint32_t id = member_id_of(L, r, arg);
  if (!id) luaL_argerror(L, arg, lua_pushfstring(L, "not a member of '%s'", r->base.e.name));
  return id;
}

/* node:send(member, kind, payload) */
static int l_send(lua_State *L) {
  lelect *r;
  hs_elect *e = service(L, &r, "send");
  uint32_t to = check_member(L, r, 2);
  lua_Integer kind = hs_check_integer(L, 3);
  luaL_argcheck(L, kind >= 0 && kind <= 255, 3, "kind must be an integer in [0, 255]");
  luaL_checkany(L, 4);
  if (to == hs_elect_id(r->node.elect)) return luaL_argerror(L, 2, "a node does not send to itself");
  hs_buf *b = hs_lua_newbuf(L); /* a payload that cannot be encoded raises: the collector frees b */
  hs_lua_encode(L, b, 4, "send: payload");
  if (e) {
    hs_elect_msg m = {.type = HS_ELECT_MSG_CUSTOM, .to = to, .kind = (uint8_t)kind, .data = b->data, .len = (uint32_t)b->len};
    lua_State *saved = r->L;
    r->L = L;
    hs_elect_send(e, &m);
    r->L = saved;
    r->lua_messages++;
  }
  hs_buf_free(b);
  return 0;
}

static int l_set_timeout(lua_State *L) {
  lelect *r;
  hs_elect *e = service(L, &r, "set_timeout");
  hs_time_ns at = HS_TIME_NEVER;
  if (!lua_isnoneornil(L, 2)) at = r->base.e.sim->now_ns + hs_time_from_s(hs_check_seconds(L, 2, "delay"));
  if (e) hs_elect_set_timeout(e, at);
  return 0;
}

static int l_declare(lua_State *L) {
  lelect *r;
  hs_elect *e = service(L, &r, "declare");
  int ok = 0;
  if (e) {
    lua_State *saved = r->L;
    r->L = L;
    ok = hs_elect_declare(e, r->base.e.sim->now_ns) == HS_OK;
    r->L = saved;
  }
  lua_pushboolean(L, ok);
  return 1;
}

static int l_back(lua_State *L) {
  lelect *r;
  hs_elect *e = service(L, &r, "back");
  uint32_t id = check_member(L, r, 2);
  lua_pushboolean(L, e && hs_elect_back(e, id));
  return 1;
}

static int l_campaign(lua_State *L) {
  lelect *r;
  hs_elect *e = service(L, &r, "campaign");
  if (e) {
    lua_State *saved = r->L;
    r->L = L;
    hs_elect_campaign(e, r->base.e.sim->now_ns);
    r->L = saved;
  }
  return 0;
}

static int l_announce_to(lua_State *L) {
  lelect *r;
  hs_elect *e = service(L, &r, "announce_to");
  uint32_t id = check_member(L, r, 2);
  if (e) hs_elect_announce_to(e, id);
  return 0;
}

static int l_touch(lua_State *L) {
  lelect *r;
  hs_elect *e = service(L, &r, "touch");
  if (e) hs_elect_touch(e, r->base.e.sim->now_ns);
  return 0;
}

static int l_is_alive(lua_State *L) {
  lelect *r = hs_lua_check_centity(L, 1, &elect_class);
  if (!r->inited) return luaL_error(L, "is_alive: LeaderElection '%s' is not built", r->base.e.name);
  lua_pushboolean(L, hs_elect_alive(r->node.elect, check_member(L, r, 2)));
  return 1;
}

/* ---- hooks and entity ------------------------------------------------------------------------ */

static void hook_leader(void *ud, const hs_elect_leader_event *ev) {
  lelect *r = ud;
  hs_trace_role(hs_lsim_of(r->base.e.sim), &r->base.e, ev->is_self ? "leader" : "member");
  lua_State *L = thread_of(r);
  push_state(L, r);
  lua_getfield(L, -1, "history");
  lua_createtable(L, 0, 3);
  lua_pushnumber(L, hs_time_to_s(ev->now));
  lua_setfield(L, -2, "time");
  lua_pushinteger(L, (lua_Integer)ev->epoch);
  lua_setfield(L, -2, "epoch");
  push_member(L, r, ev->leader);
  lua_setfield(L, -2, "leader");
  lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
  lua_pop(L, 2);
}

static void on_message(hs_entity *e, hs_message *m) {
  lelect *r = (lelect *)e;
  if (r->started && hs_elect_node_is_protocol(m)) hs_elect_node_on_message(&r->node, m);
}

static void on_crash(hs_entity *e) {
  lelect *r = (lelect *)e;
  if (!r->started) return;
  if (r->kind == S_LUA) forget_callbacks(r);
  hs_elect_node_on_crash(&r->node);
}

static void on_restart(hs_entity *e) {
  lelect *r = (lelect *)e;
  if (r->started) hs_elect_node_on_restart(&r->node);
}

static const hs_entity_vtable elect_vt = {.kind = "LeaderElection", .on_crash = on_crash, .on_restart = on_restart,
                                          .on_message = on_message};

static void build_core(lua_State *L, lelect *r, int self_idx);

/* Whether member p (at p_idx) lists the same group as r, whose members table is at members_idx:
 * the ids of the group are positions in the sorted list, so every node must hold the same list. */
static int same_group(lua_State *L, int members_idx, int p_idx, lelect *r, lelect *p) {
  if (p == r) return 1;
  if (p->n_members != r->n_members) return 0;
  lua_getiuservalue(L, p_idx, HS_CENTITY_UV);
  lua_getfield(L, -1, "members");
  int same = 1;
  for (uint32_t i = 1; i <= r->n_members && same; i++) {
    lua_rawgeti(L, members_idx, i);
    lua_rawgeti(L, -2, i);
    same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
  }
  lua_pop(L, 2);
  return same;
}

/* node:add_member(x): x (a LeaderElection or a name) joins the group (the seed's add_member), before
 * the node starts. Members are numbered by name, so a new one renumbers the group: the core (still
 * stopped) is rebuilt, and start() checks that every member lists the same group. A running group
 * keeps its members: a new one would change the quorum under elections in flight. */
static int l_add_member(lua_State *L) {
  lelect *r = luaL_checkudata(L, 1, ELECT_MT);
  if (r->base.closed) return luaL_error(L, "add_member: LeaderElection '%s': use after close", r->base.e.name);
  if (!r->base.detached) r = hs_lua_check_centity(L, 1, &elect_class);
  const char *name = NULL;
  lelect *o = luaL_testudata(L, 2, ELECT_MT);
  if (o) name = o->base.e.name;
  else if (lua_type(L, 2) == LUA_TSTRING) name = lua_tostring(L, 2);
  if (!name)
    return luaL_argerror(L, 2, lua_pushfstring(L, "LeaderElection or name expected, got %s", hs_typename_of(L, 2)));
  if (r->started || r->start_deferred)
    return luaL_error(L, "add_member: LeaderElection '%s' is started: a running group keeps its members",
                      r->base.e.name);
  lua_settop(L, 2);
  lua_getiuservalue(L, 1, HS_CENTITY_UV); /* 3 */
  lua_getfield(L, 3, "members");          /* 4 */
  uint32_t at = r->n_members + 1;         /* where name goes in the sorted list */
  for (uint32_t i = 1; i <= r->n_members; i++) {
    lua_rawgeti(L, 4, i);
    int c = strcmp(name, lua_tostring(L, -1));
    lua_pop(L, 1);
    if (c == 0) return 0; /* a member already */
    if (c < 0) {
      at = i;
      break;
    }
  }
  if (r->n_members == HS_ELECT_MAX_MEMBERS) return luaL_error(L, "add_member: too many members");
  for (uint32_t i = r->n_members; i >= at; i--) {
    lua_rawgeti(L, 4, i);
    lua_rawseti(L, 4, i + 1);
  }
  lua_pushstring(L, name);
  lua_rawseti(L, 4, at);
  r->n_members++;
  if (r->inited) { /* attached: the stopped core has the old ids */
    hs_elect_node_free(&r->node);
    r->inited = 0;
    build_core(L, r, 1);
  }
  return 0;
}

/* node:start(): resolves the members to their nodes and arms the failure check. */
static int l_start(lua_State *L) {
  lelect *r = luaL_checkudata(L, 1, ELECT_MT);
  if (hs_lua_defer_start(L, &r->base, &r->start_deferred)) return 1; /* starts once attached */
  r = hs_lua_check_centity(L, 1, &elect_class);
  if (r->started) return luaL_error(L, "start: LeaderElection '%s' is already started", r->base.e.name);
  lua_settop(L, 1);
  lua_getiuservalue(L, 1, HS_CENTITY_UV); /* 2 */
  lua_getfield(L, 2, "members");          /* 3 */
  lua_getiuservalue(L, 1, 1);             /* 4: sim */
  hs_push_uv_table(L, 4, "names");        /* 5 */
  for (uint32_t i = 1; i <= r->n_members; i++) {
    lua_rawgeti(L, 3, i);
    if (lua_getfield(L, 5, lua_tostring(L, -1)) == LUA_TNIL)
      return luaL_error(L, "start: LeaderElection '%s' has an unknown member '%s'", r->base.e.name, lua_tostring(L, -2));
    lelect *p = luaL_testudata(L, -1, ELECT_MT);
    if (!p) return luaL_error(L, "start: member '%s' of '%s' is not a LeaderElection", lua_tostring(L, -2), r->base.e.name);
    if (p->ln != r->ln) return luaL_error(L, "start: member '%s' is on another network", p->base.e.name);
    if (!same_group(L, 3, lua_gettop(L), r, p))
      return luaL_error(L,
                        "start: LeaderElection '%s' and its member '%s' list different groups (%d and %d members): "
                        "give every node of a group the same members before any of them starts",
                        r->base.e.name, p->base.e.name, (int)r->n_members, (int)p->n_members);
    hs_elect_node_set_peer(&r->node, i, &p->base.e);
    lua_pop(L, 2);
  }
  if (r->checker && !r->node.invariants && hs_elect_node_watch(&r->node, &r->checker->inv) != HS_OK)
    return luaL_error(L, "start: LeaderElection '%s': its checker could not watch it", r->base.e.name);
  r->started = 1;
  lua_State *saved = r->L;
  r->L = L;
  int rc = hs_elect_node_start(&r->node);
  r->L = saved;
  hs_door_raise(L, hs_lsim_of(r->base.e.sim));
  if (rc != HS_OK) return luaL_error(L, "start: %s", hs_elect_strerror(rc));
  lua_settop(L, 1);
  return 1;
}

/* node:set_alive(member, alive): the membership view (e.g. from SWIM) */
static int l_set_alive(lua_State *L) {
  lelect *r = hs_lua_check_centity(L, 1, &elect_class);
  if (!r->started) return luaL_error(L, "set_alive: LeaderElection '%s' is not started", r->base.e.name);
  uint32_t id = check_member(L, r, 2);
  luaL_checktype(L, 3, LUA_TBOOLEAN);
  lua_State *saved = r->L;
  r->L = L;
  hs_elect_set_alive(r->node.elect, id, lua_toboolean(L, 3), r->base.e.sim->now_ns);
  r->L = saved;
  hs_door_raise(L, hs_lsim_of(r->base.e.sim));
  return 0;
}

static void push_stats(lua_State *L, lelect *r) {
  hs_elect_stats s;
  hs_elect_get_stats(r->node.elect, &s);
  lua_createtable(L, 0, 12);
  push_member(L, r, s.current_leader);
  lua_setfield(L, -2, "current_leader");
#define FIELD(f)                                                                                                       \
  lua_pushinteger(L, (lua_Integer)s.f);                                                                                \
  lua_setfield(L, -2, #f)
  FIELD(current_term);
  FIELD(elections_started);
  FIELD(elections_won);
  FIELD(elections_participated);
  FIELD(leaders_confirmed);
  FIELD(heartbeats_sent);
  FIELD(messages_sent);
  FIELD(malformed);
#undef FIELD
  lua_pushinteger(L, (lua_Integer)(s.malformed + r->late_refused));
  lua_setfield(L, -2, "malformed");
  lua_pushboolean(L, s.is_leader);
  lua_setfield(L, -2, "is_leader");
  lua_pushboolean(L, s.crashed);
  lua_setfield(L, -2, "crashed");
}

static int get_field(lua_State *L, void *self, const char *k) {
  lelect *r = self;
  hs_elect *e = r->node.elect;
  if (strcmp(k, "current_leader") == 0)
    push_member(L, r, hs_elect_crashed(e) ? HS_ELECT_NONE : hs_elect_leader(e));
  else if (strcmp(k, "is_leader") == 0)
    lua_pushboolean(L, !hs_elect_crashed(e) && hs_elect_is_leader(e));
  else if (strcmp(k, "epoch") == 0 || strcmp(k, "current_term") == 0)
    lua_pushinteger(L, (lua_Integer)hs_elect_epoch(e));
  else if (strcmp(k, "backed") == 0)
    push_member(L, r, hs_elect_backed(e));
  else if (strcmp(k, "id") == 0)
    lua_pushstring(L, r->base.e.name);
  else if (strcmp(k, "quorum") == 0)
    lua_pushinteger(L, hs_elect_quorum(e));
  else if (strcmp(k, "election_timeout") == 0)
    lua_pushnumber(L, hs_time_to_s(hs_elect_election_timeout(e)));
  else if (strcmp(k, "heartbeat_interval") == 0)
    lua_pushnumber(L, hs_time_to_s(hs_elect_heartbeat_interval(e)));
  else if (strcmp(k, "started") == 0)
    lua_pushboolean(L, r->started);
  else if (strcmp(k, "stats") == 0)
    push_stats(L, r);
  else if (strcmp(k, "strategy_messages") == 0)
    lua_pushinteger(L, r->lua_messages);
  else if (strcmp(k, "history") == 0 || strcmp(k, "members") == 0 || strcmp(k, "strategy") == 0 ||
           strcmp(k, "network") == 0) {
    lua_getiuservalue(L, 1, HS_CENTITY_UV);
    lua_getfield(L, -1, k);
    if (strcmp(k, "members") == 0) { /* a copy: the node's own list stays as it is */
      lua_createtable(L, (int)r->n_members, 0);
      for (uint32_t i = 1; i <= r->n_members; i++) {
        lua_rawgeti(L, -2, i);
        lua_rawseti(L, -2, i);
      }
    }
  } else
    return 0;
  return 1;
}

static void finalize(void *self) {
  lelect *r = self;
  if (r->drain_inited) hs_timer_stop(&r->drain);
  r->drain_inited = 0;
  if (r->inited) hs_elect_node_free(&r->node);
  r->inited = 0;
  clear_queue(r);
  free(r->queue);
  r->queue = NULL;
  r->q_cap = 0;
}

static int l_random(lua_State *L);

static const luaL_Reg methods[] = {{"start", l_start},         {"add_member", l_add_member}, {"set_alive", l_set_alive},
                                   {"send", l_send},
                                   {"set_timeout", l_set_timeout}, {"declare", l_declare},   {"back", l_back},
                                   {"campaign", l_campaign},   {"announce_to", l_announce_to}, {"touch", l_touch},
                                   {"is_alive", l_is_alive},   {"random", l_random},         {NULL, NULL}};

static void attach(lua_State *L, void *self, int self_idx, int sim_idx);
static const hs_lua_class elect_class = {"LeaderElection", sizeof(lelect), &elect_vt, methods, get_field, finalize, 1,
                                         attach};

/* node:random(): the node's own random stream (sim:random("election:<name>")) */
static int l_random(lua_State *L) {
  lelect *r = hs_lua_check_centity(L, 1, &elect_class);
  lua_getiuservalue(L, 1, 1);
  lua_getfield(L, -1, "random");
  lua_insert(L, -2);
  lua_pushfstring(L, "election:%s", r->base.e.name);
  lua_call(L, 2, 1);
  return 1;
}

/* ---- construction ------------------------------------------------------------------------------ */

/* Makes the core and its adapter for the members listed now (the node is at self_idx). */
static void build_core(lua_State *L, lelect *r, int self_idx) {
  int top = lua_gettop(L);
  lua_getiuservalue(L, self_idx, HS_CENTITY_UV);
  int state = lua_gettop(L);
  lua_getfield(L, state, "members");
  int members = lua_gettop(L);
  uint32_t ids[HS_ELECT_MAX_MEMBERS];
  uint32_t self_id = 0;
  for (uint32_t i = 1; i <= r->n_members; i++) {
    ids[i - 1] = i;
    lua_rawgeti(L, members, i);
    if (strcmp(lua_tostring(L, -1), r->base.e.name) == 0) self_id = i;
    lua_pop(L, 1);
  }
  if (!self_id) luaL_error(L, "LeaderElection '%s': not among its members", r->base.e.name);
  hs_elect_config cfg = r->cfg;
  cfg.id = self_id;
  cfg.members = ids;
  cfg.n_members = r->n_members;
  char stream[160];
  snprintf(stream, sizeof stream, "election:%s:core", r->base.e.name);
  hs_sim_stream(r->base.e.sim, &cfg.rng, stream, strlen(stream));
  int rc = HS_OK;
  switch (r->kind) {
  case S_BULLY: rc = hs_elect_bully_new(&r->bully, &cfg.strategy); break;
  case S_RING: rc = hs_elect_ring_new(&r->ring, &cfg.strategy); break;
  case S_RANDOMIZED: rc = hs_elect_randomized_new(&r->randomized, &cfg.strategy); break;
  default: cfg.strategy = (hs_elect_strategy){&lua_strategy_ops, r}; break;
  }
  if (rc != HS_OK) luaL_error(L, "LeaderElection '%s': %s", r->base.e.name, hs_elect_strerror(rc));
  hs_elect_node_hooks hooks = {.leader_changed = hook_leader, .ud = r};
  rc = hs_elect_node_init(&r->node, &r->base.e, &r->ln->net, &r->ln->pool, &cfg, &hooks);
  if (rc != HS_OK) luaL_error(L, "LeaderElection '%s': %s", r->base.e.name, hs_elect_strerror(rc));
  r->inited = 1;
  lua_settop(L, top);
}

static void attach(lua_State *L, void *self, int self_idx, int sim_idx) {
  (void)sim_idx;
  lelect *r = self;
  build_core(L, r, self_idx);
  if (r->kind == S_LUA) {
    hs_timer_init(&r->drain, &r->base.e, "ElectionStrategyInput", on_drain);
    r->drain_inited = 1;
  }
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Adds name to names[0..*n) unless it is there already. */
static void add_name(lua_State *L, const char **names, uint32_t *n, const char *name) {
  for (uint32_t j = 0; j < *n; j++)
    if (strcmp(names[j], name) == 0) return;
  if (*n == HS_ELECT_MAX_MEMBERS) luaL_argerror(L, 1, "field 'members': too many members");
  names[(*n)++] = name;
}

/* Pushes the sorted, distinct member names of the members option at idx plus `self`. */
static uint32_t push_members(lua_State *L, int idx, const char *self) {
  const char *names[HS_ELECT_MAX_MEMBERS + 1];
  uint32_t n = 0;
  names[n++] = self;
  lua_Integer len = luaL_len(L, idx);
  for (lua_Integer i = 1; i <= len; i++) {
    lua_geti(L, idx, i);
    const char *name = NULL;
    lelect *o = luaL_testudata(L, -1, ELECT_MT);
    if (o) name = o->base.e.name;
    else if (lua_type(L, -1) == LUA_TSTRING) name = lua_tostring(L, -1);
    if (!name)
      luaL_argerror(L, 1, lua_pushfstring(L, "field 'members': item %d must be a LeaderElection or a name, got %s",
                                          (int)i, hs_typename_of(L, -1)));
    lua_pop(L, 1); /* the option table keeps the string (or the node its name) alive */
    add_name(L, names, &n, name);
  }
  /* the seed's form, a map of names to nodes: { n1 = node1 } (or n1 = true) */
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_isinteger(L, -2) && lua_tointeger(L, -2) >= 1 && lua_tointeger(L, -2) <= len) {
      lua_pop(L, 1);
      continue;
    }
    lelect *o = luaL_testudata(L, -1, ELECT_MT);
    int ok = lua_type(L, -2) == LUA_TSTRING; /* (lua_tostring on another key would break lua_next) */
    if (ok) ok = lua_isboolean(L, -1) ? lua_toboolean(L, -1) : o && strcmp(o->base.e.name, lua_tostring(L, -2)) == 0;
    if (!ok)
      luaL_argerror(L, 1, lua_pushfstring(L, "field 'members': a list of nodes or names, or a map of names to their "
                                             "nodes; got key %s with %s",
                                          hs_typename_of(L, -2), hs_typename_of(L, -1)));
    lua_pop(L, 1);                              /* the key stays in the option table */
    add_name(L, names, &n, lua_tostring(L, -1)); /* the key, now on top */
  }
  qsort(names, n, sizeof *names, cmp_str);
  lua_createtable(L, (int)n, 0);
  for (uint32_t i = 0; i < n; i++) {
    lua_pushstring(L, names[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return n;
}

/* Whether idx holds a descriptor made by hs.BullyStrategy(), hs.RingStrategy() or
 * hs.RandomizedStrategy{}. */
static int is_builtin(lua_State *L, int idx) {
  if (!lua_istable(L, idx) || !lua_getmetatable(L, idx)) return 0;
  luaL_getmetatable(L, STRATEGY_MT);
  int yes = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return yes;
}

static const char *const options[] = {"name", "network", "members", "strategy", "election_timeout",
                                      "heartbeat_interval", "checker", NULL};

/* hs.LeaderElection{ name =, network =, members = { names or nodes }, strategy =,
 * election_timeout = 2.0, heartbeat_interval = 0.5, checker = hs.ElectionChecker() } */
static int l_elect_new(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  hs_check_options(L, 1, 1, options);
  hs_lnet *ln = hs_lua_opt_network(L); /* 2 network, 3 sim or nil */
  if (lua_getfield(L, 1, "name") != LUA_TSTRING) /* 4 */
    luaL_argerror(L, 1, "field 'name' is required (a string)");
  const char *name = lua_tostring(L, 4);
  double et = hs_field_positive_seconds(L, 1, 1, "election_timeout", 2.0);
  double hb = hs_field_positive_seconds(L, 1, 1, "heartbeat_interval", 0.5);
  if (!(hb < et)) luaL_argerror(L, 1, "field 'heartbeat_interval' must be below 'election_timeout'");
  int members_type = lua_getfield(L, 1, "members"); /* 5 */
  if (members_type == LUA_TNIL) {                   /* members come later, by add_member */
    lua_pop(L, 1);
    lua_newtable(L);
  } else if (members_type != LUA_TTABLE) {
    luaL_argerror(L, 1, lua_pushfstring(L, "field 'members' must be a list of nodes or names, got %s", hs_typename_of(L, 5)));
  }
  uint32_t n = push_members(L, 5, name); /* 6 */
  int kind = S_BULLY;
  lua_getfield(L, 1, "strategy"); /* 7 */
  if (lua_isnil(L, 7)) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushliteral(L, "bully");
    lua_setfield(L, -2, "kind");
    luaL_setmetatable(L, STRATEGY_MT);
  } else if (is_builtin(L, 7)) {
    /* a built-in strategy descriptor */
  } else if (lua_istable(L, 7)) {
    lua_settop(L, 7);
    kind = S_LUA;
    for (int op = 0; op < OP_COUNT; op++) { /* the last two are optional */
      int t = lua_getfield(L, 7, op_method[op]);
      if (t == LUA_TNIL && op < OP_ACCEPT)
        luaL_argerror(L, 1, lua_pushfstring(L, "field 'strategy' has no '%s' method", op_method[op]));
      if (t != LUA_TNIL && t != LUA_TFUNCTION)
        luaL_argerror(L, 1, lua_pushfstring(L, "field 'strategy': '%s' must be a function, got %s", op_method[op],
                                            hs_typename_of(L, -1)));
      lua_pop(L, 1);
    }
  } else {
    luaL_argerror(L, 1, lua_pushfstring(L, "field 'strategy' must be hs.BullyStrategy(), hs.RingStrategy(), "
                                           "hs.RandomizedStrategy{} or a table of methods, got %s",
                                        hs_typename_of(L, 7)));
  }
  lua_settop(L, 7);
  hs_elect_bully_config bully = {0};
  hs_elect_ring_config ring = {0};
  hs_elect_randomized_config rnd = {0};
  if (kind != S_LUA) {
    lua_getfield(L, 7, "kind");
    const char *k = lua_tostring(L, -1);
    kind = strcmp(k, "bully") == 0 ? S_BULLY : strcmp(k, "ring") == 0 ? S_RING : S_RANDOMIZED;
    lua_pop(L, 1);
    bully.answer_timeout_ns = hs_time_from_s(hs_field_seconds(L, 7, 1, "answer_timeout", 0, 0));
    bully.coordinator_timeout_ns = hs_time_from_s(hs_field_seconds(L, 7, 1, "coordinator_timeout", 0, 0));
    ring.ack_timeout_ns = hs_time_from_s(hs_field_seconds(L, 7, 1, "ack_timeout", 0, 0));
    ring.round_timeout_ns = hs_time_from_s(hs_field_seconds(L, 7, 1, "round_timeout", 0, 0));
    rnd.timeout_ns = hs_time_from_s(hs_field_seconds(L, 7, 1, "timeout", 0, 0));
    lua_getfield(L, 7, "ballot_range");
    rnd.ballot_range = lua_isnil(L, -1) ? 0 : (uint64_t)lua_tointeger(L, -1);
    lua_pop(L, 1);
  }
  lchecker *checker = NULL;
  if (lua_getfield(L, 1, "checker") != LUA_TNIL) { /* 8 */
    checker = luaL_testudata(L, 8, CHECKER_MT);
    if (!checker)
      luaL_argerror(L, 1, lua_pushfstring(L, "field 'checker' must be an hs.ElectionChecker, got %s", hs_typename_of(L, 8)));
  }
  lelect *r = ln->owner ? hs_lua_new_centity(L, 3, &elect_class, name)
                        : hs_lua_new_detached_centity(L, 2, &elect_class, name); /* 9 */
  int closed = r->base.closed;
  r->base.closed = 1;
  r->ln = ln;
  r->kind = kind;
  r->n_members = n;
  r->bully = bully;
  r->ring = ring;
  r->randomized = rnd;
  r->checker = checker;
  hs_elect_config_init(&r->cfg);
  r->cfg.election_timeout_ns = hs_time_from_s(et);
  r->cfg.heartbeat_interval_ns = hs_time_from_s(hb);
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  r->main = lua_tothread(L, -1);
  lua_pop(L, 1);
  lua_createtable(L, 0, 5); /* 10: state */
  lua_pushvalue(L, 7);
  lua_setfield(L, 10, "strategy");
  lua_newtable(L);
  lua_setfield(L, 10, "history");
  lua_pushvalue(L, 6);
  lua_setfield(L, 10, "members");
  lua_pushvalue(L, 2);
  lua_setfield(L, 10, "network");
  lua_pushvalue(L, 8);
  lua_setfield(L, 10, "checker");
  hs_lua_finish_centity(L, &r->base, 9, 3, closed);
  return 1;
}

/* ---- strategies and the checker ---------------------------------------------------------------- */

static int new_builtin(lua_State *L, const char *kind, const char *const *known) {
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    hs_check_options(L, 1, 1, known);
  }
  lua_newtable(L);
  lua_pushstring(L, kind);
  lua_setfield(L, -2, "kind");
  for (const char *const *k = known; *k; k++) {
    if (lua_isnoneornil(L, 1)) break;
    if (strcmp(*k, "ballot_range") == 0) {
      if (lua_getfield(L, 1, *k) != LUA_TNIL) {
        int isint = 0;
        lua_Integer v = lua_type(L, -1) == LUA_TNUMBER ? lua_tointegerx(L, -1, &isint) : 0;
        if (!isint || v < 1) luaL_argerror(L, 1, "field 'ballot_range' must be an integer >= 1");
        lua_setfield(L, -2, *k);
      } else {
        lua_pop(L, 1);
      }
      continue;
    }
    double s = hs_field_positive_seconds(L, 1, 1, *k, -1);
    if (s > 0) {
      lua_pushnumber(L, s);
      lua_setfield(L, -2, *k);
    }
  }
  luaL_setmetatable(L, STRATEGY_MT);
  return 1;
}

static int l_bully(lua_State *L) {
  static const char *const known[] = {"answer_timeout", "coordinator_timeout", NULL};
  return new_builtin(L, "bully", known);
}

static int l_ring(lua_State *L) {
  static const char *const known[] = {"ack_timeout", "round_timeout", NULL};
  return new_builtin(L, "ring", known);
}

static int l_randomized(lua_State *L) {
  static const char *const known[] = {"ballot_range", "timeout", NULL};
  return new_builtin(L, "randomized", known);
}

static void on_violation(void *ud, const char *message) {
  (void)ud;
  (void)message; /* kept in inv.violation; read by checker.violation */
}

/* hs.ElectionChecker(): watches LeaderElection nodes given it as checker = */
static int l_checker_new(lua_State *L) {
  lchecker *c = lua_newuserdatauv(L, sizeof *c, 0);
  memset(c, 0, sizeof *c);
  hs_elect_invariants_init(&c->inv);
  c->inv.on_violation = on_violation;
  c->live = 1;
  luaL_setmetatable(L, CHECKER_MT);
  return 1;
}

static int l_checker_gc(lua_State *L) {
  lchecker *c = luaL_checkudata(L, 1, CHECKER_MT);
  if (c->live) hs_elect_invariants_free(&c->inv);
  c->live = 0;
  return 0;
}

/* checker.violation (the first, or nil), .violated, .violation_time, .contested, .checks */
static int l_checker_index(lua_State *L) {
  lchecker *c = luaL_checkudata(L, 1, CHECKER_MT);
  const char *k = luaL_checkstring(L, 2);
  if (strcmp(k, "violation") == 0) {
    if (c->inv.violated)
      lua_pushstring(L, c->inv.violation);
    else
      lua_pushnil(L);
  } else if (strcmp(k, "violated") == 0)
    lua_pushboolean(L, c->inv.violated);
  else if (strcmp(k, "violation_time") == 0)
    c->inv.violated ? lua_pushnumber(L, hs_time_to_s(c->inv.violation_ns)) : lua_pushnil(L);
  else if (strcmp(k, "contested") == 0)
    lua_pushinteger(L, (lua_Integer)c->inv.contested);
  else if (strcmp(k, "checks") == 0)
    lua_pushinteger(L, (lua_Integer)c->inv.checks);
  else
    lua_pushnil(L);
  return 1;
}

void hs_elect_open(lua_State *L) {
  luaL_newmetatable(L, STRATEGY_MT);
  lua_pop(L, 1);
  static const luaL_Reg cmeta[] = {{"__index", l_checker_index}, {"__gc", l_checker_gc}, {NULL, NULL}};
  luaL_newmetatable(L, CHECKER_MT);
  luaL_setfuncs(L, cmeta, 0);
  lua_pop(L, 1);
}

const luaL_Reg hs_elect_funcs[] = {{"LeaderElection", l_elect_new},     {"BullyStrategy", l_bully},
                                   {"RingStrategy", l_ring},             {"RandomizedStrategy", l_randomized},
                                   {"ElectionChecker", l_checker_new},   {NULL, NULL}};
