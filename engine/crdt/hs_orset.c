/*
 * hs_orset.c - the add-wins observed-remove set without tombstones (Bieniusa, Zawirski,
 * Preguica, Shapiro, Baquero, Balegas, Duarte 2012, "An optimized conflict-free replicated
 * set", Algorithm 2).
 *
 * The state is a set of dots (element, replica, counter) and a version vector of the events
 * seen. A remove drops dots; the version vector remembers them, so a merge with a replica
 * that still has them does not bring them back (no resurrection), while a dot the remover
 * never saw (a concurrent add) survives (add wins).
 */
#include <stdlib.h>
#include <string.h>

#include "crdt/hs_crdt_internal.h"

int hs_orset_init(hs_orset *s, const void *self, size_t len) {
  memset(s, 0, sizeof *s);
  hs_vv_init(&s->vv);
  return hs_bytes_set(&s->self, self, len);
}

static void free_dots(hs_orset_dot *d, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    hs_bytes_free(&d[i].elem);
    hs_bytes_free(&d[i].rid);
  }
  free(d);
}

void hs_orset_free(hs_orset *s) {
  free_dots(s->dots, s->n);
  hs_vv_free(&s->vv);
  hs_bytes_free(&s->self);
  s->dots = NULL;
  s->n = s->cap = 0;
}

/* Order of dots: element, then replica, then counter. */
static int dot_cmp(const hs_orset_dot *a, const hs_orset_dot *b) {
  int c = hs_bytes_cmp(a->elem.p, a->elem.len, b->elem.p, b->elem.len);
  if (c) return c;
  c = hs_bytes_cmp(a->rid.p, a->rid.len, b->rid.p, b->rid.len);
  if (c) return c;
  return a->c < b->c ? -1 : a->c > b->c;
}

static int dot_qsort_cmp(const void *a, const void *b) { return dot_cmp(a, b); }

/* The first dot of elem (its insertion point when it has none). */
static uint32_t lower_bound(const hs_orset *s, const uint8_t *elem, size_t len) {
  uint32_t lo = 0, hi = s->n;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (hs_bytes_cmp(s->dots[mid].elem.p, s->dots[mid].elem.len, elem, len) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static bool is_elem(const hs_orset_dot *d, const uint8_t *elem, size_t len) {
  return hs_bytes_cmp(d->elem.p, d->elem.len, elem, len) == 0;
}

static int reserve(hs_orset_dot **dots, uint32_t *cap, uint32_t need) {
  if (need <= *cap) return HS_OK;
  uint32_t c = *cap ? *cap : 8;
  while (c < need) c *= 2;
  hs_orset_dot *d = realloc(*dots, c * sizeof *d);
  if (!d) return HS_ENOMEM;
  *dots = d;
  *cap = c;
  return HS_OK;
}

bool hs_orset_contains(const hs_orset *s, const uint8_t *elem, size_t len) {
  uint32_t i = lower_bound(s, elem, len);
  return i < s->n && is_elem(&s->dots[i], elem, len);
}

int hs_orset_remove(hs_orset *s, const uint8_t *elem, size_t len) {
  uint32_t i = lower_bound(s, elem, len), j = i;
  while (j < s->n && is_elem(&s->dots[j], elem, len)) {
    hs_bytes_free(&s->dots[j].elem);
    hs_bytes_free(&s->dots[j].rid);
    j++;
  }
  if (j == i) return HS_OK; /* not there (s->dots may be NULL) */
  memmove(s->dots + i, s->dots + j, (s->n - j) * sizeof *s->dots);
  s->n -= j - i;
  return HS_OK;
}

int hs_orset_add(hs_orset *s, const uint8_t *elem, size_t len) {
  if (len == 0 || hs_value_size((hs_value){elem, len}) != len || len > HS_CRDT_MAX_BYTES) return HS_EINVAL;
  uint64_t c = hs_vv_get(&s->vv, s->self.p, s->self.len) + 1;
  hs_orset_dot d = {{0}, {0}, c};
  int rc = reserve(&s->dots, &s->cap, s->n + 1);
  if (rc == HS_OK) rc = hs_bytes_set(&d.elem, elem, len);
  if (rc == HS_OK) rc = hs_bytes_set(&d.rid, s->self.p, s->self.len);
  if (rc == HS_OK) rc = hs_vv_raise(&s->vv, s->self.p, s->self.len, c);
  if (rc != HS_OK) {
    hs_bytes_free(&d.elem);
    hs_bytes_free(&d.rid);
    return rc;
  }
  /* this replica's older dot of elem, if any, is replaced */
  uint32_t i = lower_bound(s, elem, len);
  while (i < s->n && is_elem(&s->dots[i], elem, len) &&
         hs_bytes_cmp(s->dots[i].rid.p, s->dots[i].rid.len, s->self.p, s->self.len) < 0)
    i++;
  if (i < s->n && is_elem(&s->dots[i], elem, len) &&
      hs_bytes_cmp(s->dots[i].rid.p, s->dots[i].rid.len, s->self.p, s->self.len) == 0) {
    hs_bytes_free(&s->dots[i].elem);
    hs_bytes_free(&s->dots[i].rid);
    s->dots[i] = d;
    return HS_OK;
  }
  memmove(s->dots + i + 1, s->dots + i, (s->n - i) * sizeof *s->dots);
  s->dots[i] = d;
  s->n++;
  return HS_OK;
}

void hs_orset_each(const hs_orset *s, void (*fn)(const uint8_t *elem, size_t len, void *ud), void *ud) {
  for (uint32_t i = 0; i < s->n; i++)
    if (i == 0 || !is_elem(&s->dots[i - 1], s->dots[i].elem.p, s->dots[i].elem.len))
      fn(s->dots[i].elem.p, s->dots[i].elem.len, ud);
}

uint32_t hs_orset_size(const hs_orset *s) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < s->n; i++)
    n += i == 0 || !is_elem(&s->dots[i - 1], s->dots[i].elem.p, s->dots[i].elem.len);
  return n;
}

