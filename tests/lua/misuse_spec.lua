-- Misuse, per area: each case raises a clear error at the call, naming the function and the
-- offending value, instead of being accepted and failing later, or being silently ignored
-- (issue 16). The fuzz specs (fuzz_spec.lua) throw random misuse at the same API.

local hs = require("happysim")

-- Calls fn and returns its error message (failing the test if it did not raise).
local function error_of(fn)
  local ok, err = pcall(fn)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

-- The error is raised at the caller's line in this file, not inside the library.
local function assert_at_caller(err)
  assert.matches("misuse_spec.lua:%d+:", err)
end

describe("misuse: core", function()
  it("hs.Entity with a handle_event that is not a function raises at construction", function()
    local err = error_of(function() local e = hs.Entity{ name = "e", handle_event = 5 }; return e end)
    assert.matches("bad argument #1 to 'Entity' (field 'handle_event' must be a function, got number)", err, 1, true)
    assert_at_caller(err)
    local C = hs.Entity:extend("Worker")
    err = error_of(function() local e = C{ name = "w", handle_event = "run" }; return e end)
    assert.matches("bad argument #1 to 'Worker' (field 'handle_event' must be a function, got string)", err, 1, true)
  end)

  it("a closed simulation raises on field reads and on a second close", function()
    local sim = hs.Simulation{}
    sim:close()
    assert.matches("sim.now: the simulation is closed", error_of(function() return sim.now end), 1, true)
    assert.matches("sim.pending: the simulation is closed", error_of(function() return sim.pending end), 1, true)
    local err = error_of(function() sim:close() end)
    assert.matches("close: the simulation is already closed", err, 1, true)
    assert_at_caller(err)
    assert.is_true(sim.closed)
  end)

  it("pausing a crashed node raises, for Lua and C entities", function()
    local sim = hs.Simulation{}
    local e = hs.Entity{ name = "e", handle_event = function() end }
    sim:register(e)
    e:crash()
    local err = error_of(function() e:pause() end)
    assert.matches("pause: entity 'e' is crashed (restart it first)", err, 1, true)
    assert_at_caller(err)
    local h = hs.HoldModel{ sim = sim, name = "h", pending = 1, mean = 1 }
    h:crash()
    assert.matches("pause: HoldModel 'h' is crashed (restart it first)", error_of(function() h:pause() end), 1, true)
    e:restart()
    assert.is_true(e:pause())
    assert.is_false(e:pause()) -- paused already: an answer, not a mistake
  end)
end)

describe("misuse: processes and futures", function()
  it("settling a Future twice raises, whichever way it settled first", function()
    local f = hs.Future()
    f:resolve(1)
    local err = error_of(function() f:resolve(2) end)
    assert.matches("resolve: the Future is already resolved", err, 1, true)
    assert_at_caller(err)
    assert.matches("reject: the Future is already resolved", error_of(function() f:reject("x") end), 1, true)
    local g = hs.Future()
    g:reject(hs.error("boom", "b"))
    assert.matches("resolve: the Future is already rejected", error_of(function() g:resolve(1) end), 1, true)
    assert.equal(1, f.value) -- the first outcome stands
  end)

  it("a delay beyond the time horizon names the function the user called", function()
    local sim = hs.Simulation{}
    local err = error_of(function() local p = sim:after(1e300, print); return p end)
    assert.matches("bad argument #1 to 'after' (delay must be a number of seconds in [0, 9e+09], got 1e+300)", err, 1, true)
    assert_at_caller(err)
    err = error_of(function() local t = hs.timeout(hs.Future(), 1e300, sim); return t end)
    assert.matches("bad argument #2 to 'timeout' (delay must be a number of seconds in [0, 9e+09], got 1e+300)", err, 1, true)
    assert_at_caller(err)
  end)

  it("hs.await and hs.timeout outside a process point at the caller", function()
    local err = error_of(function() local v = hs.await(hs.Future()); return v end)
    assert.matches("hs.await: not inside a process", err, 1, true)
    assert_at_caller(err)
    err = error_of(function() local v = hs.timeout(hs.Future(), 1); return v end)
    assert.matches("hs.timeout: not inside a process", err, 1, true)
    assert_at_caller(err)
  end)
end)

