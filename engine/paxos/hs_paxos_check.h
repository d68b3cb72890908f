/*
 * hs_paxos_check.h - the safety invariants of the Paxos family, checked while a cluster runs.
 *
 * The checker observes the cores, not their messages: a node created with `checker` set reports
 * every acceptance (an acceptor took (ballot, value) at a slot), every choice (the node learned
 * a slot's value chosen) and every apply. From the acceptances alone the checker knows what is
 * truly chosen, by the definition: a value is chosen at a slot once phase2_quorum distinct
 * acceptors accepted it in one ballot. Then, as the run goes, it checks:
 *   one value per ballot    all acceptances of one (slot, ballot) carry the same value (a
 *                           proposer never proposes two values in one ballot);
 *   at most one chosen      no two different values are ever chosen at one slot, whichever
 *                           ballots chose them (Paxos' safety property);
 *   learned means chosen    a node learns only the value truly chosen at that slot (so a
 *                           chosen value never changes on any node);
 *   same apply everywhere   every node applies, in slot order from slot 1, exactly the chosen
 *                           value of each slot (again after a restart).
 * Values are compared by (type, origin, bytes). The first violation is kept (message, time)
 * and reported through on_violation; later ones only count. The checker keeps what it needs
 * for every slot of the run (no compaction), growing as slots appear.
 *
 * A binding shares one checker among the nodes of a cluster (they must use the same
 * phase2_quorum) and gives it as hs_mpaxos_config.checker or hs_paxos_config.checker; the
 * notes below are what the cores call, and a test may call them too.
 */
#ifndef HS_PAXOS_CHECK_H
#define HS_PAXOS_CHECK_H

#include "paxos/hs_paxos.h"

struct hs_paxos_checker {
  uint32_t phase2_quorum;
  uint32_t ids[HS_PAXOS_MAX_NODES]; /* node id of each bit, in order of first sight */
  uint32_t n_ids;
  uint64_t applied[HS_PAXOS_MAX_NODES]; /* per bit: the last slot applied */
  struct hs_paxos_check_slot *slots;    /* by slot */
  uint64_t slots_cap;
  struct hs_paxos_check_vote *votes; /* a pool: per slot, a list of (ballot, value, acceptors) */
  uint64_t n_votes, votes_cap;
  uint64_t chosen;  /* slots seen chosen */
  uint64_t checks;  /* how many checks ran */
  bool violated;
  hs_time_ns violation_ns;
  char violation[256];
  void (*on_violation)(void *ud, const char *message);
  void *ud;
};

/* An empty checker for a cluster whose phase-2 quorum is phase2_quorum (>= 1). */
void hs_paxos_checker_init(hs_paxos_checker *c, uint32_t phase2_quorum);
void hs_paxos_checker_free(hs_paxos_checker *c);

/* Node `node` accepted v (v->ballot is the ballot, v->slot the slot). */
void hs_paxos_checker_note_accept(hs_paxos_checker *c, uint32_t node, const hs_paxos_value *v, hs_time_ns now);
/* Node `node` learned v chosen at v->slot. */
void hs_paxos_checker_note_choose(hs_paxos_checker *c, uint32_t node, const hs_paxos_value *v, hs_time_ns now);
/* Node `node` applied v at v->slot. */
void hs_paxos_checker_note_apply(hs_paxos_checker *c, uint32_t node, const hs_paxos_value *v, hs_time_ns now);
/* Node `node` restarted: its state machine starts again from slot 1. */
void hs_paxos_checker_note_restart(hs_paxos_checker *c, uint32_t node);

/* The value known chosen at slot: true with its hash (hs_paxos_checker_value_hash). */
bool hs_paxos_checker_chosen(const hs_paxos_checker *c, uint64_t slot, uint64_t *hash);
/* The identity of a value as the checker compares it: (type, origin, bytes). */
uint64_t hs_paxos_checker_value_hash(const hs_paxos_value *v);

#endif
