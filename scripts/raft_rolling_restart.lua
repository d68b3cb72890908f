-- raft_rolling_restart.lua: planned maintenance of a 5-node Raft key-value store under
-- client load, with and without leadership transfer (Raft thesis 3.10).
--
--   happysim run scripts/raft_rolling_restart.lua [--seed N] [-- downtime=1 rate=200]
--
-- Every node in turn goes down for maintenance (crash, restart `downtime` seconds later),
-- and the next one waits until the restarted node has caught up. The same seed runs
-- twice: once taking each node down as it is - the leader too, which the others notice
-- only when their election timeouts expire - and once asking a leader to hand over first
-- (transfer_leadership to its most up-to-date follower) and to keep answering for a tenth
-- of a second, so that clients learn where the new leader is instead of waiting for an
-- election and their timeouts. hs.workload.kv clients read and write over the network all
-- along. The report compares what the clients saw: the longest stretch without a
-- successful operation, and the failed and unknown operations. Both histories must be
-- linearizable and a RaftChecker must see no violation, or the script fails.

local NODES = { "n1", "n2", "n3", "n4", "n5" }
local cfg = { downtime = 1, rate = 200 }
for _, a in ipairs(args or {}) do
  local k, v = a:match("^([%w_]+)=(.+)$")
  local n = tonumber(v)
  if cfg[k] == nil or not n or n <= 0 then
    error(("raft_rolling_restart: unknown argument '%s' (expected downtime=S or rate=OPS, positive)"):format(a), 0)
  end
  cfg[k] = n
end

-- One run: mode "crash" (take each node down as it is) or "transfer" (a leader hands over
-- first). Returns the client history, the checker, the workload and the narration.
local DURATION = 1 + #NODES * (cfg.downtime + 1.5) + 2 -- of client load: covers the whole maintenance

local function run(mode)
  local sim = hs.Simulation{ seed = seed, end_time = DURATION + 2 } -- 2 s for the stragglers
  local net = hs.Network{ sim = sim, name = "cluster", default_link = hs.datacenter_network() }
  local checker = hs.RaftChecker()
  local nodes = {}
  for i, name in ipairs(NODES) do
    nodes[i] = hs.RaftNode{ name = name, network = net, peers = NODES, checker = checker,
                            election_timeout_min = 0.15, election_timeout_max = 0.3, heartbeat_interval = 0.05 }
  end
  for _, n in ipairs(nodes) do n:start() end
  local steps = {}
  local function say(fmt, ...) steps[#steps + 1] = ("t=%6.3fs  " .. fmt):format(sim.now, ...) end

  local function leader()
    for _, n in ipairs(nodes) do if n.is_leader then return n end end
  end

  local start, stop
  sim:spawn(function()
    repeat hs.sleep(0.05) until leader()
    hs.sleep(1) -- the load runs for a while first
    start = sim.now
    for _, n in ipairs(nodes) do
      if mode == "transfer" and n.is_leader then
        local best
        for _, f in ipairs(nodes) do
          if f ~= n and not f.crashed and (not best or f.last_applied > best.last_applied) then best = f end
        end
        local name, term = hs.await(n:transfer_leadership(best))
        if name then
          say("%s hands leadership to %s (term %d), and lets its clients move over", n.name, name, term)
          hs.sleep(0.1) -- clients that still ask n are now told where the leader is
        else
          say("%s could not hand over to %s (%s)", n.name, best.name, term.code)
        end
      end
      say("%s goes down for maintenance%s", n.name, n.is_leader and " (the leader)" or "")
      n:crash()
      hs.sleep(cfg.downtime)
      n:restart()
      repeat
        hs.sleep(0.01)
        local l = leader()
      until l and n.last_applied >= l.commit_index
      say("%s is back and has caught up", n.name)
      hs.sleep(0.5)
    end
    stop = sim.now
  end)

  local load = hs.workload.kv{ cluster = nodes, network = net, clients = 10, rate = cfg.rate, keys = 4,
                               ops = { read = 0.5, write = 0.5 }, timeout = 0.5,
                               duration = DURATION }
  sim:run()
  return { history = load.history, stats = load.stats(), checker = checker, steps = steps, start = start,
           stop = stop, nodes = nodes }
end

-- The longest time between two successful completions within [from, to].
local function longest_gap(history, from, to)
  local last, gap = from, 0
  for _, rec in ipairs(history) do
    if rec.type == "ok" and rec.time >= from and rec.time <= to then
      gap = math.max(gap, rec.time - last)
      last = rec.time
    end
  end
  return math.max(gap, to - last)
end

local results = {}
for _, mode in ipairs({ "crash", "transfer" }) do
  local r = run(mode)
  print(("-- %s: %s"):format(mode, mode == "crash" and "each node goes down as it is"
    or "a leader hands over before it goes down"))
  for _, line in ipairs(r.steps) do print(line) end
  local lin = hs.check.linearizable(r.history, { model = "kv", max_steps = 20000000 }) -- a budget in work: the same verdict anywhere
  local safe, violation = r.checker:check()
  if lin.valid ~= true then error(("%s: the history is not linearizable: %s"):format(mode, lin.message), 0) end
  if not safe then error(("%s: Raft safety violated: %s"):format(mode, violation), 0) end
  local terms = 0
  for _, n in ipairs(r.nodes) do terms = math.max(terms, n.current_term) end
  results[#results + 1] = { mode = mode, gap = longest_gap(r.history, r.start, r.stop), stats = r.stats,
                            terms = terms, checks = r.checker.checks }
  print()
end

print("what the clients saw during the maintenance:")
print(("%-9s %12s %6s %7s %8s %6s"):format("mode", "longest gap", "ok", "failed", "unknown", "terms"))
for _, x in ipairs(results) do
  print(("%-9s %10.3f s %6d %7d %8d %6d"):format(x.mode, x.gap, x.stats.ok, x.stats.fail, x.stats.info, x.terms))
end
print(("both histories linearizable (model kv); Raft invariants checked %d and %d times, no violation")
  :format(results[1].checks, results[2].checks))
