/*
 * happysim.h - the public C API of the happysim engine.
 *
 *   hs_sim     the scheduler (hs_sim.h)
 *   hs_event   an intrusive, caller-owned event (hs_event.h)
 *   hs_entity  a participant with a vtable and timers (hs_entity.h)
 *   hs_rng     seeded random streams (hs_rng.h)
 *
 * Nothing here includes a Lua header: the binding lives in engine/lua/.
 */
#ifndef HAPPYSIM_H
#define HAPPYSIM_H

#include "clock/hs_clock.h"
#include "core/hs_entity.h"
#include "core/hs_blob.h"
#include "core/hs_event.h"
#include "core/hs_heap.h"
#include "core/hs_hold.h"
#include "core/hs_rng.h"
#include "core/hs_sim.h"
#include "core/hs_types.h"
#include "core/hs_value.h"
#include "net/hs_dist.h"
#include "net/hs_link.h"
#include "net/hs_message.h"
#include "net/hs_net.h"

#endif
