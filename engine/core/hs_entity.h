/*
 * hs_entity.h - the C interface that makes a struct an entity of a simulation.
 *
 * Protocol code embeds an hs_entity at the start of its node struct and provides a
 * vtable. Timers are hs_timer structs embedded in the node; the entity keeps a list of
 * them so a crash can stop every one, and the vtable's on_restart hook re-arms what the
 * protocol needs after a restart.
 */
#ifndef HS_ENTITY_H
#define HS_ENTITY_H

#include "hs_event.h"

typedef struct hs_timer hs_timer;
typedef struct hs_message hs_message; /* defined by the network layer (engine/net) */

typedef struct hs_entity_vtable {
  const char *kind;                 /* type name for traces and summaries: "RaftNode" */
  void (*on_crash)(hs_entity *e);   /* optional: drop volatile state */
  void (*on_restart)(hs_entity *e); /* optional: reload durable state, re-arm timers */
  void (*on_message)(hs_entity *e, hs_message *m); /* optional: a network delivery */
} hs_entity_vtable;

enum {
  HS_ENTITY_CRASHED = 1u << 0,
  HS_ENTITY_PAUSED = 1u << 1 /* see hs_entity_pause */
};

struct hs_entity {
  const hs_entity_vtable *vt;
  hs_sim *sim;      /* set on registration */
  const char *name; /* kept alive by the owner */
  uint64_t events_handled;
  uint32_t id; /* registration order; UINT32_MAX until registered */
  uint32_t flags;
  hs_timer *timers; /* every timer initialised on this entity */
};

typedef void (*hs_timer_fn)(hs_entity *owner, hs_timer *timer);

struct hs_timer {
  hs_event ev;
  hs_timer_fn fn;
  hs_timer *next_of_owner;
};

void hs_entity_init(hs_entity *e, const hs_entity_vtable *vt, const char *name);
static inline bool hs_entity_crashed(const hs_entity *e) { return (e->flags & HS_ENTITY_CRASHED) != 0; }
/* Stops every timer of the entity, marks it crashed and calls on_crash. No-op if crashed. */
void hs_entity_crash(hs_entity *e);
/* Clears the crashed mark and calls on_restart. No-op if not crashed. */
void hs_entity_restart(hs_entity *e);

/*
 * PAUSE. A paused entity handles nothing: every event targeting it (network arrivals,
 * hs.Events, its timers) that comes due while it is paused is set aside by the scheduler,
 * in (time, scheduling order), instead of running; hs_entity_resume schedules them all at
 * the resume time, in that order, after the events already due then. Set-aside events stay
 * pending (hs_event_pending, cancellable, and hs_sim_reschedule_at moves them back into the
 * queue) but do not keep a run alive. Bindings set aside wake-ups that have no target with
 * hs_sim_defer. A message for a paused node meets the network's arrival rule (partition,
 * crash) when it is taken in at resume. Crashing a paused entity resumes it first, so what
 * was set aside then finds it crashed (dropped, its timers stopped).
 */
static inline bool hs_entity_paused(const hs_entity *e) { return (e->flags & HS_ENTITY_PAUSED) != 0; }
/* Marks the entity paused. No-op if it already is. */
void hs_entity_pause(hs_entity *e);
/* Clears the mark and schedules what was set aside for e at now, in order. HS_OK (also when
 * it was not paused), or HS_ENOMEM: the entity is resumed, and what could not be scheduled
 * stays set aside until the next resume. */
int hs_entity_resume(hs_entity *e);

/* Attaches a timer to its owner; it is idle until started. */
void hs_timer_init(hs_timer *t, hs_entity *owner, const char *type, hs_timer_fn fn);
/* (Re)starts the timer delay_ns from now; a pending timer is moved. Returns an HS_ code. */
int hs_timer_start(hs_timer *t, hs_time_ns delay_ns);
void hs_timer_stop(hs_timer *t);
/* Stops the timer and takes it off its owner's list, so its memory may be reused (or the
 * timer initialised again: hs_timer_init on a timer still listed would make a cycle). */
void hs_timer_detach(hs_timer *t);
static inline bool hs_timer_active(const hs_timer *t) { return hs_event_pending(&t->ev); }

#endif
