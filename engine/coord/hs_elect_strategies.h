/*
 * hs_elect_strategies.h - the built-in election strategies (hs_elect_strategy_ops).
 *
 * BULLY (Garcia-Molina 1982). A node that lost its leader sends ELECTION to every higher
 * member it believes alive and waits answer_timeout: no ANSWER means every higher node is
 * dead, so it declares itself (the core's announce heartbeat is the COORDINATOR message). An
 * ANSWER means a higher node took over: it waits coordinator_timeout for the announcement and
 * starts a new election if none comes, so a higher node that answered and then died does not
 * stall it. A node that gets ELECTION from a lower one answers and runs its own election (or,
 * leading, re-announces itself to it). A node that hears a lower leader, such as a higher node
 * that recovered, refuses it and starts an election: it bullies its way back.
 *
 * RING (Chang and Roberts 1979) over the members in id order. The initiator sends
 * ELECTION(candidate = itself) to its successor; a node forwards the larger of the candidate and
 * itself (a participant forwards only candidates larger than any it forwarded, so the best one
 * passes every node); the node that receives its own id has seen every live node and declares
 * itself. Each hop is acknowledged: a successor that does not ack within ack_timeout is marked
 * unresponsive for this epoch and the message goes to the next one, so dead nodes are skipped
 * instead of swallowing the election. (The elected phase is the core's announce heartbeat, sent
 * to every member directly.) A round that does not end within round_timeout is restarted in a
 * new epoch by the core's failure check.
 *
 * RANDOMIZED (Raft's election without logs). A node that lost its leader waits a random
 * delay - ballot / ballot_range of timeout, ballot uniform in [1, ballot_range] - then starts
 * an epoch, backs itself and asks every member for a vote; a member votes (backs) at most once
 * per epoch; a quorum of votes makes it leader. A split vote is retried in a new epoch after
 * timeout + a new random delay. At most one leader per epoch, elected by a quorum.
 */
#ifndef HS_ELECT_STRATEGIES_H
#define HS_ELECT_STRATEGIES_H

#include "coord/hs_elect.h"

typedef struct hs_elect_bully_config {
  hs_time_ns answer_timeout_ns;      /* default 0: election_timeout / 4 */
  hs_time_ns coordinator_timeout_ns; /* default 0: election_timeout / 2 */
} hs_elect_bully_config;

typedef struct hs_elect_ring_config {
  hs_time_ns ack_timeout_ns;   /* default 0: election_timeout / 8 */
  hs_time_ns round_timeout_ns; /* default 0: election_timeout */
} hs_elect_ring_config;

typedef struct hs_elect_randomized_config {
  uint64_t ballot_range; /* default 0: 1,000,000 (the seed's) */
  hs_time_ns timeout_ns; /* default 0: election_timeout */
} hs_elect_randomized_config;

/* Each fills *out with a fresh strategy instance for one node (cfg NULL: the defaults).
 * HS_OK, HS_EINVAL (negative times), HS_ENOMEM. */
int hs_elect_bully_new(const hs_elect_bully_config *cfg, hs_elect_strategy *out);
int hs_elect_ring_new(const hs_elect_ring_config *cfg, hs_elect_strategy *out);
int hs_elect_randomized_new(const hs_elect_randomized_config *cfg, hs_elect_strategy *out);

#endif
