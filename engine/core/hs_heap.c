#include "hs_heap.h"

#include "hs_assert.h"

#include <stdlib.h>

static inline bool before(hs_heap_slot a, hs_heap_slot b) {
  return a.time < b.time || (a.time == b.time && a.ev->seq < b.ev->seq);
}

static inline void place(hs_heap *h, uint32_t i, hs_heap_slot s) {
  h->items[i] = s;
  s.ev->heap_index = i;
}

static void sift_up(hs_heap *h, uint32_t i, hs_heap_slot s) {
  while (i > 0) {
    uint32_t parent = (i - 1) / 4;
    hs_heap_slot p = h->items[parent];
    if (!before(s, p)) break;
    place(h, i, p);
    i = parent;
  }
  place(h, i, s);
}

static void sift_down(hs_heap *h, uint32_t i, hs_heap_slot s) {
  uint32_t n = h->count;
  for (;;) {
    uint32_t first = 4 * i + 1;
    if (first >= n) break;
    uint32_t best = first;
    uint32_t last = first + 4 < n ? first + 4 : n;
    for (uint32_t c = first + 1; c < last; c++)
      if (before(h->items[c], h->items[best])) best = c;
    if (!before(h->items[best], s)) break;
    place(h, i, h->items[best]);
    i = best;
  }
  place(h, i, s);
}

void hs_heap_init(hs_heap *h) {
  h->items = NULL;
  h->count = 0;
  h->capacity = 0;
}

void hs_heap_free(hs_heap *h) {
  free(h->items);
  hs_heap_init(h);
}

int hs_heap_push(hs_heap *h, hs_event *ev, hs_time_ns time) {
  HS_ASSERT(ev->heap_index == UINT32_MAX); /* not queued already (here or in another heap) */
  if (h->count == h->capacity) {
    if (h->capacity >= UINT32_MAX / 2) return HS_ENOMEM;
    uint32_t cap = h->capacity ? h->capacity * 2 : 64;
    hs_heap_slot *items = realloc(h->items, (size_t)cap * sizeof *items);
    if (!items) return HS_ENOMEM;
    h->items = items;
    h->capacity = cap;
  }
  sift_up(h, h->count++, (hs_heap_slot){time, ev});
  return HS_OK;
}

hs_event *hs_heap_pop(hs_heap *h, hs_time_ns *time) {
  if (h->count == 0) return NULL;
  hs_heap_slot top = h->items[0];
  hs_heap_slot last = h->items[--h->count];
  if (h->count > 0) sift_down(h, 0, last);
  top.ev->heap_index = UINT32_MAX;
  if (time) *time = top.time;
  return top.ev;
}

void hs_heap_remove(hs_heap *h, hs_event *ev) {
  uint32_t i = ev->heap_index;
  HS_ASSERT(i < h->count && h->items[i].ev == ev); /* queued, in this heap */
  hs_heap_slot last = h->items[--h->count];
  ev->heap_index = UINT32_MAX;
  if (i == h->count) return; /* it was the last slot */
  if (i > 0 && before(last, h->items[(i - 1) / 4]))
    sift_up(h, i, last);
  else
    sift_down(h, i, last);
}
