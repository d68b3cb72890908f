/* hs_chrome_trace.c - the Chrome trace event format, written as the run goes (see the header). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "trace/hs_chrome_trace.h"

#define PID 1

/* Grows a byte/word array to hold index i (zero-filled); false when out of memory. */
static bool grow(void **p, uint32_t *cap, uint32_t i, size_t elem) {
  if (i < *cap) return true;
  uint32_t n = *cap ? *cap : 64;
  while (n <= i) n *= 2;
  void *q = realloc(*p, (size_t)n * elem);
  if (!q) return false;
  memset((char *)q + (size_t)*cap * elem, 0, (size_t)(n - *cap) * elem);
  *p = q;
  *cap = n;
  return true;
}

/* Writes s as a JSON string (quoted, escaped). */
static void put_str(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
    if (*p == '"' || *p == '\\')
      fprintf(f, "\\%c", *p);
    else if (*p < 0x20)
      fprintf(f, "\\u%04x", *p);
    else
      fputc(*p, f);
  }
  fputc('"', f);
}

/* Microseconds with the nanoseconds as decimals: exact for every simulated time. */
static void put_ts(FILE *f, hs_time_ns ns) {
  if (ns < 0) ns = 0;
  fprintf(f, "%" PRId64 ".%03d", ns / 1000, (int)(ns % 1000));
}

/* Starts an event object: {"ph":ph,"pid":1,"ts":at ... (the caller adds fields and "}"). */
static void begin_event(hs_ctrace *t, const char *ph, hs_time_ns at) {
  fputs(t->events++ ? ",\n{" : "\n{", t->f);
  fprintf(t->f, "\"ph\":\"%s\",\"pid\":%d,\"ts\":", ph, PID);
  put_ts(t->f, at);
}

static void end_event(hs_ctrace *t) {
  if (fputc('}', t->f) == EOF) t->failed = 1;
}

static bool in_window(const hs_ctrace *t, hs_time_ns at) { return at >= t->from_ns && at <= t->to_ns; }

static bool wanted(const hs_ctrace *t, uint32_t track) {
  return !t->wanted || (track < t->wanted_cap && t->wanted[track]);
}

int hs_ctrace_open(hs_ctrace *t, const char *path, const char *process_name) {
  memset(t, 0, sizeof *t);
  t->to_ns = HS_TIME_NEVER;
  t->f = fopen(path, "w");
  if (!t->f) return HS_EINVAL;
  fputc('[', t->f);
  begin_event(t, "M", 0);
  fputs(",\"name\":\"process_name\",\"args\":{\"name\":", t->f);
  put_str(t->f, process_name);
  fputc('}', t->f);
  end_event(t);
  return HS_OK;
}

int hs_ctrace_want(hs_ctrace *t, uint32_t track) {
  if (!grow((void **)&t->wanted, &t->wanted_cap, track, 1)) return HS_ENOMEM;
  t->wanted[track] = 1;
  return HS_OK;
}

void hs_ctrace_window(hs_ctrace *t, hs_time_ns from_ns, hs_time_ns to_ns) {
  t->from_ns = from_ns;
  t->to_ns = to_ns;
}

void hs_ctrace_track(hs_ctrace *t, uint32_t track, const char *name) {
  if (!t->f || !wanted(t, track)) return;
  if (!grow((void **)&t->named, &t->named_cap, track, 1)) {
    t->failed = 1;
    return;
  }
  if (t->named[track]) return;
  t->named[track] = 1;
  begin_event(t, "M", 0);
  fprintf(t->f, ",\"tid\":%" PRIu32 ",\"name\":\"thread_name\",\"args\":{\"name\":", track + 1);
  put_str(t->f, name);
  fputc('}', t->f);
  end_event(t);
  begin_event(t, "M", 0);
  fprintf(t->f, ",\"tid\":%" PRIu32 ",\"name\":\"thread_sort_index\",\"args\":{\"sort_index\":%" PRIu32 "}", track + 1,
          track);
  end_event(t);
}

/* A zero-length slice on a track, with a flow end ("f") or start ("s") bound to it; its args
 * say what a reader needs without parsing the name: the message type, the peer, why it was lost. */
static void flow_slice(hs_ctrace *t, hs_time_ns at, uint32_t track, const char *name, const char *type,
                       const char *flow_ph, uint64_t id, const char *peer, const char *why) {
  begin_event(t, "X", at);
  fprintf(t->f, ",\"dur\":0,\"tid\":%" PRIu32 ",\"cat\":\"net\",\"name\":", track + 1);
  put_str(t->f, name);
  fprintf(t->f, ",\"args\":{\"id\":%" PRIu64 ",\"type\":", id);
  put_str(t->f, type);
  if (peer) {
    fputs(",\"peer\":", t->f);
    put_str(t->f, peer);
  }
  if (why) {
    fputs(",\"lost\":", t->f);
    put_str(t->f, why);
  }
  fputc('}', t->f);
  end_event(t);
  begin_event(t, flow_ph, at);
  fprintf(t->f, ",\"tid\":%" PRIu32 ",\"cat\":\"msg\",\"id\":%" PRIu64 ",\"bp\":\"e\",\"name\":", track + 1, id);
  put_str(t->f, type);
  end_event(t);
}

void hs_ctrace_sent(hs_ctrace *t, hs_time_ns at, uint32_t src, uint32_t dst, const char *dst_name, const char *type,
                    uint64_t id, uint64_t bytes) {
  if (!t->f || !in_window(t, at) || (!wanted(t, src) && !wanted(t, dst))) return;
  char name[160];
  snprintf(name, sizeof name, "send %s -> %s (%" PRIu64 " B)", type ? type : "?", dst_name ? dst_name : "?", bytes);
  flow_slice(t, at, src, name, type, "s", id, dst_name, NULL);
}

