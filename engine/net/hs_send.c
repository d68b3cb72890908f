/* The send pipeline (route, partition, filter, loss, transmit) and the arrival event. */
#include "net/hs_net_internal.h"

#include <math.h>

#define TIME_LAST (HS_TIME_NEVER - 1)

/* A sampled duration in seconds as ns: NaN and negatives give 0, huge values saturate. */
static hs_time_ns duration_ns(double s) {
  if (!(s > 0)) return 0;
  if (s >= HS_TIME_MAX_S) return hs_time_from_s(HS_TIME_MAX_S);
  return hs_time_from_s(s);
}

static inline hs_time_ns add_sat(hs_time_ns t, hs_time_ns d) { return d > TIME_LAST - t ? TIME_LAST : t + d; }

/* Serialization time of size bytes: size * 8 / bandwidth, rounded to the nearest ns. */
static hs_time_ns serialization_ns(const hs_link_params *p, uint64_t size) {
  if (p->bandwidth_bps <= 0 || size == 0) return 0;
  return duration_ns((double)size * 8.0 / p->bandwidth_bps);
}

static void count(hs_net *net, hs_link *l, hs_net_outcome o, uint64_t size) {
  hs_net_counters *c[2] = {&l->stats, &net->stats};
  for (int i = 0; i < 2; i++) {
    switch (o) {
    case HS_NET_SENT: c[i]->sent++, c[i]->bytes_sent += size; break;
    case HS_NET_HELD: c[i]->held++; break;
    case HS_NET_DELIVERED: c[i]->delivered++, c[i]->bytes_delivered += size; break;
    case HS_NET_DROPPED_LOSS: c[i]->dropped_loss++; break;
    case HS_NET_DROPPED_PARTITION: c[i]->dropped_partition++; break;
    case HS_NET_DROPPED_CRASH: c[i]->dropped_crash++; break;
    case HS_NET_DROPPED_NO_ROUTE: c[i]->dropped_no_route++; break;
    case HS_NET_DROPPED_FILTER: c[i]->dropped_filter++; break;
    }
  }
}

void hs_net__drop(hs_net *net, hs_message *m, hs_net_outcome why) {
  count(net, m->link, why, m->size_bytes);
  m->state = HS_MSG_DROPPED;
  hs_net__notify(net, m, why);
  hs_net__msg_release_payload(net, m);
  hs_net__msg_free(net, m);
}

/* The arrival event of one copy: the in-flight rule, then on_message. */
static void arrive(hs_sim *sim, hs_event *ev) {
  (void)sim;
  hs_message *m = HS_CONTAINER_OF(ev, hs_message, ev);
  hs_net *net = m->net;
  net->in_flight--;
  if (hs_net__cut(net, m->src->id, m->dst->id)) {
    hs_net__drop(net, m, HS_NET_DROPPED_PARTITION);
    return;
  }
  hs_entity *dst = m->dst;
  if (hs_entity_crashed(dst)) {
    hs_net__drop(net, m, HS_NET_DROPPED_CRASH);
    return;
  }
  count(net, m->link, HS_NET_DELIVERED, m->size_bytes);
  m->state = HS_MSG_DELIVERING;
  hs_net__notify(net, m, HS_NET_DELIVERED);
  if (dst->vt && dst->vt->on_message) dst->vt->on_message(dst, m);
  hs_net__msg_release_payload(net, m);
  hs_net__msg_free(net, m);
}

int hs_net__schedule(hs_net *net, hs_message *m, hs_time_ns arrival) {
  hs_event_init(&m->ev, arrive, m->dst, m->type);
  int rc = hs_sim_schedule_at(net->sim, &m->ev, arrival);
  if (rc != HS_OK) return rc;
  m->state = HS_MSG_IN_FLIGHT;
  net->in_flight++;
  return HS_OK;
}

/* A duplicate of m (same id, next copy number, payload from ops.copy). NULL on ENOMEM. */
static hs_message *duplicate(hs_net *net, const hs_message *m, uint32_t copy) {
  hs_message *d = hs_net__msg_alloc(net);
  if (!d) return NULL;
  *d = *m; /* its event is re-initialised when it is scheduled */
  d->next = d->prev = NULL;
  d->copy = copy;
  d->extra_delay_ns = 0;
  if (m->payload && net->payload_ops.copy) {
    d->payload = net->payload_ops.copy(net->payload_ops.ud, m->payload, m->size_bytes);
    if (!d->payload) {
      hs_net__msg_free(net, d);
      return NULL;
    }
  }
  return d;
}

/*
 * Draws one copy's flight time after the transmission ends at done_ns and schedules it.
 * In-order copies are clamped to the link's last in-order arrival, and become it; reordered
 * copies skip the clamp and wait an extra uniform [0, window). A filter DELAY comes last.
 */
static int fly(hs_net *net, hs_link *l, const hs_link_params *p, hs_message *m, hs_time_ns done_ns) {
  hs_rng *r = &l->rng;
  hs_time_ns t = add_sat(done_ns, duration_ns(hs_dist_sample(&p->latency, r)));
  t = add_sat(t, duration_ns(hs_dist_sample(&p->jitter, r)));
  if (p->reorder_rate > 0 && hs_rng_double(r) < p->reorder_rate) {
    double window = hs_net__entry_of(p)->reorder_window_s;
    t = add_sat(t, duration_ns(hs_rng_uniform(r, 0, window)));
  } else {
    if (t < l->last_arrival_ns) t = l->last_arrival_ns;
    l->last_arrival_ns = t;
  }
  return hs_net__schedule(net, m, add_sat(t, m->extra_delay_ns));
}

