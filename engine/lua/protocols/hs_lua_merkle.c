/*
 * hs_lua_merkle.c - hs.MerkleTree: the Merkle tree of anti-entropy (engine/repl/hs_merkle.h)
 * as a Lua value.
 *
 *   local t = hs.MerkleTree{ leaf_bits = 10, fanout_bits = 1 }   -- or hs.MerkleTree()
 *   t:update("k", value)      -- sets key k's value (any value that can be sent)
 *   t.root_hash               -- 16 hex digits; equal trees (same pairs, any order) agree
 *   t:diff(other)             -- the sorted list of keys whose values differ (or are in one only)
 *   t.size                    -- keys
 */
#include <stdlib.h>
#include <string.h>

#include "protocols/hs_lua_repl.h"

#define MERKLE_MT "happysim.MerkleTree"

typedef struct lmerkle {
  hs_merkle t;
  hs_buf buf;
  int closed;
} lmerkle;

static lmerkle *check(lua_State *L, int idx) {
  lmerkle *m = luaL_checkudata(L, idx, MERKLE_MT);
  if (m->closed) luaL_error(L, "MerkleTree: use after close");
  return m;
}

static int l_update(lua_State *L) {
  lmerkle *m = check(L, 1);
  size_t klen;
  const char *key = hs_check_string(L, 2, &klen);
  luaL_checkany(L, 3);
  hs_buf_reset(&m->buf);
  hs_lua_encode(L, &m->buf, 3, "update: value");
  if (m->buf.failed) return luaL_error(L, "update: out of memory");
  int rc = hs_merkle_update_value(&m->t, key, klen, m->buf.data, m->buf.len);
  if (rc == HS_EINVAL) return luaL_argerror(L, 2, "key too long");
  if (rc != HS_OK) return luaL_error(L, "update: out of memory");
  lua_settop(L, 1);
  return 1;
}

static void collect(void *ud, const uint8_t *key, uint32_t len) {
  lua_State *L = ud;
  lua_pushlstring(L, (const char *)key, len);
  lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
}

/* t:diff(other) -> sorted list of the keys whose values differ. */
static int l_diff(lua_State *L) {
  lmerkle *a = check(L, 1), *b = check(L, 2);
  if (!hs_merkle_same_shape(&a->t, &b->t)) return luaL_argerror(L, 2, "a MerkleTree of the same shape expected");
  lua_settop(L, 2);
  lua_newtable(L);
  hs_merkle_diff(&a->t, &b->t, collect, L, NULL);
  lua_getglobal(L, "table");
  lua_getfield(L, -1, "sort");
  lua_pushvalue(L, 3);
  lua_call(L, 1, 0);
  lua_settop(L, 3);
  return 1;
}

static int l_index(lua_State *L) {
  lmerkle *m = check(L, 1);
  const char *k = luaL_checkstring(L, 2);
  if (strcmp(k, "root_hash") == 0) {
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)hs_merkle_root(&m->t));
    lua_pushstring(L, hex);
  } else if (strcmp(k, "size") == 0) {
    lua_pushinteger(L, (lua_Integer)hs_merkle_size(&m->t));
  } else if (strcmp(k, "update") == 0) {
    lua_pushcfunction(L, l_update);
  } else if (strcmp(k, "diff") == 0) {
    lua_pushcfunction(L, l_diff);
  } else {
    lua_pushnil(L);
  }
  return 1;
}

static int l_gc(lua_State *L) {
  lmerkle *m = luaL_checkudata(L, 1, MERKLE_MT);
  if (!m->closed) {
    hs_merkle_free(&m->t);
    hs_buf_free(&m->buf);
    m->closed = 1;
  }
  return 0;
}

static int l_tostring(lua_State *L) {
  lmerkle *m = check(L, 1);
  lua_pushfstring(L, "MerkleTree (%d keys)", (int)hs_merkle_size(&m->t));
  return 1;
}

/* hs.MerkleTree([{ leaf_bits = 10, fanout_bits = 1 }]) */
int hs_l_merkle_new(lua_State *L) {
  lua_Integer leaf = 10, fanout = 1;
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    static const char *const opts[] = {"leaf_bits", "fanout_bits", NULL};
    hs_check_options(L, 1, 1, opts);
    leaf = hs_lrepl_opt_int(L, "leaf_bits", 10, 1, HS_MERKLE_MAX_LEAF_BITS);
    fanout = hs_lrepl_opt_int(L, "fanout_bits", 1, 1, HS_MERKLE_MAX_FANOUT_BITS);
    if (leaf % fanout != 0) luaL_argerror(L, 1, "field 'fanout_bits' must divide 'leaf_bits'");
  }
  lmerkle *m = lua_newuserdatauv(L, sizeof *m, 0);
  memset(m, 0, sizeof *m);
  m->closed = 1;
  if (luaL_newmetatable(L, MERKLE_MT)) {
    static const luaL_Reg meta[] = {{"__index", l_index}, {"__gc", l_gc}, {"__close", l_gc}, {"__tostring", l_tostring}, {NULL, NULL}};
    luaL_setfuncs(L, meta, 0);
  }
  lua_setmetatable(L, -2);
  if (hs_merkle_init(&m->t, (uint32_t)leaf, (uint32_t)fanout) != HS_OK) return luaL_error(L, "MerkleTree: out of memory");
  hs_buf_init(&m->buf);
  m->closed = 0;
  return 1;
}
