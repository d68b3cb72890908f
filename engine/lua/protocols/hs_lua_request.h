/*
 * hs_lua_request.h - a consensus node's pending client request, settled: a Future (or a table
 * { future = f }) is resolved or rejected through the door; a client over the network
 * ({ client =, request_id =, type = }) gets a reply message. RaftNode and the Paxos nodes
 * share it.
 */
#ifndef HS_LUA_REQUEST_H
#define HS_LUA_REQUEST_H

#include "hs_lua_net.h"
#include "protocols/hs_lua_protocols.h"

/* Settles the pending value that sits below the nvalues outcome values on top of L: with ok,
 * (index[, result]); else (err). node settles it (the door's error site, the reply's sender)
 * over ln. Pops everything. */
void hs_lua_settle_request(lua_State *L, hs_entity *node, hs_lnet *ln, int ok, int nvalues);

#endif
