/* Partitions: stacked cuts between two groups of entities, each healed by its handle. */
#include "net/hs_net_internal.h"

#include <stdlib.h>
#include <string.h>

static inline bool has(const uint64_t *bits, uint32_t words, uint32_t id) {
  return id / 64 < words && (bits[id / 64] >> (id % 64) & 1);
}

bool hs_net__cut(const hs_net *net, uint32_t src_id, uint32_t dst_id) {
  for (uint32_t i = 0; i < net->part_count; i++) {
    const hs_partition_rec *p = net->parts[i];
    if (has(p->a_bits, p->words, src_id) && has(p->b_bits, p->words, dst_id)) return true;
    if (!p->asymmetric && has(p->b_bits, p->words, src_id) && has(p->a_bits, p->words, dst_id)) return true;
  }
  return false;
}

static void partition_free(hs_partition_rec *p) {
  if (!p) return;
  free(p->a_bits);
  free(p->b_bits);
  free(p);
}

/* Checks a group; raises *max_id to its largest entity id. */
static int check_group(const hs_net *net, hs_entity *const *g, size_t n, uint32_t *max_id) {
  if (n == 0) return HS_NET_EGROUP;
  for (size_t i = 0; i < n; i++) {
    if (!hs_net__member(net, g[i])) return HS_NET_EUNKNOWN;
    if (g[i]->id > *max_id) *max_id = g[i]->id;
  }
  return HS_OK;
}

int hs_net_partition(hs_net *net, hs_entity *const *a, size_t na, hs_entity *const *b, size_t nb,
                     bool asymmetric, hs_partition_id *out) {
  if (net->closed) return HS_ECLOSED;
  uint32_t max_id = 0;
  int rc = check_group(net, a, na, &max_id);
  if (rc == HS_OK) rc = check_group(net, b, nb, &max_id);
  if (rc != HS_OK) return rc;
  if (net->next_part_id == UINT32_MAX) return HS_ENOMEM; /* handles never wrap */
  if (net->part_count == net->part_cap) {
    uint32_t cap = net->part_cap ? net->part_cap * 2 : 4;
    hs_partition_rec **parts = realloc(net->parts, (size_t)cap * sizeof *parts);
    if (!parts) return HS_ENOMEM;
    net->parts = parts;
    net->part_cap = cap;
  }
  hs_partition_rec *p = calloc(1, sizeof *p);
  if (!p) return HS_ENOMEM;
  p->words = max_id / 64 + 1;
  p->a_bits = calloc(p->words, sizeof *p->a_bits);
  p->b_bits = calloc(p->words, sizeof *p->b_bits);
  if (!p->a_bits || !p->b_bits) {
    partition_free(p);
    return HS_ENOMEM;
  }
  for (size_t i = 0; i < na; i++) p->a_bits[a[i]->id / 64] |= 1ULL << (a[i]->id % 64);
  for (size_t i = 0; i < nb; i++) {
    uint32_t id = b[i]->id;
    if (has(p->a_bits, p->words, id)) {
      partition_free(p);
      return HS_NET_EGROUP;
    }
    p->b_bits[id / 64] |= 1ULL << (id % 64);
  }
  p->asymmetric = asymmetric;
  p->id = ++net->next_part_id;
  net->parts[net->part_count++] = p;
  if (out) *out = p->id;
  return HS_OK;
}

int hs_net_heal(hs_net *net, hs_partition_id id) {
  for (uint32_t i = 0; i < net->part_count; i++) {
    if (net->parts[i]->id != id) continue;
    partition_free(net->parts[i]);
    memmove(net->parts + i, net->parts + i + 1, (size_t)(net->part_count - i - 1) * sizeof *net->parts);
    net->part_count--;
    return HS_OK;
  }
  return HS_NET_ENOPART;
}

void hs_net_heal_all(hs_net *net) {
  for (uint32_t i = 0; i < net->part_count; i++) partition_free(net->parts[i]);
  net->part_count = 0;
}

bool hs_net_partition_active(const hs_net *net, hs_partition_id id) {
  for (uint32_t i = 0; i < net->part_count; i++)
    if (net->parts[i]->id == id) return true;
  return false;
}

bool hs_net_is_partitioned(const hs_net *net, const hs_entity *a, const hs_entity *b) {
  if (!hs_net__member(net, a) || !hs_net__member(net, b)) return false;
  return hs_net__cut(net, a->id, b->id);
}

hs_partition_id hs_net_partition_at(const hs_net *net, size_t i) {
  return i < net->part_count ? net->parts[i]->id : 0;
}

void hs_net__partitions_free(hs_net *net) {
  hs_net_heal_all(net);
  free(net->parts);
  net->parts = NULL;
  net->part_cap = 0;
}
