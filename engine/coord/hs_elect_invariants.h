/*
 * hs_elect_invariants.h - the safety properties of leader election, checked while a group
 * runs (the shape of hs_raft_invariants.h).
 *
 * It observes election cores (hs_elect.h), whatever drives them: the simulator adapter
 * (hs_elect_node_watch) and the C tests' randomized world feed it the events of the core's
 * leader_changed and persist callbacks. The properties:
 *   one backing per epoch  a node accepts at most one leader in an epoch, across crashes;
 *   durable backing        what a node persists never goes back: the epoch never decreases,
 *                          and within an epoch the backed node only goes from none to one;
 *   leader safety          at most one leader per epoch is accepted by a quorum of the
 *                          members (the leader's own acceptance included).
 * A violation is a message that starts with the property's name ("leader safety: ...").
 * The first one is kept, with its time, and reported through on_violation.
 */
#ifndef HS_ELECT_INVARIANTS_H
#define HS_ELECT_INVARIANTS_H

#include "coord/hs_elect.h"

typedef struct hs_elect_invariants {
  struct hs_elect_watched *nodes;
  uint32_t node_count, node_cap;
  struct hs_elect_epoch_rec *epochs; /* open addressing by epoch */
  uint32_t epochs_cap, epochs_count;
  uint64_t contested; /* epochs in which two or more leaders were accepted by someone */
  char violation[256];
  hs_time_ns violation_ns;
  bool violated;
  uint64_t checks;
  void (*on_violation)(void *ud, const char *message);
  void *ud;
} hs_elect_invariants;

void hs_elect_invariants_init(hs_elect_invariants *inv);
void hs_elect_invariants_free(hs_elect_invariants *inv);
/* Watches a core; name (kept by pointer) names it in messages. The quorum is taken from the
 * core's member count. HS_OK or HS_ENOMEM. */
int hs_elect_invariants_watch(hs_elect_invariants *inv, const hs_elect *e, const char *name);

/* The core's callbacks, forwarded (from leader_changed and persist). */
void hs_elect_invariants_on_leader(hs_elect_invariants *inv, const hs_elect *e, const hs_elect_leader_event *ev);
void hs_elect_invariants_on_persist(hs_elect_invariants *inv, const hs_elect *e, uint64_t epoch, uint32_t backed,
                                    hs_time_ns now);

#endif
