/*
 * hs_lin.c - Wing & Gong's linearizability search with Lowe's memoization.
 *
 * Each sub-history becomes a doubly linked list of call and return entries in time
 * order (a call before a return at equal times: such operations overlap). The search
 * walks the list from its head: a call entry is a candidate to linearize next; taking it
 * steps the model and lifts both of its entries out of the list; reaching a return entry
 * means that operation had to be linearized already, so the search backtracks. It
 * succeeds once every return entry with a finite time is gone: operations of unknown
 * outcome (return time +inf) may stay unlinearized, as if they never took effect.
 *
 * Memoization (Lowe): a configuration (set of linearized operations, model state) that
 * was reached before is not explored again. The set is stored compactly: operations of
 * known outcome are numbered in call order, so a set is "all of 0..lo-1, some of a small
 * window, none after"; operations of unknown outcome get a region of their own.
 *
 * Two refinements keep high-concurrency histories tractable:
 *  - candidate order: read-only operations first, then the others of known outcome,
 *    then those of unknown outcome (each in call order), so that a timed-out operation
 *    is linearized only when nothing else lets the search go on;
 *  - partial-order reduction: when a read-only operation is legal in a configuration,
 *    placing it next is the only branch that configuration needs (see run()). Reads no
 *    longer multiply the orders to try, only writes do.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lin/hs_lin.h"

#define NIL (-1)
#define CLOCK_EVERY 1024

/* ---- arena and memo table --------------------------------------------------------- */

typedef struct centry { /* a memoized configuration */
  uint64_t hash;
  uint64_t handle;   /* the model's handle, live while the state is on the search path */
  uint32_t key_len;  /* set encoding + state bytes */
  uint32_t state_off;
  uint8_t key[];
} centry;

typedef struct chunk {
  struct chunk *next;
  size_t used, cap;
  _Alignas(16) uint8_t data[];
} chunk;

