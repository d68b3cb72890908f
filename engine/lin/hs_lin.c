/*
 * hs_lin.c - Wing & Gong's linearizability search with Lowe's memoization.
 *
 * Each sub-history becomes a doubly linked list of call and return entries in time
 * order (a call before a return at equal times: such operations overlap). Operations of
 * unknown outcome (return time +inf) have a call entry only. The search walks the list
 * from its head: a call entry before the first return entry is a candidate to linearize
 * next; taking it steps the model and lifts its entries out of the list. When no
 * candidate can be taken, the first return entry's operation cannot be linearized before
 * it completes, and the search backtracks. It succeeds once every operation of known
 * outcome is linearized: those of unknown outcome may stay out, as if they never took
 * effect.
 *
 * Memoization (Lowe): a configuration (the set of linearized operations, the model state)
 * reached before is not explored again. Two refinements of it:
 *  - the set is stored compactly: operations of known outcome are numbered in call order,
 *    so a set is "all of 0..lo-1, some of a small window, none after";
 *  - subsumption: a configuration is also not explored when one with the same state, the
 *    same operations of known outcome and a subset of its operations of unknown outcome
 *    was. An operation of unknown outcome is never required, so whatever completes from
 *    the larger set completes from the smaller one with the same continuation. Without
 *    this, every subset of the timed-out writes a search walks past is a configuration of
 *    its own: 2^k of them for k such writes. So the memo is keyed by (known set, state),
 *    and each key keeps the unknown sets seen with it (an antichain: a new set drops the
 *    supersets it subsumes).
 *
 * Candidate order, and a partial-order reduction:
 *  - read-only operations first, then all the others in call order, whether their
 *    outcome is known or not: histories come from systems that mostly apply operations in
 *    about the order they are invoked, so a valid history is usually found on the first
 *    path, and a timed-out write that a later read observes is tried where it was invoked
 *    rather than after every other order has failed;
 *  - when a read-only operation is legal in a configuration, placing it next is the only
 *    branch that configuration needs (see run()). Reads no longer multiply the orders to
 *    try, only writes do.
 * The candidates are walked on the list itself, in one pass per class: no list is built or
 * sorted per configuration, and after a backtrack the walk resumes after the entry undone.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lin/hs_lin.h"

#define NIL (-1)
#define CLOCK_EVERY 1024

/* ---- arena and memo table --------------------------------------------------------- */

typedef struct uset { /* an unknown-outcome set recorded with a group */
  struct uset *next;
  uint32_t full, len; /* words [0, full) have every valid bit set; then len words; then zero */
  uint64_t w[];
} uset;

typedef struct group { /* the configurations with one (known set, state) */
  uint64_t hash;
  uset *sets;
  uint32_t key_len;   /* known-set encoding + state bytes */
  uint32_t state_off;
  uint8_t key[];
} group;

typedef struct chunk {
  struct chunk *next;
  size_t used, cap;
  _Alignas(16) uint8_t data[];
} chunk;

typedef struct memo {
  chunk *chunks;
  group **slots;
  size_t cap, count; /* groups */
  size_t sets;       /* unknown sets recorded: the configurations explored */
  size_t bytes;      /* everything allocated, for the budget */
} memo;

static void memo_free(memo *mc) {
  for (chunk *c = mc->chunks, *nx; c; c = nx) {
    nx = c->next;
    free(c);
  }
  free(mc->slots);
  memset(mc, 0, sizeof *mc);
}

static void *arena_alloc(memo *mc, size_t n) {
  n = (n + 15) & ~(size_t)15;
  chunk *c = mc->chunks;
  if (!c || c->cap - c->used < n) {
    size_t cap = n > (1u << 20) ? n : (1u << 20);
    c = malloc(sizeof *c + cap);
    if (!c) return NULL;
    c->next = mc->chunks;
    c->used = 0;
    c->cap = cap;
    mc->chunks = c;
    mc->bytes += sizeof *c + cap;
  }
  void *p = c->data + c->used;
  c->used += n;
  return p;
}

static bool memo_grow(memo *mc) {
  size_t cap = mc->cap ? mc->cap * 2 : 1024;
  group **slots = calloc(cap, sizeof *slots);
  if (!slots) return false;
  for (size_t i = 0; i < mc->cap; i++) {
    group *e = mc->slots[i];
    if (!e) continue;
    size_t j = e->hash & (cap - 1);
    while (slots[j]) j = (j + 1) & (cap - 1);
    slots[j] = e;
  }
  mc->bytes += (cap - mc->cap) * sizeof *slots;
  free(mc->slots);
  mc->slots = slots;
  mc->cap = cap;
  return true;
}

static uint64_t hash_bytes(const uint8_t *p, size_t n) {
  uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 31;
    p += 8;
    n -= 8;
  }
  uint64_t w = 0;
  memcpy(&w, p, n);
  h = (h ^ w) * 0x94d049bb133111ebULL;
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ULL;
  return h ^ (h >> 32);
}

