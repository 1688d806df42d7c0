#ifndef FLASHPUSH_CLUA_SHIM_H
#define FLASHPUSH_CLUA_SHIM_H
// The Lua C API as LuaKit (the only Swift that imports CLua) sees it: Lua's macros as
// static inline functions, plus the few pieces that must be C because they raise Lua
// errors (longjmp) — the trampoline for Swift functions, the budget hook, the allocator.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

// MARK: Macros as functions

static inline int clua_pcall(lua_State *L, int nargs, int nresults, int msgh) { return lua_pcall(L, nargs, nresults, msgh); }
static inline void clua_pop(lua_State *L, int n) { lua_pop(L, n); }
static inline void clua_newtable(lua_State *L) { lua_newtable(L); }
static inline const char *clua_tostring(lua_State *L, int index) { return lua_tostring(L, index); }
static inline int clua_isnil(lua_State *L, int index) { return lua_isnil(L, index); }
static inline int clua_isnoneornil(lua_State *L, int index) { return lua_isnoneornil(L, index); }
static inline int clua_upvalueindex(int i) { return lua_upvalueindex(i); }
static inline void clua_insert(lua_State *L, int index) { lua_insert(L, index); }
static inline void clua_remove(lua_State *L, int index) { lua_remove(L, index); }
static inline void clua_replace(lua_State *L, int index) { lua_replace(L, index); }
static inline lua_Number clua_tonumber(lua_State *L, int index) { return lua_tonumber(L, index); }
static inline lua_Integer clua_tointeger(lua_State *L, int index) { return lua_tointeger(L, index); }
static inline int clua_registryindex(void) { return LUA_REGISTRYINDEX; }
static inline void clua_pushglobaltable(lua_State *L) { lua_pushglobaltable(L); }
static inline int clua_multret(void) { return LUA_MULTRET; }
static inline const char *clua_typename(lua_State *L, int index) { return luaL_typename(L, index); }
static inline void clua_collectgarbage(lua_State *L) { lua_gc(L, LUA_GCCOLLECT, 0); }
static inline int clua_gccount(lua_State *L) { return lua_gc(L, LUA_GCCOUNT, 0); }
static inline void *clua_newuserdata(lua_State *L, size_t size) { return lua_newuserdatauv(L, size, 1); }

// MARK: Swift functions

/// What a Swift function behind the trampoline returns besides a result count.
enum {
    /// Raise the error message on the top of the stack (lua_error).
    CLUA_RAISE = -1,
    /// Yield the running coroutine; the host resumes it with the results later.
    CLUA_SUSPEND = -2,
};

typedef int (*clua_SwiftFunction)(lua_State *L);

/// Memory accounting of one Lua state (its allocator's userdata).
typedef struct clua_Memory {
    size_t used;
    size_t limit;        // 0: no limit
    int hostDepth;       // > 0 while the host (Swift) runs: the cap is enforced only inside Lua code
    int refused;         // allocations refused so far
} clua_Memory;

/// Continues a Swift function after its coroutine is resumed by the host, which pushes a
/// boolean (success) and then either the results or an error message.
static int clua_resume_continuation(lua_State *L, int status, lua_KContext base) {
    (void)status;
    int flag = (int)base + 1;
    if (!lua_toboolean(L, flag)) {
        lua_settop(L, flag + 1);
        return lua_error(L);
    }
    return lua_gettop(L) - flag;
}

/// Calls the Swift function in upvalue 1 and turns its special results into lua_error or
/// lua_yield here in C, so that longjmp never unwinds a Swift frame.
static int clua_trampoline(lua_State *L) {
    clua_SwiftFunction function = (clua_SwiftFunction)lua_touserdata(L, lua_upvalueindex(1));
    void *ud = NULL;
    lua_getallocf(L, &ud);
    clua_Memory *memory = (clua_Memory *)ud;
    if (memory) memory->hostDepth++;
    int results = function(L);
    if (memory) memory->hostDepth--;
    if (results == CLUA_RAISE) return lua_error(L);
    if (results == CLUA_SUSPEND) return lua_yieldk(L, 0, (lua_KContext)lua_gettop(L), clua_resume_continuation);
    return results;
}

/// Pushes a closure calling `function` with `context` as upvalue 2 (both light userdata).
static inline void clua_pushswiftfunction(lua_State *L, clua_SwiftFunction function, void *context) {
    lua_pushlightuserdata(L, (void *)function);
    lua_pushlightuserdata(L, context);
    lua_pushcclosure(L, clua_trampoline, 2);
}

/// The context pointer (upvalue 2) of the running Swift function.
static inline void *clua_swiftcontext(lua_State *L) { return lua_touserdata(L, lua_upvalueindex(2)); }

// MARK: Limits

/// An allocator that refuses to grow past `limit` bytes (except while Swift code runs).
static void *clua_limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    clua_Memory *memory = (clua_Memory *)ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        memory->used -= old;
        return NULL;
    }
    if (memory->limit != 0 && memory->hostDepth == 0 && nsize > old && memory->used - old + nsize > memory->limit) {
        memory->refused++;
        return NULL;
    }
    void *grown = realloc(ptr, nsize);
    if (grown == NULL) return NULL;
    memory->used = memory->used - old + nsize;
    return grown;
}

/// Marks the start (entering = 1) or end (0) of Lua code run by the host: the memory cap
/// applies only in between, so host-side API calls never fail for lack of memory.
static inline void clua_enterlua(lua_State *L, int entering) {
    void *ud = NULL;
    lua_getallocf(L, &ud);
    clua_Memory *memory = (clua_Memory *)ud;
    if (memory) memory->hostDepth += entering ? -1 : 1;
}

static int clua_panic(lua_State *L) {
    const char *message = lua_tostring(L, -1);
    fprintf(stderr, "fms: Lua panic (unprotected error in the host): %s\n", message ? message : "?");
    return 0;
}

/// A new state using the limited allocator with `memory` as its accounting.
static inline lua_State *clua_newstate(clua_Memory *memory) {
    lua_State *L = lua_newstate(clua_limited_alloc, memory);
    if (L) lua_atpanic(L, clua_panic);
    return L;
}

static void clua_budget_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    // Level 0 inside a hook is the Lua function being run: blame its line.
    luaL_where(L, 0);
    lua_pushliteral(L, "instruction budget exceeded");
    lua_concat(L, 2);
    lua_error(L);
}

/// Arms (count > 0) or disarms the instruction budget of one thread.
static inline void clua_setbudget(lua_State *L, int count) {
    if (count > 0) lua_sethook(L, clua_budget_hook, LUA_MASKCOUNT, count);
    else lua_sethook(L, NULL, 0, 0);
}

/// Message handler for lua_pcall: the message plus a traceback.
static int clua_traceback_handler(lua_State *L) {
    const char *message = lua_tostring(L, 1);
    if (message == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) message = lua_tostring(L, -1);
        else message = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, message, 1);
    return 1;
}

/// Pushes the message handler above.
static inline void clua_pushtracebackhandler(lua_State *L) { lua_pushcfunction(L, clua_traceback_handler); }

/// Loads a chunk from a buffer (text only: binary chunks are refused).
static inline int clua_loadtext(lua_State *L, const char *buffer, size_t size, const char *name) {
    return luaL_loadbufferx(L, buffer, size, name, "t");
}
#endif
