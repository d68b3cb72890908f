/*
 * hs_assert.h - HS_ASSERT(expr): a checked hand-off between engine parts.
 *
 * On unless NDEBUG is defined (the project's builds do not define it): a false expression
 * prints "file:line: assertion failed: expr" to standard error and aborts. Use it where one
 * part hands data to another (a protocol core's outputs to its adapter, the scheduler's
 * queue), for conditions that only a bug can break; expected failures return error codes.
 */
#ifndef HS_ASSERT_H
#define HS_ASSERT_H

#ifdef NDEBUG
#define HS_ASSERT(expr) ((void)0)
#else
#include <stdio.h>
#include <stdlib.h>
#define HS_ASSERT(expr)                                                                                      \
  ((expr) ? (void)0 : (fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #expr), abort()))
#endif

#endif
