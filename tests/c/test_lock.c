/*
 * test_lock.c - the lock server core (engine/coord/hs_lock.h) and its simulator adapter.
 *
 * The rules one by one (leases that expire, tokens per lock that only grow, FIFO waiters,
 * timeouts, stale release refused, crash and restart, the fenced resource refusing a paused
 * client's stale write), then 300 seeds of random clients against one server with crashes,
 * checked from the clients' side: never two valid leases on a lock at once, tokens strictly
 * increasing per lock across crashes, every queued request ending exactly once, waiters
 * served in arrival order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "coord/hs_lock.h"
#include "coord/hs_lock_node.h"
#include "core/hs_rng.h"
#include "core/hs_sim.h"

#define MS 1000000LL
#define S 1000000000LL

#define assert_rc(actual, expected)                                                                          \
  do {                                                                                                       \
    int a_ = (actual), e_ = (expected);                                                                      \
    if (a_ != e_)                                                                                            \
      fail_msg("%s: got %d (%s), expected %d (%s)", #actual, a_, hs_lock_strerror(a_), e_, hs_lock_strerror(e_)); \
  } while (0)

#define assert_u64(actual, expected)                                                                         \
  do {                                                                                                       \
    uint64_t a_ = (uint64_t)(actual), e_ = (uint64_t)(expected);                                             \
    if (a_ != e_) fail_msg("%s = %llu, expected %llu", #actual, (unsigned long long)a_, (unsigned long long)e_); \
  } while (0)

/* ---- A recording harness ------------------------------------------------------------------ */

typedef struct rec {
  int kind; /* 'g' granted, 'd' waiter_done, 'x' expired */
  uint64_t tag, token;
  int reason;
  hs_time_ns granted_at, expires_at;
  char holder[16];
} rec;

typedef struct harness {
  hs_lock_server *s;
  rec recs[256];
  size_t n;
  hs_time_ns timer_at;
  char persisted_name[8][16];
  uint64_t persisted_token[8];
  size_t n_persisted;
} harness;

static void h_granted(void *ud, const hs_lock_grant *g) {
  harness *h = ud;
  rec *r = &h->recs[h->n++];
  memset(r, 0, sizeof *r);
  r->kind = 'g';
  r->tag = g->tag;
  r->token = g->fencing_token;
  r->granted_at = g->granted_at_ns;
  r->expires_at = g->expires_at_ns;
  snprintf(r->holder, sizeof r->holder, "%.*s", (int)g->holder_len, g->holder);
}

static void h_done(void *ud, uint64_t tag, int reason) {
  harness *h = ud;
  rec *r = &h->recs[h->n++];
  memset(r, 0, sizeof *r);
  r->kind = 'd';
  r->tag = tag;
  r->reason = reason;
}

static void h_expired(void *ud, const hs_lock_grant *g) {
  harness *h = ud;
  rec *r = &h->recs[h->n++];
  memset(r, 0, sizeof *r);
  r->kind = 'x';
  r->token = g->fencing_token;
  r->expires_at = g->expires_at_ns;
  snprintf(r->holder, sizeof r->holder, "%.*s", (int)g->holder_len, g->holder);
}

/* The durable store: the last token per name. */
static void h_persist(void *ud, const char *name, size_t len, uint64_t token) {
  harness *h = ud;
  for (size_t i = 0; i < h->n_persisted; i++)
    if (strlen(h->persisted_name[i]) == len && !memcmp(h->persisted_name[i], name, len)) {
      assert_true(token > h->persisted_token[i]);
      h->persisted_token[i] = token;
      return;
    }
  snprintf(h->persisted_name[h->n_persisted], 16, "%.*s", (int)len, name);
  h->persisted_token[h->n_persisted++] = token;
}

static void h_timer(void *ud, hs_time_ns at) { ((harness *)ud)->timer_at = at; }