/* The group equal to key, or NULL. */
static group *memo_find(const memo *mc, uint64_t h, const uint8_t *key, size_t len) {
  if (!mc->cap) return NULL;
  for (size_t j = h & (mc->cap - 1);; j = (j + 1) & (mc->cap - 1)) {
    group *e = mc->slots[j];
    if (!e) return NULL;
    if (e->hash == h && e->key_len == len && memcmp(e->key, key, len) == 0) return e;
  }
}

/* Adds a group known to be absent, with no set yet; NULL when memory runs out. */
static group *memo_add(memo *mc, uint64_t h, const uint8_t *key, size_t len, size_t state_off) {
  if (len > UINT32_MAX) return NULL;
  if ((mc->count + 1) * 2 > mc->cap && !memo_grow(mc)) return NULL;
  group *e = arena_alloc(mc, sizeof *e + len);
  if (!e) return NULL;
  e->hash = h;
  e->sets = NULL;
  e->key_len = (uint32_t)len;
  e->state_off = (uint32_t)state_off;
  memcpy(e->key, key, len);
  size_t j = h & (mc->cap - 1);
  while (mc->slots[j]) j = (j + 1) & (mc->cap - 1);
  mc->slots[j] = e;
  mc->count++;
  return e;
}

/* ---- the linearized set ---------------------------------------------------------- */

/* A region of the bitset: words [base, base + words), `bits` valid bits. */
typedef struct region {
  size_t base, words, bits;
  size_t full; /* leading words with every valid bit set (the longest such prefix) */
  size_t top;  /* words at or after top are zero (an upper bound, trimmed lazily) */
} region;

static uint64_t word_mask(const region *g, size_t w) {
  size_t rem = g->bits % 64;
  return (w == g->words - 1 && rem) ? ((uint64_t)1 << rem) - 1 : ~(uint64_t)0;
}

/* ---- one sub-history ------------------------------------------------------------ */

typedef struct frame { /* one linearized operation on the search path */
  int32_t node;        /* its call entry */
  bool forced;         /* pushed as a legal read-only operation: the only branch needed */
  group *g;            /* the configuration before it: its state ... */
  uint64_t handle;     /* ... and the model's handle for that state */
} frame;

typedef struct kid { /* a child configuration recorded before it is explored */
  int32_t node;        /* the call taken to reach it */
  group *g;
  uset *u;
  uint64_t handle;
} kid;

typedef struct level { /* the children recorded for one configuration on the path */
  size_t kid_lo, kid_next, kid_end;
  bool expanded;
} level;

typedef struct search {
  const hs_lin_model *m;
  const hs_lin_op *ops;
  const hs_lin_options *opt;
  hs_lin_result *r;
  size_t k;        /* operations in this sub-history */
  size_t known;    /* of them, of known outcome */
  size_t *global;  /* local -> index in ops */
  uint32_t *bit;   /* local -> bit */
  region ra, ri;   /* known outcome, unknown outcome */
  uint64_t *bits;
  int32_t *next, *prev; /* list nodes: 0 is the head, 1 + 2i the call of i, 2 + 2i its return */
  size_t depth, placed_known;
  frame *stack;
  level *lv;       /* per depth: the configuration's recorded children */
  kid *kids;       /* a stack of recorded children, level by level */
  size_t nkids, kids_cap;
  uint32_t *best;  /* local ops of the longest prefix */
  size_t best_len, best_known, agree;
  bool blocked_recorded;
  size_t blocked_local;
  size_t *pending_local;
  size_t pending_len;
  uint8_t *pass;   /* local -> the pass of the candidate walk that tries it */
  uint8_t *readonly; /* local -> a read-only operation of known outcome */
  memo mc;
  hs_buf key, out;
  struct timespec deadline;
  bool has_deadline;
} search;

/* The passes of the candidate walk: read-only operations, the other operations of known
 * outcome, then those of unknown outcome (recorded first, then explored: see expand()). */
enum { PASS_READ, PASS_KNOWN, PASS_UNKNOWN };

static bool is_call(int32_t node) { return node % 2 == 1; }
static size_t op_of(int32_t node) { return (size_t)(node - 1) / 2; }

static const hs_lin_op *lop(const search *s, size_t local) { return &s->ops[s->global[local]]; }
static bool is_known(const search *s, size_t local) { return lop(s, local)->ret != HS_LIN_INF; }

static region *region_of(search *s, uint32_t bit) { return bit < s->ra.base + s->ra.words * 64 ? &s->ra : &s->ri; }

static void bit_set(search *s, uint32_t b) {
  region *g = region_of(s, b);
  size_t w = b / 64 - g->base;
  s->bits[b / 64] |= (uint64_t)1 << (b % 64);
  if (w + 1 > g->top) g->top = w + 1;
  while (g->full < g->words && s->bits[g->base + g->full] == word_mask(g, g->full)) g->full++;
}

