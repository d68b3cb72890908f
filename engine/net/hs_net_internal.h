/*
 * hs_net_internal.h - what the network's source files share; not part of the public API.
 */
#ifndef HS_NET_INTERNAL_H
#define HS_NET_INTERNAL_H

#include "net/hs_net.h"

/* A shared, reference-counted copy of link parameters, with values derived from them. */
struct hs_net_params_entry {
  hs_link_params p; /* canonical: unused bytes zeroed, so equal parameters compare equal */
  uint64_t hash;
  uint32_t refs;
  double reorder_window_s; /* reorder_delay_s, or the mean latency + jitter when that is 0 */
};

static inline const hs_net_params_entry *hs_net__entry_of(const hs_link_params *p) {
  return HS_CONTAINER_OF(p, const hs_net_params_entry, p);
}

struct hs_partition_rec {
  hs_partition_id id;
  bool asymmetric;
  uint32_t words;   /* length of a_bits and b_bits */
  uint64_t *a_bits; /* entity id i is in group a when bit i is set */
  uint64_t *b_bits;
};

/* hs_link.c: parameters pool */
const hs_link_params *hs_net__params_acquire(hs_net *net, const hs_link_params *p); /* NULL: ENOMEM */
void hs_net__params_release(hs_net *net, const hs_link_params *p);
void hs_net__params_free_all(hs_net *net);

/* hs_link.c: the pair table */
hs_link *hs_net__pair(hs_net *net, hs_entity *src, hs_entity *dst, bool create); /* NULL: none/ENOMEM */
void hs_net__links_free(hs_net *net);

/* hs_msgpool.c */
hs_message *hs_net__msg_alloc(hs_net *net);        /* NULL: ENOMEM */
void hs_net__msg_free(hs_net *net, hs_message *m); /* recycles the struct; payload must be gone */
void hs_net__msg_release_payload(hs_net *net, hs_message *m);
void hs_net__msgs_free_all(hs_net *net); /* releases payloads, cancels events, frees the slab */

/* hs_send.c */
void hs_net__drop(hs_net *net, hs_message *m, hs_net_outcome why); /* counts, reports, recycles */
int hs_net__schedule(hs_net *net, hs_message *m, hs_time_ns arrival);
static inline void hs_net__notify(hs_net *net, const hs_message *m, hs_net_outcome o) {
  if (net->observer) net->observer(net->observer_ud, m, o);
}

/* hs_partition.c */
bool hs_net__cut(const hs_net *net, uint32_t src_id, uint32_t dst_id);
void hs_net__partitions_free(hs_net *net);

/* hs_intern.c */
void hs_net__interned_free(hs_net *net);

/* True when e is registered with the network's simulation. */
static inline bool hs_net__member(const hs_net *net, const hs_entity *e) {
  const hs_sim *sim = net->sim;
  return e && e->sim == sim && e->id < sim->entity_count && sim->entities[e->id] == e;
}

#endif
