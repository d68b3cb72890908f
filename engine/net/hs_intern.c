/* Interned message type names: one network-owned copy per distinct string. */
#include "net/hs_net_internal.h"

#include <stdlib.h>
#include <string.h>

/* Strings are stored NUL-terminated after their length (a size_t header), so lookups
 * compare lengths first and embedded NULs are allowed. */
static inline size_t stored_len(const char *s) {
  size_t n;
  memcpy(&n, s - sizeof n, sizeof n);
  return n;
}

static int grow(hs_net *net) {
  uint32_t cap = net->type_cap ? net->type_cap * 2 : 32;
  if (cap <= net->type_cap) return HS_ENOMEM;
  char **slots = calloc(cap, sizeof *slots);
  if (!slots) return HS_ENOMEM;
  for (uint32_t i = 0; i < net->type_cap; i++) {
    char *s = net->types[i];
    if (!s) continue;
    uint32_t j = (uint32_t)hs_hash_bytes(s, stored_len(s)) & (cap - 1);
    while (slots[j]) j = (j + 1) & (cap - 1);
    slots[j] = s;
  }
  free(net->types);
  net->types = slots;
  net->type_cap = cap;
  return HS_OK;
}

const char *hs_net_intern(hs_net *net, const char *s, size_t len) {
  if (net->closed || (!s && len)) return NULL;
  if ((uint64_t)(net->type_count + 1) * 2 > net->type_cap && grow(net) != HS_OK) return NULL;
  uint32_t j = (uint32_t)hs_hash_bytes(s ? s : "", len) & (net->type_cap - 1);
  for (; net->types[j]; j = (j + 1) & (net->type_cap - 1)) {
    const char *t = net->types[j];
    if (stored_len(t) == len && (len == 0 || memcmp(t, s, len) == 0)) return t;
  }
  char *block = malloc(sizeof(size_t) + len + 1);
  if (!block) return NULL;
  memcpy(block, &len, sizeof len);
  char *t = block + sizeof len;
  if (len) memcpy(t, s, len);
  t[len] = '\0';
  net->types[j] = t;
  net->type_count++;
  return t;
}

void hs_net__interned_free(hs_net *net) {
  for (uint32_t i = 0; i < net->type_cap; i++)
    if (net->types[i]) free(net->types[i] - sizeof(size_t));
  free(net->types);
  net->types = NULL;
  net->type_count = net->type_cap = 0;
}
