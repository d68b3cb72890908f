/* hs_ml.c - multi-leader replication: versions, clocks, resolvers, the node's life cycle and
 * its clients (hs_ml.h). Broadcast and anti-entropy are in hs_ml_ae.c. */
#include "repl/hs_ml_internal.h"

#include <stdlib.h>

/* ---- resolvers --------------------------------------------------------------------------------- */

static int ml_bytes_cmp(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen) {
  uint32_t n = alen < blen ? alen : blen;
  int c = n ? memcmp(a, b, n) : 0;
  if (c) return c;
  return alen < blen ? -1 : alen > blen;
}

uint32_t hs_ml_lww_pick(const hs_ml_version *v, uint32_t n) {
  uint32_t best = 0;
  for (uint32_t i = 1; i < n; i++) {
    const hs_ml_version *a = &v[i], *b = &v[best];
    int c = a->timestamp_ns != b->timestamp_ns ? (a->timestamp_ns > b->timestamp_ns ? 1 : -1)
            : a->origin != b->origin           ? (a->origin > b->origin ? 1 : -1)
                                               : ml_bytes_cmp(a->value, a->value_len, b->value, b->value_len);
    if (c > 0) best = i;
  }
  return best;
}

static int ml_lww_resolve(void *ud, const uint8_t *key, uint32_t key_len, const hs_ml_version *versions, uint32_t n,
                          hs_buf *out) {
  (void)ud;
  (void)key;
  (void)key_len;
  (void)out;
  return (int)hs_ml_lww_pick(versions, n);
}

hs_ml_resolver hs_ml_resolver_lww(void) {
  return (hs_ml_resolver){.name = "last_writer_wins", .resolve = ml_lww_resolve};
}

hs_ml_resolver hs_ml_resolver_siblings(void) {
  return (hs_ml_resolver){.name = "vector_clock_merge", .keep_siblings = true};
}

/* ---- versions ------------------------------------------------------------------------------------ */

void hs_ml_ver_free(hs_ml_ver *v) {
  free(v->value);
  hs_vclock_free(&v->clock);
  memset(v, 0, sizeof *v);
}

static hs_ml_version ml_view(const hs_ml_ver *v) {
  return (hs_ml_version){v->value, v->value_len, &v->clock, v->ts, v->origin};
}

static int ml_clock_cmp(const hs_vclock *a, const hs_vclock *b) {
  for (uint32_t i = 0; i < a->n && i < b->n; i++) {
    if (a->ids[i] != b->ids[i]) return a->ids[i] < b->ids[i] ? -1 : 1;
    if (a->counts[i] != b->counts[i]) return a->counts[i] < b->counts[i] ? -1 : 1;
  }
  return a->n < b->n ? -1 : a->n > b->n;
}

/* The canonical order of versions within a key: origin, timestamp, clock, value bytes. */
static int ml_ver_cmp(const hs_ml_ver *a, const hs_ml_ver *b) {
  if (a->origin != b->origin) return a->origin < b->origin ? -1 : 1;
  if (a->ts != b->ts) return a->ts < b->ts ? -1 : 1;
  int c = ml_clock_cmp(&a->clock, &b->clock);
  return c ? c : ml_bytes_cmp(a->value, a->value_len, b->value, b->value_len);
}

void hs_ml_version_encode(const hs_ml_version *v, hs_buf *out) {
  hs_wr32(out, v->origin);
  hs_wr64(out, (uint64_t)v->timestamp_ns);
  hs_wr32(out, v->clock->n);
  for (uint32_t i = 0; i < v->clock->n; i++) {
    hs_wr32(out, v->clock->ids[i]);
    hs_wr64(out, v->clock->counts[i]);
  }
  hs_wr_bytes(out, v->value, v->value_len);
}

bool hs_ml_ver_decode(hs_rd *r, hs_ml_ver *v) {
  memset(v, 0, sizeof *v);
  hs_vclock_init(&v->clock);
  v->origin = hs_rd32(r);
  uint64_t ts = hs_rd64(r);
  uint32_t n = hs_rd32(r);
  if (r->bad || v->origin == HS_REPL_NONE || ts > HS_REPL_MAX_COUNTER || n > HS_REPL_MAX_NODES) return false;
  v->ts = (int64_t)ts;
  uint32_t prev = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t id = hs_rd32(r);
    uint64_t c = hs_rd64(r);
    if (r->bad || id <= prev || c == 0 || c > HS_REPL_MAX_COUNTER || hs_vclock_set(&v->clock, id, c) != HS_OK) {
      hs_ml_ver_free(v);
      return false;
    }
    prev = id;
  }
  uint32_t len;
  const uint8_t *value = hs_rd_bytes(r, HS_REPL_MAX_VALUE, &len);
  if (r->bad || !hs_repl_value_ok(value, len) || !(v->value = malloc(len))) {
    hs_ml_ver_free(v);
    return false;
  }
  memcpy(v->value, value, len);
  v->value_len = len;
  return true;
}

