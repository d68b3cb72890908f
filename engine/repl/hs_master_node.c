/* hs_master_node.c - the configuration master as an entity of the simulator
 * (hs_repl_node.h). It answers pings; client requests are refused ("unavailable"). */
#include "repl/hs_repl_node.h"

static int msn_tick(void *core, hs_time_ns now) { return hs_repl_master_tick(core, now); }

int hs_master_node_init(hs_master_node *n, hs_entity *self, hs_net *net, hs_blob_pool *pool,
                        hs_repl_master_config *cfg, const hs_repl_node_hooks *hooks) {
  int rc = hs_repl_port_init(&n->port, self, net, pool, hooks);
  n->master = NULL;
  if (rc != HS_OK) return rc;
  cfg->cb.send = hs_repl_port_send;
  cfg->cb.set_timer = hs_repl_port_set_timer;
  cfg->ud = n;
  if ((rc = hs_repl_master_new(cfg, &n->master)) != HS_OK) return rc;
  n->port.tick = msn_tick;
  n->port.core = n->master;
  return hs_repl_port_set_peer(&n->port, cfg->id, self);
}

void hs_master_node_free(hs_master_node *n) {
  hs_repl_master_free(n->master);
  n->master = NULL;
  hs_repl_port_free(&n->port);
}

int hs_master_node_set_peer(hs_master_node *n, uint32_t id, hs_entity *e) {
  return hs_repl_port_set_peer(&n->port, id, e);
}

int hs_master_node_start(hs_master_node *n) { return hs_repl_master_start(n->master, hs_repl_port_now(&n->port)); }

void hs_master_node_on_message(hs_master_node *n, hs_message *m) {
  if (hs_repl_port_is_protocol(m)) {
    hs_repl_msg msg;
    if (hs_repl_port_decode(&n->port, m, &msg)) hs_repl_master_step(n->master, &msg, hs_repl_port_now(&n->port));
    return;
  }
  hs_repl_client_req req;
  if (!hs_repl_port_is_request(m) || !hs_repl_port_parse(&n->port, m, &req)) return;
  uint64_t tag = hs_repl_port_pend(&n->port, m, 0);
  if (tag) hs_repl_port_finish(&n->port, tag, HS_REPL_EUNAVAILABLE, (hs_value){NULL, 0}, 0, NULL);
}