static void h_init(harness *h, hs_time_ns lease, uint32_t max_waiters) {
  memset(h, 0, sizeof *h);
  hs_lock_config cfg;
  hs_lock_config_init(&cfg);
  cfg.lease_ns = lease;
  cfg.max_waiters = max_waiters;
  cfg.cb = (hs_lock_callbacks){.granted = h_granted,
                               .waiter_done = h_done,
                               .expired = h_expired,
                               .persist_token = h_persist,
                               .set_timer = h_timer};
  cfg.ud = h;
  h->timer_at = HS_TIME_NEVER;
  assert_rc(hs_lock_new(&cfg, &h->s), HS_OK);
}

#define L(name) name, strlen(name)

static int try_(harness *h, hs_time_ns now, const char *lock, const char *who, hs_lock_grant *g) {
  return hs_lock_try_acquire(h->s, now, L(lock), L(who), 0, g);
}

static int acq(harness *h, hs_time_ns now, const char *lock, const char *who, hs_time_ns timeout, uint64_t tag,
               hs_lock_grant *g) {
  return hs_lock_acquire(h->s, now, L(lock), L(who), 0, timeout, tag, g);
}

/* ---- The rules ------------------------------------------------------------------------------- */

static void test_try_release_tokens(void **state) {
  (void)state;
  harness h;
  h_init(&h, 10 * S, 0);
  hs_lock_grant g;
  assert_rc(try_(&h, 0, "db", "alice", &g), HS_OK);
  assert_u64(g.fencing_token, 1);
  assert_u64(g.expires_at_ns, 10 * S);
  assert_true(g.holder_len == 5 && !memcmp(g.holder, "alice", 5));
  assert_rc(try_(&h, 1 * S, "db", "bob", &g), HS_LOCK_EHELD);
  /* another lock has its own counter */
  assert_rc(try_(&h, 1 * S, "cache", "bob", &g), HS_OK);
  assert_u64(g.fencing_token, 1);
  assert_rc(hs_lock_release(h.s, 2 * S, L("db"), 7), HS_LOCK_ESTALE); /* wrong token */
  assert_rc(hs_lock_release(h.s, 2 * S, L("db"), 1), HS_OK);
  assert_rc(hs_lock_release(h.s, 2 * S, L("db"), 1), HS_LOCK_ESTALE); /* twice */
  assert_rc(hs_lock_release(h.s, 2 * S, L("nosuch"), 1), HS_LOCK_ESTALE);
  assert_rc(try_(&h, 3 * S, "db", "bob", &g), HS_OK);
  assert_u64(g.fencing_token, 2);
  hs_lock_stats st;
  hs_lock_get_stats(h.s, &st);
  assert_u64(st.total_acquires, 3);
  assert_u64(st.total_releases, 1);
  assert_u64(st.stale_refused, 3);
  assert_u64(st.active_locks, 2);
  assert_rc(try_(&h, 3 * S, "", "bob", &g), HS_EINVAL);
  assert_rc(hs_lock_try_acquire(h.s, 3 * S, L("x"), L("bob"), 11 * S, &g), HS_EINVAL); /* beyond max_lease */
  assert_rc(try_(&h, 2 * S, "db", "bob", &g), HS_EINVAL);                            /* time went back */
  hs_lock_free(h.s);
}

