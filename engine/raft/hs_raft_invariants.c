/*
 * hs_raft_check.c - the Raft safety properties (Figure 3 of the paper), checked while a
 * simulated cluster runs. See hs_raft_node.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hs_rng.h"
#include "raft/hs_raft_node.h"

struct hs_raft_committed {
  uint64_t term; /* 0: not seen */
  uint64_t hash;
};

void hs_raft_checker_note_role(hs_raft_checker *c, hs_raft_node *n, const hs_raft_role_event *ev);
void hs_raft_checker_note_apply(hs_raft_checker *c, hs_raft_node *n, const hs_raft_entry *e);

void hs_raft_checker_init(hs_raft_checker *c) { memset(c, 0, sizeof *c); }

void hs_raft_checker_free(hs_raft_checker *c) {
  free(c->leader_of_term);
  free(c->committed);
  free(c->nodes);
  hs_raft_checker_init(c);
}

int hs_raft_checker_add(hs_raft_checker *c, hs_raft_node *n) {
  if (c->node_count == c->node_cap) {
    uint32_t cap = c->node_cap ? c->node_cap * 2 : 8;
    hs_raft_node **p = realloc(c->nodes, cap * sizeof *p);
    if (!p) return HS_ENOMEM;
    c->nodes = p;
    c->node_cap = cap;
  }
  c->nodes[c->node_count++] = n;
  n->checker = c;
  return HS_OK;
}

static void violate(hs_raft_checker *c, hs_time_ns now, const char *msg) {
  c->checks++;
  if (c->violated) return;
  c->violated = true;
  c->violation_ns = now;
  snprintf(c->violation, sizeof c->violation, "%s", msg);
  if (c->on_violation) c->on_violation(c->ud, c->violation);
}

/* Grows a zero-filled array of `size`-byte items to hold index i. */
static bool ensure(void **arr, uint64_t *cap, uint64_t i, size_t size) {
  if (i < *cap) return true;
  uint64_t ncap = *cap ? *cap : 64;
  while (ncap <= i) ncap *= 2;
  void *p = realloc(*arr, ncap * size);
  if (!p) return false;
  memset((char *)p + *cap * size, 0, (ncap - *cap) * size);
  *arr = p;
  *cap = ncap;
  return true;
}

static uint64_t entry_hash(const hs_raft_entry *e) {
  return hs_hash_bytes(e->data ? e->data : (const uint8_t *)"", e->len) ^ ((uint64_t)e->type << 56);
}

/* Leader completeness: the new leader holds every entry committed so far. */
static void check_completeness(hs_raft_checker *c, hs_raft_node *n, const hs_raft_role_event *ev) {
  uint64_t first = hs_raft_first_index(n->raft), last = hs_raft_last_index(n->raft);
  for (uint64_t i = 1; i < c->committed_cap; i++) {
    const struct hs_raft_committed *k = &c->committed[i];
    if (!k->term || i < first) continue; /* not committed, or compacted into the snapshot */
    hs_raft_entry e;
    if (i > last || hs_raft_entry_at(n->raft, i, &e) != HS_OK || e.term != k->term || entry_hash(&e) != k->hash) {
      char msg[200];
      snprintf(msg, sizeof msg,
               "leader completeness: '%s' became leader of term %llu without the entry committed at index %llu "
               "(term %llu)",
               n->self->name, (unsigned long long)ev->term, (unsigned long long)i, (unsigned long long)k->term);
      violate(c, ev->now, msg);
      return;
    }
  }
}

void hs_raft_checker_note_role(hs_raft_checker *c, hs_raft_node *n, const hs_raft_role_event *ev) {
  if (ev->role != HS_RAFT_LEADER || ev->prev_role == HS_RAFT_LEADER) return;
  c->checks++;
  uint32_t id = hs_raft_id(n->raft);
  if (!ensure((void **)&c->leader_of_term, &c->terms_cap, ev->term, sizeof *c->leader_of_term)) return;
  uint64_t seen = c->leader_of_term[ev->term];
  if (seen && seen != id) {
    char msg[200];
    snprintf(msg, sizeof msg, "election safety: two leaders in term %llu (ids %llu and %u, the latter '%s')",
             (unsigned long long)ev->term, (unsigned long long)seen, id, n->self->name);
    violate(c, ev->now, msg);
    return;
  }
  c->leader_of_term[ev->term] = id;
  check_completeness(c, n, ev);
  hs_raft_checker_check_all(c, ev->now);
}

void hs_raft_checker_note_apply(hs_raft_checker *c, hs_raft_node *n, const hs_raft_entry *e) {
  c->checks++;
  if (!ensure((void **)&c->committed, &c->committed_cap, e->index, sizeof *c->committed)) return;
  struct hs_raft_committed *k = &c->committed[e->index];
  uint64_t h = entry_hash(e);
  if (!k->term) {
    k->term = e->term;
    k->hash = h;
  } else if (k->term != e->term || k->hash != h) {
    char msg[200];
    snprintf(msg, sizeof msg,
             "state machine safety: '%s' applied a different entry at index %llu (term %llu, another node applied "
             "term %llu)",
             n->self->name, (unsigned long long)e->index, (unsigned long long)e->term, (unsigned long long)k->term);
    violate(c, n->self->sim->now_ns, msg);
  }
}

/* Log matching between two nodes: where both hold index i with the same term, they hold the
 * same entry there and at every index below (down to what both still have). */
static bool match_pair(hs_raft_checker *c, hs_raft_node *a, hs_raft_node *b, hs_time_ns now) {
  uint64_t first = hs_raft_first_index(a->raft), fb = hs_raft_first_index(b->raft);
  if (fb > first) first = fb;
  uint64_t last = hs_raft_last_index(a->raft), lb = hs_raft_last_index(b->raft);
  if (lb < last) last = lb;
  bool matched = false; /* a higher index already matched: everything below must too */
  for (uint64_t i = last; i >= first && i > 0; i--) {
    hs_raft_entry x, y;
    if (hs_raft_entry_at(a->raft, i, &x) != HS_OK || hs_raft_entry_at(b->raft, i, &y) != HS_OK) break;
    bool same = x.term == y.term && x.type == y.type && x.len == y.len && (x.len == 0 || memcmp(x.data, y.data, x.len) == 0);
    if (x.term == y.term && !same) matched = true; /* equal terms, different entries */
    if (matched && !same) {
      char msg[200];
      snprintf(msg, sizeof msg, "log matching: '%s' and '%s' differ at index %llu below a matching entry",
               a->self->name, b->self->name, (unsigned long long)i);
      violate(c, now, msg);
      return false;
    }
    if (x.term == y.term) matched = true;
  }
  return true;
}

bool hs_raft_checker_check_all(hs_raft_checker *c, hs_time_ns now) {
  c->checks++;
  for (uint32_t i = 0; i < c->node_count; i++)
    for (uint32_t j = i + 1; j < c->node_count; j++)
      if (!match_pair(c, c->nodes[i], c->nodes[j], now)) return false;
  return !c->violated;
}
