/*
 * hs_lua_value.c - Lua values to and from the hs_value byte encoding (value semantics
 * for messages and commands). Tables are copied deeply; shared subtables arrive as
 * separate copies; metatables, functions, threads and userdata are refused.
 *
 * The encoding is canonical: a table's key/value pairs are written sorted by the bytes of
 * their encoded keys, so equal tables encode to equal bytes whatever order their keys were
 * inserted in and whatever the process's string hash seed (Lua randomizes it per process,
 * and lua_next follows it). Byte equality is then value equality (hs_value_equal, a KV
 * compare-and-set), and the bytes are the same in every run of a seed.
 */
#include <stdlib.h>
#include <string.h>

#include "hs_lua.h"

#define MAX_DEPTH 100
#define SMALL_MAP 16 /* pairs sorted with a stack array; more use a userdata */

/* One encoded key/value pair inside the buffer: where it starts, its key's and its size. */
typedef struct pair_span {
  size_t at;
  size_t key_len;
  size_t len;
} pair_span;

static _Thread_local const uint8_t *span_base; /* the buffer the spans point into, for the comparator */

static int span_cmp(const void *a, const void *b) {
  const pair_span *x = a, *y = b;
  size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
  int c = memcmp(span_base + x->at, span_base + y->at, n);
  if (c) return c;
  return x->key_len < y->key_len ? -1 : x->key_len > y->key_len; /* keys are distinct: never 0 */
}

/* Rewrites the n pairs encoded at b->data[from ..] in the order of their keys' bytes: the
 * sorted copy goes after them, then replaces them. */
static void sort_pairs(hs_buf *b, size_t from, pair_span *spans, uint32_t n) {
  size_t len = b->len - from;
  if (!hs_buf_reserve(b, len)) return;
  span_base = b->data;
  if (n <= SMALL_MAP) { /* the usual few fields: an insertion sort, no calls through qsort */
    for (uint32_t i = 1; i < n; i++) {
      pair_span x = spans[i];
      uint32_t j = i;
      for (; j > 0 && span_cmp(&spans[j - 1], &x) > 0; j--) spans[j] = spans[j - 1];
      spans[j] = x;
    }
  } else {
    qsort(spans, n, sizeof *spans, span_cmp);
  }
  uint8_t *out = b->data + from + len;
  for (uint32_t i = 0; i < n; i++) {
    memcpy(out, b->data + spans[i].at, spans[i].len);
    out += spans[i].len;
  }
  memmove(b->data + from, b->data + from + len, len);
  b->len = from + len;
}

/* Encodes the value at idx; raises with `what` naming the argument on failure. */
static void encode(lua_State *L, hs_buf *b, int idx, int depth, const char *what) {
  idx = lua_absindex(L, idx);
  switch (lua_type(L, idx)) {
  case LUA_TNIL: hs_buf_put_nil(b); break;
  case LUA_TBOOLEAN: hs_buf_put_bool(b, lua_toboolean(L, idx)); break;
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx))
      hs_buf_put_int(b, lua_tointeger(L, idx));
    else
      hs_buf_put_double(b, lua_tonumber(L, idx));
    break;
  case LUA_TSTRING: {
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    hs_buf_put_string(b, s, len);
    break;
  }
  case LUA_TTABLE: {
    if (depth >= MAX_DEPTH) luaL_error(L, "%s is nested too deeply (or contains a cycle)", what);
    luaL_checkstack(L, 5, "payload too deep");
    lua_Integer narr = (lua_Integer)lua_rawlen(L, idx);
    /* only a proper sequence goes to the array part */
    for (lua_Integer i = 1; i <= narr; i++) {
      if (lua_rawgeti(L, idx, i) == LUA_TNIL) narr = i - 1;
      lua_pop(L, 1);
    }
    size_t header = b->len;
    hs_buf_put_table(b, (uint32_t)narr, 0);
    for (lua_Integer i = 1; i <= narr; i++) {
      lua_rawgeti(L, idx, i);
      encode(L, b, -1, depth + 1, what);
      lua_pop(L, 1);
    }
    uint32_t nmap = 0, cap = SMALL_MAP;
    pair_span small[SMALL_MAP], *spans = small;
    size_t map_from = b->len;
    lua_pushnil(L); /* the slot that anchors a big map's spans */
    int spans_slot = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      if (lua_isinteger(L, -2)) {
        lua_Integer k = lua_tointeger(L, -2);
        if (k >= 1 && k <= narr) {
          lua_pop(L, 1);
          continue;
        }
      }
      int kt = lua_type(L, -2);
      if (kt != LUA_TSTRING && kt != LUA_TNUMBER && kt != LUA_TBOOLEAN)
        luaL_error(L, "%s has a key of type %s; keys must be strings, numbers or booleans", what, luaL_typename(L, -2));
      if (nmap == cap) { /* a big map: the spans go to a userdata, freed by the GC even on an error */
        cap *= 2;
        pair_span *more = lua_newuserdatauv(L, cap * sizeof *more, 0);
        memcpy(more, spans, nmap * sizeof *more);
        spans = more;
        lua_replace(L, spans_slot);
      }
      size_t at = b->len;
      encode(L, b, -2, depth + 1, what);
      size_t key_len = b->len - at;
      encode(L, b, -1, depth + 1, what);
      spans[nmap++] = (pair_span){at, key_len, b->len - at};
      lua_pop(L, 1);
    }
    if (nmap > 1 && !b->failed) sort_pairs(b, map_from, spans, nmap);
    lua_pop(L, 1); /* the spans' slot */
    hs_buf_patch_table(b, header, (uint32_t)narr, nmap);
    break;
  }
  default:
    luaL_error(L, "%s contains a %s; only nil, booleans, numbers, strings and tables can be sent", what,
               luaL_typename(L, idx));
  }
}

