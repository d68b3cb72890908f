/* hs_repl_node.c - what the replication adapters share: peers, the timer, the wire format of
 * protocol messages, and the client requests with their replies (hs_repl_node.h). */
#include "repl/hs_repl_node.h"

#include <stdlib.h>
#include <string.h>

#include "net/hs_envelope.h"

#define HEADER HS_ENVELOPE_SIZE /* kind + request id, as every payload (net/hs_envelope.h) */

static uint64_t get_request_id(const hs_blob *b) {
  hs_envelope e;
  hs_envelope_decode(b->data, b->size, &e);
  return e.request_id;
}

static void port_timer_fired(hs_entity *owner, hs_timer *t) {
  (void)owner;
  hs_repl_port *p = HS_CONTAINER_OF(t, hs_repl_port, timer);
  if (p->tick) p->tick(p->core, hs_repl_port_now(p));
}

int hs_repl_port_init(hs_repl_port *p, hs_entity *self, hs_net *net, hs_blob_pool *pool,
                      const hs_repl_node_hooks *hooks) {
  memset(p, 0, sizeof *p);
  if (!self || !net || !pool) return HS_EINVAL;
  p->self = self;
  p->net = net;
  p->pool = pool;
  if (hooks) p->hooks = *hooks;
  hs_repl_decoder_init(&p->dec);
  hs_buf_init(&p->out);
  hs_timer_init(&p->timer, self, "ReplicationTimer", port_timer_fired);
  return HS_OK;
}

void hs_repl_port_free(hs_repl_port *p) {
  hs_timer_stop(&p->timer);
  free(p->peers);
  free(p->reqs);
  hs_repl_decoder_free(&p->dec);
  hs_buf_free(&p->out);
  p->peers = NULL;
  p->reqs = NULL;
  p->peer_cap = p->reqs_cap = p->reqs_n = 0;
}

int hs_repl_port_set_peer(hs_repl_port *p, uint32_t id, hs_entity *e) {
  if (id == HS_REPL_NONE) return HS_EINVAL;
  if (id >= p->peer_cap) {
    uint32_t cap = p->peer_cap ? p->peer_cap : 8;
    while (cap <= id) cap *= 2;
    hs_entity **a = realloc(p->peers, cap * sizeof *a);
    if (!a) return HS_ENOMEM;
    memset(a + p->peer_cap, 0, (cap - p->peer_cap) * sizeof *a);
    p->peers = a;
    p->peer_cap = cap;
  }
  p->peers[id] = e;
  return HS_OK;
}

hs_entity *hs_repl_port_peer(hs_repl_port *p, uint32_t id) {
  if (id == HS_REPL_NONE) return NULL;
  if (id < p->peer_cap && p->peers[id]) return p->peers[id];
  hs_entity *e = p->hooks.resolve_peer ? p->hooks.resolve_peer(p->hooks.ud, id) : NULL;
  if (e) hs_repl_port_set_peer(p, id, e);
  return e;
}

/* ---- the wire ------------------------------------------------------------------------------------ */

void hs_repl_port_send(void *ud, const hs_repl_msg *m) {
  hs_repl_port *p = ud;
  hs_entity *to = hs_repl_port_peer(p, m->to);
  if (!to) return; /* an unknown node: as if the message were lost */
  size_t size = hs_repl_msg_encoded_size(m);
  if (size > UINT32_MAX - HS_ENVELOPE_MSG_HEADER) return;
  hs_blob *b = hs_blob_alloc(p->pool, HS_ENVELOPE_MSG_HEADER + size);
  if (!b) return;
  hs_envelope_put_msg_header(b->data, size);
  hs_repl_msg_encode(m, b->data + HS_ENVELOPE_MSG_HEADER, size);
  if (hs_net_send(p->net, p->self, to, hs_repl_msg_wire_name(m->type), b, b->size, NULL) != HS_OK)
    hs_blob_free(p->pool, b);
}

void hs_repl_port_set_timer(void *ud, hs_time_ns at) {
  hs_repl_port *p = ud;
  if (at == HS_TIME_NEVER) {
    hs_timer_stop(&p->timer);
    return;
  }
  hs_time_ns now = hs_repl_port_now(p);
  hs_timer_start(&p->timer, at > now ? at - now : 0);
}

bool hs_repl_port_is_protocol(const hs_message *m) {
  const hs_blob *b = m->payload;
  return b && hs_envelope_is_msg(b->data, b->size);
}

