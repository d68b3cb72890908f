/*
 * bench_hold.c - the classic "hold model" benchmark of the event queue.
 *
 * P events are pending at all times: each processed event's handler reschedules
 * itself at now + Exp(mean) drawn from a seeded stream, so the queue size stays P
 * and every event costs one pop and one push. The same workload runs on a bare
 * 4-ary heap of inline {time, seq} structs (no engine, no pointers) as a floor, and
 * the ratio engine/bare shows what the engine adds on top of a heap.
 *
 * Usage: bench_hold [--quick]     (--quick runs about 10x fewer events, for CI)
 *
 * Wall time comes from CLOCK_MONOTONIC: fine here, since this is not a simulation.
 * Each figure is the median of REPS timed repetitions after a warm-up.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "happysim.h"

enum { REPS = 3 };

static const double MEAN_DELAY_NS = 1e6; /* 1 ms between an event's firings, on average */
static const uint64_t SEED = 20240601;

static double wall_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Peak resident set size in bytes (VmHWM), or 0 if /proc is unavailable. */
static long long peak_rss_bytes(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  long long kb = 0;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmHWM:", 6) == 0) {
      kb = strtoll(line + 6, NULL, 10);
      break;
    }
  fclose(f);
  return kb * 1024;
}

static hs_time_ns draw_delay(hs_rng *r) {
  return (hs_time_ns)(hs_rng_exponential(r, MEAN_DELAY_NS) + 0.5);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return v[n / 2];
}

/* ---- the engine: hs_sim with a C handler ------------------------------------------ */

static hs_rng hold_rng; /* the handler's stream (a benchmark may use a file static) */

static void hold_fire(hs_sim *sim, hs_event *ev) {
  int rc = hs_sim_schedule_after(sim, ev, draw_delay(&hold_rng));
  if (rc != HS_OK) {
    fprintf(stderr, "bench_hold: reschedule failed: %s\n", hs_strerror(rc));
    exit(1);
  }
}

typedef struct engine_result {
  double ns_per_event; /* median over REPS */
  long long rss_delta; /* VmHWM growth while the run was set up and ran */
  uint64_t trace_hash; /* printed so the work cannot be optimised away */
} engine_result;

static engine_result bench_engine(uint32_t pending, uint64_t warmup, uint64_t events) {
  engine_result res = {0};
  long long rss_before = peak_rss_bytes();
  hs_sim sim;
  hs_sim_init(&sim, SEED);
  hs_sim_stream(&sim, &hold_rng, "hold", 4);
  hs_event *evs = calloc(pending, sizeof *evs);
  if (!evs) {
    fprintf(stderr, "bench_hold: out of memory\n");
    exit(1);
  }
  for (uint32_t i = 0; i < pending; i++) {
    hs_event_init(&evs[i], hold_fire, NULL, "hold");
    if (hs_sim_schedule_at(&sim, &evs[i], draw_delay(&hold_rng)) != HS_OK) exit(1);
  }
  uint64_t done = 0;
  hs_sim_step(&sim, warmup, &done);
  double per[REPS];
  for (int r = 0; r < REPS; r++) {
    double t0 = wall_s();
    hs_run_result rr = hs_sim_step(&sim, events, &done);
    double t1 = wall_s();
    if (rr != HS_RUN_STEPPED || done != events || hs_sim_pending(&sim) != pending) {
      fprintf(stderr, "bench_hold: the engine run did not hold (%llu events)\n",
              (unsigned long long)done);
      exit(1);
    }
    per[r] = (t1 - t0) * 1e9 / (double)events;
  }
  res.rss_delta = peak_rss_bytes() - rss_before;
  res.ns_per_event = median(per, REPS);
  res.trace_hash = sim.trace_hash;
  hs_sim_close(&sim);
  free(evs);
  return res;
}

/* ---- the floor: a bare 4-ary heap of inline {time, seq} ----------------------------- */

typedef struct bare_item {
  int64_t time;
  uint64_t seq;
} bare_item;

typedef struct bare_heap {
  bare_item *items;
  uint32_t count;
} bare_heap;

static inline int bare_before(bare_item a, bare_item b) {
  return a.time < b.time || (a.time == b.time && a.seq < b.seq);
}

