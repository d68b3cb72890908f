/*
 * hs_types.h - shared scalar types, time units and error codes of the engine.
 */
#ifndef HS_TYPES_H
#define HS_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Simulated time is an integer count of nanoseconds since the start of a run. */
typedef int64_t hs_time_ns;

#define HS_TIME_NEVER INT64_MAX
#define HS_NS_PER_S 1000000000LL
/* Largest time (in seconds) the API accepts: about 292 years fits in int64 ns. */
#define HS_TIME_MAX_S 9.0e9

/* Error codes: zero is success, failures are negative (libuv style, no errno). */
enum {
  HS_OK = 0,
  HS_EINVAL = -1, /* an argument is out of range (a time in the past, NaN ...) */
  HS_EBUSY = -2,  /* the object is already in use (an event already pending) */
  HS_ENOMEM = -3, /* an allocation failed */
  HS_ECLOSED = -4 /* the simulation was closed */
};

const char *hs_strerror(int code);

/* Converts seconds to nanoseconds, rounding to nearest. The caller checks the range. */
static inline hs_time_ns hs_time_from_s(double s) {
  double ns = s * (double)HS_NS_PER_S;
  return (hs_time_ns)(ns < 0 ? ns - 0.5 : ns + 0.5);
}

static inline double hs_time_to_s(hs_time_ns t) { return (double)t / (double)HS_NS_PER_S; }

/* True when s is a finite, non-negative duration the engine can represent. */
static inline bool hs_time_s_valid(double s) { return s >= 0.0 && s <= HS_TIME_MAX_S; }

#endif
