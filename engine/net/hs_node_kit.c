/*
 * hs_node_kit.c - the engine side shared by the protocol adapters (hs_node_kit.h): the member
 * table, sending through the envelope, timers at absolute times.
 */
#include "net/hs_node_kit.h"

#include <stdlib.h>
#include <string.h>

#include "net/hs_envelope.h"

/* A protocol message travels as a plain envelope and an hs_value string (a tag and a u32
 * length, then the core's encoding). */
#define HEADER HS_ENVELOPE_MSG_HEADER /* envelope + string tag + u32 length (net/hs_envelope.h) */

void hs_node_kit_init(hs_node_kit *k, hs_entity *self, hs_net *net, hs_blob_pool *pool) {
  memset(k, 0, sizeof *k);
  k->self = self;
  k->net = net;
  k->pool = pool;
}

void hs_node_kit_free(hs_node_kit *k) {
  free(k->peers);
  k->peers = NULL;
  k->peer_cap = 0;
}

int hs_node_kit_set_peer(hs_node_kit *k, uint32_t id, hs_entity *e) {
  if (id == 0) return HS_EINVAL;
  if (id >= k->peer_cap) {
    uint32_t cap = k->peer_cap ? k->peer_cap : 8;
    while (cap <= id) cap *= 2;
    hs_entity **p = realloc(k->peers, cap * sizeof *p);
    if (!p) return HS_ENOMEM;
    memset(p + k->peer_cap, 0, (cap - k->peer_cap) * sizeof *p);
    k->peers = p;
    k->peer_cap = cap;
  }
  k->peers[id] = e;
  return HS_OK;
}

void hs_node_kit_clear_peers(hs_node_kit *k) {
  if (k->peers) memset(k->peers, 0, k->peer_cap * sizeof *k->peers);
}

hs_entity *hs_node_kit_peer(hs_node_kit *k, uint32_t id, hs_node_kit_resolve_fn resolve, void *ud) {
  if (id < k->peer_cap && k->peers[id]) return k->peers[id];
  hs_entity *e = resolve ? resolve(ud, id) : NULL;
  if (e) hs_node_kit_set_peer(k, id, e);
  return e;
}

void hs_node_kit_send(hs_node_kit *k, hs_entity *to, const char *type, const void *m, size_t size,
                      hs_node_kit_encode_fn encode) {
  if (size > UINT32_MAX - HEADER) return;
  hs_blob *b = hs_blob_alloc(k->pool, HEADER + size);
  if (!b) return;
  hs_envelope_put_msg_header(b->data, size);
  size_t written = encode(m, b->data + HEADER, size);
  HS_ASSERT(written == size);
  (void)written;
  if (hs_net_send(k->net, k->self, to, type, b, b->size, NULL) != HS_OK) hs_blob_free(k->pool, b);
}

void hs_node_kit_arm(hs_node_kit *k, hs_timer *t, hs_time_ns at) {
  if (at == HS_TIME_NEVER) {
    hs_timer_stop(t);
    return;
  }
  hs_time_ns now = hs_node_kit_now(k);
  hs_timer_start(t, at > now ? at - now : 0);
}

bool hs_node_kit_is_protocol(const hs_message *m) {
  const hs_blob *b = m->payload;
  return b && hs_envelope_is_msg(b->data, b->size);
}