void hs_ctrace_delivered(hs_ctrace *t, hs_time_ns at, uint32_t dst, const char *src_name, const char *type,
                         uint64_t id, hs_time_ns sent_ns) {
  if (!t->f || !in_window(t, at) || !wanted(t, dst)) return;
  char name[200];
  snprintf(name, sizeof name, "recv %s <- %s (%.3f ms in flight)", type ? type : "?", src_name ? src_name : "?",
           (double)(at - sent_ns) / 1e6);
  flow_slice(t, at, dst, name, type, "f", id, src_name, NULL);
}

void hs_ctrace_lost(hs_ctrace *t, hs_time_ns at, uint32_t track, const char *type, uint64_t id, const char *why) {
  if (!t->f || !in_window(t, at) || !wanted(t, track)) return;
  char name[160];
  snprintf(name, sizeof name, "lost %s (%s)", type ? type : "?", why ? why : "?");
  flow_slice(t, at, track, name, type, "f", id, NULL, why ? why : "?");
}

void hs_ctrace_instant(hs_ctrace *t, hs_time_ns at, uint32_t track, const char *cat, const char *name) {
  if (!t->f || !in_window(t, at) || !wanted(t, track)) return;
  begin_event(t, "i", at);
  fprintf(t->f, ",\"s\":\"t\",\"tid\":%" PRIu32 ",\"cat\":", track + 1);
  put_str(t->f, cat);
  fputs(",\"name\":", t->f);
  put_str(t->f, name);
  end_event(t);
}

/* Writes the open span i, ended at `at`, clipped to the window, and forgets it. */
static void finish_span(hs_ctrace *t, uint32_t i, hs_time_ns at) {
  hs_ctrace_span *s = &t->spans[i];
  hs_time_ns from = s->since > t->from_ns ? s->since : t->from_ns;
  hs_time_ns to = at < t->to_ns ? at : t->to_ns;
  bool on_track = s->track != UINT32_MAX;
  if (t->f && from <= to && (!on_track || wanted(t, s->track))) {
    if (on_track) { /* a complete slice on the node's own track */
      begin_event(t, "X", from);
      fputs(",\"dur\":", t->f);
      put_ts(t->f, to - from);
      fprintf(t->f, ",\"tid\":%" PRIu32 ",\"cat\":", s->track + 1);
      put_str(t->f, s->cat);
      fputs(",\"name\":", t->f);
      put_str(t->f, s->name);
      end_event(t);
    } else { /* an async slice on a row of its own */
      for (int k = 0; k < 2; k++) {
        begin_event(t, k ? "e" : "b", k ? to : from);
        fprintf(t->f, ",\"id\":%" PRIu64 ",\"cat\":", s->id);
        put_str(t->f, s->cat);
        fputs(",\"name\":", t->f);
        put_str(t->f, s->name);
        end_event(t);
      }
    }
  }
  free(s->cat);
  free(s->name);
  t->spans[i] = t->spans[--t->nspans];
}

static uint64_t open_span(hs_ctrace *t, hs_time_ns at, uint32_t track, const char *cat, const char *name) {
  if (!t->f) return 0;
  if (t->nspans == t->spans_cap) {
    uint32_t cap = t->spans_cap ? t->spans_cap * 2 : 16;
    hs_ctrace_span *s = realloc(t->spans, cap * sizeof *s);
    if (!s) {
      t->failed = 1;
      return 0;
    }
    t->spans = s;
    t->spans_cap = cap;
  }
  char *c = strdup(cat ? cat : ""), *n = strdup(name ? name : "");
  if (!c || !n) {
    free(c);
    free(n);
    t->failed = 1;
    return 0;
  }
  uint64_t id = ++t->next_span;
  t->spans[t->nspans++] = (hs_ctrace_span){id, at, track, c, n};
  return id;
}

static int64_t find_span(const hs_ctrace *t, uint64_t id) {
  for (uint32_t i = 0; i < t->nspans; i++)
    if (t->spans[i].id == id) return i;
  return -1;
}

void hs_ctrace_role(hs_ctrace *t, hs_time_ns at, uint32_t track, const char *role) {
  if (!t->f) return;
  if (!grow((void **)&t->role_of, &t->role_cap, track, sizeof *t->role_of)) {
    t->failed = 1;
    return;
  }
  int64_t i = t->role_of[track] ? find_span(t, t->role_of[track]) : -1;
  if (i >= 0) finish_span(t, (uint32_t)i, at);
  t->role_of[track] = role ? open_span(t, at, track, "role", role) : 0;
}

uint64_t hs_ctrace_span_begin(hs_ctrace *t, hs_time_ns at, const char *cat, const char *name) {
  return open_span(t, at, UINT32_MAX, cat, name);
}

void hs_ctrace_span_end(hs_ctrace *t, hs_time_ns at, uint64_t id) {
  int64_t i = find_span(t, id);
  if (i >= 0) finish_span(t, (uint32_t)i, at);
}

int hs_ctrace_close(hs_ctrace *t, hs_time_ns end_ns) {
  if (!t->f) return t->failed ? HS_EINVAL : HS_OK;
  while (t->nspans) finish_span(t, t->nspans - 1, end_ns);
  fputs("\n]\n", t->f);
  if (fclose(t->f) != 0) t->failed = 1;
  t->f = NULL;
  free(t->named);
  free(t->wanted);
  free(t->spans);
  free(t->role_of);
  t->named = t->wanted = NULL;
  t->spans = NULL;
  t->role_of = NULL;
  t->named_cap = t->wanted_cap = t->spans_cap = t->nspans = t->role_cap = 0;
  return t->failed ? HS_EINVAL : HS_OK;
}