static void bit_clear(search *s, uint32_t b) {
  region *g = region_of(s, b);
  size_t w = b / 64 - g->base;
  s->bits[b / 64] &= ~((uint64_t)1 << (b % 64));
  if (w < g->full) g->full = w;
}

static void trim(search *s, region *g) {
  while (g->top > g->full && s->bits[g->base + g->top - 1] == 0) g->top--;
}

/* Appends the compact encoding of the known set to s->key. */
static void put_region(search *s, region *g) {
  trim(s, g);
  uint32_t hdr[2] = {(uint32_t)g->full, (uint32_t)(g->top > g->full ? g->top - g->full : 0)};
  hs_buf_put_raw(&s->key, hdr, sizeof hdr);
  if (hdr[1]) hs_buf_put_raw(&s->key, s->bits + g->base + g->full, hdr[1] * sizeof(uint64_t));
}

/* Word w of the current unknown set. */
static uint64_t ri_word(const search *s, size_t w) {
  const region *g = &s->ri;
  if (w < g->full) return word_mask(g, w);
  return w < g->top ? s->bits[g->base + w] : 0;
}

/* Is the recorded set u a subset of the current unknown set? */
static bool uset_within(const search *s, const uset *u) {
  if (u->full > s->ri.full) return false;
  for (uint32_t j = 0; j < u->len; j++)
    if (u->w[j] & ~ri_word(s, u->full + j)) return false;
  return true;
}

/* Is the current unknown set a subset of the recorded set u? */
static bool uset_covers(const search *s, const uset *u) {
  const region *g = &s->ri;
  for (size_t w = 0; w < g->top; w++) {
    uint64_t have = w < u->full ? word_mask(g, w) : (w < (size_t)u->full + u->len ? u->w[w - u->full] : 0);
    if (ri_word(s, w) & ~have) return false;
  }
  return true;
}

/* Records the current unknown set with group gr, dropping the recorded supersets of it.
 * NULL when memory runs out. */
static uset *uset_add(search *s, group *gr) {
  region *g = &s->ri;
  trim(s, g);
  size_t len = g->top > g->full ? g->top - g->full : 0;
  for (uset **pp = &gr->sets; *pp;) {
    if (uset_covers(s, *pp)) {
      *pp = (*pp)->next; /* subsumed by the new one: its memory stays in the arena */
    } else {
      pp = &(*pp)->next;
    }
  }
  uset *u = arena_alloc(&s->mc, sizeof *u + len * sizeof(uint64_t));
  if (!u) return NULL;
  u->full = (uint32_t)g->full;
  u->len = (uint32_t)len;
  if (len) memcpy(u->w, s->bits + g->base + g->full, len * sizeof(uint64_t));
  u->next = gr->sets;
  gr->sets = u;
  s->mc.sets++;
  return u;
}

/* Lifts the entries of op `call` out of the list (an unknown outcome has no return entry). */
static void lift(search *s, int32_t call) {
  s->next[s->prev[call]] = s->next[call];
  if (s->next[call] != NIL) s->prev[s->next[call]] = s->prev[call];
  if (!is_known(s, op_of(call))) return;
  int32_t ret = call + 1;
  s->next[s->prev[ret]] = s->next[ret];
  if (s->next[ret] != NIL) s->prev[s->next[ret]] = s->prev[ret];
}

static void unlift(search *s, int32_t call) {
  if (is_known(s, op_of(call))) {
    int32_t ret = call + 1;
    s->next[s->prev[ret]] = ret;
    if (s->next[ret] != NIL) s->prev[s->next[ret]] = ret;
  }
  s->next[s->prev[call]] = call;
  if (s->next[call] != NIL) s->prev[s->next[call]] = call;
}

static void release(search *s, uint64_t handle) {
  if (s->m->release) s->m->release(s->m->ud, handle);
}

static bool past_deadline(const search *s) {
  if (!s->has_deadline) return false;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return now.tv_sec > s->deadline.tv_sec || (now.tv_sec == s->deadline.tv_sec && now.tv_nsec >= s->deadline.tv_nsec);
}

/* Orders list nodes by time; a call before a return at the same time; then by op. */
typedef struct node_key {
  int64_t time;
  int32_t node;
} node_key;

static int cmp_node(const void *a, const void *b) {
  const node_key *x = a, *y = b;
  if (x->time != y->time) return x->time < y->time ? -1 : 1;
  int xr = !is_call(x->node), yr = !is_call(y->node);
  if (xr != yr) return xr - yr;
  return (x->node > y->node) - (x->node < y->node);
}

typedef struct bit_key {
  int64_t call;
  uint32_t local;
} bit_key;

static int cmp_bit(const void *a, const void *b) {
  const bit_key *x = a, *y = b;
  if (x->call != y->call) return x->call < y->call ? -1 : 1;
  return (x->local > y->local) - (x->local < y->local);
}

