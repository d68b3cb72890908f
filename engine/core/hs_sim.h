/*
 * hs_sim.h - the discrete-event scheduler.
 *
 * Events run in (time, scheduling order): two events at the same nanosecond run in the
 * order they were scheduled. The simulation struct is caller-owned (the Lua binding
 * embeds it in a userdata); hs_sim_close releases what it allocated.
 */
#ifndef HS_SIM_H
#define HS_SIM_H

#include "hs_entity.h"
#include "hs_heap.h"
#include "hs_rng.h"

typedef void (*hs_trace_fn)(hs_sim *sim, const hs_event *ev, void *ud);

/* Why a run loop returned. */
typedef enum hs_run_result {
  HS_RUN_DRAINED,  /* no non-daemon event left (auto-termination) or queue empty */
  HS_RUN_END_TIME, /* reached the end time or the run_until limit */
  HS_RUN_STEPPED,  /* processed the requested number of events */
  HS_RUN_STOPPED,  /* hs_sim_stop was called (by a handler, or on an error) */
  HS_RUN_STALLED,  /* more than max_same_time events at one simulated time: time stopped advancing */
  HS_RUN_BUDGET    /* the run's event budget (run_budget) is spent */
} hs_run_result;

/* An event set aside for a paused entity (see hs_entity_pause). */
typedef struct hs_deferred {
  hs_event *ev;
  hs_entity *owner;
} hs_deferred;

struct hs_sim {
  hs_heap heap;
  hs_time_ns now_ns;
  hs_time_ns end_ns; /* HS_TIME_NEVER: none */
  uint64_t seed;
  uint64_t next_seq;
  uint64_t events_processed;
  uint64_t events_cancelled;
  uint64_t pending_live; /* pending events that are not daemons */
  uint64_t trace_hash;   /* rolling hash of (time, seq, target) of every processed event */
  hs_entity **entities;  /* in registration order */
  uint32_t entity_count;
  uint32_t entity_capacity;
  bool stop_requested;
  bool closed;
  const hs_event *current; /* the event being handled (or traced), NULL between events */
  hs_trace_fn trace_fn;
  void *trace_ud;
  hs_rng rng; /* the simulation's own stream */
  uint64_t max_same_time;  /* events at one simulated time before a run stops (HS_RUN_STALLED) */
  uint64_t same_time_events; /* processed at same_time_ns so far */
  hs_time_ns same_time_ns;
  uint64_t run_budget;     /* events the current run may still process (UINT64_MAX: no bound) */
  hs_deferred *deferred; /* events set aside for paused entities, in the order they came due */
  uint32_t deferred_count;
  uint32_t deferred_capacity;
};

/* Events one simulated time may hold before a run stops as stalled, by default: enough for
 * any real burst, and a loop at one time (a handler rescheduling itself at now) ends. */
#define HS_SIM_MAX_SAME_TIME 10000000ULL

void hs_sim_init(hs_sim *sim, uint64_t seed);
/* Frees the queue and the registry. Idempotent. Pending events are left untouched (their
 * owners may already be gone, e.g. Lua finalizers): they keep reading as pending. */
void hs_sim_close(hs_sim *sim);

/* Schedules a non-pending event at absolute time t (t >= now). HS_EINVAL, HS_EBUSY, HS_ENOMEM. */
int hs_sim_schedule_at(hs_sim *sim, hs_event *ev, hs_time_ns t);
int hs_sim_schedule_after(hs_sim *sim, hs_event *ev, hs_time_ns delay_ns);
/* Moves a pending event to t, or schedules it: a timer restart, not a cancellation. */
int hs_sim_reschedule_at(hs_sim *sim, hs_event *ev, hs_time_ns t);
/* Sets aside ev, which has just come due (it is not in the queue), until owner resumes:
 * for wake-ups without a target that belong to a paused entity. HS_OK, HS_ENOMEM, HS_EBUSY. */
int hs_sim_defer(hs_sim *sim, hs_event *ev, hs_entity *owner);
/* Schedules at now, in the order they were set aside, the events set aside for owner
 * (hs_entity_resume calls it). HS_OK or HS_ENOMEM (the rest stay set aside). */
int hs_sim_undefer(hs_sim *sim, hs_entity *owner);
/* Removes a pending event in O(log n) (O(set aside) for a set-aside one); returns false if
 * it was not pending. */
bool hs_sim_cancel(hs_sim *sim, hs_event *ev);

int hs_sim_set_end_time(hs_sim *sim, hs_time_ns end_ns);
/* Runs until the end time, or until no non-daemon event is left when there is none. */
hs_run_result hs_sim_run(hs_sim *sim);
/* Runs every event with time <= t (daemons included), then sets now to t. t >= now. */
hs_run_result hs_sim_run_until(hs_sim *sim, hs_time_ns t);
/* Processes up to n events (within the end time); *done receives the count. */
hs_run_result hs_sim_step(hs_sim *sim, uint64_t n, uint64_t *done);
/* Asks the running loop to return after the current event. */
void hs_sim_stop(hs_sim *sim);

/* Registers an entity (idempotent); returns HS_OK or HS_ENOMEM. */
int hs_sim_register(hs_sim *sim, hs_entity *e);
/* Calls fn before each event is processed (NULL to turn off). */
void hs_sim_set_trace(hs_sim *sim, hs_trace_fn fn, void *ud);
/* Seeds r with the stream named name of this simulation. */
void hs_sim_stream(const hs_sim *sim, hs_rng *r, const char *name, size_t name_len);

static inline hs_time_ns hs_sim_now(const hs_sim *sim) { return sim->now_ns; }
static inline uint32_t hs_sim_pending(const hs_sim *sim) { return sim->heap.count; }
/* When a queued event fires; HS_TIME_NEVER for one that is not queued (never scheduled,
 * fired, cancelled, or set aside while its entity is paused: it fires when it resumes). */
hs_time_ns hs_sim_event_time(const hs_sim *sim, const hs_event *ev);

#endif
