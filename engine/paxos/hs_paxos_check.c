/*
 * hs_paxos_check.c - the Paxos safety invariants, checked as a run goes. See hs_paxos_check.h.
 *
 * Per slot the checker keeps a list of votes, one per ballot seen there: the value's hash and
 * the set of acceptors (bits) that accepted it in that ballot. Acceptances are durable in the
 * cores, so a vote is never withdrawn: once a vote holds phase2_quorum acceptors its value is
 * chosen, forever. The votes of all slots live in one pool (no allocation per slot).
 */
#include "paxos/hs_paxos_check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hs_paxos_check_vote {
  hs_paxos_ballot ballot;
  uint64_t hash;
  uint64_t mask;
  uint64_t next; /* index + 1 of the slot's next vote in the pool, 0: last */
};

struct hs_paxos_check_slot {
  uint64_t head; /* index + 1 of the first vote, 0: none */
  uint64_t chosen_hash;
  hs_paxos_ballot chosen_ballot; /* the first ballot seen with a quorum */
  bool chosen;
};

void hs_paxos_checker_init(hs_paxos_checker *c, uint32_t phase2_quorum) {
  memset(c, 0, sizeof *c);
  c->phase2_quorum = phase2_quorum ? phase2_quorum : 1;
}

void hs_paxos_checker_free(hs_paxos_checker *c) {
  free(c->slots);
  free(c->votes);
  uint32_t q2 = c->phase2_quorum;
  hs_paxos_checker_init(c, q2);
}

uint64_t hs_paxos_checker_value_hash(const hs_paxos_value *v) {
  uint64_t h = hs_hash_bytes(v->len ? v->data : (const uint8_t *)"", v->len);
  h ^= (uint64_t)v->type * 0x9e3779b97f4a7c15ULL;
  h ^= (v->origin.round * 0xff51afd7ed558ccdULL) ^ ((uint64_t)v->origin.node << 32);
  return h * 0xc4ceb9fe1a85ec53ULL;
}

static void check_violate(hs_paxos_checker *c, hs_time_ns now, const char *fmt, ...) {
  if (c->violated) return;
  c->violated = true;
  c->violation_ns = now;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->violation, sizeof c->violation, fmt, ap);
  va_end(ap);
  if (c->on_violation) c->on_violation(c->ud, c->violation);
}

/* The bit index of node (assigned on first sight), or -1 past HS_PAXOS_MAX_NODES nodes. */
static int check_index(hs_paxos_checker *c, uint32_t node) {
  for (uint32_t i = 0; i < c->n_ids; i++)
    if (c->ids[i] == node) return (int)i;
  if (c->n_ids == HS_PAXOS_MAX_NODES) return -1;
  c->ids[c->n_ids] = node;
  c->applied[c->n_ids] = 0;
  return (int)c->n_ids++;
}

static struct hs_paxos_check_slot *check_slot(hs_paxos_checker *c, uint64_t slot) {
  if (slot >= c->slots_cap) {
    uint64_t cap = c->slots_cap ? c->slots_cap : 256;
    while (cap <= slot) cap *= 2;
    struct hs_paxos_check_slot *p = realloc(c->slots, cap * sizeof *p);
    if (!p) return NULL;
    memset(p + c->slots_cap, 0, (cap - c->slots_cap) * sizeof *p);
    c->slots = p;
    c->slots_cap = cap;
  }
  return &c->slots[slot];
}

static struct hs_paxos_check_vote *check_vote(hs_paxos_checker *c, struct hs_paxos_check_slot *s,
                                              hs_paxos_ballot ballot, uint64_t hash) {
  for (uint64_t i = s->head; i; i = c->votes[i - 1].next)
    if (hs_paxos_ballot_cmp(c->votes[i - 1].ballot, ballot) == 0) return &c->votes[i - 1];
  if (c->n_votes == c->votes_cap) {
    uint64_t cap = c->votes_cap ? c->votes_cap * 2 : 256;
    struct hs_paxos_check_vote *p = realloc(c->votes, cap * sizeof *p);
    if (!p) return NULL;
    c->votes = p;
    c->votes_cap = cap;
  }
  struct hs_paxos_check_vote *v = &c->votes[c->n_votes++];
  v->ballot = ballot;
  v->hash = hash;
  v->mask = 0;
  v->next = s->head;
  s->head = c->n_votes;
  return v;
}

