/*
 * test_repl_node.c - the replication adapters (engine/repl/hs_repl_node.h) on the real
 * scheduler and network: clients send "Write"/"Read" requests over the network and get
 * { ok = true, value = } or { ok = false, error = { code =, leader = } } replies; in-process
 * requests end through the done hook; primary-backup fails over after a crash; CRAQ reads at
 * a middle node; multi-leader replies carry siblings; payloads that are not protocol messages
 * or proper requests are counted and answered "bad_request".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/hs_sim.h"
#include "repl/hs_repl_node.h"

#define MS 1000000LL
#define NODES 4 /* ids 1..3: nodes, 4: the master */

typedef struct tnode {
  hs_entity e; /* first: the vtable's entity is the node */
  int kind;    /* 0 primary-backup, 1 chain, 2 multi-leader, 3 master */
  union {
    hs_pb_node pb;
    hs_chain_node ch;
    hs_ml_node ml;
    hs_master_node ms;
  } u;
  char name[8];
} tnode;

typedef struct tclient {
  hs_entity e;
  uint8_t *reply[64]; /* by request id */
  size_t reply_len[64];
} tclient;

static struct {
  hs_sim sim;
  hs_net net;
  hs_blob_pool pool;
  tnode n[NODES + 1];
  tclient client;
  uint64_t next_rid;
  int done_calls, done_status;
  uint64_t done_tag;
} W;

static void on_message(hs_entity *e, hs_message *m) {
  tnode *n = (tnode *)e;
  switch (n->kind) {
  case 0: hs_pb_node_on_message(&n->u.pb, m); break;
  case 1: hs_chain_node_on_message(&n->u.ch, m); break;
  case 2: hs_ml_node_on_message(&n->u.ml, m); break;
  default: hs_master_node_on_message(&n->u.ms, m); break;
  }
}

static void on_crash(hs_entity *e) {
  tnode *n = (tnode *)e;
  if (n->kind == 0) hs_pb_node_on_crash(&n->u.pb);
  if (n->kind == 1) hs_chain_node_on_crash(&n->u.ch);
  if (n->kind == 2) hs_ml_node_on_crash(&n->u.ml);
}

static void on_restart(hs_entity *e) {
  tnode *n = (tnode *)e;
  if (n->kind == 0) hs_pb_node_on_restart(&n->u.pb);
  if (n->kind == 1) hs_chain_node_on_restart(&n->u.ch);
  if (n->kind == 2) hs_ml_node_on_restart(&n->u.ml);
}

static const hs_entity_vtable node_vt = {"ReplNode", on_crash, on_restart, on_message};

static void client_message(hs_entity *e, hs_message *m) {
  tclient *c = (tclient *)e;
  const hs_blob *b = m->payload;
  uint64_t rid = 0;
  for (int i = 8; i >= 1; i--) rid = rid << 8 | b->data[i];
  assert_int_equal(b->data[0], 2); /* a reply */
  assert_true(rid < 64 && !c->reply[rid]);
  c->reply_len[rid] = b->size - 9;
  c->reply[rid] = malloc(c->reply_len[rid]);
  memcpy(c->reply[rid], b->data + 9, c->reply_len[rid]);
}

static const hs_entity_vtable client_vt = {"Client", NULL, NULL, client_message};

static void *payload_copy(void *ud, void *payload, uint64_t size) {
  (void)ud;
  (void)size;
  const hs_blob *b = payload;
  return hs_blob_copy(&W.pool, b->data, b->size);
}
static void payload_release(void *ud, void *payload) {
  (void)ud;
  hs_blob_free(&W.pool, payload);
}

static void on_done(void *ud, uint64_t tag, int status, hs_value value, uint64_t version) {
  (void)ud;
  (void)value;
  (void)version;
  W.done_calls++;
  W.done_status = status;
  W.done_tag = tag;
}

static const hs_repl_node_hooks HOOKS = {.done = on_done};