static void test_lease_expires(void **state) {
  (void)state;
  harness h;
  h_init(&h, 1 * S, 0);
  hs_lock_grant g;
  assert_rc(try_(&h, 0, "db", "alice", &g), HS_OK);
  assert_u64(h.timer_at, 1 * S);
  assert_rc(acq(&h, 100 * MS, "db", "bob", HS_TIME_NEVER, 42, &g), HS_LOCK_QUEUED);
  assert_true(hs_lock_holder(h.s, 999 * MS, L("db"), &g));
  assert_u64(g.fencing_token, 1);
  /* the tick comes late (1.5 s): the lease ended at 1 s, and bob's lease started then */
  assert_rc(hs_lock_tick(h.s, 1500 * MS), HS_OK);
  assert_int_equal(h.n, 2);
  assert_int_equal(h.recs[0].kind, 'x');
  assert_u64(h.recs[0].token, 1);
  assert_int_equal(h.recs[1].kind, 'g');
  assert_u64(h.recs[1].tag, 42);
  assert_u64(h.recs[1].token, 2);
  assert_u64(h.recs[1].granted_at, 1 * S);
  assert_u64(h.recs[1].expires_at, 2 * S);
  assert_rc(hs_lock_release(h.s, 1500 * MS, L("db"), 1), HS_LOCK_ESTALE); /* alice's lease is gone */
  assert_rc(hs_lock_renew(h.s, 1500 * MS, L("db"), 1, 0, NULL), HS_LOCK_ESTALE);
  /* a call at the deadline sees it expired even before any tick */
  assert_false(hs_lock_holder(h.s, 2 * S, L("db"), &g));
  hs_lock_stats st;
  hs_lock_get_stats(h.s, &st);
  assert_u64(st.total_expirations, 2);
  assert_u64(st.active_locks, 0);
  assert_u64(hs_lock_next_deadline(h.s), HS_TIME_NEVER);
  hs_lock_free(h.s);
}

static void test_renew(void **state) {
  (void)state;
  harness h;
  h_init(&h, 2 * S, 0);
  hs_lock_grant g;
  assert_rc(try_(&h, 0, "db", "alice", &g), HS_OK);
  assert_rc(hs_lock_renew(h.s, 1500 * MS, L("db"), 1, 0, &g), HS_OK);
  assert_u64(g.expires_at_ns, 3500 * MS);
  assert_u64(g.fencing_token, 1); /* the same lease, the same token */
  hs_lock_tick(h.s, 2 * S);       /* the first expiry is stale: nothing */
  assert_int_equal(h.n, 0);
  assert_true(hs_lock_holder(h.s, 3499 * MS, L("db"), NULL));
  assert_rc(hs_lock_renew(h.s, 3499 * MS, L("db"), 2, 0, &g), HS_LOCK_ESTALE); /* wrong token */
  assert_false(hs_lock_holder(h.s, 3500 * MS, L("db"), NULL));
  assert_int_equal(h.recs[0].kind, 'x');
  hs_lock_free(h.s);
}

static void test_fifo_waiters(void **state) {
  (void)state;
  harness h;
  h_init(&h, 10 * S, 0);
  hs_lock_grant g;
  assert_rc(try_(&h, 0, "db", "holder", &g), HS_OK);
  const char *who[] = {"a", "b", "c", "d", "e"};
  for (int i = 0; i < 5; i++) assert_rc(acq(&h, (i + 1) * MS, "db", who[i], HS_TIME_NEVER, 100 + i, &g), HS_LOCK_QUEUED);
  assert_int_equal(hs_lock_waiting(h.s, L("db")), 5);
  /* a newcomer's try fails while others wait, even at a moment the lock is free */
  uint64_t token = 1;
  for (int i = 0; i < 5; i++) {
    assert_rc(hs_lock_release(h.s, (10 + i) * MS, L("db"), token), HS_OK);
    assert_int_equal(h.recs[h.n - 1].kind, 'g');
    assert_u64(h.recs[h.n - 1].tag, 100 + i);
    assert_string_equal(h.recs[h.n - 1].holder, who[i]);
    assert_true(h.recs[h.n - 1].token > token);
    token = h.recs[h.n - 1].token;
  }
  assert_u64(token, 6);
  hs_lock_stats st;
  hs_lock_get_stats(h.s, &st);
  assert_u64(st.total_waiters, 0);
  hs_lock_free(h.s);
}

