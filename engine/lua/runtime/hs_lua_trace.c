/*
 * hs_lua_trace.c - sim:record_trace(path [, { entities =, from =, to = }]): the run written as a
 * Chrome trace (engine/trace/hs_chrome_trace.h) while it goes, for Perfetto and chrome://tracing.
 *
 * The sources: every network of the simulation reports each message's journey through its
 * observer (sent, delivered, lost and why); crash/restart and pause/resume of any entity, a
 * network partition and its heal, and the roles of protocol nodes (hs_trace_role) come from
 * the binding functions that make them happen. sim:close() (or the collector) ends the file;
 * sim:stop_trace() ends it earlier.
 */
#include <stdlib.h>
#include <string.h>

#include "hs_lua.h"
#include "hs_lua_net.h"
#include "trace/hs_chrome_trace.h"

struct hs_trace {
  hs_ctrace w;
};

static hs_ctrace *writer(hs_lsim *ls) { return ls && ls->trace ? &ls->trace->w : NULL; }

static void name_track(hs_ctrace *w, const hs_entity *e) {
  if (e && e->id != UINT32_MAX) hs_ctrace_track(w, e->id, e->name);
}

/* The network observer: a message's start and the end of its journey. */
static void observe(void *ud, const hs_message *m, hs_net_outcome o) {
  hs_lsim *ls = ud;
  hs_ctrace *w = writer(ls);
  if (!w || !m->src || !m->dst) return;
  hs_time_ns now = ls->sim.now_ns;
  uint64_t id = m->id << 8 | (m->copy & 0xff); /* one flow per copy */
  name_track(w, m->src);
  name_track(w, m->dst);
  switch (o) {
  case HS_NET_SENT: hs_ctrace_sent(w, now, m->src->id, m->dst->id, m->dst->name, m->type, id, m->size_bytes); break;
  case HS_NET_HELD: break;
  case HS_NET_DELIVERED: hs_ctrace_delivered(w, now, m->dst->id, m->src->name, m->type, id, m->sent_ns); break;
  default: {
    const char *why = hs_net_outcome_name(o);
    if (strncmp(why, "dropped_", 8) == 0) why += 8;
    hs_ctrace_lost(w, now, m->dst->id, m->type, id, why);
  }
  }
}

void hs_trace_watch_network(hs_lsim *ls, hs_net *net) {
  if (ls && ls->trace) hs_net_set_observer(net, observe, ls);
}

void hs_trace_role(hs_lsim *ls, const hs_entity *e, const char *role) {
  hs_ctrace *w = writer(ls);
  if (!w) return;
  name_track(w, e);
  hs_ctrace_role(w, ls->sim.now_ns, e->id, role);
}

/* Per entity, the open crash and pause spans: a small table keyed by entity id. */
static uint64_t *span_slot(hs_lsim *ls, uint32_t id, int pause) {
  uint32_t need = 2 * (id + 1);
  if (need > ls->trace_spans_cap) {
    uint32_t cap = ls->trace_spans_cap ? ls->trace_spans_cap : 64;
    while (cap < need) cap *= 2;
    uint64_t *p = realloc(ls->trace_spans, cap * sizeof *p);
    if (!p) return NULL;
    memset(p + ls->trace_spans_cap, 0, (cap - ls->trace_spans_cap) * sizeof *p);
    ls->trace_spans = p;
    ls->trace_spans_cap = cap;
  }
  return &ls->trace_spans[2 * id + (pause ? 1 : 0)];
}

void hs_trace_state(hs_lsim *ls, const hs_entity *e, const char *what, int begins) {
  hs_ctrace *w = writer(ls);
  if (!w || e->id == UINT32_MAX) return;
  int pause = strcmp(what, "pause") == 0;
  uint64_t *slot = span_slot(ls, e->id, pause);
  if (!slot) return;
  if (begins && !*slot) {
    char name[160];
    snprintf(name, sizeof name, "%s %s", what, e->name);
    *slot = hs_ctrace_span_begin(w, ls->sim.now_ns, "fault", name);
  } else if (!begins && *slot) {
    hs_ctrace_span_end(w, ls->sim.now_ns, *slot);
    *slot = 0;
  }
}

uint64_t hs_trace_partition(hs_lsim *ls, const char *name) {
  hs_ctrace *w = writer(ls);
  return w ? hs_ctrace_span_begin(w, ls->sim.now_ns, "fault", name) : 0;
}

void hs_trace_heal(hs_lsim *ls, uint64_t span) {
  hs_ctrace *w = writer(ls);
  if (w && span) hs_ctrace_span_end(w, ls->sim.now_ns, span);
}

