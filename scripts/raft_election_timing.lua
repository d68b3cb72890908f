-- raft_election_timing.lua: an experiment after Figure 16 of the Raft paper (Ongaro and
-- Ousterhout, "In Search of an Understandable Consensus Algorithm", extended version, 9.3).
--
--   happysim run scripts/raft_election_timing.lua [--seed N] [-- trials=1000 set=all pre_vote=false cap=10]
--
-- For each election timeout range, a stable 5-node cluster on a datacenter network has its
-- leader crashed at a uniformly random moment within its heartbeat interval (which is half
-- the minimum election timeout, as in the paper), and we measure the downtime: from the
-- crash until a new leader is elected. Over `trials` seeded trials per range (each a fresh,
-- independent simulation), it prints percentiles of the downtime and how many elections
-- the cluster needed (1 = no split vote).
--
-- set=top:    the amount of randomness: 150-150 (1 ns of spread), 150-151, 150-155, 150-175,
--             150-200, 150-300 ms. Without randomness, split votes repeat: here forever,
--             since the followers' timers differ only by the network's jitter (~0.1 ms),
--             less than a message's latency, and nothing else in a simulation adds noise
--             (the paper's testbed had timer noise of its own and eventually elected).
-- set=bottom: the scale of the timeouts: 12-24, 25-50, 50-100, 100-200, 150-300 ms.
-- set=all:    both (the default).
-- pre_vote=false as in the paper (pre_vote=true adds a round of pre-votes per election);
-- cap: simulated seconds after the crash before a trial is counted as "no leader".
-- A trial's simulation seed derives from --seed, the range and the trial number, so the
-- whole table is deterministic for a --seed and any one trial can be replayed.

local cfg = { trials = 1000, set = "all", pre_vote = false, cap = 10 }
for _, a in ipairs(args or {}) do
  local k, v = a:match("^([%w_]+)=(.+)$")
  if k == "trials" or k == "cap" then
    cfg[k] = tonumber(v)
    if not cfg[k] or cfg[k] <= 0 then error(("raft_election_timing: %s must be a positive number, got '%s'"):format(k, v), 0) end
  elseif k == "set" and (v == "top" or v == "bottom" or v == "all") then
    cfg.set = v
  elseif k == "pre_vote" and (v == "true" or v == "false") then
    cfg.pre_vote = v == "true"
  else
    error(("raft_election_timing: unknown argument '%s' (expected trials=N, set=top|bottom|all, pre_vote=true|false, cap=S)")
      :format(a), 0)
  end
end
cfg.trials = math.floor(cfg.trials)

local MS = 0.001
local TOP = { { 150, 150.000001 }, { 150, 151 }, { 150, 155 }, { 150, 175 }, { 150, 200 }, { 150, 300 } }
local BOTTOM = { { 12, 24 }, { 25, 50 }, { 50, 100 }, { 100, 200 }, { 150, 300 } }
local NODES = { "n1", "n2", "n3", "n4", "n5" }

-- One trial: returns the downtime in seconds (nil when no leader within cap) and the
-- number of elections (terms) it took.
local function trial(sim_seed, tmin, tmax)
  local sim = hs.Simulation{ seed = sim_seed }
  local net = hs.Network{ sim = sim, name = "cluster", default_link = hs.datacenter_network() }
  local nodes = {}
  for i, name in ipairs(NODES) do
    nodes[i] = hs.RaftNode{ name = name, network = net, peers = NODES, election_timeout_min = tmin * MS,
                            election_timeout_max = tmax * MS, heartbeat_interval = tmin * MS / 2,
                            pre_vote = cfg.pre_vote, check_quorum = false }
  end
  for _, n in ipairs(nodes) do n:start() end
  -- the first leader is made, not elected (with little randomness the first election could
  -- itself take long): n1 campaigns at once; its heartbeats then set everyone's timers
  nodes[1]:campaign()
  local crashed_at, old_term, old
  sim:spawn(function()
    local rnd = sim:random("experiment")
    local leader
    repeat
      hs.sleep(0.01)
      for _, n in ipairs(nodes) do if n.is_leader then leader = n end end
      if sim.now > 5 then error("no first leader") end
    until leader and leader.commit_index > 0
    hs.sleep(1 + rnd:uniform(0, tmin * MS / 2)) -- steady state, then a random point in a heartbeat interval
    old, old_term, crashed_at = leader, leader.current_term, sim.now
    leader:crash()
    local deadline = sim.now + cfg.cap
    while sim.now < deadline do
      for _, n in ipairs(nodes) do if n.is_leader then sim:stop() return end end
      hs.sleep(0.002)
    end
    sim:stop()
  end)
  sim:run()
  -- the exact time from the role histories
  local elected, term
  for _, n in ipairs(nodes) do
    if n ~= old then
      for _, h in ipairs(n.history) do
        if h.role == "leader" and h.time >= crashed_at and (not elected or h.time < elected) then
          elected, term = h.time, h.term
        end
      end
    end
  end
  if not elected then return nil, nil end
  return elected - crashed_at, term - old_term
end

local function percentile(sorted, q)
  return sorted[math.max(1, math.ceil(q * #sorted))]
end

local function run_set(title, ranges, set_index)
  print(title)
  print(("  %-14s %8s %8s %8s %8s %8s %8s  %s"):format("timeout (ms)", "p50", "p90", "p99", "max", "mean", "elections",
    "no leader"))
  for ri, r in ipairs(ranges) do
    local tmin, tmax = r[1], r[2]
    local label = tmax - tmin < 0.001 and ("%g-%g"):format(tmin, tmin) or ("%g-%g"):format(tmin, tmax)
    local downs, elections, failed = {}, 0, 0
    local started, said = os.clock(), os.clock()
    for t = 1, cfg.trials do
      local sim_seed = seed * 1000003 + set_index * 100000 + ri * 10000 + t
      local d, e = trial(sim_seed, tmin, tmax)
      if d then
        downs[#downs + 1] = d
        elections = elections + e
      else
        failed = failed + 1
      end
      if os.clock() - said >= 2 and t < cfg.trials then -- progress, on stderr: stdout stays the same for a seed
        said = os.clock()
        io.stderr:write(("    %s ms: %d/%d trials (%.0f s)\n"):format(label, t, cfg.trials, said - started))
      end
    end
    table.sort(downs)
    local sum = 0
    for _, d in ipairs(downs) do sum = sum + d end
    local function ms(x) return x and ("%.1f"):format(x * 1000) or "-" end
    print(("  %-14s %8s %8s %8s %8s %8s %9s  %d"):format(label, ms(percentile(downs, 0.5)),
      ms(percentile(downs, 0.9)), ms(percentile(downs, 0.99)), ms(downs[#downs]), ms(#downs > 0 and sum / #downs),
      #downs > 0 and ("%.2f"):format(elections / #downs) or "-", failed))
  end
  print()
end

print(("Leader-crash downtime, ms, over %d trials per range (5 nodes, datacenter network, heartbeat = min/2, "
  .. "pre-vote %s; seed %d)"):format(cfg.trials, cfg.pre_vote and "on" or "off", seed))
print()
local clock = os.clock()
if cfg.set ~= "bottom" then run_set("Randomness (Figure 16, top):", TOP, 1) end
if cfg.set ~= "top" then run_set("Scale of the timeouts (Figure 16, bottom):", BOTTOM, 2) end
print(("'elections' is the mean number of terms it took (1: no split vote); 'no leader': none within %g s."):format(cfg.cap))
io.stderr:write(("%.1f s of CPU\n"):format(os.clock() - clock))