static void test_timeouts_cancel_full(void **state) {
  (void)state;
  harness h;
  h_init(&h, 5 * S, 2);
  hs_lock_grant g;
  assert_rc(try_(&h, 0, "db", "holder", &g), HS_OK);
  assert_rc(acq(&h, 0, "db", "a", 2 * S, 1, &g), HS_LOCK_QUEUED);
  assert_rc(acq(&h, 0, "db", "b", 5 * S, 2, &g), HS_LOCK_QUEUED); /* times out as the lease ends */
  assert_rc(acq(&h, 0, "db", "c", 1 * S, 3, &g), HS_LOCK_EFULL);
  assert_rc(acq(&h, 0, "db", "c", 0, 3, &g), HS_EINVAL); /* a timeout must be positive */
  assert_u64(h.timer_at, 2 * S);
  hs_lock_tick(h.s, 2 * S);
  assert_int_equal(h.n, 1);
  assert_int_equal(h.recs[0].kind, 'd');
  assert_u64(h.recs[0].tag, 1);
  assert_rc(h.recs[0].reason, HS_LOCK_ETIMEOUT);
  assert_int_equal(hs_lock_waiting(h.s, L("db")), 1);
  /* at 5 s the lease ends and b's timeout passes: b gets the lock */
  hs_lock_tick(h.s, 5 * S);
  assert_int_equal(h.recs[h.n - 1].kind, 'g');
  assert_u64(h.recs[h.n - 1].tag, 2);
  assert_rc(acq(&h, 6 * S, "db", "d", HS_TIME_NEVER, 4, &g), HS_LOCK_QUEUED);
  assert_rc(hs_lock_cancel(h.s, 6 * S, L("db"), 4), HS_OK);
  assert_rc(hs_lock_cancel(h.s, 6 * S, L("db"), 4), HS_LOCK_ENOTFOUND);
  size_t before = h.n;
  assert_rc(hs_lock_release(h.s, 7 * S, L("db"), 2), HS_OK);
  assert_int_equal(h.n, before); /* nobody left to serve: the cancelled one is gone */
  hs_lock_stats st;
  hs_lock_get_stats(h.s, &st);
  assert_u64(st.total_rejections, 1);
  assert_u64(st.total_timeouts, 1);
  hs_lock_free(h.s);
}

static void test_crash_restart_tokens_and_grace(void **state) {
  (void)state;
  harness h;
  h_init(&h, 3 * S, 0);
  hs_lock_grant g;
  for (int i = 0; i < 3; i++) {
    assert_rc(try_(&h, i * S, "db", "a", &g), HS_OK);
    assert_rc(hs_lock_release(h.s, i * S, L("db"), g.fencing_token), HS_OK);
  }
  assert_rc(try_(&h, 3 * S, "db", "alice", &g), HS_OK); /* token 4, valid until 6 s */
  assert_u64(g.fencing_token, 4);
  assert_rc(acq(&h, 3 * S, "db", "bob", HS_TIME_NEVER, 9, &g), HS_LOCK_QUEUED);
  hs_lock_crash(h.s);
  assert_int_equal(h.recs[h.n - 1].kind, 'd');
  assert_rc(h.recs[h.n - 1].reason, HS_LOCK_ECRASHED);
  assert_rc(try_(&h, 4 * S, "db", "carol", &g), HS_LOCK_ECRASHED);
  assert_u64(h.timer_at, HS_TIME_NEVER);
  /* back at 4 s: alice may still believe in her lease until 6 s, so nobody gets it before
   * 4 + max_lease = 7 s */
  assert_rc(hs_lock_restart(h.s, 4 * S), HS_OK);
  assert_rc(try_(&h, 5 * S, "db", "carol", &g), HS_LOCK_EHELD);
  assert_rc(acq(&h, 5 * S, "db", "carol", HS_TIME_NEVER, 10, &g), HS_LOCK_QUEUED);
  assert_u64(h.timer_at, 7 * S);
  hs_lock_tick(h.s, 7 * S);
  assert_int_equal(h.recs[h.n - 1].kind, 'g');
  assert_u64(h.recs[h.n - 1].tag, 10);
  assert_u64(h.recs[h.n - 1].token, 5); /* continues after the crash */
  assert_u64(h.recs[h.n - 1].granted_at, 7 * S);

  /* a fresh server loaded from the persisted tokens continues them too */
  harness h2;
  h_init(&h2, 3 * S, 0);
  for (size_t i = 0; i < h.n_persisted; i++)
    assert_rc(hs_lock_load_token(h2.s, L(h.persisted_name[i]), h.persisted_token[i]), HS_OK);
  assert_rc(try_(&h2, 0, "db", "dave", &g), HS_OK);
  assert_u64(g.fencing_token, 6);
  hs_lock_free(h.s);
  hs_lock_free(h2.s);
}

