/*
 * hs_assert.h - assertions at the hand-offs (TigerBeetle's habit): an event queued twice, an
 * event removed from a queue it is not in, a process resumed in a state it cannot be resumed
 * from. They catch the engine's own bugs, not the user's: misuse from Lua raises a Lua error
 * long before it could reach one.
 *
 * HS_ASSERT(cond) is checked unless NDEBUG is defined, so it is on in the default build
 * (RelWithDebInfo here is -O2 -g without NDEBUG: the checks cost no measurable instructions,
 * see README "Benchmarks"), in Debug, and in the sanitizer build, which defines HS_ASSERTS to
 * keep them whatever the build type. A Release build (-DNDEBUG) compiles them out.
 * A failed assertion prints the condition and where it is, then aborts.
 */
#ifndef HS_ASSERT_H
#define HS_ASSERT_H

#if defined(__GNUC__)
#define HS_COLD_NORETURN __attribute__((cold, noreturn))
#define HS_LIKELY(x) __builtin_expect(!!(x), 1)
#else
#define HS_COLD_NORETURN _Noreturn
#define HS_LIKELY(x) (x)
#endif

#if !defined(NDEBUG) || defined(HS_ASSERTS)
#define HS_ASSERTS_ON 1
#define HS_ASSERT(cond) (HS_LIKELY(cond) ? (void)0 : hs_assert_fail(#cond, __FILE__, __LINE__))
#else
#define HS_ASSERTS_ON 0
#define HS_ASSERT(cond) ((void)0)
#endif

/* Reports a failed assertion: calls the hook when one is set (tests), else prints and aborts. */
HS_COLD_NORETURN void hs_assert_fail(const char *cond, const char *file, int line);

/* Tests only: called instead of aborting (it should not return: longjmp out of it). */
typedef void (*hs_assert_hook)(const char *cond, const char *file, int line);
void hs_assert_set_hook(hs_assert_hook hook);

#endif
