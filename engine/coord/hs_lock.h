/*
 * hs_lock.h - a lock server core: named locks with leases and fencing tokens, a pure,
 * deterministic state machine (the shape of hs_raft.h).
 *
 * Every call carries the current simulated time `now`; what the server wants done comes out
 * through hs_lock_callbacks, synchronously, during the call that caused it. There is no
 * network, scheduler or wall clock inside: the adapter (hs_lock_node.h, or a test) arms one
 * timer at hs_lock_next_deadline (or implements set_timer) and calls hs_lock_tick then.
 * Every entry point first does whatever was due at `now`, so a call made before the tick of
 * the same instant sees the same state the tick would leave.
 *
 * SEMANTICS
 *   - A lease is valid while now < expires_at. An expired lease is released by the server
 *     (expired callback) and the lock passes to the first waiter; release and renew with its
 *     token are then refused with HS_LOCK_ESTALE.
 *   - Fencing tokens are per lock name and only grow: each grant of a lock gets its last
 *     token + 1 (the first grant 1). The last token of each lock is the server's durable state:
 *     persist_token is called before a grant is handed out (returned or passed to granted),
 *     hs_lock_crash keeps it, and a fresh server is given it back with hs_lock_load_token.
 *   - Waiters are served first come, first served (FIFO per lock). A free lock with waiters
 *     (during the restart grace) is not taken by a newcomer: try_acquire fails, acquire queues.
 *     A waiter whose timeout passes is removed and told (waiter_done, HS_LOCK_ETIMEOUT); when
 *     a lease ends at the same instant as a waiter's timeout, the waiter gets the lock.
 *   - After hs_lock_restart the server grants nothing for max_lease (the restart grace, on by
 *     default): every lease given before the crash has expired by then, so two holders never
 *     have valid leases at once even across a crash that forgot who held what.
 *   - Release, renew and cancel with a wrong, stale or expired token are refused and counted.
 *
 * CALLBACKS must not call back into the server. Pointers they receive are valid during the
 * call only; a grant's strings point into the server until its next state change.
 */
#ifndef HS_LOCK_H
#define HS_LOCK_H

#include "core/hs_types.h"

/* HS_OK (granted), or: */
#define HS_LOCK_QUEUED 1 /* acquire: the request waits; granted or waiter_done tells the end */

enum {
  HS_LOCK_EHELD = -112,    /* try_acquire: held, or others are waiting, or the restart grace */
  HS_LOCK_EFULL = -113,    /* the lock's waiter queue is full (max_waiters): rejected */
  HS_LOCK_ESTALE = -114,   /* release/renew: not the current holder's token, or the lease ran out */
  HS_LOCK_ETIMEOUT = -115, /* waiter_done: the waiter's timeout passed */
  HS_LOCK_ECRASHED = -116, /* the server is crashed (calls refused; waiter_done when it crashes) */
  HS_LOCK_ENOTFOUND = -117 /* cancel: no such waiter */
};

/* A message for any HS_ or HS_LOCK_ code. */
const char *hs_lock_strerror(int code);

/* A granted lease. Strings point into the server: valid until its next state change. */
typedef struct hs_lock_grant {
  const char *lock;
  size_t lock_len;
  const char *holder;
  size_t holder_len;
  uint64_t fencing_token;
  hs_time_ns granted_at_ns;
  hs_time_ns lease_ns;
  hs_time_ns expires_at_ns; /* granted_at + lease (moved by renew) */
  uint64_t tag;             /* the request's tag (acquire), 0 for try_acquire */
} hs_lock_grant;

typedef struct hs_lock_callbacks {
  /* A queued acquire got the lock. */
  void (*granted)(void *ud, const hs_lock_grant *g);
  /* A queued acquire ended without the lock: HS_LOCK_ETIMEOUT or HS_LOCK_ECRASHED. */
  void (*waiter_done)(void *ud, uint64_t tag, int reason);
  /* A lease ran out before it was released (the holder is told nothing by the server). */
  void (*expired)(void *ud, const hs_lock_grant *g);
  /* Durable: lock `name` gave token `token` (called before the grant leaves the server). */
  void (*persist_token)(void *ud, const char *name, size_t len, uint64_t token);
  /* The deadline changed: absolute, HS_TIME_NEVER when nothing is pending. */
  void (*set_timer)(void *ud, hs_time_ns at_ns);
} hs_lock_callbacks;

typedef struct hs_lock_config {
  hs_time_ns lease_ns;     /* default 10 s (the seed's lease_duration): a request's lease when it gives 0 */
  hs_time_ns max_lease_ns; /* default 0: lease_ns. Longer leases are refused (HS_EINVAL); the restart grace */
  uint32_t max_waiters;    /* per lock, default 0: unlimited */
  bool restart_grace;      /* default true */
  hs_lock_callbacks cb;    /* all optional */
  void *ud;
} hs_lock_config;

