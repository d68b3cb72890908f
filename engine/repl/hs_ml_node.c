/* hs_ml_node.c - a multi-leader node as an entity of the simulator (hs_repl_node.h). Writes
 * and reads are local: they end during the call. */
#include "repl/hs_repl_node.h"

static int mln_tick(void *core, hs_time_ns now) { return hs_ml_tick(core, now); }

int hs_ml_node_init(hs_ml_node *n, hs_entity *self, hs_net *net, hs_blob_pool *pool, hs_ml_config *cfg,
                    const hs_repl_node_hooks *hooks) {
  int rc = hs_repl_port_init(&n->port, self, net, pool, hooks);
  n->ml = NULL;
  if (rc != HS_OK) return rc;
  cfg->cb = (hs_ml_callbacks){.send = hs_repl_port_send, .set_timer = hs_repl_port_set_timer};
  cfg->ud = n;
  if ((rc = hs_ml_new(cfg, &n->ml)) != HS_OK) return rc;
  n->port.tick = mln_tick;
  n->port.core = n->ml;
  return hs_repl_port_set_peer(&n->port, cfg->id, self);
}

void hs_ml_node_free(hs_ml_node *n) {
  hs_ml_free(n->ml);
  n->ml = NULL;
  hs_repl_port_free(&n->port);
}

int hs_ml_node_set_peer(hs_ml_node *n, uint32_t id, hs_entity *e) { return hs_repl_port_set_peer(&n->port, id, e); }
int hs_ml_node_start(hs_ml_node *n) { return hs_ml_start(n->ml, hs_repl_port_now(&n->port)); }
void hs_ml_node_on_crash(hs_ml_node *n) {
  hs_ml_crash(n->ml);
  hs_repl_port_drop_pending(&n->port);
}
void hs_ml_node_on_restart(hs_ml_node *n) { hs_ml_restart(n->ml, hs_repl_port_now(&n->port)); }

/* Runs a write or read under core tag `tag` and ends it. */
static void mln_run(hs_ml_node *n, uint64_t tag, bool write, const void *key, size_t klen, const void *value,
                    size_t vlen) {
  hs_time_ns now = hs_repl_port_now(&n->port);
  if (write) {
    hs_ml_version v;
    int rc = hs_ml_write(n->ml, now, key, klen, value, vlen, &v);
    hs_repl_port_finish(&n->port, tag, rc, (hs_value){NULL, 0}, 0, NULL);
    return;
  }
  const hs_ml_version *v;
  uint32_t count;
  int rc = hs_ml_read(n->ml, key, klen, &v, &count);
  if (rc == HS_OK && count > 1) hs_repl_port_finish_siblings(&n->port, tag, v, count);
  else
    hs_repl_port_finish(&n->port, tag, rc, count ? (hs_value){v[0].value, v[0].value_len} : (hs_value){NULL, 0}, 0,
                        NULL);
}

void hs_ml_node_on_message(hs_ml_node *n, hs_message *m) {
  if (hs_repl_port_is_protocol(m)) {
    hs_repl_msg msg;
    if (hs_repl_port_decode(&n->port, m, &msg)) hs_ml_step(n->ml, &msg, hs_repl_port_now(&n->port));
    return;
  }
  hs_repl_client_req req;
  if (!hs_repl_port_is_request(m) || !hs_repl_port_parse(&n->port, m, &req)) return;
  uint64_t tag = hs_repl_port_pend(&n->port, m, 0);
  if (tag) mln_run(n, tag, req.write, req.key, req.key_len, req.value, req.value_len);
}

int hs_ml_node_write(hs_ml_node *n, const void *key, size_t key_len, const void *value, size_t value_len, uint64_t tag) {
  hs_ml_version v;
  int rc = hs_ml_write(n->ml, hs_repl_port_now(&n->port), key, key_len, value, value_len, &v);
  if (rc == HS_OK && n->port.hooks.done) n->port.hooks.done(n->port.hooks.ud, tag, HS_OK, (hs_value){NULL, 0}, 0);
  return rc;
}

int hs_ml_node_read(hs_ml_node *n, const void *key, size_t key_len, uint64_t tag) {
  const hs_ml_version *v;
  uint32_t count;
  int rc = hs_ml_read(n->ml, key, key_len, &v, &count);
  if (rc != HS_OK) return rc;
  uint64_t t = hs_repl_port_pend(&n->port, NULL, tag);
  if (!t) return HS_ENOMEM;
  if (count > 1) hs_repl_port_finish_siblings(&n->port, t, v, count);
  else hs_repl_port_finish(&n->port, t, HS_OK, count ? (hs_value){v[0].value, v[0].value_len} : (hs_value){NULL, 0}, 0, NULL);
  return HS_OK;
}
