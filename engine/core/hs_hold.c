#include "hs_hold.h"

#include <stdlib.h>
#include <string.h>

static hs_time_ns next_delay(hs_hold *h) { return (hs_time_ns)hs_rng_exponential(&h->rng, h->mean_ns); }

static void hold_fire(hs_sim *sim, hs_event *ev) {
  hs_hold *h = HS_CONTAINER_OF(ev, hs_hold_event, ev)->hold;
  hs_sim_schedule_after(sim, ev, next_delay(h));
}

/* Schedules every idle event after a fresh delay; on an error stops the model. */
static int schedule_all(hs_hold *h, hs_sim *sim) {
  for (uint32_t i = 0; i < h->count; i++) {
    hs_event *ev = &h->events[i].ev;
    if (hs_event_pending(ev)) continue;
    int rc = hs_sim_schedule_after(sim, ev, next_delay(h));
    if (rc != HS_OK) {
      hs_hold_stop(h, sim);
      return rc;
    }
  }
  return HS_OK;
}

int hs_hold_start(hs_hold *h, hs_sim *sim, hs_entity *owner, uint32_t count, double mean_s) {
  if (h->events || count == 0 || !(mean_s > 0) || mean_s > HS_TIME_MAX_S) return HS_EINVAL;
  if (hs_entity_crashed(owner)) return HS_EINVAL;
  h->events = calloc(count, sizeof *h->events);
  if (!h->events) return HS_ENOMEM;
  h->owner = owner;
  h->count = count;
  h->mean_ns = mean_s * (double)HS_NS_PER_S;
  hs_sim_stream(sim, &h->rng, owner->name, strlen(owner->name));
  for (uint32_t i = 0; i < count; i++) {
    hs_event_init(&h->events[i].ev, hold_fire, owner, "Hold");
    h->events[i].hold = h;
  }
  return schedule_all(h, sim);
}

void hs_hold_stop(hs_hold *h, hs_sim *sim) {
  if (!h->events) return;
  for (uint32_t i = 0; i < h->count; i++) hs_sim_cancel(sim, &h->events[i].ev);
  free(h->events);
  h->events = NULL;
  h->count = 0;
}

void hs_hold_crash(hs_hold *h, hs_sim *sim) {
  for (uint32_t i = 0; h->events && i < h->count; i++) hs_sim_cancel(sim, &h->events[i].ev);
}

int hs_hold_restart(hs_hold *h, hs_sim *sim) { return h->events ? schedule_all(h, sim) : HS_OK; }