static void bare_push(bare_heap *h, bare_item it) {
  uint32_t i = h->count++;
  while (i > 0) {
    uint32_t parent = (i - 1) / 4;
    if (!bare_before(it, h->items[parent])) break;
    h->items[i] = h->items[parent];
    i = parent;
  }
  h->items[i] = it;
}

static bare_item bare_pop(bare_heap *h) {
  bare_item top = h->items[0];
  bare_item last = h->items[--h->count];
  uint32_t n = h->count, i = 0;
  for (;;) {
    uint32_t first = 4 * i + 1;
    if (first >= n) break;
    uint32_t best = first, end = first + 4 < n ? first + 4 : n;
    for (uint32_t c = first + 1; c < end; c++)
      if (bare_before(h->items[c], h->items[best])) best = c;
    if (!bare_before(h->items[best], last)) break;
    h->items[i] = h->items[best];
    i = best;
  }
  h->items[i] = last;
  return top;
}

/* The hold loop on the bare heap: pop the minimum, push it back at now + delay. */
static uint64_t bare_hold(bare_heap *h, hs_rng *rng, uint64_t *seq, uint64_t events) {
  uint64_t check = 0;
  for (uint64_t k = 0; k < events; k++) {
    bare_item it = bare_pop(h);
    check += (uint64_t)it.time;
    bare_push(h, (bare_item){it.time + draw_delay(rng), (*seq)++});
  }
  return check;
}

static double bench_bare(uint32_t pending, uint64_t warmup, uint64_t events, uint64_t *check) {
  bare_heap h = {malloc((size_t)pending * sizeof(bare_item)), 0};
  if (!h.items) {
    fprintf(stderr, "bench_hold: out of memory\n");
    exit(1);
  }
  hs_rng rng;
  hs_rng_seed(&rng, SEED, "hold", 4);
  uint64_t seq = 0;
  for (uint32_t i = 0; i < pending; i++) bare_push(&h, (bare_item){draw_delay(&rng), seq++});
  *check = bare_hold(&h, &rng, &seq, warmup);
  double per[REPS];
  for (int r = 0; r < REPS; r++) {
    double t0 = wall_s();
    *check += bare_hold(&h, &rng, &seq, events);
    double t1 = wall_s();
    per[r] = (t1 - t0) * 1e9 / (double)events;
  }
  free(h.items);
  return median(per, REPS);
}

/* ---- main ---------------------------------------------------------------------------- */

typedef struct hold_case {
  uint32_t pending;
  uint64_t warmup, events; /* events per timed repetition */
} hold_case;

int main(int argc, char **argv) {
  int quick = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) {
      quick = 1;
    } else {
      fprintf(stderr, "usage: %s [--quick]\n", argv[0]);
      return 2;
    }
  }
  const uint64_t scale = quick ? 10 : 1;
  const hold_case cases[] = {
      {1000, 2000000 / scale, 10000000 / scale},   /* REPS x 10M timed events */
      {1000000, 2000000 / scale, 2000000 / scale}, /* warm-up: 2 passes over the queue */
  };
  printf("hold model: exponential delays (mean %.0f ns) from an hs_rng stream; "
         "median of %d runs%s\n",
         MEAN_DELAY_NS, REPS, quick ? " (--quick)" : "");
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    const hold_case *c = &cases[k];
    /* The engine first, so its VmHWM delta is not hidden by the bare heap's pages. */
    engine_result e = bench_engine(c->pending, c->warmup, c->events);
    uint64_t check = 0;
    double bare = bench_bare(c->pending, c->warmup, c->events, &check);
    printf("hold  C handler   pending=%-8u  events/s=%6.2fM  ns/event=%6.1f  "
           "bare ns/event=%6.1f  ratio=%.2f\n",
           c->pending, 1e3 / e.ns_per_event, e.ns_per_event, bare, e.ns_per_event / bare);
    if (c->pending >= 1000000) {
      printf("memory            pending=%-8u  sizeof(hs_event)=%zu + heap slot=%zu = %zu B/event;"
             "  peak RSS delta=%.1f B/event (%.1f MB)\n",
             c->pending, sizeof(hs_event), sizeof(hs_heap_slot), sizeof(hs_event) + sizeof(hs_heap_slot),
             (double)e.rss_delta / c->pending, (double)e.rss_delta / 1e6);
    }
    printf("                  (checks: trace_hash=%016llx  bare sum=%016llx)\n",
           (unsigned long long)e.trace_hash, (unsigned long long)check);
  }
  return 0;
}