static void world_open(int kind, bool craq_or_siblings) {
  memset(&W, 0, sizeof W);
  hs_sim_init(&W.sim, 7);
  hs_blob_pool_init(&W.pool);
  for (int i = 1; i <= NODES; i++) {
    snprintf(W.n[i].name, sizeof W.n[i].name, i == NODES ? "master" : "n%d", i);
    W.n[i].kind = i == NODES ? 3 : kind;
    hs_entity_init(&W.n[i].e, &node_vt, W.n[i].name);
    assert_int_equal(HS_OK, hs_sim_register(&W.sim, &W.n[i].e));
  }
  hs_entity_init(&W.client.e, &client_vt, "client");
  assert_int_equal(HS_OK, hs_sim_register(&W.sim, &W.client.e));
  assert_int_equal(HS_OK, hs_net_init(&W.net, &W.sim, "cluster"));
  hs_net_payload_ops ops = {payload_copy, payload_release, NULL};
  hs_net_set_payload_ops(&W.net, &ops);
  hs_link_params link;
  hs_link_params_init(&link);
  link.latency = hs_dist_constant(0.001);
  assert_int_equal(HS_OK, hs_net_set_default_link(&W.net, &link));
  uint32_t members[3] = {1, 2, 3};
  for (uint32_t i = 1; i <= 3; i++) {
    tnode *n = &W.n[i];
    int rc;
    if (kind == 0) {
      hs_pb_config cfg;
      hs_pb_config_init(&cfg);
      cfg.id = i;
      cfg.master = NODES;
      cfg.mode = HS_PB_SYNC;
      rc = hs_pb_node_init(&n->u.pb, &n->e, &W.net, &W.pool, &cfg, &HOOKS);
    } else if (kind == 1) {
      hs_chain_config cfg;
      hs_chain_config_init(&cfg);
      cfg.id = i;
      cfg.master = NODES;
      cfg.craq = craq_or_siblings;
      rc = hs_chain_node_init(&n->u.ch, &n->e, &W.net, &W.pool, &cfg, &HOOKS);
    } else {
      uint32_t peers[2], np = 0;
      for (uint32_t j = 1; j <= 3; j++)
        if (j != i) peers[np++] = j;
      hs_ml_config cfg;
      hs_ml_config_init(&cfg);
      cfg.id = i;
      cfg.peers = peers;
      cfg.n_peers = np;
      cfg.anti_entropy_interval_ns = 100 * MS;
      cfg.resolver = craq_or_siblings ? hs_ml_resolver_siblings() : hs_ml_resolver_lww();
      hs_sim_stream(&W.sim, &cfg.rng, n->name, strlen(n->name));
      rc = hs_ml_node_init(&n->u.ml, &n->e, &W.net, &W.pool, &cfg, &HOOKS);
    }
    assert_int_equal(HS_OK, rc);
  }
  hs_repl_master_config mc;
  hs_repl_master_config_init(&mc);
  mc.id = NODES;
  mc.members = members;
  mc.n_members = 3;
  assert_int_equal(HS_OK, hs_master_node_init(&W.n[NODES].u.ms, &W.n[NODES].e, &W.net, &W.pool, &mc, NULL));
  for (uint32_t i = 1; i <= NODES; i++)
    for (uint32_t j = 1; j <= NODES; j++) {
      tnode *n = &W.n[i];
      hs_entity *e = &W.n[j].e;
      if (n->kind == 0) hs_pb_node_set_peer(&n->u.pb, j, e);
      if (n->kind == 1) hs_chain_node_set_peer(&n->u.ch, j, e);
      if (n->kind == 2) hs_ml_node_set_peer(&n->u.ml, j, e);
      if (n->kind == 3) hs_master_node_set_peer(&n->u.ms, j, e);
    }
  assert_int_equal(HS_OK, hs_master_node_start(&W.n[NODES].u.ms));
  for (uint32_t i = 1; i <= 3; i++) {
    tnode *n = &W.n[i];
    if (kind == 0) assert_int_equal(HS_OK, hs_pb_node_start(&n->u.pb));
    if (kind == 1) assert_int_equal(HS_OK, hs_chain_node_start(&n->u.ch));
    if (kind == 2) assert_int_equal(HS_OK, hs_ml_node_start(&n->u.ml));
  }
  hs_sim_set_end_time(&W.sim, HS_TIME_NEVER);
}

