/*
 * hs_pb.h - primary-backup replication: one primary orders writes into a log and replicates
 * them to the backups of its view, in one of three modes:
 *   HS_PB_SYNC       a write is acknowledged once every backup of the view holds it;
 *   HS_PB_SEMI_SYNC  ... once semi_sync_acks (default 1) synced backups hold it;
 *   HS_PB_ASYNC      at once; it reaches the backups in the background.
 *
 * SYNCED BACKUPS. Semi-sync counts only the backups the master says are synced (each CONFIG
 * carries them): only those may be promoted, so a joiner's copy keeps nothing. A joiner still
 * receives and acknowledges replication; its acknowledgements count once the primary hears
 * from the master that it is synced. With fewer synced backups than semi_sync_acks, a write
 * needs all of them; with backups but none synced yet, writes wait (or time out) until one is:
 * the primary never acknowledges alone while it has backups (with none at all, it does, as in
 * async). Sync counts every backup of the view, synced or not: all of them hold the write.
 *
 * VIEWS. The configuration master (hs_repl_master.h) decides the views: a view (its epoch)
 * lists the members, the primary first. A node follows the latest CONFIG it received; every
 * replication message carries the view, and a backup refuses one from an older view (the old
 * primary learns it from the STALE answer), so a deposed primary commits nothing more. When
 * the primary is removed (or restarts), the master makes the freshest synced backup the
 * primary of the next view: the one whose log ends highest (tag, then seq), as every node
 * reports in its pings (hs_repl_master.h, RULES). A primary commits, and so acknowledges
 * writes, only under its lease, so the backups that held an acknowledged write still hold it
 * when they report, and the freshest log holds it too: no mode loses an acknowledged write
 * while one of the backups that held it stays a member (sync: every backup; semi-sync: the
 * k synced ones that acknowledged it). The new primary re-replicates its log in the new view and serves
 * reads only once that log is committed there (HS_REPL_ENOTREADY before).
 *
 * LOG. Entries carry (seq, tag = the view that created them). Replication is AppendEntries
 * with at most one entry: (prev seq, prev tag, entry); a backup accepts it when its own entry
 * at prev has that tag (committed entries are equal everywhere), replacing a conflicting
 * uncommitted suffix left by an older view's primary; otherwise it rejects with its commit
 * point, and the primary resends from there. Sequence numbers make duplicated and reordered
 * messages harmless. Acknowledgements are messages; a backup acknowledges every message; the
 * primary resends what is unacknowledged every retry interval, and a backup whose missing
 * entries left the primary's log gets a snapshot of the committed state.
 *
 * CLIENTS. hs_pb_write on the primary appends the write and reports its end through
 * write_done exactly once: HS_OK when committed in the mode's sense; HS_REPL_ETIMEOUT after
 * write_timeout; HS_REPL_ECONFIG when the node stops being primary first; HS_REPL_ECRASHED.
 * The last three leave the outcome unknown. Refusals at the call (not the primary, no lease,
 * no configuration) certainly had no effect. Reads are answered by the primary from its
 * committed state while its lease is valid; a backup with serve_reads answers from its own
 * committed state, which may be stale.
 *
 * DURABILITY. A node's data is volatile: a crash loses it, and the master brings the node
 * back as a joining backup that receives a state transfer. Only the boot count survives.
 *
 * LOST WRITES. In async mode (and in semi-sync mode when every backup that held a write is
 * gone too) a new primary may lack writes its predecessor acknowledged. It counts those it knows of: every replication message carries the
 * primary's commit point, and stats.writes_lost adds what the last one seen exceeds the new
 * primary's log by (a lower bound: writes acknowledged after the last message that reached it
 * are not seen).
 */
#ifndef HS_PB_H
#define HS_PB_H

#include "core/hs_value.h"
#include "repl/hs_repl.h"

typedef enum hs_pb_mode { HS_PB_ASYNC = 0, HS_PB_SEMI_SYNC, HS_PB_SYNC } hs_pb_mode;
typedef enum hs_pb_role { HS_PB_NONE = 0, HS_PB_PRIMARY, HS_PB_BACKUP } hs_pb_role;

const char *hs_pb_mode_name(hs_pb_mode mode); /* "async", "semi_sync", "sync" */
const char *hs_pb_role_name(hs_pb_role role); /* "none", "primary", "backup" */

typedef struct hs_pb_callbacks {
  void (*send)(void *ud, const hs_repl_msg *m); /* required */
  void (*set_timer)(void *ud, hs_time_ns at_ns); /* the next deadline; HS_TIME_NEVER: none */
  /* A write accepted by hs_pb_write ended (see CLIENTS); seq is its log position. */
  void (*write_done)(void *ud, uint64_t tag, int status, uint64_t seq);
  /* The node adopted a new view (for traces). */
  void (*view_changed)(void *ud, uint64_t view, uint32_t primary, hs_pb_role role);
} hs_pb_callbacks;