void hs_ml_obj_encode(const hs_ml *ml, uint32_t i, hs_buf *out) {
  const hs_ml_obj *o = &ml->objs[i];
  hs_wr32(out, o->n);
  for (uint32_t k = 0; k < o->n; k++) {
    hs_ml_version view = ml_view(&o->v[k]);
    hs_ml_version_encode(&view, out);
  }
}

/* ---- the state of a key --------------------------------------------------------------------------- */

static void ml_obj_sort(hs_ml_obj *o) {
  for (uint32_t i = 1; i < o->n; i++) {
    hs_ml_ver x = o->v[i];
    uint32_t j = i;
    for (; j > 0 && ml_ver_cmp(&o->v[j - 1], &x) > 0; j--) o->v[j] = o->v[j - 1];
    o->v[j] = x;
  }
}

/* The key's hash in the Merkle tree: the hash of its canonical encoding. */
static void ml_rehash(hs_ml *ml, uint32_t i) {
  hs_buf_reset(&ml->enc);
  hs_ml_obj_encode(ml, i, &ml->enc);
  hs_merkle_set(&ml->tree, i, hs_repl_hash(ml->enc.data, ml->enc.len, 0x6d6c));
}

/* Keeps only version k of o. */
static void ml_obj_keep(hs_ml_obj *o, uint32_t k) {
  for (uint32_t i = 0; i < o->n; i++)
    if (i != k) hs_ml_ver_free(&o->v[i]);
  o->v[0] = o->v[k];
  o->n = 1;
}

static int ml_views(hs_ml *ml, const hs_ml_obj *o) {
  if (hs_repl_grow((void **)&ml->views, &ml->views_cap, o->n, sizeof *ml->views)) return HS_ENOMEM;
  for (uint32_t i = 0; i < o->n; i++) ml->views[i] = ml_view(&o->v[i]);
  return HS_OK;
}

/* Reduces o's n >= 2 concurrent versions to one with the resolver (see hs_ml.h). */
static int ml_resolve(hs_ml *ml, const uint8_t *key, uint32_t key_len, hs_ml_obj *o) {
  if (ml_views(ml, o)) return HS_ENOMEM;
  hs_buf_reset(&ml->resolved);
  int pick = ml->resolver.resolve ? ml->resolver.resolve(ml->resolver.ud, key, key_len, ml->views, o->n, &ml->resolved)
                                  : (int)hs_ml_lww_pick(ml->views, o->n);
  ml->st.conflicts_resolved++;
  if (pick == HS_ML_RESOLVE_NEW && !ml->resolved.failed && hs_repl_value_ok(ml->resolved.data, ml->resolved.len)) {
    hs_ml_ver nv = {0};
    hs_vclock_init(&nv.clock);
    if (!(nv.value = malloc(ml->resolved.len))) return HS_ENOMEM;
    memcpy(nv.value, ml->resolved.data, ml->resolved.len);
    nv.value_len = (uint32_t)ml->resolved.len;
    for (uint32_t i = 0; i < o->n; i++) {
      if (hs_vclock_merge(&nv.clock, &o->v[i].clock) != HS_OK) {
        hs_ml_ver_free(&nv);
        return HS_ENOMEM;
      }
      if (o->v[i].ts > nv.ts) nv.ts = o->v[i].ts;
      if (o->v[i].origin > nv.origin) nv.origin = o->v[i].origin;
    }
    for (uint32_t i = 0; i < o->n; i++) hs_ml_ver_free(&o->v[i]);
    o->v[0] = nv;
    o->n = 1;
    return HS_OK;
  }
  if (pick < 0 || (uint32_t)pick >= o->n) {
    ml->st.resolver_errors++;
    pick = (int)hs_ml_lww_pick(ml->views, o->n);
  }
  ml_obj_keep(o, (uint32_t)pick);
  return HS_OK;
}

/* The merge rule of hs_ml.h: drop what is known, replace what is dominated, detect and
 * resolve what is concurrent. Takes v over (freed when not kept). */
