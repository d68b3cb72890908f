/*
 * hs_lua.h - internals shared by the Lua binding (the only code that includes lua.h).
 *
 * A Simulation is a full userdata holding an hs_lsim. Its single user value is a
 * table U that anchors everything the run owns on the Lua side:
 *   U.threads  slot -> process thread     U.anchors  slot -> pending Lua event/timer
 *   U.refs     slot -> a pending event's target function  U.types  the event types seen
 *   U.entities entity object -> proxy     U.streams  name -> random stream
 *   U.joins    slot -> completion callback of a spawned process
 *   U.wakers   slot -> the waker of the process in that slot (core.waker)
 *   U.names    name -> entity object      U.list     entity id + 1 -> entity object
 *   U.networks the networks bound to it   U.raft_ids / U.raft_names  Raft member ids
 *   U.trace    the trace function         U.error    the error that stopped the run
 * While sim:run() executes, the hot ones (threads, anchors, joins, list, entities) sit on the
 * running thread's stack at fixed indices, so the event loop reaches them without lookups.
 */
#ifndef HS_LUA_H
#define HS_LUA_H

#include <lauxlib.h>
#include <lua.h>

#include "core/hs_assert.h"
#include "core/hs_ptrmap.h"
#include "happysim.h"

#define HS_SIM_MT "happysim.Simulation"
#define HS_EVENT_MT "happysim.Event"
#define HS_TIMER_MT "happysim.Timer"
#define HS_STREAM_MT "happysim.RandomStream"
#define HS_ENTITY_MT "happysim.LuaEntity"
#define HS_SIMS_KEY "happysim.sims" /* registry: weak map lightuserdata(lsim) -> sim */

typedef struct hs_lproc hs_lproc;

typedef struct hs_lsim {
  hs_sim sim;
  lua_State *L;    /* thread running sim:run/step (NULL when idle) */
  /* Stack indices of U's tables on L while running, valid in the run loop's own C frame
   * (event handlers, timer and process code called by the engine), not in a C function
   * called from Lua on the same thread: those look the tables up (or check the slot). */
  int threads_idx;
  int anchors_idx;
  int joins_idx;
  int list_idx;
  int entities_idx;
  int msgh_idx; /* the door's message handler (hs_door_msgh) */
  int refs_idx;
  int types_idx;
  int keys_idx; /* field names, in the order of HS_KEY_*: hs_push_handler, schedule_fast */
  const void *list_ptr; /* U.list: code that may run in a nested C frame on L checks the slot */
  int failed; /* an error stopped the run (or waits to be raised); the message sits in U.error */
  const void *event_mt; /* the metatable of hs.Event tables, to recognise them fast */
  struct hs_levent **record_chunks; /* the records of pending events, by anchor slot */
  uint32_t record_chunk_count;
  hs_ptrmap queued; /* address of a queued event table -> its anchor slot */
  hs_ptrmap types;  /* address of an interned event type string -> its index in U.types */
  hs_lproc **procs; /* process pool, stable pointers */
  uint32_t proc_count;
  uint32_t proc_capacity;
  uint32_t *free_procs;
  uint32_t free_proc_count;
  uint32_t *free_anchors; /* recycled slots of U.anchors */
  uint32_t free_anchor_count;
  uint32_t free_anchor_capacity;
  uint32_t anchor_top; /* highest slot handed out */
  uint32_t entity_seq; /* for generated entity names */
  double wall_seconds; /* wall time spent inside run/run_until/step */
  uint64_t events_dropped; /* events that found their target entity crashed */
  int batch; /* > 0 while Simulation{} or sim:add registers a list: networks finish after it */
  struct hs_trace *trace;  /* sim:record_trace: the Chrome trace being written, or NULL */
  uint64_t *trace_spans;   /* its open crash/pause spans, two per entity id */
  uint32_t trace_spans_cap;
} hs_lsim;

enum hs_proc_state { PROC_IDLE, PROC_STARTING, PROC_RUNNING, PROC_SLEEPING, PROC_PARKED };

/* The status hs_proc_call returns, and an hs_proc_end is told, for a process stopped before it
 * returned: its entity crashed (while it ran or waited), or it was cancelled. */
#define HS_PROC_KILLED (-1)

/* C code told when a process it started with hs_proc_call ends after having waited (a
 * protocol's callback written in Lua): fn(end, L, nres, status) runs from the scheduler with
 * status LUA_OK and the nres results on top of L (popped after), an error status after the
 * door reported the error, or HS_PROC_KILLED (nres 0). data is the caller's, for itself. */
