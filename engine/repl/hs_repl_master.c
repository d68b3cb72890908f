/* hs_repl_master.c - the configuration master (hs_repl_master.h). */
#include "repl/hs_repl_master.h"

#include "repl/hs_repl_internal.h"

#include <stdlib.h>

#define MS 1000000LL

typedef struct mrec {
  uint32_t id;
  uint64_t join_epoch;
  uint64_t join_boots; /* the incarnation that holds (or will receive) the data */
  bool synced;
  hs_time_ns last_heard, granted_until;
  /* primary-backup: the newest log position this incarnation reported (flag LOG), sent at rep_at */
  uint64_t rep_tag, rep_seq;
  hs_time_ns rep_at;  /* INT64_MIN: none */
  uint64_t restarted; /* the boot count of a restart the master waits to act on (0: none) */
  hs_time_ns restarted_at;
} mrec;

/* Every node the master has heard of, so pushes reach removed ones and pings are ordered. */
typedef struct mknown {
  uint32_t id;
  uint64_t boots;
} mknown;

struct hs_repl_master {
  uint32_t id;
  hs_time_ns lease, failure_timeout;
  bool auto_rejoin;
  bool promote_freshest; /* configured, and the members report their logs' positions */
  bool logs_reported;
  hs_repl_master_callbacks cb;
  void *ud;
  uint64_t epoch;
  mrec m[HS_REPL_MAX_NODES];
  uint32_t n;
  mknown known[2 * HS_REPL_MAX_NODES];
  uint32_t n_known;
  uint32_t ids[HS_REPL_MAX_NODES];
  uint64_t joins[HS_REPL_MAX_NODES];
  hs_time_ns deadline;
  hs_repl_master_stats st;
};

void hs_repl_master_config_init(hs_repl_master_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->lease_ns = 500 * MS;
  cfg->failure_timeout_ns = 1000 * MS;
  cfg->auto_rejoin = true;
  cfg->promote_freshest = true;
}

static mknown *master_known(hs_repl_master *m, uint32_t id) {
  for (uint32_t i = 0; i < m->n_known; i++)
    if (m->known[i].id == id) return &m->known[i];
  if (m->n_known == 2 * HS_REPL_MAX_NODES) return NULL;
  m->known[m->n_known] = (mknown){id, 0};
  return &m->known[m->n_known++];
}

int hs_repl_master_new(const hs_repl_master_config *cfg, hs_repl_master **out) {
  *out = NULL;
  if (!cfg || cfg->id == HS_REPL_NONE || !cfg->cb.send || cfg->n_members == 0 || !cfg->members ||
      cfg->n_members > HS_REPL_MAX_NODES || cfg->lease_ns <= 0 || cfg->failure_timeout_ns < cfg->lease_ns)
    return HS_EINVAL;
  for (uint32_t i = 0; i < cfg->n_members; i++) {
    if (cfg->members[i] == HS_REPL_NONE || cfg->members[i] == cfg->id) return HS_EINVAL;
    for (uint32_t j = 0; j < i; j++)
      if (cfg->members[j] == cfg->members[i]) return HS_EINVAL;
  }
  hs_repl_master *m = calloc(1, sizeof *m);
  if (!m) return HS_ENOMEM;
  m->id = cfg->id;
  m->lease = cfg->lease_ns;
  m->failure_timeout = cfg->failure_timeout_ns;
  m->auto_rejoin = cfg->auto_rejoin;
  m->promote_freshest = cfg->promote_freshest;
  m->cb = cfg->cb;
  m->ud = cfg->ud;
  m->epoch = 1;
  m->deadline = HS_TIME_NEVER;
  for (uint32_t i = 0; i < cfg->n_members; i++) {
    m->m[i] = (mrec){.id = cfg->members[i], .join_epoch = 1, .join_boots = 1, .synced = true, .rep_at = INT64_MIN};
    master_known(m, cfg->members[i]);
  }
  m->n = cfg->n_members;
  *out = m;
  return HS_OK;
}

void hs_repl_master_free(hs_repl_master *m) { free(m); }

static int32_t master_pos(const hs_repl_master *m, uint32_t id) {
  for (uint32_t i = 0; i < m->n; i++)
    if (m->m[i].id == id) return (int32_t)i;
  return -1;
}

/* The CONFIG for `to`, with its lease (0 when none is granted). */
static void master_send_config(hs_repl_master *m, uint32_t to, hs_time_ns lease_until) {
  uint64_t synced = 0;
  for (uint32_t i = 0; i < m->n; i++) {
    m->ids[i] = m->m[i].id;
    m->joins[i] = m->m[i].join_epoch;
    if (m->m[i].synced) synced |= (uint64_t)1 << i;
  }
  hs_repl_msg c = {.type = HS_REPL_MSG_CONFIG, .from = m->id, .to = to, .epoch = m->epoch, .ids = m->ids,
                   .n_ids = m->n, .nums = m->joins, .n_nums = m->n, .context = synced, .time_ns = lease_until};
  m->cb.send(m->ud, &c);
}