int hs_ml_merge(hs_ml *ml, const uint8_t *key, uint32_t key_len, hs_ml_ver *v) {
  uint32_t idx;
  bool added;
  int rc = hs_merkle_add(&ml->tree, key, key_len, &idx, &added);
  if (rc == HS_OK) rc = hs_repl_grow((void **)&ml->objs, &ml->objs_cap, ml->tree.keys.n, sizeof *ml->objs);
  if (rc != HS_OK) {
    hs_ml_ver_free(v);
    return rc;
  }
  hs_ml_obj *o = &ml->objs[idx];
  for (uint32_t i = 0; i < o->n; i++) {
    hs_order ord = hs_vclock_compare(&v->clock, &o->v[i].clock);
    /* equal clocks: the same version (a differing copy can only come from a custom resolver
     * or a forged message; the canonically larger one is kept, deterministically) */
    if (ord == HS_ORDER_BEFORE || (ord == HS_ORDER_EQUAL && ml_ver_cmp(v, &o->v[i]) <= 0)) {
      hs_ml_ver_free(v);
      return 0;
    }
  }
  uint32_t kept = 0;
  for (uint32_t i = 0; i < o->n; i++) {
    hs_order ord = hs_vclock_compare(&o->v[i].clock, &v->clock);
    if (ord == HS_ORDER_BEFORE || ord == HS_ORDER_EQUAL) hs_ml_ver_free(&o->v[i]);
    else o->v[kept++] = o->v[i];
  }
  o->n = kept;
  bool conflict = kept > 0;
  if (hs_repl_grow((void **)&o->v, &o->cap, o->n + 1, sizeof *o->v) != HS_OK) {
    hs_ml_ver_free(v);
    return HS_ENOMEM;
  }
  o->v[o->n++] = *v;
  memset(v, 0, sizeof *v);
  ml_obj_sort(o);
  if (conflict) {
    ml->st.conflicts_detected++;
    if (!ml->resolver.keep_siblings && (rc = ml_resolve(ml, key, key_len, o)) != HS_OK) return rc;
  }
  ml_rehash(ml, idx);
  return 1;
}

/* ---- life cycle ------------------------------------------------------------------------------------ */

void hs_ml_config_init(hs_ml_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->resolver = hs_ml_resolver_lww();
  cfg->merkle_leaf_bits = 10;
  cfg->merkle_fanout_bits = 1;
  hs_rng_seed(&cfg->rng, 0, NULL, 0);
}

int hs_ml_set_peers(hs_ml *ml, const uint32_t *peers, uint32_t n) {
  if (n > HS_REPL_MAX_NODES || (n && !peers)) return HS_EINVAL;
  for (uint32_t i = 0; i < n; i++) {
    if (peers[i] == HS_REPL_NONE || peers[i] == ml->id) return HS_EINVAL;
    for (uint32_t j = 0; j < i; j++)
      if (peers[j] == peers[i]) return HS_EINVAL;
  }
  if (n) memcpy(ml->peers, peers, n * sizeof *peers);
  ml->n_peers = n;
  return HS_OK;
}

int hs_ml_new(const hs_ml_config *cfg, hs_ml **out) {
  *out = NULL;
  if (!cfg || cfg->id == HS_REPL_NONE || !cfg->cb.send || cfg->anti_entropy_interval_ns < 0) return HS_EINVAL;
  if (!cfg->resolver.keep_siblings && !cfg->resolver.resolve) return HS_EINVAL;
  hs_ml *ml = calloc(1, sizeof *ml);
  if (!ml) return HS_ENOMEM;
  ml->id = cfg->id;
  ml->resolver = cfg->resolver;
  ml->ae_interval = cfg->anti_entropy_interval_ns;
  ml->rng = cfg->rng;
  ml->cb = cfg->cb;
  ml->ud = cfg->ud;
  ml->ae_at = HS_TIME_NEVER;
  hs_buf_init(&ml->enc);
  hs_buf_init(&ml->resolved);
  hs_buf_init(&ml->keys_blob);
  int rc = hs_merkle_init(&ml->tree, cfg->merkle_leaf_bits, cfg->merkle_fanout_bits);
  if (rc == HS_OK) rc = hs_ml_set_peers(ml, cfg->peers, cfg->n_peers);
  if (rc != HS_OK) {
    hs_ml_free(ml);
    return rc;
  }
  *out = ml;
  return HS_OK;
}

void hs_ml_free(hs_ml *ml) {
  if (!ml) return;
  for (uint32_t i = 0; i < ml->tree.keys.n && ml->objs; i++) {
    for (uint32_t k = 0; k < ml->objs[i].n; k++) hs_ml_ver_free(&ml->objs[i].v[k]);
    free(ml->objs[i].v);
  }
  free(ml->objs);
  free(ml->views);
  hs_merkle_free(&ml->tree);
  hs_merkle_out_free(&ml->out);
  hs_buf_free(&ml->enc);
  hs_buf_free(&ml->resolved);
  hs_buf_free(&ml->keys_blob);
  free(ml);
}

