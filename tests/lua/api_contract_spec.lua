-- The API contract (docs/API.md) as a user reads it: every Lua code block of the contract is
-- loaded from the document itself and run as written (with the names it leaves open bound to
-- real values, and a `return` line added to reach its locals), then checked against what the
-- contract says it does. The statements the contract makes in prose are checked beside them.
-- A code block added to the contract fails "every block is covered" until it has a spec here.

local hs = require("happysim")

local function read_contract()
  local f = assert(io.open("docs/API.md", "r"), "docs/API.md is missing")
  local text = f:read("a")
  f:close()
  return text
end

local contract = read_contract()

-- The ```lua blocks of the contract, in order.
local blocks = {}
for code in contract:gmatch("```lua\n(.-)```") do blocks[#blocks + 1] = code end

-- Loads a contract block with `extra` appended, in an environment that sees hs, the globals,
-- and `names` (what the block leaves for the reader to fill in); runs it with ... = varargs.
local function run_block(i, extra, names, ...)
  local env = setmetatable(names or {}, { __index = _G })
  env.hs = env.hs or hs
  local chunk = assert(load(blocks[i] .. "\n" .. (extra or ""), "=API.md block " .. i, "t", env))
  return chunk(...)
end

-- A Lua entity that answers "Ping" requests and counts them.
local function ponger(name)
  return hs.Entity{ name = name, pings = 0, handle_event = function(self, ev)
    if ev.type == "Ping" then
      self.pings = self.pings + 1
      ev.network:reply(ev, { n = ev.payload.n })
    end
  end }
end

-- A 5-node Raft cluster built world first: the network and the nodes before the Simulation.
local function world_first_cluster(seed)
  local net = hs.Network{ name = "net", default_link = hs.datacenter_network() }
  local names = { "n1", "n2", "n3", "n4", "n5" }
  local nodes = {}
  for i, name in ipairs(names) do nodes[i] = hs.RaftNode{ name = name, network = net, peers = names } end
  for _, n in ipairs(nodes) do n:start() end
  local entities = { net }
  for _, n in ipairs(nodes) do entities[#entities + 1] = n end
  return hs.Simulation{ seed = seed, entities = entities }, nodes, net
end

-- The same cluster built simulation first (the order that always worked).
local function sim_first_cluster(seed)
  local sim = hs.Simulation{ seed = seed }
  local net = hs.Network{ name = "net", sim = sim, default_link = hs.datacenter_network() }
  local names = { "n1", "n2", "n3", "n4", "n5" }
  local nodes = {}
  for i, name in ipairs(names) do nodes[i] = hs.RaftNode{ name = name, network = net, peers = names } end
  for _, n in ipairs(nodes) do n:start() end
  return sim, nodes, net
end

local function leaders(nodes)
  local out = {}
  for _, n in ipairs(nodes) do if n.is_leader then out[#out + 1] = n end end
  return out
end

describe("API.md", function()
  it("has the six Lua code blocks this spec covers", function()
    assert.are.equal(6, #blocks)
  end)

  describe("3. Core: the Simulation listing", function()
    it("runs as written, and each line does what its comment says", function()
      local seen = {}
      local worker = hs.Entity{ name = "worker", handle_event = function(self, ev) seen[#seen + 1] = ev.type end }
      local x = hs.Entity{ name = "x", handle_event = function() end }
      local ran_after = {}
      local schedule = hs.FaultSchedule{ hs.faults.crash{ node = "worker", at = 30, restart_at = 31 } }
      local sim, summary, now, fut = run_block(1, "return sim, summary, now", {
        schedule = schedule,
        x = x,
        event = hs.Event{ time = 5, type = "Job", target = worker },
        dt = 2,
        fn = function(tag) ran_after[#ran_after + 1] = { tag, hs.now() } end,
        name = "arrivals",
        n = 1,
      }, worker)
      assert.are.equal(42, sim.seed)
      assert.are.equal(60, sim.end_time)
      assert.are.equal(12.5, now)                     -- run_until(12.5) stopped there
      assert.are.same({ "Job" }, seen)                -- the scheduled event ran at t=5
      assert.are.equal(60, summary.duration_s)        -- run() went on to end_time
      for _, k in ipairs{ "events_processed", "events_cancelled", "wall_clock_seconds", "events_per_wall_second" } do
        assert.is_number(summary[k], k)
      end
      assert.is_table(summary.entities.worker)
      assert.is_table(summary.entities.x)             -- sim:add(x) registered it
      assert.is_true(x.sim == sim)
      -- sim:spawn(fn, ...) ran fn at once, sim:after(dt, fn, ...) at now + dt (both with ... = worker)
      assert.are.same({ { worker, 0 }, { worker, 2 } }, ran_after)
      assert.is_nil(fut)
      assert.is_true(worker.crashed == false)         -- the fault schedule crashed and restarted it
    end)

    it("runs the same twice (every draw derives from the seed)", function()
      local function once()
        local w = hs.Entity{ name = "w", handle_event = function() end }
        local sim = run_block(1, "return sim", {
          schedule = hs.FaultSchedule{}, x = hs.Entity{ name = "x" },
          event = hs.Event{ time = 1, type = "T", target = w }, dt = 1, fn = function() end, name = "s", n = 3,
        }, w)
        return sim:summary().trace_hash, sim:random("s"):random()
      end
      local h1, r1 = once()
      local h2, r2 = once()
      assert.are.equal(h1, h2)
      assert.are.equal(r1, r2)
    end)
  end)

  describe("3. Core: the Pinger entity", function()
    it("defines a class whose handler sleeps, requests over the network and returns the next event", function()
      local Pinger = run_block(2, "return Pinger")
      local pong = ponger("pong")
      local p = Pinger{ name = "ping", peer = "pong" }
      local net = hs.Network{ name = "net", default_link = hs.datacenter_network() }
      net:connect_all({ p, pong })                    -- built before the simulation: kept until attached
      local sim = hs.Simulation{ seed = 1, end_time = 5.5, entities = { net, p, pong } }
      assert.are.equal(net, p.network)                -- a linked entity knows its network
      sim:schedule(hs.Event{ time = 0, type = "Tick", target = p, payload = { n = 1 } })
      sim:run()
      assert.are.equal(6, pong.pings)                 -- t = 0, 1.01.., 2.02.., ... 5.05..: one per second
    end)

    it("stops asking when a request times out (err.code == 'timeout')", function()
      local Pinger = run_block(2, "return Pinger")
      local silent = hs.Entity{ name = "silent", handle_event = function() end }
      local p = Pinger{ name = "ping", peer = "silent" }
      local net = hs.Network{ name = "net", default_link = hs.datacenter_network() }
      net:add_bidirectional_link(p, silent, hs.datacenter_network())
      local sim = hs.Simulation{ seed = 1, entities = { net, p, silent } }
      sim:schedule(hs.Event{ time = 0, type = "Tick", target = p, payload = { n = 1 } })
      local summary = sim:run()
      assert.is_true(math.abs(summary.duration_s - 1.01) < 1e-9) -- 10 ms sleep + 1 s timeout, then nothing
    end)
  end)

  describe("4. Network and faults: the listing", function()
    -- The names the listing leaves open: entities registered with a simulation.
    local function world()
      local sim = hs.Simulation{ seed = 3 }
      local got = {}
      local function node(name)
        local e = hs.Entity{ name = name, handle_event = function(self, ev) got[#got + 1] = { self.name, ev.type, ev.payload } end }
        sim:register(e)
        return e
      end
      local w = { sim = sim, got = got }
      for _, name in ipairs{ "a", "b", "n1", "n2", "n3", "n4", "n5" } do w[name] = node(name) end
      w.nodes = { w.n1, w.n2, w.n3, w.n4, w.n5 }
      w.src, w.dst, w.payload, w.node = w.a, w.b, { hello = "world" }, w.n4
      return w
    end

    it("runs as written", function()
      local w = world()
      local net, p, crashed = run_block(3, "return net, p, crashed", w)
      assert.are.equal("cluster", net.name)
      local link, explicit = net:link(w.a, w.b)
      assert.is_true(explicit)                        -- add_bidirectional_link replaced a -> b's link
      assert.are.equal(0.0001, link.packet_loss_rate) -- cross_region_network's
      assert.are.equal(10e9, (net:link(w.n1, w.n2)).bandwidth_bps) -- connect_all's mesh: datacenter_network
      assert.is_false(p.active)                       -- p:heal()
      assert.is_false(net:is_partitioned(w.n1, w.n3)) -- heal_partition() healed everything
      assert.is_false(crashed)                        -- crash() then restart()
      w.sim:run()
      assert.are.same({ { "b", "Type", { hello = "world" } } }, w.got) -- the send was delivered to dst
    end)

    it("partitions as it says while the cut is active", function()
      local w = world()
      local net = hs.Network{ name = "cluster", sim = w.sim, default_link = hs.datacenter_network() }
      local p = net:partition({ w.n1, w.n2 }, { w.n3, w.n4, w.n5 }, { asymmetric = false })
      assert.is_true(net:is_partitioned(w.n1, w.n3))
      assert.is_true(net:is_partitioned(w.n3, w.n1))
      assert.is_false(net:is_partitioned(w.n1, w.n2))
      assert.is_true(p:heal())
      assert.is_false(net:is_partitioned(w.n1, w.n3))
    end)

    it("the presets and distributions named in prose exist", function()
      for _, preset in ipairs{ "local_network", "datacenter_network", "cross_region_network", "internet_network",
                               "satellite_network", "mobile_3g_network", "mobile_4g_network" } do
        assert.are.equal("happysim.NetworkLink", getmetatable(hs[preset]()).__name, preset)
      end
      assert.is_not_nil(hs.lossy_network(0.1))
      assert.is_not_nil(hs.slow_network(0.2))
      for _, d in ipairs{ hs.dist.constant(1), hs.dist.uniform(0, 1), hs.dist.exponential(1), hs.dist.normal(1, 0.1),
                          hs.dist.lognormal(0, 1), hs.dist.percentiles{ p50 = 0.01, p99 = 0.1 } } do
        assert.is_not_nil(d)
      end
    end)

    it("the fault schedule of the prose runs, with every fault kind it names", function()
      local sim, nodes, net = world_first_cluster(5)
      local names = { "n1", "n2", "n3", "n4", "n5" }
      local schedule = hs.FaultSchedule{
        hs.faults.crash{ node = "n1", at = 5, restart_at = 8 },
        hs.faults.partition{ a = { "n1", "n2" }, b = { "n3", "n4", "n5" }, start = 10, stop = 15 },
        hs.faults.packet_loss{ network = net, rate = 0.1, start = 16, stop = 18 },
        hs.faults.latency{ network = net, extra = 0.01, start = 18, stop = 20 },
        hs.faults.pause{ node = "n2", at = 20, resume_at = 21 },
        hs.faults.random_partitions{ network = net, nodes = names, mtbf = 5, mttr = 2, start = 22, stop = 40 },
      }
      schedule:install(sim)
      sim:run_until(6)
      assert.is_true(nodes[1].crashed)                -- crash at 5 ...
      sim:run_until(9)
      assert.is_false(nodes[1].crashed)               -- ... restart at 8
      sim:run_until(12)
      assert.is_true(net:is_partitioned("n1", "n3"))  -- partition from 10 to 15
      sim:run_until(20.5)
      assert.is_true(nodes[2].paused)                 -- pause from 20 to 21
      sim:run_until(60)
      assert.is_false(nodes[2].paused)
      assert.are.equal(1, #leaders(nodes))            -- after the faults: one leader again
    end)
  end)

  describe("5.3 Election strategies written in Lua", function()
    it("the Backoff strategy runs as written: its callbacks wait, and one leader is elected safely", function()
      local names = { "n1", "n2", "n3", "n4", "n5" }
      local net = hs.Network{ name = "net", default_link = hs.datacenter_network() }
      local Backoff, nodes = run_block(4, "return Backoff, nodes", { names = names, net = net })
      for _, n in ipairs(nodes) do n:start() end
      local sim = hs.Simulation{ seed = 3, entities = { net, table.unpack(nodes) } }
      sim:run_until(10)
      assert.are.equal(1, #leaders(nodes))
      for _, n in ipairs(nodes) do assert.are.equal(leaders(nodes)[1].name, n.current_leader) end
      -- the leader declared itself after its wait: past the failure check (t = 2), within the spread
      local t = leaders(nodes)[1].history[1].time
      assert.is_true(t > 2 and t < 3.1, "elected at t = " .. t)
      -- the same class again, the group watched by a checker, over seeds
      for seed = 1, 20 do
        local checker = hs.ElectionChecker()
        local net2 = hs.Network{ name = "net2", default_link = hs.datacenter_network() }
        local group = {}
        for i, name in ipairs(names) do
          group[i] = hs.LeaderElection{ name = name, network = net2, members = names, strategy = Backoff(),
                                        checker = checker }
          group[i]:start()
        end
        sim = hs.Simulation{ seed = seed, entities = { net2, table.unpack(group) },
                             faults = hs.FaultSchedule{ hs.faults.crash{ node = "n3", at = 4, restart_at = 8 } } }
        sim:run_until(20)
        assert.are.equal(1, #leaders(group), "seed " .. seed)
        assert.is_nil(checker.violation)
      end
    end)

    it("the prose: the base class's defaults; services only inside callbacks (the rest: election_strategy_spec.lua)", function()
      local s = hs.ElectionStrategy()
      assert.is_true(s:should_start_election())
      assert.is_false(s:handle_election_message())
      assert.is_nil(s.accept_leader)
      assert.is_nil(s.reset)
      local net = hs.Network{ name = "net" }
      local a = hs.LeaderElection{ name = "a", network = net, members = { "a" }, strategy = hs.ElectionStrategy() }
      local sim = hs.Simulation{ entities = { net, a } }
      local ok, err = pcall(a.declare, a)
      assert.is_false(ok)
      assert.matches("only valid inside a strategy method", tostring(err))
      sim:close()
    end)
  end)

  describe("6. Histories and checks", function()
    it("the two records are a Jepsen-style history that hs.check.linearizable reads", function()
      local records = {}
      for line in blocks[5]:gmatch("[^\n]+") do
        local rec = line:match("^(%b{})")
        if rec then records[#records + 1] = assert(load("return " .. rec, "=record", "t", {}))() end
      end
      assert.are.equal(2, #records)
      assert.are.same({ process = 3, type = "invoke", f = "cas", key = "x", value = { 1, 2 }, time = 1.25 }, records[1])
      assert.are.equal("ok", records[2].type)
      local history = {
        { process = 1, type = "invoke", f = "write", key = "x", value = 1, time = 1.0 },
        { process = 1, type = "ok", f = "write", key = "x", value = 1, time = 1.1 },
        records[1], records[2],
        { process = 2, type = "invoke", f = "read", key = "x", time = 1.4 },
        { process = 2, type = "ok", f = "read", key = "x", value = 2, time = 1.5 },
      }
      assert.is_true(hs.check.linearizable(history, { model = "kv", timeout = 10 }).valid)
      history[6].value = 1 -- read 1 after the cas to 2 finished: not linearizable
      assert.is_false(hs.check.linearizable(history, { model = "kv", timeout = 10 }).valid)
    end)

    it("the model table runs as written, has the documented shape and is accepted as a model", function()
      -- The block is a table constructor with placeholders (initial_state, ok, new_state) for the reader.
      local env = setmetatable({ initial_state = 0, ok = true, new_state = 0 }, { __index = _G })
      local model = assert(load("return " .. blocks[6], "=API.md block 6", "t", env))()
      assert.is_function(model.init)
      assert.is_function(model.step)
      assert.is_function(model.hash)
      assert.are.equal("key", model.partition)
      local history = {
        { process = 1, type = "invoke", f = "write", key = "x", value = 1, time = 0 },
        { process = 1, type = "ok", f = "write", key = "x", value = 1, time = 1 },
      }
      assert.is_true(hs.check.linearizable(history, { model = model }).valid) -- every step legal: valid

      -- A register written in that shape: op.output is the ok record's value, op.unknown an info op.
      local register = {
        init = function() return "nil" end,
        step = function(state, op)
          if op.f == "write" then return true, tostring(op.value) end
          if op.f == "read" then return op.unknown or op.output == nil or tostring(op.output) == state, state end
          return false, state
        end,
        hash = function(state) return state end,
        partition = "key",
      }
      history[3] = { process = 2, type = "invoke", f = "read", key = "x", time = 2 }
      history[4] = { process = 2, type = "ok", f = "read", key = "x", value = 1, time = 3 }
      assert.is_true(hs.check.linearizable(history, { model = register }).valid)
      history[4].value = 7
      assert.is_false(hs.check.linearizable(history, { model = register }).valid)
    end)
  end)
end)

describe("API.md in prose", function()
  describe("1. the mapping rule", function()
    it("RaftNode takes one table of named options with the seed's names; enums are strings", function()
      local sim, nodes = world_first_cluster(1)
      sim:run_until(10)
      assert.are.equal("leader", hs.RaftState.LEADER)
      local leader = leaders(nodes)[1]
      assert.are.equal(hs.RaftState.LEADER, leader.state)
      assert.is_true(leader.current_term >= 1)
      local s1, s2 = leader.stats, leader.stats
      assert.are_not.equal(s1, s2)                    -- stats are fresh snapshots
      s1.current_term = -5
      assert.is_true(leader.stats.current_term >= 1)
    end)
  end)

  describe("2. errors", function()
    it("misuse raises at the call, naming the function and the argument", function()
      local net = hs.Network{}
      local ok, err = pcall(function()
        local n = hs.RaftNode{ name = "n1", network = net, election_timeout_min = -1 }
        return n
      end)
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'RaftNode' (field 'election_timeout_min' must be a positive number, got -1)",
                     err, 1, true)
    end)

    it("expected outcomes are values: nil, err with a code and a __tostring", function()
      local sim, nodes = world_first_cluster(2)
      sim:run_until(10)
      local follower
      for _, n in ipairs(nodes) do if not n.is_leader then follower = n break end end
      local got
      sim:spawn(function() got = table.pack(hs.await(follower:submit{ op = "set", key = "k", value = 1 })) end)
      sim:run_until(11)
      assert.is_nil(got[1])
      assert.are.equal("not_leader", got[2].code)
      assert.are.equal(leaders(nodes)[1].name, got[2].leader)
      assert.matches("^not_leader", tostring(got[2]))
    end)
  end)

  describe("5. protocols: submit", function()
    it("resolves to index, result once applied, on the leader and over the network", function()
      local sim, nodes, net = world_first_cluster(3)
      local client = hs.Entity{ name = "client" }
      sim:add(client)
      sim:run_until(10)
      local leader = leaders(nodes)[1]
      local index, result, reply
      sim:spawn(function()
        index, result = hs.await(leader:submit{ op = "set", key = "k", value = 7 })
        reply = hs.await(net:request(client, leader, "submit", { op = "get", key = "k" }))
      end)
      sim:run_until(12)
      assert.is_true(index >= 2)                      -- after the leader's no-op
      assert.is_true(reply.ok)
      assert.are.equal(7, reply.result)
      assert.is_true(reply.index > index)
      local _ = result
    end)
  end)

  describe("5.1 order of construction", function()
    it("a network and nodes built before the Simulation that lists them attach then, and elect one leader", function()
      local sim, nodes = world_first_cluster(7)
      for _, n in ipairs(nodes) do assert.is_true(n.attached) end
      sim:run_until(10)
      assert.are.equal(1, #leaders(nodes))
    end)

    it("gives the same run, event for event, as building the simulation first", function()
      local a = world_first_cluster(11)
      local b = sim_first_cluster(11)
      a:run_until(20)
      b:run_until(20)
      assert.are.equal(b:summary().trace_hash, a:summary().trace_hash)
      assert.are.equal(b.events_processed, a.events_processed)
    end)

    it("attaches the nodes in the order they were built, whatever order the simulation lists them in", function()
      local function run(order)
        local net = hs.Network{ name = "net", default_link = hs.datacenter_network() }
        local names = { "n1", "n2", "n3" }
        local nodes = {}
        for i, name in ipairs(names) do nodes[i] = hs.RaftNode{ name = name, network = net, peers = names } end
        for _, n in ipairs(nodes) do n:start() end
        local entities = {}
        for _, i in ipairs(order) do entities[#entities + 1] = i == 0 and net or nodes[i] end
        local sim = hs.Simulation{ seed = 4, entities = entities }
        sim:run_until(8)
        return sim:summary().trace_hash
      end
      assert.are.equal(run{ 0, 1, 2, 3 }, run{ 3, 1, 0, 2 })
      assert.are.equal(run{ 0, 1, 2, 3 }, run{ 2 })    -- one node brings its network and every node on it
    end)

    it("sim:add(x, ...) attaches them too and returns them", function()
      local net = hs.Network{ name = "net", default_link = hs.datacenter_network() }
      local names = { "n1", "n2", "n3" }
      local nodes = {}
      for i, name in ipairs(names) do nodes[i] = hs.RaftNode{ name = name, network = net, peers = names } end
      for _, n in ipairs(nodes) do n:start() end
      local sim = hs.Simulation{ seed = 9 }
      local r1, r2 = sim:add(net, nodes[1])
      assert.are.equal(net, r1)
      assert.are.equal(nodes[1], r2)
      assert.are.equal(sim, nodes[3].sim)
      sim:run_until(10)
      assert.are.equal(1, #leaders(nodes))
    end)

    it("peers may be nodes or names, so nodes that refer to each other can be built", function()
      local net = hs.Network{ name = "net", default_link = hs.datacenter_network() }
      local n1 = hs.RaftNode{ name = "n1", network = net, peers = { "n2", "n3" } }
      local n2 = hs.RaftNode{ name = "n2", network = net, peers = { n1, "n3" } }
      local n3 = hs.RaftNode{ name = "n3", network = net, peers = { n1, n2 } }
      n1:start(); n2:start(); n3:start()
      local sim = hs.Simulation{ seed = 5, entities = { net, n1, n2, n3 } }
      sim:run_until(10)
      assert.are.equal(1, #leaders{ n1, n2, n3 })
    end)

    it("links asked for before the network is attached are made then, by entity or by name", function()
      local a = hs.Entity{ name = "a", handle_event = function() end }
      local got = {}
      local b = hs.Entity{ name = "b", handle_event = function(_, ev) got[#got + 1] = ev.time end }
      local net = hs.Network{ name = "net" }
      net:add_link(a, b, hs.NetworkLink{ latency = hs.dist.constant(0.25) })
      net:add_link("b", "a", hs.NetworkLink{ latency = hs.dist.constant(0.5) })
      local sim = hs.Simulation{ entities = { net, a, b } }
      assert.are.equal(0.25, (net:link(a, b)).latency.mean)
      assert.are.equal(0.5, (net:link(b, a)).latency.mean)
      assert.are.equal(net, a.network)
      net:send(a, b, "Hello", 1)
      sim:run()
      assert.are.same({ 0.25 }, got)
    end)

    it("using a node or network before it is attached raises an error naming the function", function()
      local net = hs.Network{ name = "net" }
      local n1 = hs.RaftNode{ name = "n1", network = net }
      local ok, err = pcall(function() local f = n1:submit{ op = "get", key = "k" }; return f end)
      assert.is_false(ok)
      assert.matches("submit: RaftNode 'n1' is not attached to a simulation yet", err, 1, true)
      ok, err = pcall(function() local s = n1.state; return s end)
      assert.is_false(ok)
      assert.matches("field 'state' is not available: RaftNode 'n1' is not attached", err, 1, true)
      ok, err = pcall(function() local c = n1:crash(); return c end)
      assert.matches("crash: RaftNode 'n1' is not attached", err, 1, true)
      ok, err = pcall(function() local h = net:held(); return h end)
      assert.is_false(ok)
      assert.matches("held: network 'net' is not attached to a simulation yet", err, 1, true)
      ok, err = pcall(function() local p = net:partition({ "a" }, { "b" }); return p end)
      assert.is_false(ok)
      assert.matches("'partition'", err, 1, true)
      assert.are.equal("n1", n1.name)                 -- its name is known all along
      assert.is_false(n1.attached)
      assert.is_nil(n1.sim)
      local sim = hs.Simulation{ entities = { net } }
      assert.is_true(n1.attached)
      assert.are.equal(sim, n1.sim)
      assert.are.equal("follower", n1.state)
    end)

    it("a network and nodes that are never attached are collected harmlessly", function()
      for _ = 1, 50 do
        local net = hs.Network{ name = "net" }
        local n = hs.RaftNode{ name = "n1", network = net, peers = { "n2" } }
        n:start()
        net:add_link(n, "n2", hs.datacenter_network())
      end
      collectgarbage()
      collectgarbage()
    end)

    it("a bad link or node given before the network is attached raises at the call", function()
      local net = hs.Network{ name = "net" }
      local a = hs.Entity{ name = "a" }
      assert.has_error(function() net:add_link(a, 5, hs.datacenter_network()) end,
                       "bad argument #2 to 'add_link' (node expected (an entity or its name), got number)")
      assert.has_error(function() net:add_link(a, "b", "fast") end)
      assert.has_error(function() net:connect_all({ a, true }) end)
    end)
  end)
end)