typedef struct hs_proc_end hs_proc_end;
struct hs_proc_end {
  void (*fn)(const hs_proc_end *end, lua_State *L, int nres, int status);
  void *ud;
  uint64_t data[2];
  const char *kind; /* what the code is, for error messages: "election strategy on_timeout" */
};

struct hs_lproc {
  hs_event wake; /* start, sleep end or wake-up after a future settled */
  hs_lsim *owner;
  lua_State *co;
  uint32_t slot;
  uint32_t gen; /* bumped on every reuse: stale wake-ups are ignored */
  int state;
  int nargs;        /* values waiting on co's stack for the next resume */
  int has_join;     /* U.joins[slot] holds a completion callback */
  int returns_events; /* an entity handler: returned events get scheduled */
  hs_entity *entity;  /* the entity whose handler runs, for error messages */
  const char *what_ref; /* the event type it handles, borrowed until it first yields ... */
  char what[64];        /* ... and then copied here (what_ref NULL): for error messages */
  hs_proc_end end;      /* started by hs_proc_call: whom to tell when it ends (fn NULL: none) */
};

/* Lua entity proxy: the C side of an entity written in Lua. */
typedef struct hs_lentity {
  hs_entity e;
} hs_lentity;

/* The field names the run loop keeps on its stack from ls->keys_idx, in this order. */
enum { HS_KEY_HANDLE_EVENT, HS_KEY_CLASS, HS_KEY_TIME, HS_KEY_TYPE, HS_KEY_TARGET, HS_KEY_DAEMON, HS_KEY_COUNT };

/* What the scheduler keeps of a pending hs.Event (a record of its simulation, by anchor slot:
 * hs_lua_event.c) or of a timer (the timer userdata itself; user values: 1 the callback, 2 the
 * simulation, which keeps `owner` valid for as long as the timer lives). */
typedef struct hs_levent {
  hs_event ev;
  hs_time_ns time_ns; /* its time (an hs_event keeps none of its own while queued) */
  uint32_t anchor;
  hs_lsim *owner;
} hs_levent;

/* hs_lua_door.c: the one door from C into Lua (see the comment at its top). Every call of a
 * Lua callback and every resume of a process goes through it. */

/* Where Lua code runs, for error messages; only formatted when an error happens. The site
 * reads "<what> '<name>' for entity '<entity>' handling '<event>'", each part when given:
 * "entity 'server' handling 'Request'", "process 'x.lua:3'", "timer callback", "network
 * filter 'net' for entity 'b' handling 'Ping'", "state machine apply for entity 'n1'". */
typedef struct hs_door_site {
  const char *what;        /* the kind of callback; NULL for an entity's handle_event */
  const char *name;        /* whose (a process, a network), or NULL */
  const hs_entity *entity; /* the entity the code runs for, or NULL */
  const char *event;       /* the event or message type being handled, or NULL */
} hs_door_site;

/* Calls the function below the nargs arguments on top of L with the door's message handler.
 * LUA_OK: the nresults results are on L. Otherwise the error has been reported (stopping the
 * run, or kept as the pending error between runs) and L is back to below the function. */
int hs_door_call(lua_State *L, hs_lsim *ls, int nargs, int nresults, const hs_door_site *site);
/* Resumes co from `from`, the running thread (ls->L in the run loop's frame), with nargs
 * values; returns lua_resume's status (*nres values on co for LUA_OK and LUA_YIELD). An error
 * is reported on `from` with co's traceback; co's stack is left for the caller to reset. */
int hs_door_resume(hs_lsim *ls, lua_State *co, lua_State *from, int nargs, int *nres, const hs_door_site *site);
/* Reports the error value on top of L (popped) as raised at site; with co, the traceback is
 * co's (a coroutine suspended or dead at the fault). */
void hs_door_fail(lua_State *L, hs_lsim *ls, lua_State *co, const hs_door_site *site);
/* Raises the pending error of a simulation that is not running, if any: called by Lua entry
 * points that may have run Lua code from C (net:send's filter, RaftNode methods, restart). */
void hs_door_raise(lua_State *L, hs_lsim *ls);
/* The message handler: the error value rendered readably, then a traceback. */
int hs_door_msgh(lua_State *L);

/* hs_lua_util.c */
double hs_check_seconds(lua_State *L, int arg, const char *what);
/* Strict forms of luaL_checklstring / luaL_checkinteger / luaL_optinteger: no coercion
 * between strings and numbers (3 is not "3", "3" is not 3). */
