-- election_compare.lua: Bully, Ring, Randomized and the Lua "lowest wins" strategy side by side
-- under crashes. Five nodes on a datacenter network; at t = 10 the leader crashes, at t = 20
-- the new leader crashes too, both come back at t = 30. For each strategy, over several seeds:
-- elections started, election messages (strategy messages, not heartbeats) and the time from
-- each crash to a new leader that every live node accepts.
--
--   happysim run scripts/election_compare.lua [-- SEEDS]

local seeds = tonumber(args and args[1]) or 10
local LowestWins = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "lowest_wins.lua")
local NAMES = { "n1", "n2", "n3", "n4", "n5" }

local function make(kind)
  if kind == "bully" then return hs.BullyStrategy() end
  if kind == "ring" then return hs.RingStrategy() end
  if kind == "randomized" then return hs.RandomizedStrategy{} end
  return LowestWins()
end

local function agreed(nodes)
  local leader, by_name = nil, {}
  for _, n in ipairs(nodes) do by_name[n.name] = n end
  for _, n in ipairs(nodes) do
    if not n.crashed then
      local l = n.current_leader
      if not l or by_name[l].crashed or (leader and l ~= leader) then return nil end
      leader = l
    end
  end
  return leader
end

local function trial(kind, seed)
  local net = hs.Network{ name = "net", default_link = hs.datacenter_network() }
  local checker = hs.ElectionChecker()
  local nodes = {}
  for i, name in ipairs(NAMES) do
    nodes[i] = hs.LeaderElection{ name = name, network = net, members = NAMES, strategy = make(kind), checker = checker }
    nodes[i]:start()
  end
  local sim = hs.Simulation{ seed = seed, entities = { net, table.unpack(nodes) } }
  local times, crashed = {}, {}
  local function crash_leader_at(t)
    sim:run_until(t)
    local l = agreed(nodes)
    if l then sim:entity(l):crash(); crashed[#crashed + 1] = l end
    local t0 = sim.now
    while sim.now < t + 9.9 do
      sim:run_until(sim.now + 0.01)
      if agreed(nodes) then times[#times + 1] = sim.now - t0; break end
    end
  end
  crash_leader_at(10)
  crash_leader_at(20)
  sim:run_until(30)
  for _, c in ipairs(crashed) do sim:entity(c):restart() end
  sim:run_until(40)
  local elections, messages, heartbeats = 0, 0, 0
  for _, n in ipairs(nodes) do
    local s = n.stats
    elections = elections + s.elections_started
    messages = messages + s.messages_sent - s.heartbeats_sent
    heartbeats = heartbeats + s.heartbeats_sent
  end
  assert(not checker.violation, checker.violation)
  return elections, messages, times, agreed(nodes)
end

print(("%-11s %10s %10s %14s %14s  %s"):format("strategy", "elections", "messages", "failover 1 (s)",
      "failover 2 (s)", "leader at t=40"))
for _, kind in ipairs{ "bully", "ring", "randomized", "lowest (Lua)" } do
  local e, m, t1, t2, n1, n2, final = 0, 0, 0, 0, 0, 0, {}
  for seed = 1, seeds do
    local el, msg, times, leader = trial(kind:match("^%a+"), seed)
    e, m = e + el, m + msg
    if times[1] then t1, n1 = t1 + times[1], n1 + 1 end
    if times[2] then t2, n2 = t2 + times[2], n2 + 1 end
    final[leader or "none"] = (final[leader or "none"] or 0) + 1
  end
  local fl = {}
  for k, v in pairs(final) do fl[#fl + 1] = k .. " x" .. v end
  table.sort(fl)
  print(("%-11s %10.1f %10.1f %14.3f %14.3f  %s"):format(kind, e / seeds, m / seeds, n1 > 0 and t1 / n1 or 0 / 0,
        n2 > 0 and t2 / n2 or 0 / 0, table.concat(fl, ", ")))
end
print(("(means over %d seeds; messages: every message sent but heartbeats, i.e. election messages and heartbeat acks)"):format(seeds))
