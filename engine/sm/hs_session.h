/*
 * hs_session.h - client sessions: each client command is applied at most once, even
 * when the network duplicates the request or a copy reaches a later leader (the Raft
 * dissertation, section 6.3, "Implementing linearizable semantics").
 *
 * A session command is a normal log entry whose bytes are an envelope: the byte
 * HS_SESSION_TAG (no hs_value starts with it), then as hs_values the client's name,
 * the request id and the command. Applying it, every replica consults the same session
 * table (it is part of the state machine's state, so it is rebuilt by replaying the log and
 * travels in snapshots):
 *   - a request id seen before: not applied again; the request gets the first result;
 *   - an id at or below the client's floor (the highest id its window forgot: the window
 *     keeps the HS_SESSION_WINDOW highest ids applied) and not in the window: not
 *     applied, and the outcome is reported as unknown (HS_SESSION_EXPIRED), since it
 *     may have been applied and forgotten;
 *   - otherwise applied, and its result remembered.
 * Ids need not be consecutive, and a client may have requests in flight concurrently;
 * the window bounds the memory per client.
 *
 * Nothing here is specific to one protocol: a replication adapter (engine/raft/hs_raft_node.c,
 * engine/paxos/hs_paxos_node.c) wraps commands with hs_session_begin and applies every
 * committed command with hs_sessions_apply, over the state-machine interface (sm/hs_sm.h).
 */
#ifndef HS_SESSION_H
#define HS_SESSION_H

#include "core/hs_value.h"
#include "sm/hs_sm.h"

#define HS_SESSION_TAG 0xC5
#define HS_SESSION_WINDOW 32

/* A parsed envelope: views into the entry's bytes. */
typedef struct hs_session_cmd {
  const char *client;
  size_t client_len;
  uint64_t request_id;
  hs_value cmd; /* cmd.len is the command's exact size */
} hs_session_cmd;

/* Starts the envelope of a command of (client, request_id) in out (after what it holds):
 * the encoded command is to follow. */
void hs_session_begin(hs_buf *out, const char *client, size_t client_len, uint64_t request_id);
/* 1: data is an envelope (parsed into out); 0: a plain command; -1: a malformed envelope. */
int hs_session_parse(const uint8_t *data, size_t len, hs_session_cmd *out);

typedef struct hs_session hs_session;

typedef struct hs_sessions {
  hs_session *list; /* in order of first appearance (deterministic snapshots) */
  uint32_t count, cap;
  uint32_t *index; /* open addressing: position in list + 1, 0 = empty */
  uint32_t index_cap;
  hs_buf snap; /* snapshot_wrap's output */
} hs_sessions;

void hs_sessions_init(hs_sessions *s);
void hs_sessions_free(hs_sessions *s);
void hs_sessions_clear(hs_sessions *s);

typedef enum { HS_SESSION_NEW, HS_SESSION_DUPLICATE, HS_SESSION_EXPIRED } hs_session_verdict;

/* What applying c should do. On DUPLICATE, *result (the first result's bytes, possibly
 * empty) and *err (its error message, or NULL) stay valid until the table changes. */
hs_session_verdict hs_sessions_check(hs_sessions *s, const hs_session_cmd *c, hs_value *result,
                                               const char **err);
/* Remembers the outcome of applying the NEW command c. HS_OK or HS_ENOMEM. */
int hs_sessions_record(hs_sessions *s, const hs_session_cmd *c, const uint8_t *result,
                            size_t result_len, const char *err);

/* A snapshot holding the sessions and the state machine's snapshot (sm, NULL for the empty
 * state): without sessions, sm itself. NULL when out of memory. */
const uint8_t *hs_sessions_snapshot(hs_sessions *s, const uint8_t *sm, size_t sm_len, size_t *len);
/* Replaces the sessions with those of a snapshot made by hs_sessions_snapshot (data
 * NULL: none) and points *sm at the state machine's part (NULL for the empty state).
 * HS_OK, HS_EINVAL (malformed: the sessions are then empty) or HS_ENOMEM. */
int hs_sessions_restore(hs_sessions *s, const uint8_t *data, size_t len, const uint8_t **sm, size_t *sm_len);

/* The error message a session command too old for its client's window gets (compare the
 * pointer): its outcome is unknown to the client. */
extern const char hs_session_expired_msg[];

/* The error of a command whose bytes are not one whole hs_value (only a forged message can
 * carry one): it is not given to the state machine. */
extern const char hs_session_malformed_msg[];

/* What hs_sessions_apply counts. */
typedef struct hs_session_counts {
  uint64_t duplicates; /* session commands applied before: answered, not applied again */
  uint64_t expired;    /* session commands older than their client's window: refused */
} hs_session_counts;

/* Applies one committed command (data, len: a plain command or a session envelope) to sm,
 * at most once per client request: the result goes to out (after what it holds; a duplicate
 * gets the first result), and the return value is NULL or an error message (the state
 * machine's, hs_session_expired_msg, hs_session_malformed_msg, or one for a malformed
 * envelope). */
const char *hs_sessions_apply(hs_sessions *s, const hs_sm_ops *sm, const uint8_t *data, size_t len, hs_buf *out,
                              hs_session_counts *counts);

#endif
