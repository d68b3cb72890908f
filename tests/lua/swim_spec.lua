-- hs.MembershipProtocol (SWIM with Lifeguard's suspicion, engine/membership/hs_swim.h) through
-- the binding: convergence, suspect -> dead -> rejoin with a higher incarnation, an indirect
-- probe around a cut link, misuse, order of construction. The protocol's rules in detail:
-- tests/c/test_swim.c; the detection law through Lua: scripts/swim_detection.lua (below).

local hs = require("happysim")

local function names_of(n)
  local names = {}
  for i = 1, n do names[i] = "m" .. i end
  return names
end

-- n members on one network, each with the whole list; log[i] records member i's view changes.
local function group(n, opts)
  opts = opts or {}
  local net = hs.Network{ name = "lan", default_link = opts.link or hs.datacenter_network() }
  local names, nodes, log = names_of(n), {}, {}
  for i = 1, n do
    log[i] = {}
    nodes[i] = hs.MembershipProtocol{
      name = names[i], network = net, members = names, indirect_probe_count = opts.k,
      on_member_change = function(node, member, state, prev, inc)
        local l = log[i]
        l[#l + 1] = { time = node.now, member = member, state = state, prev = prev, incarnation = inc }
      end,
    }
    nodes[i]:start()
  end
  local sim = hs.Simulation{ seed = opts.seed or 1, entities = { net, table.unpack(nodes) } }
  return sim, nodes, log, net
end

local function others(names, self)
  local out = {}
  for _, n in ipairs(names) do if n ~= self then out[#out + 1] = n end end
  table.sort(out) -- alive_members is sorted by name: m10 before m2
  return out
end

-- The first time member i's log shows `member` in `state` (nil: never).
local function first(log, member, state)
  for _, c in ipairs(log) do if c.member == member and c.state == state then return c.time end end
end

describe("MembershipProtocol", function()
  it("converges: every member sees all the others alive", function()
    local sim, nodes = group(12)
    sim:run_until(10)
    local names = names_of(12)
    for i, node in ipairs(nodes) do
      assert.same(others(names, node.name), node.alive_members)
      assert.same({}, node.suspected_members)
      assert.same({}, node.dead_members)
      assert.equal("alive", node:get_member_state(names[(i % 12) + 1]))
      local s = node.stats
      assert.equal(11, s.alive_count)
      assert.equal(0, s.suspect_count + s.dead_count + s.malformed)
      assert.is_true(s.probes_sent >= 9 and s.acks_received >= 9)
    end
    assert.is_nil(nodes[1]:get_member_state("nobody"))
    assert.equal("alive", hs.MemberState.ALIVE)
  end)

  it("suspects a crashed member, then everyone declares it dead; restarted, it rejoins alive", function()
    local sim, nodes, log = group(10, { seed = 7 })
    sim:run_until(5)
    nodes[4]:crash()
    sim:run_until(40)
    for i, node in ipairs(nodes) do
      if i ~= 4 then
        assert.equal("dead", node:get_member_state("m4"), node.name)
        local suspected, dead = first(log[i], "m4", "suspect"), first(log[i], "m4", "dead")
        assert.is_truthy(dead, node.name)
        assert.is_true(suspected == nil or suspected <= dead) -- suspected here, or heard dead first
        assert.is_true(dead > 5 and dead < 25, node.name .. " at " .. tostring(dead))
        assert.same({ "m4" }, node.dead_members)
      end
    end
    assert.is_truthy(first(log[1], "m4", "suspect") or first(log[2], "m4", "suspect"))
    local incarnation = nodes[4].incarnation
    nodes[4]:restart()
    sim:run_until(60)
    assert.equal(incarnation + 1, nodes[4].incarnation)
    for i, node in ipairs(nodes) do
      if i ~= 4 then
        assert.equal("alive", node:get_member_state("m4"), node.name)
        assert.equal(incarnation + 1, node:member_incarnation("m4"))
        assert.equal(9, #node.alive_members)
      end
    end
    -- no live member was ever suspected
    for i = 1, 10 do
      for _, c in ipairs(log[i]) do assert.equal("m4", c.member) end
    end
  end)

  it("keeps a member whose direct link is cut alive through indirect probes", function()
    local sim, nodes, log, net = group(8, { seed = 3 })
    net:partition({ nodes[1] }, { nodes[2] })
    sim:run_until(40)
    assert.is_true(nodes[1].stats.indirect_probes_sent > 0)
    assert.equal("alive", nodes[1]:get_member_state("m2"))
    assert.equal("alive", nodes[2]:get_member_state("m1"))
    assert.is_nil(first(log[1], "m2", "suspect"))
    assert.is_nil(first(log[2], "m1", "suspect"))
    local relayed = 0
    for i = 3, 8 do relayed = relayed + nodes[i].stats.pings_relayed end
    assert.is_true(relayed > 0)
    -- the control: without indirect probes m1 suspects m2 (who refutes it)
    local sim2, nodes2, log2, net2 = group(8, { seed = 3, k = 0 })
    net2:partition({ nodes2[1] }, { nodes2[2] })
    sim2:run_until(40)
    assert.equal(0, nodes2[1].stats.indirect_probes_sent)
    assert.is_truthy(first(log2[1], "m2", "suspect"))
    assert.is_true(nodes2[2].stats.refutations > 0)
  end)

  it("survives an asymmetric cut and a lossy link the same way", function()
    local sim, nodes, log, net = group(8, { seed = 5 })
    net:partition({ nodes[1] }, { nodes[2] }, { asymmetric = true })
    net:add_link(nodes[3], nodes[4], hs.NetworkLink{ latency = hs.dist.constant(0.001), packet_loss_rate = 1.0 })
    sim:run_until(40)
    for i = 1, 8 do
      assert.equal(7, #nodes[i].alive_members, nodes[i].name)
      assert.equal(0, nodes[i].stats.declared_dead)
    end
    assert.is_nil(first(log[1], "m2", "dead"))
    assert.is_nil(first(log[3], "m4", "dead"))
  end)

  it("is deterministic: the same seed, the same run", function()
    local function run(seed)
      local sim, nodes = group(10, { seed = seed, link = hs.lossy_network(0.05) })
      sim:run_until(5)
      nodes[2]:crash()
      sim:run_until(30)
      local out = {}
      for i, node in ipairs(nodes) do
        local s = node.stats
        out[i] = table.concat({ s.messages_sent, s.probes_sent, s.updates_disseminated, s.suspicions_raised }, "/")
      end
      return table.concat(out, " ")
    end
    assert.equal(run(11), run(11))
    assert.are_not.equal(run(11), run(12))
  end)

  it("takes members by name or as nodes, built after the simulation, and joins by add_member", function()
    local sim = hs.Simulation{ seed = 2 }
    local net = hs.Network{ name = "lan", default_link = hs.datacenter_network() }
    sim:add(net)
    local a = hs.MembershipProtocol{ name = "a", network = net, members = { "b", "c" }, protocol_period = 0.5 }
    local b = hs.MembershipProtocol{ name = "b", network = net, members = { a, "c" }, indirect_probes = 2 }
    local c = hs.MembershipProtocol{ name = "c", network = net, members = { a, b } }
    local d = hs.MembershipProtocol{ name = "d", network = net }
    assert.equal(0.5, a.protocol_period)
    for _, n in ipairs{ a, b, c, d } do n:start() end
    sim:run_until(5)
    assert.same({ "b", "c" }, a.alive_members)
    assert.same({}, d.alive_members)
    assert.is_nil(a:get_member_state("d"))
    -- d joins through a: a adds it, d adds everyone
    a:add_member(d)
    for _, n in ipairs{ "a", "b", "c" } do d:add_member(n) end
    b:add_member("d")
    c:add_member(d)
    sim:run_until(15)
    assert.same({ "a", "b", "c" }, d.alive_members)
    assert.same({ "b", "c", "d" }, a.alive_members)
    -- a name never built is a member that never answers
    a:add_member("ghost")
    sim:run_until(40)
    assert.equal("dead", a:get_member_state("ghost"))
    assert.equal("alive", a:get_member_state(d))
  end)

  it("can be built before the Simulation: it attaches with its network", function()
    local net = hs.Network{ name = "lan", default_link = hs.datacenter_network() }
    local names = names_of(4)
    local nodes = {}
    for i = 1, 4 do nodes[i] = hs.MembershipProtocol{ name = names[i], network = net, members = names } end
    nodes[1]:add_member("m5")
    assert.is_false(nodes[1].attached)
    assert.has_error(function() return nodes[1].alive_members end,
      "MembershipProtocol: field 'alive_members' is not available: MembershipProtocol 'm1' is not attached to a "
        .. "simulation yet (list it in hs.Simulation{ entities = {...} } or call sim:add(node))")
    local ok, err = pcall(function() return nodes[1]:get_member_state("m2") end)
    assert.is_false(ok)
    assert.matches("get_member_state: MembershipProtocol 'm1' is not attached", err, 1, true)
    for i = 1, 4 do nodes[i]:start() end -- they start once attached
    assert.has_error(function() nodes[1]:start() end, "start: MembershipProtocol 'm1' is already started")
    local sim = hs.Simulation{ seed = 1, entities = { net, table.unpack(nodes) } }
    assert.is_true(nodes[1].attached and nodes[1].started)
    sim:run_until(30)
    assert.same({ "m2", "m3", "m4" }, nodes[1].alive_members)
    assert.same({ "m5" }, nodes[1].dead_members)
    assert.same({ "m1", "m3", "m4" }, nodes[2].alive_members)
  end)

  it("raises on misuse, naming the function and the argument", function()
    local sim = hs.Simulation{ seed = 1 }
    local net = hs.Network{ name = "lan" }
    sim:add(net)
    local function fails(opts, pattern)
      local ok, err = pcall(function() return hs.MembershipProtocol(opts) end)
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'MembershipProtocol'", err, 1, true)
      assert.matches(pattern, err, 1, true)
    end
    fails({ network = net }, "field 'name' is required")
    fails({ name = "x" }, "field 'network' is required")
    fails({ name = "x", network = 3 }, "field 'network' must be an hs.Network, got number")
    fails({ name = "x", network = net, members = { 1 } }, "field 'members': item 1 must be a MembershipProtocol or a name")
    fails({ name = "x", network = net, members = "m1" }, "field 'members' must be a list")
    fails({ name = "x", network = net, probe_interval = -1 }, "field 'probe_interval' must be a positive number")
    fails({ name = "x", network = net, probe_interval = 1, protocol_period = 2 }, "are the same option")
    fails({ name = "x", network = net, ping_timeout = 2 }, "field 'ping_timeout' must be below the protocol period")
    fails({ name = "x", network = net, suspicion_timeout = 0 }, "field 'suspicion_timeout' must be a positive number")
    fails({ name = "x", network = net, indirect_probes = 9 }, "field 'indirect_probes' must be an integer in [0, 8]")
    fails({ name = "x", network = net, indirect_probe_count = 1.5 }, "field 'indirect_probe_count' must be an integer")
    fails({ name = "x", network = net, max_piggyback = 0 }, "field 'max_piggyback' must be an integer in [1, 255]")
    fails({ name = "x", network = net, on_member_change = 1 }, "field 'on_member_change' must be a function")
    fails({ name = "x", network = net, phi_threshold = 8 }, "field 'phi_threshold' is not supported")
    fails({ name = "x", network = net, probe_intervall = 1 }, "unknown option 'probe_intervall'")
    local m = hs.MembershipProtocol{ name = "m", network = net }
    assert.has_error(function() m:get_member_state() end)
    local ok, err = pcall(function() return m:get_member_state(3) end)
    assert.is_false(ok)
    assert.matches("bad argument #1 to 'get_member_state' (a MembershipProtocol or a name expected, got number)", err,
      1, true)
    ok, err = pcall(function() m:add_member({}) end)
    assert.matches("bad argument #1 to 'add_member'", err, 1, true)
    ok, err = pcall(function() m.start("m") end)
    assert.matches("bad argument #1 to 'start' (happysim.MembershipProtocol expected", err, 1, true)
    local other = hs.Network{ name = "wan" }
    sim:add(other)
    local far = hs.MembershipProtocol{ name = "far", network = other }
    ok, err = pcall(function() m:add_member(far) end)
    assert.matches("add_member: member 'far' is on another network", err, 1, true)
    ok, err = pcall(hs.MembershipProtocol, { name = "m", network = net })
    assert.is_false(ok) -- the name is taken
    assert.has_error(function() m.stats = 1 end, "MembershipProtocol: field 'stats' is read-only")
  end)

  it("reports an error raised in on_member_change with the time and the member", function()
    local net = hs.Network{ name = "lan", default_link = hs.datacenter_network() }
    local names = names_of(3)
    local nodes = {}
    for i = 1, 3 do
      nodes[i] = hs.MembershipProtocol{ name = names[i], network = net, members = names,
                                        on_member_change = function() error("boom") end }
      nodes[i]:start()
    end
    local sim = hs.Simulation{ seed = 1, entities = { net, table.unpack(nodes) } }
    sim:after(3, function() nodes[3]:crash() end)
    local ok, err = pcall(sim.run_until, sim, 30)
    assert.is_false(ok)
    assert.matches("boom", err)
    assert.matches("on_member_change", err)
  end)
end)

describe("scripts/swim_detection.lua", function()
  it("measures the paper's mean of 1/(1-e^-1) protocol periods to first detection, within 10%", function()
    local detection = loadfile("scripts/swim_detection.lua")({ module = true })
    local r = detection.run{ members = 32, trials = 300, seed = 1, quiet = true }
    local law = 1 / (1 - math.exp(-1))
    assert.is_true(math.abs(r.mean_periods - law) <= 0.10 * law,
      ("mean %.3f periods over %d crashes (law %.3f)"):format(r.mean_periods, r.trials, law))
    assert.equal(0, r.false_deaths)
    assert.equal(r.trials, r.detected)
  end)
end)
