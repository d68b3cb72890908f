/*
 * hs_lua_request.h - a protocol node's pending client request, settled: a Future (or a table
 * { future = f }) is resolved or rejected through the door; a client over the network gets a
 * reply message on the network its request came by. RaftNode, the Paxos nodes and the lock
 * server share it.
 */
#ifndef HS_LUA_REQUEST_H
#define HS_LUA_REQUEST_H

#include "hs_lua_net.h"
#include "protocols/hs_lua_protocols.h"

/* The state table of a node is on top, its pending values in field futures by tag: replaces the
 * state table with futures[tag], which it clears, and returns its type (LUA_TNIL: none, settled
 * already). */
int hs_lua_take_pending(lua_State *L, uint64_t tag);

/* A client's request m over the network: pushes its pending value { client =, net =,
 * request_id =, type = } (the client and the network as light userdata). */
void hs_lua_push_client_request(lua_State *L, const hs_message *m);

/* Sends the reply value at `reply` from node to the client whose pending value is at `pending`,
 * unless node is crashed. */
void hs_lua_reply_request(lua_State *L, hs_entity *node, int pending, int reply);

/* Settles the pending value that sits below the nvalues outcome values on top of L: with ok,
 * (index[, result]); else (err). node settles it (the door's error site, the reply's sender).
 * Pops everything. */
void hs_lua_settle_request(lua_State *L, hs_entity *node, int ok, int nvalues);

#endif