/* Appends a copy of d to out. */
static int push_copy(hs_orset_dot **out, uint32_t *n, uint32_t *cap, const hs_orset_dot *d) {
  int rc = reserve(out, cap, *n + 1);
  if (rc != HS_OK) return rc;
  hs_orset_dot c = {{0}, {0}, d->c};
  rc = hs_bytes_set(&c.elem, d->elem.p, d->elem.len);
  if (rc == HS_OK) rc = hs_bytes_set(&c.rid, d->rid.p, d->rid.len);
  if (rc != HS_OK) {
    hs_bytes_free(&c.elem);
    hs_bytes_free(&c.rid);
    return rc;
  }
  (*out)[(*n)++] = c;
  return HS_OK;
}

/* Merges sorted dots a (with version vector va) and b (vb) into a new sorted array: dots in
 * both; dots in one only that the other has not seen; of one element's dots by one replica,
 * the newest. Builds the result first, so a failure leaves s unchanged. */
static int merge_dots(hs_orset *s, const hs_orset_dot *b, uint32_t nb, const hs_vv *vb) {
  hs_orset_dot *out = NULL;
  uint32_t n = 0, cap = 0, i = 0, j = 0;
  int rc = HS_OK;
  while (rc == HS_OK && (i < s->n || j < nb)) {
    int c = i == s->n ? 1 : j == nb ? -1 : dot_cmp(&s->dots[i], &b[j]);
    const hs_orset_dot *keep = NULL;
    if (c == 0) {
      keep = &s->dots[i++];
      j++;
    } else if (c < 0) {
      const hs_orset_dot *d = &s->dots[i++];
      if (d->c > hs_vv_get(vb, d->rid.p, d->rid.len)) keep = d; /* b has not seen it: not removed there */
    } else {
      const hs_orset_dot *d = &b[j++];
      if (d->c > hs_vv_get(&s->vv, d->rid.p, d->rid.len)) keep = d;
    }
    if (!keep) continue;
    if (n > 0 && hs_bytes_cmp(out[n - 1].elem.p, out[n - 1].elem.len, keep->elem.p, keep->elem.len) == 0 &&
        hs_bytes_cmp(out[n - 1].rid.p, out[n - 1].rid.len, keep->rid.p, keep->rid.len) == 0) {
      n--; /* an older dot of the same element by the same replica: superseded */
      hs_bytes_free(&out[n].elem);
      hs_bytes_free(&out[n].rid);
    }
    rc = push_copy(&out, &n, &cap, keep);
  }
  if (rc == HS_OK) {
    hs_vv vv;
    hs_vv_init(&vv);
    rc = hs_vv_copy(&vv, &s->vv);
    if (rc == HS_OK) rc = hs_vv_merge(&vv, vb);
    if (rc == HS_OK) {
      free_dots(s->dots, s->n);
      hs_vv_free(&s->vv);
      s->vv = vv;
      s->dots = out;
      s->n = n;
      s->cap = cap;
      return HS_OK;
    }
    hs_vv_free(&vv);
  }
  free_dots(out, n);
  return rc;
}

