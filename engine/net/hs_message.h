/*
 * hs_message.h - a message in the simulated network.
 *
 * Messages are allocated by the network from its own slab (free list), one per copy, and
 * embed the hs_event of their delivery: a delivered copy costs exactly one engine event.
 * Callers never allocate or free them. A message pointer is valid:
 *   - in the interception filter, during the call;
 *   - in the entity's on_message and in the network observer, during the call;
 *   - while it is held (HS_MSG_HELD), until hs_net_held_deliver/hs_net_held_drop or close.
 * After that the struct is recycled for another message. Fields are read-only to everyone
 * but the network, except extra_delay_ns (hs_message_set_delay, from a filter) and the
 * payload (hs_message_take_payload, from on_message).
 *
 * Payload ownership: see hs_net_payload_ops in hs_net.h.
 */
#ifndef HS_MESSAGE_H
#define HS_MESSAGE_H

#include "core/hs_event.h"

typedef struct hs_net hs_net;
typedef struct hs_link hs_link;

typedef enum hs_message_state {
  HS_MSG_FREE = 0,   /* in the free list */
  HS_MSG_SENDING,    /* being routed inside hs_net_send (the filter sees this state) */
  HS_MSG_IN_FLIGHT,  /* its delivery event is pending */
  HS_MSG_HELD,       /* parked by a HOLD verdict */
  HS_MSG_DELIVERING, /* being handed to the destination (on_message) */
  HS_MSG_DROPPED     /* being reported to the observer as dropped */
} hs_message_state;

struct hs_message {
  hs_event ev; /* in flight: queued at its arrival time (hs_sim_event_time); ev.target == dst */
  hs_net *net;
  hs_link *link; /* the (src, dst) record; its counters include this message */
  hs_entity *src;
  hs_entity *dst;
  const char *type; /* as given to hs_net_send; must outlive the message */
  void *payload;    /* owned by the network until released or taken */
  uint64_t size_bytes;
  uint64_t id;               /* 1, 2, ... in send order; duplicates share their original's id */
  uint32_t copy;             /* 0 for the original, 1.. for duplicates */
  uint32_t state;            /* hs_message_state */
  hs_time_ns sent_ns;        /* simulation time of hs_net_send */
  hs_time_ns extra_delay_ns; /* set by a filter returning HS_VERDICT_DELAY */
  hs_message *next;          /* free list / held list */
  hs_message *prev;          /* held list */
};

/* Takes the payload out of a message being delivered: the caller now owns it and the network
 * will not release it. Returns the payload (NULL if already taken). */
static inline void *hs_message_take_payload(hs_message *m) {
  void *p = m->payload;
  m->payload = NULL;
  return p;
}

/* For a filter returning HS_VERDICT_DELAY: the extra delay before arrival (negative = 0). */
static inline void hs_message_set_delay(hs_message *m, hs_time_ns delay_ns) {
  m->extra_delay_ns = delay_ns > 0 ? delay_ns : 0;
}

#endif
