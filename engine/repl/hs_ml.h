/*
 * hs_ml.h - multi-leader replication: any node accepts writes; versions carry per-key
 * vector clocks; concurrent versions are detected exactly and resolved by a pluggable
 * resolver; replication is a broadcast of each write plus Merkle-tree anti-entropy.
 *
 * VERSIONS. A key holds a set of versions { value, clock, timestamp, origin }. A local write
 * makes a version whose clock is the merge of the key's current versions with this node's
 * entry incremented, and whose timestamp is max(now, the largest current timestamp + 1) (so
 * timestamps grow along causality). An incoming version x is compared with each held
 * version y (hs_vclock_compare): x BEFORE or EQUAL to some y is already known (EQUAL clocks
 * are the same version, never a conflict); the y BEFORE x are replaced; x CONCURRENT with a
 * remaining y is a conflict. Then the set of maximal versions (an antichain) is resolved:
 *   - keep_siblings (VectorClockMerge): every concurrent version is kept; a read returns
 *     them all, and the next local write (whose clock covers them) collapses them;
 *   - otherwise resolve(key, versions) picks one (LastWriterWins: the highest timestamp,
 *     then the highest origin id), or returns a new value (a custom merge), stored with the
 *     versions' clocks merged, the highest timestamp and origin.
 * The state of a key after any set of versions arrived, in any order, any number of times,
 * is the same on every replica for keep_siblings and for LastWriterWins (the maximum of a
 * total order that extends causality); a custom resolver converges when its choice is a
 * deterministic maximum (or its merge a semilattice join). Versions of a key are kept in a
 * canonical order, so equal states encode, and hash, alike.
 *
 * ANTI-ENTROPY. Every anti_entropy_interval (0: never), and on hs_ml_sync, a node sends a
 * random peer its Merkle root; the two exchange the hashes of the children of differing
 * nodes level by level (hs_merkle_compare) and, at the leaves, ship the states of the keys in
 * the differing buckets both ways. Only differing subtrees and buckets cost anything.
 *
 * DURABILITY. The store survives hs_ml_crash (it is the replica's disk); a crash stops the
 * anti-entropy timer, hs_ml_restart arms it again.
 */
#ifndef HS_ML_H
#define HS_ML_H

#include "core/hs_rng.h"
#include "clock/hs_clock.h"
#include "repl/hs_merkle.h"

/* A view of one version. Pointers are valid until the next call that changes the node. */
typedef struct hs_ml_version {
  const uint8_t *value; /* an encoded hs_value */
  uint32_t value_len;
  const hs_vclock *clock;
  int64_t timestamp_ns;
  uint32_t origin;
} hs_ml_version;

/* resolve() returns an index in [0, n) or HS_ML_RESOLVE_NEW (the new value is in out). */
#define HS_ML_RESOLVE_NEW (-1)

/* A conflict resolver: a vtable, so a binding can plug one written in Lua (called
 * synchronously; it must not call back into the node). */
typedef struct hs_ml_resolver {
  const char *name;   /* "last_writer_wins", "vector_clock_merge", "custom" */
  bool keep_siblings; /* keep every concurrent version; resolve is not called */
  /* Chooses among n >= 2 concurrent versions of key, given in canonical order. Anything
   * but a valid index or HS_ML_RESOLVE_NEW with a well-formed value falls back to
   * hs_ml_lww_pick (and is counted in stats.resolver_errors). */
  int (*resolve)(void *ud, const uint8_t *key, uint32_t key_len, const hs_ml_version *versions, uint32_t n,
                 hs_buf *out);
  void *ud;
} hs_ml_resolver;

hs_ml_resolver hs_ml_resolver_lww(void);      /* LastWriterWins */
hs_ml_resolver hs_ml_resolver_siblings(void); /* VectorClockMerge: keep all concurrent siblings */
/* The LastWriterWins choice: the highest timestamp, then the highest origin, then the
 * larger value bytes. */
uint32_t hs_ml_lww_pick(const hs_ml_version *v, uint32_t n);

typedef struct hs_ml_callbacks {
  void (*send)(void *ud, const hs_repl_msg *m); /* required */
  void (*set_timer)(void *ud, hs_time_ns at_ns); /* the anti-entropy deadline; HS_TIME_NEVER: off */
} hs_ml_callbacks;

