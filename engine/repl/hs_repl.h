/*
 * hs_repl.h - what the replication cores share: node ids, error codes, and the one message
 * type every family (primary-backup, chain/CRAQ, multi-leader, the configuration master)
 * sends, with its byte encoding.
 *
 * The cores (hs_pb.h, hs_chain.h, hs_ml.h, hs_repl_master.h) are pure state machines in the
 * shape of the Raft core: stepped with decoded messages, ticked at their deadlines, given the
 * simulated time `now` by every call, drawing randomness from an hs_rng given at creation, and
 * asking for everything they want done (send, arm a timer, complete a client request) through
 * callbacks, synchronously, during the call that caused it. They know nothing of the
 * scheduler, the network or Lua. The adapters (hs_repl_node.h) wire them to engine/net.
 *
 * Node ids are non-zero uint32 (0 is HS_REPL_NONE); adapters keep the names.
 * Keys and values are bytes: a key is any byte string (the adapters use the key string's
 * bytes), a value an encoded hs_value (compare with hs_value_equal).
 */
#ifndef HS_REPL_H
#define HS_REPL_H

#include "core/hs_types.h"

#define HS_REPL_NONE 0u
/* Largest number of members of a configuration (and of peers of a multi-leader node). */
#define HS_REPL_MAX_NODES 64u
/* Counters (epochs, sequence numbers) in a message are at most this (beyond: malformed), so no
 * arithmetic on them can overflow. */
#define HS_REPL_MAX_COUNTER ((uint64_t)1 << 62)
/* Largest key, and largest value, a message may carry. */
#define HS_REPL_MAX_KEY (1u << 16)
#define HS_REPL_MAX_VALUE (1u << 24)

/* Error codes of the replication cores, beside HS_OK, HS_EINVAL and HS_ENOMEM. A client
 * request refused at once (ENOTPRIMARY ... EUNAVAILABLE) certainly did not take effect; one
 * that fails later with ETIMEOUT or ECONFIG may or may not have. */
enum {
  HS_REPL_ENOTPRIMARY = -96,  /* not the primary: the write or read goes to the hint */
  HS_REPL_ENOTHEAD = -97,     /* chain: writes go to the head (the hint) */
  HS_REPL_ENOTTAIL = -98,     /* plain chain: reads go to the tail (the hint) */
  HS_REPL_ENOLEASE = -99,     /* the node's lease from the configuration master ran out */
  HS_REPL_EUNAVAILABLE = -100, /* no configuration yet, not a member of it, or still syncing */
  HS_REPL_ENOTREADY = -101,   /* a new primary has not yet committed the log it took over */
  HS_REPL_ETIMEOUT = -102,    /* not committed (or answered) in time: outcome unknown */
  HS_REPL_ECONFIG = -103,     /* the configuration changed while it was pending: outcome unknown */
  HS_REPL_ECRASHED = -104,    /* the node crashed while it was pending (or is crashed) */
  HS_REPL_ESTALE = -105       /* refused: it came from an older view / epoch */
};

/* A message for any HS_ or HS_REPL_ code. */
const char *hs_repl_strerror(int code);
/* The short snake_case code a client sees ("ok" for HS_OK): "not_primary", "not_head", "not_tail", "no_lease",
 * "unavailable", "not_ready", "timeout", "config_changed", "crashed", "stale_view",
 * "invalid", "out_of_memory"; "unknown" for anything else. */
const char *hs_repl_error_code(int code);

/* ---- Messages ------------------------------------------------------------------------------ */

typedef enum hs_repl_msg_type {
  /* nodes <-> configuration master (primary-backup and chain) */
  HS_REPL_MSG_PING = 0,   /* node -> master: epoch, seq = applied, context = boot count,
                             commit = join epoch the node holds data for, flags SYNCED;
                             flags LOG (primary-backup): seq and tag = the last log entry's
                             position, time_ns = when the ping was sent */
  HS_REPL_MSG_CONFIG,     /* master -> node: epoch, ids = members in order, nums = their join
                             epochs, context = bit i set: member i is synced, time_ns = the
                             node's lease end (0: none granted) */
  /* primary-backup */
  HS_REPL_MSG_PB_REPLICATE, /* primary -> backup: epoch (view), seq = prev (the entry before),
                               prev_tag = its view, commit, context = the log end the primary
                               started its view with; with an entry (value_len > 0): the
                               entry at seq + 1, tag = its view, key, value */
  HS_REPL_MSG_PB_ACK,       /* backup -> primary: epoch, seq = last index known to match;
                               flags REJECT: log mismatch (seq = the backup's commit);
                               flags STALE: the backup is in a later view (epoch) */
  HS_REPL_MSG_PB_SNAPSHOT,  /* primary -> backup: epoch, seq and tag of the last entry
                               included, commit, context as above, blob = the state */
  /* chain replication and CRAQ */
  HS_REPL_MSG_CH_PROPAGATE, /* predecessor -> successor: epoch, seq, key, value */
  HS_REPL_MSG_CH_ACK,       /* successor -> predecessor: epoch, seq = committed, commit =
                               applied (received); flags UNSYNCED: send a snapshot */
  HS_REPL_MSG_CH_SNAPSHOT,  /* predecessor -> successor: epoch, seq = applied, commit =
                               committed, blob = the objects */
  HS_REPL_MSG_CH_QUERY,     /* CRAQ: node -> tail: epoch, context = read id, key */
  HS_REPL_MSG_CH_QUERY_RESP, /* tail -> node: epoch, context, seq = the committed version of
                                the key (0: none); flags REJECT: not the tail now */
  /* multi-leader */
  HS_REPL_MSG_ML_REPLICATE, /* key, blob = versions (hs_ml.h) */
  HS_REPL_MSG_ML_HASHES,    /* anti-entropy: seq = tree level, context = round, nums =
                               (node index, hash) pairs, commit = tree shape */
  HS_REPL_MSG_ML_KEYS,      /* anti-entropy: nums = leaf buckets, blob = key states;
                               flags REPLY: send back yours for those buckets */
  HS_REPL_MSG_TYPE_COUNT
} hs_repl_msg_type;

