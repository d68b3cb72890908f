/*
 * hs_chain.h - chain replication (van Renesse & Schneider, OSDI 2004) and CRAQ (Terrace &
 * Freedman, USENIX ATC 2009).
 *
 * The configuration master (hs_repl_master.h) orders the members: head first, tail last.
 * Writes enter at the head, which gives each a sequence number and sends it down the chain
 * (Propagate); each node applies it as a new *dirty* version of its key and forwards it; the
 * tail applies it committed and acknowledges (WriteAck) back up the chain; each node marks its
 * versions up to the acknowledged sequence number clean, forgets older ones, and forwards the
 * acknowledgement; the head completes the client's write when it arrives.
 *
 * OBJECTS. A key holds its latest clean version and every dirty one after it, each a
 * (sequence number, value): the clean/dirty mark is per version, so a value that is not
 * committed can never read as clean, whatever was written before or after it.
 *
 * READS. Plain chain: at the tail only (which holds only committed versions). CRAQ: at any
 * member: the latest version when it is clean; when it is dirty, the node asks the tail for
 * its committed version number of the key (VersionQuery) and answers with that version (or
 * with a newer clean one, if one became clean meanwhile). A node serves reads only while its
 * lease from the master is valid, so a node the master removed has stopped serving before the
 * chain goes on without it.
 *
 * REPAIR. Every message carries the epoch, and a node takes only its own epoch's messages
 * from its own predecessor/successor. When the master removes a node, its predecessor and
 * successor are linked: the predecessor resends every write it forwarded that is not yet
 * acknowledged (its in-flight list) from what the successor reports it holds, so nothing
 * committed, or even forwarded, is lost. When the tail is removed, its predecessor becomes the
 * tail: what it holds is committed. When the head is removed, the next node leads. A node
 * that (re)joins is appended as the new tail and receives its predecessor's objects (a state
 * transfer) before it acknowledges anything. Sequence numbers make duplicated and reordered
 * messages harmless: a node takes only the next one, and reports what it holds otherwise.
 *
 * CLIENTS. hs_chain_write on the head; write_done follows exactly once: HS_OK when
 * committed (acknowledged by the tail), HS_REPL_ETIMEOUT, HS_REPL_ECONFIG (the node stopped
 * being head), HS_REPL_ECRASHED (outcome unknown for the last three). hs_chain_read; read_done
 * follows exactly once, maybe during the call: HS_OK with the value, HS_REPL_ETIMEOUT (no
 * answer from the tail in read_timeout), HS_REPL_ECONFIG, HS_REPL_ECRASHED. Refusals at the
 * call return the code and call nothing.
 *
 * DURABILITY. As primary-backup: data is volatile, a restarted node rejoins at the tail.
 *
 * TEST-ONLY: compiled with HS_CRAQ_UNSAFE_DIRTY_READS, a CRAQ node answers a dirty version
 * as if it were clean (hs_chain_unsafe_build() tells); the engine library never is. The
 * same bug can be asked for at run time, per node, with cfg.unsafe_dirty_reads (test-only).
 */
#ifndef HS_CHAIN_H
#define HS_CHAIN_H

#include "repl/hs_repl.h"

typedef enum hs_chain_role {
  HS_CHAIN_NONE = 0, /* no configuration, not a member, or not synced yet */
  HS_CHAIN_HEAD,     /* first (also the tail when alone) */
  HS_CHAIN_MIDDLE,
  HS_CHAIN_TAIL
} hs_chain_role;

const char *hs_chain_role_name(hs_chain_role role); /* "none", "head", "middle", "tail" */

typedef struct hs_chain_callbacks {
  void (*send)(void *ud, const hs_repl_msg *m); /* required */
  void (*set_timer)(void *ud, hs_time_ns at_ns);
  void (*write_done)(void *ud, uint64_t tag, int status, uint64_t seq);
  /* A read ended: status HS_OK with the value read (NULL, 0 when the key has none) and its
   * version (the sequence number of the write, 0 when none), or an error. */
  void (*read_done)(void *ud, uint64_t tag, int status, const uint8_t *value, uint32_t len, uint64_t version);
  void (*config_changed)(void *ud, uint64_t epoch, hs_chain_role role);
} hs_chain_callbacks;

