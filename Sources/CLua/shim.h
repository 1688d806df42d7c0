#ifndef FLASHPUSH_CLUA_SHIM_H
#define FLASHPUSH_CLUA_SHIM_H
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

// Lua's API has many macros; LuaKit (the only Swift that imports CLua) calls these instead.
static inline int clua_pcall(lua_State *L, int nargs, int nresults, int msgh) {
    return lua_pcall(L, nargs, nresults, msgh);
}
static inline void clua_pop(lua_State *L, int n) { lua_pop(L, n); }
static inline void clua_newtable(lua_State *L) { lua_newtable(L); }
static inline const char *clua_tostring(lua_State *L, int index) { return lua_tostring(L, index); }
static inline int clua_isnil(lua_State *L, int index) { return lua_isnil(L, index); }
static inline int clua_upvalueindex(int i) { return lua_upvalueindex(i); }
#endif