static void search_free(search *s) {
  free(s->bit);
  free(s->bits);
  free(s->next);
  free(s->prev);
  free(s->stack);
  free(s->lv);
  free(s->kids);
  free(s->best);
  free(s->pending_local);
  free(s->pass);
  free(s->readonly);
  memo_free(&s->mc);
  hs_buf_free(&s->key);
  hs_buf_free(&s->out);
}

static bool search_init(search *s) {
  size_t k = s->k, nodes = 2 * k + 1, k1 = k ? k : 1;
  s->bit = calloc(k1, sizeof *s->bit);
  s->next = malloc(nodes * sizeof *s->next);
  s->prev = malloc(nodes * sizeof *s->prev);
  s->stack = malloc(k1 * sizeof *s->stack);
  s->lv = malloc((k + 1) * sizeof *s->lv);
  s->best = malloc(k1 * sizeof *s->best);
  s->pending_local = malloc(k1 * sizeof *s->pending_local);
  s->pass = malloc(k1);
  s->readonly = malloc(k1);
  node_key *order = malloc(nodes * sizeof *order);
  bit_key *bk = malloc(k1 * sizeof *bk);
  bool ok = s->bit && s->next && s->prev && s->stack && s->lv && s->best && s->pending_local && s->pass && s->readonly &&
            order && bk;
  if (ok) {
    /* bits: known outcomes in call order, then unknown outcomes in call order */
    size_t known = 0, unknown = 0;
    for (size_t i = 0; i < k; i++)
      if (is_known(s, i)) bk[known++] = (bit_key){lop(s, i)->call, (uint32_t)i};
    qsort(bk, known, sizeof *bk, cmp_bit);
    for (size_t j = 0; j < known; j++) s->bit[bk[j].local] = (uint32_t)j;
    s->known = known;
    s->ra = (region){.base = 0, .words = (known + 63) / 64, .bits = known};
    for (size_t i = 0; i < k; i++)
      if (!is_known(s, i)) bk[unknown++] = (bit_key){lop(s, i)->call, (uint32_t)i};
    qsort(bk, unknown, sizeof *bk, cmp_bit);
    s->ri = (region){.base = s->ra.words, .words = (unknown + 63) / 64, .bits = unknown};
    for (size_t j = 0; j < unknown; j++) s->bit[bk[j].local] = (uint32_t)(s->ri.base * 64 + j);
    size_t words = s->ra.words + s->ri.words;
    s->bits = calloc(words ? words : 1, sizeof *s->bits);
    ok = s->bits != NULL;
    /* the list: every call, and the returns of the operations of known outcome */
    size_t count = 0;
    for (size_t i = 0; ok && i < k; i++) {
      order[count++] = (node_key){lop(s, i)->call, (int32_t)(1 + 2 * i)};
      if (is_known(s, i)) order[count++] = (node_key){lop(s, i)->ret, (int32_t)(2 + 2 * i)};
    }
    if (ok) {
      qsort(order, count, sizeof *order, cmp_node);
      int32_t last = 0;
      s->prev[0] = NIL;
      for (size_t j = 0; j < count; j++) {
        s->next[last] = order[j].node;
        s->prev[order[j].node] = last;
        last = order[j].node;
      }
      s->next[last] = NIL;
      for (size_t i = 0; i < k; i++) {
        const hs_lin_op *o = lop(s, i);
        s->readonly[i] = is_known(s, i) && s->m->readonly && s->m->readonly(s->m->ud, o);
        s->pass[i] = s->readonly[i] ? PASS_READ : is_known(s, i) ? PASS_KNOWN : PASS_UNKNOWN;
      }
    }
  }
  free(order);
  free(bk);
  return ok;
}

/* The stack grew to s->depth with op `local` on top (s->placed_known counts it): keep the
 * longest prefix, the one with the most operations of known outcome and, of those, the
 * fewest of unknown outcome (they are there only where something needed them). */
static void note_push(search *s, uint32_t local) {
  size_t p = s->depth - 1;
  if (s->agree == p && p < s->best_len && s->best[p] == local) s->agree = p + 1;
  if (s->placed_known > s->best_known || (s->placed_known == s->best_known && s->depth < s->best_len)) {
    for (size_t j = s->agree; j < s->depth; j++) s->best[j] = (uint32_t)op_of(s->stack[j].node);
    s->best_len = s->agree = s->depth;
    s->best_known = s->placed_known;
    s->blocked_recorded = false;
  }
}

/* Backtracking from the longest prefix: remember which op blocked it and what was pending. */
static void note_blocked(search *s) {
  if (s->blocked_recorded || s->depth != s->best_len) return;
  int32_t ret_node = s->next[0];
  while (ret_node != NIL && is_call(ret_node)) ret_node = s->next[ret_node];
  if (ret_node == NIL) return;
  s->blocked_recorded = true;
  s->blocked_local = op_of(ret_node);
  s->pending_len = 0;
  for (int32_t e = s->next[0]; e != ret_node; e = s->next[e])
    if (op_of(e) != s->blocked_local) s->pending_local[s->pending_len++] = op_of(e);
}

