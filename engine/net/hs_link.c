/* Link parameters (validation, the shared pool) and the table of (src, dst) link records. */
#include "net/hs_net_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hs_link_params_init(hs_link_params *p) {
  memset(p, 0, sizeof *p);
  p->latency = hs_dist_constant(0);
  p->jitter = hs_dist_constant(0);
}

static bool rate_ok(double r) { return r >= 0 && r <= 1; } /* false for NaN */

const char *hs_link_params_validate(const hs_link_params *p) {
  /* Distribution messages are static; prefix them with the field by kind of check. */
  const char *e = hs_dist_validate(&p->latency);
  if (e) return "latency is not a valid duration distribution (negative, NaN or bad parameters)";
  e = hs_dist_validate(&p->jitter);
  if (e) return "jitter is not a valid duration distribution (negative, NaN or bad parameters)";
  if (!(p->bandwidth_bps >= 0) || isinf(p->bandwidth_bps))
    return "bandwidth_bps must be a finite number >= 0 (0: infinite)";
  if (!rate_ok(p->packet_loss_rate)) return "packet_loss_rate must be in [0, 1]";
  if (!rate_ok(p->duplicate_rate)) return "duplicate_rate must be in [0, 1]";
  if (!rate_ok(p->reorder_rate)) return "reorder_rate must be in [0, 1]";
  if (!hs_time_s_valid(p->reorder_delay_s)) return "reorder_delay_s must be a number of seconds >= 0";
  return NULL;
}

/* ---- The pool: equal parameters are stored once and shared by reference count ---------- */

static void canonical_dist(hs_dist *dst, const hs_dist *src) {
  dst->kind = src->kind;
  dst->a = src->a;
  dst->b = src->b;
  dst->offset = src->offset;
  if (src->kind == HS_DIST_PERCENTILES) {
    dst->npoints = src->npoints;
    for (uint32_t i = 0; i < src->npoints && i < HS_DIST_MAX_POINTS; i++) {
      dst->p[i] = src->p[i];
      dst->v[i] = src->v[i];
    }
  }
}

/* Writes p into a zeroed out so that equal parameters are equal byte for byte. */
static void canonical(hs_link_params *out, const hs_link_params *p) {
  memset(out, 0, sizeof *out);
  canonical_dist(&out->latency, &p->latency);
  canonical_dist(&out->jitter, &p->jitter);
  out->bandwidth_bps = p->bandwidth_bps;
  out->packet_loss_rate = p->packet_loss_rate;
  out->duplicate_rate = p->duplicate_rate;
  out->reorder_rate = p->reorder_rate;
  out->reorder_delay_s = p->reorder_delay_s;
}

/* Takes a reference to the pooled copy of p (validated by the caller). NULL on ENOMEM. */
const hs_link_params *hs_net__params_acquire(hs_net *net, const hs_link_params *p) {
  hs_link_params c;
  canonical(&c, p);
  uint64_t h = hs_hash_bytes(&c, sizeof c);
  for (uint32_t i = 0; i < net->pool_count; i++) {
    hs_net_params_entry *e = net->pool[i];
    if (e->hash == h && memcmp(&e->p, &c, sizeof c) == 0) {
      e->refs++;
      return &e->p;
    }
  }
  if (net->pool_count == net->pool_cap) {
    uint32_t cap = net->pool_cap ? net->pool_cap * 2 : 8;
    hs_net_params_entry **pool = realloc(net->pool, (size_t)cap * sizeof *pool);
    if (!pool) return NULL;
    net->pool = pool;
    net->pool_cap = cap;
  }
  hs_net_params_entry *e = malloc(sizeof *e);
  if (!e) return NULL;
  e->p = c;
  e->hash = h;
  e->refs = 1;
  e->reorder_window_s =
      c.reorder_delay_s > 0 ? c.reorder_delay_s : hs_dist_mean(&c.latency) + hs_dist_mean(&c.jitter);
  if (!(e->reorder_window_s >= 0 && e->reorder_window_s <= HS_TIME_MAX_S)) e->reorder_window_s = 0;
  net->pool[net->pool_count++] = e;
  return &e->p;
}

void hs_net__params_release(hs_net *net, const hs_link_params *p) {
  if (!p) return;
  for (uint32_t i = 0; i < net->pool_count; i++) {
    hs_net_params_entry *e = net->pool[i];
    if (&e->p != p) continue;
    if (--e->refs == 0) {
      free(e);
      net->pool[i] = net->pool[--net->pool_count]; /* the pool's order matters to nothing */
    }
    return;
  }
}

void hs_net__params_free_all(hs_net *net) {
  for (uint32_t i = 0; i < net->pool_count; i++) free(net->pool[i]);
  free(net->pool);
  net->pool = NULL;
  net->pool_count = net->pool_cap = 0;
}

/* ---- The pair table: open addressing, (src id << 32 | dst id) -> record index + 1 ------- */

static inline uint64_t pair_key(uint32_t src, uint32_t dst) { return (uint64_t)src << 32 | dst; }

static inline uint32_t slot_of(uint64_t key, uint32_t cap) {
  return (uint32_t)((key * 0x9e3779b97f4a7c15ULL) >> 32) & (cap - 1);
}

