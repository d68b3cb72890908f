-- multipaxos_linearizable.lua: a 5-node Multi-Paxos key-value store under faults, checked
-- for linearizability and for Paxos safety, one seed at a time or over a sweep.
--
--   happysim run scripts/multipaxos_linearizable.lua --seed 7            one seed, with the verdicts
--   happysim check scripts/multipaxos_linearizable.lua --seeds 1..500    a sweep (exit 1 on a failure)
--   happysim run scripts/multipaxos_linearizable.lua -- duration=20 clients=8
--
-- Five hs.MultiPaxosNode with hs.KVStateMachine on a datacenter network that loses,
-- duplicates and reorders a few messages between the nodes (and duplicates and reorders the
-- clients' requests and replies: a node answers each request once, and its client sessions
-- apply each command once, whatever the copies). A random-partition nemesis cuts the cluster in
-- two at a random point every couple of seconds and heals it; a few nodes crash and restart
-- (their promises, accepted values and chosen flags survive, their state machine is rebuilt
-- from the chosen slots); now and then a random node starts an election (a new ballot, so a
-- new leader takes the slots over from the promises). hs.workload.kv clients read ("read"
-- requests: a read takes a slot in the log), write and compare-and-set a few keys, following
-- leader hints, and record a Jepsen-style history. The checks: the history is linearizable
-- against the "kv" model, an hs.PaxosChecker saw no safety violation (one value per ballot,
-- no two different values chosen for one slot, nodes learn and apply only chosen values, in
-- slot order), the run completed, and the clients got work done.
--
-- Script arguments (key=value): duration (s of client load, default 60), clients (10), rate
-- (operations/s over all clients, 100), keys (4), mtbf (mean s between partitions, 2), mttr
-- (mean s a partition lasts, 1), shape (of the cuts: random, halves or isolate), crashes
-- (10), campaigns (elections forced at random times, 10), loss (the rate of lost messages,
-- 0.01), dup (duplicated, 0.02), reorder (delayed up to 50 ms past later ones, 0.02),
-- unsafe_ignore_promises (false: see scripts/multipaxos_unsafe.lua, which loads this file),
-- stop_at_violation (true: the first Paxos safety violation ends the run). A seed takes about
-- 0.3 s of CPU (some 5,000 operations checked); 500 seeds take about 3 minutes with --jobs 2.

local ctx = ...
local hs = ctx.hs

local NODES = { "n1", "n2", "n3", "n4", "n5" }

local defaults = {
  name = "multipaxos_linearizable", duration = 60, clients = 10, rate = 100, keys = 4, mtbf = 2, mttr = 1,
  crashes = 10, campaigns = 10, loss = 0.01, dup = 0.02, reorder = 0.02, shape = "random",
  unsafe_ignore_promises = false, stop_at_violation = true,
}

-- The configuration: the defaults, then what a script loading this one gave (ctx.variant),
-- then the command-line arguments.
local function configure()
  local cfg = {}
  for k, v in pairs(defaults) do cfg[k] = v end
  for k, v in pairs(ctx.variant or {}) do cfg[k] = v end
  for _, a in ipairs(ctx.args or {}) do
    local k, v = a:match("^([%w_]+)=(.+)$")
    if not k or defaults[k] == nil or k == "name" then
      error(("%s: unknown argument '%s' (expected key=value with key one of duration, clients, rate, keys, "
        .. "mtbf, mttr, crashes, campaigns, loss, dup, reorder, shape, unsafe_ignore_promises, stop_at_violation)")
        :format(cfg.name, a), 0)
    end
    if k == "shape" then
      cfg[k] = v
    elseif type(defaults[k]) == "boolean" then
      if v ~= "true" and v ~= "false" then error(("%s: %s must be true or false"):format(cfg.name, k), 0) end
      cfg[k] = v == "true"
    else
      cfg[k] = tonumber(v) or error(("%s: %s must be a number"):format(cfg.name, k), 0)
      if k == "clients" or k == "keys" or k == "crashes" or k == "campaigns" then
        cfg[k] = math.tointeger(cfg[k]) or cfg[k]
      end
    end
  end
  return cfg
end

local cfg = configure()