static void world_close(void) {
  hs_net_close(&W.net);
  for (uint32_t i = 1; i <= 3; i++) {
    tnode *n = &W.n[i];
    if (n->kind == 0) hs_pb_node_free(&n->u.pb);
    if (n->kind == 1) hs_chain_node_free(&n->u.ch);
    if (n->kind == 2) hs_ml_node_free(&n->u.ml);
  }
  hs_master_node_free(&W.n[NODES].u.ms);
  hs_sim_close(&W.sim);
  for (int i = 0; i < 64; i++) free(W.client.reply[i]);
  assert_int_equal(W.pool.live, 0);
  hs_blob_pool_close(&W.pool);
}

static void run_for(double s) { hs_sim_run_until(&W.sim, W.sim.now_ns + hs_time_from_s(s)); }

/* Sends a client request { key =, value = } (value < 0: none) and returns its request id. */
static uint64_t request(uint32_t node, const char *type, const char *key, int64_t value) {
  hs_buf b;
  hs_buf_init(&b);
  uint8_t header[9] = {1};
  uint64_t rid = ++W.next_rid;
  for (int i = 0; i < 8; i++) header[1 + i] = (uint8_t)(rid >> (8 * i));
  hs_buf_put_raw(&b, header, 9);
  hs_buf_put_table(&b, 0, value >= 0 ? 2 : 1);
  hs_buf_put_string(&b, "key", 3);
  hs_buf_put_string(&b, key, strlen(key));
  if (value >= 0) {
    hs_buf_put_string(&b, "value", 5);
    hs_buf_put_int(&b, value);
  }
  hs_blob *blob = hs_blob_copy(&W.pool, b.data, b.len);
  hs_buf_free(&b);
  assert_int_equal(HS_OK, hs_net_send(&W.net, &W.client.e, &W.n[node].e, type, blob, blob->size, NULL));
  return rid;
}

static hs_value reply(uint64_t rid) {
  assert_non_null(W.client.reply[rid]);
  return (hs_value){W.client.reply[rid], W.client.reply_len[rid]};
}

static bool reply_ok(uint64_t rid) {
  hs_value ok;
  assert_true(hs_value_field(reply(rid), "ok", &ok));
  return hs_value_type(ok) == HS_V_TRUE;
}

static int64_t reply_value(uint64_t rid) {
  hs_value v;
  int64_t x = -1;
  if (hs_value_field(reply(rid), "value", &v)) assert_true(hs_value_int(v, &x));
  return x;
}

/* Whether the reply is an error with that code (and leader, when given). */
static void assert_error(uint64_t rid, const char *code, const char *leader) {
  hs_value err, f;
  size_t len;
  assert_false(reply_ok(rid));
  assert_true(hs_value_field(reply(rid), "error", &err));
  assert_true(hs_value_field(err, "code", &f));
  const char *s = hs_value_string(f, &len);
  if (!s || len != strlen(code) || memcmp(s, code, len)) fail_msg("code %.*s, expected %s", (int)len, s, code);
  assert_true(hs_value_field(err, "message", &f));
  if (leader) {
    assert_true(hs_value_field(err, "leader", &f));
    s = hs_value_string(f, &len);
    assert_true(s && len == strlen(leader) && !memcmp(s, leader, len));
  }
}

