/*
 * hs_blob.h - pooled byte strings: the payloads of network messages.
 *
 * Payloads are copied into blobs at send time (value semantics). Blobs come from
 * per-size-class free lists, so a steady stream of messages allocates nothing.
 */
#ifndef HS_BLOB_H
#define HS_BLOB_H

#include "hs_types.h"

#define HS_BLOB_CLASSES 12 /* 64 B .. 128 KiB; larger blobs are malloc'd and freed */

typedef struct hs_blob {
  uint32_t size;      /* bytes used */
  uint32_t cls;       /* size class, or HS_BLOB_CLASSES for an unpooled blob */
  struct hs_blob *next_free;
  uint8_t data[];
} hs_blob;

typedef struct hs_blob_pool {
  hs_blob *free[HS_BLOB_CLASSES];
  uint64_t live; /* blobs handed out and not returned */
} hs_blob_pool;

void hs_blob_pool_init(hs_blob_pool *pool);
/* Frees the pooled blobs (live blobs stay valid and are freed by hs_blob_free). */
void hs_blob_pool_close(hs_blob_pool *pool);
/* A blob of `size` bytes (contents undefined), or NULL when out of memory. */
hs_blob *hs_blob_alloc(hs_blob_pool *pool, size_t size);
hs_blob *hs_blob_copy(hs_blob_pool *pool, const void *data, size_t size);
void hs_blob_free(hs_blob_pool *pool, hs_blob *b);

#endif
