/*
 * hs_raft_invariants.c - the Raft safety properties (Figure 3 of the paper), checked while a
 * cluster runs. See hs_raft_invariants.h.
 */
#include "raft/hs_raft_invariants.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hs_raft_committed {
  uint64_t term; /* 0: not applied anywhere yet */
  uint64_t hash;
  uint64_t known_term; /* the first applier's term: the entry was committed in this term or earlier */
};

struct hs_raft_watched {
  const hs_raft *r;
  const char *name;
};

void hs_raft_invariants_init(hs_raft_invariants *inv) { memset(inv, 0, sizeof *inv); }

void hs_raft_invariants_free(hs_raft_invariants *inv) {
  free(inv->leader_of_term);
  free(inv->committed);
  free(inv->nodes);
  hs_raft_invariants_init(inv);
}

int hs_raft_invariants_watch(hs_raft_invariants *inv, const hs_raft *r, const char *name) {
  if (inv->node_count == inv->node_cap) {
    uint32_t cap = inv->node_cap ? inv->node_cap * 2 : 8;
    struct hs_raft_watched *p = realloc(inv->nodes, cap * sizeof *p);
    if (!p) return HS_ENOMEM;
    inv->nodes = p;
    inv->node_cap = cap;
  }
  inv->nodes[inv->node_count++] = (struct hs_raft_watched){r, name};
  return HS_OK;
}

static const char *name_of(const hs_raft_invariants *inv, const hs_raft *r) {
  for (uint32_t i = 0; i < inv->node_count; i++)
    if (inv->nodes[i].r == r) return inv->nodes[i].name;
  return "?";
}