/* Builds the memo key of the current known set and the state in s->out into s->key;
 * returns the state's offset in it. */
static size_t build_key(search *s) {
  hs_buf_reset(&s->key);
  put_region(s, &s->ra);
  size_t state_off = s->key.len;
  hs_buf_put_raw(&s->key, s->out.data, s->out.len);
  return state_off;
}

/* The configuration of the current set with the state in s->out: its group, and whether
 * it was explored already (the group holds a subset of its unknown set). A new one is
 * recorded. NULL with *why set when memory runs out. */
static group *visit(search *s, bool *seen, const char **why, uset **added) {
  size_t state_off = build_key(s);
  *seen = false;
  if (s->key.failed) {
    *why = "out of memory";
    return NULL;
  }
  uint64_t h = hash_bytes(s->key.data, s->key.len);
  group *gr = memo_find(&s->mc, h, s->key.data, s->key.len);
  if (gr) {
    for (const uset *u = gr->sets; u; u = u->next) {
      if (uset_within(s, u)) {
        *seen = true;
        return gr;
      }
    }
  }
  if (s->opt->max_bytes && s->mc.bytes >= s->opt->max_bytes) {
    *why = "memory limit";
    return NULL;
  }
  if (!gr) gr = memo_add(&s->mc, h, s->key.data, s->key.len, state_off);
  if (!gr || !(*added = uset_add(s, gr))) {
    *why = "memory limit";
    return NULL;
  }
  return gr;
}

/* Checks the budgets before a model step; false (verdict and reason set) when one ran out. */
static bool may_step(search *s, hs_lin_verdict *verdict) {
  hs_lin_result *r = s->r;
  if (r->steps % CLOCK_EVERY == 0 && r->steps && past_deadline(s)) {
    r->reason = "timeout";
    *verdict = HS_LIN_UNKNOWN;
    return false;
  }
  if (s->opt->max_steps && r->steps >= s->opt->max_steps) {
    r->reason = "step limit";
    *verdict = HS_LIN_UNKNOWN;
    return false;
  }
  r->steps++;
  return true;
}

/* Steps op o from the current configuration (state in cur) into s->out. 1 legal (handle
 * set), 0 not, -1 with *verdict set on an error. */
static int step_op(search *s, const group *cur, uint64_t cur_handle, size_t o, uint64_t *handle,
                   hs_lin_verdict *verdict) {
  hs_buf_reset(&s->out);
  hs_lin_state st = {cur->key + cur->state_off, cur->key_len - cur->state_off, cur_handle};
  int rc = s->m->step(s->m->ud, st, lop(s, o), &s->out, handle);
  if (rc < 0 || s->out.failed) {
    if (rc == 1) release(s, *handle);
    s->r->reason = "the model's step failed";
    *verdict = HS_LIN_ERROR;
    return -1;
  }
  return rc;
}

/* Room for one more recorded child (counted in the memory budget). */
static bool grow_kids(search *s) {
  if (s->nkids < s->kids_cap) return true;
  size_t cap = s->kids_cap ? 2 * s->kids_cap : 256;
  kid *k = realloc(s->kids, cap * sizeof *k);
  if (!k) return false;
  s->mc.bytes += (cap - s->kids_cap) * sizeof *k;
  s->kids = k;
  s->kids_cap = cap;
  return true;
}

/* Records the configurations one operation of unknown outcome away from the current one
 * (cur) as the level's children, before any of them is explored: so that from the first
 * child, stepping into another's state with both operations taken is subsumed by the
 * other child alone. False (verdict set) when the search must stop. */
static bool expand(search *s, level *lv, const group *cur, uint64_t cur_handle, hs_lin_verdict *verdict) {
  lv->kid_lo = lv->kid_next = s->nkids;
  for (int32_t e = s->next[0]; e != NIL && is_call(e); e = s->next[e]) {
    size_t o = op_of(e);
    if (s->pass[o] != PASS_UNKNOWN) continue;
    if (!may_step(s, verdict)) return false;
    uint64_t handle = 0;
    int rc = step_op(s, cur, cur_handle, o, &handle, verdict);
    if (rc < 0) return false;
    if (rc == 0) continue;
    uint32_t b = s->bit[o];
    bit_set(s, b);
    bool seen;
    const char *why = NULL;
    uset *u = NULL;
    group *c = visit(s, &seen, &why, &u);
    bit_clear(s, b);
    if (c && !seen && !grow_kids(s)) {
      c = NULL;
      why = "out of memory";
    }
    if (!c) {
      release(s, handle);
      s->r->reason = why;
      *verdict = strcmp(why, "memory limit") == 0 ? HS_LIN_UNKNOWN : HS_LIN_ERROR;
      return false;
    }
    if (seen) {
      release(s, handle);
      continue;
    }
    s->kids[s->nkids++] = (kid){e, c, u, handle};
  }
  lv->kid_end = s->nkids;
  lv->expanded = true;
  return true;
}

