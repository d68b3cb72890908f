/*
 * hs_hold.h - the classic "hold model" workload: a fixed number of pending events,
 * each rescheduling itself after an exponentially distributed delay when it fires.
 * It measures the scheduler alone; benchmarks and the HoldModel Lua entity use it.
 *
 * CRASH. The events target the owner but are raw hs_events, not hs_timers, so
 * hs_entity_crash does not stop them: an owner that can crash calls hs_hold_crash from its
 * on_crash hook and hs_hold_restart from its on_restart hook. The pending events are
 * volatile state: a crash cancels them all (nothing fires while the owner is down) and a
 * restart schedules the whole population again, each event after a fresh delay from the
 * restart time, as a relaunched process would.
 */
#ifndef HS_HOLD_H
#define HS_HOLD_H

#include "hs_sim.h"

typedef struct hs_hold_event {
  hs_event ev;
  struct hs_hold *hold;
} hs_hold_event;

typedef struct hs_hold {
  hs_entity *owner;
  hs_hold_event *events;
  uint32_t count;
  double mean_ns;
  hs_rng rng;
} hs_hold;

/* Allocates `count` events owned by `owner` and schedules them; HS_OK, HS_EINVAL (also when
 * the owner is crashed) or HS_ENOMEM. */
int hs_hold_start(hs_hold *h, hs_sim *sim, hs_entity *owner, uint32_t count, double mean_s);
/* Cancels the pending events and frees them. Idempotent. */
void hs_hold_stop(hs_hold *h, hs_sim *sim);
/* Cancels the pending events and keeps them for hs_hold_restart. No-op when stopped. */
void hs_hold_crash(hs_hold *h, hs_sim *sim);
/* Schedules every idle event again after a fresh delay from now: HS_OK (also when stopped),
 * or an HS_ code, and then the model is stopped, as after a failed hs_hold_start. */
int hs_hold_restart(hs_hold *h, hs_sim *sim);

#endif
