/*
 * hs_chrome_trace.h - a run written as the Chrome trace event format (the JSON array form), which
 * Perfetto (ui.perfetto.dev) and chrome://tracing open.
 *
 * One track (thread) per entity, named after it; messages as a send slice on the sender's track
 * and a receive slice on the receiver's, joined by a flow arrow (a lost message's arrow ends in
 * a "lost" slice that says why); roles (leader, follower ...) as slices on the node's track;
 * crashes, pauses and partitions as async slices. Events are written as they happen, so memory
 * stays flat however long the run; a filter keeps only chosen entities and a time window.
 * Timestamps are simulated time in microseconds with nanosecond decimals.
 */
#ifndef HS_CHROME_TRACE_H
#define HS_CHROME_TRACE_H

#include <stdio.h>

#include "core/hs_types.h"

/* An open span (a role, a crash, a pause, a partition), written whole when it ends. */
typedef struct hs_ctrace_span {
  uint64_t id;
  hs_time_ns since;
  uint32_t track; /* UINT32_MAX: an async span (its own row), else a slice on this track */
  char *cat, *name;
} hs_ctrace_span;

typedef struct hs_ctrace {
  FILE *f;
  uint64_t events;       /* written so far */
  hs_time_ns from_ns;    /* window: what lies outside [from, to] is left out (spans are clipped) */
  hs_time_ns to_ns;
  uint8_t *named;        /* tracks whose name was written (by track id) */
  uint32_t named_cap;
  uint8_t *wanted;       /* NULL: every track; else wanted[track] (set with hs_ctrace_want) */
  uint32_t wanted_cap;
  hs_ctrace_span *spans; /* open spans */
  uint32_t nspans, spans_cap;
  uint64_t *role_of;     /* per track: the id of its open role span, or 0 */
  uint32_t role_cap;
  uint64_t next_span;
  int failed;            /* a write or an allocation failed: the file is incomplete */
} hs_ctrace;

/* Opens path for writing and writes the process name; HS_EINVAL when it cannot be opened. */
int hs_ctrace_open(hs_ctrace *t, const char *path, const char *process_name);
/* Ends every open span at end_ns, ends the JSON array and closes the file; HS_EINVAL when a
 * write failed. Idempotent. */
int hs_ctrace_close(hs_ctrace *t, hs_time_ns end_ns);
/* Keeps only the tracks given this way (call it for each; none given: every track). */
int hs_ctrace_want(hs_ctrace *t, uint32_t track);
void hs_ctrace_window(hs_ctrace *t, hs_time_ns from_ns, hs_time_ns to_ns);

/* Names track (an entity id) the first time it appears. */
void hs_ctrace_track(hs_ctrace *t, uint32_t track, const char *name);

/* A message: sent (its flow starts), delivered (its flow ends), or lost for `why` (its flow
 * ends in a "lost" slice). id is unique per copy of a message. */
void hs_ctrace_sent(hs_ctrace *t, hs_time_ns at, uint32_t src, uint32_t dst, const char *dst_name, const char *type,
                    uint64_t id, uint64_t bytes);
void hs_ctrace_delivered(hs_ctrace *t, hs_time_ns at, uint32_t dst, const char *src_name, const char *type,
                         uint64_t id, hs_time_ns sent_ns);
void hs_ctrace_lost(hs_ctrace *t, hs_time_ns at, uint32_t track, const char *type, uint64_t id, const char *why);

/* The role of the node on track from now on (its previous role's slice ends now). */
void hs_ctrace_role(hs_ctrace *t, hs_time_ns at, uint32_t track, const char *role);
/* A span on its own row (a crash, a pause, a partition): returns its id for hs_ctrace_span_end. */
uint64_t hs_ctrace_span_begin(hs_ctrace *t, hs_time_ns at, const char *cat, const char *name);
void hs_ctrace_span_end(hs_ctrace *t, hs_time_ns at, uint64_t id);
/* A point in time on a track. */
void hs_ctrace_instant(hs_ctrace *t, hs_time_ns at, uint32_t track, const char *cat, const char *name);

#endif