typedef struct memo {
  chunk *chunks;
  centry **slots;
  size_t cap, count;
  size_t bytes; /* everything allocated, for the budget */
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
  centry **slots = calloc(cap, sizeof *slots);
  if (!slots) return false;
  for (size_t i = 0; i < mc->cap; i++) {
    centry *e = mc->slots[i];
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

/* The entry equal to key, or NULL. */
static centry *memo_find(const memo *mc, uint64_t h, const uint8_t *key, size_t len) {
  if (!mc->cap) return NULL;
  for (size_t j = h & (mc->cap - 1);; j = (j + 1) & (mc->cap - 1)) {
    centry *e = mc->slots[j];
    if (!e) return NULL;
    if (e->hash == h && e->key_len == len && memcmp(e->key, key, len) == 0) return e;
  }
}

/* Adds a configuration known to be absent; NULL when memory runs out. */
static centry *memo_add(memo *mc, uint64_t h, const uint8_t *key, size_t len, size_t state_off, uint64_t handle) {
  if (len > UINT32_MAX) return NULL;
  if ((mc->count + 1) * 2 > mc->cap && !memo_grow(mc)) return NULL;
  centry *e = arena_alloc(mc, sizeof *e + len);
  if (!e) return NULL;
  e->hash = h;
  e->handle = handle;
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
  size_t full; /* leading words with every valid bit set */
  size_t top;  /* words at or after top are zero (an upper bound, trimmed lazily) */
} region;

static uint64_t word_mask(const region *g, size_t w) {
  size_t rem = g->bits % 64;
  return (w == g->words - 1 && rem) ? ((uint64_t)1 << rem) - 1 : ~(uint64_t)0;
}

/* ---- one sub-history ------------------------------------------------------------ */

typedef struct search {
  const hs_lin_model *m;
  const hs_lin_op *ops;
  const hs_lin_options *opt;
  hs_lin_result *r;
  size_t k;        /* operations in this sub-history */
  size_t *global;  /* local -> index in ops */
  uint32_t *bit;   /* local -> bit */
  region ra, ri;   /* known outcome, unknown outcome */
  uint64_t *bits;
  int32_t *next, *prev; /* list nodes: 0 is the head, 1 + 2i the call of i, 2 + 2i its return */
  size_t depth;
  int32_t *stack_node;
  centry **stack_state;
  uint32_t *best;  /* local ops of the longest prefix */
  size_t best_len, agree;
  bool blocked_recorded;
  size_t blocked_local;
  size_t *pending_local;
  size_t pending_len;
  uint32_t *call_rank; /* local -> position of its call entry in time order */
  uint8_t *cls;        /* local -> 0 read-only, 1 other, 2 unknown outcome: the order to try them */
  bool *forced;        /* per depth: the op was pushed as a no-op, the only branch needed */
  uint64_t *cand;      /* candidates of the current configuration: cls << 62 | call_rank << 32 | local */
  size_t ncand;
  memo mc;
  hs_buf key, out;
  struct timespec deadline;
  bool has_deadline;
} search;

static bool is_call(int32_t node) { return node % 2 == 1; }
static size_t op_of(int32_t node) { return (size_t)(node - 1) / 2; }

static const hs_lin_op *lop(const search *s, size_t local) { return &s->ops[s->global[local]]; }

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

static void put_region(search *s, region *g) {
  while (g->top > g->full && s->bits[g->base + g->top - 1] == 0) g->top--;
  uint32_t hdr[2] = {(uint32_t)g->full, (uint32_t)(g->top > g->full ? g->top - g->full : 0)};
  hs_buf_put_raw(&s->key, hdr, sizeof hdr);
  if (hdr[1]) hs_buf_put_raw(&s->key, s->bits + g->base + g->full, hdr[1] * sizeof(uint64_t));
}

static void lift(search *s, int32_t call) {
  int32_t ret = call + 1;
  s->next[s->prev[call]] = s->next[call];
  if (s->next[call] != NIL) s->prev[s->next[call]] = s->prev[call];
  s->next[s->prev[ret]] = s->next[ret];
  if (s->next[ret] != NIL) s->prev[s->next[ret]] = s->prev[ret];
}

static void unlift(search *s, int32_t call) {
  int32_t ret = call + 1;
  s->next[s->prev[ret]] = ret;
  if (s->next[ret] != NIL) s->prev[s->next[ret]] = ret;
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
  free(s->stack_node);
  free(s->stack_state);
  free(s->best);
  free(s->pending_local);
  free(s->call_rank);
  free(s->cls);
  free(s->forced);
  free(s->cand);
  memo_free(&s->mc);
  hs_buf_free(&s->key);
  hs_buf_free(&s->out);
}

static bool search_init(search *s) {
  size_t k = s->k, nodes = 2 * k + 1;
  s->bit = calloc(k ? k : 1, sizeof *s->bit);
  s->next = malloc(nodes * sizeof *s->next);
  s->prev = malloc(nodes * sizeof *s->prev);
  s->stack_node = malloc((k ? k : 1) * sizeof *s->stack_node);
  s->stack_state = malloc((k ? k : 1) * sizeof *s->stack_state);
  s->best = malloc((k ? k : 1) * sizeof *s->best);
  s->pending_local = malloc((k ? k : 1) * sizeof *s->pending_local);
  s->call_rank = malloc((k ? k : 1) * sizeof *s->call_rank);
  s->cls = malloc(k ? k : 1);
  s->forced = malloc((k ? k : 1) * sizeof *s->forced);
  s->cand = malloc((k ? k : 1) * sizeof *s->cand);
  node_key *order = malloc(nodes * sizeof *order);
  bit_key *bk = malloc((k ? k : 1) * sizeof *bk);
  bool ok = s->bit && s->next && s->prev && s->stack_node && s->stack_state && s->best && s->pending_local &&
            s->call_rank && s->cls && s->forced && s->cand && order && bk;
  if (ok) {
    /* bits: known outcomes in call order, then unknown outcomes in call order */
    size_t known = 0, unknown = 0;
    for (size_t i = 0; i < k; i++) {
      if (lop(s, i)->ret != HS_LIN_INF) bk[known++] = (bit_key){lop(s, i)->call, (uint32_t)i};
    }
    qsort(bk, known, sizeof *bk, cmp_bit);
    for (size_t j = 0; j < known; j++) s->bit[bk[j].local] = (uint32_t)j;
    s->ra = (region){.base = 0, .words = (known + 63) / 64, .bits = known};
    for (size_t i = 0; i < k; i++) {
      if (lop(s, i)->ret == HS_LIN_INF) bk[unknown++] = (bit_key){lop(s, i)->call, (uint32_t)i};
    }
    qsort(bk, unknown, sizeof *bk, cmp_bit);
    s->ri = (region){.base = s->ra.words, .words = (unknown + 63) / 64, .bits = unknown};
    for (size_t j = 0; j < unknown; j++) s->bit[bk[j].local] = (uint32_t)(s->ri.base * 64 + j);
    size_t words = s->ra.words + s->ri.words;
    s->bits = calloc(words ? words : 1, sizeof *s->bits);
    ok = s->bits != NULL;
    /* the list */
    for (size_t i = 0; ok && i < k; i++) {
      order[2 * i] = (node_key){lop(s, i)->call, (int32_t)(1 + 2 * i)};
      order[2 * i + 1] = (node_key){lop(s, i)->ret, (int32_t)(2 + 2 * i)};
    }
    if (ok) {
      qsort(order, 2 * k, sizeof *order, cmp_node);
      int32_t last = 0;
      s->prev[0] = NIL;
      for (size_t j = 0; j < 2 * k; j++) {
        s->next[last] = order[j].node;
        s->prev[order[j].node] = last;
        last = order[j].node;
        if (is_call(last)) s->call_rank[op_of(last)] = (uint32_t)j;
      }
      for (size_t i = 0; i < k; i++) {
        const hs_lin_op *o = lop(s, i);
        s->cls[i] = o->ret == HS_LIN_INF ? 2 : (s->m->readonly && s->m->readonly(s->m->ud, o)) ? 0 : 1;
      }
      s->next[last] = NIL;
    }
  }
  free(order);
  free(bk);
  return ok;
}

/* The stack grew to s->depth with op `local` on top: keep the longest prefix. */
static void note_push(search *s, uint32_t local) {
  size_t p = s->depth - 1;
  if (s->agree == p && p < s->best_len && s->best[p] == local) s->agree = p + 1;
  if (s->depth > s->best_len) {
    for (size_t j = s->agree; j < s->depth; j++) s->best[j] = (uint32_t)op_of(s->stack_node[j]);
    s->best_len = s->agree = s->depth;
    s->blocked_recorded = false;
  }
}

/* Backtracking from the longest prefix: remember which op blocked it and what was pending. */
static void note_blocked(search *s, int32_t ret_node) {
  if (s->blocked_recorded || s->depth != s->best_len) return;
  s->blocked_recorded = true;
  s->blocked_local = op_of(ret_node);
  s->pending_len = 0;
  for (int32_t e = s->next[0]; e != NIL && e != ret_node; e = s->next[e])
    if (is_call(e) && op_of(e) != s->blocked_local) s->pending_local[s->pending_len++] = op_of(e);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* Fills s->cand with the candidates of the current configuration (the calls before the
 * first return entry) in the order to try them: read-only operations of known outcome
 * first (they are the likeliest to leave the state as it is, see run()), then the other
 * operations of known outcome, then those of unknown outcome, each group in call order.
 * Returns the first return entry (NIL if none). */
static int32_t candidates(search *s) {
  s->ncand = 0;
  int32_t e = s->next[0];
  bool sorted = true;
  uint64_t last = 0;
  for (; e != NIL && is_call(e); e = s->next[e]) {
    size_t o = op_of(e);
    uint64_t key = (uint64_t)s->cls[o] << 62 | (uint64_t)s->call_rank[o] << 32 | (uint64_t)o;
    if (key < last) sorted = false;
    last = key;
    s->cand[s->ncand++] = key;
  }
  if (!sorted) qsort(s->cand, s->ncand, sizeof *s->cand, cmp_u64);
  return e;
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
  hs_buf_reset(&s->key);
  put_region(s, &s->ra);
  put_region(s, &s->ri);
  size_t state_off = s->key.len;
  hs_buf_put_raw(&s->key, s->out.data, s->out.len);
  if (s->key.failed) {
    release(s, handle);
    r->reason = "out of memory";
    return HS_LIN_ERROR;
  }
  centry *cur = memo_add(&s->mc, hash_bytes(s->key.data, s->key.len), s->key.data, s->key.len, state_off, handle);
  if (!cur) {
    release(s, handle);
    r->reason = "memory limit";
    return HS_LIN_UNKNOWN;
  }
  hs_lin_verdict verdict = HS_LIN_VALID;
  size_t ci = 0;            /* next candidate to try in this configuration */
  int32_t resume = NIL;     /* after a backtrack: the call just undone */
  for (;;) {
    int32_t first_ret = candidates(s);
    if (first_ret == NIL || lop(s, op_of(first_ret))->ret == HS_LIN_INF) break; /* all known outcomes placed */
    if (resume != NIL) {
      ci = 0;
      while (ci < s->ncand && (int32_t)(1 + 2 * (s->cand[ci] & 0xffffffffu)) != resume) ci++;
      ci++;
      resume = NIL;
    }
    bool pushed = false;
    while (ci < s->ncand && !pushed) {
      size_t o = (size_t)(s->cand[ci++] & 0xffffffffu);
      if (r->steps % CLOCK_EVERY == 0 && r->steps && past_deadline(s)) {
        r->reason = "timeout";
        verdict = HS_LIN_UNKNOWN;
        goto out;
      }
      if (s->opt->max_steps && r->steps >= s->opt->max_steps) {
        r->reason = "step limit";
        verdict = HS_LIN_UNKNOWN;
        goto out;
      }
      r->steps++;
      hs_buf_reset(&s->out);
      hs_lin_state st = {cur->key + cur->state_off, cur->key_len - cur->state_off, cur->handle};
      rc = m->step(m->ud, st, lop(s, o), &s->out, &handle);
      if (rc < 0 || s->out.failed) {
        if (rc == 1) release(s, handle);
        r->reason = "the model's step failed";
        verdict = HS_LIN_ERROR;
        goto out;
      }
      if (rc == 0) continue;
      /* Partial-order reduction: a read-only operation that is legal here can go first in
       * any linearization from here. It changes the state nowhere, so taking it out of a
       * later place and putting it here changes nothing for the others; and everything
       * that had to precede it is placed already (its call comes before every remaining
       * completion). So it is the only branch this configuration needs. (An operation
       * that merely leaves this state unchanged, a write of the current value, does not
       * qualify: elsewhere it would have an effect.) */
      size_t state_len = cur->key_len - cur->state_off;
      bool noop = s->cls[o] == 0 && s->out.len == state_len &&
                  (state_len == 0 || memcmp(s->out.data, cur->key + cur->state_off, state_len) == 0);
      uint32_t b = s->bit[o];
      bit_set(s, b);
      hs_buf_reset(&s->key);
      put_region(s, &s->ra);
      put_region(s, &s->ri);
      state_off = s->key.len;
      hs_buf_put_raw(&s->key, s->out.data, s->out.len);
      if (s->key.failed) {
        release(s, handle);
        r->reason = "out of memory";
        verdict = HS_LIN_ERROR;
        goto out;
      }
      uint64_t h = hash_bytes(s->key.data, s->key.len);
      if (memo_find(&s->mc, h, s->key.data, s->key.len)) {
        bit_clear(s, b);
        release(s, handle);
        if (noop) ci = s->ncand; /* explored already, and it failed: so does this configuration */
        continue;
      }
      centry *c = NULL;
      if (!s->opt->max_bytes || s->mc.bytes < s->opt->max_bytes)
        c = memo_add(&s->mc, h, s->key.data, s->key.len, state_off, handle);
      if (!c) {
        bit_clear(s, b);
        release(s, handle);
        r->reason = "memory limit";
        verdict = HS_LIN_UNKNOWN;
        goto out;
      }
      int32_t call = (int32_t)(1 + 2 * o);
      s->stack_node[s->depth] = call;
      s->stack_state[s->depth] = cur;
      s->forced[s->depth] = noop;
      s->depth++;
      note_push(s, (uint32_t)o);
      cur = c;
      lift(s, call);
      ci = 0;
      pushed = true;
    }
    if (pushed) continue;
    /* every candidate failed: the first completion cannot be passed */
    note_blocked(s, first_ret);
    bool forced = true;
    while (forced && s->depth > 0) { /* undo forced steps: their configurations fail too */
      s->depth--;
      int32_t call = s->stack_node[s->depth];
      forced = s->forced[s->depth];
      release(s, cur->handle);
      cur = s->stack_state[s->depth];
      bit_clear(s, s->bit[op_of(call)]);
      unlift(s, call);
      if (s->agree > s->depth) s->agree = s->depth;
      resume = call;
    }
    if (forced) { /* back at the root, and it has no other branch */
      verdict = HS_LIN_INVALID;
      break;
    }
  }
out:
  /* release the states still on the path */
  release(s, cur->handle);
  while (s->depth) release(s, s->stack_state[--s->depth]->handle);
  r->configurations += s->mc.count;
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
