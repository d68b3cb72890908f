/* The network's life cycle, link management and hooks (see hs_net.h). */
#include "net/hs_net_internal.h"

#include <stdlib.h>
#include <string.h>

const char *hs_net_strerror(int code) {
  switch (code) {
  case HS_NET_EUNKNOWN: return "entity is not registered with the network's simulation";
  case HS_NET_ESELF: return "a link cannot connect an entity to itself";
  case HS_NET_ECRASHED: return "the source entity is crashed";
  case HS_NET_EPARAM: return "invalid link parameters";
  case HS_NET_ENOTHELD: return "the message is not held by this network";
  case HS_NET_ENOPART: return "no active partition has this handle";
  case HS_NET_EGROUP: return "a partition group is empty or shares an entity with the other group";
  default: return hs_strerror(code);
  }
}

const char *hs_net_outcome_name(hs_net_outcome o) {
  switch (o) {
  case HS_NET_SENT: return "sent";
  case HS_NET_HELD: return "held";
  case HS_NET_DELIVERED: return "delivered";
  case HS_NET_DROPPED_LOSS: return "dropped_loss";
  case HS_NET_DROPPED_PARTITION: return "dropped_partition";
  case HS_NET_DROPPED_CRASH: return "dropped_crash";
  case HS_NET_DROPPED_NO_ROUTE: return "dropped_no_route";
  case HS_NET_DROPPED_FILTER: return "dropped_filter";
  }
  return "unknown";
}

int hs_net_init(hs_net *net, hs_sim *sim, const char *name) {
  memset(net, 0, sizeof *net);
  net->sim = sim;
  if (!name) name = "net";
  size_t n = strlen(name);
  net->stream_prefix = malloc(n + 5);
  if (!net->stream_prefix) {
    net->closed = true;
    return HS_ENOMEM;
  }
  memcpy(net->stream_prefix, "net:", 4);
  memcpy(net->stream_prefix + 4, name, n + 1);
  net->name = net->stream_prefix + 4;
  return HS_OK;
}

void hs_net_close(hs_net *net) {
  if (net->closed) return;
  net->closed = true; /* first: a release callback calling back in finds a closed network */
  hs_net__msgs_free_all(net);
  for (uint32_t i = 0; i < net->link_count; i++) {
    hs_link *l = hs_net_link_at(net, i);
    l->params = NULL;
  }
  net->default_params = NULL;
  hs_net__params_free_all(net);
  hs_net__links_free(net);
  hs_net__partitions_free(net);
  hs_net__interned_free(net);
  free(net->stream_prefix);
  net->stream_prefix = NULL;
  net->name = "(closed)";
}

/* Validates p and takes a pooled reference. */
static int acquire(hs_net *net, const hs_link_params *p, const hs_link_params **out) {
  if (!p || hs_link_params_validate(p)) return HS_NET_EPARAM;
  *out = hs_net__params_acquire(net, p);
  return *out ? HS_OK : HS_ENOMEM;
}

static int check_pair(const hs_net *net, const hs_entity *src, const hs_entity *dst) {
  if (net->closed) return HS_ECLOSED;
  if (!hs_net__member(net, src) || !hs_net__member(net, dst)) return HS_NET_EUNKNOWN;
  if (src == dst) return HS_NET_ESELF;
  return HS_OK;
}

/* Points the pair's record at the pooled parameters q (a reference the record now owns). */
static int set_link(hs_net *net, hs_entity *src, hs_entity *dst, const hs_link_params *q, hs_link **out) {
  hs_link *l = hs_net__pair(net, src, dst, true);
  if (!l) {
    hs_net__params_release(net, q);
    return HS_ENOMEM;
  }
  const hs_link_params *old = l->params;
  l->params = q;
  hs_net__params_release(net, old);
  if (out) *out = l;
  return HS_OK;
}

int hs_net_add_link(hs_net *net, hs_entity *src, hs_entity *dst, const hs_link_params *p, hs_link **out) {
  int rc = check_pair(net, src, dst);
  const hs_link_params *q;
  if (rc == HS_OK) rc = acquire(net, p, &q);
  if (rc != HS_OK) return rc;
  return set_link(net, src, dst, q, out);
}

int hs_net_add_bidirectional_link(hs_net *net, hs_entity *a, hs_entity *b, const hs_link_params *p) {
  int rc = check_pair(net, a, b);
  if (rc == HS_OK && (!p || hs_link_params_validate(p))) rc = HS_NET_EPARAM;
  if (rc == HS_OK) rc = hs_net_add_link(net, a, b, p, NULL);
  if (rc == HS_OK) rc = hs_net_add_link(net, b, a, p, NULL);
  return rc;
}

int hs_net_connect_all(hs_net *net, hs_entity *const *nodes, size_t n, const hs_link_params *p) {
  if (net->closed) return HS_ECLOSED;
  for (size_t i = 0; i < n; i++)
    if (!hs_net__member(net, nodes[i])) return HS_NET_EUNKNOWN;
  if (!p || hs_link_params_validate(p)) return HS_NET_EPARAM;
  for (size_t i = 0; i < n; i++) {
    for (size_t j = 0; j < n; j++) {
      if (nodes[i] == nodes[j]) continue;
      int rc = hs_net_add_link(net, nodes[i], nodes[j], p, NULL);
      if (rc != HS_OK) return rc;
    }
  }
  return HS_OK;
}

int hs_net_remove_link(hs_net *net, hs_entity *src, hs_entity *dst) {
  if (net->closed) return HS_ECLOSED;
  if (!hs_net__member(net, src) || !hs_net__member(net, dst)) return HS_NET_EUNKNOWN;
  hs_link *l = hs_net__pair(net, src, dst, false);
  if (l && l->params) {
    hs_net__params_release(net, l->params);
    l->params = NULL;
  }
  return HS_OK;
}

int hs_net_set_default_link(hs_net *net, const hs_link_params *p) {
  if (net->closed) return HS_ECLOSED;
  const hs_link_params *q = NULL;
  if (p) {
    int rc = acquire(net, p, &q);
    if (rc != HS_OK) return rc;
  }
  hs_net__params_release(net, net->default_params);
  net->default_params = q;
  return HS_OK;
}

hs_link *hs_net_find_link(const hs_net *net, const hs_entity *src, const hs_entity *dst) {
  if (net->closed || !hs_net__member(net, src) || !hs_net__member(net, dst)) return NULL;
  /* hs_net__pair does not modify anything when create is false. */
  return hs_net__pair((hs_net *)net, (hs_entity *)src, (hs_entity *)dst, false);
}

void hs_net_set_payload_ops(hs_net *net, const hs_net_payload_ops *ops) {
  if (ops)
    net->payload_ops = *ops;
  else
    memset(&net->payload_ops, 0, sizeof net->payload_ops);
}

void hs_net_set_filter(hs_net *net, hs_net_filter_fn fn, void *ud) {
  net->filter = fn;
  net->filter_ud = ud;
}

void hs_net_set_observer(hs_net *net, hs_net_observer_fn fn, void *ud) {
  net->observer = fn;
  net->observer_ud = ud;
}
