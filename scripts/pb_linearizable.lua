-- pb_linearizable.lua: sync primary-backup (hs.PrimaryNode, hs.BackupNode and the master the
-- primary builds) under message loss, duplication, reordering, random partitions (the master
-- included) and crash/restarts, checked for linearizability, one seed at a time or a sweep.
--
--   happysim run scripts/pb_linearizable.lua --seed 7
--   happysim check scripts/pb_linearizable.lua --seeds 1..300 --jobs 2
--
-- hs.workload.kv clients (on clean links: see run) with protocol = "replication" send "Write"{ key, value } and
-- "Read"{ key } requests, follow not_primary hints, retry refusals (no_lease, unavailable,
-- not_ready) and record a Jepsen-style history; a timeout, config_changed or crashed reply
-- is "info" (outcome unknown). No node serves reads as a backup (serve_reads = false: a backup's
-- committed state may be stale, by design). The check: the history is linearizable against
-- the "kv" model. scripts/chain_linearizable.lua and scripts/craq_unsafe_reads.lua load this
-- file with family = "chain".
--
-- Script arguments (key=value): duration (s of client load, 20), clients (6), rate (ops/s,
-- 60), keys (8), mtbf (mean s between partitions, 3), mttr (1), crashes (4), loss (0.01),
-- dup (0.02), reorder (0.02), craq (chain only: true), read_any (reads at any node: the
-- chain default with CRAQ), unsafe_dirty_reads (false; test-only, see craq_unsafe_reads.lua).

local ctx = ...
local hs = ctx.hs

local defaults = {
  name = "pb_linearizable", family = "pb", duration = 20, clients = 6, rate = 60, keys = 8, mtbf = 3, mttr = 1,
  crashes = 4, loss = 0.01, dup = 0.02, reorder = 0.02, craq = true, read_any = false, unsafe_dirty_reads = false,
}

local function configure()
  local cfg = {}
  for k, v in pairs(defaults) do cfg[k] = v end
  for k, v in pairs(ctx.variant or {}) do cfg[k] = v end
  for _, a in ipairs(ctx.args or {}) do
    local k, v = a:match("^([%w_]+)=(.+)$")
    if not k or defaults[k] == nil or k == "name" or k == "family" then
      error(("%s: unknown argument '%s' (expected key=value with key one of duration, clients, rate, keys, mtbf, "
        .. "mttr, crashes, loss, dup, reorder, craq, read_any, unsafe_dirty_reads)"):format(cfg.name, a), 0)
    end
    if type(defaults[k]) == "boolean" then
      if v ~= "true" and v ~= "false" then error(("%s: %s must be true or false"):format(cfg.name, k), 0) end
      cfg[k] = v == "true"
    else
      cfg[k] = tonumber(v) or error(("%s: %s must be a number"):format(cfg.name, k), 0)
      cfg[k] = math.tointeger(cfg[k]) or cfg[k]
    end
  end
  return cfg
end

local cfg = configure()

local function build(net)
  if cfg.family == "pb" then
    local p = hs.PrimaryNode{ name = "p", network = net, backups = { "b1", "b2" }, mode = "sync", write_timeout = 0.5,
                              serve_reads = false }
    local b1 = hs.BackupNode{ name = "b1", network = net, primary = p, serve_reads = false, write_timeout = 0.5 }
    local b2 = hs.BackupNode{ name = "b2", network = net, primary = p, serve_reads = false, write_timeout = 0.5 }
    return { p, b1, b2 }, p.master
  end
  local nodes = hs.build_chain{ names = { "c1", "c2", "c3" }, network = net, craq_enabled = cfg.craq,
                                unsafe_dirty_reads = cfg.unsafe_dirty_reads or nil, write_timeout = 0.5 }
  return { nodes[1], nodes[2], nodes[3] }, nodes.master
end

