/*
 * hs_heap.h - a 4-ary min-heap of event pointers ordered by (time, seq).
 *
 * Each event records its slot, so removing an arbitrary event (cancellation) is
 * O(log n) and leaves nothing behind.
 */
#ifndef HS_HEAP_H
#define HS_HEAP_H

#include "hs_event.h"

typedef struct hs_heap {
  hs_event **items;
  uint32_t count;
  uint32_t capacity;
} hs_heap;

void hs_heap_init(hs_heap *h);
void hs_heap_free(hs_heap *h);
/* Returns HS_OK or HS_ENOMEM (the heap is unchanged then). */
int hs_heap_push(hs_heap *h, hs_event *ev);
hs_event *hs_heap_pop(hs_heap *h);
void hs_heap_remove(hs_heap *h, hs_event *ev);

static inline hs_event *hs_heap_top(const hs_heap *h) { return h->count ? h->items[0] : NULL; }

#endif