bool hs_repl_port_is_request(const hs_message *m) {
  const hs_blob *b = m->payload;
  return b && b->size > HEADER && b->data[0] == HS_ENVELOPE_REQUEST;
}

bool hs_repl_port_decode(hs_repl_port *p, hs_message *m, hs_repl_msg *out) {
  const hs_blob *b = m->payload;
  size_t len = 0;
  const uint8_t *body = hs_envelope_msg_body(b->data, b->size, &len);
  if (!body || hs_repl_msg_decode(out, body, len, &p->dec) != HS_OK) {
    p->malformed++;
    return false;
  }
  return true;
}

/* ---- pending requests -------------------------------------------------------------------------------- */

static uint32_t port_home(const hs_repl_port *p, uint64_t tag) {
  return (uint32_t)((tag * 0x9e3779b97f4a7c15ULL) >> 40) & (p->reqs_cap - 1);
}

static hs_repl_req *port_find(hs_repl_port *p, uint64_t tag) {
  if (!p->reqs_cap) return NULL;
  for (uint32_t i = port_home(p, tag);; i = (i + 1) & (p->reqs_cap - 1)) {
    if (p->reqs[i].key == tag) return &p->reqs[i];
    if (!p->reqs[i].key) return NULL;
  }
}

static hs_repl_req *port_free_slot(hs_repl_port *p, uint64_t tag) {
  for (uint32_t i = port_home(p, tag);; i = (i + 1) & (p->reqs_cap - 1))
    if (!p->reqs[i].key) return &p->reqs[i];
}

static int port_grow(hs_repl_port *p) {
  uint32_t cap = p->reqs_cap ? p->reqs_cap * 2 : 64;
  hs_repl_req *old = p->reqs;
  uint32_t old_cap = p->reqs_cap;
  p->reqs = calloc(cap, sizeof *p->reqs);
  if (!p->reqs) {
    p->reqs = old;
    return HS_ENOMEM;
  }
  p->reqs_cap = cap;
  for (uint32_t i = 0; i < old_cap; i++)
    if (old[i].key) *port_free_slot(p, old[i].key) = old[i];
  free(old);
  return HS_OK;
}

uint64_t hs_repl_port_pend(hs_repl_port *p, hs_message *m, uint64_t user_tag) {
  if ((p->reqs_n + 1) * 2 > p->reqs_cap && port_grow(p) != HS_OK) return 0;
  uint64_t tag = ++p->next_tag;
  hs_repl_req *r = port_free_slot(p, tag);
  *r = (hs_repl_req){.key = tag, .user_tag = user_tag};
  if (m) {
    r->client = m->src;
    r->request_id = get_request_id(m->payload);
    r->type = m->type;
  }
  p->reqs_n++;
  return tag;
}

/* Removes the request of tag from the table (backward-shift deletion), returning a copy. */
static bool port_take(hs_repl_port *p, uint64_t tag, hs_repl_req *out) {
  hs_repl_req *r = port_find(p, tag);
  if (!r) return false;
  *out = *r;
  uint32_t i = (uint32_t)(r - p->reqs), mask = p->reqs_cap - 1;
  for (uint32_t j = (i + 1) & mask; p->reqs[j].key; j = (j + 1) & mask) {
    uint32_t home = port_home(p, p->reqs[j].key);
    if (((j - home) & mask) >= ((j - i) & mask)) {
      p->reqs[i] = p->reqs[j];
      i = j;
    }
  }
  p->reqs[i].key = 0;
  p->reqs_n--;
  return true;
}

void hs_repl_port_forget(hs_repl_port *p, uint64_t tag) {
  hs_repl_req r;
  port_take(p, tag, &r);
}

void hs_repl_port_drop_pending(hs_repl_port *p) {
  if (p->reqs) memset(p->reqs, 0, p->reqs_cap * sizeof *p->reqs);
  p->reqs_n = 0;
}

/* ---- client requests and replies ------------------------------------------------------------------------ */

static void put_key(hs_buf *b, const char *k) { hs_buf_put_string(b, k, strlen(k)); }

