/*
 * hs_ptrmap.h - a map from addresses to 32-bit values: open addressing, linear probing,
 * deletion by backward shift (no tombstones), so lookups stay short under churn.
 *
 * The binding keys it by the address of a live Lua table (an event while it is queued) or
 * string (an interned event type): finding one costs a hash and a probe or two, with no
 * Lua API call.
 */
#ifndef HS_PTRMAP_H
#define HS_PTRMAP_H

#include <stdbool.h>
#include <stdint.h>

typedef struct hs_ptrmap_slot {
  const void *key; /* NULL: empty */
  uint32_t value;
} hs_ptrmap_slot;

typedef struct hs_ptrmap {
  hs_ptrmap_slot *slots;
  uint32_t mask; /* capacity - 1 (a power of two), or 0 before the first insert */
  uint32_t count;
} hs_ptrmap;

/* The value of key, or false when it is absent. */
bool hs_ptrmap_get(const hs_ptrmap *m, const void *key, uint32_t *value);
/* Sets key (not NULL) to value; false when out of memory (the map is unchanged). */
bool hs_ptrmap_put(hs_ptrmap *m, const void *key, uint32_t value);
/* Removes key; false when it was absent. */
bool hs_ptrmap_remove(hs_ptrmap *m, const void *key);
void hs_ptrmap_free(hs_ptrmap *m);

#endif