void hs_paxos_checker_note_accept(hs_paxos_checker *c, uint32_t node, const hs_paxos_value *v, hs_time_ns now) {
  c->checks++;
  int bit = check_index(c, node);
  struct hs_paxos_check_slot *s = check_slot(c, v->slot);
  if (bit < 0 || !s) return;
  uint64_t hash = hs_paxos_checker_value_hash(v);
  struct hs_paxos_check_vote *vote = check_vote(c, s, v->ballot, hash);
  if (!vote) return;
  if (vote->hash != hash) {
    check_violate(c, now,
                  "one value per ballot: node %u accepted at slot %llu in ballot (%llu, %u) a value other than "
                  "another acceptor's in that ballot",
                  node, (unsigned long long)v->slot, (unsigned long long)v->ballot.round, v->ballot.node);
    return;
  }
  vote->mask |= (uint64_t)1 << bit;
  if ((uint32_t)__builtin_popcountll(vote->mask) < c->phase2_quorum) return;
  if (!s->chosen) {
    s->chosen = true;
    s->chosen_hash = hash;
    s->chosen_ballot = v->ballot;
    c->chosen++;
  } else if (s->chosen_hash != hash) {
    check_violate(c, now,
                  "two values chosen at slot %llu: one in ballot (%llu, %u), another in ballot (%llu, %u) "
                  "(the acceptance by node %u completed its quorum)",
                  (unsigned long long)v->slot, (unsigned long long)s->chosen_ballot.round, s->chosen_ballot.node,
                  (unsigned long long)v->ballot.round, v->ballot.node, node);
  }
}

void hs_paxos_checker_note_choose(hs_paxos_checker *c, uint32_t node, const hs_paxos_value *v, hs_time_ns now) {
  c->checks++;
  struct hs_paxos_check_slot *s = check_slot(c, v->slot);
  if (!s) return;
  if (!s->chosen)
    check_violate(c, now, "node %u learned a value at slot %llu where no quorum accepted one", node,
                  (unsigned long long)v->slot);
  else if (s->chosen_hash != hs_paxos_checker_value_hash(v))
    check_violate(c, now, "node %u learned at slot %llu a value other than the one chosen there (in ballot (%llu, %u))",
                  node, (unsigned long long)v->slot, (unsigned long long)s->chosen_ballot.round, s->chosen_ballot.node);
}

void hs_paxos_checker_note_apply(hs_paxos_checker *c, uint32_t node, const hs_paxos_value *v, hs_time_ns now) {
  c->checks++;
  int bit = check_index(c, node);
  struct hs_paxos_check_slot *s = check_slot(c, v->slot);
  if (bit < 0 || !s) return;
  if (v->slot != c->applied[bit] + 1)
    check_violate(c, now, "node %u applied slot %llu after slot %llu", node, (unsigned long long)v->slot,
                  (unsigned long long)c->applied[bit]);
  c->applied[bit] = v->slot;
  if (!s->chosen)
    check_violate(c, now, "node %u applied slot %llu, where nothing is chosen", node, (unsigned long long)v->slot);
  else if (s->chosen_hash != hs_paxos_checker_value_hash(v))
    check_violate(c, now, "state machine safety: node %u applied at slot %llu a value other than the chosen one", node,
                  (unsigned long long)v->slot);
}

void hs_paxos_checker_note_restart(hs_paxos_checker *c, uint32_t node) {
  int bit = check_index(c, node);
  if (bit >= 0) c->applied[bit] = 0;
}

bool hs_paxos_checker_chosen(const hs_paxos_checker *c, uint64_t slot, uint64_t *hash) {
  if (slot >= c->slots_cap || !c->slots[slot].chosen) return false;
  if (hash) *hash = c->slots[slot].chosen_hash;
  return true;
}
