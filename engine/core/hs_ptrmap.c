#include "hs_ptrmap.h"

#include <stdlib.h>

static uint32_t home(const hs_ptrmap *m, const void *key) {
  uint64_t h = (uint64_t)(uintptr_t)key; /* the murmur3 finalizer: every bit counts */
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return (uint32_t)h & m->mask;
}

bool hs_ptrmap_get(const hs_ptrmap *m, const void *key, uint32_t *value) {
  if (!m->slots) return false;
  for (uint32_t i = home(m, key);; i = (i + 1) & m->mask) {
    if (m->slots[i].key == key) {
      *value = m->slots[i].value;
      return true;
    }
    if (!m->slots[i].key) return false;
  }
}

static bool grow(hs_ptrmap *m) {
  uint32_t cap = m->mask ? (m->mask + 1) * 2 : 64;
  hs_ptrmap_slot *slots = calloc(cap, sizeof *slots);
  if (!slots) return false;
  hs_ptrmap old = *m;
  m->slots = slots;
  m->mask = cap - 1;
  for (uint32_t i = 0; old.slots && i <= old.mask; i++) {
    if (!old.slots[i].key) continue;
    uint32_t j = home(m, old.slots[i].key);
    while (slots[j].key) j = (j + 1) & m->mask;
    slots[j] = old.slots[i];
  }
  free(old.slots);
  return true;
}

bool hs_ptrmap_put(hs_ptrmap *m, const void *key, uint32_t value) {
  if ((m->count + 1) * 4 > (m->mask + 1) * 3 && !grow(m)) return false; /* load <= 3/4 */
  uint32_t i = home(m, key);
  while (m->slots[i].key && m->slots[i].key != key) i = (i + 1) & m->mask;
  if (!m->slots[i].key) m->count++;
  m->slots[i].key = key;
  m->slots[i].value = value;
  return true;
}

bool hs_ptrmap_remove(hs_ptrmap *m, const void *key) {
  if (!m->slots) return false;
  uint32_t i = home(m, key);
  while (m->slots[i].key != key) {
    if (!m->slots[i].key) return false;
    i = (i + 1) & m->mask;
  }
  /* backward shift: pull later entries of the run into the hole when their home allows */
  for (uint32_t j = (i + 1) & m->mask; m->slots[j].key; j = (j + 1) & m->mask) {
    uint32_t h = home(m, m->slots[j].key);
    if (((j - h) & m->mask) >= ((j - i) & m->mask)) {
      m->slots[i] = m->slots[j];
      i = j;
    }
  }
  m->slots[i].key = NULL;
  m->count--;
  return true;
}

void hs_ptrmap_free(hs_ptrmap *m) {
  free(m->slots);
  m->slots = NULL;
  m->mask = m->count = 0;
}