void hs_lua_encode(lua_State *L, hs_buf *b, int idx, const char *what) {
  encode(L, b, idx, 0, what);
  if (b->failed) luaL_error(L, "%s: out of memory", what);
}

static size_t decode(lua_State *L, const uint8_t *p, size_t len) {
  hs_value v = {p, len};
  size_t size = hs_value_size(v);
  if (!size) luaL_error(L, "malformed value");
  luaL_checkstack(L, 3, "value too deep");
  switch (hs_value_type(v)) {
  case HS_V_NIL: lua_pushnil(L); break;
  case HS_V_FALSE: lua_pushboolean(L, 0); break;
  case HS_V_TRUE: lua_pushboolean(L, 1); break;
  case HS_V_INT: {
    int64_t i;
    hs_value_int(v, &i);
    lua_pushinteger(L, (lua_Integer)i);
    break;
  }
  case HS_V_DOUBLE: {
    double d;
    hs_value_number(v, &d);
    lua_pushnumber(L, d);
    break;
  }
  case HS_V_STRING: {
    size_t n;
    const char *s = hs_value_string(v, &n);
    lua_pushlstring(L, s, n);
    break;
  }
  case HS_V_TABLE: {
    uint32_t narr, nmap;
    hs_value_table(v, &narr, &nmap);
    lua_createtable(L, (int)narr, (int)nmap);
    size_t off = 9;
    for (uint32_t i = 1; i <= narr; i++) {
      off += decode(L, p + off, len - off);
      lua_rawseti(L, -2, i);
    }
    for (uint32_t i = 0; i < nmap; i++) {
      off += decode(L, p + off, len - off);
      off += decode(L, p + off, len - off);
      if (lua_isnil(L, -2)) luaL_error(L, "malformed value");
      lua_rawset(L, -3);
    }
    break;
  }
  default: luaL_error(L, "malformed value");
  }
  return size;
}

void hs_lua_decode(lua_State *L, const uint8_t *p, size_t len) { decode(L, p, len); }

hs_buf *hs_lua_newbuf(lua_State *L) {
  hs_buf *bp = lua_newuserdatauv(L, sizeof(hs_buf), 0);
  hs_buf_init(bp);
  luaL_setmetatable(L, "happysim.Buffer");
  return bp;
}

/* core.encode(v) -> string */
static int l_encode(lua_State *L) {
  luaL_checkany(L, 1);
  lua_settop(L, 1);
  hs_buf *bp = hs_lua_newbuf(L); /* an error while encoding cannot leak it */
  hs_lua_encode(L, bp, 1, "value");
  lua_pushlstring(L, (const char *)bp->data, bp->len);
  hs_buf_free(bp);
  return 1;
}

/* core.decode(s) -> value */
static int l_decode(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  hs_value v = {(const uint8_t *)s, len};
  if (hs_value_size(v) != len) return luaL_argerror(L, 1, "not an encoded value");
  hs_lua_decode(L, (const uint8_t *)s, len);
  return 1;
}

/* core.copy(v) -> a deep copy with value semantics (encode then decode) */
static int l_copy(lua_State *L) {
  l_encode(L);
  lua_replace(L, 1);
  lua_settop(L, 1);
  return l_decode(L);
}

static int buffer_gc(lua_State *L) {
  hs_buf_free(luaL_checkudata(L, 1, "happysim.Buffer"));
  return 0;
}

void hs_value_open(lua_State *L) {
  luaL_newmetatable(L, "happysim.Buffer");
  lua_pushcfunction(L, buffer_gc);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
}

const luaL_Reg hs_value_funcs[] = {{"encode", l_encode}, {"decode", l_decode}, {"copy", l_copy}, {NULL, NULL}};
