-- raft_linearizable.lua: a 5-node Raft key-value store under faults, checked for
-- linearizability, one seed at a time or over a sweep.
--
--   happysim run scripts/raft_linearizable.lua --seed 7           one seed, with the verdicts
--   happysim check scripts/raft_linearizable.lua --seeds 1..500   a sweep (exit 1 on a failure)
--   happysim run scripts/raft_linearizable.lua -- duration=20 clients=8
--
-- Five hs.RaftNode with hs.KVStateMachine on a datacenter network that also duplicates
-- and reorders a few messages (requests too: the nodes' client sessions apply each
-- request once, whatever the copies; see hs.RaftNode's submit). A random-partition
-- nemesis cuts the cluster in two at a random point every couple of seconds and heals it;
-- a few nodes crash and restart (their log and term survive, their state machine is
-- rebuilt); now and then the leader hands leadership to a random node. hs.workload.kv
-- clients read (ReadIndex "read" requests), write and compare-and-set a few keys,
-- following leader hints, and record a Jepsen-style history. The checks: the history is
-- linearizable against the "kv" model (a cas-register per key), a RaftChecker saw no
-- safety violation (election safety, log matching, leader completeness, state machine
-- safety), and the clients got work done.
--
-- Script arguments (key=value): duration (s of client load, default 60), clients (10),
-- rate (operations/s over all clients, 100), keys (4), mtbf (mean s between partitions,
-- 2), mttr (mean s a partition lasts, 1), shape (of the cuts: random, halves or isolate),
-- crashes (10), transfers (leadership transfers at random times, 10), dup (the rate of
-- duplicated messages, 0.02), reorder (the rate of messages delayed up to 50 ms past
-- later ones, 0.02), unsafe_local_reads (false: see scripts/raft_unsafe_reads.lua, which
-- loads this file), read_any (false). A seed takes about 0.1 s of CPU (some 6,000
-- operations checked, in some 5,000 model steps); 500 seeds take about 30 s with --jobs 2
-- on two cores, and scripts/sweep_raft_linearizable.sh runs 10,000.

local ctx = ...
local hs = ctx.hs

local NODES = { "n1", "n2", "n3", "n4", "n5" }

local defaults = {
  name = "raft_linearizable", duration = 60, clients = 10, rate = 100, keys = 4, mtbf = 2, mttr = 1,
  crashes = 10, transfers = 10, dup = 0.02, reorder = 0.02, shape = "random", unsafe_local_reads = false, read_any = false,
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
        .. "mtbf, mttr, crashes, transfers, dup, reorder, shape, unsafe_local_reads, read_any)"):format(cfg.name, a), 0)
    end
    if k == "shape" then
      cfg[k] = v
    elseif type(defaults[k]) == "boolean" then
      if v ~= "true" and v ~= "false" then error(("%s: %s must be true or false"):format(cfg.name, k), 0) end
      cfg[k] = v == "true"
    else
      cfg[k] = tonumber(v) or error(("%s: %s must be a number"):format(cfg.name, k), 0)
      if k == "clients" or k == "keys" or k == "crashes" or k == "transfers" then
        cfg[k] = math.tointeger(cfg[k]) or cfg[k]
      end
    end
  end
  return cfg
end

local cfg = configure()

-- Builds the cluster, the faults and the load for ctx.seed, runs it, and returns what the
-- checks need.
local function run()
  local sim = hs.Simulation{ end_time = cfg.duration + 2 } -- 2 s after the load stops: stragglers settle
  local link = hs.NetworkLink{ name = "datacenter, duplicating and reordering", latency = 0.0005, jitter = 0.0001,
                               bandwidth_bps = 10e9, duplicate_rate = cfg.dup, reorder_rate = cfg.reorder,
                               reorder_delay = 0.05 }
  local net = hs.Network{ sim = sim, name = "cluster", default_link = link }
  local checker = hs.RaftChecker()
  local nodes = {}
  for i, name in ipairs(NODES) do
    nodes[i] = hs.RaftNode{ name = name, network = net, peers = NODES, checker = checker,
                            election_timeout_min = 0.15, election_timeout_max = 0.3, heartbeat_interval = 0.05,
                            unsafe_local_reads = cfg.unsafe_local_reads }
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
  -- leadership transfers: at random times, whoever leads hands over to a random node
  local hand = sim:random("scenario:transfers")
  for _ = 1, cfg.transfers do
    sim:after(hand:uniform(0.5, cfg.duration), function()
      for _, n in ipairs(nodes) do
        if n.is_leader then
          n:transfer_leadership(hand:choice(NODES))
          break
        end
      end
    end)
  end

  local load = hs.workload.kv{ cluster = nodes, network = net, clients = cfg.clients, rate = cfg.rate,
                               ops = { read = 0.5, write = 0.3, cas = 0.2 }, keys = cfg.keys, timeout = 0.5,
                               duration = cfg.duration, read_any = cfg.read_any }
  local summary = sim:run()
  return { summary = summary, history = load.history, stats = load.stats(), checker = checker,
           schedule = schedule, nodes = nodes, cfg = cfg }
end

local checks = {
  { "linearizable", function(r)
    -- the budget is counted in model steps, so the verdict is the same on every machine
    -- and under any load (a seed needs some 5,000 steps; 2e7 take about a second)
    local res = hs.check.linearizable(r.history, { model = "kv", max_steps = 20000000 })
    if res.valid == "unknown" then return false, "the checker could not decide: " .. res.message end
    return res.valid, res.message
  end },
  { "raft safety", function(r)
    local ok, violation = r.checker:check()
    if not ok then return false, violation end
    return true, ("%d invariant checks, no violation"):format(r.checker.checks)
  end },
  { "progress", function(r)
    local s = r.stats
    return s.ok > 0, ("%d operations: %d ok, %d failed, %d unknown"):format(s.operations // 2, s.ok, s.fail, s.info)
  end },
}

local function report(r)
  local s, st = r.stats, r.schedule:stats()
  print(("%s, seed %s: 5 Raft nodes, %d clients at %g ops/s on %d keys for %g s%s")
    :format(cfg.name, tostring(ctx.seed), cfg.clients, cfg.rate, cfg.keys, cfg.duration,
      cfg.unsafe_local_reads and " (UNSAFE local reads)" or ""))
  local kinds = {}
  for kind, k in pairs(st.by_kind) do kinds[#kinds + 1] = ("%d %s"):format(k.fired, kind) end
  table.sort(kinds)
  print(("faults fired: %s"):format(#kinds > 0 and table.concat(kinds, ", ") or "none"))
  local terms, transfers = 0, 0
  for _, n in ipairs(r.nodes) do
    terms = math.max(terms, n.current_term)
    transfers = transfers + n.stats.transfers_done
  end
  print(("leadership transfers: %d scheduled, %d done"):format(cfg.transfers, transfers))
  print(("history: %d records, %d ok, %d failed, %d unknown; highest term %d")
    :format(#r.history, s.ok, s.fail, s.info, terms))
  print(("simulated %.3f s, %d events, trace %s"):format(r.summary.duration_s, r.summary.events_processed,
    r.summary.trace_hash))
end

return hs.scenario{ name = cfg.name, run = run, checks = checks, report = report,
                    description = "5-node Raft KV under partitions and crashes, checked for linearizability" }