describe("misuse: network and faults", function()
  it("a fault naming an unknown node raises when the simulation installs it with its entities", function()
    local n1 = hs.Entity{ name = "n1", handle_event = function() end }
    local schedule = hs.FaultSchedule{ hs.faults.crash{ node = "ghost", at = 5, restart_at = 8 } }
    local err = error_of(function() local sim = hs.Simulation{ entities = { n1 }, faults = schedule }; return sim end)
    assert.matches("install: fault #1 (crash) names an unknown node 'ghost'", err, 1, true)
  end)

  it("installed by hand before the entities, it stops the run as it starts, not when it fires", function()
    local sim = hs.Simulation{ end_time = 100 }
    hs.FaultSchedule{ hs.faults.pause{ node = "nobody", at = 50 } }:install(sim)
    sim:register(hs.Entity{ name = "n1", handle_event = function() end })
    local err = error_of(function() sim:run() end)
    assert.matches("names an unknown node 'nobody'", err, 1, true)
    assert.equal(0, sim.now)
  end)
end)

describe("misuse: Raft", function()
  -- A 3-node cluster with a leader, built world first.
  local function cluster(opts)
    opts = opts or {}
    local net = hs.Network{ name = "net", default_link = hs.datacenter_network() }
    local names = { "n1", "n2", "n3" }
    local nodes = {}
    for i, name in ipairs(names) do
      nodes[i] = hs.RaftNode{ name = name, network = net, peers = names, state_machine = opts.sm and opts.sm() }
      nodes[i]:start()
    end
    local sim = hs.Simulation{ seed = 3, entities = { net, nodes[1], nodes[2], nodes[3] } }
    sim:run_until(10)
    for _, n in ipairs(nodes) do if n.is_leader then return sim, n, nodes, net end end
    error("no leader")
  end

  it("a command the state machine cannot apply is refused at submit, before it enters the log", function()
    local _, leader = cluster()
    local before = leader.log_length
    local cases = {
      { nil, "bad argument #1 to 'submit' (invalid command: command must be a table with a string field 'op')" },
      { { foo = 1 }, "bad argument #1 to 'submit' (invalid command: command must be a table with a string field 'op')" },
      { { op = "frobnicate", key = "k" },
        "bad argument #1 to 'submit' (invalid command: unknown op 'frobnicate' (expected set, get, delete or cas))" },
      { { op = "set", key = "k" }, "bad argument #1 to 'submit' (invalid command: set needs a field 'value')" },
    }
    for _, c in ipairs(cases) do
      local err = error_of(function() local f = leader:submit(c[1]); return f end)
      assert.matches(c[2], err, 1, true)
      assert_at_caller(err)
    end
    assert.equal(before, leader.log_length)
  end)

  it("over the network the refusal is a reply, invalid_command, and nothing is appended", function()
    local sim, leader, _, net = cluster()
    local client = hs.Entity{ name = "client" }
    sim:add(client)
    local before = leader.log_length
    local reply
    sim:spawn(function() reply = hs.await(net:request(client, leader, "submit", { op = "frobnicate", key = "k" })) end)
    sim:run_until(11)
    assert.is_false(reply.ok)
    assert.equal("invalid_command", reply.error.code)
    assert.matches("unknown op 'frobnicate'", reply.error.message, 1, true)
    assert.equal(before, leader.log_length)
  end)

  it("a Lua state machine says what it takes with validate(cmd)", function()
    local function sm()
      return { value = 0,
        validate = function(_, cmd) if type(cmd) ~= "number" then return false, "numbers only" end return true end,
        apply = function(self, cmd) self.value = self.value + cmd; return self.value end,
        snapshot = function(self) return self.value end,
        restore = function(self, v) self.value = v or 0 end }
    end
    local sim, leader = cluster{ sm = sm }
    assert.matches("bad argument #1 to 'submit' (invalid command: numbers only)",
                   error_of(function() local f = leader:submit("x"); return f end), 1, true)
    local index
    sim:spawn(function() index = hs.await(leader:submit(5)) end)
    sim:run_until(11)
    assert.is_true(index > 0)
  end)

  it("nodes that disagree on the cluster's members refuse to start", function()
    local net = hs.Network{ name = "net" }
    local n1 = hs.RaftNode{ name = "n1", network = net, peers = { "n2", "n3" } }
    local n4 = hs.RaftNode{ name = "n4", network = net, peers = { "n1", "n2", "n3" } } -- n1 does not list n4
    local n2 = hs.RaftNode{ name = "n2", network = net, peers = { "n1", "n3" } }
    local n3 = hs.RaftNode{ name = "n3", network = net, peers = { "n1", "n2" } }
    local sim = hs.Simulation{ entities = { net, n1, n2, n3, n4 } }
    local err = error_of(function() n4:start() end)
    assert.matches("start: RaftNode 'n4' and its peer 'n1' disagree on the cluster's members " ..
                   "({ n1, n2, n3, n4 } and { n1, n2, n3 })", err, 1, true)
    assert_at_caller(err)
    local _ = sim
  end)

  it("membership changes and transfers name the node they cannot use", function()
    local sim, leader = cluster()
    local err = error_of(function() local f = leader:transfer_leadership("ghost"); return f end)
    assert.matches("bad argument #1 to 'transfer_leadership' (unknown node 'ghost': no RaftNode of that name", err, 1, true)
    assert_at_caller(err)
    assert.matches("bad argument #1 to 'transfer_leadership' (RaftNode or node name expected, got number)",
                   error_of(function() local f = leader:transfer_leadership(5); return f end), 1, true)
    assert.matches("bad argument #1 to 'remove_member' (unknown node 'zzz'",
                   error_of(function() local f = leader:remove_member("zzz"); return f end), 1, true)
    local f = leader:add_member(leader.name)
    sim:run_until(11)
    assert.equal("invalid", f.error.code)
    assert.equal(("add_member('%s') on '%s': is a voter already"):format(leader.name, leader.name), f.error.message)
  end)
end)

