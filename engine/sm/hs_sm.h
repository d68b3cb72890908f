/*
 * hs_sm.h - the state-machine interface: what a replication protocol drives.
 *
 * A protocol family's adapter (engine/raft/hs_raft_node.c, and the families to come) applies
 * committed commands to a state machine through these operations, snapshots it to compact
 * its log and restores it after a crash or an installed snapshot. Commands, results and
 * queries are hs_value encodings (core/hs_value.h); a snapshot is opaque bytes. Every
 * operation is deterministic and synchronous: same commands in the same order, same state.
 *
 * Implementations: the KV store (sm/hs_kv.h, wrapped by the Lua binding), and any Lua table
 * with apply/snapshot/restore/read methods (engine/lua/protocols/hs_lua_raft_node.c). A protocol core never
 * sees this interface: its adapter does.
 */
#ifndef HS_SM_H
#define HS_SM_H

#include "core/hs_value.h"

typedef struct hs_sm_ops {
  /* Applies a command; writes the encoded result to out. NULL, or an error message (the
   * command is then considered applied with no effect, and the request fails with it). */
  const char *(*apply)(void *ud, hs_value cmd, hs_buf *out);
  /* The encoded state (NULL: cannot snapshot). The bytes stay valid until the next call. */
  const uint8_t *(*snapshot)(void *ud, size_t *len);
  /* Replaces the state (data NULL: the empty initial state). */
  void (*restore)(void *ud, const uint8_t *data, size_t len);
  /* Answers a read-only query against the current state; NULL, or an error message. */
  const char *(*query)(void *ud, hs_value q, hs_buf *out);
  void *ud;
} hs_sm_ops;

#endif