typedef struct hs_chain_config {
  uint32_t id;
  uint32_t master;
  bool craq;                    /* default false */
  hs_time_ns ping_interval_ns;  /* default 0.1 s */
  hs_time_ns retry_interval_ns; /* default 0.05 s */
  hs_time_ns write_timeout_ns;  /* default 1 s */
  hs_time_ns read_timeout_ns;   /* default 0.5 s */
  uint32_t max_inflight;        /* default 64 unacknowledged writes sent ahead to the successor */
  /* TEST-ONLY, UNSAFE (default false): a CRAQ node answers a dirty version as if it were clean,
   * as the HS_CRAQ_UNSAFE_DIRTY_READS build does; reads are then not linearizable. For
   * scenarios showing the linearizability checker catch it (scripts/craq_unsafe_reads.lua). */
  bool unsafe_dirty_reads;
  hs_chain_callbacks cb;
  void *ud;
} hs_chain_config;

typedef struct hs_chain_stats {
  hs_chain_role role;
  uint64_t epoch;
  uint64_t applied, committed; /* sequence numbers */
  uint64_t writes_received;    /* accepted at the head */
  uint64_t writes_committed, writes_failed;
  uint64_t propagations_sent, propagations_received;
  uint64_t acks_sent;
  uint64_t reads_served;       /* answered with a value */
  uint64_t clean_reads, dirty_reads; /* CRAQ: answered locally / after asking the tail */
  uint64_t version_queries;    /* answered as the tail */
  uint64_t snapshots_sent, snapshots_installed;
  uint64_t stale_refused;
  uint64_t malformed;
  uint32_t dirty_keys;         /* keys whose latest version is dirty */
  bool synced, crashed;
} hs_chain_stats;

typedef struct hs_chain hs_chain;

void hs_chain_config_init(hs_chain_config *cfg);
int hs_chain_new(const hs_chain_config *cfg, hs_chain **out);
void hs_chain_free(hs_chain *c);
int hs_chain_start(hs_chain *c, hs_time_ns now);
void hs_chain_crash(hs_chain *c);
int hs_chain_restart(hs_chain *c, hs_time_ns now);
int hs_chain_step(hs_chain *c, const hs_repl_msg *m, hs_time_ns now);
int hs_chain_tick(hs_chain *c, hs_time_ns now);
hs_time_ns hs_chain_next_deadline(const hs_chain *c);

/* A client write at the head. HS_OK: accepted, write_done(tag) follows. Refusals:
 * HS_REPL_ENOTHEAD (hs_chain_head is the hint), HS_REPL_ENOLEASE, HS_REPL_EUNAVAILABLE,
 * HS_REPL_ECRASHED, HS_EINVAL, HS_ENOMEM. */
int hs_chain_write(hs_chain *c, hs_time_ns now, const void *key, size_t key_len, const void *value,
                   size_t value_len, uint64_t tag);
/* A client read. HS_OK: read_done(tag) follows (maybe before this returns). Refusals:
 * HS_REPL_ENOTTAIL (plain chain, not the tail: hs_chain_tail is the hint), HS_REPL_ENOLEASE,
 * HS_REPL_EUNAVAILABLE, HS_REPL_ECRASHED, HS_ENOMEM. */
int hs_chain_read(hs_chain *c, hs_time_ns now, const void *key, size_t key_len, uint64_t tag);

hs_chain_role hs_chain_role_of(const hs_chain *c);
bool hs_chain_is_tail(const hs_chain *c);
uint64_t hs_chain_epoch(const hs_chain *c);
uint32_t hs_chain_head(const hs_chain *c); /* of the node's configuration; HS_REPL_NONE if unknown */
uint32_t hs_chain_tail(const hs_chain *c);
uint32_t hs_chain_id(const hs_chain *c);
bool hs_chain_crashed(const hs_chain *c);
void hs_chain_get_stats(const hs_chain *c, hs_chain_stats *out);
/* Keys in insertion order (i < hs_chain_key_count), e.g. to list the dirty ones. */
uint32_t hs_chain_key_count(const hs_chain *c);
const uint8_t *hs_chain_key_at(const hs_chain *c, uint32_t i, uint32_t *len);
/* Whether the latest version of key is dirty (CRAQ's dirty_keys). */
bool hs_chain_key_dirty(const hs_chain *c, const void *key, size_t key_len);
/* The versions held for key, oldest first (i < n): sequence number, clean mark, value. */
uint32_t hs_chain_versions(const hs_chain *c, const void *key, size_t key_len);
int hs_chain_version_at(const hs_chain *c, const void *key, size_t key_len, uint32_t i, uint64_t *seq, bool *clean,
                        const uint8_t **value, uint32_t *len);

bool hs_chain_unsafe_build(void);

#endif