describe("misuse: runs that stop advancing", function()
  it("a handler that returns an event at self.now stops the run, naming the time, the type and the entity", function()
    local e = hs.Entity{ name = "looper", handle_event = function(self)
      return hs.Event{ time = self.now, type = "Again", target = self }
    end }
    local sim = hs.Simulation{ end_time = 1, entities = { e }, max_events_at_one_time = 50000 }
    sim:schedule(hs.Event{ time = 0.5, type = "Again", target = e })
    local err = error_of(function() sim:run() end)
    assert.matches("run: simulated time stopped advancing: 50000 events ran at t=0.5", err, 1, true)
    assert.matches("what repeats: 'Again' for entity 'looper'", err, 1, true)
    assert.equal(0.5, sim.now) -- not moved on to the end time
  end)

  it("sim:timer(0, fn) returning 0 stops too (the default limit is 10 million events at one time)", function()
    local sim = hs.Simulation{ end_time = 1 }
    sim:timer(0, function() return 0 end)
    local err = error_of(function() sim:run() end)
    assert.matches("10000000 events ran at t=0.0", err, 1, true)
    assert.matches("'Timer'", err, 1, true)
  end)

  it("sim:run{ max_events = N } bounds any run", function()
    local sim = hs.Simulation{}
    sim:timer(0.1, function() return 0.1 end)
    local err = error_of(function() sim:run{ max_events = 50 } end)
    assert.matches("run: the run's bound of max_events events is reached at t=5.0", err, 1, true)
    assert.equal(50, sim.events_processed)
    assert.has_error(function() sim:run{ max_events = 0 } end,
      "bad argument #1 to 'run' (field 'max_events' must be an integer >= 1, got 0)")
    assert.has_error(function() hs.Simulation{ max_events_at_one_time = -1 } end)
  end)

  it("hs.sleep past the end of simulated time raises at the call instead of never waking", function()
    local sim = hs.Simulation{}
    sim:spawn(function() hs.sleep(9e9); hs.sleep(9e9) end)
    local err = error_of(function() sim:run() end)
    assert.matches("bad argument #1 to 'sleep' (a delay of", err, 1, true)
    assert.matches("passes the end of simulated time", err, 1, true)
  end)

  it("an error value that is a table prints readably", function()
    local e = hs.Entity{ name = "thrower", handle_event = function() error({ code = 1 }) end }
    local sim = hs.Simulation{ entities = { e } }
    sim:schedule(hs.Event{ time = 1, type = "Go", target = e })
    local err = error_of(function() sim:run() end)
    assert.not_matches("table: 0x", err)
    assert.matches("code = 1", err, 1, true)
  end)
end)

describe("misuse: values that cannot be sent", function()
  -- The encoder writes part of such a value before it meets the function: the buffer it wrote
  -- into belongs to the collector, so the raise loses nothing (the sanitizer build checks).
  local bad = { x = string.rep("y", 100), f = print }
  it("CRDT operations raise naming the operation, and the replica is unchanged", function()
    local s = hs.ORSet{ node_id = "a" }
    s:add("kept")
    for _, op in ipairs{ "add", "remove", "contains" } do
      local ok, err = pcall(s[op], s, bad)
      assert.is_false(ok)
      assert.matches(op .. ": element contains a function", err, 1, true)
    end
    local r = hs.LWWRegister{ node_id = "a" }
    local ok, err = pcall(r.set, r, bad, 1)
    assert.is_false(ok)
    assert.matches("set: value contains a function", err, 1, true)
    collectgarbage()
    assert.is_true(s:contains("kept"))
  end)
end)