/* Kleppmann's scenario: a client pauses (a GC) past its lease, the lock moves on, the client
 * wakes and writes with its old token: the storage refuses it. */
static void test_fenced_resource_refuses_paused_client(void **state) {
  (void)state;
  harness h;
  h_init(&h, 2 * S, 0);
  hs_fenced storage;
  hs_fenced_init(&storage);
  hs_lock_grant a, b;
  assert_rc(try_(&h, 0, "file", "client1", &a), HS_OK);
  assert_rc(hs_fenced_write(&storage, a.fencing_token), HS_OK);
  /* client1 pauses from 0.5 s to 5 s; its lease ends at 2 s */
  assert_rc(acq(&h, 1 * S, "file", "client2", HS_TIME_NEVER, 2, &b), HS_LOCK_QUEUED);
  hs_lock_tick(h.s, 2 * S);
  assert_int_equal(h.recs[h.n - 1].kind, 'g');
  uint64_t t2 = h.recs[h.n - 1].token;
  assert_u64(t2, 2);
  assert_rc(hs_fenced_write(&storage, t2), HS_OK);
  assert_rc(hs_fenced_write(&storage, t2), HS_OK); /* the same holder again */
  /* client1 wakes at 5 s and writes: refused; its release is refused too */
  assert_rc(hs_fenced_write(&storage, a.fencing_token), HS_LOCK_ESTALE);
  assert_rc(hs_lock_release(h.s, 5 * S, L("file"), a.fencing_token), HS_LOCK_ESTALE);
  assert_u64(storage.highest, 2);
  assert_u64(storage.writes_refused, 1);
  assert_u64(storage.writes_accepted, 3);
  hs_lock_free(h.s);
}

/* ---- Random clients, checked from their side ------------------------------------------------ */

#define R_LOCKS 3
#define R_CLIENTS 6
#define R_REQS 4096

typedef struct rworld {
  hs_lock_server *s;
  hs_rng rng;
  hs_time_ns now;
  uint64_t seed;
  /* per lock: the grants believed valid by their holders (token, expiry, released) */
  struct {
    uint64_t last_token;
    bool orphan; /* the server crashed since the grant: it forgot it, the holder did not */
    uint64_t token[64];
    hs_time_ns expires[64];
    int n;
  } lk[R_LOCKS];
  /* requests by tag: 0 none, 1 queued, 2 granted, 3 timed out, 4 crashed, 5 cancelled */
  uint8_t req[R_REQS];
  int req_lock[R_REQS];
  uint64_t req_seq[R_REQS]; /* order of queuing */
  uint64_t served_seq[R_LOCKS];
  uint64_t next_tag, seq;
  uint64_t grants, expirations, timeouts, crashes, stale;
  bool failed;
  char why[200];
} rworld;

static const char *const lock_names[R_LOCKS] = {"a", "b", "c"};

static void r_fail(rworld *w, const char *fmt, ...) {
  if (w->failed) return;
  w->failed = true;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(w->why, sizeof w->why, fmt, ap);
  va_end(ap);
}

static int r_lock_index(const char *p, size_t len) {
  for (int i = 0; i < R_LOCKS; i++)
    if (len == 1 && p[0] == lock_names[i][0]) return i;
  return -1;
}

/* A new grant: no other grant of the lock may still be valid (not released, not expired),
 * and its token must pass every token given before. */
