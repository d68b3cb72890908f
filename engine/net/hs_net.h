/*
 * hs_net.h - the simulated network: links, messages, partitions, interception, statistics.
 *
 * An hs_net is caller-owned (the Lua binding embeds it in a userdata): hs_net_init, then
 * hs_net_close, which is idempotent. The simulation must stay alive (or be closed) until the
 * network is closed: closing cancels the network's pending delivery events in it.
 *
 * Endpoints are entities registered with the network's simulation (hs_sim_register); an
 * entity is known by its id, so the network keeps no per-node registration of its own.
 * Links are directed. A pair without an explicit link uses the default link, if any.
 *
 * SENDING. hs_net_send(src, dst, ...) accepts a message (or returns an error and changes
 * nothing). An accepted message goes through, in this order:
 *   1. route      no explicit link and no default link             -> dropped_no_route
 *   2. partition  a partition cuts src -> dst now                   -> dropped_partition
 *   3. filter     the interception hook, if set: DELIVER, DROP (-> dropped_filter),
 *                 DUPLICATE (one extra copy), DELAY (extra delay, outside FIFO order),
 *                 HOLD (parked; see hs_net_held_*: steps 4-5 are skipped for it)
 *   4. loss       with packet_loss_rate                             -> dropped_loss
 *                 (a lost message still used the transmitter: it was lost on the wire)
 *   5. transmit   serialization waits for the link's previous message, then takes
 *                 size * 8 / bandwidth_bps; each copy (the message, a link duplicate with
 *                 duplicate_rate, a filter duplicate) then draws latency + jitter. A copy
 *                 arrives no earlier than the previous in-order arrival on the link (FIFO),
 *                 unless it is reordered (reorder_rate: it skips the clamp and is held back by
 *                 up to reorder_delay_s, so later messages overtake it). A DELAY from the
 *                 filter is added after the FIFO clamp and does not hold back later messages.
 * Each copy that reaches step 5 costs one engine event, its arrival, and nothing more.
 *
 * ARRIVAL (the in-flight rule). When a copy arrives, it is dropped if a partition cutting
 * src -> dst is active at that moment (dropped_partition), else if dst is crashed
 * (dropped_crash). So a partition that starts while a message is in flight drops it on
 * arrival, and one that started and healed entirely while the message was in flight does not
 * affect it. A crashed-then-restarted destination receives what arrives after the restart.
 * An arrival at a paused destination (hs_entity_pause) waits, still counted in flight, until
 * it resumes; the rule is applied then.
 * Otherwise the copy counts as delivered and dst->vt->on_message(dst, m) is called.
 *
 * Random draws (loss, duplication, latency, jitter, reordering) come from the link's own
 * stream, derived from the simulation seed and "net:<network name>:<src name>-><dst name>"
 * (entity ids when a name is NULL), so traffic on one link never shifts another's draws, and
 * two runs with the same seed give the same deliveries.
 *
 * PAYLOAD OWNERSHIP. hs_net_send takes ownership of payload when it returns HS_OK (and only
 * then). The network calls ops.release(ud, payload) exactly once for each copy's non-NULL
 * payload it still owns when that copy is delivered (after on_message returns), dropped
 * (at send or arrival, or by hs_net_held_drop) or discarded by hs_net_close. A duplicate's
 * payload comes from ops.copy(ud, payload, size) (a value copy, or the same pointer with a
 * reference count); without ops.copy, duplicates share the original pointer and release is
 * called once per copy. on_message may keep the payload with hs_message_take_payload; the
 * network then forgets it. The message struct itself is recycled after on_message returns.
 *
 * Callbacks (filter, observer, on_message, payload ops) may send, set partitions, release
 * held messages and crash entities; they must not close the network.
 *
 * ALLOCATION. Messages come from a slab of fixed chunks with a free list; link records from
 * chunks too. After warm-up (the peak number of messages in flight and held, and the first
 * message on each pair), sending and delivering allocate nothing, and both are O(1)
 * amortised (one hash lookup for the pair, one heap push).
 */
#ifndef HS_NET_H
#define HS_NET_H