/* Whether member i may be removed at now: silent for failure_timeout, every lease granted to
 * it expired, and, for a synced member, another synced member heard from since i became
 * suspect (so a master cut off from every copy of the data removes none of them). */
static bool master_removable(const hs_repl_master *m, uint32_t i, hs_time_ns now) {
  const mrec *r = &m->m[i];
  if (now - r->last_heard < m->failure_timeout || now < r->granted_until) return false;
  if (!r->synced) return true;
  for (uint32_t j = 0; j < m->n; j++)
    if (j != i && m->m[j].synced && m->m[j].last_heard >= r->last_heard + m->failure_timeout) return true;
  return false;
}

/* Whether the primary's replacement is chosen by the freshest log (hs_repl_master.h, RULES). */
static bool master_freshest_rule(const hs_repl_master *m) { return m->promote_freshest && m->logs_reported; }

/* When the next member may be removed (a member that is due but kept waits for a ping; so
 * does a primary due for replacement while the master waits for the backups' reports). */
static void master_arm(hs_repl_master *m, hs_time_ns now) {
  hs_time_ns d = HS_TIME_NEVER;
  for (uint32_t i = 0; i < m->n; i++) {
    hs_time_ns due = m->m[i].last_heard + m->failure_timeout;
    if (m->m[i].granted_until > due) due = m->m[i].granted_until;
    if (due <= now && (!master_removable(m, i, now) || (i == 0 && master_freshest_rule(m)))) continue;
    if (due < d) d = due;
  }
  if (d != m->deadline && m->cb.set_timer) m->cb.set_timer(m->ud, d);
  m->deadline = d;
}

/* A new epoch: the first member made synced, then the configuration pushed to every node
 * known (members with the leases they already hold, the others with none). */
static void master_commit(hs_repl_master *m) {
  if (m->n && !m->m[0].synced)
    for (uint32_t i = 1; i < m->n; i++)
      if (m->m[i].synced) {
        mrec first = m->m[i];
        memmove(&m->m[1], &m->m[0], i * sizeof *m->m);
        m->m[0] = first;
        break;
      }
  m->epoch++;
  m->st.reconfigurations++;
  for (uint32_t k = 0; k < m->n_known; k++) {
    int32_t p = master_pos(m, m->known[k].id);
    master_send_config(m, m->known[k].id, p >= 0 ? m->m[p].granted_until : 0);
  }
  if (m->cb.config_changed) {
    for (uint32_t i = 0; i < m->n; i++) m->ids[i] = m->m[i].id;
    m->cb.config_changed(m->ud, m->epoch, m->ids, m->n);
  }
}

static uint32_t master_synced_count(const hs_repl_master *m) {
  uint32_t c = 0;
  for (uint32_t i = 0; i < m->n; i++) c += m->m[i].synced;
  return c;
}

static void master_drop(hs_repl_master *m, uint32_t pos) {
  memmove(&m->m[pos], &m->m[pos + 1], (m->n - pos - 1) * sizeof *m->m);
  m->n--;
  m->st.removals++;
}

/* Appends node as a joiner of the next epoch (removing it first if it is a member). */
static void master_append(hs_repl_master *m, uint32_t node, uint64_t boots, hs_time_ns now) {
  int32_t p = master_pos(m, node);
  mrec r = {.id = node, .join_epoch = m->epoch + 1, .join_boots = boots, .last_heard = now, .rep_at = INT64_MIN};
  if (p >= 0) {
    r.granted_until = m->m[p].granted_until;
    master_drop(m, (uint32_t)p);
  }
  if (m->n == HS_REPL_MAX_NODES) return;
  m->m[m->n++] = r;
  m->st.joins++;
}

/* The primary-backup failover (hs_repl_master.h, RULES): when the primary (member 0) is due
 * for removal or restarted, and every synced member not itself due has reported its log
 * since the fence, the old primary is dropped (a restarted one appended again as a joiner)
 * and the freshest synced member moved to the front. Returns whether the members changed
 * (the caller commits). */
static bool master_failover(hs_repl_master *m, hs_time_ns now) {
  if (!master_freshest_rule(m) || m->n == 0) return false;
  mrec *old = &m->m[0];
  hs_time_ns fence;
  if (old->restarted) fence = old->restarted_at;
  else if (master_removable(m, 0, now)) fence = old->granted_until;
  else return false;
  uint32_t best = 0;
  for (uint32_t j = 1; j < m->n; j++) {
    const mrec *r = &m->m[j];
    if (!r->synced || master_removable(m, j, now)) continue;
    if (r->rep_at < fence) return false; /* wait for its report */
    if (!best || r->rep_tag > m->m[best].rep_tag ||
        (r->rep_tag == m->m[best].rep_tag && r->rep_seq > m->m[best].rep_seq))
      best = j;
  }
  uint32_t id = best ? m->m[best].id : HS_REPL_NONE;
  if (old->restarted) master_append(m, old->id, old->restarted, now);
  else master_drop(m, 0);
  int32_t p = id != HS_REPL_NONE ? master_pos(m, id) : -1;
  if (p > 0) {
    mrec first = m->m[p];
    memmove(&m->m[1], &m->m[0], (uint32_t)p * sizeof *m->m);
    m->m[0] = first;
  }
  if (p >= 0) m->st.failovers_freshest++;
  return true;
}

