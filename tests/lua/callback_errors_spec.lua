-- Every kind of Lua code the engine calls goes through one door (engine/lua/runtime/hs_lua_door.c):
-- an error raised in any of them stops the run, and the run raises one message that carries
-- the simulated time, the entity, the event or message type, and a traceback. Error values
-- that are not strings print readably. Between runs (a filter run by a top-level net:send, a
-- state machine restored by node:restart()) the Lua call that led there raises it.
local hs = require("happysim")

-- Runs f (default: sim:run) and returns the message it raised, checking that it raised.
local function failure(sim, f)
  local ok, msg = pcall(f or function() return sim:run() end)
  assert.is_false(ok, "expected the run to fail")
  assert.equal("string", type(msg))
  return msg
end

-- Asserts that msg contains each of the plain strings given.
local function has(msg, ...)
  for _, s in ipairs{ ... } do
    assert(msg:find(s, 1, true), ("expected %q in the message:\n%s"):format(s, msg))
  end
end

local FAST = { election_timeout_min = 0.15, election_timeout_max = 0.3, heartbeat_interval = 0.05 }

-- A RaftNode cluster of n nodes with Lua state machines made by sm(i), started.
local function raft_cluster(n, sm, extra)
  local sim = hs.Simulation{ seed = 3 }
  local net = hs.Network{ sim = sim, name = "raft", default_link = hs.datacenter_network() }
  local names, nodes = {}, {}
  for i = 1, n do names[i] = "n" .. i end
  for i, name in ipairs(names) do
    local o = { name = name, network = net, peers = names, state_machine = sm(i) }
    for k, v in pairs(FAST) do o[k] = v end
    for k, v in pairs(extra or {}) do o[k] = v end
    nodes[i] = hs.RaftNode(o)
  end
  for _, node in ipairs(nodes) do node:start() end
  return sim, net, nodes
end

local function leader_of(sim, nodes)
  for _ = 1, 400 do
    for _, n in ipairs(nodes) do
      if n.is_leader and n.commit_index > 0 then return n end
    end
    sim:run_until(sim.now + 0.01)
  end
  error("no leader")
end

-- A state machine with the given methods overriding plain table storage.
local function sm_with(overrides)
  local sm = { data = {} }
  function sm:apply(cmd) self.data[cmd.key] = cmd.value; return cmd.value end
  function sm:snapshot() return { data = self.data } end
  function sm:restore(snap) self.data = snap and snap.data or {} end
  function sm:read(q) return self.data[q.key] end
  for k, v in pairs(overrides or {}) do sm[k] = v end
  return sm
end

