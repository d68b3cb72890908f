/*
 * hs_heap.h - a 4-ary min-heap of events ordered by (time, seq).
 *
 * A slot holds the event's time next to its pointer, so sifting compares times within
 * the heap's own array (four children share a cache line) and reads an event only to
 * break a tie on seq and to record its new slot. While an event is queued, its slot is
 * the only place its time is kept (hs_heap_time_of). Each event records its slot, so
 * removing an arbitrary event (cancellation) is O(log n) and leaves nothing behind.
 */
#ifndef HS_HEAP_H
#define HS_HEAP_H

#include "hs_event.h"

typedef struct hs_heap_slot {
  hs_time_ns time;
  hs_event *ev;
} hs_heap_slot;

typedef struct hs_heap {
  hs_heap_slot *items;
  uint32_t count;
  uint32_t capacity;
} hs_heap;

void hs_heap_init(hs_heap *h);
void hs_heap_free(hs_heap *h);
/* Queues ev at time (ev->seq breaks ties). HS_OK or HS_ENOMEM (the heap is unchanged then).
 * ev must not be queued (asserted: its heap_index is UINT32_MAX whenever it is not). */
int hs_heap_push(hs_heap *h, hs_event *ev, hs_time_ns time);
/* Takes the first event out; *time (optional) gets its time. NULL when empty. */
hs_event *hs_heap_pop(hs_heap *h, hs_time_ns *time);
/* Takes a queued event out (asserted: ev is in this heap). */
void hs_heap_remove(hs_heap *h, hs_event *ev);

static inline hs_event *hs_heap_top(const hs_heap *h) { return h->count ? h->items[0].ev : NULL; }
static inline hs_time_ns hs_heap_top_time(const hs_heap *h) { return h->count ? h->items[0].time : HS_TIME_NEVER; }
/* The time of an event in this heap. */
static inline hs_time_ns hs_heap_time_of(const hs_heap *h, const hs_event *ev) { return h->items[ev->heap_index].time; }

#endif
