/* Messages parked by a HOLD verdict: release them later, or drop them. */
#include "net/hs_net_internal.h"

/* True when m is a held message of net (checked without trusting m->net alone). */
static bool is_held(const hs_net *net, const hs_message *m) {
  return m && m->state == HS_MSG_HELD && m->net == net && !net->closed;
}

static void unlink_held(hs_net *net, hs_message *m) {
  if (m->prev)
    m->prev->next = m->next;
  else
    net->held_head = m->next;
  if (m->next)
    m->next->prev = m->prev;
  else
    net->held_tail = m->prev;
  m->next = m->prev = NULL;
  net->held_count--;
}

/* Puts m back where it was (after prev) when its release failed. */
static void relink_held(hs_net *net, hs_message *m, hs_message *prev) {
  m->prev = prev;
  m->next = prev ? prev->next : net->held_head;
  if (m->next)
    m->next->prev = m;
  else
    net->held_tail = m;
  if (prev)
    prev->next = m;
  else
    net->held_head = m;
  m->state = HS_MSG_HELD;
  net->held_count++;
}

int hs_net_held_deliver(hs_net *net, hs_message *m, hs_time_ns delay_ns) {
  if (!is_held(net, m)) return HS_NET_ENOTHELD;
  if (net->sim->closed) return HS_ECLOSED;
  hs_time_ns now = hs_sim_now(net->sim);
  if (delay_ns < 0 || delay_ns > HS_TIME_NEVER - 1 - now) return HS_EINVAL;
  hs_message *prev = m->prev;
  unlink_held(net, m);
  int rc = hs_net__schedule(net, m, now + delay_ns);
  if (rc != HS_OK) relink_held(net, m, prev);
  return rc;
}

int hs_net_held_drop(hs_net *net, hs_message *m) {
  if (!is_held(net, m)) return HS_NET_ENOTHELD;
  unlink_held(net, m);
  hs_net__drop(net, m, HS_NET_DROPPED_FILTER);
  return HS_OK;
}