/* { ok = false, error = { code =, leader =, message = } }, pairs in the canonical order. */
static void port_encode_error(hs_buf *b, const char *code, const char *message, hs_entity *hint) {
  hs_buf_put_table(b, 0, 2);
  put_key(b, "ok");
  hs_buf_put_bool(b, false);
  put_key(b, "error");
  hs_buf_put_table(b, 0, hint && hint->name ? 3 : 2);
  put_key(b, "code");
  put_key(b, code);
  if (hint && hint->name) {
    put_key(b, "leader");
    put_key(b, hint->name);
  }
  put_key(b, "message");
  put_key(b, message);
}

static void port_reply(hs_repl_port *p, const hs_repl_req *r) {
  if (p->out.failed || hs_entity_crashed(p->self)) return;
  hs_blob *b = hs_blob_alloc(p->pool, HEADER + p->out.len);
  if (!b) return;
  hs_envelope_encode(b->data, (hs_envelope){HS_ENVELOPE_REPLY, r->request_id});
  memcpy(b->data + HEADER, p->out.data, p->out.len);
  if (hs_net_send(p->net, p->self, r->client, r->type, b, b->size, NULL) != HS_OK) hs_blob_free(p->pool, b);
}

bool hs_repl_port_parse(hs_repl_port *p, hs_message *m, hs_repl_client_req *req) {
  const hs_blob *b = m->payload;
  memset(req, 0, sizeof *req);
  bool write = strcmp(m->type, "Write") == 0, read = strcmp(m->type, "Read") == 0;
  hs_value body = {b->data + HEADER, b->size - HEADER}, key, value;
  size_t klen = 0;
  const char *k = NULL;
  bool ok = (write || read) && hs_value_size(body) == body.len && hs_value_field(body, "key", &key) &&
            (k = hs_value_string(key, &klen)) && klen <= HS_REPL_MAX_KEY;
  if (ok && write) {
    ok = hs_value_field(body, "value", &value);
    if (ok) {
      req->value = value.p;
      req->value_len = (uint32_t)hs_value_size(value);
    }
  }
  if (ok) {
    req->write = write;
    req->key = (const uint8_t *)k;
    req->key_len = (uint32_t)klen;
    return true;
  }
  p->bad_requests++;
  hs_repl_req r = {.client = m->src, .request_id = get_request_id(b), .type = m->type};
  hs_buf_reset(&p->out);
  port_encode_error(&p->out, "bad_request",
                    write || read ? "expected { key = <string> } (and value = <any> for a write)"
                                  : "replication nodes accept 'Write' and 'Read' requests",
                    NULL);
  port_reply(p, &r);
  return false;
}

void hs_repl_port_finish(hs_repl_port *p, uint64_t tag, int status, hs_value value, uint64_t version,
                         hs_entity *hint) {
  hs_repl_req r;
  if (!port_take(p, tag, &r)) return;
  if (!r.client) {
    if (p->hooks.done) p->hooks.done(p->hooks.ud, r.user_tag, status, value, version);
    return;
  }
  hs_buf_reset(&p->out);
  if (status != HS_OK) {
    port_encode_error(&p->out, hs_repl_error_code(status), hs_repl_strerror(status), hint);
  } else {
    hs_buf_put_table(&p->out, 0, value.len ? 2 : 1);
    put_key(&p->out, "ok");
    hs_buf_put_bool(&p->out, true);
    if (value.len) {
      put_key(&p->out, "value");
      hs_buf_put_raw(&p->out, value.p, value.len);
    }
  }
  port_reply(p, &r);
}

void hs_repl_port_finish_siblings(hs_repl_port *p, uint64_t tag, const hs_ml_version *v, uint32_t n) {
  hs_buf arr;
  hs_buf_init(&arr);
  hs_buf_put_table(&arr, n, 0);
  for (uint32_t i = 0; i < n; i++) hs_buf_put_raw(&arr, v[i].value, v[i].value_len);
  hs_repl_req r;
  if (!arr.failed && port_take(p, tag, &r)) {
    if (!r.client) {
      if (p->hooks.done) p->hooks.done(p->hooks.ud, r.user_tag, HS_OK, (hs_value){arr.data, arr.len}, 0);
    } else {
      hs_buf_reset(&p->out);
      hs_buf_put_table(&p->out, 0, 3);
      put_key(&p->out, "ok");
      hs_buf_put_bool(&p->out, true);
      put_key(&p->out, "value");
      hs_buf_put_raw(&p->out, arr.data, arr.len);
      put_key(&p->out, "siblings");
      hs_buf_put_int(&p->out, n);
      port_reply(p, &r);
    }
  }
  hs_buf_free(&arr);
}
