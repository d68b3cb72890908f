/*
 * test_repl_chain_world.h - seeded worlds of a chain (plain or CRAQ) and its master under
 * message loss, duplication, reordering, partitions (the master included) and crash/restart,
 * with clients writing at whichever node believes it is the head and reading at the tail
 * (plain) or at any member (CRAQ). Versions are the writes' sequence numbers, which the
 * committed history fixes once and for all, so the checker is per key:
 *   - a read returns the latest write acknowledged before it was invoked, or a later one;
 *   - reads never go backwards (at least the version of every read of the key that ended
 *     before it was invoked);
 *   - a version read is the write accepted at that sequence number, and no two writes are ever
 *     seen committed at one sequence number;
 *   - every accepted write and read ends exactly once; after the faults stop, every key reads
 *     at least its last acknowledged write.
 * The first violation stops the run with the seed and the time.
 */
#ifndef TEST_REPL_CHAIN_WORLD_H
#define TEST_REPL_CHAIN_WORLD_H

#include "test_repl_cluster.h"

#include "repl/hs_chain.h"

#define CW_N 4
#define CW_KEYS 3

typedef struct cwop {
  bool write, read;
  uint32_t key;
  uint64_t pos;                 /* writes: the sequence number accepted at */
  uint64_t need_acked, need_read; /* reads: versions required when invoked */
} cwop;

typedef struct cworld {
  rnet net;
  hs_repl_master *m;
  hs_chain *n[CW_N + 1];
  bool craq;
  cwop ops[RC_MAX_OPS];
  uint64_t next_tag;
  uint64_t acked_max[CW_KEYS], read_max[CW_KEYS];
  rc_seen seen;
  hs_time_ns next_action;
  hs_time_ns link_since[CW_N + 1];
  uint64_t accepted, reads_ok, crashes, partitions;
} cworld;

static cworld *CW;
static bool CW_TRACE;

static void cw_on_config(void *ud, uint64_t epoch, hs_chain_role role) {
  rnode *n = ud;
  if (CW_TRACE) {
    hs_chain_stats st;
    hs_chain_get_stats(CW->n[n->id], &st);
    fprintf(stderr, "%8.3f node %u: epoch %llu %s (applied %llu committed %llu synced %d)\n",
            (double)n->net->now / 1e9, n->id, (unsigned long long)epoch, hs_chain_role_name(role),
            (unsigned long long)st.applied, (unsigned long long)st.committed, st.synced);
  }
}

static void cw_on_master(void *ud, uint64_t epoch, const uint32_t *members, uint32_t n) {
  rnode *r = ud;
  if (!CW_TRACE) return;
  fprintf(stderr, "%8.3f master: epoch %llu:", (double)r->net->now / 1e9, (unsigned long long)epoch);
  for (uint32_t i = 0; i < n; i++) fprintf(stderr, " %u%s", members[i], hs_repl_master_synced(CW->m, members[i]) ? "" : "*");
  fprintf(stderr, "\n");
}

static int cw_step(void *c, const hs_repl_msg *m, hs_time_ns now) { return hs_chain_step(c, m, now); }
static int cw_tick(void *c, hs_time_ns now) { return hs_chain_tick(c, now); }
static hs_time_ns cw_deadline(const void *c) { return hs_chain_next_deadline(c); }

static void cw_seen(cworld *w, uint64_t pos, uint64_t tag) {
  rc_seen_commit(&w->net, &w->seen, "sequence number", pos, tag);
}

static void cw_write_done(void *ud, uint64_t tag, int status, uint64_t seq) {
  (void)ud;
  cworld *w = CW;
  rc_done(tag, status, seq, -1);
  if (RC_OPS[tag].calls > 1) rn_violation(&w->net, "write %llu ended twice", (unsigned long long)tag);
  if (status != HS_OK) return;
  cwop *o = &w->ops[tag];
  if (seq != o->pos)
    rn_violation(&w->net, "write %llu accepted at %llu, committed at %llu", (unsigned long long)tag,
                 (unsigned long long)o->pos, (unsigned long long)seq);
  cw_seen(w, seq, tag);
  if (seq > w->acked_max[o->key]) w->acked_max[o->key] = seq;
}

