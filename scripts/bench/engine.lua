--- Engine benchmarks through the Lua API (figures, not tests).
--   build/bin/happysim run scripts/bench/engine.lua [-- --quick]
-- or: LUA_PATH=... LUA_CPATH=build/?.so lua5.4 scripts/bench/engine.lua [--quick]
--
-- (a) hold model with C handlers (hs.HoldModel) at 1,000 and 1,000,000 pending events
-- (b) a Lua callback per event: sim:timer callbacks that return their next delay
-- (c) a Lua process resumed per event: processes looping on hs.sleep
-- Each prints events per wall second, ns per event and the process's peak memory.

local hs = require("happysim")
local bench = require("happysim.bench")

local quick = bench.options("bench/engine", {}, ...).quick
local scale = quick and 0.1 or 1
local peak_rss_mb, rss_mb = bench.peak_rss_mb, bench.rss_mb

local function report(label, pending, events, wall, mem_per_event)
  local extra = mem_per_event and ("  bytes/pending=%.0f"):format(mem_per_event) or ""
  print(("%-34s pending=%-8d events=%-9d events/s=%6.2fM  ns/event=%6.1f  peak=%.0fMB%s"):format(
    label, pending, events, events / wall / 1e6, wall / events * 1e9, peak_rss_mb(), extra))
end

-- Runs until `events` events were processed, in slices of simulated time.
local function run_events(sim, events, pending)
  local target = sim.events_processed + events
  local slice = events / pending / 4
  while sim.events_processed < target do sim:run_until(sim.now + slice) end
end

local function bench_hold(pending, events)
  collectgarbage()
  local before = rss_mb()
  local sim = hs.Simulation{ seed = 1 }
  local h = hs.HoldModel{ sim = sim, name = "hold", pending = pending, mean = 1.0 }
  h:start()
  local mem = (rss_mb() - before) * 1024 * 1024 / pending
  run_events(sim, events // 10, pending) -- warm-up
  local s0 = sim:summary()
  run_events(sim, events, pending)
  local s1 = sim:summary()
  report("(a) hold, C handlers", pending, s1.events_processed - s0.events_processed,
    s1.wall_clock_seconds - s0.wall_clock_seconds, mem)
  sim:close()
end

local function bench_callbacks(pending, events)
  local sim = hs.Simulation{ seed = 1 }
  local r = sim:random("bench")
  local function tick() return r:exponential(1.0) end
  for _ = 1, pending do sim:timer(r:exponential(1.0), tick) end
  run_events(sim, events // 10, pending)
  local s0 = sim:summary()
  run_events(sim, events, pending)
  local s1 = sim:summary()
  report("(b) Lua callback per event", pending, s1.events_processed - s0.events_processed,
    s1.wall_clock_seconds - s0.wall_clock_seconds)
  sim:close()
end

local function bench_processes(pending, events)
  local sim = hs.Simulation{ seed = 1 }
  local r = sim:random("bench")
  local sleep = hs.sleep
  local function loop() while true do sleep(r:exponential(1.0)) end end
  for _ = 1, pending do sim:spawn(loop) end
  run_events(sim, events // 10, pending)
  local s0 = sim:summary()
  run_events(sim, events, pending)
  local s1 = sim:summary()
  report("(c) Lua process resumed per event", pending, s1.events_processed - s0.events_processed,
    s1.wall_clock_seconds - s0.wall_clock_seconds)
  sim:close()
end

print(("happysim engine benchmarks (%s)"):format(quick and "quick" or "full"))
bench_hold(1000, math.floor(20e6 * scale))
bench_hold(1000000, math.floor(10e6 * scale))
bench_callbacks(1000, math.floor(10e6 * scale))
bench_processes(1000, math.floor(10e6 * scale))
