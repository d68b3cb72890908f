/*
 * hs_value.h - the byte encoding of values that cross the network or enter a log.
 *
 * Messages and commands are copied at send time as bytes, so nodes never share
 * mutable state and every message has a size (for bandwidth and statistics). The
 * format is self-describing and small:
 *   0x00 nil | 0x01 false | 0x02 true | 0x03 int64 LE | 0x04 double LE
 *   0x05 string: u32 length, bytes
 *   0x06 table:  u32 array count, u32 map count, array values, then key/value pairs
 * C protocols read values in place with hs_value views and build them with hs_buf.
 */
#ifndef HS_VALUE_H
#define HS_VALUE_H

#include "hs_types.h"

enum hs_value_type { HS_V_NIL, HS_V_FALSE, HS_V_TRUE, HS_V_INT, HS_V_DOUBLE, HS_V_STRING, HS_V_TABLE, HS_V_BAD };

/* A growable byte buffer (the writer). */
typedef struct hs_buf {
  uint8_t *data;
  size_t len;
  size_t cap;
  int failed; /* an allocation failed: the content is incomplete */
} hs_buf;

void hs_buf_init(hs_buf *b);
void hs_buf_free(hs_buf *b);
void hs_buf_reset(hs_buf *b); /* keeps the memory */
void hs_buf_put_nil(hs_buf *b);
void hs_buf_put_bool(hs_buf *b, bool v);
void hs_buf_put_int(hs_buf *b, int64_t v);
void hs_buf_put_double(hs_buf *b, double v);
void hs_buf_put_string(hs_buf *b, const char *s, size_t len);
/* A table header: then narr values, then nmap key/value pairs. */
void hs_buf_put_table(hs_buf *b, uint32_t narr, uint32_t nmap);
/* Appends n bytes for the caller to fill: their address (valid until the buffer grows again),
 * or NULL when out of memory (b->failed is then set). */
uint8_t *hs_buf_reserve(hs_buf *b, size_t n);
/* Appends an already-encoded value (len bytes, e.g. a view's hs_value_size). */
void hs_buf_put_raw(hs_buf *b, const void *data, size_t len);
/* Patches the counts of a table header written at offset `at` (for one-pass writers). */
void hs_buf_patch_table(hs_buf *b, size_t at, uint32_t narr, uint32_t nmap);

/* A read-only view of one encoded value. */
typedef struct hs_value {
  const uint8_t *p;
  size_t len; /* bytes available from p (the value may be shorter) */
} hs_value;

enum hs_value_type hs_value_type(hs_value v);
/* Size in bytes of the value at v, or 0 if it is malformed or truncated. */
size_t hs_value_size(hs_value v);
bool hs_value_int(hs_value v, int64_t *out);
bool hs_value_number(hs_value v, double *out); /* int or double */
const char *hs_value_string(hs_value v, size_t *len); /* NULL if not a string */
/* Table access: counts, the i-th array item (0-based), a map field by string key. */
bool hs_value_table(hs_value v, uint32_t *narr, uint32_t *nmap);
bool hs_value_index(hs_value v, uint32_t i, hs_value *out);
bool hs_value_field(hs_value v, const char *key, hs_value *out);
/* Walks the items of an encoded table in order, each once: its array values, then its
 * key/value pairs.
 *
 *   hs_value_iter it;
 *   hs_value item, k, v;
 *   if (!hs_value_iter_init(&it, t)) ...              not a table
 *   while (hs_value_iter_next(&it, &item)) ...        the array values
 *   while (hs_value_iter_pair(&it, &k, &v)) ...       the pairs (array values not read are skipped)
 *   if (it.failed) ...                                an item was malformed or truncated
 *
 * Each item is a view of exactly its encoding (item.len is its size). A malformed item ends
 * the walk. */
typedef struct hs_value_iter {
  const uint8_t *p; /* the table's encoding */
  size_t len;
  size_t off; /* offset of the next item */
  uint32_t narr, nmap;
  uint32_t arr_read, map_read;
  bool failed;
} hs_value_iter;

/* False when t is not a table (it.failed is then set, and every step returns false). */
bool hs_value_iter_init(hs_value_iter *it, hs_value t);
/* The next array value; false after the last one (or on a malformed one). */
bool hs_value_iter_next(hs_value_iter *it, hs_value *item);
/* The next key/value pair; false after the last one (or on a malformed item). */
bool hs_value_iter_pair(hs_value_iter *it, hs_value *key, hs_value *val);

/* True when a and b are the same bytes. Values encoded from Lua are canonical (a table's
 * pairs sorted by their encoded keys: hs_lua_value.c), so for them this is value equality;
 * C code that builds maps for comparison must write their pairs in that order too. */
bool hs_value_equal(hs_value a, hs_value b);

#endif
