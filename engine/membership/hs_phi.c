/*
 * hs_phi.c - the phi accrual failure detector: the window, its exact moments, and the
 * normal tail computed as a logarithm.
 */
#include "membership/hs_phi.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MS 1000000LL
#define LN_SQRT_PI 0.57236494292470008707171367567652935 /* ln(sqrt(pi)) */
#define LN_2 0.69314718055994530941723212145817657
#define LN_10 2.30258509299404568401799145468436421

void hs_phi_config_init(hs_phi_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->threshold = 8.0;
  cfg->max_sample_size = 200;
  cfg->min_std_ns = 100 * MS;
  cfg->model = HS_PHI_NORMAL;
}

int hs_phi_init(hs_phi *d, const hs_phi_config *cfg) {
  memset(d, 0, sizeof *d);
  hs_phi_config def;
  if (!cfg) {
    hs_phi_config_init(&def);
    cfg = &def;
  }
  if (!(isfinite(cfg->threshold) && cfg->threshold > 0) || cfg->max_sample_size == 0 ||
      cfg->max_sample_size > HS_PHI_MAX_SAMPLES || cfg->min_std_ns < 0 || cfg->acceptable_pause_ns < 0 ||
      cfg->acceptable_pause_ns > HS_PHI_MAX_INTERVAL_NS || cfg->first_heartbeat_estimate_ns < 0 ||
      cfg->first_heartbeat_estimate_ns > HS_PHI_MAX_INTERVAL_NS ||
      (cfg->model != HS_PHI_NORMAL && cfg->model != HS_PHI_EXPONENTIAL))
    return HS_EINVAL;
  d->window = malloc(cfg->max_sample_size * sizeof *d->window);
  if (!d->window) return HS_ENOMEM;
  d->cfg = *cfg;
  return HS_OK;
}

void hs_phi_free(hs_phi *d) {
  free(d->window);
  d->window = NULL;
  d->count = 0;
}

void hs_phi_reset(hs_phi *d) {
  d->count = d->head = 0;
  d->sum = 0;
  d->sum_sq = 0;
  d->has_last = false;
  d->last_ns = 0;
}

/* Adds one interval, dropping the oldest when the window is full; the sums stay exact. */
static void phi_push(hs_phi *d, int64_t x) {
  if (x > HS_PHI_MAX_INTERVAL_NS) x = HS_PHI_MAX_INTERVAL_NS;
  uint32_t cap = d->cfg.max_sample_size;
  if (d->count == cap) {
    int64_t old = d->window[d->head];
    d->sum -= old;
    d->sum_sq -= (hs_phi_u128)old * (hs_phi_u128)old;
    d->window[d->head] = x;
    d->head = (d->head + 1) % cap;
  } else {
    d->window[(d->head + d->count) % cap] = x;
    d->count++;
  }
  d->sum += x;
  d->sum_sq += (hs_phi_u128)x * (hs_phi_u128)x;
}

int hs_phi_heartbeat(hs_phi *d, hs_time_ns at_ns) {
  if (d->has_last && at_ns < d->last_ns) return HS_EINVAL;
  if (d->has_last) {
    phi_push(d, at_ns - d->last_ns);
  } else if (d->cfg.first_heartbeat_estimate_ns > 0) {
    int64_t est = d->cfg.first_heartbeat_estimate_ns, sd = est / 4;
    phi_push(d, est - sd);
    phi_push(d, est + sd);
  }
  d->last_ns = at_ns;
  d->has_last = true;
  d->heartbeats++;
  return HS_OK;
}

uint32_t hs_phi_sample_count(const hs_phi *d) { return d->count; }

/* Mean and population variance of the window in ns and ns^2: exact integer sums, one
 * rounding at the end (n * sum_sq - sum^2 is computed in 128 bits without overflow: the
 * intervals are capped at 2^44 ns and the window at 10^4 < 2^14 samples). */
static void phi_moments(const hs_phi *d, long double *mean, long double *var) {
  long double n = (long double)d->count;
  *mean = (long double)d->sum / n;
  hs_phi_u128 s = (hs_phi_u128)d->sum; /* the sum of non-negative intervals */
  hs_phi_u128 num = (hs_phi_u128)d->count * d->sum_sq - s * s;
  *var = (long double)num / (n * n);
}

/* ln P[Z > y] for a standard normal Z. Below y = -1, log1p of the (small) upper tail of -y;
 * up to x = y / sqrt 2 = 5, erfc itself (glibc's is accurate to an ulp or two there); beyond,
 * the continued fraction erfc(x) = exp(-x^2) / sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))
 * evaluated bottom-up with 64 terms (it converges in a handful at x >= 5), kept as a log so
 * nothing underflows. */
double hs_normal_log_tail(double y) {
  if (isnan(y)) return y;
  if (y == INFINITY) return -INFINITY;
  double x = y / sqrt(2.0);
  if (y < -1.0) return log1p(-0.5 * erfc(-x));
  if (x < 5.0) return log(0.5 * erfc(x));
  double k = x;
  for (int i = 64; i >= 1; i--) k = x + (0.5 * i) / k;
  return -x * x - LN_SQRT_PI - log(k) - LN_2;
}

double hs_phi_normal(double t_s, double mean_s, double sd_s) {
  double lq = hs_normal_log_tail((t_s - mean_s) / sd_s);
  double phi = -lq / LN_10;
  return phi > 0 ? phi : 0.0; /* -0.0 and rounding below zero read as 0 */
}

double hs_phi_exponential(double t_s, double mean_s) { return t_s / (mean_s * LN_10); }

/* Shared by the value and the stats: phi at now, 0 without data. */
static double phi_at(const hs_phi *d, hs_time_ns now_ns) {
  if (d->count == 0 || !d->has_last || now_ns < d->last_ns) return 0.0;
  long double mean, var;
  phi_moments(d, &mean, &var);
  double t_s = (double)(now_ns - d->last_ns) / 1e9;
  double mean_s = (double)((mean + (long double)d->cfg.acceptable_pause_ns) / 1e9L);
  if (d->cfg.model == HS_PHI_EXPONENTIAL) {
    if (mean_s <= 0) return t_s > 0 ? INFINITY : 0.0;
    return hs_phi_exponential(t_s, mean_s);
  }
  double sd_s = (double)(sqrtl(var) / 1e9L), min_s = (double)d->cfg.min_std_ns / 1e9;
  if (sd_s < min_s) sd_s = min_s;
  if (sd_s <= 0) return t_s > mean_s ? INFINITY : 0.0; /* min_std 0 and constant intervals */
  return hs_phi_normal(t_s, mean_s, sd_s);
}

double hs_phi_value(const hs_phi *d, hs_time_ns now_ns) { return phi_at(d, now_ns); }

bool hs_phi_available(const hs_phi *d, hs_time_ns now_ns) { return phi_at(d, now_ns) < d->cfg.threshold; }

void hs_phi_get_stats(const hs_phi *d, hs_time_ns now_ns, hs_phi_stats *out) {
  memset(out, 0, sizeof *out);
  out->heartbeats_received = d->heartbeats;
  out->current_phi = phi_at(d, now_ns);
  out->is_suspected = out->current_phi >= d->cfg.threshold;
  if (d->count) {
    long double mean, var;
    phi_moments(d, &mean, &var);
    out->mean_interval_s = (double)(mean / 1e9L);
    out->std_interval_s = (double)(sqrtl(var) / 1e9L);
  }
}