static uint32_t map_get(const hs_net *net, uint64_t key) {
  if (!net->map_cap) return 0;
  for (uint32_t i = slot_of(key, net->map_cap);; i = (i + 1) & (net->map_cap - 1)) {
    uint32_t v = net->map_vals[i];
    if (v == 0 || net->map_keys[i] == key) return v;
  }
}

static void map_put_unchecked(uint64_t *keys, uint32_t *vals, uint32_t cap, uint64_t key, uint32_t val) {
  uint32_t i = slot_of(key, cap);
  while (vals[i]) i = (i + 1) & (cap - 1);
  keys[i] = key;
  vals[i] = val;
}

/* Keeps the load factor at most 1/2. HS_OK or HS_ENOMEM (the map is unchanged). */
static int map_reserve(hs_net *net, uint32_t count) {
  if (net->map_cap && (uint64_t)count * 2 <= net->map_cap) return HS_OK;
  uint32_t cap = net->map_cap ? net->map_cap * 2 : 64;
  if (cap == 0 || (uint64_t)count * 2 > cap) return HS_ENOMEM;
  uint64_t *keys = malloc((size_t)cap * sizeof *keys);
  uint32_t *vals = calloc(cap, sizeof *vals);
  if (!keys || !vals) {
    free(keys);
    free(vals);
    return HS_ENOMEM;
  }
  for (uint32_t i = 0; i < net->map_cap; i++)
    if (net->map_vals[i]) map_put_unchecked(keys, vals, cap, net->map_keys[i], net->map_vals[i]);
  free(net->map_keys);
  free(net->map_vals);
  net->map_keys = keys;
  net->map_vals = vals;
  net->map_cap = cap;
  return HS_OK;
}

/* Seeds the record's stream from the network and the entities' names (ids when unnamed). */
static void seed_link(hs_net *net, hs_link *l) {
  char buf[256];
  char sid[16], did[16];
  const char *sn = l->src->name, *dn = l->dst->name;
  if (!sn) snprintf(sid, sizeof sid, "#%u", (unsigned)l->src->id), sn = sid;
  if (!dn) snprintf(did, sizeof did, "#%u", (unsigned)l->dst->id), dn = did;
  int n = snprintf(buf, sizeof buf, "%s:%s->%s", net->stream_prefix, sn, dn);
  if (n >= 0 && (size_t)n < sizeof buf) {
    hs_sim_stream(net->sim, &l->rng, buf, (size_t)n);
    return;
  }
  char *big = malloc((size_t)n + 1);
  if (big) {
    snprintf(big, (size_t)n + 1, "%s:%s->%s", net->stream_prefix, sn, dn);
    hs_sim_stream(net->sim, &l->rng, big, (size_t)n);
    free(big);
  } else { /* fall back to the truncated name: still deterministic */
    hs_sim_stream(net->sim, &l->rng, buf, sizeof buf - 1);
  }
}

/* A fresh record at the end of the chunks, or NULL on ENOMEM. */
static hs_link *append_link(hs_net *net) {
  uint32_t chunk = net->link_count / HS_NET_LINK_CHUNK;
  if (net->link_count == UINT32_MAX - 1) return NULL;
  if (net->link_count % HS_NET_LINK_CHUNK == 0) {
    if (chunk == net->link_chunk_cap) {
      uint32_t cap = net->link_chunk_cap ? net->link_chunk_cap * 2 : 8;
      hs_link **chunks = realloc(net->link_chunks, (size_t)cap * sizeof *chunks);
      if (!chunks) return NULL;
      net->link_chunks = chunks;
      net->link_chunk_cap = cap;
    }
    hs_link *c = malloc(HS_NET_LINK_CHUNK * sizeof *c);
    if (!c) return NULL;
    net->link_chunks[chunk] = c;
  }
  return &net->link_chunks[chunk][net->link_count % HS_NET_LINK_CHUNK];
}

hs_link *hs_net__pair(hs_net *net, hs_entity *src, hs_entity *dst, bool create) {
  uint64_t key = pair_key(src->id, dst->id);
  uint32_t v = map_get(net, key);
  if (v) return hs_net_link_at(net, v - 1);
  if (!create) return NULL;
  if (map_reserve(net, net->link_count + 1) != HS_OK) return NULL;
  hs_link *l = append_link(net);
  if (!l) return NULL;
  memset(l, 0, sizeof *l);
  l->src = src;
  l->dst = dst;
  l->params = NULL;
  l->index = net->link_count;
  l->busy_until_ns = 0;
  l->last_arrival_ns = 0;
  seed_link(net, l);
  net->link_count++;
  map_put_unchecked(net->map_keys, net->map_vals, net->map_cap, key, net->link_count);
  return l;
}

void hs_net__links_free(hs_net *net) {
  uint32_t chunks = (net->link_count + HS_NET_LINK_CHUNK - 1) / HS_NET_LINK_CHUNK;
  for (uint32_t i = 0; i < chunks; i++) free(net->link_chunks[i]);
  free(net->link_chunks);
  free(net->map_keys);
  free(net->map_vals);
  net->link_chunks = NULL;
  net->map_keys = NULL;
  net->map_vals = NULL;
  net->link_count = net->link_chunk_cap = net->map_cap = 0;
}
