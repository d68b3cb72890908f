#include "hs_sim.h"

#include "hs_assert.h"

#include <stdlib.h>
#include <string.h>

const char *hs_strerror(int code) {
  switch (code) {
  case HS_OK: return "ok";
  case HS_EINVAL: return "invalid argument";
  case HS_EBUSY: return "already pending";
  case HS_ENOMEM: return "out of memory";
  case HS_ECLOSED: return "simulation is closed";
  default: return "unknown error";
  }
}

void hs_sim_init(hs_sim *sim, uint64_t seed) {
  memset(sim, 0, sizeof *sim);
  hs_heap_init(&sim->heap);
  sim->end_ns = HS_TIME_NEVER;
  sim->seed = seed;
  sim->trace_hash = 0xcbf29ce484222325ULL;
  sim->max_same_time = HS_SIM_MAX_SAME_TIME;
  sim->same_time_ns = -1;
  sim->run_budget = UINT64_MAX;
  hs_rng_seed(&sim->rng, seed, NULL, 0);
}

void hs_sim_close(hs_sim *sim) {
  if (sim->closed) return;
  /* Pending events are not touched: their owners may already be gone (Lua finalizers). */
  hs_heap_free(&sim->heap);
  free(sim->deferred); /* set-aside events keep reading as pending, like queued ones */
  sim->deferred = NULL;
  sim->deferred_count = sim->deferred_capacity = 0;
  free(sim->entities);
  sim->entities = NULL;
  sim->entity_count = sim->entity_capacity = 0;
  sim->pending_live = 0;
  sim->closed = true;
}

/* Private flag: the pending event is counted in pending_live. hs_event_set_daemon may
 * flip HS_EVENT_DAEMON while an event is pending; uncounting by that flag would leave
 * pending_live stuck above zero (a run that never auto-terminates) or wrap it below. */
#define COUNTED_LIVE (1u << 31)
/* Private flag: the pending event is set aside for a paused entity (sim->deferred), not in
 * the heap. It is not counted in pending_live. */
#define DEFERRED (1u << 30)

/* Index of ev in sim->deferred, or deferred_count. */
static uint32_t deferred_find(const hs_sim *sim, const hs_event *ev) {
  uint32_t i = 0;
  while (i < sim->deferred_count && sim->deferred[i].ev != ev) i++;
  return i;
}

/* Takes a set-aside event out of sim->deferred (keeping the order of the others). */
static void deferred_remove(hs_sim *sim, hs_event *ev) {
  uint32_t i = deferred_find(sim, ev);
  HS_ASSERT(i < sim->deferred_count); /* flagged DEFERRED: it is set aside */
  if (i < sim->deferred_count) {
    memmove(&sim->deferred[i], &sim->deferred[i + 1], (sim->deferred_count - i - 1) * sizeof sim->deferred[0]);
    sim->deferred_count--;
  }
  ev->flags &= ~(uint32_t)(HS_EVENT_PENDING | DEFERRED);
}

int hs_sim_schedule_at(hs_sim *sim, hs_event *ev, hs_time_ns t) {
  if (sim->closed) return HS_ECLOSED;
  if (t < sim->now_ns) return HS_EINVAL;
  if (ev->flags & HS_EVENT_PENDING) return HS_EBUSY;
  ev->seq = sim->next_seq;
  int rc = hs_heap_push(&sim->heap, ev, t);
  if (rc != HS_OK) return rc;
  sim->next_seq++;
  ev->flags = (ev->flags | HS_EVENT_PENDING) & ~(uint32_t)(HS_EVENT_CANCELLED | COUNTED_LIVE);
  if (!(ev->flags & HS_EVENT_DAEMON)) {
    ev->flags |= COUNTED_LIVE;
    sim->pending_live++;
  }
  return HS_OK;
}

hs_time_ns hs_sim_event_time(const hs_sim *sim, const hs_event *ev) {
  if (!(ev->flags & HS_EVENT_PENDING) || (ev->flags & DEFERRED) || ev->heap_index >= sim->heap.count)
    return HS_TIME_NEVER;
  return hs_heap_time_of(&sim->heap, ev);
}

int hs_sim_schedule_after(hs_sim *sim, hs_event *ev, hs_time_ns delay_ns) {
  if (delay_ns < 0 || delay_ns > HS_TIME_NEVER - sim->now_ns) return HS_EINVAL;
  return hs_sim_schedule_at(sim, ev, sim->now_ns + delay_ns);
}

