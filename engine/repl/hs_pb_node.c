/* hs_pb_node.c - a primary-backup node as an entity of the simulator (hs_repl_node.h). */
#include "repl/hs_repl_node.h"

static int pbn_tick(void *core, hs_time_ns now) { return hs_pb_tick(core, now); }

hs_entity *hs_pb_node_hint(hs_pb_node *n) { return hs_repl_port_peer(&n->port, hs_pb_primary(n->pb)); }

static void pbn_write_done(void *ud, uint64_t tag, int status, uint64_t seq) {
  hs_pb_node *n = ud;
  hs_repl_port_finish(&n->port, tag, status, (hs_value){NULL, 0}, seq, status == HS_OK ? NULL : hs_pb_node_hint(n));
}

int hs_pb_node_init(hs_pb_node *n, hs_entity *self, hs_net *net, hs_blob_pool *pool, hs_pb_config *cfg,
                    const hs_repl_node_hooks *hooks) {
  int rc = hs_repl_port_init(&n->port, self, net, pool, hooks);
  n->pb = NULL;
  if (rc != HS_OK) return rc;
  cfg->cb = (hs_pb_callbacks){.send = hs_repl_port_send, .set_timer = hs_repl_port_set_timer,
                              .write_done = pbn_write_done};
  cfg->ud = n; /* the port is n's first member: the port callbacks see it */
  if ((rc = hs_pb_new(cfg, &n->pb)) != HS_OK) return rc;
  n->port.tick = pbn_tick;
  n->port.core = n->pb;
  return hs_repl_port_set_peer(&n->port, cfg->id, self);
}

void hs_pb_node_free(hs_pb_node *n) {
  hs_pb_free(n->pb);
  n->pb = NULL;
  hs_repl_port_free(&n->port);
}

int hs_pb_node_set_peer(hs_pb_node *n, uint32_t id, hs_entity *e) { return hs_repl_port_set_peer(&n->port, id, e); }
int hs_pb_node_start(hs_pb_node *n) { return hs_pb_start(n->pb, hs_repl_port_now(&n->port)); }
void hs_pb_node_on_crash(hs_pb_node *n) {
  hs_pb_crash(n->pb);
  hs_repl_port_drop_pending(&n->port);
}
void hs_pb_node_on_restart(hs_pb_node *n) { hs_pb_restart(n->pb, hs_repl_port_now(&n->port)); }

/* Starts a write or a read under core tag `tag`; a refusal ends it at once. */
static void pbn_start(hs_pb_node *n, uint64_t tag, bool write, const void *key, size_t klen, const void *value,
                      size_t vlen) {
  hs_time_ns now = hs_repl_port_now(&n->port);
  if (write) {
    int rc = hs_pb_write(n->pb, now, key, klen, value, vlen, tag);
    if (rc != HS_OK) hs_repl_port_finish(&n->port, tag, rc, (hs_value){NULL, 0}, 0, hs_pb_node_hint(n));
    return;
  }
  hs_value v;
  int rc = hs_pb_read(n->pb, now, key, klen, &v);
  hs_repl_port_finish(&n->port, tag, rc, v, 0, rc == HS_OK ? NULL : hs_pb_node_hint(n));
}

void hs_pb_node_on_message(hs_pb_node *n, hs_message *m) {
  if (hs_repl_port_is_protocol(m)) {
    hs_repl_msg msg;
    if (hs_repl_port_decode(&n->port, m, &msg)) hs_pb_step(n->pb, &msg, hs_repl_port_now(&n->port));
    return;
  }
  hs_repl_client_req req;
  if (!hs_repl_port_is_request(m) || !hs_repl_port_parse(&n->port, m, &req)) return;
  uint64_t tag = hs_repl_port_pend(&n->port, m, 0);
  if (tag) pbn_start(n, tag, req.write, req.key, req.key_len, req.value, req.value_len);
}

int hs_pb_node_write(hs_pb_node *n, const void *key, size_t key_len, const void *value, size_t value_len, uint64_t tag) {
  uint64_t t = hs_repl_port_pend(&n->port, NULL, tag);
  if (!t) return HS_ENOMEM;
  int rc = hs_pb_write(n->pb, hs_repl_port_now(&n->port), key, key_len, value, value_len, t);
  if (rc != HS_OK) hs_repl_port_forget(&n->port, t);
  return rc;
}

int hs_pb_node_read(hs_pb_node *n, const void *key, size_t key_len, uint64_t tag) {
  hs_value v;
  int rc = hs_pb_read(n->pb, hs_repl_port_now(&n->port), key, key_len, &v);
  if (rc == HS_OK && n->port.hooks.done) n->port.hooks.done(n->port.hooks.ud, tag, HS_OK, v, 0);
  return rc;
}