/* The search proper: VALID, INVALID, UNKNOWN (reason set) or ERROR. */
static hs_lin_verdict run(search *s) {
  const hs_lin_model *m = s->m;
  hs_lin_result *r = s->r;
  uint64_t handle = 0;
  hs_buf_reset(&s->out);
  hs_value key = s->k && m->partition_by_key ? lop(s, 0)->key : (hs_value){NULL, 0};
  int rc = m->init(m->ud, key, &s->out, &handle);
  if (rc < 0 || s->out.failed) {
    r->reason = "the model's init failed";
    return HS_LIN_ERROR;
  }
  bool seen;
  const char *why = NULL;
  uset *u = NULL;
  group *cur = visit(s, &seen, &why, &u);
  if (!cur) {
    release(s, handle);
    r->reason = why;
    return strcmp(why, "memory limit") == 0 ? HS_LIN_UNKNOWN : HS_LIN_ERROR;
  }
  uint64_t cur_handle = handle;
  hs_lin_verdict verdict = HS_LIN_VALID;
  unsigned pass = 0;      /* the walk over the current configuration's candidates ... */
  int32_t e = s->next[0]; /* ... and where it is */
  s->lv[0].expanded = false;
  while (s->placed_known < s->known) {
    level *lv = &s->lv[s->depth];
    int32_t call = NIL; /* the operation to take next, and the configuration it leads to */
    group *c = NULL;
    bool noop = false;
    if (pass < PASS_UNKNOWN) {
      /* the next candidate of this pass: a call before the first return entry */
      while (e != NIL && is_call(e) && s->pass[op_of(e)] != pass) e = s->next[e];
      if (e == NIL || !is_call(e)) {
        pass++;
        e = s->next[0];
        if (pass == PASS_UNKNOWN && !expand(s, lv, cur, cur_handle, &verdict)) goto out;
        continue;
      }
      size_t o = op_of(e);
      if (!may_step(s, &verdict)) goto out;
      rc = step_op(s, cur, cur_handle, o, &handle, &verdict);
      if (rc < 0) goto out;
      if (rc == 0) {
        e = s->next[e];
        continue;
      }
      /* Partial-order reduction: a read-only operation that is legal here can go first in
       * any linearization from here. It changes the state nowhere, so taking it out of a
       * later place and putting it here changes nothing for the others; and everything
       * that had to precede it is placed already (its call comes before every remaining
       * completion). So it is the only branch this configuration needs. (An operation
       * that merely leaves this state unchanged, a write of the current value, does not
       * qualify: elsewhere it would have an effect.) */
      size_t state_len = cur->key_len - cur->state_off;
      noop = s->readonly[o] && s->out.len == state_len &&
             (state_len == 0 || memcmp(s->out.data, cur->key + cur->state_off, state_len) == 0);
      bit_set(s, s->bit[o]);
      c = visit(s, &seen, &why, &u);
      if (!c) {
        bit_clear(s, s->bit[o]);
        release(s, handle);
        r->reason = why;
        verdict = strcmp(why, "memory limit") == 0 ? HS_LIN_UNKNOWN : HS_LIN_ERROR;
        goto out;
      }
      if (seen) {
        bit_clear(s, s->bit[o]);
        release(s, handle);
        /* explored already (or recorded, to be): for a forced step, this configuration
         * fails with it */
        if (noop) {
          pass = PASS_UNKNOWN;
          lv->expanded = true;
          lv->kid_lo = lv->kid_next = lv->kid_end = s->nkids;
        } else {
          e = s->next[e];
        }
        continue;
      }
      call = e;
    } else if (lv->kid_next < lv->kid_end) {
      kid *kd = &s->kids[lv->kid_next++];
      bit_set(s, s->bit[op_of(kd->node)]);
      bool subsumed = false; /* by a smaller set recorded since */
      for (const uset *v = kd->g->sets; v && !subsumed; v = v->next) subsumed = v != kd->u && uset_within(s, v);
      if (subsumed) {
        bit_clear(s, s->bit[op_of(kd->node)]);
        release(s, kd->handle);
        continue;
      }
      call = kd->node;
      c = kd->g;
      handle = kd->handle;
    } else {
      /* every candidate failed: the first completion cannot be passed. Undo the last
       * step, and the forced steps before it: their configurations fail too. */
      note_blocked(s);
      bool forced = true;
      while (forced && s->depth > 0) {
        if (s->lv[s->depth].expanded) s->nkids = s->lv[s->depth].kid_lo;
        frame *f = &s->stack[--s->depth];
        call = f->node;
        forced = f->forced;
        release(s, cur_handle);
        cur = f->g;
        cur_handle = f->handle;
        bit_clear(s, s->bit[op_of(call)]);
        unlift(s, call);
        if (is_known(s, op_of(call))) s->placed_known--;
        if (s->agree > s->depth) s->agree = s->depth;
      }
      if (forced) { /* back at the root, and it has no other branch */
        verdict = HS_LIN_INVALID;
        break;
      }
      pass = s->pass[op_of(call)];
      e = s->next[call];
      continue;
    }
    frame *f = &s->stack[s->depth++];
    f->node = call;
    f->forced = noop;
    f->g = cur;
    f->handle = cur_handle;
    if (is_known(s, op_of(call))) s->placed_known++;
    note_push(s, (uint32_t)op_of(call));
    cur = c;
    cur_handle = handle;
    lift(s, call);
    s->lv[s->depth].expanded = false;
    pass = 0;
    e = s->next[0];
  }
out:
  /* release the states still held: on the path, and recorded children not explored */
  release(s, cur_handle);
  for (size_t d = 0; d <= s->depth && d <= s->k; d++) {
    level *lv = &s->lv[d];
    if (!lv->expanded) continue;
    for (size_t j = lv->kid_next; j < lv->kid_end; j++) release(s, s->kids[j].handle);
  }
  while (s->depth) release(s, s->stack[--s->depth].handle);
  r->configurations += s->mc.sets;
  return verdict;
}

