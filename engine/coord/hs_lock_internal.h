/*
 * hs_lock_internal.h - the lock server's tables: lock records by name (open addressing),
 * a waiter pool with per-lock FIFO lists, and a heap of deadlines with lazy invalidation
 * (an entry carries the generation of what it times; a stale entry is skipped when popped).
 */
#ifndef HS_LOCK_INTERNAL_H
#define HS_LOCK_INTERNAL_H

#include "coord/hs_lock.h"

#define HS_LOCK_NIL UINT32_MAX

typedef struct hs_lock_rec {
  char *name;
  uint32_t name_len;
  uint64_t hash;
  uint64_t token; /* durable: the last token given */
  bool held;
  char *holder; /* owned */
  uint32_t holder_len;
  uint64_t holder_tag;
  hs_time_ns granted_at, lease, expires_at;
  uint32_t gen; /* bumped by every grant, renew and release: older lease deadlines are stale */
  uint32_t head, tail, n_waiting; /* FIFO of waiter indexes */
} hs_lock_rec;

typedef struct hs_lock_waiter {
  uint32_t lock;
  uint32_t prev, next; /* in the lock's FIFO; next is the free list link when unused */
  uint32_t gen;
  bool used;
  uint64_t tag;
  char *requester; /* owned; moves to the lock record when granted */
  uint32_t requester_len;
  hs_time_ns lease, deadline;
} hs_lock_waiter;

/* Deadline kinds, in the order they are handled at one instant. */
enum { HS_LOCK_DL_LEASE = 0, HS_LOCK_DL_GRACE = 1, HS_LOCK_DL_WAIT = 2 };

typedef struct hs_lock_deadline {
  hs_time_ns at;
  uint64_t seq;
  uint32_t kind, idx, gen;
} hs_lock_deadline;

struct hs_lock_server {
  hs_lock_config cfg;
  hs_time_ns now;
  bool crashed;
  hs_time_ns grace_until;
  hs_lock_rec *locks;
  uint32_t n_locks, cap_locks;
  uint32_t *map; /* lock index + 1, 0 empty */
  uint32_t map_cap;
  hs_lock_waiter *waiters;
  uint32_t cap_waiters, free_waiter;
  hs_lock_deadline *heap;
  uint32_t heap_len, heap_cap;
  uint64_t heap_seq;
  hs_time_ns armed; /* the deadline last given to set_timer */
  hs_lock_stats stats;
};

/* hs_lock_table.c */
uint32_t hs_lock_find(const hs_lock_server *s, const char *name, size_t len);
/* The record of `name`, created if needed (HS_LOCK_NIL on ENOMEM). */
uint32_t hs_lock_intern(hs_lock_server *s, const char *name, size_t len);
uint32_t hs_lock_waiter_alloc(hs_lock_server *s);
void hs_lock_waiter_release(hs_lock_server *s, uint32_t w);
int hs_lock_heap_push(hs_lock_server *s, hs_time_ns at, uint32_t kind, uint32_t idx, uint32_t gen);
hs_lock_deadline hs_lock_heap_pop(hs_lock_server *s);
/* Drops stale entries from the top; the earliest live deadline or HS_TIME_NEVER. */
hs_time_ns hs_lock_heap_top(hs_lock_server *s);
bool hs_lock_deadline_live(const hs_lock_server *s, const hs_lock_deadline *d);

#endif
