-- hs.LeaderElection through the binding: the built-in strategies and one written in Lua
-- (scripts/lowest_wins.lua) elect, fail over, and keep the safety properties of
-- engine/coord/hs_elect_invariants.h (hs.ElectionChecker) over seeds with crashes and partitions.

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

  it("keeps at most one leader per epoch accepted by a quorum, over seeds with crashes and partitions", function()
    local elected = {}
    for _, kind in ipairs{ "bully", "ring", "randomized", "lua" } do
      elected[kind] = 0
      for seed = 1, 12 do
        local faults = hs.FaultSchedule{
          hs.faults.random_partitions{ nodes = NAMES, mtbf = 4, mttr = 2, start = 2, stop = 30 },
          hs.faults.crash{ node = NAMES[(seed % 5) + 1], at = 5 + seed % 3, restart_at = 12 },
          hs.faults.crash{ node = NAMES[((seed + 2) % 5) + 1], at = 15, restart_at = 20 },
        }
        local sim, nodes, checker = world(kind, seed, faults)
        sim:run_until(45)
        assert.is_nil(checker.violation, kind .. " seed " .. seed)
        if #leaders(nodes) == 1 then elected[kind] = elected[kind] + 1 end
      end
      assert.is_true(elected[kind] >= 10, kind .. ": a single leader at the end in only " .. elected[kind] .. " of 12")
    end
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