const char *hs_check_string(lua_State *L, int arg, size_t *len);
lua_Integer hs_check_integer(lua_State *L, int arg);
lua_Integer hs_opt_integer(lua_State *L, int arg, lua_Integer dflt);
double hs_field_seconds(lua_State *L, int tidx, int arg, const char *field, double dflt, int required);
double hs_field_positive_seconds(lua_State *L, int tidx, int arg, const char *field, double dflt);
int hs_field_boolean(lua_State *L, int tidx, int arg, const char *field, int dflt);
const char *hs_typename_of(lua_State *L, int idx);
/* Raises "<running C function's name>: <what> is closed" (use after close). */
int hs_closed_error(lua_State *L, const char *what);
double hs_now_s(void); /* wall clock, for run summaries only */
void hs_check_options(lua_State *L, int tidx, int arg, const char *const *known);

/* hs_lua_sim.c */
hs_lsim *hs_check_sim(lua_State *L, int idx);
hs_lsim *hs_lsim_of(hs_sim *sim);
void hs_push_uv_table(lua_State *L, int sim_idx, const char *field);
/* Stops the run with the message on top of L (popped); the first message wins. Between runs
 * the message waits for hs_door_raise. Only hs_lua_door.c and the Raft and Paxos checkers call it. */
void hs_sim_fail(hs_lsim *ls, lua_State *L);
uint32_t hs_anchor_acquire(hs_lsim *ls);
void hs_anchor_release(hs_lsim *ls, uint32_t slot);
void hs_push_sim(lua_State *L, hs_lsim *ls);
/* The id of a node name in one of the simulation's registries: the table `ids` (name -> id)
 * of the simulation's user value, with `names` (id -> name) beside it; an unknown name gets
 * the next id, from 1. A protocol family keeps one registry (RaftNode's raft_ids, the
 * replication nodes' repl_ids), so every node of the simulation numbers the names alike. */
uint32_t hs_sim_name_id(lua_State *L, hs_lsim *ls, const char *ids, const char *names, const char *name);

/* hs_lua_event.c */
void hs_event_open(lua_State *L);
int hs_l_event_new(lua_State *L);
int hs_levent_schedule(lua_State *L, int sim_idx, int ev_idx);
int hs_is_event(lua_State *L, int idx);
void hs_event_records_free(hs_lsim *ls);
/* Schedules what a finished handler returned: the nres values on top of L, the running thread
 * of ls (popped). LUA_OK, or an error status with the message on top (a bad value). */
int hs_schedule_returned(lua_State *L, hs_lsim *ls, int nres);
int hs_l_timer(lua_State *L);

/* hs_lua_process.c */
void hs_process_open(lua_State *L);
/* The function and nargs arguments on top of L become a process. */
void hs_proc_start_now(lua_State *L, int sim_idx, int nargs, const char *what, hs_entity *entity);
/* Runs the function and nargs arguments on top of L (popped) now as a process of entity
 * (killed when it crashes, held while it is paused), resumed from L, the running thread, on
 * a pooled thread (no coroutine is made per call). event names what it handles, for error
 * messages (borrowed until it first waits); end->kind says what it is. Returns LUA_OK: it
 * returned without waiting, and its nresults results are on L; LUA_YIELD: it waits (hs.sleep,
 * hs.await), and end->fn is told when it ends; HS_PROC_KILLED: its entity crashed under it;
 * else it raised, and the door reported it. Works between runs too (it may then wake in the
 * next run; an error waits for hs_door_raise). */
int hs_proc_call(lua_State *L, hs_lsim *ls, int nargs, int nresults, hs_entity *entity, const char *event,
                 const hs_proc_end *end);
/* The process whose code runs now (the innermost one the scheduler or hs_proc_call resumed),
 * or NULL. */
hs_lproc *hs_proc_running(void);
void hs_proc_free_all(hs_lsim *ls);
int hs_l_sleep(lua_State *L);
int hs_l_now(lua_State *L);
int hs_l_current_process(lua_State *L);
int hs_l_park(lua_State *L);
int hs_l_waker(lua_State *L);
int hs_l_spawn(lua_State *L);
int hs_l_kill(lua_State *L);
int hs_l_process_state(lua_State *L);

/* hs_lua_entity.c */
void hs_entity_open(lua_State *L);
hs_entity *hs_entity_register(lua_State *L, int sim_idx, int tidx);
int hs_l_register(lua_State *L);
int hs_l_add(lua_State *L);
int hs_l_crash(lua_State *L);
int hs_l_restart(lua_State *L);
int hs_l_is_crashed(lua_State *L);
int hs_l_pause(lua_State *L);
int hs_l_resume(lua_State *L);
int hs_l_is_paused(lua_State *L);
int hs_l_entity_named(lua_State *L);
int hs_l_entity_index(lua_State *L);
/* Pushes the handle_event of the Lua entity table at idx (as entity.handle_event, faster);
 * returns its type. Only in the run loop's frame (L is ls->L, at ls->keys_idx). */
