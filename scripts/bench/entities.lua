--- Lua entity benchmarks (figures, not tests).
--   build/bin/happysim run scripts/bench/entities.lua [-- --quick]
-- or: LUA_PATH=... LUA_CPATH=build/?.so lua5.4 scripts/bench/entities.lua [--quick]
--
-- (a) self-rescheduling Lua entities: handle_event returns a new hs.Event for itself at now + dt
-- (a2) the same, but the handler returns the event it was given with a new time (no allocation)
-- (b) 1,000 Lua entities in ping-pong: each handler returns an hs.Event to its peer
-- (c) the sim:timer path: a Lua callback that returns its next delay
-- Each runs with 1,000 events pending and the same delay draws (exponential, mean 1 s), and
-- prints events per wall second; then the ratios (a)/(c) and (b)/(c), which compare within
-- one run and so mean more than the absolute figures on a busy machine.

local hs = require("happysim")
local bench = require("happysim.bench")

local quick = bench.options("bench/entities", {}, ...).quick
local scale = quick and 0.05 or 1
local PENDING = 1000

-- Runs until `events` events were processed, in slices of simulated time.
local function run_events(sim, events)
  local target = sim.events_processed + events
  local slice = events / PENDING / 4
  while sim.events_processed < target do sim:run_until(sim.now + slice) end
end

-- Warms up, then measures `events` events; returns events per wall second.
local function measure(label, sim, events)
  run_events(sim, events // 10)
  local s0 = sim:summary()
  run_events(sim, events)
  local s1 = sim:summary()
  local n = s1.events_processed - s0.events_processed
  local wall = s1.wall_clock_seconds - s0.wall_clock_seconds
  print(("%-44s events=%-9d events/s=%6.2fM  ns/event=%6.1f  peak=%.0fMB"):format(
    label, n, n / wall / 1e6, wall / n * 1e9, bench.peak_rss_mb()))
  sim:close()
  return n / wall
end

-- PENDING self-rescheduling entities whose handler is make_handler(r), r the draws' stream.
local function bench_tickers(label, events, make_handler)
  local sim = hs.Simulation{ seed = 1 }
  local r = sim:random("bench")
  local Ticker = hs.Entity:extend("Ticker")
  Ticker.handle_event = make_handler(r)
  for i = 1, PENDING do
    sim:schedule(hs.Event{ time = r:exponential(1.0), type = "Tick", target = Ticker{ name = "t" .. i } })
  end
  return measure(label, sim, events)
end

local function bench_self(events)
  return bench_tickers("(a) Lua entity returning an event to itself", events, function(r)
    return function(self)
      return hs.Event{ time = self.now + r:exponential(1.0), type = "Tick", target = self }
    end
  end)
end

local function bench_self_reuse(events)
  return bench_tickers("(a2) the same, returning the event it was given", events, function(r)
    return function(self, ev)
      ev.time = self.now + r:exponential(1.0)
      return ev
    end
  end)
end

local function bench_ping_pong(events)
  local sim = hs.Simulation{ seed = 1 }
  local r = sim:random("bench")
  local Player = hs.Entity:extend("Player")
  function Player:handle_event(ev)
    return hs.Event{ time = self.now + r:exponential(1.0), type = "Ball", target = self.peer }
  end
  local players = {}
  for i = 1, PENDING do players[i] = Player{ name = "p" .. i } end
  for i = 1, PENDING, 2 do
    players[i].peer, players[i + 1].peer = players[i + 1], players[i]
  end
  for i = 1, PENDING do
    sim:schedule(hs.Event{ time = r:exponential(1.0), type = "Ball", target = players[i] })
  end
  return measure("(b) 1,000 Lua entities in ping-pong", sim, events)
end

local function bench_timers(events)
  local sim = hs.Simulation{ seed = 1 }
  local r = sim:random("bench")
  local function tick() return r:exponential(1.0) end
  for _ = 1, PENDING do sim:timer(r:exponential(1.0), tick) end
  return measure("(c) sim:timer callback", sim, events)
end

print(("happysim Lua entity benchmarks (%s), %d events pending"):format(quick and "quick" or "full", PENDING))
local n = math.floor(4e6 * scale)
local a = bench_self(n)
local a2 = bench_self_reuse(n)
local b = bench_ping_pong(n)
local c = bench_timers(n)
print(("ratios: (a)/(c) = %.2f   (a2)/(c) = %.2f   (b)/(c) = %.2f   (goal: (a), (b) >= 4 M events/s, within 3x of (c))"):format(
  a / c, a2 / c, b / c))
