/*
 * hs_hold.h - the classic "hold model" workload: a fixed number of pending events,
 * each rescheduling itself after an exponentially distributed delay when it fires.
 * It measures the scheduler alone; benchmarks and the HoldModel Lua entity use it.
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

/* Allocates `count` events owned by `owner` and schedules them; HS_OK, HS_EINVAL or HS_ENOMEM. */
int hs_hold_start(hs_hold *h, hs_sim *sim, hs_entity *owner, uint32_t count, double mean_s);
/* Cancels the pending events and frees them. Idempotent. */
void hs_hold_stop(hs_hold *h, hs_sim *sim);

#endif
