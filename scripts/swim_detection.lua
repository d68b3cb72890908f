-- swim_detection.lua: SWIM's detection time, after section 3.1 of the paper (Das, Gupta,
-- Motivala, "SWIM", DSN 2002), through hs.MembershipProtocol.
--
--   build/bin/happysim run scripts/swim_detection.lua [--seed N] [-- members=1000 trials=200 --quick]
--   (or LUA_PATH="lua/?.lua;lua/?/init.lua" LUA_CPATH="build/?.so" lua5.4 scripts/swim_detection.lua ...)
--
-- One group of `members` on a datacenter network runs for the whole experiment. Each trial
-- waits a random time, crashes a random member, and waits until every live member declares
-- it dead; then the member restarts (it rejoins with a higher incarnation) and the next trial
-- begins once every live member sees it alive again.
--
-- With every member probing one member per protocol period T, the number of periods until
-- some member first probes the failed one tends to 1 / (1 - e^-1) = 1.582 (for n members,
-- 1 / (1 - (1 - 1/(n-1))^(n-1))). That probe's failure is the first detection: the prober
-- suspects it at the end of that period, exactly T after its ping. So a trial counts
-- ceil((first suspicion - crash) / T - 1) periods (at least 1), the C test's measure
-- (tests/c/test_swim.c counts pings). It also prints the time to the first suspicion and to
-- every live member's verdict of dead in seconds, and the false positives: suspicions and
-- deaths of members that were up.
--
-- As a module (tests/lua/swim_spec.lua): loadfile(this)({ module = true }).run{ members =,
-- trials =, seed =, quiet = true } returns the figures.

local hs = require("happysim")

local M = {}

local function mean(xs)
  local s = 0
  for _, x in ipairs(xs) do s = s + x end
  return #xs > 0 and s / #xs or 0 / 0
end