static void r_note_grant(rworld *w, const hs_lock_grant *g) {
  int l = r_lock_index(g->lock, g->lock_len);
  if (l < 0) {
    r_fail(w, "grant of an unknown lock");
    return;
  }
  if (g->fencing_token <= w->lk[l].last_token)
    {
    r_fail(w, "lock %d: token %llu after %llu", l, (unsigned long long)g->fencing_token,
                  (unsigned long long)w->lk[l].last_token);
    return;
  }
  w->lk[l].last_token = g->fencing_token;
  for (int i = 0; i < w->lk[l].n; i++) {
    if (w->lk[l].expires[i] > g->granted_at_ns)
      {
    r_fail(w, "lock %d: token %llu granted at %lld while token %llu is valid until %lld", l,
                    (unsigned long long)g->fencing_token, (long long)g->granted_at_ns,
                    (unsigned long long)w->lk[l].token[i], (long long)w->lk[l].expires[i]);
    return;
  }
  }
  w->lk[l].n = 1;
  w->lk[l].orphan = false;
  w->lk[l].token[0] = g->fencing_token;
  w->lk[l].expires[0] = g->expires_at_ns;
  w->grants++;
}

static void r_granted(void *ud, const hs_lock_grant *g) {
  rworld *w = ud;
  if (g->tag >= R_REQS || w->req[g->tag] != 1) {
    r_fail(w, "granted request %llu that was not queued", (unsigned long long)g->tag);
    return;
  }
  int l = w->req_lock[g->tag];
  if (w->req_seq[g->tag] < w->served_seq[l]) {
    r_fail(w, "lock %d served out of order", l);
    return;
  }
  w->served_seq[l] = w->req_seq[g->tag];
  w->req[g->tag] = 2;
  r_note_grant(w, g);
}

static void r_done(void *ud, uint64_t tag, int reason) {
  rworld *w = ud;
  if (tag >= R_REQS || w->req[tag] != 1) {
    r_fail(w, "request %llu ended twice", (unsigned long long)tag);
    return;
  }
  w->req[tag] = reason == HS_LOCK_ETIMEOUT ? 3 : 4;
  if (reason == HS_LOCK_ETIMEOUT) w->timeouts++;
}

static void r_expired(void *ud, const hs_lock_grant *g) {
  rworld *w = ud;
  w->expirations++;
  if (g->expires_at_ns > w->now) r_fail(w, "expired before its time");
}

static void r_step(rworld *w) {
  w->now += (hs_time_ns)hs_rng_below(&w->rng, 400 * MS);
  int l = (int)hs_rng_below(&w->rng, R_LOCKS);
  char who[8];
  snprintf(who, sizeof who, "c%d", (int)hs_rng_below(&w->rng, R_CLIENTS));
  hs_time_ns lease = (hs_time_ns)(1 + hs_rng_below(&w->rng, 2000)) * MS;
  hs_lock_grant g;
  uint64_t dice = hs_rng_below(&w->rng, 100);
  if (dice < 25) {
    if (hs_lock_try_acquire(w->s, w->now, L(lock_names[l]), L(who), lease, &g) == HS_OK) r_note_grant(w, &g);
  } else if (dice < 55) {
    uint64_t tag = ++w->next_tag;
    if (tag >= R_REQS) return;
    hs_time_ns timeout = hs_rng_below(&w->rng, 3) ? (hs_time_ns)(1 + hs_rng_below(&w->rng, 3000)) * MS : HS_TIME_NEVER;
    w->req[tag] = 1;
    w->req_lock[tag] = l;
    w->req_seq[tag] = ++w->seq;
    int rc = hs_lock_acquire(w->s, w->now, L(lock_names[l]), L(who), lease, timeout, tag, &g);
    if (rc == HS_OK) {
      w->req[tag] = 2;
      w->served_seq[l] = w->req_seq[tag];
      r_note_grant(w, &g);
    } else if (rc != HS_LOCK_QUEUED) w->req[tag] = 0;
  } else if (dice < 80) { /* the current holder releases, or a stale token is tried */
    hs_lock_tick(w->s, w->now); /* what is due now happens first (a waiter may get the lock) */
    uint64_t token = w->lk[l].n ? w->lk[l].token[0] : 0;
    if (hs_rng_below(&w->rng, 4) == 0) token = hs_rng_below(&w->rng, token + 2);
    bool valid = w->lk[l].n && token == w->lk[l].token[0] && w->now < w->lk[l].expires[0] && !w->lk[l].orphan;
    int held = w->lk[l].n;
    if (valid) w->lk[l].n = 0; /* the holder gives it up as it asks: a waiter may get it in the call */
    int rc = hs_lock_release(w->s, w->now, L(lock_names[l]), token);
    if (rc != HS_OK) w->lk[l].n = held;
    if (!hs_lock_crashed(w->s) && (rc == HS_OK) != valid)
      {
    r_fail(w, "release of token %llu: %s, but the lease is %s", (unsigned long long)token,
                    hs_lock_strerror(rc), valid ? "valid" : "not valid");
    return;
  }
    if (rc != HS_OK) w->stale++;
  } else if (dice < 88) {
    if (w->lk[l].n && hs_lock_renew(w->s, w->now, L(lock_names[l]), w->lk[l].token[0], lease, &g) == HS_OK)
      w->lk[l].expires[0] = g.expires_at_ns;
  } else if (dice < 92) {
    uint64_t tag = 1 + hs_rng_below(&w->rng, w->next_tag + 1);
    if (tag < R_REQS && w->req[tag] == 1 &&
        hs_lock_cancel(w->s, w->now, L(lock_names[w->req_lock[tag]]), tag) == HS_OK)
      w->req[tag] = 5;
  } else if (dice < 95) {
    if (!hs_lock_crashed(w->s)) {
      hs_lock_crash(w->s);
      for (int i = 0; i < R_LOCKS; i++) w->lk[i].orphan = true;
      w->crashes++;
    } else hs_lock_restart(w->s, w->now);
  } else {
    hs_lock_tick(w->s, w->now);
  }
}