-- Builds the cluster, the faults and the load for ctx.seed, runs it, and returns what the
-- checks need. A safety violation stops the run (the checker raises; the error is kept for
-- the checks, and the history so far is checked too), unless stop_at_violation=false: then
-- the run goes on, and the history shows what the clients saw of it.
local function run()
  local sim = hs.Simulation{ end_time = cfg.duration + 2 } -- 2 s after the load stops: stragglers settle
  local link = hs.NetworkLink{ name = "datacenter, lossy, duplicating and reordering", latency = 0.0005,
                               jitter = 0.0001, bandwidth_bps = 10e9, packet_loss_rate = cfg.loss,
                               duplicate_rate = cfg.dup, reorder_rate = cfg.reorder, reorder_delay = 0.05 }
  local net = hs.Network{ sim = sim, name = "cluster", default_link = link }
  local checker = hs.PaxosChecker{ stop = cfg.stop_at_violation }
  local nodes = {}
  for i, name in ipairs(NODES) do
    nodes[i] = hs.MultiPaxosNode{ name = name, network = net, peers = NODES, checker = checker,
                                  leader_lease_timeout = 0.15, election_timeout_max = 0.3, heartbeat_interval = 0.05,
                                  unsafe_ignore_promises = cfg.unsafe_ignore_promises }
  end
  for _, n in ipairs(nodes) do n:start() end

  local faults = {
    hs.faults.random_partitions{ network = net, nodes = NODES, mtbf = cfg.mtbf, mttr = cfg.mttr, start = 0.5,
                                 stop = cfg.duration, shape = cfg.shape },
  }
  local draw = sim:random("scenario:crashes")
  for _ = 1, cfg.crashes do
    local at = draw:uniform(0.5, cfg.duration)
    faults[#faults + 1] = hs.faults.crash{ node = draw:choice(NODES), at = at, restart_at = at + draw:uniform(0.2, 1.5) }
  end
  local schedule = hs.FaultSchedule(faults)
  schedule:install(sim)
  -- forced elections: at random times a random live node takes a fresh ballot
  local pick = sim:random("scenario:campaigns")
  for _ = 1, cfg.campaigns do
    sim:after(pick:uniform(0.5, cfg.duration), function()
      local n = nodes[pick:random(#nodes)]
      if not n.crashed then n:campaign() end
    end)
  end

  local load = hs.workload.kv{ cluster = nodes, network = net, clients = cfg.clients, rate = cfg.rate,
                               ops = { read = 0.5, write = 0.3, cas = 0.2 }, keys = cfg.keys, timeout = 0.5,
                               duration = cfg.duration }
  -- clients talk to the nodes over links that duplicate and reorder but lose nothing: a lost
  -- request or reply only makes an operation's outcome unknown (a timeout), and a history
  -- with hundreds of those takes the linearizability checker too long to decide
  local client_link = hs.NetworkLink{ name = "client link, duplicating and reordering", latency = 0.0005,
                                      jitter = 0.0001, bandwidth_bps = 10e9, duplicate_rate = cfg.dup,
                                      reorder_rate = cfg.reorder, reorder_delay = 0.05 }
  for _, client in ipairs(load.clients) do
    for _, n in ipairs(nodes) do net:add_bidirectional_link(client, n, client_link) end
  end
  local ok, summary = pcall(sim.run, sim)
  local run_error = not ok and tostring(summary) or nil
  if not ok then summary = sim:summary() end
  return { summary = summary, run_error = run_error, history = load.history, stats = load.stats(), checker = checker,
           schedule = schedule, nodes = nodes, cfg = cfg }
end

local checks = {
  { "linearizable", function(r)
    local res = hs.check.linearizable(r.history, { model = "kv", max_steps = 20000000 }) -- a budget in work: the same verdict anywhere
    if res.valid == "unknown" then return false, "the checker could not decide: " .. res.message end
    return res.valid, res.message
  end },
  { "paxos safety", function(r)
    local ok, violation = r.checker:check()
    if not ok then return false, violation end
    return true, ("%d invariant checks, %d slots chosen, no violation"):format(r.checker.checks, r.checker.chosen)
  end },
  { "run completed", function(r)
    if r.run_error then return false, r.run_error end
    return true
  end },
  { "progress", function(r)
    local s = r.stats
    return s.ok > 0, ("%d operations: %d ok, %d failed, %d unknown"):format(s.operations // 2, s.ok, s.fail, s.info)
  end },
}

local function report(r)
  local s, st = r.stats, r.schedule:stats()
  print(("%s, seed %s: 5 Multi-Paxos nodes, %d clients at %g ops/s on %d keys for %g s%s")
    :format(cfg.name, tostring(ctx.seed), cfg.clients, cfg.rate, cfg.keys, cfg.duration,
      cfg.unsafe_ignore_promises and " (UNSAFE: new leaders ignore promises)" or ""))
  local kinds = {}
  for kind, k in pairs(st.by_kind) do kinds[#kinds + 1] = ("%d %s"):format(k.fired, kind) end
  table.sort(kinds)
  print(("faults fired: %s; %d elections forced"):format(#kinds > 0 and table.concat(kinds, ", ") or "none", cfg.campaigns))
  local ballot, reproposed, noops, lost, dups = 0, 0, 0, 0, 0
  for _, n in ipairs(r.nodes) do
    local ns = n.stats
    ballot = math.max(ballot, ns.current_ballot)
    reproposed = reproposed + ns.values_reproposed
    noops = noops + ns.noops_proposed
    lost = lost + ns.proposals_lost
    dups = dups + ns.duplicate_commands
  end
  print(("highest ballot %d; new leaders proposed %d values again and filled %d gaps with no-ops; %d commands lost "
    .. "their slot; %d duplicated requests answered, not applied"):format(ballot, reproposed, noops, lost, dups))
  print(("history: %d records, %d ok, %d failed, %d unknown; %d slots chosen")
    :format(#r.history, s.ok, s.fail, s.info, r.checker.chosen))
  if r.run_error then print("the run stopped: " .. r.run_error) end
  print(("simulated %.3f s, %d events, trace %s"):format(r.summary.duration_s, r.summary.events_processed,
    r.summary.trace_hash))
end

return hs.scenario{ name = cfg.name, run = run, checks = checks, report = report,
                    description = "5-node Multi-Paxos KV under partitions, loss and crashes, checked for linearizability" }