static void mark_not_pending(hs_sim *sim, hs_event *ev) {
  if (ev->flags & COUNTED_LIVE) sim->pending_live--;
  ev->flags &= ~(uint32_t)(HS_EVENT_PENDING | COUNTED_LIVE);
}

int hs_sim_reschedule_at(hs_sim *sim, hs_event *ev, hs_time_ns t) {
  if (sim->closed) return HS_ECLOSED;
  if (t < sim->now_ns) return HS_EINVAL;
  if (ev->flags & DEFERRED) {
    deferred_remove(sim, ev);
  } else if (ev->flags & HS_EVENT_PENDING) {
    hs_heap_remove(&sim->heap, ev);
    mark_not_pending(sim, ev);
  }
  return hs_sim_schedule_at(sim, ev, t);
}

bool hs_sim_cancel(hs_sim *sim, hs_event *ev) {
  if (sim->closed || !(ev->flags & HS_EVENT_PENDING)) return false;
  if (ev->flags & DEFERRED) {
    deferred_remove(sim, ev);
  } else {
    hs_heap_remove(&sim->heap, ev);
    mark_not_pending(sim, ev);
  }
  ev->flags |= HS_EVENT_CANCELLED;
  sim->events_cancelled++;
  return true;
}

int hs_sim_set_end_time(hs_sim *sim, hs_time_ns end_ns) {
  if (end_ns < sim->now_ns) return HS_EINVAL;
  sim->end_ns = end_ns;
  return HS_OK;
}

static inline uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  return h * 0x100000001b3ULL;
}

int hs_sim_defer(hs_sim *sim, hs_event *ev, hs_entity *owner) {
  if (sim->closed) return HS_ECLOSED;
  if (ev->flags & HS_EVENT_PENDING) return HS_EBUSY;
  if (sim->deferred_count == sim->deferred_capacity) {
    uint32_t cap = sim->deferred_capacity ? sim->deferred_capacity * 2 : 16;
    hs_deferred *items = realloc(sim->deferred, (size_t)cap * sizeof *items);
    if (!items) return HS_ENOMEM;
    sim->deferred = items;
    sim->deferred_capacity = cap;
  }
  HS_ASSERT(ev->heap_index == UINT32_MAX); /* just came due: out of the heap */
  sim->deferred[sim->deferred_count++] = (hs_deferred){ev, owner};
  ev->flags = (ev->flags | HS_EVENT_PENDING | DEFERRED) & ~(uint32_t)COUNTED_LIVE;
  return HS_OK;
}

int hs_sim_undefer(hs_sim *sim, hs_entity *owner) {
  int rc = HS_OK;
  uint32_t kept = 0;
  for (uint32_t i = 0; i < sim->deferred_count; i++) {
    hs_deferred d = sim->deferred[i];
    if (d.owner == owner && rc == HS_OK) {
      HS_ASSERT((d.ev->flags & (HS_EVENT_PENDING | DEFERRED)) == (HS_EVENT_PENDING | DEFERRED));
      d.ev->flags &= ~(uint32_t)(HS_EVENT_PENDING | DEFERRED);
      rc = hs_sim_schedule_at(sim, d.ev, sim->now_ns);
      if (rc == HS_OK) continue;
      d.ev->flags |= HS_EVENT_PENDING | DEFERRED;
    }
    sim->deferred[kept++] = d;
  }
  sim->deferred_count = kept;
  return rc;
}

/* Puts a popped event back where it was: same time (now), same sequence number. */
static void requeue(hs_sim *sim, hs_event *ev) {
  if (hs_heap_push(&sim->heap, ev, sim->now_ns) != HS_OK) return; /* cannot grow: it was just popped */
  ev->flags |= HS_EVENT_PENDING;
  if (!(ev->flags & HS_EVENT_DAEMON)) {
    ev->flags |= COUNTED_LIVE;
    sim->pending_live++;
  }
}

/* Pops the head and runs it (true), or sets it aside when its target is paused (false).
 * A trace function that stops the run keeps the event from running: it stays queued.
 * The caller has checked that the queue is not empty. */
