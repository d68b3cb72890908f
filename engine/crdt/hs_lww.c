/* hs_lww.c - the last-writer-wins register (Shapiro et al. 2011, specification 8). Writes
 * are ordered by (timestamp, replica id, value bytes): a total order, so two replicas that
 * saw the same writes agree, even on equal timestamps. */
#include <math.h>
#include <string.h>

#include "crdt/hs_crdt_internal.h"

int hs_lww_init(hs_lww *r, const void *self, size_t len) {
  memset(r, 0, sizeof *r);
  return hs_bytes_set(&r->self, self, len);
}

void hs_lww_free(hs_lww *r) {
  hs_bytes_free(&r->value);
  hs_bytes_free(&r->node);
  hs_bytes_free(&r->self);
}

/* Whether the write (ts, node, value) comes after r's current one. */
static bool later(const hs_lww *r, double ts, const void *node, size_t nlen, const void *value, size_t vlen) {
  if (!r->set) return true;
  if (ts != r->timestamp) return ts > r->timestamp;
  int c = hs_bytes_cmp(node, nlen, r->node.p, r->node.len);
  if (c) return c > 0;
  return hs_bytes_cmp(value, vlen, r->value.p, r->value.len) > 0;
}

/* Takes the write when it is later; copies first so that a failure changes nothing. */
static int offer(hs_lww *r, double ts, const void *node, size_t nlen, const void *value, size_t vlen) {
  if (!isfinite(ts)) return HS_EINVAL;
  if (!later(r, ts, node, nlen, value, vlen)) return HS_OK;
  hs_bytes v = {0}, n = {0};
  int rc = hs_bytes_set(&v, value, vlen);
  if (rc == HS_OK) rc = hs_bytes_set(&n, node, nlen);
  if (rc != HS_OK) {
    hs_bytes_free(&v);
    hs_bytes_free(&n);
    return rc;
  }
  hs_bytes_free(&r->value);
  hs_bytes_free(&r->node);
  r->value = v;
  r->node = n;
  r->timestamp = ts;
  r->set = true;
  return HS_OK;
}

int hs_lww_set(hs_lww *r, const uint8_t *value, size_t len, double timestamp) {
  if (hs_value_size((hs_value){value, len}) != len) return HS_EINVAL;
  return offer(r, timestamp, r->self.p, r->self.len, value, len);
}

int hs_lww_merge(hs_lww *r, const hs_lww *other) {
  if (!other->set) return HS_OK;
  return offer(r, other->timestamp, other->node.p, other->node.len, other->value.p, other->value.len);
}

void hs_lww_encode(const hs_lww *r, hs_buf *out) {
  hs_buf_put_table(out, r->set ? 4 : 1, 0);
  hs_buf_put_string(out, "lww", 3);
  if (!r->set) return;
  hs_buf_put_double(out, r->timestamp);
  hs_buf_put_string(out, (const char *)r->node.p, r->node.len);
  hs_buf_put_raw(out, r->value.p, r->value.len);
}

int hs_lww_merge_encoded(hs_lww *r, hs_value in) {
  uint32_t narr;
  if (!hs_crdt_header(in, "lww", &narr) || (narr != 1 && narr != 4)) return HS_EINVAL;
  if (narr == 1) return HS_OK;
  hs_value tsv, value;
  double ts;
  size_t nlen;
  const char *node = hs_crdt_string_at(in, 2, &nlen);
  if (!node || !hs_value_index(in, 1, &tsv) || !hs_value_number(tsv, &ts) || !hs_value_index(in, 3, &value))
    return HS_EINVAL;
  size_t vlen = hs_value_size(value);
  if (!vlen || vlen > HS_CRDT_MAX_BYTES) return HS_EINVAL;
  return offer(r, ts, node, nlen, value.p, vlen);
}
