/*
 * hs_link.h - link parameters, per-link state and traffic counters.
 *
 * An hs_link_params is a plain value describing how a directed link behaves. The network
 * copies (and shares, between links with equal parameters) what it is given, so the caller's
 * struct can be reused or discarded right after the call.
 *
 * An hs_link is the network's record for one ordered (src, dst) pair: the parameters of its
 * explicit link (or none: the network's default link is used), its transmitter and FIFO
 * state, its own random stream and its counters. Records are created by hs_net_add_link and,
 * for pairs without an explicit link, on the first send between them; they are never moved
 * or freed before the network closes, and hs_net_link_at enumerates them in creation order,
 * which is the traffic matrix. Fields are read-only for everyone but the network.
 */
#ifndef HS_LINK_H
#define HS_LINK_H

#include "core/hs_entity.h"
#include "net/hs_dist.h"

typedef struct hs_link_params {
  hs_dist latency;         /* propagation delay, seconds */
  hs_dist jitter;          /* added to the latency; constant(0) (the zero value) for none */
  double bandwidth_bps;    /* bits per second; 0 = infinite (no serialization delay) */
  double packet_loss_rate; /* [0, 1]: probability a message is lost in transit */
  double duplicate_rate;   /* [0, 1]: probability one extra copy is delivered */
  double reorder_rate;     /* [0, 1]: probability a message leaves the link's FIFO order */
  double reorder_delay_s;  /* a reordered message is held back by uniform [0, this); 0 = the
                              mean latency + mean jitter of the link */
} hs_link_params;

/* Latency 0, no jitter, infinite bandwidth, no loss, duplication or reordering. */
void hs_link_params_init(hs_link_params *p);
/* NULL when p is valid, else a static message naming the bad field
 * ("packet_loss_rate must be in [0, 1]", "latency: normal stddev must be >= 0", ...). */
const char *hs_link_params_validate(const hs_link_params *p);

/*
 * Counters, per link and for the whole network. Every message accepted by hs_net_send adds
 * one to sent; every extra copy (link duplication or a DUPLICATE verdict) adds one to
 * duplicated. Each of those sent + duplicated copies ends in exactly one of delivered or a
 * dropped_* counter, or is still in flight or held:
 *
 *   sent + duplicated == delivered + dropped (hs_net_counters_dropped) + in flight + held now
 *
 * held counts messages ever parked by a HOLD verdict (a held message later counts as
 * delivered or dropped_filter). Bytes are the sizes given to hs_net_send: bytes_sent once per
 * accepted message, bytes_delivered once per delivered copy.
 */
typedef struct hs_net_counters {
  uint64_t sent;
  uint64_t delivered;
  uint64_t duplicated;
  uint64_t held;
  uint64_t dropped_loss;      /* lost by the link's packet_loss_rate */
  uint64_t dropped_partition; /* cut by a partition at send or at arrival */
  uint64_t dropped_crash;     /* the destination was crashed at arrival */
  uint64_t dropped_no_route;  /* no explicit link and no default link */
  uint64_t dropped_filter;    /* DROP verdict, or a held message dropped */
  uint64_t bytes_sent;
  uint64_t bytes_delivered;
} hs_net_counters;

static inline uint64_t hs_net_counters_dropped(const hs_net_counters *c) {
  return c->dropped_loss + c->dropped_partition + c->dropped_crash + c->dropped_no_route + c->dropped_filter;
}

typedef struct hs_link {
  hs_entity *src;
  hs_entity *dst;
  const hs_link_params *params; /* explicit link's parameters; NULL: the default link applies */
  uint32_t index;               /* creation order: hs_net_link_at(net, index) == this */
  hs_time_ns busy_until_ns;     /* the transmitter is free from then on (bandwidth queue) */
  hs_time_ns last_arrival_ns;   /* latest in-order arrival scheduled (the FIFO clamp) */
  hs_rng rng;                   /* stream "net:<network>:<src>-><dst>" (entity names, else ids) */
  hs_net_counters stats;
} hs_link;

/* True when the pair has its own link (hs_net_add_link); false when it uses the default. */
static inline bool hs_link_explicit(const hs_link *l) { return l->params != NULL; }

#endif