describe("an error in Lua code called by the engine", function()
  it("in an entity's handle_event: time, entity, event type, traceback", function()
    local sim = hs.Simulation{}
    local function deep() error("handler broke") end
    local e = hs.Entity{ name = "server", handle_event = function() deep() end }
    sim:schedule(hs.Event{ time = 1.5, type = "Request", target = e })
    local msg = failure(sim)
    has(msg, "happysim: error at t=1.5 in entity 'server' handling 'Request': ",
      "handler broke", "stack traceback:", "in upvalue 'deep'")
    assert.equal(1.5, sim.now)
    assert.is_false(sim.running)
  end)

  it("in an entity's handler woken after hs.sleep: the time it failed, the event it handles", function()
    local sim = hs.Simulation{}
    local e = hs.Entity{ name = "worker", handle_event = function() hs.sleep(0.25); error("after sleeping") end }
    sim:schedule(hs.Event{ time = 1, type = "Job", target = e })
    has(failure(sim), "error at t=1.25 in entity 'worker' handling 'Job': ", "after sleeping", "stack traceback:")
  end)

  it("in a handler of a network message", function()
    local sim = hs.Simulation{}
    local net = hs.Network{ sim = sim, name = "lan", default_link = hs.NetworkLink{ latency = 0.5 } }
    local a = hs.Entity{ name = "a", handle_event = function() end }
    local b = hs.Entity{ name = "b", handle_event = function() error("bad ping") end }
    net:add_bidirectional_link(a, b, hs.NetworkLink{ latency = 0.5 })
    sim:spawn(function() net:send(a, b, "Ping", 1) end)
    has(failure(sim), "error at t=0.5 in entity 'b' handling 'Ping': ", "bad ping", "stack traceback:")
  end)

  it("in a process started by sim:spawn or sim:after", function()
    local sim = hs.Simulation{}
    sim:after(2, function() hs.sleep(1); error("process broke") end)
    has(failure(sim), "error at t=3.0 in process 'tests/lua/callback_errors_spec.lua:", "process broke",
      "stack traceback:")
  end)

  it("in a sim:timer callback", function()
    local sim = hs.Simulation{}
    sim:timer(0.5, function() error("tick broke") end)
    has(failure(sim), "error at t=0.5 in timer callback: ", "tick broke", "stack traceback:")
  end)

  it("in an event whose target is a function", function()
    local sim = hs.Simulation{}
    sim:schedule(hs.Event{ time = 2, type = "Wake", target = function() error("function broke") end })
    has(failure(sim), "error at t=2.0 in event function handling 'Wake': ", "function broke", "stack traceback:")
  end)

  it("in a network filter, during a run", function()
    local sim = hs.Simulation{}
    local net = hs.Network{ sim = sim, name = "lan", default_link = hs.local_network() }
    local a = hs.Entity{ name = "a", handle_event = function() end }
    local b = hs.Entity{ name = "b", handle_event = function() end }
    net:add_bidirectional_link(a, b, hs.local_network())
    net:intercept(function(m) if m.type == "Ping" then error("filter broke") end end)
    sim:after(1, function() net:send(a, b, "Ping", 1) end)
    has(failure(sim), "error at t=1.0 in network filter 'lan' for entity 'b' handling 'Ping': ", "filter broke",
      "stack traceback:")
  end)

  it("in a network filter, between runs: the sending call raises it", function()
    local sim = hs.Simulation{}
    local net = hs.Network{ sim = sim, name = "lan", default_link = hs.local_network() }
    local a = hs.Entity{ name = "a", handle_event = function() end }
    local b = hs.Entity{ name = "b", handle_event = function() end }
    net:add_bidirectional_link(a, b, hs.local_network())
    net:intercept(function() error("filter broke") end)
    local msg = failure(sim, function() net:send(a, b, "Ping", 1) end)
    has(msg, "error at t=0.0 in network filter 'lan' for entity 'b' handling 'Ping': ", "filter broke")
    net:intercept(nil)
    sim:run() -- nothing left over: the error was raised once
  end)

  it("in a network filter that returns a bad verdict", function()
    local sim = hs.Simulation{}
    local net = hs.Network{ sim = sim, name = "lan", default_link = hs.local_network() }
    local a = hs.Entity{ name = "a", handle_event = function() end }
    local b = hs.Entity{ name = "b", handle_event = function() end }
    net:add_bidirectional_link(a, b, hs.local_network())
    net:intercept(function() return "sideways" end)
    sim:spawn(function() net:send(a, b, "Ping", 1) end)
    has(failure(sim), "error at t=0.0 in network filter 'lan' for entity 'b' handling 'Ping': filter returned sideways")
  end)

  it("in a callback of a reply's future", function()
    local sim = hs.Simulation{}
    local net = hs.Network{ sim = sim, name = "lan", default_link = hs.NetworkLink{ latency = 0.25 } }
    local client = hs.Entity{ name = "client", handle_event = function() end }
    local server = hs.Entity{ name = "server", handle_event = function(self, ev) ev.network:reply(ev, "pong") end }
    net:add_bidirectional_link(client, server, hs.NetworkLink{ latency = 0.25 })
    sim:spawn(function()
      net:_request(client, server, "Ping", 1, setmetatable({}, { __index = { resolve = function() error("reply broke") end } }))
    end)
    has(failure(sim), "error at t=0.5 in reply to a request for entity 'client' handling 'Ping': ", "reply broke",
      "stack traceback:")
  end)

  it("in a callback run when a spawned process completes (its join)", function()
    local sim = hs.Simulation{}
    local p = sim:after(1, function() return 42 end)
    p:join():on_settle(function() error("join broke") end)
    has(failure(sim), "error at t=1.0 in completion of process 'tests/lua/callback_errors_spec.lua:", "join broke",
      "stack traceback:")
  end)

  it("in the trace function", function()
    local sim = hs.Simulation{}
    local e = hs.Entity{ name = "server", handle_event = function() end }
    sim:schedule(hs.Event{ time = 3, type = "Request", target = e })
    sim:trace(function(t) if t >= 3 then error("trace broke") end end)
    has(failure(sim), "error at t=3.0 in trace function for entity 'server' handling 'Request': ", "trace broke",
      "stack traceback:")
    assert.equal(0, sim:summary().entities.server.events_handled) -- the traced event did not run
  end)

  it("in a Lua state machine's apply: the run stops", function()
    local sim, _, nodes = raft_cluster(3, function()
      return sm_with{ apply = function(self, cmd) if cmd.op == "boom" then error("no such operation: boom") end end }
    end)
    local l = leader_of(sim, nodes)
    sim:spawn(function() hs.await(l:submit{ op = "boom" }) end)
    has(failure(sim, function() sim:run_until(sim.now + 2) end), "in state machine apply for entity '",
      "no such operation: boom", "stack traceback:")
  end)

  it("in a Lua state machine's snapshot", function()
    local sim, _, nodes = raft_cluster(3, function()
      return sm_with{ snapshot = function() error("cannot snapshot") end }
    end, { snapshot_threshold = 2 })
    local l = leader_of(sim, nodes)
    sim:spawn(function()
      for i = 1, 3 do hs.await(l:submit{ key = "k" .. i, value = i }) end
    end)
    has(failure(sim, function() sim:run_until(sim.now + 2) end), "in state machine snapshot for entity '",
      "cannot snapshot", "stack traceback:")
  end)

  it("in a Lua state machine's restore, between runs: node:restart() raises it", function()
    local sim, _, nodes = raft_cluster(3, function()
      return sm_with{ restore = function() error("cannot restore") end }
    end)
    leader_of(sim, nodes)
    nodes[2]:crash()
    local msg = failure(sim, function() nodes[2]:restart() end)
    has(msg, "in state machine restore for entity 'n2': ", "cannot restore", "stack traceback:")
    assert.matches("^happysim: error at t=", msg)
  end)

  it("in a Lua state machine's read", function()
    local sim, _, nodes = raft_cluster(3, function()
      return sm_with{ read = function() error("cannot read") end }
    end)
    local l = leader_of(sim, nodes)
    sim:spawn(function() hs.await(l:read{ key = "x" }) end)
    has(failure(sim, function() sim:run_until(sim.now + 2) end), "in state machine read for entity '",
      "cannot read", "stack traceback:")
  end)

  it("in a callback of a RaftNode's future", function()
    local sim, _, nodes = raft_cluster(3, function() return sm_with() end)
    local l = leader_of(sim, nodes)
    sim:spawn(function()
      l:submit{ key = "x", value = 1 }:on_settle(function() error("settle broke") end)
    end)
    has(failure(sim, function() sim:run_until(sim.now + 2) end), "in settling a request for entity '",
      "settle broke", "stack traceback:")
  end)
end)

