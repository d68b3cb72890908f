#include "sm/hs_session.h"

#include "core/hs_rng.h"

#include <stdlib.h>
#include <string.h>

/* One remembered request: its id and outcome (result bytes, or an error message). */
typedef struct applied_req {
  uint64_t id;
  uint8_t *bytes; /* result, or the NUL-terminated error message when is_err */
  uint32_t len, cap;
  bool is_err;
} applied_req;

/* When the window is full, the lowest id is forgotten and becomes the floor. Forgetting in
 * any order would be safe (an id at or below the floor is never applied again), but the
 * lowest id keeps the floor as low as it can be, so a request that reordering delayed past
 * later ones of the same client is still applied rather than refused. */
struct hs_session {
  char *client;
  size_t client_len;
  uint64_t hash;
  uint64_t floor; /* the highest id forgotten (0: none yet) */
  uint32_t count; /* remembered requests, at most HS_SESSION_WINDOW */
  applied_req window[HS_SESSION_WINDOW];
};

/* ---- envelopes ---------------------------------------------------------------------------- */

void hs_session_begin(hs_buf *out, const char *client, size_t client_len, uint64_t request_id) {
  uint8_t tag = HS_SESSION_TAG;
  hs_buf_put_raw(out, &tag, 1);
  hs_buf_put_string(out, client, client_len);
  hs_buf_put_int(out, (int64_t)request_id);
}

/* Reads the value at *p (bounded by end) into v and moves past it; false when malformed. */
static bool next_value(const uint8_t **p, const uint8_t *end, hs_value *v) {
  *v = (hs_value){*p, (size_t)(end - *p)};
  size_t size = hs_value_size(*v);
  if (!size) return false;
  v->len = size;
  *p += size;
  return true;
}

int hs_session_parse(const uint8_t *data, size_t len, hs_session_cmd *out) {
  if (!len || data[0] != HS_SESSION_TAG) return 0;
  const uint8_t *p = data + 1, *end = data + len;
  hs_value client, id;
  int64_t rid;
  if (!next_value(&p, end, &client) || !next_value(&p, end, &id) || !hs_value_int(id, &rid)) return -1;
  out->client = hs_value_string(client, &out->client_len);
  if (!out->client) return -1;
  out->request_id = (uint64_t)rid;
  if (p == end) return -1;
  out->cmd = (hs_value){p, (size_t)(end - p)}; /* the rest: the state machine checks it, as any command */
  return 1;
}

/* ---- the table ---------------------------------------------------------------------------- */

void hs_sessions_init(hs_sessions *s) {
  memset(s, 0, sizeof *s);
  hs_buf_init(&s->snap);
}

void hs_sessions_clear(hs_sessions *s) {
  for (uint32_t i = 0; i < s->count; i++) {
    hs_session *x = &s->list[i];
    for (uint32_t k = 0; k < x->count; k++) free(x->window[k].bytes);
    free(x->client);
  }
  s->count = 0;
  if (s->index) memset(s->index, 0, s->index_cap * sizeof *s->index);
}

void hs_sessions_free(hs_sessions *s) {
  hs_sessions_clear(s);
  free(s->list);
  free(s->index);
  hs_buf_free(&s->snap);
  memset(s, 0, sizeof *s);
}

/* The slot of client in the index: holding it, or the empty one where it would go. */
static uint32_t *slot_of(const hs_sessions *s, const char *client, size_t len, uint64_t h) {
  for (uint32_t i = (uint32_t)h & (s->index_cap - 1);; i = (i + 1) & (s->index_cap - 1)) {
    uint32_t *slot = &s->index[i];
    if (!*slot) return slot;
    const hs_session *x = &s->list[*slot - 1];
    if (x->hash == h && x->client_len == len && memcmp(x->client, client, len) == 0) return slot;
  }
}

static hs_session *find(const hs_sessions *s, const char *client, size_t len) {
  if (!s->count) return NULL;
  uint32_t *slot = slot_of(s, client, len, hs_hash_bytes(client, len));
  return *slot ? &s->list[*slot - 1] : NULL;
}

static bool grow_index(hs_sessions *s) {
  uint32_t cap = s->index_cap ? s->index_cap * 2 : 16;
  uint32_t *index = calloc(cap, sizeof *index);
  if (!index) return false;
  free(s->index);
  s->index = index;
  s->index_cap = cap;
  for (uint32_t i = 0; i < s->count; i++) *slot_of(s, s->list[i].client, s->list[i].client_len, s->list[i].hash) = i + 1;
  return true;
}