local function run()
  local sim = hs.Simulation{ end_time = cfg.duration + 2 }
  local link = hs.NetworkLink{ name = "datacenter, lossy, duplicating and reordering", latency = 0.0005, jitter = 0.0001,
                               bandwidth_bps = 10e9, packet_loss_rate = cfg.loss, duplicate_rate = cfg.dup,
                               reorder_rate = cfg.reorder, reorder_delay = 0.05 }
  local net = hs.Network{ sim = sim, name = "cluster", default_link = link }
  local nodes, master = build(net)
  local names = {}
  for i, n in ipairs(nodes) do names[i] = n.name end
  local everyone = { names[1], names[2], names[3], master.name }
  local faults = {
    hs.faults.random_partitions{ network = net, nodes = everyone, mtbf = cfg.mtbf, mttr = cfg.mttr, start = 0.5,
                                 stop = cfg.duration },
  }
  local draw = sim:random("scenario:crashes")
  for _ = 1, cfg.crashes do
    local at = draw:uniform(0.5, cfg.duration)
    faults[#faults + 1] = hs.faults.crash{ node = draw:choice(names), at = at, restart_at = at + draw:uniform(0.2, 1.5) }
  end
  local schedule = hs.FaultSchedule(faults)
  schedule:install(sim)
  local read_any = cfg.read_any or (cfg.family == "chain" and cfg.craq)
  local load = hs.workload.kv{ cluster = nodes, network = net, clients = cfg.clients, rate = cfg.rate,
                               ops = { read = 0.5, write = 0.5 }, keys = cfg.keys, timeout = 0.5,
                               duration = cfg.duration, protocol = "replication", read_any = read_any }
  -- Clients talk to the nodes over links that lose, duplicate and reorder nothing: the
  -- replication cores keep no client sessions (unlike RaftNode), so a duplicated "Write"
  -- delayed past a later write to its key would be applied again, after it (found by this
  -- scenario: seeds 31 and 294 with duplicating client links). Node-to-node and master
  -- traffic keeps every fault.
  local clean = hs.NetworkLink{ name = "client link", latency = 0.0005, jitter = 0.0001, bandwidth_bps = 10e9 }
  for _, c in ipairs(load.clients) do
    for _, n in ipairs(nodes) do net:add_bidirectional_link(c, n, clean) end
  end
  local summary = sim:run()
  return { summary = summary, history = load.history, stats = load.stats(), schedule = schedule, nodes = nodes,
           master = master }
end

local checks = {
  { "linearizable", function(r)
    local res = hs.check.linearizable(r.history, { model = "kv", max_steps = 20000000 }) -- a budget in work: the same verdict anywhere
    if res.valid == "unknown" then return false, "the checker could not decide: " .. res.message end
    return res.valid, res.message
  end },
  { "progress", function(r)
    local s = r.stats
    return s.ok > 0, ("%d operations: %d ok, %d failed, %d unknown"):format(s.operations // 2, s.ok, s.fail, s.info)
  end },
}

local function report(r)
  local s, st = r.stats, r.schedule:stats()
  local what = cfg.family == "pb" and "sync primary-backup (3 nodes)"
    or ("chain of 3%s%s"):format(cfg.craq and ", CRAQ" or "", cfg.unsafe_dirty_reads and " (UNSAFE dirty reads)" or "")
  print(("%s, seed %s: %s, %d clients at %g ops/s on %d keys for %g s")
    :format(cfg.name, tostring(ctx.seed), what, cfg.clients, cfg.rate, cfg.keys, cfg.duration))
  local kinds = {}
  for kind, k in pairs(st.by_kind) do kinds[#kinds + 1] = ("%d %s"):format(k.fired, kind) end
  table.sort(kinds)
  print(("faults fired: %s"):format(#kinds > 0 and table.concat(kinds, ", ") or "none"))
  local ms = r.master.stats
  print(("master: epoch %d, %d removals, %d joins, copies lost %d"):format(ms.epoch, ms.removals, ms.joins, ms.copies_lost))
  print(("history: %d records, %d ok, %d failed, %d unknown"):format(#r.history, s.ok, s.fail, s.info))
  print(("simulated %.3f s, %d events, trace %s"):format(r.summary.duration_s, r.summary.events_processed,
    r.summary.trace_hash))
end

return hs.scenario{ name = cfg.name, run = run, checks = checks, report = report,
                    description = "replication under partitions and crashes, checked for linearizability" }
