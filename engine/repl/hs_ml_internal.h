/* hs_ml_internal.h - the multi-leader node's private structures (hs_ml.c, hs_ml_ae.c). */
#ifndef HS_ML_INTERNAL_H
#define HS_ML_INTERNAL_H

#include "repl/hs_ml.h"

/* An owned version. */
typedef struct hs_ml_ver {
  uint8_t *value;
  uint32_t value_len;
  hs_vclock clock;
  int64_t ts;
  uint32_t origin;
} hs_ml_ver;

/* The versions of one key, in canonical order (an antichain under the clocks). */
typedef struct hs_ml_obj {
  hs_ml_ver *v;
  uint32_t n, cap;
} hs_ml_obj;

struct hs_ml {
  uint32_t id;
  uint32_t peers[HS_REPL_MAX_NODES];
  uint32_t n_peers;
  hs_ml_resolver resolver;
  hs_time_ns ae_interval;
  hs_rng rng;
  hs_ml_callbacks cb;
  void *ud;
  hs_merkle tree; /* owns the key map: objs[i] is the state of the tree's key i */
  hs_ml_obj *objs;
  uint32_t objs_cap;
  hs_time_ns ae_at;
  bool started, crashed;
  uint64_t round;
  hs_ml_version *views;
  uint32_t views_cap;
  hs_buf enc, resolved, keys_blob;
  hs_merkle_out out;
  hs_ml_stats st;
};

void hs_ml_ver_free(hs_ml_ver *v);
/* Reads one version from r into v (owned). False when malformed (v is then empty). */
bool hs_ml_ver_decode(hs_rd *r, hs_ml_ver *v);
/* Merges v (taken over) into the state of `key`; returns whether the state changed, or a
 * negative HS_ code. */
int hs_ml_merge(hs_ml *ml, const uint8_t *key, uint32_t key_len, hs_ml_ver *v);
/* Appends the versions of key i (u32 count, then each version). */
void hs_ml_obj_encode(const hs_ml *ml, uint32_t i, hs_buf *out);
void hs_ml_arm(hs_ml *ml);
void hs_ml_broadcast(hs_ml *ml, uint32_t i, uint32_t version);

#endif