int hs_orset_merge(hs_orset *s, const hs_orset *other) { return merge_dots(s, other->dots, other->n, &other->vv); }

void hs_orset_encode(const hs_orset *s, hs_buf *out) {
  hs_buf_put_table(out, 3, 0);
  hs_buf_put_string(out, "orset", 5);
  hs_vv_encode(&s->vv, out);
  hs_buf_put_table(out, 3 * s->n, 0);
  for (uint32_t i = 0; i < s->n; i++) {
    hs_buf_put_raw(out, s->dots[i].elem.p, s->dots[i].elem.len);
    hs_buf_put_string(out, (const char *)s->dots[i].rid.p, s->dots[i].rid.len);
    hs_buf_put_int(out, (int64_t)s->dots[i].c);
  }
}

/* Decodes the dots table `t` into a sorted array (every dot covered by vv, counters >= 1). */
static int decode_dots(hs_value t, const hs_vv *vv, hs_orset_dot **out, uint32_t *n) {
  uint32_t narr, nmap, cap = 0;
  *out = NULL;
  *n = 0;
  if (!hs_value_table(t, &narr, &nmap) || nmap != 0 || narr % 3) return HS_EINVAL;
  int rc = HS_OK;
  for (uint32_t i = 0; rc == HS_OK && i < narr; i += 3) {
    hs_value ev, cv;
    size_t rlen, elen;
    int64_t c;
    const char *rid = hs_crdt_string_at(t, i + 1, &rlen);
    if (!rid || !hs_value_index(t, i, &ev) || !hs_value_index(t, i + 2, &cv) || !hs_value_int(cv, &c) || c < 1 ||
        (uint64_t)c > hs_vv_get(vv, rid, rlen) || (elen = hs_value_size(ev)) == 0 || elen > HS_CRDT_MAX_BYTES) {
      rc = HS_EINVAL;
      break;
    }
    hs_orset_dot d = {{(uint8_t *)ev.p, (uint32_t)elen}, {(uint8_t *)rid, (uint32_t)rlen}, (uint64_t)c};
    rc = push_copy(out, n, &cap, &d);
  }
  if (rc == HS_OK && *n > 1) qsort(*out, *n, sizeof **out, dot_qsort_cmp);
  for (uint32_t i = 1; rc == HS_OK && i < *n; i++) /* one dot per (element, replica) in a state */
    if (hs_bytes_cmp((*out)[i].elem.p, (*out)[i].elem.len, (*out)[i - 1].elem.p, (*out)[i - 1].elem.len) == 0 &&
        hs_bytes_cmp((*out)[i].rid.p, (*out)[i].rid.len, (*out)[i - 1].rid.p, (*out)[i - 1].rid.len) == 0)
      rc = HS_EINVAL;
  if (rc != HS_OK) {
    free_dots(*out, *n);
    *out = NULL;
    *n = 0;
  }
  return rc;
}

int hs_orset_merge_encoded(hs_orset *s, hs_value in) {
  uint32_t narr;
  hs_value vvv, dv;
  if (!hs_crdt_header(in, "orset", &narr) || narr != 3 || !hs_value_index(in, 1, &vvv) || !hs_value_index(in, 2, &dv))
    return HS_EINVAL;
  hs_vv vv;
  hs_vv_init(&vv);
  hs_orset_dot *dots = NULL;
  uint32_t n = 0;
  int rc = hs_vv_decode(&vv, vvv);
  if (rc == HS_OK) rc = decode_dots(dv, &vv, &dots, &n);
  if (rc == HS_OK) rc = merge_dots(s, dots, n, &vv);
  free_dots(dots, n);
  hs_vv_free(&vv);
  return rc;
}