static hs_session *add(hs_sessions *s, const char *client, size_t len) {
  if ((s->count + 1) * 2 > s->index_cap && !grow_index(s)) return NULL;
  if (s->count == s->cap) {
    uint32_t cap = s->cap ? s->cap * 2 : 8;
    hs_session *list = realloc(s->list, cap * sizeof *list);
    if (!list) return NULL;
    s->list = list;
    s->cap = cap;
  }
  char *name = malloc(len + 1);
  if (!name) return NULL;
  memcpy(name, client, len);
  name[len] = 0;
  hs_session *x = &s->list[s->count];
  memset(x, 0, sizeof *x);
  x->client = name;
  x->client_len = len;
  x->hash = hs_hash_bytes(client, len);
  *slot_of(s, client, len, x->hash) = ++s->count;
  return x;
}

static applied_req *remembered(hs_session *x, uint64_t id) {
  for (uint32_t k = x->count; k-- > 0;)
    if (x->window[k].id == id) return &x->window[k];
  return NULL;
}

hs_session_verdict hs_sessions_check(hs_sessions *s, const hs_session_cmd *c, hs_value *result,
                                               const char **err) {
  hs_session *x = find(s, c->client, c->client_len);
  if (!x) return HS_SESSION_NEW;
  applied_req *a = remembered(x, c->request_id);
  if (a) {
    *result = a->is_err ? (hs_value){NULL, 0} : (hs_value){a->bytes, a->len};
    *err = a->is_err ? (const char *)a->bytes : NULL;
    return HS_SESSION_DUPLICATE;
  }
  return c->request_id <= x->floor ? HS_SESSION_EXPIRED : HS_SESSION_NEW;
}

/* Stores an outcome in x's window, forgetting the lowest id when it is full (its buffer is
 * reused: a steady client allocates nothing per request). */
static int remember(hs_session *x, uint64_t id, const uint8_t *bytes, size_t len, bool is_err) {
  if (len > UINT32_MAX) return HS_ENOMEM;
  applied_req *slot;
  if (x->count < HS_SESSION_WINDOW) {
    slot = &x->window[x->count];
    *slot = (applied_req){0};
  } else {
    slot = &x->window[0];
    for (uint32_t k = 1; k < x->count; k++)
      if (x->window[k].id < slot->id) slot = &x->window[k];
  }
  if (!slot->bytes || slot->cap < len) {
    uint8_t *buf = realloc(slot->bytes, len ? len : 1);
    if (!buf) return HS_ENOMEM;
    slot->bytes = buf;
    slot->cap = len ? (uint32_t)len : 1;
  }
  if (x->count < HS_SESSION_WINDOW)
    x->count++;
  else if (slot->id > x->floor)
    x->floor = slot->id;
  if (len) memcpy(slot->bytes, bytes, len);
  slot->id = id;
  slot->len = (uint32_t)len;
  slot->is_err = is_err;
  return HS_OK;
}

int hs_sessions_record(hs_sessions *s, const hs_session_cmd *c, const uint8_t *result,
                            size_t result_len, const char *err) {
  hs_session *x = find(s, c->client, c->client_len);
  if (!x && !(x = add(s, c->client, c->client_len))) return HS_ENOMEM;
  if (err) return remember(x, c->request_id, (const uint8_t *)err, strlen(err) + 1, true);
  return remember(x, c->request_id, result, result_len, false);
}

/* ---- snapshots -----------------------------------------------------------------------------
 * HS_SESSION_TAG, then as hs_values: the session count; per session its client, floor
 * and window count, then per request (in window order) its id, whether it failed and its bytes;
 * then whether the state machine's state is empty (a boolean) and its snapshot bytes. */

const uint8_t *hs_sessions_snapshot(hs_sessions *s, const uint8_t *sm, size_t sm_len, size_t *len) {
  if (!s->count) {
    *len = sm_len;
    return sm;
  }
  hs_buf *b = &s->snap;
  hs_buf_reset(b);
  uint8_t tag = HS_SESSION_TAG;
  hs_buf_put_raw(b, &tag, 1);
  hs_buf_put_int(b, s->count);
  for (uint32_t i = 0; i < s->count; i++) {
    const hs_session *x = &s->list[i];
    hs_buf_put_string(b, x->client, x->client_len);
    hs_buf_put_int(b, (int64_t)x->floor);
    hs_buf_put_int(b, x->count);
    for (uint32_t k = 0; k < x->count; k++) { /* in place order: a restored window is laid out alike */
      const applied_req *a = &x->window[k];
      hs_buf_put_int(b, (int64_t)a->id);
      hs_buf_put_bool(b, a->is_err);
      hs_buf_put_string(b, (const char *)a->bytes, a->len);
    }
  }
  hs_buf_put_bool(b, sm == NULL);
  hs_buf_put_raw(b, sm, sm_len);
  if (b->failed) return NULL;
  *len = b->len;
  return b->data;
}

