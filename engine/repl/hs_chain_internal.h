/* hs_chain_internal.h - the chain node's private structures (hs_chain.c, hs_chain_obj.c). */
#ifndef HS_CHAIN_INTERNAL_H
#define HS_CHAIN_INTERNAL_H

#include "repl/hs_chain.h"
#include "repl/hs_repl_internal.h"

typedef struct ch_version {
  uint64_t seq;
  bool clean;
  uint8_t *value;
  uint32_t len;
} ch_version;

/* A key's latest clean version (if any) and every dirty one after it, oldest first. */
typedef struct ch_obj {
  ch_version *v;
  uint32_t n, cap;
} ch_obj;

typedef struct ch_pending_write {
  uint64_t tag, seq;
  hs_time_ns accepted, deadline;
} ch_pending_write;

typedef struct ch_pending_read {
  uint64_t tag, id;
  uint32_t key;
  hs_time_ns deadline;
} ch_pending_read;

struct hs_chain {
  uint32_t id, master;
  bool craq;
  bool unsafe_dirty_reads; /* test-only (hs_chain_config) */
  hs_time_ns ping_interval, retry_interval, write_timeout, read_timeout;
  uint32_t max_inflight;
  hs_chain_callbacks cb;
  void *ud;

  hs_repl_view view;
  hs_chain_role role;
  bool started, crashed;
  hs_time_ns ping_at, retry_at, armed;

  /* data */
  hs_repl_map keys;
  ch_obj *objs;
  uint32_t objs_cap;
  uint64_t applied, committed;
  /* the in-flight list: the key of every write committed + 1 .. applied, in order */
  uint32_t *inflight;
  uint64_t inflight_off, inflight_cap;

  /* the successor, as this node knows it */
  uint32_t succ;
  uint64_t succ_join;     /* its join epoch when linked: a later one means it lost its data */
  uint64_t succ_applied;  /* what it reported holding */
  bool succ_confirmed;    /* it answered since it became the successor */
  hs_time_ns succ_progress; /* when it last reported progress, or we last resent */
  hs_time_ns snap_sent;     /* when a state transfer last went to it */

  ch_pending_write *writes;
  uint32_t writes_n, writes_cap;
  ch_pending_read *reads;
  uint32_t reads_n, reads_cap;
  uint64_t next_read;

  hs_buf snap;
  hs_chain_stats st;
};

static inline uint64_t ch_inflight_n(const hs_chain *c) { return c->applied - c->committed; }
/* The key of in-flight write seq (committed < seq <= applied). */
static inline uint32_t ch_inflight_key(const hs_chain *c, uint64_t seq) {
  return c->inflight[c->inflight_off + (seq - c->committed - 1)];
}

void hs_chain_send(hs_chain *c, hs_repl_msg *m);
void hs_chain_clear_data(hs_chain *c);
/* Adds version seq of key (dirty; clean at the tail) and appends it to the in-flight list
 * unless this node is the tail. applied becomes seq. */
int hs_chain_apply(hs_chain *c, uint64_t seq, const uint8_t *key, uint32_t key_len, const uint8_t *value,
                   uint32_t len);
/* Marks everything up to seq committed: versions clean, older ones dropped, in-flight list
 * shortened, head writes completed. */
void hs_chain_commit_to(hs_chain *c, uint64_t seq, hs_time_ns now);
const ch_version *hs_chain_find_version(const hs_chain *c, uint32_t key, uint64_t seq);
void hs_chain_send_snapshot(hs_chain *c, hs_time_ns now);
int hs_chain_on_snapshot(hs_chain *c, const hs_repl_msg *m, hs_time_ns now);
int hs_chain_on_query(hs_chain *c, const hs_repl_msg *m, hs_time_ns now);
int hs_chain_on_query_resp(hs_chain *c, const hs_repl_msg *m, hs_time_ns now);
void hs_chain_fail_reads(hs_chain *c, int status);
void hs_chain_expire_reads(hs_chain *c, hs_time_ns now);
void hs_chain_requery(hs_chain *c);
/* Sends the successor what it lacks, from succ_applied + 1, within the window. */
void hs_chain_forward(hs_chain *c, hs_time_ns now);

#endif