#include "core/hs_sim.h"
#include "net/hs_dist.h"
#include "net/hs_link.h"
#include "net/hs_message.h"

/* Error codes of the network, beside the core's HS_OK / HS_EINVAL / HS_ENOMEM / HS_ECLOSED. */
enum {
  HS_NET_EUNKNOWN = -32, /* the entity is not registered with the network's simulation */
  HS_NET_ESELF = -33,    /* a link from an entity to itself */
  HS_NET_ECRASHED = -34, /* the source entity is crashed: it cannot send */
  HS_NET_EPARAM = -35,   /* link parameters rejected (hs_link_params_validate says why) */
  HS_NET_ENOTHELD = -36, /* the message is not held by this network */
  HS_NET_ENOPART = -37,  /* no active partition has this handle */
  HS_NET_EGROUP = -38    /* a partition group is empty, or an entity is in both groups */
};

/* A message for any HS_ or HS_NET_ code. */
const char *hs_net_strerror(int code);

/* What the interception filter decides for one message at send time. */
typedef enum hs_verdict {
  HS_VERDICT_DELIVER = 0, /* carry on as usual */
  HS_VERDICT_DROP,        /* drop it (dropped_filter) */
  HS_VERDICT_DUPLICATE,   /* deliver it and one extra copy (counted in duplicated) */
  HS_VERDICT_DELAY,       /* deliver it m->extra_delay_ns later (hs_message_set_delay) */
  HS_VERDICT_HOLD         /* park it until hs_net_held_deliver / hs_net_held_drop */
} hs_verdict;

typedef hs_verdict (*hs_net_filter_fn)(void *ud, hs_message *m);

/* The end of a copy's journey (and its start), reported to the observer. */
typedef enum hs_net_outcome {
  HS_NET_SENT = 0, /* accepted by hs_net_send (once per original, before routing) */
  HS_NET_HELD,     /* parked by a HOLD verdict */
  HS_NET_DELIVERED,
  HS_NET_DROPPED_LOSS,
  HS_NET_DROPPED_PARTITION,
  HS_NET_DROPPED_CRASH,
  HS_NET_DROPPED_NO_ROUTE,
  HS_NET_DROPPED_FILTER
} hs_net_outcome;

/* "sent", "held", "delivered", "dropped_loss", ... (the counter names). */
const char *hs_net_outcome_name(hs_net_outcome o);

/* Called for every outcome; for DELIVERED, just before on_message. */
typedef void (*hs_net_observer_fn)(void *ud, const hs_message *m, hs_net_outcome outcome);

typedef struct hs_net_payload_ops {
  void *(*copy)(void *ud, void *payload, uint64_t size_bytes); /* may be NULL */
  void (*release)(void *ud, void *payload);                    /* may be NULL */
  void *ud;
} hs_net_payload_ops;

typedef uint32_t hs_partition_id; /* 1, 2, ... never reused; 0 is no partition */

typedef struct hs_partition_rec hs_partition_rec;       /* private */
typedef struct hs_net_params_entry hs_net_params_entry; /* private */

/* All fields are private but readable; use the functions below. */
struct hs_net {
  hs_sim *sim;
  char *stream_prefix; /* "net:<name>" */
  const char *name;    /* points into stream_prefix */
  bool closed;

  /* link records: chunks of HS_NET_LINK_CHUNK, and a hash map (src id, dst id) -> index + 1 */
  hs_link **link_chunks;
  uint32_t link_count, link_chunk_cap;
  uint64_t *map_keys;
  uint32_t *map_vals;
  uint32_t map_cap;                     /* power of two, or 0 */
  const hs_link_params *default_params; /* NULL: no default link */

  /* shared, reference-counted link parameters */
  hs_net_params_entry **pool;
  uint32_t pool_count, pool_cap;

  /* message slab */
  hs_message **msg_chunks;
  uint32_t msg_chunk_count, msg_chunk_cap;
  hs_message *free_list;
  uint64_t msg_in_use;
  uint64_t in_flight;
  uint64_t next_msg_id;

