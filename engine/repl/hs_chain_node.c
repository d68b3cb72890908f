/* hs_chain_node.c - a chain (or CRAQ) node as an entity of the simulator (hs_repl_node.h). */
#include "repl/hs_repl_node.h"

static int chn_tick(void *core, hs_time_ns now) { return hs_chain_tick(core, now); }

hs_entity *hs_chain_node_hint(hs_chain_node *n, bool for_write) {
  return hs_repl_port_peer(&n->port, for_write ? hs_chain_head(n->chain) : hs_chain_tail(n->chain));
}

static void chn_write_done(void *ud, uint64_t tag, int status, uint64_t seq) {
  hs_chain_node *n = ud;
  hs_repl_port_finish(&n->port, tag, status, (hs_value){NULL, 0}, seq,
                      status == HS_OK ? NULL : hs_chain_node_hint(n, true));
}

static void chn_read_done(void *ud, uint64_t tag, int status, const uint8_t *value, uint32_t len, uint64_t version) {
  hs_chain_node *n = ud;
  hs_repl_port_finish(&n->port, tag, status, (hs_value){value, len}, version,
                      status == HS_OK ? NULL : hs_chain_node_hint(n, false));
}

int hs_chain_node_init(hs_chain_node *n, hs_entity *self, hs_net *net, hs_blob_pool *pool, hs_chain_config *cfg,
                       const hs_repl_node_hooks *hooks) {
  int rc = hs_repl_port_init(&n->port, self, net, pool, hooks);
  n->chain = NULL;
  if (rc != HS_OK) return rc;
  cfg->cb = (hs_chain_callbacks){.send = hs_repl_port_send, .set_timer = hs_repl_port_set_timer,
                                 .write_done = chn_write_done, .read_done = chn_read_done};
  cfg->ud = n;
  if ((rc = hs_chain_new(cfg, &n->chain)) != HS_OK) return rc;
  n->port.tick = chn_tick;
  n->port.core = n->chain;
  return hs_repl_port_set_peer(&n->port, cfg->id, self);
}

void hs_chain_node_free(hs_chain_node *n) {
  hs_chain_free(n->chain);
  n->chain = NULL;
  hs_repl_port_free(&n->port);
}

int hs_chain_node_set_peer(hs_chain_node *n, uint32_t id, hs_entity *e) {
  return hs_repl_port_set_peer(&n->port, id, e);
}
int hs_chain_node_start(hs_chain_node *n) { return hs_chain_start(n->chain, hs_repl_port_now(&n->port)); }
void hs_chain_node_on_crash(hs_chain_node *n) {
  hs_chain_crash(n->chain);
  hs_repl_port_drop_pending(&n->port);
}
void hs_chain_node_on_restart(hs_chain_node *n) { hs_chain_restart(n->chain, hs_repl_port_now(&n->port)); }

void hs_chain_node_on_message(hs_chain_node *n, hs_message *m) {
  if (hs_repl_port_is_protocol(m)) {
    hs_repl_msg msg;
    if (hs_repl_port_decode(&n->port, m, &msg)) hs_chain_step(n->chain, &msg, hs_repl_port_now(&n->port));
    return;
  }
  hs_repl_client_req req;
  if (!hs_repl_port_is_request(m) || !hs_repl_port_parse(&n->port, m, &req)) return;
  uint64_t tag = hs_repl_port_pend(&n->port, m, 0);
  if (!tag) return;
  hs_time_ns now = hs_repl_port_now(&n->port);
  int rc = req.write ? hs_chain_write(n->chain, now, req.key, req.key_len, req.value, req.value_len, tag)
                     : hs_chain_read(n->chain, now, req.key, req.key_len, tag);
  if (rc != HS_OK) hs_repl_port_finish(&n->port, tag, rc, (hs_value){NULL, 0}, 0, hs_chain_node_hint(n, req.write));
}

int hs_chain_node_write(hs_chain_node *n, const void *key, size_t key_len, const void *value, size_t value_len,
                        uint64_t tag) {
  uint64_t t = hs_repl_port_pend(&n->port, NULL, tag);
  if (!t) return HS_ENOMEM;
  int rc = hs_chain_write(n->chain, hs_repl_port_now(&n->port), key, key_len, value, value_len, t);
  if (rc != HS_OK) hs_repl_port_forget(&n->port, t);
  return rc;
}

int hs_chain_node_read(hs_chain_node *n, const void *key, size_t key_len, uint64_t tag) {
  uint64_t t = hs_repl_port_pend(&n->port, NULL, tag);
  if (!t) return HS_ENOMEM;
  int rc = hs_chain_read(n->chain, hs_repl_port_now(&n->port), key, key_len, t);
  if (rc != HS_OK) hs_repl_port_forget(&n->port, t);
  return rc;
}
