/*
 * hs_lua_net.h - the Network object of the Lua binding, shared with protocol bindings.
 *
 * Every payload on a network is a pooled blob: the envelope (kind, request id:
 * net/hs_envelope.h) and an hs_value body. C protocols build and read the same format, so Lua entities and C nodes
 * talk to each other, and interception sees every payload as a Lua value.
 */
#ifndef HS_LUA_NET_H
#define HS_LUA_NET_H

#include "hs_lua.h"
#include "net/hs_envelope.h"

#define HS_NET_MT "happysim.Network"
#define HS_NETS_KEY "happysim.networks" /* registry: weak map lightuserdata(lnet) -> Network */

/* The binding's names for the envelope (net/hs_envelope.h). */
enum hs_msg_kind { HS_MSG_PLAIN = HS_ENVELOPE_PLAIN, HS_MSG_REQUEST = HS_ENVELOPE_REQUEST, HS_MSG_REPLY = HS_ENVELOPE_REPLY };
#define HS_MSG_HEADER HS_ENVELOPE_SIZE

typedef struct hs_lnet {
  hs_net net;
  hs_lsim *owner; /* NULL until bound to a simulation */
  hs_blob_pool pool;
  hs_buf scratch;        /* encoding buffer, reused */
  lua_State *L;          /* the thread of the Lua call now sending, if any */
  int has_filter;
  uint64_t next_request; /* request ids: 1, 2, ... */
} hs_lnet;

/* Encodes the value at idx into a blob with the given header; raises on bad values. */
hs_blob *hs_lnet_encode(lua_State *L, hs_lnet *ln, int idx, int kind, uint64_t request_id, const char *what);
/* Pushes the body of a blob as a Lua value. */
void hs_lnet_push_body(lua_State *L, const hs_blob *b);
static inline int hs_blob_kind(const hs_blob *b) { return b->size >= HS_MSG_HEADER ? b->data[0] : -1; }
uint64_t hs_blob_request_id(const hs_blob *b);
/* The Network at idx, bound to a simulation (raises otherwise). */
hs_lnet *hs_check_bound_net(lua_State *L, int idx);
/* Pushes the Lua object of an entity registered with ls (a table or a C entity userdata). */
void hs_push_entity_object(lua_State *L, hs_lsim *ls, const hs_entity *e);
/* Sends the value at idx from src to dst (kind and request id as given). HS_ codes. */
int hs_lnet_send_value(lua_State *L, hs_lnet *ln, hs_entity *src, hs_entity *dst, const char *type, int idx,
                       int kind, uint64_t request_id);
/* Delivers a message to a Lua entity: its handle_event runs as a process with the message. */
void hs_lnet_deliver_to_lua(hs_entity *e, hs_message *m);

#endif