void hs_ml_arm(hs_ml *ml) {
  if (ml->cb.set_timer) ml->cb.set_timer(ml->ud, ml->ae_at);
}

int hs_ml_start(hs_ml *ml, hs_time_ns now) {
  if (ml->crashed) return HS_REPL_ECRASHED;
  ml->started = true;
  ml->ae_at = ml->ae_interval > 0 ? now + ml->ae_interval : HS_TIME_NEVER;
  hs_ml_arm(ml);
  return HS_OK;
}

void hs_ml_crash(hs_ml *ml) {
  if (ml->crashed) return;
  ml->crashed = true;
  ml->ae_at = HS_TIME_NEVER;
  hs_ml_arm(ml);
}

int hs_ml_restart(hs_ml *ml, hs_time_ns now) {
  ml->crashed = false;
  return ml->started ? hs_ml_start(ml, now) : HS_OK;
}

hs_time_ns hs_ml_next_deadline(const hs_ml *ml) { return ml->crashed ? HS_TIME_NEVER : ml->ae_at; }

/* ---- clients ---------------------------------------------------------------------------------------- */

int hs_ml_write(hs_ml *ml, hs_time_ns now, const void *key, size_t key_len, const void *value, size_t value_len,
                hs_ml_version *written) {
  if (ml->crashed) return HS_REPL_ECRASHED;
  if (key_len > HS_REPL_MAX_KEY || value_len > HS_REPL_MAX_VALUE || !hs_repl_value_ok(value, value_len))
    return HS_EINVAL;
  hs_ml_ver v = {0};
  hs_vclock_init(&v.clock);
  v.origin = ml->id;
  v.ts = now;
  int64_t idx = hs_merkle_find(&ml->tree, key, key_len);
  if (idx >= 0) { /* the new version follows every version held */
    const hs_ml_obj *o = &ml->objs[idx];
    for (uint32_t i = 0; i < o->n; i++) {
      if (hs_vclock_merge(&v.clock, &o->v[i].clock) != HS_OK) goto nomem;
      if (o->v[i].ts >= v.ts) v.ts = o->v[i].ts + 1;
    }
  }
  if (hs_vclock_increment(&v.clock, ml->id) != HS_OK || !(v.value = malloc(value_len ? value_len : 1))) goto nomem;
  memcpy(v.value, value, value_len);
  v.value_len = (uint32_t)value_len;
  int rc = hs_ml_merge(ml, key, (uint32_t)key_len, &v);
  if (rc < 0) return rc;
  ml->st.writes++;
  uint32_t i = (uint32_t)hs_merkle_find(&ml->tree, key, key_len);
  hs_ml_broadcast(ml, i, 0);
  if (written) *written = ml_view(&ml->objs[i].v[0]);
  return HS_OK;
nomem:
  hs_ml_ver_free(&v);
  return HS_ENOMEM;
}

int hs_ml_read(hs_ml *ml, const void *key, size_t key_len, const hs_ml_version **versions, uint32_t *n) {
  *versions = NULL;
  *n = 0;
  if (ml->crashed) return HS_REPL_ECRASHED;
  ml->st.reads++;
  int64_t idx = hs_merkle_find(&ml->tree, key, key_len);
  if (idx < 0) return HS_OK;
  if (ml_views(ml, &ml->objs[idx])) return HS_ENOMEM;
  *versions = ml->views;
  *n = ml->objs[idx].n;
  return HS_OK;
}

/* ---- getters ---------------------------------------------------------------------------------------- */

uint32_t hs_ml_key_count(const hs_ml *ml) { return ml->tree.keys.n; }

const uint8_t *hs_ml_key_at(const hs_ml *ml, uint32_t i, uint32_t *len) {
  *len = ml->tree.keys.keys[i].len;
  return ml->tree.keys.keys[i].p;
}

void hs_ml_encode_key(const hs_ml *ml, uint32_t i, hs_buf *out) { hs_ml_obj_encode(ml, i, out); }
uint64_t hs_ml_root_hash(hs_ml *ml) { return hs_merkle_root(&ml->tree); }
hs_merkle *hs_ml_tree(hs_ml *ml) { return &ml->tree; }
uint32_t hs_ml_id(const hs_ml *ml) { return ml->id; }
bool hs_ml_crashed(const hs_ml *ml) { return ml->crashed; }

void hs_ml_get_stats(const hs_ml *ml, hs_ml_stats *out) {
  *out = ml->st;
  out->keys = ml->tree.keys.n;
  out->crashed = ml->crashed;
}
