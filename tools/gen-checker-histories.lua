--- Writes the checker's test histories (tests/data/checker/*.lua), Jepsen-shaped: one key,
-- 50 hs.workload.kv clients, about 400 operations in 2 s against a 5-node Raft cluster under
-- random partitions on a network that duplicates and reorders messages, so that many
-- operations time out (info). Each file holds the valid history the run recorded and one
-- corruption that makes it invalid: a read in its second half that returns a value nobody
-- wrote. tests/lua/check_spec.lua and scripts/bench/checker.lua read them.
--
--   build/bin/happysim run tools/gen-checker-histories.lua [-- OUTDIR]
--
-- The runs are deterministic, so this rewrites the same files (as long as Raft and the
-- workload behave as they did when the files were made; the files, not this script, are
-- the test data).

local ctx = ...
local hs = ctx.hs
local outdir = ctx.args and ctx.args[1] or "tests/data/checker"

-- Among seeds 1..40, seed 2 is the second most costly to check once corrupted (25 ms with the
-- kv model; the most costly, seed 25, takes 0.4 s: a stretch where 14 writes are pending at
-- once multiplies the orders to try), and seed 34 has the most timed-out operations of the
-- top five. scripts/bench/checker.lua prints the spread over all 40.
local SEEDS = { 2, 34 }

local function run(seed)
  local names = { "n1", "n2", "n3", "n4", "n5" }
  local duration = 2
  local sim = hs.Simulation{ seed = seed, end_time = duration + 1 }
  local link = hs.NetworkLink{ name = "datacenter, duplicating and reordering", latency = 0.0005, jitter = 0.0001,
                               bandwidth_bps = 10e9, duplicate_rate = 0.02, reorder_rate = 0.02, reorder_delay = 0.05 }
  local net = hs.Network{ sim = sim, default_link = link }
  local nodes = {}
  for i, name in ipairs(names) do
    nodes[i] = hs.RaftNode{ name = name, network = net, peers = names, election_timeout_min = 0.15,
                            election_timeout_max = 0.3, heartbeat_interval = 0.05 }
  end
  for _, n in ipairs(nodes) do n:start() end
  hs.FaultSchedule{
    hs.faults.random_partitions{ network = net, nodes = names, mtbf = 0.5, mttr = 0.3, start = 0.6, stop = duration + 0.5 },
  }:install(sim)
  local w = hs.workload.kv{ cluster = nodes, network = net, clients = 50, rate = 210, keys = 1,
                            ops = { read = 0.5, write = 0.3, cas = 0.2 }, timeout = 0.5, duration = duration, start = 0.5 }
  sim:run()
  return w
end

-- The read to corrupt: the first ok read in the second half of the history.
local function corrupt_record(h)
  for i = #h // 2, #h do
    if h[i].type == "ok" and h[i].f == "read" then return i end
  end
end

-- Loaded with ctx.library set (scripts/bench/checker.lua does), this file only hands over
-- the generator: { run = run(seed) -> workload, corrupt_record = fn(history) -> index }.
if ctx.library then return { run = run, corrupt_record = corrupt_record } end

local function value_text(v)
  if v == nil then return nil end
  if type(v) == "table" then return ("{%d,%d}"):format(v[1], v[2]) end
  return ("%d"):format(v)
end

for _, seed in ipairs(SEEDS) do
  local w = run(seed)
  local h = w.history
  local corrupt = corrupt_record(h)
  local stats = w.stats()
  local path = ("%s/raft_kv50_seed%d.lua"):format(outdir, seed)
  local f = assert(io.open(path, "w"))
  f:write(("-- Made by tools/gen-checker-histories.lua: seed %d, %d operations (%d ok, %d fail, %d info), one key,\n")
    :format(seed, stats.operations // 2, stats.ok, stats.fail, stats.info))
  f:write("-- 50 clients of a 5-node Raft cluster under partitions. history: as recorded (linearizable);\n")
  f:write("-- corrupt: the read whose value is replaced to make it not linearizable.\n")
  f:write("return {\n")
  f:write(("  seed = %d, clients = 50,\n"):format(seed))
  f:write(("  corrupt = { record = %d, value = -1 },\n"):format(corrupt))
  f:write("  history = {\n")
  for _, r in ipairs(h) do
    local v = value_text(r.value)
    f:write(("    {process=%d,type=%q,f=%q,key=%q,%stime=%.6f},\n"):format(r.process, r.type, r.f, r.key,
      v and ("value=" .. v .. ",") or "", r.time))
  end
  f:write("  },\n}\n")
  f:close()
  print(("%s: %d records, corrupt record %d"):format(path, #h, corrupt))
end