/* Replays the prefix from the initial state to report the state it reaches. */
static void replay_state(search *s) {
  const hs_lin_model *m = s->m;
  hs_lin_result *r = s->r;
  hs_buf cur, next;
  hs_buf_init(&cur);
  hs_buf_init(&next);
  uint64_t handle = 0, nh = 0;
  hs_value key = s->k && m->partition_by_key ? lop(s, 0)->key : (hs_value){NULL, 0};
  bool ok = m->init(m->ud, key, &cur, &handle) >= 0 && !cur.failed;
  for (size_t j = 0; ok && j < s->best_len; j++) {
    hs_buf_reset(&next);
    hs_lin_state st = {cur.data, cur.len, handle};
    int rc = m->step(m->ud, st, lop(s, s->best[j]), &next, &nh);
    release(s, handle); /* the previous state is not needed any more */
    ok = rc == 1 && !next.failed;
    if (rc == 1 && next.failed) release(s, nh);
    handle = nh;
    hs_buf tmp = cur;
    cur = next;
    next = tmp;
  }
  hs_buf_free(&next);
  if (ok) {
    r->state = cur;
    r->state_handle = handle;
    r->has_state = true;
  } else {
    hs_buf_free(&cur);
  }
}

static bool record_invalid(search *s, size_t partition) {
  hs_lin_result *r = s->r;
  r->partition = partition;
  r->partition_op = s->global[0];
  r->prefix = malloc((s->best_len ? s->best_len : 1) * sizeof *r->prefix);
  r->pending = malloc((s->pending_len ? s->pending_len : 1) * sizeof *r->pending);
  if (!r->prefix || !r->pending) return false;
  for (size_t j = 0; j < s->best_len; j++) r->prefix[j] = s->global[s->best[j]];
  r->prefix_len = s->best_len;
  for (size_t j = 0; j < s->pending_len; j++) r->pending[j] = s->global[s->pending_local[j]];
  r->pending_len = s->pending_len;
  r->blocked = s->global[s->blocked_local];
  replay_state(s);
  return true;
}

/* ---- partitions ---------------------------------------------------------------- */

/* Groups the operations to check: by key when the model allows; drops unknown
 * read-only ones. part[i] is the group of op i (SIZE_MAX: dropped); returns the count. */
static size_t partition_ops(const hs_lin_model *m, const hs_lin_op *ops, size_t n, size_t *part, bool *ok) {
  size_t groups = 0;
  *ok = true;
  if (!m->partition_by_key) {
    for (size_t i = 0; i < n; i++) {
      bool drop = ops[i].unknown && m->readonly && m->readonly(m->ud, &ops[i]);
      part[i] = drop ? SIZE_MAX : 0;
      if (!drop) groups = 1;
    }
    return groups;
  }
  size_t cap = 16;
  while (cap < 2 * n) cap *= 2;
  size_t *slot_op = malloc(cap * sizeof *slot_op); /* a representative op per key */
  if (!slot_op) {
    *ok = false;
    return 0;
  }
  for (size_t j = 0; j < cap; j++) slot_op[j] = SIZE_MAX;
  for (size_t i = 0; i < n; i++) {
    if (ops[i].unknown && m->readonly && m->readonly(m->ud, &ops[i])) {
      part[i] = SIZE_MAX;
      continue;
    }
    hs_value k = ops[i].key;
    size_t klen = k.len ? hs_value_size(k) : 0;
    size_t j = hash_bytes(k.p ? k.p : (const uint8_t *)"", klen) & (cap - 1);
    for (;; j = (j + 1) & (cap - 1)) {
      if (slot_op[j] == SIZE_MAX) {
        slot_op[j] = i;
        part[i] = groups++;
        break;
      }
      hs_value o = ops[slot_op[j]].key;
      size_t olen = o.len ? hs_value_size(o) : 0;
      if (olen == klen && (klen == 0 || memcmp(o.p, k.p, klen) == 0)) {
        part[i] = part[slot_op[j]];
        break;
      }
    }
  }
  free(slot_op);
  return groups;
}