  /* held messages, in the order they were held */
  hs_message *held_head, *held_tail;
  uint64_t held_count;

  /* active partitions, in creation order */
  hs_partition_rec **parts;
  uint32_t part_count, part_cap;
  hs_partition_id next_part_id;

  /* interned message type names */
  char **types;
  uint32_t type_count, type_cap; /* open addressing; cap is a power of two or 0 */

  hs_net_filter_fn filter;
  void *filter_ud;
  hs_net_observer_fn observer;
  void *observer_ud;
  hs_net_payload_ops payload_ops;

  hs_net_counters stats; /* totals over every link */
};

#define HS_NET_LINK_CHUNK 256u
#define HS_NET_MSG_CHUNK 256u

/* ---- Life cycle ---------------------------------------------------------------------- */

/* Prepares an empty network (no links, no default link) on sim. name (copied) names the
 * random streams; NULL means "net". HS_OK or HS_ENOMEM (net is then closed and harmless). */
int hs_net_init(hs_net *net, hs_sim *sim, const char *name);
/* Cancels pending deliveries, releases every payload still owned (in-flight messages in slab
 * order, then held messages in hold order), frees everything. Idempotent. */
void hs_net_close(hs_net *net);

/* ---- Links --------------------------------------------------------------------------- */

/* Adds or replaces the directed link src -> dst. Counters and FIFO state of the pair are
 * kept when replacing. HS_NET_EUNKNOWN, HS_NET_ESELF, HS_NET_EPARAM, HS_ENOMEM, HS_ECLOSED.
 * *out (optional) receives the pair's record. */
int hs_net_add_link(hs_net *net, hs_entity *src, hs_entity *dst, const hs_link_params *p, hs_link **out);
/* Both directions with the same parameters; checks everything before adding anything. */
int hs_net_add_bidirectional_link(hs_net *net, hs_entity *a, hs_entity *b, const hs_link_params *p);
/* Every ordered pair of distinct nodes (a full mesh), in the order nodes[i] -> nodes[j] for
 * i, then j. Checks every node and p first: nothing is added on HS_NET_EUNKNOWN/EPARAM. A node
 * listed twice is ignored the second time (no self link). */
int hs_net_connect_all(hs_net *net, hs_entity *const *nodes, size_t n, const hs_link_params *p);
/* Removes the explicit link src -> dst: the pair falls back to the default link. No-op if it
 * has none. HS_NET_EUNKNOWN, HS_ECLOSED. */
int hs_net_remove_link(hs_net *net, hs_entity *src, hs_entity *dst);
/* Sets the default link used by pairs without an explicit one (NULL: none, such messages are
 * dropped_no_route). Each such pair still has its own record, FIFO state and stream.
 * HS_NET_EPARAM, HS_ENOMEM, HS_ECLOSED. */
int hs_net_set_default_link(hs_net *net, const hs_link_params *p);
static inline const hs_link_params *hs_net_default_link(const hs_net *net) { return net->default_params; }

/* The record of src -> dst, or NULL if the pair has neither a link nor traffic yet. */
hs_link *hs_net_find_link(const hs_net *net, const hs_entity *src, const hs_entity *dst);
/* The parameters a message on l uses now: its own, else the default; NULL: no route. */
static inline const hs_link_params *hs_net_route(const hs_net *net, const hs_link *l) {
  return l->params ? l->params : net->default_params;
}
/* Link records in creation order (the traffic matrix): i < hs_net_link_count. */
static inline size_t hs_net_link_count(const hs_net *net) { return net->link_count; }
static inline hs_link *hs_net_link_at(const hs_net *net, size_t i) {
  return &net->link_chunks[i / HS_NET_LINK_CHUNK][i % HS_NET_LINK_CHUNK];
}

/* ---- Messages ------------------------------------------------------------------------ */

/*
 * Sends a message of size_bytes from src to dst now (see SENDING above). type must outlive
 * the message (a static string or hs_net_intern's result). Returns HS_OK when accepted —
 * even if it is then dropped — with the message id in *id_out (optional). Errors, with the
 * payload left to the caller: HS_ECLOSED (network or simulation closed), HS_NET_EUNKNOWN
 * (src or dst not registered with the simulation), HS_NET_ECRASHED (src crashed),
 * HS_ENOMEM. Sending to oneself is allowed; it goes through the default link.
 */
