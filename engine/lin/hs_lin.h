/*
 * hs_lin.h - a linearizability checker for histories of client operations.
 *
 * An operation ran on some process between its invocation (`call`) and its completion
 * (`ret`). The history is linearizable when the operations can be put in one order
 * that respects real time (a before b whenever a.ret < b.call) and that a sequential
 * model accepts. Operations whose outcome is unknown (Jepsen's `info`) have
 * ret = HS_LIN_INF: they may take effect at any time after their call, or never.
 *
 * The search is Wing & Gong's, with Lowe's memoization: a configuration is the set of
 * operations already linearized plus the model state, and a configuration seen once is
 * never explored again; reads that are legal where they stand are placed without
 * branching (a partial-order reduction). When the model allows it (P-compositionality)
 * the history is split by key and each key is checked on its own. A budget (wall time,
 * model steps, memory) turns a search that would not end into HS_LIN_UNKNOWN.
 *
 * Model states are byte strings: their identity is their bytes, so hashing and
 * comparing states is generic. A model that keeps its real state elsewhere (a Lua
 * table) returns identity bytes plus a handle of its own, released by `release`.
 *
 * Values (keys, inputs, outputs) are hs_value encodings; hs_lin_canon makes two equal
 * Lua values encode to equal bytes (sorted map keys, integral floats as integers), and
 * the built-in models compare values by their bytes.
 */
#ifndef HS_LIN_H
#define HS_LIN_H

#include "core/hs_value.h"

#define HS_LIN_INF INT64_MAX

/* The operation kinds the built-in models know; Lua models see the name instead. */
enum hs_lin_f { HS_LIN_F_OTHER, HS_LIN_F_READ, HS_LIN_F_WRITE, HS_LIN_F_CAS, HS_LIN_F_ADD };

typedef struct hs_lin_op {
  int64_t call;    /* when it was invoked (any ordered unit) */
  int64_t ret;     /* when it completed; HS_LIN_INF when unknown */
  int64_t process; /* for reports only */
  int f;           /* enum hs_lin_f */
  bool unknown;    /* the output is unknown (an info operation) */
  hs_value key;    /* len 0: no key */
  hs_value input;  /* the invocation's value (len 0: nil) */
  hs_value output; /* the completion's value (len 0: nil) */
} hs_lin_op;

/* A model state as the checker sees it: identity bytes plus the model's own handle. */
typedef struct hs_lin_state {
  const uint8_t *bytes;
  size_t len;
  uint64_t handle;
} hs_lin_state;

/*
 * A sequential model. init and step write the identity bytes of the new state to `out`
 * (reset by the checker) and may set *handle. step returns 1 when the operation is legal
 * in state s, 0 when it is not, and a negative number on an error (the search stops with
 * HS_LIN_ERROR); *handle is only taken when it returns 1, and then given back through
 * `release` once the checker no longer needs that state. Optional callbacks may be NULL.
 */
typedef struct hs_lin_model {
  const char *name;
  bool partition_by_key; /* operations on different keys are independent */
  void *ud;
  int (*init)(void *ud, hs_value key, hs_buf *out, uint64_t *handle); /* key: the partition's (len 0 if none) */
  int (*step)(void *ud, hs_lin_state s, const hs_lin_op *op, hs_buf *out, uint64_t *handle);
  void (*release)(void *ud, uint64_t handle);              /* a state handle is no longer needed */
  /* True when op never changes any state (a read). Unknown ones are then dropped, and a
   * legal one is linearized without trying alternatives: a false "true" makes the
   * checker unsound, so leave it NULL when unsure. */
  bool (*readonly)(void *ud, const hs_lin_op *op);
  const char *(*check_op)(void *ud, const hs_lin_op *op); /* NULL, or why the op is malformed */
} hs_lin_model;

/* The built-in models: "register", "cas_register", "kv" (a cas_register per key,
 * partitioned by key), "kv_map" (the same over one map, without partitioning), "set"
 * (add / read of the whole set) and "counter" (add / read). NULL for another name. */
const hs_lin_model *hs_lin_model_builtin(const char *name);
/* "read", "write", "cas", "add" -> enum hs_lin_f; HS_LIN_F_OTHER otherwise. */
int hs_lin_f_from_name(const char *name);
const char *hs_lin_f_name(int f);

typedef struct hs_lin_options {
  double timeout_s;   /* wall-clock budget; <= 0: none */
  uint64_t max_steps; /* model steps; 0: none */
  size_t max_bytes;   /* memory for memoized configurations of one sub-history; 0: none */
} hs_lin_options;

typedef enum hs_lin_verdict { HS_LIN_VALID, HS_LIN_INVALID, HS_LIN_UNKNOWN, HS_LIN_ERROR } hs_lin_verdict;

typedef struct hs_lin_result {
  hs_lin_verdict verdict;
  const char *reason;       /* UNKNOWN: "timeout", "step limit", "memory limit"; ERROR: what failed */
  uint64_t steps;           /* model steps taken */
  uint64_t configurations;  /* memoized configurations, summed over partitions */
  size_t partitions;        /* independent sub-histories */
  size_t partitions_checked;
  /* INVALID (operation indices refer to the ops array): */
  size_t partition;         /* the failing sub-history */
  size_t partition_op;      /* one of its operations (to name its key) */
  size_t *prefix;           /* the longest linearizable prefix found, in order */
  size_t prefix_len;
  size_t blocked;           /* the operation that could not be linearized before it completed */
  size_t *pending;          /* operations concurrent with it, not linearized either */
  size_t pending_len;
  hs_buf state;             /* the model state after the prefix (identity bytes) */
  uint64_t state_handle;
  bool has_state;
} hs_lin_result;

/*
 * Checks ops[0..n) against the model. The result owns its arrays: free it with
 * hs_lin_result_free (which releases the state handle through the model). Guarantees:
 * deterministic for a given input (except where the wall-clock budget cuts in); memory
 * is bounded by max_bytes plus O(n); the model's callbacks are called on this thread only.
 */
hs_lin_verdict hs_lin_check(const hs_lin_model *m, const hs_lin_op *ops, size_t n, const hs_lin_options *opt,
                            hs_lin_result *r);
void hs_lin_result_free(hs_lin_result *r, const hs_lin_model *m);
const char *hs_lin_verdict_name(hs_lin_verdict v);

/* Writes the canonical form of an encoded value to out: map entries sorted by their
 * encoded keys, integer-valued floats as integers, integer keys that extend the array
 * moved into it. False if the input is malformed. */
bool hs_lin_canon(hs_value v, hs_buf *out);

#endif
