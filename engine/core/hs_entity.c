#include "hs_sim.h"

void hs_entity_init(hs_entity *e, const hs_entity_vtable *vt, const char *name) {
  e->vt = vt;
  e->sim = NULL;
  e->name = name;
  e->events_handled = 0;
  e->id = UINT32_MAX;
  e->flags = 0;
  e->timers = NULL;
}

void hs_entity_crash(hs_entity *e) {
  if (hs_entity_crashed(e)) return;
  /* what a paused entity set aside comes back now, and then finds it crashed */
  if (hs_entity_paused(e)) (void)hs_entity_resume(e);
  for (hs_timer *t = e->timers; t; t = t->next_of_owner) hs_timer_stop(t);
  e->flags |= HS_ENTITY_CRASHED;
  if (e->vt && e->vt->on_crash) e->vt->on_crash(e);
}

void hs_entity_restart(hs_entity *e) {
  if (!hs_entity_crashed(e)) return;
  e->flags &= ~(uint32_t)HS_ENTITY_CRASHED;
  if (e->vt && e->vt->on_restart) e->vt->on_restart(e);
}

void hs_entity_pause(hs_entity *e) { e->flags |= HS_ENTITY_PAUSED; }

int hs_entity_resume(hs_entity *e) {
  if (!hs_entity_paused(e)) return HS_OK;
  e->flags &= ~(uint32_t)HS_ENTITY_PAUSED;
  return e->sim ? hs_sim_undefer(e->sim, e) : HS_OK;
}

static void timer_fire(hs_sim *sim, hs_event *ev) {
  (void)sim;
  hs_timer *t = HS_CONTAINER_OF(ev, hs_timer, ev);
  t->fn(ev->target, t);
}

void hs_timer_init(hs_timer *t, hs_entity *owner, const char *type, hs_timer_fn fn) {
  hs_event_init(&t->ev, timer_fire, owner, type);
  t->fn = fn;
  t->next_of_owner = owner->timers;
  owner->timers = t;
}

int hs_timer_start(hs_timer *t, hs_time_ns delay_ns) {
  hs_sim *sim = t->ev.target->sim;
  if (!sim) return HS_EINVAL;
  if (hs_entity_crashed(t->ev.target)) return HS_EINVAL;
  if (delay_ns < 0 || delay_ns > HS_TIME_NEVER - sim->now_ns) return HS_EINVAL;
  return hs_sim_reschedule_at(sim, &t->ev, sim->now_ns + delay_ns);
}

void hs_timer_stop(hs_timer *t) {
  hs_sim *sim = t->ev.target->sim;
  if (sim) hs_sim_cancel(sim, &t->ev);
}

void hs_timer_detach(hs_timer *t) {
  hs_timer_stop(t);
  for (hs_timer **p = &t->ev.target->timers; *p; p = &(*p)->next_of_owner) {
    if (*p == t) {
      *p = t->next_of_owner;
      break;
    }
  }
  t->next_of_owner = NULL;
}
