#include "hs_assert.h"

#include <stdio.h>
#include <stdlib.h>

static hs_assert_hook hook;

void hs_assert_set_hook(hs_assert_hook h) { hook = h; }

void hs_assert_fail(const char *cond, const char *file, int line) {
  if (hook) hook(cond, file, line);
  fprintf(stderr, "happysim: internal assertion failed: %s (%s:%d)\n", cond, file, line);
  fflush(stderr);
  abort();
}