static bool process_next(hs_sim *sim) {
  hs_event *ev = hs_heap_pop(&sim->heap, &sim->now_ns);
  mark_not_pending(sim, ev);
  hs_entity *target = ev->target;
  if (target && (target->flags & HS_ENTITY_PAUSED) && hs_sim_defer(sim, ev, target) == HS_OK) return false;
  sim->current = ev;
  if (sim->trace_fn) {
    sim->trace_fn(sim, ev, sim->trace_ud);
    if (sim->stop_requested) { /* the observer stopped the run (a failed check): ev waits */
      sim->current = NULL;
      requeue(sim, ev);
      return false;
    }
  }
  sim->events_processed++;
  sim->trace_hash = mix(mix(sim->trace_hash, (uint64_t)sim->now_ns), ev->seq);
  if (target) {
    target->events_handled++;
    sim->trace_hash = mix(sim->trace_hash, target->id);
  }
  ev->fn(sim, ev);
  sim->current = NULL;
  return true;
}

/* The common loop: stops at `limit` (inclusive), after `max` events, or when drained. */
static hs_run_result loop(hs_sim *sim, hs_time_ns limit, bool auto_stop, uint64_t max, uint64_t *done) {
  uint64_t n = 0;
  hs_run_result result;
  for (;;) {
    if (sim->stop_requested) {
      sim->stop_requested = false;
      result = HS_RUN_STOPPED;
      break;
    }
    if (n >= max) {
      result = HS_RUN_STEPPED;
      break;
    }
    if (!sim->heap.count || (auto_stop && sim->pending_live == 0)) {
      result = HS_RUN_DRAINED;
      break;
    }
    hs_time_ns t = hs_heap_top_time(&sim->heap);
    if (t > limit) {
      result = HS_RUN_END_TIME;
      break;
    }
    if (t != sim->same_time_ns) { /* time advances: a new count starts */
      sim->same_time_ns = t;
      sim->same_time_events = 0;
    } else if (sim->same_time_events >= sim->max_same_time) {
      result = HS_RUN_STALLED;
      break;
    }
    if (sim->run_budget == 0) {
      result = HS_RUN_BUDGET;
      break;
    }
    if (process_next(sim)) {
      n++;
      sim->same_time_events++;
      if (sim->run_budget != UINT64_MAX) sim->run_budget--;
    }
  }
  if (done) *done = n;
  return result;
}

hs_run_result hs_sim_run(hs_sim *sim) {
  if (sim->closed) return HS_RUN_DRAINED;
  bool bounded = sim->end_ns != HS_TIME_NEVER;
  hs_run_result r = loop(sim, sim->end_ns, !bounded, UINT64_MAX, NULL);
  /* A bounded run covers all of [0, end]: time passes even when nothing happens. */
  if (bounded && r != HS_RUN_STOPPED && r != HS_RUN_STALLED && r != HS_RUN_BUDGET) {
    sim->now_ns = sim->end_ns;
    r = HS_RUN_END_TIME;
  }
  return r;
}

hs_run_result hs_sim_run_until(hs_sim *sim, hs_time_ns t) {
  if (sim->closed) return HS_RUN_DRAINED;
  hs_time_ns limit = t < sim->end_ns ? t : sim->end_ns;
  hs_run_result r = loop(sim, limit, false, UINT64_MAX, NULL);
  if (r != HS_RUN_STOPPED && r != HS_RUN_STALLED && r != HS_RUN_BUDGET) {
    if (limit > sim->now_ns) sim->now_ns = limit;
    r = HS_RUN_END_TIME;
  }
  return r;
}

hs_run_result hs_sim_step(hs_sim *sim, uint64_t n, uint64_t *done) {
  if (sim->closed) {
    if (done) *done = 0;
    return HS_RUN_DRAINED;
  }
  return loop(sim, sim->end_ns, false, n, done);
}

void hs_sim_stop(hs_sim *sim) { sim->stop_requested = true; }

int hs_sim_register(hs_sim *sim, hs_entity *e) {
  if (sim->closed) return HS_ECLOSED;
  if (e->sim == sim && e->id != UINT32_MAX) return HS_OK;
  if (sim->entity_count == sim->entity_capacity) {
    uint32_t cap = sim->entity_capacity ? sim->entity_capacity * 2 : 16;
    hs_entity **items = realloc(sim->entities, (size_t)cap * sizeof *items);
    if (!items) return HS_ENOMEM;
    sim->entities = items;
    sim->entity_capacity = cap;
  }
  e->sim = sim;
  e->id = sim->entity_count;
  sim->entities[sim->entity_count++] = e;
  return HS_OK;
}

void hs_sim_set_trace(hs_sim *sim, hs_trace_fn fn, void *ud) {
  sim->trace_fn = fn;
  sim->trace_ud = ud;
}

void hs_sim_stream(const hs_sim *sim, hs_rng *r, const char *name, size_t name_len) {
  hs_rng_seed(r, sim->seed, name, name_len);
}
