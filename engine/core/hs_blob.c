#include "hs_blob.h"

#include <stdlib.h>
#include <string.h>

static uint32_t class_of(size_t size) {
  uint32_t cls = 0;
  size_t cap = 64;
  while (cap < size && cls < HS_BLOB_CLASSES) {
    cap *= 2;
    cls++;
  }
  return cls;
}

void hs_blob_pool_init(hs_blob_pool *pool) { memset(pool, 0, sizeof *pool); }

void hs_blob_pool_close(hs_blob_pool *pool) {
  for (int i = 0; i < HS_BLOB_CLASSES; i++) {
    hs_blob *b = pool->free[i];
    while (b) {
      hs_blob *next = b->next_free;
      free(b);
      b = next;
    }
    pool->free[i] = NULL;
  }
}

hs_blob *hs_blob_alloc(hs_blob_pool *pool, size_t size) {
  if (size > UINT32_MAX) return NULL;
  uint32_t cls = class_of(size);
  hs_blob *b;
  if (cls < HS_BLOB_CLASSES && pool->free[cls]) {
    b = pool->free[cls];
    pool->free[cls] = b->next_free;
  } else {
    size_t cap = cls < HS_BLOB_CLASSES ? (size_t)64 << cls : size;
    b = malloc(sizeof *b + cap);
    if (!b) return NULL;
    b->cls = cls;
  }
  b->size = (uint32_t)size;
  b->next_free = NULL;
  pool->live++;
  return b;
}

hs_blob *hs_blob_copy(hs_blob_pool *pool, const void *data, size_t size) {
  hs_blob *b = hs_blob_alloc(pool, size);
  if (b && size) memcpy(b->data, data, size);
  return b;
}

void hs_blob_free(hs_blob_pool *pool, hs_blob *b) {
  if (!b) return;
  pool->live--;
  if (b->cls >= HS_BLOB_CLASSES) {
    free(b);
    return;
  }
  b->next_free = pool->free[b->cls];
  pool->free[b->cls] = b;
}
