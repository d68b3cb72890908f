/*
 * hs_crdt_internal.h - helpers shared by the CRDT files: owned byte strings and the
 * checks of encoded states.
 */
#ifndef HS_CRDT_INTERNAL_H
#define HS_CRDT_INTERNAL_H

#include "crdt/hs_crdt.h"

/* Copies len bytes into b (an empty string for len 0). */
int hs_bytes_set(hs_bytes *b, const void *p, size_t len);
void hs_bytes_free(hs_bytes *b);
/* memcmp order, shorter first on a common prefix. */
int hs_bytes_cmp(const void *a, size_t alen, const void *b, size_t blen);
/* Largest replica id, element or encoded value a state may carry. */
#define HS_CRDT_MAX_BYTES (1u << 20)

/* The i-th item of the encoded array `t` as a string (len <= HS_CRDT_MAX_BYTES), or NULL. */
const char *hs_crdt_string_at(hs_value t, uint32_t i, size_t *len);
/* Checks that `in` is a table array whose first item is the string `kind`; sets *narr. */
bool hs_crdt_header(hs_value in, const char *kind, uint32_t *narr);

#endif
