/*
 * bench_merkle.c - Merkle anti-entropy between two multi-leader replicas (engine/repl/hs_ml.h)
 * holding the same 100,000 keys but for 10 (changed on one side while its broadcasts were
 * lost): one anti-entropy round, run through the real protocol messages (encoded and decoded),
 * must send O(10 log n) hashes and ship only the keys of the differing buckets. Prints the
 * figures for a few tree shapes, and the time taken (wall clock: a figure, not a test).
 *
 *   build/bench_merkle [keys] [differences]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "repl/hs_ml.h"

typedef struct qmsg {
  uint8_t *buf;
  size_t len;
} qmsg;

static qmsg *Q;
static size_t QN, QCAP, QHEAD;
static bool DROP; /* broadcasts lost */
static uint64_t MESSAGES, BYTES;

static void send_cb(void *ud, const hs_repl_msg *m) {
  (void)ud;
  if (DROP && m->type == HS_REPL_MSG_ML_REPLICATE) return;
  if (QN == QCAP) {
    QCAP = QCAP ? QCAP * 2 : 1024;
    Q = realloc(Q, QCAP * sizeof *Q);
  }
  qmsg q = {NULL, hs_repl_msg_encoded_size(m)};
  q.buf = malloc(q.len);
  hs_repl_msg_encode(m, q.buf, q.len);
  Q[QN++] = q;
  MESSAGES++;
  BYTES += q.len;
}

/* Delivers queued messages (and what they cause) to a (id 1) or b (id 2). */
static void pump(hs_ml *a, hs_ml *b) {
  hs_repl_decoder d;
  hs_repl_decoder_init(&d);
  while (QHEAD < QN) {
    qmsg q = Q[QHEAD++];
    hs_repl_msg m;
    if (hs_repl_msg_decode(&m, q.buf, q.len, &d) != HS_OK) abort();
    hs_ml_step(m.to == 1 ? a : b, &m, 0);
    free(q.buf);
  }
  QN = QHEAD = 0;
  hs_repl_decoder_free(&d);
}

static hs_ml *replica(uint32_t id, uint32_t peer, uint32_t leaf_bits, uint32_t fanout_bits) {
  hs_ml_config cfg;
  hs_ml_config_init(&cfg);
  cfg.id = id;
  cfg.peers = &peer;
  cfg.n_peers = 1;
  cfg.merkle_leaf_bits = leaf_bits;
  cfg.merkle_fanout_bits = fanout_bits;
  cfg.cb.send = send_cb;
  hs_ml *ml;
  if (hs_ml_new(&cfg, &ml) != HS_OK) abort();
  return ml;
}

static double seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void run(uint32_t keys, uint32_t diffs, uint32_t leaf_bits, uint32_t fanout_bits) {
  hs_ml *a = replica(1, 2, leaf_bits, fanout_bits), *b = replica(2, 1, leaf_bits, fanout_bits);
  hs_buf v;
  hs_buf_init(&v);
  char key[32];
  double t0 = seconds();
  for (uint32_t i = 0; i < keys; i++) { /* written at a, broadcast to b */
    int n = snprintf(key, sizeof key, "key-%u", i);
    hs_buf_reset(&v);
    hs_buf_put_int(&v, i);
    hs_ml_write(a, 0, key, (size_t)n, v.data, v.len, NULL);
    if (QN >= 4096) pump(a, b);
  }
  pump(a, b);
  double t1 = seconds();
  DROP = true;
  hs_rng rng;
  hs_rng_seed(&rng, 12, "bench", 5);
  for (uint32_t d = 0; d < diffs; d++) {
    uint32_t i = (uint32_t)hs_rng_below(&rng, keys);
    int n = snprintf(key, sizeof key, "key-%u", i);
    hs_buf_reset(&v);
    hs_buf_put_int(&v, -(int64_t)i - 1);
    hs_ml_write(d % 2 ? b : a, 1, key, (size_t)n, v.data, v.len, NULL); /* on either side */
  }
  DROP = false;
  hs_ml_stats sa0, sb0, sa, sb;
  hs_ml_get_stats(a, &sa0);
  hs_ml_get_stats(b, &sb0);
  uint64_t msgs0 = MESSAGES, bytes0 = BYTES;
  double t2 = seconds();
  hs_ml_sync(a, 2, 2);
  pump(a, b);
  double t3 = seconds();
  hs_ml_get_stats(a, &sa);
  hs_ml_get_stats(b, &sb);
  uint64_t hashes = sa.hashes_sent + sb.hashes_sent - sa0.hashes_sent - sb0.hashes_sent;
  uint64_t shipped = sa.keys_shipped + sb.keys_shipped - sa0.keys_shipped - sb0.keys_shipped;
  uint64_t repaired = sa.anti_entropy_keys_repaired + sb.anti_entropy_keys_repaired - sa0.anti_entropy_keys_repaired -
                      sb0.anti_entropy_keys_repaired;
  bool same = hs_ml_root_hash(a) == hs_ml_root_hash(b);
  printf("%7u keys, %2u differences, %7u leaves, fanout %3u: %4llu hashes sent (bound 10 x 2 x %u x %u = %u), "
         "%3llu key states shipped, %llu repaired, %llu messages (%llu bytes), in sync: %s; sync %.2f ms (build %.2f s)\n",
         keys, diffs, 1u << leaf_bits, 1u << fanout_bits, (unsigned long long)hashes, leaf_bits, 1u << fanout_bits,
         10 * 2 * leaf_bits * (1u << fanout_bits), (unsigned long long)shipped, (unsigned long long)repaired,
         (unsigned long long)(MESSAGES - msgs0), (unsigned long long)(BYTES - bytes0), same ? "yes" : "NO",
         (t3 - t2) * 1e3, t1 - t0);
  hs_buf_free(&v);
  hs_ml_free(a);
  hs_ml_free(b);
}

int main(int argc, char **argv) {
  uint32_t keys = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 100000;
  uint32_t diffs = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 10;
  const uint32_t shapes[][2] = {{17, 1}, {16, 1}, {16, 2}, {16, 4}, {10, 1}};
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) run(keys, diffs, shapes[i][0], shapes[i][1]);
  free(Q);
  return 0;
}
