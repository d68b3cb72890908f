-- hs.LeaderElection through the binding: the built-in strategies and one written in Lua
-- (scripts/lowest_wins.lua, whose callbacks wait) elect, fail over, and keep the safety
-- properties of engine/coord/hs_elect_invariants.h (hs.ElectionChecker) over seeds with crashes
-- and partitions. What a Lua strategy's callbacks may do: election_strategy_spec.lua.

local hs = require("happysim")
local LowestWins = dofile("scripts/lowest_wins.lua")

local NAMES = { "n1", "n2", "n3", "n4", "n5" }

local function strategy(kind)
  if kind == "bully" then return hs.BullyStrategy() end
  if kind == "ring" then return hs.RingStrategy() end
  if kind == "randomized" then return hs.RandomizedStrategy{ ballot_range = 1000 } end
  return LowestWins()
end

local function world(kind, seed, faults)
  local net = hs.Network{ name = "net", default_link = hs.datacenter_network() }
  local checker = hs.ElectionChecker()
  local nodes = {}
  for i, name in ipairs(NAMES) do
    nodes[i] = hs.LeaderElection{ name = name, network = net, members = NAMES, strategy = strategy(kind),
                                  checker = checker }
    nodes[i]:start()
  end
  local sim = hs.Simulation{ seed = seed, entities = { net, table.unpack(nodes) }, faults = faults }
  return sim, nodes, checker
end

local function leaders(nodes)
  local out = {}
  for _, n in ipairs(nodes) do if n.is_leader then out[#out + 1] = n.name end end
  return out
end

describe("LeaderElection", function()
  for _, case in ipairs{ { "bully", "n5", "n4" }, { "ring", "n5", "n4" }, { "lua", "n1", "n2" } } do
    local kind, first, second = case[1], case[2], case[3]
    it(kind .. " elects " .. first .. ", then " .. second .. " once it crashes", function()
      local sim, nodes, checker = world(kind, 1)
      sim:run_until(10)
      assert.same({ first }, leaders(nodes))
      for _, n in ipairs(nodes) do assert.equal(first, n.current_leader) end
      sim:entity(first):crash()
      sim:run_until(25)
      assert.same({ second }, leaders(nodes))
      assert.equal(second, nodes[3].current_leader)
      assert.is_nil(checker.violation)
      assert.is_true(checker.checks > 0)
      local h = sim:entity(second).history
      assert.equal(second, h[#h].leader)
      local s = sim:entity(second).stats
      assert.is_true(s.elections_won >= 1 and s.is_leader and s.current_term >= 2)
    end)
  end

  it("randomized elects one leader by votes", function()
    local sim, nodes, checker = world("randomized", 4)
    sim:run_until(10)
    assert.equal(1, #leaders(nodes))
    assert.is_nil(checker.violation)
  end)

  -- The safety sweep of issue 11, the same for the C strategies and the Lua one: 250 seeds of a
  -- lossy network that reorders, random partitions and three crash/restarts; the shipped checker
  -- (one backing per epoch, durable backing, at most one leader per epoch accepted by a quorum)
  -- after every leader change and persist. The faults stop at t = 30; by t = 45 one leader.
  it("keeps at most one leader per epoch accepted by a quorum, over 250 seeds with crashes and partitions", function()
    local SEEDS = 250
    local Counting = LowestWins:extend("CountingLowestWins") -- counts the waits of the Lua strategy
    local waits = 0
    function Counting:should_start_election(node)
      local t = hs.now()
      local yes = LowestWins.should_start_election(self, node)
      if hs.now() > t then waits = waits + 1 end
      return yes
    end
    for _, kind in ipairs{ "bully", "ring", "randomized", "lua" } do
      local single = 0
      for seed = 1, SEEDS do
        local faults = hs.FaultSchedule{
          hs.faults.random_partitions{ nodes = NAMES, mtbf = 4, mttr = 2, start = 2, stop = 30 },
          hs.faults.crash{ node = NAMES[(seed % 5) + 1], at = 5 + seed % 3, restart_at = 12 },
          hs.faults.crash{ node = NAMES[((seed + 2) % 5) + 1], at = 15, restart_at = 20 },
          hs.faults.crash{ node = NAMES[((seed + 4) % 5) + 1], at = 22 + seed % 5, restart_at = 29 },
        }
        local net = hs.Network{ name = "net", default_link = hs.NetworkLink{ latency = hs.dist.uniform(0.001, 0.05),
                                                                             packet_loss_rate = 0.05 } }
        local checker = hs.ElectionChecker()
        local nodes = {}
        for i, name in ipairs(NAMES) do
          nodes[i] = hs.LeaderElection{ name = name, network = net, members = NAMES, checker = checker,
                                        strategy = kind == "lua" and Counting() or strategy(kind) }
          nodes[i]:start()
        end
        local sim = hs.Simulation{ seed = seed, entities = { net, table.unpack(nodes) }, faults = faults }
        sim:run_until(45)
        assert.is_nil(checker.violation, kind .. " seed " .. seed)
        assert.is_true(checker.checks > 0)
        local l = leaders(nodes)
        local agreed = #l == 1
        for _, n in ipairs(nodes) do agreed = agreed and n.current_leader == l[1] end
        if agreed then single = single + 1 end
      end
      assert.is_true(single >= SEEDS * 0.95, kind .. ": one agreed leader at the end in only " .. single .. " of " .. SEEDS)
    end
    assert.is_true(waits > 100, "the Lua strategy waited only " .. waits .. " times") -- it does wait
  end)

  it("a Lua strategy's error stops the run naming the strategy method", function()
    local s = LowestWins()
    function s:start_election() error("boom") end
    local net = hs.Network{ name = "net" }
    local a = hs.LeaderElection{ name = "a", network = net, members = { "a", "b" }, strategy = s }
    local b = hs.LeaderElection{ name = "b", network = net, members = { "a", "b" }, strategy = LowestWins() }
    a:start(); b:start()
    local sim = hs.Simulation{ entities = { net, a, b } }
    local ok, err = pcall(sim.run_until, sim, 10)
    assert.is_false(ok)
    assert.matches("election strategy start_election", tostring(err))
    assert.matches("boom", tostring(err))
  end)

  it("raises on misuse", function()
    local net = hs.Network{ name = "net" }
    local function msg(f) local ok, e = pcall(f); assert.is_false(ok); return tostring(e) end
    assert.matches("field 'members' must be a list", msg(function() hs.LeaderElection{ name = "a", network = net } end))
    assert.matches("has no 'on_timeout' method", msg(function()
      hs.LeaderElection{ name = "a", network = net, members = {}, strategy = { should_start_election = print,
        start_election = print, handle_election_message = print } } end))
    assert.matches("field 'ballot_range' must be an integer", msg(function() hs.RandomizedStrategy{ ballot_range = 0 } end))
    assert.matches("unknown option", msg(function() hs.BullyStrategy{ answer = 1 } end))
    local a = hs.LeaderElection{ name = "a", network = net, members = { "a" } }
    local sim = hs.Simulation{ entities = { net, a } }
    assert.matches("only valid inside a strategy method", msg(function() a:declare() end))
    sim:close()
  end)
end)
