/* Lamport clocks, hybrid logical clocks and the physical clock model (see hs_clock.h). */
#include "clock/hs_clock.h"

#include <math.h>

const char *hs_order_name(hs_order o) {
  switch (o) {
  case HS_ORDER_EQUAL: return "equal";
  case HS_ORDER_BEFORE: return "before";
  case HS_ORDER_AFTER: return "after";
  case HS_ORDER_CONCURRENT: return "concurrent";
  }
  return "unknown";
}

/* ---- Lamport ------------------------------------------------------------------------- */

uint64_t hs_lamport_tick(hs_lamport *c) { return ++c->time; }

uint64_t hs_lamport_send(hs_lamport *c) { return ++c->time; }

uint64_t hs_lamport_receive(hs_lamport *c, uint64_t remote) {
  c->time = (remote > c->time ? remote : c->time) + 1;
  return c->time;
}

/* ---- HLC ----------------------------------------------------------------------------- */

hs_order hs_hlc_ts_compare(hs_hlc_ts a, hs_hlc_ts b) {
  if (a.l != b.l) return a.l < b.l ? HS_ORDER_BEFORE : HS_ORDER_AFTER;
  if (a.c != b.c) return a.c < b.c ? HS_ORDER_BEFORE : HS_ORDER_AFTER;
  return HS_ORDER_EQUAL;
}

void hs_hlc_init(hs_hlc *h, hs_time_ns max_offset_ns) {
  h->last.l = INT64_MIN;
  h->last.c = 0;
  h->max_offset = max_offset_ns > 0 ? max_offset_ns : 0;
}

int hs_hlc_now(hs_hlc *h, hs_time_ns pt, hs_hlc_ts *out) {
  hs_hlc_ts t;
  if (pt > h->last.l) {
    t.l = pt;
    t.c = 0;
  } else {
    if (h->last.c == UINT32_MAX) return HS_EINVAL;
    t.l = h->last.l;
    t.c = h->last.c + 1;
  }
  h->last = t;
  if (out) *out = t;
  return HS_OK;
}

uint64_t hs_hlc_ahead(hs_time_ns pt, hs_hlc_ts remote) {
  return remote.l > pt ? (uint64_t)remote.l - (uint64_t)pt : 0; /* modulo 2^64: exact here */
}

int hs_hlc_receive(hs_hlc *h, hs_time_ns pt, hs_hlc_ts remote, hs_hlc_ts *out) {
  if (h->max_offset > 0 && hs_hlc_ahead(pt, remote) > (uint64_t)h->max_offset) return HS_EINVAL;
  hs_hlc_ts old = h->last, t;
  t.l = old.l;
  if (remote.l > t.l) t.l = remote.l;
  if (pt > t.l) t.l = pt;
  uint32_t base; /* the counter the new one must exceed; none when l moved to pt */
  bool bump;
  if (t.l == old.l && t.l == remote.l) {
    base = old.c > remote.c ? old.c : remote.c;
    bump = true;
  } else if (t.l == old.l) {
    base = old.c;
    bump = true;
  } else if (t.l == remote.l) {
    base = remote.c;
    bump = true;
  } else {
    base = 0;
    bump = false;
  }
  if (bump && base == UINT32_MAX) return HS_EINVAL;
  t.c = bump ? base + 1 : 0;
  h->last = t;
  if (out) *out = t;
  return HS_OK;
}

/* ---- Physical clock model ------------------------------------------------------------ */

/* Keeps (t - origin) * drift exact for small drifts: the product is computed in double but
 * added to the exact integer elapsed time. */
static hs_time_ns scaled(hs_time_ns elapsed, double drift) {
  double extra = (double)elapsed * drift;
  if (extra >= 9.2e18) return INT64_MAX / 2;
  if (extra <= -9.2e18) return INT64_MIN / 2;
  return elapsed + (hs_time_ns)llround(extra);
}

const char *hs_clock_model_validate(hs_time_ns skew_ns, double drift) {
  if (!isfinite(drift) || drift <= -1 || drift > 1) return "clock drift must be a finite number in (-1, 1]";
  hs_time_ns lim = (hs_time_ns)(HS_TIME_MAX_S * (double)HS_NS_PER_S);
  if (skew_ns > lim || skew_ns < -lim) return "clock skew is too large";
  return NULL;
}

void hs_clock_model_init(hs_clock_model *m, hs_time_ns skew_ns, double drift) {
  m->origin_true = 0;
  m->origin_local = skew_ns;
  m->drift = drift;
}

hs_time_ns hs_clock_model_local(const hs_clock_model *m, hs_time_ns t) {
  return m->origin_local + scaled(t - m->origin_true, m->drift);
}

hs_time_ns hs_clock_model_true(const hs_clock_model *m, hs_time_ns local) {
  hs_time_ns elapsed = local - m->origin_local;
  double back = (double)elapsed / (1 + m->drift);
  hs_time_ns t = m->origin_true + (hs_time_ns)llround(back);
  /* Rounding may land a tick or two off: settle on the first t whose reading is >= local. */
  for (int i = 0; i < 4 && hs_clock_model_local(m, t) < local; i++) t++;
  for (int i = 0; i < 4 && hs_clock_model_local(m, t - 1) >= local; i++) t--;
  return t;
}

void hs_clock_model_set_drift(hs_clock_model *m, hs_time_ns now, double drift) {
  m->origin_local = hs_clock_model_local(m, now);
  m->origin_true = now;
  m->drift = drift;
}

void hs_clock_model_set_skew(hs_clock_model *m, hs_time_ns now, hs_time_ns skew_ns) {
  m->origin_true = now;
  m->origin_local = now + skew_ns;
}
