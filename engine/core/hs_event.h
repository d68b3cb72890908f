/*
 * hs_event.h - the unit of work of the scheduler.
 *
 * Events are intrusive and caller-owned (as libuv handles are): protocol code embeds
 * an hs_event in its own struct (a timer, a message) and recovers the struct in the
 * handler with HS_CONTAINER_OF. The engine never allocates or frees an event, so the
 * hot path allocates nothing.
 */
#ifndef HS_EVENT_H
#define HS_EVENT_H

#include "hs_types.h"

typedef struct hs_sim hs_sim;
typedef struct hs_event hs_event;
typedef struct hs_entity hs_entity;

/* Called when the event fires; the event is no longer pending and may be rescheduled. */
typedef void (*hs_event_fn)(hs_sim *sim, hs_event *ev);

enum {
  HS_EVENT_DAEMON = 1u << 0,    /* does not keep a run alive */
  HS_EVENT_PENDING = 1u << 1,   /* in the queue (set and cleared by the engine) */
  HS_EVENT_CANCELLED = 1u << 2, /* was cancelled while pending (sticky until rescheduled) */
};

/* When a queued event fires is kept in the heap's slot, not here (hs_sim_event_time): 40
 * bytes plus a 16-byte slot per pending event. */
struct hs_event {
  uint64_t seq; /* scheduling order: the tie-breaker between events of the same time */
  hs_event_fn fn;
  hs_entity *target; /* optional: counted in per-entity statistics */
  const char *type;  /* static or otherwise long-lived name, for traces */
  uint32_t heap_index;
  uint32_t flags;
};

#define HS_CONTAINER_OF(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* Prepares an event; it is not pending until scheduled. */
static inline void hs_event_init(hs_event *ev, hs_event_fn fn, hs_entity *target, const char *type) {
  ev->seq = 0;
  ev->fn = fn;
  ev->target = target;
  ev->type = type;
  ev->heap_index = UINT32_MAX;
  ev->flags = 0;
}

static inline bool hs_event_pending(const hs_event *ev) { return (ev->flags & HS_EVENT_PENDING) != 0; }

static inline void hs_event_set_daemon(hs_event *ev, bool daemon) {
  if (daemon)
    ev->flags |= HS_EVENT_DAEMON;
  else
    ev->flags &= ~(uint32_t)HS_EVENT_DAEMON;
}

#endif