describe("error values that are not strings", function()
  local function run_raising(value)
    local sim = hs.Simulation{}
    local e = hs.Entity{ name = "e", handle_event = function() error(value) end }
    sim:schedule(hs.Event{ time = 1, type = "X", target = e })
    return failure(sim)
  end

  it("a table shows its code and message, not its address", function()
    local msg = run_raising({ code = 1 })
    has(msg, "in entity 'e' handling 'X': { code = 1 }", "stack traceback:")
    assert.is_nil(msg:find("table: 0x", 1, true))
    has(run_raising({ code = "busy", message = "try later" }), ': { code = "busy", message = "try later" }')
    has(run_raising({ 1, 2 }), "a table with no __tostring, code or message")
  end)

  it("a value with __tostring uses it; hs.error values print as code: message", function()
    has(run_raising(setmetatable({}, { __tostring = function() return "custom error" end })), ": custom error")
    has(run_raising(hs.error("timeout", "no reply")), ": timeout: no reply")
    has(run_raising(nil), "nil (an error raised without a value)")
    has(run_raising(42), ": 42")
  end)

  it("in a sim:timer callback and a process too", function()
    local sim = hs.Simulation{}
    sim:timer(1, function() error({ code = "x" }) end)
    has(failure(sim), 'in timer callback: { code = "x" }')
    sim = hs.Simulation{}
    sim:spawn(function() error({ code = "y", message = "z" }) end)
    has(failure(sim), '{ code = "y", message = "z" }')
  end)
end)