static bool next_int(const uint8_t **p, const uint8_t *end, int64_t *out) {
  hs_value v;
  return next_value(p, end, &v) && hs_value_int(v, out);
}

int hs_sessions_restore(hs_sessions *s, const uint8_t *data, size_t len, const uint8_t **sm, size_t *sm_len) {
  hs_sessions_clear(s);
  *sm = data;
  *sm_len = len;
  if (!data || !len || data[0] != HS_SESSION_TAG) return HS_OK;
  const uint8_t *p = data + 1, *end = data + len;
  int64_t n;
  if (!next_int(&p, end, &n) || n < 0) goto malformed;
  for (int64_t i = 0; i < n; i++) {
    hs_value name, v;
    int64_t floor, count;
    size_t name_len;
    const char *client;
    if (!next_value(&p, end, &name) || !(client = hs_value_string(name, &name_len)) || !next_int(&p, end, &floor) ||
        !next_int(&p, end, &count) || count < 0 || count > HS_SESSION_WINDOW || find(s, client, name_len))
      goto malformed;
    hs_session *x = add(s, client, name_len);
    if (!x) {
      hs_sessions_clear(s);
      return HS_ENOMEM;
    }
    x->floor = (uint64_t)floor;
    for (int64_t k = 0; k < count; k++) {
      int64_t id;
      size_t blen;
      const char *bytes;
      if (!next_int(&p, end, &id) || !next_value(&p, end, &v) || hs_value_type(v) > HS_V_TRUE ||
          hs_value_type(v) == HS_V_NIL || !next_value(&p, end, &name) || !(bytes = hs_value_string(name, &blen)))
        goto malformed;
      if (hs_value_type(v) == HS_V_TRUE && (!blen || bytes[blen - 1] != 0)) goto malformed; /* an error message */
      if (remember(x, (uint64_t)id, (const uint8_t *)bytes, blen, hs_value_type(v) == HS_V_TRUE) != HS_OK) {
        hs_sessions_clear(s);
        return HS_ENOMEM;
      }
    }
  }
  hs_value empty;
  if (!next_value(&p, end, &empty) || (hs_value_type(empty) != HS_V_TRUE && hs_value_type(empty) != HS_V_FALSE))
    goto malformed;
  *sm = hs_value_type(empty) == HS_V_TRUE ? NULL : p;
  *sm_len = (size_t)(end - p);
  return HS_OK;
malformed:
  hs_sessions_clear(s);
  *sm = NULL;
  *sm_len = 0;
  return HS_EINVAL;
}

/* ---- applying -------------------------------------------------------------------------------- */

const char hs_session_malformed_msg[] = "malformed command: not one whole encoded value (not applied)";

const char hs_session_expired_msg[] =
    "the client's session no longer remembers this request: it was not applied now, and may have been before";

const char *hs_sessions_apply(hs_sessions *s, const hs_sm_ops *sm, const uint8_t *data, size_t len, hs_buf *out,
                              hs_session_counts *counts) {
  if (!sm->apply) return NULL;
  hs_session_cmd c;
  switch (hs_session_parse(data, len, &c)) {
  case 0:
    if (hs_value_size((hs_value){data, len}) != len) return hs_session_malformed_msg;
    return sm->apply(sm->ud, (hs_value){data, len}, out);
  case 1: break;
  default: return "malformed client-session command";
  }
  if (hs_value_size(c.cmd) != c.cmd.len) return hs_session_malformed_msg;
  hs_value cached;
  const char *err = NULL;
  switch (hs_sessions_check(s, &c, &cached, &err)) {
  case HS_SESSION_DUPLICATE:
    counts->duplicates++;
    hs_buf_put_raw(out, cached.p, cached.len);
    return err;
  case HS_SESSION_EXPIRED: counts->expired++; return hs_session_expired_msg;
  case HS_SESSION_NEW: break;
  }
  size_t start = out->len;
  err = sm->apply(sm->ud, c.cmd, out);
  if (hs_sessions_record(s, &c, out->data + start, out->len - start, err) != HS_OK)
    return "out of memory recording the client session";
  return err;
}