static void cw_read_done(void *ud, uint64_t tag, int status, const uint8_t *value, uint32_t len, uint64_t version) {
  cworld *w = CW;
  uint32_t id = ((rnode *)ud)->id;
  rc_done(tag, status, version, value ? rv_get(value, len) : -1);
  if (RC_OPS[tag].calls > 1) rn_violation(&w->net, "read %llu ended twice", (unsigned long long)tag);
  if (status != HS_OK) return;
  cwop *o = &w->ops[tag];
  int64_t wt = value ? rv_get(value, len) : 0;
  if (wt < 0 || (uint64_t)wt > w->next_tag || (wt && (!w->ops[wt].write || w->ops[wt].key != o->key))) {
    rn_violation(&w->net, "node %u read %lld for key %u: not a write of that key", id, (long long)wt, o->key);
    return;
  }
  if (wt && w->ops[wt].pos != version)
    rn_violation(&w->net, "node %u read write %lld as version %llu, it was accepted at %llu", id, (long long)wt,
                 (unsigned long long)version, (unsigned long long)w->ops[wt].pos);
  if (wt) cw_seen(w, version, (uint64_t)wt);
  if (version < o->need_acked)
    rn_violation(&w->net, "node %u read key %u at version %llu, version %llu was acknowledged before", id, o->key,
                 (unsigned long long)version, (unsigned long long)o->need_acked);
  if (version < o->need_read)
    rn_violation(&w->net, "node %u read key %u at version %llu after a read of version %llu: backwards", id, o->key,
                 (unsigned long long)version, (unsigned long long)o->need_read);
  if (version > w->read_max[o->key]) w->read_max[o->key] = version;
  w->reads_ok++;
}

static uint32_t cw_pick(cworld *w, hs_chain_role role) {
  uint32_t c[CW_N], n = 0;
  for (uint32_t i = 1; i <= CW_N; i++)
    if (!w->net.nodes[i].down && (role == HS_CHAIN_NONE ? hs_chain_role_of(w->n[i]) != HS_CHAIN_NONE
                                  : role == HS_CHAIN_TAIL ? hs_chain_is_tail(w->n[i])
                                                          : hs_chain_role_of(w->n[i]) == role))
      c[n++] = i;
  return n ? c[hs_rng_below(&w->net.rng, n)] : 0;
}

static void cw_write(cworld *w, uint32_t id) {
  uint64_t tag = ++w->next_tag;
  if (tag >= RC_MAX_OPS || !id) return;
  uint32_t key = (uint32_t)hs_rng_below(&w->net.rng, CW_KEYS);
  char k[2] = {(char)('a' + key), 0};
  rval v = rv_int((int64_t)tag);
  hs_chain_stats st;
  hs_chain_get_stats(w->n[id], &st);
  w->ops[tag] = (cwop){.write = true, .key = key, .pos = st.applied + 1};
  if (hs_chain_write(w->n[id], w->net.now, k, 1, v.b, sizeof v.b, tag) != HS_OK) RC_OPS[tag].calls = -1;
  else w->accepted++;
}

static void cw_read(cworld *w, uint32_t id, uint32_t key) {
  uint64_t tag = ++w->next_tag;
  if (tag >= RC_MAX_OPS || !id) return;
  char k[2] = {(char)('a' + key), 0};
  w->ops[tag] = (cwop){.read = true, .key = key, .need_acked = w->acked_max[key], .need_read = w->read_max[key]};
  if (hs_chain_read(w->n[id], w->net.now, k, 1, tag) != HS_OK) RC_OPS[tag].calls = -1;
}

/* As in the primary-backup world: a node may crash only while another member surely holds the
 * data and is in touch with the master. */
static uint32_t cw_safe_others(cworld *w, uint32_t except) {
  uint32_t c = 0;
  for (uint32_t i = 1; i <= CW_N; i++) {
    hs_chain_stats st;
    hs_chain_get_stats(w->n[i], &st);
    bool in_touch = rc_in_touch(&w->net, w->link_since, i);
    if (i != except && !w->net.nodes[i].down && st.synced && hs_repl_master_synced(w->m, i) && in_touch) c++;
  }
  return c;
}

static void cw_links(cworld *w) { rc_note_links(&w->net, w->link_since, CW_N); }

static void cw_action(rnet *net, void *ud) {
  cworld *w = ud;
  uint64_t dice = hs_rng_below(&net->rng, 100);
  uint32_t id = 1 + (uint32_t)hs_rng_below(&net->rng, CW_N);
  if (dice < 40) {
    cw_write(w, hs_rng_below(&net->rng, 10) ? cw_pick(w, HS_CHAIN_HEAD) : id);
  } else if (dice < 70) {
    uint32_t r = w->craq ? cw_pick(w, HS_CHAIN_NONE) : cw_pick(w, HS_CHAIN_TAIL);
    cw_read(w, hs_rng_below(&net->rng, 10) ? r : id, (uint32_t)hs_rng_below(&net->rng, CW_KEYS));
  } else if (dice < 76) {
    uint32_t who[CW_N + 1];
    for (uint32_t i = 0; i < CW_N; i++) who[i] = i + 1;
    who[CW_N] = RC_MASTER;
    fw_partition(net->cut, who, CW_N + 1, &net->rng);
    w->partitions++;
    cw_links(w);
  } else if (dice < 84) {
    memset(net->cut, 0, sizeof net->cut);
    cw_links(w);
  } else if (dice < 89) {
    if (!net->nodes[id].down && cw_safe_others(w, id) >= 1) {
      if (CW_TRACE) fprintf(stderr, "%8.3f crash %u\n", (double)net->now / 1e9, id);
      hs_chain_crash(w->n[id]);
      net->nodes[id].down = true;
      w->crashes++;
    }
  } else if (dice < 95) {
    if (net->nodes[id].down) {
      if (CW_TRACE) fprintf(stderr, "%8.3f restart %u\n", (double)net->now / 1e9, id);
      net->nodes[id].down = false;
      hs_chain_restart(w->n[id], net->now);
    }
  } else {
    fw_random_rates(&net->link, &net->rng);
  }
  w->next_action = net->now + (hs_time_ns)(hs_rng_exponential(&net->rng, 12.0) * MS) + 1;
}