static void test_random_clients(void **state) {
  (void)state;
  uint64_t grants = 0, expirations = 0, timeouts = 0, crashes = 0, stale = 0;
  for (uint64_t seed = 1; seed <= 300; seed++) {
    rworld *w = calloc(1, sizeof *w);
    w->seed = seed;
    hs_rng_seed(&w->rng, seed, "locks", 5);
    hs_lock_config cfg;
    hs_lock_config_init(&cfg);
    cfg.lease_ns = 1000 * MS;
    cfg.max_lease_ns = 2000 * MS;
    cfg.max_waiters = seed % 2 ? 0 : 3;
    cfg.cb = (hs_lock_callbacks){.granted = r_granted, .waiter_done = r_done, .expired = r_expired};
    cfg.ud = w;
    assert_rc(hs_lock_new(&cfg, &w->s), HS_OK);
    for (int i = 0; i < 1500 && !w->failed; i++) r_step(w);
    /* the end: back up, time passes, every queued request ends */
    if (hs_lock_crashed(w->s)) hs_lock_restart(w->s, w->now);
    for (int i = 0; i < 200 && !w->failed; i++) {
      w->now += 1000 * MS;
      hs_lock_tick(w->s, w->now);
      for (int l = 0; l < R_LOCKS; l++) /* holders release what they hold */
        if (w->lk[l].n && w->now < w->lk[l].expires[0] && !w->lk[l].orphan) {
          w->lk[l].n = 0;
          if (hs_lock_release(w->s, w->now, L(lock_names[l]), w->lk[l].token[0]) != HS_OK)
            r_fail(w, "lock %d: the holder's release refused", l);
        }
    }
    for (uint64_t t = 1; t < R_REQS && t <= w->next_tag && !w->failed; t++)
      if (w->req[t] == 1) r_fail(w, "request %llu never ended", (unsigned long long)t);
    hs_lock_stats st;
    hs_lock_get_stats(w->s, &st);
    if (!w->failed && (st.total_waiters != 0 || st.active_locks != 0))
      r_fail(w, "at the end: %llu waiters, %llu held", (unsigned long long)st.total_waiters,
             (unsigned long long)st.active_locks);
    if (w->failed) {
      char why[200];
      snprintf(why, sizeof why, "%s", w->why);
      hs_lock_free(w->s);
      free(w);
      fail_msg("seed %llu: %s", (unsigned long long)seed, why);
    }
    grants += w->grants;
    expirations += w->expirations;
    timeouts += w->timeouts;
    crashes += w->crashes;
    stale += w->stale;
    hs_lock_free(w->s);
    free(w);
  }
  print_message("lock: 300 seeds, %llu grants, %llu expirations, %llu waiter timeouts, %llu crashes, %llu stale releases refused\n",
                (unsigned long long)grants, (unsigned long long)expirations, (unsigned long long)timeouts,
                (unsigned long long)crashes, (unsigned long long)stale);
  assert_true(grants > 10000 && expirations > 1000 && timeouts > 100 && crashes > 100);
}

