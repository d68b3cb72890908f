#include "hs_lua.h"

/* Resets a thread to an empty, reusable state (closing its pending to-be-closed variables). */
int hs_reset_thread(lua_State *co, lua_State *from) {
#if LUA_VERSION_RELEASE_NUM >= 50406
  int status = lua_closethread(co, from);
#else
  (void)from;
  int status = lua_resetthread(co);
#endif
  lua_settop(co, 0); /* the reset leaves the error object on the stack */
  return status;
}