hs_lin_verdict hs_lin_check(const hs_lin_model *m, const hs_lin_op *ops, size_t n, const hs_lin_options *opt,
                            hs_lin_result *r) {
  static const hs_lin_options none = {0};
  if (!opt) opt = &none;
  memset(r, 0, sizeof *r);
  hs_buf_init(&r->state);
  r->verdict = HS_LIN_ERROR;
  if (n > ((size_t)1 << 29)) { /* list nodes and candidate keys hold 2n in 30 bits */
    r->reason = "too many operations";
    return r->verdict;
  }
  for (size_t i = 0; i < n; i++) {
    if (ops[i].ret < ops[i].call) {
      r->reason = "an operation completes before it is invoked";
      return r->verdict;
    }
  }
  struct timespec deadline = {0};
  bool has_deadline = opt->timeout_s > 0;
  if (has_deadline) {
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    double secs = opt->timeout_s > 1e9 ? 1e9 : opt->timeout_s;
    deadline.tv_sec += (time_t)secs;
    deadline.tv_nsec += (long)((secs - (double)(time_t)secs) * 1e9);
    if (deadline.tv_nsec >= 1000000000L) {
      deadline.tv_sec++;
      deadline.tv_nsec -= 1000000000L;
    }
  }
  size_t *part = malloc((n ? n : 1) * sizeof *part);
  size_t *members = malloc((n ? n : 1) * sizeof *members);
  size_t *start = NULL;
  bool ok = part && members;
  size_t groups = ok ? partition_ops(m, ops, n, part, &ok) : 0;
  if (ok) {
    start = calloc(groups + 1, sizeof *start);
    ok = start != NULL;
  }
  if (!ok) {
    free(part);
    free(members);
    r->reason = "out of memory";
    return r->verdict;
  }
  /* members of group g: members[start[g] .. start[g+1]), in op order */
  for (size_t i = 0; i < n; i++)
    if (part[i] != SIZE_MAX) start[part[i] + 1]++;
  for (size_t g = 0; g < groups; g++) start[g + 1] += start[g];
  {
    size_t *fill = calloc(groups + 1, sizeof *fill);
    if (!fill) {
      free(part);
      free(members);
      free(start);
      r->reason = "out of memory";
      return r->verdict;
    }
    for (size_t i = 0; i < n; i++)
      if (part[i] != SIZE_MAX) members[start[part[i]] + fill[part[i]]++] = i;
    free(fill);
  }
  r->partitions = groups;
  hs_lin_verdict verdict = HS_LIN_VALID;
  const char *unknown_reason = NULL;
  for (size_t g = 0; g < groups; g++) {
    search s;
    memset(&s, 0, sizeof s);
    s.m = m;
    s.ops = ops;
    s.opt = opt;
    s.r = r;
    s.k = start[g + 1] - start[g];
    s.global = members + start[g];
    s.deadline = deadline;
    s.has_deadline = has_deadline;
    hs_buf_init(&s.key);
    hs_buf_init(&s.out);
    hs_lin_verdict v;
    if (!search_init(&s)) {
      r->reason = "out of memory";
      v = HS_LIN_ERROR;
    } else {
      v = run(&s);
    }
    r->partitions_checked++;
    if (v == HS_LIN_INVALID && !record_invalid(&s, g)) {
      r->reason = "out of memory";
      v = HS_LIN_ERROR;
    }
    search_free(&s);
    if (v == HS_LIN_INVALID || v == HS_LIN_ERROR) {
      verdict = v;
      break;
    }
    if (v == HS_LIN_UNKNOWN) {
      verdict = HS_LIN_UNKNOWN;
      unknown_reason = r->reason;
      if (strcmp(r->reason, "memory limit") != 0) break; /* the others would stop at once too */
    }
  }
  if (verdict == HS_LIN_UNKNOWN) r->reason = unknown_reason;
  if (verdict == HS_LIN_VALID || verdict == HS_LIN_INVALID) r->reason = NULL;
  free(part);
  free(members);
  free(start);
  r->verdict = verdict;
  return verdict;
}

void hs_lin_result_free(hs_lin_result *r, const hs_lin_model *m) {
  free(r->prefix);
  free(r->pending);
  if (r->has_state && m && m->release) m->release(m->ud, r->state_handle);
  hs_buf_free(&r->state);
  r->prefix = r->pending = NULL;
  r->prefix_len = r->pending_len = 0;
  r->has_state = false;
}

const char *hs_lin_verdict_name(hs_lin_verdict v) {
  switch (v) {
  case HS_LIN_VALID: return "valid";
  case HS_LIN_INVALID: return "invalid";
  case HS_LIN_UNKNOWN: return "unknown";
  default: return "error";
  }
}
