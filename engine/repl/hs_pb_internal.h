/* hs_pb_internal.h - the primary-backup node's private structures (hs_pb.c, hs_pb_log.c). */
#ifndef HS_PB_INTERNAL_H
#define HS_PB_INTERNAL_H

#include "repl/hs_pb.h"
#include "repl/hs_repl_internal.h"

typedef struct pb_value {
  uint8_t *p;
  uint32_t len; /* 0: absent */
} pb_value;

typedef struct pb_entry {
  uint64_t tag;  /* the view that created it */
  uint32_t key;  /* index in the key map */
  uint8_t *value;
  uint32_t value_len;
} pb_entry;

/* The primary's view of one backup: peers[i] is member i + 1 of the view. */
typedef struct pb_peer {
  uint32_t id;
  uint64_t match; /* highest seq known to match in this view */
  uint64_t next;  /* next seq to send */
  bool probing;   /* match unknown yet: probe with the last entry's (seq, tag) */
  hs_time_ns last_sent;
  uint64_t resent_from;   /* the commit point a rejection last made us resend from ... */
  hs_time_ns resent_at;   /* ... and when (see hs_pb_on_ack) */
} pb_peer;

typedef struct pb_pending {
  uint64_t tag, seq;
  hs_time_ns accepted, deadline;
} pb_pending;

struct hs_pb {
  uint32_t id, master;
  hs_pb_mode mode;
  uint32_t semi_acks;
  bool serve_reads;
  hs_time_ns ping_interval, retry_interval, write_timeout;
  uint32_t max_inflight, max_log;
  hs_pb_callbacks cb;
  void *ud;

  hs_repl_view view;
  hs_pb_role role;
  bool started, crashed;
  hs_time_ns ping_at, retry_at, armed;

  /* data: the committed store, and the log of entries base_seq + 1 .. base_seq + log_n */
  hs_repl_map keys;
  pb_value *vals;
  uint32_t vals_cap;
  pb_entry *log;
  uint64_t log_n, log_cap;
  uint64_t base_seq, base_tag;
  uint64_t commit;

  /* backup side */
  uint64_t verified;           /* highest seq known to match the primary's log, this view */
  uint64_t seen_primary_commit; /* the largest commit point the view's primary sent */

  /* primary side */
  pb_peer peers[HS_REPL_MAX_NODES];
  uint32_t n_peers;
  uint64_t start_seq; /* the log's end when this node became primary */
  pb_pending *pending;
  uint32_t pending_n, pending_cap;

  uint64_t match_scratch[HS_REPL_MAX_NODES];
  hs_buf snap;
  hs_pb_stats st;
};

static inline uint64_t pb_last(const hs_pb *pb) { return pb->base_seq + pb->log_n; }
static inline pb_entry *pb_entry_at(hs_pb *pb, uint64_t seq) { return &pb->log[seq - pb->base_seq - 1]; }
/* The tag of the entry at seq, base_seq <= seq <= last (0 at seq 0). */
uint64_t hs_pb_tag_at(const hs_pb *pb, uint64_t seq);

void hs_pb_send(hs_pb *pb, hs_repl_msg *m);
/* Clears the data (store, log, commit). */
void hs_pb_clear_data(hs_pb *pb);
/* Appends an entry (copies the value; the key is added to the map). */
int hs_pb_log_append(hs_pb *pb, uint64_t tag, const uint8_t *key, uint32_t key_len, const uint8_t *value,
                     uint32_t value_len);
/* Drops the entries at seq >= from (uncommitted ones only). */
void hs_pb_log_truncate(hs_pb *pb, uint64_t from);
/* Applies entries up to c to the store; on the primary, completes pending writes. */
void hs_pb_commit_to(hs_pb *pb, uint64_t c, hs_time_ns now);
/* Drops committed entries no backup still needs. */
void hs_pb_compact(hs_pb *pb);

/* primary side */
void hs_pb_replicate_new(hs_pb *pb, uint64_t seq, hs_time_ns now);
void hs_pb_retry(hs_pb *pb, hs_time_ns now);
void hs_pb_send_all(hs_pb *pb, hs_time_ns now);
int hs_pb_on_ack(hs_pb *pb, const hs_repl_msg *m, hs_time_ns now);
void hs_pb_advance_commit(hs_pb *pb, hs_time_ns now);
/* backup side */
int hs_pb_on_replicate(hs_pb *pb, const hs_repl_msg *m, hs_time_ns now);
int hs_pb_on_snapshot(hs_pb *pb, const hs_repl_msg *m, hs_time_ns now);

#endif