int hs_push_handler(lua_State *L, hs_lsim *ls, int idx);
/* Kills every process running for entity e (crash semantics). */
void hs_proc_kill_entity(lua_State *L, hs_lsim *ls, hs_entity *e);

/* hs_lua_rng.c */
void hs_rng_open(lua_State *L);
int hs_l_stream(lua_State *L);

/* hs_lua_hold.c */
int hs_l_hold_new(lua_State *L);

/* hs_lua_value.c: value semantics for payloads and commands */
void hs_value_open(lua_State *L);
/* Encodes the value at idx onto b; raises on a value that cannot be encoded, having written part
 * of it: b must be owned by a Lua object (a userdata's buffer) or come from hs_lua_newbuf. */
void hs_lua_encode(lua_State *L, hs_buf *b, int idx, const char *what);
/* Pushes a userdata holding an empty buffer, freed when it is collected (or by hs_buf_free):
 * a buffer that a raise cannot leak. */
hs_buf *hs_lua_newbuf(lua_State *L);
void hs_lua_decode(lua_State *L, const uint8_t *p, size_t len);
extern const luaL_Reg hs_value_funcs[];

/* hs_lua_dist.c: hs.dist.* and hs.NetworkLink */
void hs_dist_open(lua_State *L);
extern const luaL_Reg hs_dist_funcs[];
int hs_l_link_new(lua_State *L);
hs_link_params *hs_check_link(lua_State *L, int idx);
void hs_push_link(lua_State *L, const hs_link_params *p, const char *name);

/* hs_lua_net.c: hs.Network */
void hs_net_open(lua_State *L);
extern const luaL_Reg hs_net_funcs[];
/* Binds the Network at net_idx to the simulation at sim_idx (no-op when bound to it),
 * attaching the nodes built on it before (in the order they were built); then, unless the
 * simulation is registering a batch, finishes it (hs_lnet_finish). */
int hs_lnet_bind(lua_State *L, int net_idx, int sim_idx);
/* Does what a network was asked before it was attached: its links (in the order asked),
 * then node:start() of the nodes started before. Idempotent. For every network of the
 * simulation at sim_idx. */
void hs_lnet_finish_all(lua_State *L, int sim_idx);
/* Keeps the detached node at node_idx pending on the unattached network at net_idx. */
void hs_lnet_add_pending(lua_State *L, int net_idx, int node_idx);
/* Remembers that the detached node at node_idx was started: it starts once attached. */
void hs_lnet_defer_start(lua_State *L, int net_idx, int node_idx);

/* Pushes an error value { code =, message = } (with hs.Error's metatable when registered). */
void hs_push_error(lua_State *L, const char *code, const char *message);

/* hs_lua_check.c: sets core.check (the linearizability checker) on the table on top */
void hs_check_register(lua_State *L);

/* hs_lua_trace.c: sim:record_trace (a Chrome trace for Perfetto), fed by the binding */
int hs_l_record_trace(lua_State *L);
int hs_l_stop_trace(lua_State *L);
/* Each does nothing unless the simulation records a trace. */
void hs_trace_watch_network(hs_lsim *ls, hs_net *net);
void hs_trace_role(hs_lsim *ls, const hs_entity *e, const char *role);
/* what: "crash" or "pause"; begins: 1 when it starts, 0 when it ends (restart, resume). */
void hs_trace_state(hs_lsim *ls, const hs_entity *e, const char *what, int begins);
uint64_t hs_trace_partition(hs_lsim *ls, const char *name);
void hs_trace_heal(hs_lsim *ls, uint64_t span);
void hs_trace_close(hs_lsim *ls);

/* hs_lua_sim.c: pushes the core table with the runtime's functions (hs_lua_open.c adds the
 * protocols') */
void hs_runtime_open(lua_State *L);

/* hs_lua_clock.c: hs.LamportClock, hs.HybridLogicalClock, hs.HLCTimestamp, hs.NodeClock */
void hs_clock_open(lua_State *L);
int hs_l_lamport_new(lua_State *L);
int hs_l_hlc_new(lua_State *L);
int hs_l_hlc_ts_new(lua_State *L);
int hs_l_nodeclock_new(lua_State *L);

/* hs_lua_compat.c: Lua 5.4.4 spells it lua_resetthread(L), 5.4.6 lua_closethread(L, from). */
int hs_reset_thread(lua_State *co, lua_State *from);

#endif