enum {
  HS_REPL_FLAG_REJECT = 1u << 0,
  HS_REPL_FLAG_STALE = 1u << 1,
  HS_REPL_FLAG_SYNCED = 1u << 2,
  HS_REPL_FLAG_UNSYNCED = 1u << 3,
  HS_REPL_FLAG_REPLY = 1u << 4,
  HS_REPL_FLAG_LOG = 1u << 5,
  HS_REPL_FLAG_ALL = (1u << 6) - 1
};

/* "ping", "config", "pb_replicate", ... */
const char *hs_repl_msg_type_name(hs_repl_msg_type t);
/* The message type names on the network: "Ping", "Config", "Replicate", "ReplicationAck",
 * "Snapshot", "Propagate", "WriteAck", "ChainSnapshot", "VersionQuery", "VersionReply",
 * "MultiLeaderReplicate", "MerkleHashes", "MerkleKeys". */
const char *hs_repl_msg_wire_name(hs_repl_msg_type t);

/*
 * One message. Fields a type does not use are zero. In send() every pointer points into the
 * sender's memory and is valid only during the call (the adapter encodes before returning);
 * in a step function, the core copies what it keeps.
 */
typedef struct hs_repl_msg {
  hs_repl_msg_type type;
  uint32_t from;
  uint32_t to;
  uint32_t flags;
  uint64_t epoch;
  uint64_t seq;
  uint64_t tag;
  uint64_t prev_tag;
  uint64_t commit;
  uint64_t context;
  int64_t time_ns;
  const uint8_t *key;
  uint32_t key_len;
  const uint8_t *value;
  uint32_t value_len;
  const uint32_t *ids;
  uint32_t n_ids;
  const uint64_t *nums;
  uint32_t n_nums;
  const uint8_t *blob;
  uint32_t blob_len;
} hs_repl_msg;

/* Largest n_nums and blob_len a message may carry. */
#define HS_REPL_MAX_NUMS (1u << 20)
#define HS_REPL_MAX_BLOB (1u << 28)

/* A flat little-endian encoding (for a network payload). encoded_size is exact; encode returns
 * the bytes written, or 0 when cap is too small. */
size_t hs_repl_msg_encoded_size(const hs_repl_msg *m);
size_t hs_repl_msg_encode(const hs_repl_msg *m, uint8_t *out, size_t cap);

/* Decoding copies the id and number arrays (the buffer may be unaligned) into a decoder's
 * arrays, which are reused; key, value and blob point into the buffer. */
typedef struct hs_repl_decoder {
  uint32_t *ids;
  uint64_t *nums;
  uint32_t ids_cap, nums_cap;
} hs_repl_decoder;

void hs_repl_decoder_init(hs_repl_decoder *d);
void hs_repl_decoder_free(hs_repl_decoder *d);
/* HS_OK, HS_EINVAL for a malformed buffer (wrong size, unknown type or flags, a counter beyond
 * HS_REPL_MAX_COUNTER, too many ids ...), HS_ENOMEM. m is valid until the next decode with d
 * or until buf is freed. */
int hs_repl_msg_decode(hs_repl_msg *m, const uint8_t *buf, size_t len, hs_repl_decoder *d);

/* ---- Hashing ------------------------------------------------------------------------------ */

/* A 64-bit hash of bytes (MurmurHash64A), stable across runs and hosts. */
uint64_t hs_repl_hash(const void *data, size_t len, uint64_t seed);
/* Mixes two 64-bit values into one (order matters). */
uint64_t hs_repl_mix(uint64_t a, uint64_t b);

#endif