/* ---- The adapter: leases expire in simulated time ---------------------------------------------- */

static const hs_entity_vtable server_vt = {.kind = "DistributedLock"};

typedef struct anode {
  hs_entity e;
  hs_lock_node lock;
  int granted, expired;
  hs_time_ns granted_at;
} anode;

static void a_granted(void *ud, const hs_lock_grant *g) {
  anode *a = ud;
  a->granted++;
  a->granted_at = g->granted_at_ns;
}

static void a_expired(void *ud, const hs_lock_grant *g) {
  (void)g;
  ((anode *)ud)->expired++;
}

static void test_adapter_leases_in_simulated_time(void **state) {
  (void)state;
  hs_sim sim;
  hs_sim_init(&sim, 1);
  anode a;
  memset(&a, 0, sizeof a);
  hs_entity_init(&a.e, &server_vt, "locks");
  assert_rc(hs_sim_register(&sim, &a.e), HS_OK);
  hs_lock_config cfg;
  hs_lock_config_init(&cfg);
  cfg.lease_ns = 2 * S;
  hs_lock_node_hooks hooks = {.granted = a_granted, .expired = a_expired, .ud = &a};
  assert_rc(hs_lock_node_init(&a.lock, &a.e, &cfg, &hooks), HS_OK);
  hs_lock_grant g;
  assert_rc(hs_lock_node_try_acquire(&a.lock, L("db"), L("alice"), 0, &g), HS_OK);
  assert_rc(hs_lock_node_acquire(&a.lock, L("db"), L("bob"), 0, HS_TIME_NEVER, 1, &g), HS_LOCK_QUEUED);
  hs_sim_run(&sim); /* the timer fires at 2 s (bob), then at 4 s (bob's lease) */
  assert_int_equal(a.expired, 2);
  assert_int_equal(a.granted, 1);
  assert_u64(a.granted_at, 2 * S);
  assert_u64(sim.now_ns, 4 * S);
  /* crash and restart through the entity: the grace runs on the engine's timer */
  assert_rc(hs_lock_node_try_acquire(&a.lock, L("db"), L("carol"), 0, &g), HS_OK);
  hs_entity_crash(&a.e);
  hs_lock_node_on_crash(&a.lock);
  hs_entity_restart(&a.e);
  hs_lock_node_on_restart(&a.lock);
  assert_rc(hs_lock_node_acquire(&a.lock, L("db"), L("dave"), 0, HS_TIME_NEVER, 2, &g), HS_LOCK_QUEUED);
  hs_sim_run(&sim);
  assert_int_equal(a.granted, 2);
  assert_u64(a.granted_at, 6 * S); /* 4 s + the grace of one max lease */
  hs_lock_node_free(&a.lock);
  hs_sim_close(&sim);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_try_release_tokens),
      cmocka_unit_test(test_lease_expires),
      cmocka_unit_test(test_renew),
      cmocka_unit_test(test_fifo_waiters),
      cmocka_unit_test(test_timeouts_cancel_full),
      cmocka_unit_test(test_crash_restart_tokens_and_grace),
      cmocka_unit_test(test_fenced_resource_refuses_paused_client),
      cmocka_unit_test(test_random_clients),
      cmocka_unit_test(test_adapter_leases_in_simulated_time),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