int hs_net_send(hs_net *net, hs_entity *src, hs_entity *dst, const char *type, void *payload,
                uint64_t size_bytes, uint64_t *id_out);

/* A copy of s (len bytes) owned by the network and stable until hs_net_close; equal strings
 * give the same pointer. NULL on HS_ENOMEM. For message type names. */
const char *hs_net_intern(hs_net *net, const char *s, size_t len);

void hs_net_set_payload_ops(hs_net *net, const hs_net_payload_ops *ops); /* NULL: none */
/* The interception filter, consulted once per hs_net_send (NULL: none). */
void hs_net_set_filter(hs_net *net, hs_net_filter_fn fn, void *ud);
void hs_net_set_observer(hs_net *net, hs_net_observer_fn fn, void *ud);

/* ---- Held messages ------------------------------------------------------------------- */

static inline uint64_t hs_net_held_count(const hs_net *net) { return net->held_count; }
/* Held messages in the order they were held: first, then next until NULL. */
static inline hs_message *hs_net_held_first(const hs_net *net) { return net->held_head; }
static inline hs_message *hs_net_held_next(const hs_message *m) { return m->next; }
/* Releases a held message: it arrives delay_ns from now (0: after the events already due
 * now), bypassing the link (no loss, latency, bandwidth or FIFO), and is then subject to the
 * arrival rule (partition, crash). HS_NET_ENOTHELD, HS_EINVAL (delay < 0), HS_ENOMEM or
 * HS_ECLOSED: the message stays held. */
int hs_net_held_deliver(hs_net *net, hs_message *m, hs_time_ns delay_ns);
/* Drops a held message (dropped_filter) and releases its payload. HS_NET_ENOTHELD. */
int hs_net_held_drop(hs_net *net, hs_message *m);

/* ---- Partitions ---------------------------------------------------------------------- */

/*
 * Cuts the network between groups a and b: messages from a member of a to a member of b are
 * dropped, and those from b to a too unless asymmetric (a one-way cut: only a -> b is
 * blocked). Partitions stack: a message is cut if any active partition cuts it. Entities
 * registered later are in no group. *out (optional) receives the handle.
 * HS_NET_EUNKNOWN, HS_NET_EGROUP (an empty group, or an entity in both), HS_ENOMEM, HS_ECLOSED.
 */
int hs_net_partition(hs_net *net, hs_entity *const *a, size_t na, hs_entity *const *b, size_t nb,
                     bool asymmetric, hs_partition_id *out);
/* Heals one partition; the others stay. HS_NET_ENOPART if it is not active. */
int hs_net_heal(hs_net *net, hs_partition_id id);
/* Heals every partition. */
void hs_net_heal_all(hs_net *net);
bool hs_net_partition_active(const hs_net *net, hs_partition_id id);
/* True when a message from a to b would be cut now (directional). */
bool hs_net_is_partitioned(const hs_net *net, const hs_entity *a, const hs_entity *b);
/* Active partitions in creation order: i < hs_net_partition_count. */
static inline size_t hs_net_partition_count(const hs_net *net) { return net->part_count; }
hs_partition_id hs_net_partition_at(const hs_net *net, size_t i);

/* ---- Statistics ---------------------------------------------------------------------- */

static inline const hs_net_counters *hs_net_stats(const hs_net *net) { return &net->stats; }
/* Copies now in flight (pending delivery events). */
static inline uint64_t hs_net_in_flight(const hs_net *net) { return net->in_flight; }
/* Message structs allocated by the slab (in use or free): constant in a steady state. */
static inline uint64_t hs_net_msg_capacity(const hs_net *net) {
  return (uint64_t)net->msg_chunk_count * HS_NET_MSG_CHUNK;
}
static inline uint64_t hs_net_msg_in_use(const hs_net *net) { return net->msg_in_use; }

#endif