static void cw_init(cworld *w, uint64_t seed, bool craq) {
  memset(w, 0, sizeof *w);
  CW = w;
  rn_init(&w->net, true, seed);
  rc_reset_ops(&w->net);
  w->craq = craq;
  CW_TRACE = getenv("REPL_TRACE") && strtoull(getenv("REPL_TRACE"), NULL, 10) == seed;
  w->net.trace = CW_TRACE;
  w->m = rc_master(&w->net, CW_N, 200 * MS, 300 * MS, cw_on_master);
  for (uint32_t i = 1; i <= CW_N; i++) {
    hs_chain_config cfg;
    hs_chain_config_init(&cfg);
    cfg.id = i;
    cfg.master = RC_MASTER;
    cfg.craq = craq;
    cfg.ping_interval_ns = 50 * MS;
    cfg.retry_interval_ns = 25 * MS;
    cfg.write_timeout_ns = 600 * MS;
    cfg.read_timeout_ns = 200 * MS;
    cfg.max_inflight = 8 << (seed % 3);
    cfg.cb.send = rn_send;
    cfg.cb.write_done = cw_write_done;
    cfg.cb.read_done = cw_read_done;
    cfg.cb.config_changed = cw_on_config;
    cfg.ud = rn_node(&w->net, i);
    assert_int_equal(HS_OK, hs_chain_new(&cfg, &w->n[i]));
    rn_add(&w->net, i, w->n[i], cw_step, cw_tick, cw_deadline);
  }
  hs_repl_master_start(w->m, 0);
  for (uint32_t i = 1; i <= CW_N; i++) hs_chain_start(w->n[i], 0);
}

static void cw_free(cworld *w) {
  for (uint32_t i = 1; i <= CW_N; i++) hs_chain_free(w->n[i]);
  hs_repl_master_free(w->m);
  rn_free(&w->net);
  free(w->seen.at);
}

/* Chaos, then quiet: the tail must serve every key at least at its last acknowledged write,
 * and every accepted request must have ended exactly once. */
static bool cw_run(cworld *w, hs_time_ns chaos) {
  rnet *net = &w->net;
  w->next_action = 10 * MS;
  rn_run_until(net, chaos, &w->next_action, cw_action, NULL, w);
  if (net->violation) return false;
  fw_heal(&net->link, net->cut);
  for (uint32_t i = 1; i <= CW_N; i++)
    if (net->nodes[i].down) {
      net->nodes[i].down = false;
      hs_chain_restart(w->n[i], net->now);
    }
  rn_run_until(net, net->now + 1500 * MS, NULL, NULL, NULL, w);
  uint32_t tail = cw_pick(w, HS_CHAIN_TAIL);
  if (!tail) {
    rn_violation(net, "no tail after the faults stopped");
    return false;
  }
  for (uint32_t k = 0; k < CW_KEYS; k++) cw_read(w, tail, k);
  rn_run_until(net, net->now + 1000 * MS, NULL, NULL, NULL, w);
  for (uint64_t t = 1; t <= w->next_tag && t < RC_MAX_OPS && !net->violation; t++) {
    if ((!w->ops[t].write && !w->ops[t].read) || RC_OPS[t].calls == -1) continue;
    if (RC_OPS[t].calls != 1)
      rn_violation(net, "%s %llu ended %d times", w->ops[t].write ? "write" : "read", (unsigned long long)t,
                   RC_OPS[t].calls);
  }
  for (uint64_t t = w->next_tag - CW_KEYS + 1; t <= w->next_tag && !net->violation; t++)
    if (RC_OPS[t].status != HS_OK) rn_violation(net, "the final read %llu failed: %s", (unsigned long long)t,
                                               hs_repl_error_code(RC_OPS[t].status));
  return !net->violation;
}

#endif
