/*
 * hs_lua_sm.h - a protocol node's state machine as its adapter sees it (engine/sm/hs_sm.h):
 * hs.KVStateMachine in C, or any Lua table with apply/snapshot/restore/read and an optional
 * validate(cmd), whose methods run through the door (hs_door_call): an error stops the run.
 * RaftNode and the Paxos nodes embed one; the node gives it the thread to call Lua on and a
 * way to push its Lua state machine.
 */
#ifndef HS_LUA_SM_H
#define HS_LUA_SM_H

#include "protocols/hs_lua_protocols.h"
#include "sm/hs_sm.h"

typedef struct hs_lsm {
  hs_kv *kv;       /* the C state machine, or NULL for a Lua one */
  hs_buf buf;      /* the bytes of the last snapshot or query result */
  char error[160]; /* the last refusal or failure, for the messages returned */
  const hs_entity *entity; /* the node, for error messages (registered before any call) */
  void *owner;
  lua_State *(*thread)(void *owner);          /* the thread to call Lua on now, or NULL */
  void (*push_sm)(lua_State *L, void *owner); /* pushes the Lua state machine */
} hs_lsm;

void hs_lsm_init(hs_lsm *s, const hs_entity *entity, void *owner, lua_State *(*thread)(void *owner),
                 void (*push_sm)(lua_State *L, void *owner));
void hs_lsm_free(hs_lsm *s);
/* Takes the state machine at idx (an hs.KVStateMachine, or a Lua table that push_sm will push)
 * and returns the operations for the adapter. */
hs_sm_ops hs_lsm_ops(lua_State *L, hs_lsm *s, int idx);
/* Whether the state machine takes the command: NULL, or why not. The command is the encoded
 * bytes (p, len) and, when value_idx is nonzero, the Lua value at that index (a Lua state
 * machine's validate(cmd) gets it; else it is decoded from the bytes). A Lua validate that
 * raises stops the run through the door when `protect` (a network submit), else the error
 * propagates to the Lua caller (of submit). */
const char *hs_lsm_validate(lua_State *L, hs_lsm *s, const uint8_t *p, size_t len, int value_idx, int protect);

#endif