typedef struct hs_pb_config {
  uint32_t id;
  uint32_t master;
  hs_pb_mode mode;             /* default HS_PB_ASYNC, as the seed */
  uint32_t semi_sync_acks;     /* default 1 */
  bool serve_reads;            /* backups answer reads (possibly stale); default true */
  hs_time_ns ping_interval_ns;  /* default 0.1 s */
  hs_time_ns retry_interval_ns; /* default 0.05 s: resend what is unacknowledged */
  hs_time_ns write_timeout_ns;  /* default 1 s */
  uint32_t max_inflight;        /* default 64 unacknowledged entries per backup */
  uint32_t max_log;             /* default 4096 committed entries kept for lagging backups */
  hs_pb_callbacks cb;
  void *ud;
} hs_pb_config;

typedef struct hs_pb_stats {
  hs_pb_role role;
  uint64_t view;
  uint32_t primary;
  uint64_t last_seq, commit_seq;
  uint64_t writes;            /* accepted by this node as primary */
  uint64_t writes_committed, writes_failed;
  uint64_t reads;
  uint64_t replications_sent; /* entries sent to backups (resends included) */
  uint64_t acks_received;
  uint64_t replications_applied; /* entries appended as a backup */
  uint64_t write_latency_sum_ns; /* over committed writes */
  uint64_t writes_lost;       /* see LOST WRITES */
  uint64_t snapshots_sent, snapshots_installed;
  uint64_t stale_refused;     /* replication from an older view refused here */
  uint64_t malformed;
  bool synced, crashed;
} hs_pb_stats;

typedef struct hs_pb hs_pb;

void hs_pb_config_init(hs_pb_config *cfg);
/* HS_OK, HS_EINVAL (id or master 0 or equal, no send, bad times or sizes), HS_ENOMEM. */
int hs_pb_new(const hs_pb_config *cfg, hs_pb **out);
/* Fails pending writes silently and frees everything. */
void hs_pb_free(hs_pb *pb);
/* Pings the master at once; the node serves once a CONFIG (and a lease) arrives. */
int hs_pb_start(hs_pb *pb, hs_time_ns now);
/* Drops the volatile state (everything but the boot count): pending writes end ECRASHED. */
void hs_pb_crash(hs_pb *pb);
int hs_pb_restart(hs_pb *pb, hs_time_ns now);

/* One message: HS_OK (also when ignored as stale), HS_EINVAL (malformed or misaddressed:
 * counted), HS_REPL_ECRASHED, HS_ENOMEM. */
int hs_pb_step(hs_pb *pb, const hs_repl_msg *m, hs_time_ns now);
int hs_pb_tick(hs_pb *pb, hs_time_ns now);
hs_time_ns hs_pb_next_deadline(const hs_pb *pb);

/* A client write (value: one encoded hs_value). HS_OK: accepted, write_done(tag) follows
 * (maybe before this returns). Refusals: HS_REPL_ENOTPRIMARY (hs_pb_primary is the hint),
 * HS_REPL_ENOLEASE, HS_REPL_EUNAVAILABLE, HS_REPL_ECRASHED, HS_EINVAL, HS_ENOMEM. */
int hs_pb_write(hs_pb *pb, hs_time_ns now, const void *key, size_t key_len, const void *value, size_t value_len,
                uint64_t tag);
/* A client read: HS_OK with *value (a view valid until the next call that changes the node;
 * len 0 when the key is absent). HS_REPL_ENOTPRIMARY (a backup without serve_reads),
 * HS_REPL_ENOLEASE, HS_REPL_ENOTREADY, HS_REPL_EUNAVAILABLE, HS_REPL_ECRASHED. */
int hs_pb_read(hs_pb *pb, hs_time_ns now, const void *key, size_t key_len, hs_value *value);

hs_pb_role hs_pb_role_of(const hs_pb *pb);
uint64_t hs_pb_view(const hs_pb *pb);
uint32_t hs_pb_primary(const hs_pb *pb); /* of the node's view; HS_REPL_NONE when unknown */
uint32_t hs_pb_id(const hs_pb *pb);
bool hs_pb_crashed(const hs_pb *pb);
hs_pb_mode hs_pb_mode_of(const hs_pb *pb);
void hs_pb_get_stats(const hs_pb *pb, hs_pb_stats *out);
/* On a primary: the i-th backup of the view and how many entries it lags (last - match).
 * HS_EINVAL when i is out of range. */
int hs_pb_backup_lag(const hs_pb *pb, uint32_t i, uint32_t *backup, uint64_t *lag);
/* Committed keys in insertion order (i < hs_pb_key_count): key and value (len 0 if none). */
uint32_t hs_pb_key_count(const hs_pb *pb);
const uint8_t *hs_pb_key_at(const hs_pb *pb, uint32_t i, uint32_t *len, hs_value *value);

#endif