typedef struct hs_lock_stats {
  uint64_t total_acquires;    /* grants, immediate or after waiting */
  uint64_t total_releases;    /* explicit releases */
  uint64_t total_expirations; /* leases that ran out */
  uint64_t total_rejections;  /* acquires refused because the queue was full */
  uint64_t active_locks;      /* locks held now */
  uint64_t total_waiters;     /* waiters queued now, over every lock */
  uint64_t total_timeouts;    /* waiters that gave up */
  uint64_t stale_refused;     /* release/renew with a wrong or stale token */
  uint64_t renewals;
  uint64_t crashes;
  bool crashed;
} hs_lock_stats;

typedef struct hs_lock_server hs_lock_server; /* opaque */

void hs_lock_config_init(hs_lock_config *cfg);
/* HS_OK, HS_EINVAL (non-positive lease, max_lease below lease) or HS_ENOMEM. */
int hs_lock_new(const hs_lock_config *cfg, hs_lock_server **out);
void hs_lock_free(hs_lock_server *s);

/* Durable state from an earlier life: lock `name`'s last token is at least `token`. */
int hs_lock_load_token(hs_lock_server *s, const char *name, size_t len, uint64_t token);

/* Takes the lock now if it is free and nobody waits: HS_OK and *out, else HS_LOCK_EHELD.
 * lease_ns 0: the default lease. HS_EINVAL (empty name, lease beyond max_lease),
 * HS_LOCK_ECRASHED, HS_ENOMEM. */
int hs_lock_try_acquire(hs_lock_server *s, hs_time_ns now, const char *lock, size_t lock_len, const char *requester,
                        size_t requester_len, hs_time_ns lease_ns, hs_lock_grant *out);
/* Takes the lock now (HS_OK and *out, tag in it), or queues the request behind the others
 * (HS_LOCK_QUEUED): it ends later in exactly one granted(tag) or waiter_done(tag), unless it
 * is cancelled. timeout_ns > 0 (HS_TIME_NEVER: wait for ever). HS_LOCK_EFULL when the queue
 * is full; HS_EINVAL, HS_LOCK_ECRASHED, HS_ENOMEM. */
int hs_lock_acquire(hs_lock_server *s, hs_time_ns now, const char *lock, size_t lock_len, const char *requester,
                    size_t requester_len, hs_time_ns lease_ns, hs_time_ns timeout_ns, uint64_t tag,
                    hs_lock_grant *out);
/* Releases the lock held with `token` (a valid lease): HS_OK, and the first waiter gets it;
 * HS_LOCK_ESTALE otherwise (nothing changes). */
int hs_lock_release(hs_lock_server *s, hs_time_ns now, const char *lock, size_t lock_len, uint64_t token);
/* Extends a valid lease to now + lease_ns (0: the default). HS_OK and *out (optional), or
 * HS_LOCK_ESTALE, HS_EINVAL. */
int hs_lock_renew(hs_lock_server *s, hs_time_ns now, const char *lock, size_t lock_len, uint64_t token,
                  hs_time_ns lease_ns, hs_lock_grant *out);
/* Withdraws a queued request (no callback). HS_OK or HS_LOCK_ENOTFOUND. */
int hs_lock_cancel(hs_lock_server *s, hs_time_ns now, const char *lock, size_t lock_len, uint64_t tag);

/* Does what is due at now: expiries, waiter timeouts, the end of the restart grace. */
int hs_lock_tick(hs_lock_server *s, hs_time_ns now);
/* The earliest pending deadline, HS_TIME_NEVER if none. */
hs_time_ns hs_lock_next_deadline(const hs_lock_server *s);

/* Loses the volatile state: holders are forgotten, every waiter ends with HS_LOCK_ECRASHED
 * (in lock creation order, FIFO within a lock). Tokens are kept (durable). */
void hs_lock_crash(hs_lock_server *s);
/* Serves again, empty, with the durable tokens; no grant before now + max_lease when
 * restart_grace is set. */
int hs_lock_restart(hs_lock_server *s, hs_time_ns now);

/* The valid lease on `lock` now: true and *out, or false. */
bool hs_lock_holder(hs_lock_server *s, hs_time_ns now, const char *lock, size_t lock_len, hs_lock_grant *out);
/* The last fencing token given for `lock` (0: never granted). */
uint64_t hs_lock_last_token(const hs_lock_server *s, const char *lock, size_t lock_len);
/* Waiters queued on `lock` now. */
uint32_t hs_lock_waiting(const hs_lock_server *s, const char *lock, size_t lock_len);
void hs_lock_get_stats(const hs_lock_server *s, hs_lock_stats *out);
bool hs_lock_crashed(const hs_lock_server *s);

/* ---- A fenced resource ----------------------------------------------------------------
 * A storage that refuses any write carrying a fencing token lower than the highest it has
 * seen (Kleppmann's fencing): a client that paused past its lease and then writes with its
 * old token is refused once the next holder has written. Equal tokens are the same holder. */
typedef struct hs_fenced {
  uint64_t highest; /* 0: nothing written yet */
  uint64_t writes_accepted;
  uint64_t writes_refused;
} hs_fenced;

void hs_fenced_init(hs_fenced *f);
/* HS_OK (token >= highest; highest = token) or HS_LOCK_ESTALE (token < highest). */
int hs_fenced_write(hs_fenced *f, uint64_t token);

#endif
