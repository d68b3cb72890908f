/* The message slab: fixed chunks of HS_NET_MSG_CHUNK messages and a LIFO free list. */
#include "net/hs_net_internal.h"

#include <stdlib.h>
#include <string.h>

/* Adds one chunk to the free list. HS_OK or HS_ENOMEM. */
static int grow(hs_net *net) {
  if (net->msg_chunk_count == net->msg_chunk_cap) {
    uint32_t cap = net->msg_chunk_cap ? net->msg_chunk_cap * 2 : 8;
    if (cap <= net->msg_chunk_cap) return HS_ENOMEM;
    hs_message **chunks = realloc(net->msg_chunks, (size_t)cap * sizeof *chunks);
    if (!chunks) return HS_ENOMEM;
    net->msg_chunks = chunks;
    net->msg_chunk_cap = cap;
  }
  hs_message *c = calloc(HS_NET_MSG_CHUNK, sizeof *c);
  if (!c) return HS_ENOMEM;
  net->msg_chunks[net->msg_chunk_count++] = c;
  /* Thread the free list so that the chunk is handed out in index order. */
  for (uint32_t i = HS_NET_MSG_CHUNK; i-- > 0;) {
    c[i].state = HS_MSG_FREE;
    c[i].next = net->free_list;
    net->free_list = &c[i];
  }
  return HS_OK;
}

hs_message *hs_net__msg_alloc(hs_net *net) {
  if (!net->free_list && grow(net) != HS_OK) return NULL;
  hs_message *m = net->free_list;
  net->free_list = m->next;
  m->next = m->prev = NULL;
  net->msg_in_use++;
  return m;
}

void hs_net__msg_free(hs_net *net, hs_message *m) {
  m->state = HS_MSG_FREE;
  m->payload = NULL;
  m->type = NULL;
  m->prev = NULL;
  m->next = net->free_list;
  net->free_list = m;
  net->msg_in_use--;
}

void hs_net__msg_release_payload(hs_net *net, hs_message *m) {
  void *p = m->payload;
  m->payload = NULL;
  if (p && net->payload_ops.release) net->payload_ops.release(net->payload_ops.ud, p);
}

void hs_net__msgs_free_all(hs_net *net) {
  /* Pass 1: take every pending delivery out of the simulation, in slab order. */
  for (uint32_t k = 0; k < net->msg_chunk_count; k++) {
    hs_message *c = net->msg_chunks[k];
    for (uint32_t i = 0; i < HS_NET_MSG_CHUNK; i++) {
      if (c[i].state != HS_MSG_IN_FLIGHT) continue;
      hs_sim_cancel(net->sim, &c[i].ev); /* false when the simulation is closed: fine */
      hs_net__msg_release_payload(net, &c[i]);
      c[i].state = HS_MSG_FREE;
    }
  }
  /* Pass 2: held messages, in hold order. */
  for (hs_message *m = net->held_head; m; m = m->next) {
    hs_net__msg_release_payload(net, m);
    m->state = HS_MSG_FREE;
  }
  net->held_head = net->held_tail = NULL;
  net->held_count = 0;
  net->in_flight = 0;
  for (uint32_t k = 0; k < net->msg_chunk_count; k++) free(net->msg_chunks[k]);
  free(net->msg_chunks);
  net->msg_chunks = NULL;
  net->msg_chunk_count = net->msg_chunk_cap = 0;
  net->free_list = NULL;
  net->msg_in_use = 0;
}