/* Steps 4-5 of hs_net.h for an accepted message; extra copies requested by the filter.
 * Returns HS_ENOMEM only if the original could not be scheduled (nothing is then kept). */
static int transmit(hs_net *net, hs_link *l, const hs_link_params *p, hs_message *m, uint32_t extra) {
  hs_rng *r = &l->rng;
  hs_time_ns now = hs_sim_now(net->sim);
  bool lost = p->packet_loss_rate > 0 && hs_rng_double(r) < p->packet_loss_rate;
  hs_time_ns start = l->busy_until_ns > now ? l->busy_until_ns : now;
  hs_time_ns done = add_sat(start, serialization_ns(p, m->size_bytes));
  if (p->bandwidth_bps > 0) l->busy_until_ns = done;
  if (lost) {
    hs_net__drop(net, m, HS_NET_DROPPED_LOSS);
    return HS_OK;
  }
  if (p->duplicate_rate > 0 && hs_rng_double(r) < p->duplicate_rate) extra++;
  int rc = fly(net, l, p, m, done);
  if (rc != HS_OK) return rc;
  for (uint32_t k = 1; k <= extra; k++) {
    hs_message *d = duplicate(net, m, k);
    if (!d) break; /* out of memory: fewer duplicates, never a lost original */
    if (fly(net, l, p, d, done) != HS_OK) {
      hs_net__msg_release_payload(net, d);
      hs_net__msg_free(net, d);
      break;
    }
    l->stats.duplicated++;
    net->stats.duplicated++;
  }
  return HS_OK;
}

/* Parks m at the tail of the held list. */
static void hold(hs_net *net, hs_message *m) {
  count(net, m->link, HS_NET_HELD, 0);
  m->state = HS_MSG_HELD;
  m->next = NULL;
  m->prev = net->held_tail;
  if (net->held_tail)
    net->held_tail->next = m;
  else
    net->held_head = m;
  net->held_tail = m;
  net->held_count++;
  hs_net__notify(net, m, HS_NET_HELD);
}

/* Takes back an accepted message that could not be scheduled: the caller keeps the payload. */
static void unsend(hs_net *net, hs_link *l, hs_message *m) {
  l->stats.sent--, l->stats.bytes_sent -= m->size_bytes;
  net->stats.sent--, net->stats.bytes_sent -= m->size_bytes;
  m->payload = NULL;
  hs_net__msg_free(net, m);
}

int hs_net_send(hs_net *net, hs_entity *src, hs_entity *dst, const char *type, void *payload,
                uint64_t size_bytes, uint64_t *id_out) {
  if (net->closed || net->sim->closed) return HS_ECLOSED;
  if (!hs_net__member(net, src) || !hs_net__member(net, dst)) return HS_NET_EUNKNOWN;
  if (hs_entity_crashed(src)) return HS_NET_ECRASHED;
  hs_link *l = hs_net__pair(net, src, dst, true);
  if (!l) return HS_ENOMEM;
  hs_message *m = hs_net__msg_alloc(net);
  if (!m) return HS_ENOMEM;

  m->net = net;
  m->link = l;
  m->src = src;
  m->dst = dst;
  m->type = type;
  m->payload = payload;
  m->size_bytes = size_bytes;
  m->id = ++net->next_msg_id;
  m->copy = 0;
  m->state = HS_MSG_SENDING;
  m->sent_ns = hs_sim_now(net->sim);
  m->extra_delay_ns = 0;
  hs_event_init(&m->ev, arrive, dst, type);
  if (id_out) *id_out = m->id;
  count(net, l, HS_NET_SENT, size_bytes);
  hs_net__notify(net, m, HS_NET_SENT);

  if (!hs_net_route(net, l)) {
    hs_net__drop(net, m, HS_NET_DROPPED_NO_ROUTE);
    return HS_OK;
  }
  if (hs_net__cut(net, src->id, dst->id)) {
    hs_net__drop(net, m, HS_NET_DROPPED_PARTITION);
    return HS_OK;
  }
  uint32_t extra = 0;
  if (net->filter) {
    hs_verdict v = net->filter(net->filter_ud, m);
    if (v != HS_VERDICT_DELAY) m->extra_delay_ns = 0;
    switch (v) {
    case HS_VERDICT_DROP: hs_net__drop(net, m, HS_NET_DROPPED_FILTER); return HS_OK;
    case HS_VERDICT_HOLD: hold(net, m); return HS_OK;
    case HS_VERDICT_DUPLICATE: extra = 1; break;
    default: break;
    }
  }
  /* The filter may have changed the links: look the route up again. */
  const hs_link_params *p = hs_net_route(net, l);
  if (!p) {
    hs_net__drop(net, m, HS_NET_DROPPED_NO_ROUTE);
    return HS_OK;
  }
  int rc = transmit(net, l, p, m, extra);
  if (rc != HS_OK) unsend(net, l, m);
  return rc;
}