typedef struct hs_ml_config {
  uint32_t id;
  const uint32_t *peers; /* the other nodes (copied); also hs_ml_set_peers */
  uint32_t n_peers;
  hs_ml_resolver resolver;          /* default LastWriterWins */
  hs_time_ns anti_entropy_interval_ns; /* default 0: no periodic rounds */
  uint32_t merkle_leaf_bits;        /* default 10 (1024 buckets) */
  uint32_t merkle_fanout_bits;      /* default 1 (a binary tree) */
  hs_rng rng;                       /* peer choice for anti-entropy */
  hs_ml_callbacks cb;
  void *ud;
} hs_ml_config;

typedef struct hs_ml_stats {
  uint64_t writes, reads;
  uint64_t replications_sent, replications_received;
  uint64_t conflicts_detected; /* versions that arrived concurrent with a held one */
  uint64_t conflicts_resolved; /* resolve() calls that reduced siblings to one */
  uint64_t anti_entropy_syncs; /* rounds started here */
  uint64_t anti_entropy_keys_repaired; /* keys whose state changed from shipped states */
  uint64_t hashes_sent;        /* tree hashes sent in anti-entropy */
  uint64_t keys_shipped;       /* key states sent in anti-entropy */
  uint64_t resolver_errors;
  uint64_t malformed;          /* messages refused by hs_ml_step */
  uint32_t keys;
  bool crashed;
} hs_ml_stats;

typedef struct hs_ml hs_ml;

void hs_ml_config_init(hs_ml_config *cfg);
/* HS_OK, HS_EINVAL (id 0, no send, a bad tree shape, too many peers, self or 0 among them),
 * HS_ENOMEM. */
int hs_ml_new(const hs_ml_config *cfg, hs_ml **out);
void hs_ml_free(hs_ml *ml);
int hs_ml_set_peers(hs_ml *ml, const uint32_t *peers, uint32_t n);
int hs_ml_start(hs_ml *ml, hs_time_ns now);
void hs_ml_crash(hs_ml *ml);
int hs_ml_restart(hs_ml *ml, hs_time_ns now);

/* Handles one message: HS_OK, HS_EINVAL (malformed: counted), HS_REPL_ECRASHED, HS_ENOMEM. */
int hs_ml_step(hs_ml *ml, const hs_repl_msg *m, hs_time_ns now);
/* Starts the anti-entropy round that is due. */
int hs_ml_tick(hs_ml *ml, hs_time_ns now);
hs_time_ns hs_ml_next_deadline(const hs_ml *ml);
/* Starts an anti-entropy round with `peer` now. */
int hs_ml_sync(hs_ml *ml, uint32_t peer, hs_time_ns now);

/* A local write: applied at once and broadcast. *written (optional) views the new version.
 * HS_OK, HS_EINVAL (key too long, value not one encoded hs_value), HS_REPL_ECRASHED, HS_ENOMEM. */
int hs_ml_write(hs_ml *ml, hs_time_ns now, const void *key, size_t key_len, const void *value, size_t value_len,
                hs_ml_version *written);
/* The versions of key (0 when absent): one, or every sibling with keep_siblings. *versions
 * points into the node until the next call that changes it. HS_OK or HS_REPL_ECRASHED. */
int hs_ml_read(hs_ml *ml, const void *key, size_t key_len, const hs_ml_version **versions, uint32_t *n);

/* Keys in insertion order, for iteration: i < hs_ml_key_count. */
uint32_t hs_ml_key_count(const hs_ml *ml);
const uint8_t *hs_ml_key_at(const hs_ml *ml, uint32_t i, uint32_t *len);
/* The canonical encoding of key i's state (what anti-entropy ships). */
void hs_ml_encode_key(const hs_ml *ml, uint32_t i, hs_buf *out);
uint64_t hs_ml_root_hash(hs_ml *ml);
hs_merkle *hs_ml_tree(hs_ml *ml);
void hs_ml_get_stats(const hs_ml *ml, hs_ml_stats *out);
uint32_t hs_ml_id(const hs_ml *ml);
bool hs_ml_crashed(const hs_ml *ml);

/* The versions blob of a message (HS_REPL_MSG_ML_REPLICATE): u32 count, then per version
 * u32 origin, u64 timestamp, u32 n, n x (u32 id, u64 count) in id order, u32 len, value.
 * Decoding checks everything (ids ascending and non-zero, counts in 1..HS_REPL_MAX_COUNTER,
 * timestamps in 0..HS_REPL_MAX_COUNTER, values well-formed). */
void hs_ml_version_encode(const hs_ml_version *v, hs_buf *out);

#endif
