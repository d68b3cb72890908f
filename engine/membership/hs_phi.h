/*
 * hs_phi.h - the phi accrual failure detector (Hayashibara, Defago, Yared, Katayama,
 * "The phi accrual failure detector", SRDS 2004), as Akka and Cassandra use it.
 *
 * The detector keeps a sliding window of the last max_sample_size inter-arrival times of a
 * peer's heartbeats. Instead of a yes/no verdict it gives a suspicion level,
 *
 *   phi(now) = -log10(P_later(now - last heartbeat))
 *
 * where P_later(t) is the probability that the next heartbeat arrives later than t, under
 *   HS_PHI_NORMAL       a normal distribution with the window's mean and standard deviation:
 *                       P_later(t) = 1 - CDF((t - mean') / sd) = erfc(y / sqrt 2) / 2;
 *   HS_PHI_EXPONENTIAL  an exponential distribution with the window's mean (Cassandra):
 *                       P_later(t) = exp(-t / mean'), so phi = t / (mean' * ln 10);
 * with mean' = mean + acceptable_pause and sd = max(standard deviation, min_std). phi = 1 means
 * a 10% chance that the peer is merely late, phi = 8 one in 10^8. The normal tail is computed
 * as a logarithm (erfc up to y = 5 sqrt 2, a continued fraction beyond), so phi stays exact to
 * the last digits for any delay instead of becoming infinite once erfc underflows.
 *
 * Times are integer nanoseconds; the window's sums are kept exactly (integers, 128 bits for
 * the squares), so the mean and variance carry no rounding drift however long it runs.
 * Intervals longer than HS_PHI_MAX_INTERVAL_NS are counted as that long.
 */
#ifndef HS_PHI_H
#define HS_PHI_H

#include "core/hs_types.h"

/* Exact sums of squares need 128 bits (a GCC and Clang extension). */
__extension__ typedef unsigned __int128 hs_phi_u128;

#define HS_PHI_MAX_SAMPLES 10000u
#define HS_PHI_MAX_INTERVAL_NS ((hs_time_ns)1 << 44) /* about 4.9 hours */

typedef enum hs_phi_model { HS_PHI_NORMAL = 0, HS_PHI_EXPONENTIAL } hs_phi_model;

typedef struct hs_phi_config {
  double threshold;            /* default 8.0: suspected when phi >= threshold */
  uint32_t max_sample_size;    /* default 200, 1 .. HS_PHI_MAX_SAMPLES */
  hs_time_ns min_std_ns;       /* default 100 ms (the seed's min_std = 0.1) */
  hs_time_ns acceptable_pause_ns; /* default 0: added to the mean */
  /* default 0 (none): when set, the first heartbeat seeds the window with the two intervals
   * estimate -/+ estimate / 4 (Akka's bootstrap), so phi is defined from the first heartbeat */
  hs_time_ns first_heartbeat_estimate_ns;
  hs_phi_model model;          /* default HS_PHI_NORMAL */
} hs_phi_config;

typedef struct hs_phi {
  hs_phi_config cfg;
  int64_t *window; /* ring buffer of intervals (ns), cfg.max_sample_size slots */
  uint32_t count, head;
  int64_t sum;
  hs_phi_u128 sum_sq;
  hs_time_ns last_ns;
  bool has_last;
  uint64_t heartbeats;
} hs_phi;

typedef struct hs_phi_stats {
  uint64_t heartbeats_received;
  double current_phi;     /* 0 while there is not enough data */
  double mean_interval_s; /* the window's mean, without the acceptable pause */
  double std_interval_s;  /* the window's population standard deviation (before min_std) */
  bool is_suspected;
} hs_phi_stats;

void hs_phi_config_init(hs_phi_config *cfg);
/* HS_OK, HS_EINVAL (threshold not finite and > 0, sizes, negative times) or HS_ENOMEM.
 * cfg NULL: the defaults. d is harmless to hs_phi_free even after a failure. */
int hs_phi_init(hs_phi *d, const hs_phi_config *cfg);
void hs_phi_free(hs_phi *d);
/* Forgets every heartbeat (a restarted peer, or a fresh start). */
void hs_phi_reset(hs_phi *d);

/* Records a heartbeat that arrived at at_ns. HS_EINVAL when at_ns is before the last one
 * (the window is unchanged). Two heartbeats at the same time make a zero interval. */
int hs_phi_heartbeat(hs_phi *d, hs_time_ns at_ns);

/* The suspicion level now; 0 while the window is empty or before the last heartbeat. */
double hs_phi_value(const hs_phi *d, hs_time_ns now_ns);
/* phi(now) < threshold (true while there is not enough data). */
bool hs_phi_available(const hs_phi *d, hs_time_ns now_ns);
void hs_phi_get_stats(const hs_phi *d, hs_time_ns now_ns, hs_phi_stats *out);
uint32_t hs_phi_sample_count(const hs_phi *d);

/* The formulas themselves, in seconds (for checks, and for callers with their own window):
 * -log10(erfc(((t - mean) / sd) / sqrt 2) / 2), and t / (mean * ln 10). sd > 0, mean > 0. */
double hs_phi_normal(double t_s, double mean_s, double sd_s);
double hs_phi_exponential(double t_s, double mean_s);
/* ln(P[Z > y]) for a standard normal Z, accurate in relative terms for every finite y. */
double hs_normal_log_tail(double y);

#endif