static void violate(hs_raft_invariants *inv, hs_time_ns now, const char *msg) {
  inv->checks++;
  if (inv->violated) return;
  inv->violated = true;
  inv->violation_ns = now;
  snprintf(inv->violation, sizeof inv->violation, "%s", msg);
  if (inv->on_violation) inv->on_violation(inv->ud, inv->violation);
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

/* Leader completeness: leader r of term `term` holds every entry committed before it
 * (all_known: every entry applied anywhere so far, as on its election; else only those known
 * to be committed in an earlier term, as for a leader that may be stale). */
static bool check_completeness(hs_raft_invariants *inv, const hs_raft *r, uint64_t term, bool all_known,
                               hs_time_ns now) {
  inv->checks++;
  uint64_t first = hs_raft_first_index(r), last = hs_raft_last_index(r);
  for (uint64_t i = first > 1 ? first : 1; i < inv->committed_cap; i++) {
    const struct hs_raft_committed *k = &inv->committed[i];
    if (!k->term || (!all_known && k->known_term >= term)) continue;
    hs_raft_entry e;
    if (i > last || hs_raft_entry_at(r, i, &e) != HS_OK || e.term != k->term || entry_hash(&e) != k->hash) {
      char msg[200];
      snprintf(msg, sizeof msg,
               "leader completeness: '%s', leader of term %llu, lacks the entry committed at index %llu (term %llu)",
               name_of(inv, r), (unsigned long long)term, (unsigned long long)i, (unsigned long long)k->term);
      violate(inv, now, msg);
      return false;
    }
  }
  return true;
}

void hs_raft_invariants_on_role(hs_raft_invariants *inv, const hs_raft *r, const hs_raft_role_event *ev) {
  if (ev->role != HS_RAFT_LEADER || ev->prev_role == HS_RAFT_LEADER) return;
  inv->checks++;
  uint32_t id = hs_raft_id(r);
  if (!ensure((void **)&inv->leader_of_term, &inv->terms_cap, ev->term, sizeof *inv->leader_of_term)) return;
  uint64_t seen = inv->leader_of_term[ev->term];
  if (seen && seen != id) {
    char msg[200];
    snprintf(msg, sizeof msg, "election safety: two leaders in term %llu (ids %llu and %u, the latter '%s')",
             (unsigned long long)ev->term, (unsigned long long)seen, id, name_of(inv, r));
    violate(inv, ev->now, msg);
    return;
  }
  inv->leader_of_term[ev->term] = id;
  if (check_completeness(inv, r, ev->term, true, ev->now)) hs_raft_invariants_check_all(inv, ev->now);
}

void hs_raft_invariants_on_apply(hs_raft_invariants *inv, const hs_raft *r, const hs_raft_entry *e, hs_time_ns now) {
  inv->checks++;
  if (!ensure((void **)&inv->committed, &inv->committed_cap, e->index, sizeof *inv->committed)) return;
  struct hs_raft_committed *k = &inv->committed[e->index];
  uint64_t h = entry_hash(e);
  if (!k->term) {
    k->term = e->term;
    k->hash = h;
    k->known_term = hs_raft_term(r);
  } else if (k->term != e->term || k->hash != h) {
    char msg[200];
    snprintf(msg, sizeof msg,
             "state machine safety: '%s' applied a different entry at index %llu (term %llu, another node applied "
             "term %llu)",
             name_of(inv, r), (unsigned long long)e->index, (unsigned long long)e->term, (unsigned long long)k->term);
    violate(inv, now, msg);
  }
}

/* Log matching between two cores: where both hold index i with the same term, they hold the
 * same entry there and at every index below (down to what both still have). */
static bool match_pair(hs_raft_invariants *inv, const hs_raft *a, const hs_raft *b, hs_time_ns now) {
  inv->checks++;
  uint64_t first = hs_raft_first_index(a), fb = hs_raft_first_index(b);
  if (fb > first) first = fb;
  uint64_t last = hs_raft_last_index(a), lb = hs_raft_last_index(b);
  if (lb < last) last = lb;
  bool matched = false; /* a higher index already matched: everything below must too */
  for (uint64_t i = last; i >= first && i > 0; i--) {
    hs_raft_entry x, y;
    if (hs_raft_entry_at(a, i, &x) != HS_OK || hs_raft_entry_at(b, i, &y) != HS_OK) break;
    bool same = x.term == y.term && x.type == y.type && x.len == y.len && (x.len == 0 || memcmp(x.data, y.data, x.len) == 0);
    if (x.term == y.term && !same) matched = true; /* equal terms, different entries */
    if (matched && !same) {
      char msg[200];
      snprintf(msg, sizeof msg, "log matching: '%s' and '%s' differ at index %llu below a matching entry",
               name_of(inv, a), name_of(inv, b), (unsigned long long)i);
      violate(inv, now, msg);
      return false;
    }
    if (x.term == y.term) matched = true;
  }
  return true;
}

static bool check_bounds(hs_raft_invariants *inv, const hs_raft *r, hs_time_ns now) {
  inv->checks++;
  if (hs_raft_crashed(r)) return true;
  uint64_t applied = hs_raft_applied_index(r), commit = hs_raft_commit_index(r), last = hs_raft_last_index(r);
  if (applied <= commit && commit <= last) return true;
  char msg[200];
  snprintf(msg, sizeof msg, "bounds: '%s' has applied %llu, commit %llu, last index %llu", name_of(inv, r),
           (unsigned long long)applied, (unsigned long long)commit, (unsigned long long)last);
  violate(inv, now, msg);
  return false;
}

static bool check_leaders(hs_raft_invariants *inv, hs_time_ns now) {
  for (uint32_t i = 0; i < inv->node_count; i++) {
    const hs_raft *r = inv->nodes[i].r;
    if (hs_raft_crashed(r) || hs_raft_role_of(r) != HS_RAFT_LEADER) continue;
    if (!check_completeness(inv, r, hs_raft_term(r), false, now)) return false;
  }
  return true;
}

bool hs_raft_invariants_check_node(hs_raft_invariants *inv, const hs_raft *r, hs_time_ns now) {
  if (!check_bounds(inv, r, now)) return false;
  for (uint32_t i = 0; i < inv->node_count; i++)
    if (inv->nodes[i].r != r && !match_pair(inv, r, inv->nodes[i].r, now)) return false;
  return check_leaders(inv, now) && !inv->violated;
}

bool hs_raft_invariants_check_all(hs_raft_invariants *inv, hs_time_ns now) {
  for (uint32_t i = 0; i < inv->node_count; i++)
    if (!check_bounds(inv, inv->nodes[i].r, now)) return false;
  for (uint32_t i = 0; i < inv->node_count; i++)
    for (uint32_t j = i + 1; j < inv->node_count; j++)
      if (!match_pair(inv, inv->nodes[i].r, inv->nodes[j].r, now)) return false;
  return check_leaders(inv, now) && !inv->violated;
}