void hs_trace_close(hs_lsim *ls) {
  if (!ls->trace) return;
  hs_ctrace_close(&ls->trace->w, ls->sim.now_ns);
  free(ls->trace);
  ls->trace = NULL;
  free(ls->trace_spans);
  ls->trace_spans = NULL;
  ls->trace_spans_cap = 0;
}

/* sim:record_trace(path [, { entities = { names or entities }, from = s, to = s }]) -> sim */
int hs_l_record_trace(lua_State *L) {
  hs_lsim *ls = hs_check_sim(L, 1);
  if (ls->sim.closed) return hs_closed_error(L, "the simulation");
  const char *path = luaL_checkstring(L, 2);
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    static const char *const known[] = {"entities", "from", "to", NULL};
    hs_check_options(L, 3, 3, known);
  }
  if (ls->trace) return luaL_error(L, "record_trace: this simulation is recording a trace already (sim:stop_trace() first)");
  struct hs_trace *t = calloc(1, sizeof *t);
  if (!t) return luaL_error(L, "record_trace: out of memory");
  char pname[96];
  snprintf(pname, sizeof pname, "happysim (seed %llu)", (unsigned long long)ls->sim.seed);
  if (hs_ctrace_open(&t->w, path, pname) != HS_OK) {
    free(t);
    return luaL_error(L, "record_trace: cannot open '%s' for writing", path);
  }
  ls->trace = t;
  if (lua_istable(L, 3)) {
    double from = hs_field_seconds(L, 3, 3, "from", 0, 0);
    double to = hs_field_seconds(L, 3, 3, "to", -1, 0);
    if (to >= 0 && to < from) {
      hs_trace_close(ls);
      return luaL_argerror(L, 3, "field 'to' must not be before 'from'");
    }
    hs_ctrace_window(&t->w, hs_time_from_s(from), to >= 0 ? hs_time_from_s(to) : HS_TIME_NEVER);
    if (lua_getfield(L, 3, "entities") != LUA_TNIL) {
      if (!lua_istable(L, -1)) {
        hs_trace_close(ls);
        return luaL_argerror(L, 3, "field 'entities' must be a list of entities or names");
      }
      int list = lua_gettop(L);
      hs_push_uv_table(L, 1, "names");
      int names = lua_gettop(L);
      for (lua_Integer i = 1; i <= luaL_len(L, list); i++) {
        lua_geti(L, list, i);
        if (lua_type(L, -1) != LUA_TSTRING) lua_getfield(L, -1, "name");
        const char *name = lua_tostring(L, -1);
        lua_getfield(L, names, name ? name : "");
        hs_entity *e = NULL;
        if (lua_type(L, -1) == LUA_TUSERDATA && luaL_getmetafield(L, -1, "__hs_centity") != LUA_TNIL) {
          lua_pop(L, 1);
          e = lua_touserdata(L, -1);
        } else if (lua_istable(L, -1)) {
          e = hs_entity_register(L, 1, lua_gettop(L));
        }
        if (!e) {
          hs_trace_close(ls);
          return luaL_argerror(L, 3, lua_pushfstring(L, "field 'entities': no entity named '%s'", name ? name : "?"));
        }
        hs_ctrace_want(&t->w, e->id);
        lua_settop(L, names);
      }
    }
  }
  /* the networks attached now; later ones are watched when they attach (hs_lua_net.c) */
  hs_push_uv_table(L, 1, "networks");
  for (lua_Integer i = 1; i <= luaL_len(L, -1); i++) {
    lua_rawgeti(L, -1, i);
    hs_trace_watch_network(ls, &((hs_lnet *)lua_touserdata(L, -1))->net);
    lua_pop(L, 1);
  }
  lua_settop(L, 1);
  return 1;
}

/* sim:stop_trace() -> true if a trace was being recorded (its file is complete now). */
int hs_l_stop_trace(lua_State *L) {
  hs_lsim *ls = hs_check_sim(L, 1);
  int had = ls->trace != NULL;
  if (had) {
    hs_push_uv_table(L, 1, "networks");
    for (lua_Integer i = 1; i <= luaL_len(L, -1); i++) {
      lua_rawgeti(L, -1, i);
      hs_net_set_observer(&((hs_lnet *)lua_touserdata(L, -1))->net, NULL, NULL);
      lua_pop(L, 1);
    }
    hs_trace_close(ls);
  }
  lua_pushboolean(L, had);
  return 1;
}
