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

  -- The seed's way to build a group: nodes without members, each registering the others by
  -- add_member, before or after the simulation exists. The group is the one members = NAMES gives:
  -- the same run, event for event.
  describe("add_member", function()
    local function faults()
      return hs.FaultSchedule{
        hs.faults.random_partitions{ nodes = NAMES, mtbf = 4, mttr = 2, start = 2, stop = 20 },
        hs.faults.crash{ node = "n5", at = 5, restart_at = 12 },
        hs.faults.crash{ node = "n2", at = 14, restart_at = 18 },
      }
    end

    -- by_add: the seed's way; otherwise members = NAMES. attached: the nodes are built on a network
    -- that is in a simulation already (else the simulation is made last, from the entities).
    local function group(kind, seed, attached, by_add)
      local net = hs.Network{ name = "net", default_link = hs.datacenter_network() }
      local checker = hs.ElectionChecker()
      local sim = attached and hs.Simulation{ seed = seed } or nil
      if sim then sim:add(net) end
      local nodes = {}
      for i, name in ipairs(NAMES) do
        nodes[i] = hs.LeaderElection{ name = name, network = net, strategy = strategy(kind), checker = checker,
                                      members = not by_add and NAMES or nil }
      end
      if by_add then
        for i = #nodes, 1, -1 do -- in reverse, by node and by name: the order does not matter
          for j, m in ipairs(nodes) do nodes[i]:add_member(j % 2 == 0 and m or m.name) end
          nodes[i]:add_member(nodes[i]) -- itself, and members twice: nothing changes
          nodes[i]:add_member(NAMES[1])
        end
      end
      if sim then faults():install(sim) end
      for _, n in ipairs(nodes) do n:start() end
      if not sim then sim = hs.Simulation{ seed = seed, entities = { net, table.unpack(nodes) }, faults = faults() } end
      return sim, nodes, checker
    end

    for _, kind in ipairs{ "bully", "ring", "randomized", "lua" } do
      for _, attached in ipairs{ false, true } do
        it(("builds the group members = NAMES builds (%s, %s)"):format(kind, attached and "attached" or "detached"),
          function()
            local a, an, ac = group(kind, 3, attached, false)
            local b, bn, bc = group(kind, 3, attached, true)
            a:run_until(30)
            b:run_until(30)
            for i = 1, #NAMES do
              assert.same(an[i].members, bn[i].members)
              assert.same(an[i].history, bn[i].history)
            end
            assert.equal(a:summary().trace_hash, b:summary().trace_hash)
            assert.equal(1, #leaders(bn))
            assert.is_nil(ac.violation)
            assert.is_nil(bc.violation)
            a:close()
            b:close()
          end)
      end
    end

    it("raises once the node is started, and on what is not a node or a name", function()
      local net = hs.Network{ name = "net" }
      local a = hs.LeaderElection{ name = "a", network = net }
      local ok, err = pcall(function() a:add_member(5) end)
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'add_member' %(LeaderElection or name expected, got number%)", err)
      a:add_member("b")
      local b = hs.LeaderElection{ name = "b", network = net, members = { "a" } }
      local sim = hs.Simulation{ entities = { net, a, b } }
      assert.same({ "a", "b" }, a.members)
      a:start()
      ok, err = pcall(a.add_member, a, "c")
      assert.is_false(ok)
      assert.matches("add_member: LeaderElection 'a' is started: a running group keeps its members", err, 1, true)
      assert.same({ "a", "b" }, a.members)
      sim:close()
      ok, err = pcall(a.add_member, a, "c")
      assert.is_false(ok)
      assert.matches("LeaderElection 'a': its simulation is closed", err, 1, true)
    end)

    it("takes the seed's map of names to nodes as members", function()
      local net = hs.Network{ name = "net", default_link = hs.datacenter_network() }
      local b = hs.LeaderElection{ name = "b", network = net, members = { "a", "b" } }
      local a = hs.LeaderElection{ name = "a", network = net, members = { b = b, a = true } }
      local sim = hs.Simulation{ entities = { net, a, b } }
      assert.same({ "a", "b" }, a.members)
      a:start()
      b:start()
      sim:run_until(10)
      assert.equal("b", a.current_leader)
      assert.equal("b", b.current_leader)
      sim:close()
      local function msg(members)
        local ok, err = pcall(hs.LeaderElection, { name = "c", network = hs.Network{ name = "n2" }, members = members })
        assert.is_false(ok)
        return err
      end
      assert.matches("field 'members': a list of nodes or names, or a map of names to their nodes; got key string "
        .. "with happysim.LeaderElection", msg({ x = b }), 1, true)
      assert.matches("got key number with string", msg({ "a", [5] = "b" }), 1, true)
      assert.matches("got key string with boolean", msg({ a = false }), 1, true)
    end)

    it("start refuses a node whose members list another group: their ids would not agree", function()
      local net = hs.Network{ name = "net" }
      local a = hs.LeaderElection{ name = "a", network = net, members = { "b", "c" } }
      local b = hs.LeaderElection{ name = "b", network = net, members = { "a", "c" } }
      local c = hs.LeaderElection{ name = "c", network = net, members = { "a", "b" } }
      local sim = hs.Simulation{ entities = { net, a, b, c } }
      a:start()
      c:add_member("d")
      local d = hs.LeaderElection{ name = "d", network = net, members = { "a", "b", "c" } }
      sim:add(d)
      local ok, err = pcall(c.start, c)
      assert.is_false(ok)
      assert.matches("start: LeaderElection 'c' and its member 'a' list different groups (4 and 3 members)", err, 1, true)
      ok, err = pcall(b.start, b)
      assert.is_false(ok)
      assert.matches("start: LeaderElection 'b' and its member 'c' list different groups (3 and 4 members)", err, 1, true)
      assert.is_false(b.started or c.started)
      sim:close()
    end)
  end)

  it("raises on misuse", function()
    local net = hs.Network{ name = "net" }
    local function msg(f) local ok, e = pcall(f); assert.is_false(ok); return tostring(e) end
    assert.matches("field 'members' must be a list", msg(function()
      hs.LeaderElection{ name = "a", network = net, members = 5 } end))
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