local function percentile(xs, p)
  if #xs == 0 then return 0 / 0 end
  local sorted = { table.unpack(xs) }
  table.sort(sorted)
  return sorted[math.max(1, math.ceil(p * #sorted))]
end

--- M.run{ members = 1000, trials = 200, seed = 1, probe_interval = 1, suspicion_timeout = 5,
--        quiet = false } -> { mean_periods, trials, detected, histogram, first_suspicion_s =
--        { mean, p50, p99 }, all_dead_s = { ... }, false_suspicions, false_deaths, wall_s }
function M.run(cfg)
  local n, trials = cfg.members or 1000, cfg.trials or 200
  local T = cfg.probe_interval or 1
  local names, nodes, by_name = {}, {}, {}
  for i = 1, n do names[i] = ("m%04d"):format(i) end
  local net = hs.Network{ name = "lan", default_link = hs.datacenter_network() }

  local trial -- the trial now running: { victim =, crash_at =, first_suspect =, dead =, alive = }
  local false_suspicions, false_deaths = 0, 0
  local function on_change(node, member, state)
    local m = by_name[member]
    if state == "alive" then
      if trial and trial.victim == m and trial.restarted then trial.alive = trial.alive + 1 end
      return
    end
    if not m.crashed then
      if state == "suspect" then false_suspicions = false_suspicions + 1 else false_deaths = false_deaths + 1 end
      return
    end
    if trial and trial.victim == m then
      if state == "suspect" and not trial.first_suspect then trial.first_suspect = node.now end
      if state == "dead" then
        trial.dead = trial.dead + 1
        if not trial.first_suspect then trial.first_suspect = node.now end -- heard dead before suspect
      end
    end
  end
  for i = 1, n do
    nodes[i] = hs.MembershipProtocol{ name = names[i], network = net, members = names, probe_interval = T,
                                      suspicion_timeout = cfg.suspicion_timeout, on_member_change = on_change }
    by_name[names[i]] = nodes[i]
    nodes[i]:start()
  end
  local t0 = os.clock()
  local sim = hs.Simulation{ seed = cfg.seed or 1, entities = { net, table.unpack(nodes) } }
  local rng = sim:random("swim_detection")
  sim:run_until(3 * T) -- every member has probed a few times

  local periods, first_s, dead_s, histogram = {}, {}, {}, {}
  local detected = 0
  local cap = 200 * T
  for t = 1, trials do
    sim:run_until(sim.now + T * (1 + rng:random())) -- a random instant: periods do not line up
    local victim = nodes[1 + math.floor(rng:random() * n)]
    trial = { victim = victim, crash_at = sim.now, dead = 0, alive = 0 }
    victim:crash()
    local deadline = sim.now + cap
    while trial.dead < n - 1 and sim.now < deadline do sim:run_until(sim.now + T) end
    if trial.first_suspect then
      detected = detected + 1
      local k = math.max(1, math.ceil((trial.first_suspect - trial.crash_at) / T - 1 - 1e-9))
      periods[#periods + 1] = k
      histogram[math.min(k, 6)] = (histogram[math.min(k, 6)] or 0) + 1
      first_s[#first_s + 1] = trial.first_suspect - trial.crash_at
      if trial.dead >= n - 1 then dead_s[#dead_s + 1] = sim.now - trial.crash_at end
    end
    trial.restarted = true
    victim:restart()
    deadline = sim.now + cap
    while trial.alive < n - 1 and sim.now < deadline do sim:run_until(sim.now + T) end
    trial = nil
  end

  local law = 1 / (1 - math.exp(-1))
  local finite = 1 / (1 - (1 - 1 / (n - 1)) ^ (n - 1))
  local r = {
    members = n, trials = trials, detected = detected, mean_periods = mean(periods), histogram = histogram,
    first_suspicion_s = { mean = mean(first_s), p50 = percentile(first_s, 0.5), p99 = percentile(first_s, 0.99) },
    all_dead_s = { mean = mean(dead_s), p50 = percentile(dead_s, 0.5), p99 = percentile(dead_s, 0.99),
                   count = #dead_s },
    false_suspicions = false_suspicions, false_deaths = false_deaths, law = law, law_n = finite,
    wall_s = os.clock() - t0, simulated_s = sim.now,
  }
  if not cfg.quiet then
    print(("swim detection: %d members, T = %g s, %d crash trials (%.0f simulated s, %.1f s CPU)"):format(n, T, trials,
      r.simulated_s, r.wall_s))
    print(("  protocol periods to first detection: mean %.3f (law 1/(1-e^-1) = %.3f; for n = %d: %.3f); "
      .. "detected %d of %d"):format(r.mean_periods, law, n, finite, detected, trials))
    local h = {}
    for k = 1, 6 do h[k] = tostring(histogram[k] or 0) end
    print("  periods 1..6+: " .. table.concat(h, " "))
    print(("  first suspicion after the crash: mean %.2f s, p50 %.2f s, p99 %.2f s"):format(r.first_suspicion_s.mean,
      r.first_suspicion_s.p50, r.first_suspicion_s.p99))
    print(("  dead for every live member (checked each period): mean %.2f s, p50 %.2f s, p99 %.2f s (%d trials)")
      :format(r.all_dead_s.mean, r.all_dead_s.p50, r.all_dead_s.p99, #dead_s))
    print(("  false positives: %d suspicions and %d deaths of live members"):format(false_suspicions, false_deaths))
  end
  return r
end

local ctx = ...
if type(ctx) == "table" and ctx.module then return M end

-- run as a script (happysim run, or lua5.4): returns nothing, so the CLI has nothing more to run
local bench = require("happysim.bench")
local cfg = bench.options("swim_detection",
  { members = 1000, trials = 200, seed = math.tointeger(rawget(_G, "seed")) or 1 }, ...)
if cfg.quick then
  cfg.members, cfg.trials = 64, 100
end
M.run(cfg)