int hs_repl_master_start(hs_repl_master *m, hs_time_ns now) {
  for (uint32_t i = 0; i < m->n; i++) {
    m->m[i].last_heard = now;
    master_send_config(m, m->m[i].id, 0);
  }
  master_arm(m, now);
  return HS_OK;
}

int hs_repl_master_step(hs_repl_master *m, const hs_repl_msg *msg, hs_time_ns now) {
  if (msg->type != HS_REPL_MSG_PING || msg->to != m->id || msg->from == HS_REPL_NONE || msg->from == m->id) {
    m->st.malformed++;
    return HS_EINVAL;
  }
  m->st.pings++;
  mknown *k = master_known(m, msg->from);
  if (!k) return HS_OK;
  if (msg->context < k->boots) { /* an earlier incarnation's ping, delayed */
    m->st.stale_pings++;
    return HS_OK;
  }
  k->boots = msg->context;
  if (msg->flags & HS_REPL_FLAG_LOG) m->logs_reported = true;
  int32_t p = master_pos(m, msg->from);
  if (p >= 0 && msg->context > m->m[p].join_boots) { /* restarted since it joined: its data is gone */
    bool last = m->m[p].synced && master_synced_count(m) == 1;
    if (p == 0 && !last && master_freshest_rule(m)) { /* the primary: its successor waits for reports */
      if (!m->m[0].restarted) m->m[0].restarted_at = now;
      if (msg->context > m->m[0].restarted) m->m[0].restarted = msg->context;
      p = -1; /* no lease for it */
    } else if (!last) {
      master_append(m, msg->from, msg->context, now);
      master_commit(m);
      p = master_pos(m, msg->from);
    } else { /* the last copy is gone: nothing can be brought up to date any more */
      m->m[p].join_boots = msg->context;
      m->m[p].synced = false;
      m->st.copies_lost++;
    }
  } else if (p < 0 && m->auto_rejoin && m->n < HS_REPL_MAX_NODES) {
    master_append(m, msg->from, msg->context, now);
    master_commit(m);
    p = master_pos(m, msg->from);
  }
  hs_time_ns lease = 0;
  if (p >= 0) {
    mrec *r = &m->m[p];
    r->last_heard = now;
    if ((msg->flags & HS_REPL_FLAG_SYNCED) && msg->commit == r->join_epoch && msg->context == r->join_boots)
      r->synced = true;
    if ((msg->flags & HS_REPL_FLAG_LOG) && msg->context == r->join_boots && msg->time_ns > r->rep_at) {
      r->rep_tag = msg->tag;
      r->rep_seq = msg->seq;
      r->rep_at = msg->time_ns;
    }
    r->granted_until = lease = now + m->lease;
  }
  master_send_config(m, msg->from, lease);
  if (master_freshest_rule(m) && m->n && (m->m[0].restarted || master_removable(m, 0, now)))
    return hs_repl_master_tick(m, now); /* a primary's successor may be due now that this one reported */
  master_arm(m, now);
  return HS_OK;
}

int hs_repl_master_tick(hs_repl_master *m, hs_time_ns now) {
  bool changed = master_failover(m, now);
  for (uint32_t i = 0; i < m->n;) {
    if (!master_removable(m, i, now) || (i == 0 && master_freshest_rule(m))) {
      i++;
      continue;
    }
    master_drop(m, i);
    changed = true;
  }
  if (changed) master_commit(m);
  master_arm(m, now);
  return HS_OK;
}

int hs_repl_master_remove(hs_repl_master *m, uint32_t node, hs_time_ns now) {
  (void)now;
  int32_t p = master_pos(m, node);
  if (p < 0 || (m->m[p].synced && master_synced_count(m) == 1)) return HS_EINVAL;
  master_drop(m, (uint32_t)p);
  master_commit(m);
  master_arm(m, now);
  return HS_OK;
}

hs_time_ns hs_repl_master_next_deadline(const hs_repl_master *m) { return m->deadline; }
uint64_t hs_repl_master_epoch(const hs_repl_master *m) { return m->epoch; }

const uint32_t *hs_repl_master_members(const hs_repl_master *m, uint32_t *n) {
  hs_repl_master *mm = (hs_repl_master *)m;
  for (uint32_t i = 0; i < m->n; i++) mm->ids[i] = m->m[i].id;
  *n = m->n;
  return mm->ids;
}

bool hs_repl_master_synced(const hs_repl_master *m, uint32_t node) {
  int32_t p = master_pos(m, node);
  return p >= 0 && m->m[p].synced;
}

void hs_repl_master_get_stats(const hs_repl_master *m, hs_repl_master_stats *out) {
  *out = m->st;
  out->epoch = m->epoch;
  out->members = m->n;
}
