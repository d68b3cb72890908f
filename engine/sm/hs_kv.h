/*
 * hs_kv.h - the key-value state machine of seed 000 (KVStateMachine), in C. The Lua binding
 * drives it through the state-machine interface (sm/hs_sm.h).
 *
 * Commands and results are hs_value encodings (engine/core/hs_value.h):
 *   { op = "set",    key = k, value = v }             -> v
 *   { op = "get",    key = k }                        -> value or nil
 *   { op = "delete", key = k }                        -> deleted value or nil
 *   { op = "cas",    key = k, expected = e, value = v } -> true if the value was e (nil: absent)
 * Keys are strings; values any encoded value (kept as bytes). A malformed command
 * yields an error message instead of a result, and changes nothing.
 * Snapshots encode the whole map as one table with keys in sorted order, so equal
 * states give equal bytes.
 */
#ifndef HS_KV_H
#define HS_KV_H

#include "core/hs_value.h"

typedef struct hs_kv_entry {
  char *key;
  size_t key_len;
  uint8_t *value; /* encoded value */
  size_t value_len;
  uint64_t hash;
} hs_kv_entry;

typedef struct hs_kv {
  hs_kv_entry *slots; /* open addressing; key == NULL: empty, value == NULL && key: tombstone */
  size_t cap;         /* power of two */
  size_t count;       /* live keys */
  size_t used;        /* live + tombstones */
  uint64_t applied;   /* commands applied */
} hs_kv;

void hs_kv_init(hs_kv *kv);
void hs_kv_free(hs_kv *kv);
/* Applies an encoded command; writes the encoded result to out. NULL, or an error message. */
const char *hs_kv_apply(hs_kv *kv, hs_value cmd, hs_buf *out);
/* NULL when hs_kv_apply would take the encoded command, else why not (buf holds it, n bytes). */
const char *hs_kv_validate(hs_value cmd, char *buf, size_t n);
/* The value stored for key (a view into the map, valid until the next change), or false. */
bool hs_kv_get(const hs_kv *kv, const char *key, size_t len, hs_value *out);
/* Encodes the state (a table of key -> value, keys sorted). */
void hs_kv_snapshot(const hs_kv *kv, hs_buf *out);
/* Replaces the state with a snapshot. NULL, or an error message (state unchanged then). */
const char *hs_kv_restore(hs_kv *kv, hs_value snap);

#endif