static void test_primary_backup_over_the_network(void **s) {
  (void)s;
  world_open(0, false);
  run_for(0.3);
  uint64_t w = request(1, "Write", "x", 5);
  run_for(0.1);
  assert_true(reply_ok(w));
  uint64_t r = request(1, "Read", "x", -1);
  run_for(0.1);
  assert_true(reply_ok(r));
  assert_int_equal(reply_value(r), 5);
  uint64_t refused = request(2, "Write", "x", 6);
  run_for(0.1);
  assert_error(refused, "not_primary", "n1");
  uint64_t none = request(1, "Read", "nothing", -1);
  run_for(0.1);
  assert_true(reply_ok(none));
  assert_int_equal(reply_value(none), -1);
  uint64_t bad = request(1, "Put", "x", 1);
  run_for(0.1);
  assert_error(bad, "bad_request", NULL);
  /* in process */
  uint8_t v[9];
  hs_buf b = {0};
  hs_buf_put_int(&b, 7);
  memcpy(v, b.data, 9);
  hs_buf_free(&b);
  assert_int_equal(HS_OK, hs_pb_node_write(&W.n[1].u.pb, "y", 1, v, 9, 77));
  assert_int_equal(W.done_calls, 0);
  run_for(0.1);
  assert_int_equal(W.done_calls, 1);
  assert_int_equal(W.done_status, HS_OK);
  assert_int_equal(W.done_tag, 77);
  assert_int_equal(HS_REPL_ENOTPRIMARY, hs_pb_node_write(&W.n[3].u.pb, "y", 1, v, 9, 78));
  assert_ptr_equal(hs_pb_node_hint(&W.n[3].u.pb), &W.n[1].e);
  /* failover */
  hs_entity_crash(&W.n[1].e);
  run_for(2.0);
  assert_int_equal(hs_pb_role_of(W.n[2].u.pb.pb), HS_PB_PRIMARY);
  uint64_t after = request(2, "Read", "x", -1);
  run_for(0.1);
  assert_true(reply_ok(after));
  assert_int_equal(reply_value(after), 5);
  hs_entity_restart(&W.n[1].e);
  run_for(1.0);
  hs_pb_stats st;
  hs_pb_get_stats(W.n[1].u.pb.pb, &st);
  assert_true(st.synced && st.role == HS_PB_BACKUP);
  /* garbage that looks like a protocol message */
  hs_blob *g = hs_blob_alloc(&W.pool, 20);
  memset(g->data, 0, 20);
  g->data[9] = HS_V_STRING;
  assert_int_equal(HS_OK, hs_net_send(&W.net, &W.client.e, &W.n[2].e, "Replicate", g, g->size, NULL));
  run_for(0.1);
  assert_int_equal(W.n[2].u.pb.port.malformed, 1);
  world_close();
}

static void test_craq_over_the_network(void **s) {
  (void)s;
  world_open(1, true);
  run_for(0.3);
  uint64_t w = request(1, "Write", "x", 5);
  run_for(0.1);
  assert_true(reply_ok(w));
  uint64_t r = request(2, "Read", "x", -1); /* a middle node: CRAQ reads anywhere */
  run_for(0.1);
  assert_true(reply_ok(r));
  assert_int_equal(reply_value(r), 5);
  uint64_t refused = request(3, "Write", "x", 6);
  run_for(0.1);
  assert_error(refused, "not_head", "n1");
  world_close();
}

static void test_plain_chain_refuses_reads_off_tail(void **s) {
  (void)s;
  world_open(1, false);
  run_for(0.3);
  uint64_t r = request(2, "Read", "x", -1);
  run_for(0.1);
  assert_error(r, "not_tail", "n3");
  world_close();
}

static void test_multi_leader_siblings_over_the_network(void **s) {
  (void)s;
  world_open(2, true);
  run_for(0.01);
  uint64_t a = request(1, "Write", "x", 1), b = request(2, "Write", "x", 2);
  run_for(0.5);
  assert_true(reply_ok(a) && reply_ok(b));
  uint64_t r = request(3, "Read", "x", -1);
  run_for(0.1);
  assert_true(reply_ok(r));
  hs_value v, sib;
  int64_t n;
  assert_true(hs_value_field(reply(r), "siblings", &sib) && hs_value_int(sib, &n));
  assert_int_equal(n, 2);
  uint32_t narr, nmap;
  assert_true(hs_value_field(reply(r), "value", &v) && hs_value_table(v, &narr, &nmap));
  assert_int_equal(narr, 2);
  uint64_t w = request(3, "Write", "x", 3); /* covers both */
  run_for(0.5);
  assert_true(reply_ok(w));
  uint64_t r2 = request(1, "Read", "x", -1);
  run_for(0.1);
  assert_int_equal(reply_value(r2), 3);
  world_close();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_primary_backup_over_the_network),
      cmocka_unit_test(test_craq_over_the_network),
      cmocka_unit_test(test_plain_chain_refuses_reads_off_tail),
      cmocka_unit_test(test_multi_leader_siblings_over_the_network),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
