-- Election strategies written in Lua (hs.ElectionStrategy, engine/lua/protocols/hs_lua_elect.c):
-- their callbacks run as processes of the node, one at a time; they may hs.sleep and hs.await;
-- inputs queue in order while one waits; a late answer reaches the core; a crash kills what
-- waits and drops the queue; an error stops the run with time, entity, callback and traceback.

local hs = require("happysim")
local LowestWins = dofile("scripts/lowest_wins.lua")

-- Two nodes "a" and "b" (a is member 1) with strategies sa and sb, on a 10 ms network.
local function pair(sa, sb, opts)
  opts = opts or {}
  local net = hs.Network{ name = "net", default_link = hs.NetworkLink{ latency = hs.dist.constant(0.01) } }
  local checker = hs.ElectionChecker()
  local a = hs.LeaderElection{ name = "a", network = net, members = { "a", "b" }, strategy = sa, checker = checker }
  local b = hs.LeaderElection{ name = "b", network = net, members = { "a", "b" }, strategy = sb, checker = checker }
  a:start(); b:start()
  local sim = hs.Simulation{ seed = opts.seed or 1, entities = { net, a, b } }
  return sim, a, b, checker
end

-- A strategy that never starts an election and accepts every leader.
local Quiet = hs.ElectionStrategy:extend("Quiet")
function Quiet:should_start_election() return false end

local function near(expected, actual)
  assert.is_true(math.abs(expected - actual) < 1e-9, ("expected %.9f, got %.9f"):format(expected, actual))
end

describe("ElectionStrategy", function()
  it("gives defaults to what a subclass or a one-off strategy leaves out", function()
    local s = hs.ElectionStrategy()
    assert.is_true(s:should_start_election())
    assert.is_nil(s:start_election())
    assert.is_false(s:handle_election_message())
    assert.is_nil(s:on_timeout())
    assert.is_nil(s.accept_leader) -- no default: every leader is accepted without a callback
    assert.is_nil(s.reset)
    local one = hs.ElectionStrategy{ on_timeout = function() return "mine" end, x = 1 }
    assert.equal("mine", one:on_timeout())
    assert.equal(1, one.x)
    local Base = hs.ElectionStrategy:extend("Base")
    function Base:init(opts) self.n = opts.n or 0 end
    function Base:start_election() return "base" end
    local Sub = Base:extend("Sub")
    local x = Sub{ n = 3 }
    assert.equal(3, x.n)
    assert.equal("base", x:start_election())
    assert.is_true(x:should_start_election())
    assert.matches("Sub", tostring(x))
    local w = LowestWins{ step = 0.5 }
    assert.equal(0.5, w.step)
  end)

  it("raises on misuse, naming the function and the argument", function()
    local function msg(f, ...) local ok, e = pcall(f, ...); assert.is_false(ok); return tostring(e) end
    assert.matches("bad argument #1 to 'extend' (class name string expected, got number)",
      msg(hs.ElectionStrategy.extend, hs.ElectionStrategy, 5), 1, true)
    local S = hs.ElectionStrategy:extend("S")
    assert.matches("bad argument #1 to 'S' (table of options expected, got number)", msg(S, 5), 1, true)
    assert.matches("bad argument #1 to 'S' (field 'on_timeout' must be a function, got number)",
      msg(S, { on_timeout = 5 }), 1, true)
    assert.matches("bad argument #1 to 'ElectionStrategy' (field 'reset' must be a function, got string)",
      msg(hs.ElectionStrategy, { reset = "no" }), 1, true)
    assert.matches("bad argument #1 to 'LowestWins' (field 'step' must be a number >= 0",
      msg(LowestWins, { step = -1 }), 1, true)
    local net = hs.Network{ name = "net" }
    local bad = hs.ElectionStrategy()
    bad.start_election = 42
    assert.matches("bad argument #1 to 'LeaderElection' (field 'strategy': 'start_election' must be a function, got number)",
      msg(function() return hs.LeaderElection{ name = "a", network = net, members = { "a" }, strategy = bad } end), 1, true)
    assert.matches("field 'strategy': 'accept_leader' must be a function, got number",
      msg(hs.LeaderElection, { name = "a", network = net, members = { "a" },
        strategy = { should_start_election = print, start_election = print, handle_election_message = print,
                     on_timeout = print, accept_leader = 1 } }), 1, true)
    assert.matches("field 'strategy' must be hs.BullyStrategy(), hs.RingStrategy(), hs.RandomizedStrategy{} or a table of methods, got number",
      msg(hs.LeaderElection, { name = "a", network = net, members = { "a" }, strategy = 7 }), 1, true)
  end)
end)

describe("a Lua strategy's callbacks", function()
  it("may hs.sleep: the node declares after the wait", function()
    local Sleepy = hs.ElectionStrategy:extend("Sleepy")
    function Sleepy:should_start_election(node) return node.id == "a" end
    function Sleepy:start_election(node)
      self.began = hs.now()
      hs.sleep(0.3)
      self.declared_at, self.declared = hs.now(), node:declare()
    end
    local sa = Sleepy()
    local sim, a, b, checker = pair(sa, Sleepy())
    sim:run_until(5)
    near(2.0, sa.began) -- the failure check: election_timeout
    near(2.3, sa.declared_at)
    assert.is_true(sa.declared)
    assert.is_true(a.is_leader)
    assert.equal("a", b.current_leader)
    near(2.3, a.history[#a.history].time)
    assert.is_nil(checker.violation)
  end)

  it("may hs.await a future, and see a timeout as nil, err", function()
    local go = hs.Future()
    local Waiting = hs.ElectionStrategy:extend("Waiting")
    function Waiting:should_start_election(node) return node.id == "a" end
    function Waiting:start_election(node)
      local _, err = hs.await(hs.timeout(hs.Future(), 0.5))
      self.err = err
      self.got = hs.await(go)
      self.at = hs.now()
      node:declare()
    end
    local sa = Waiting()
    local sim, a, b = pair(sa, Waiting())
    sim:after(4, function() go:resolve("go") end)
    sim:run_until(6)
    assert.equal("timeout", sa.err.code)
    assert.equal("go", sa.got)
    near(4, sa.at)
    assert.is_true(a.is_leader)
    assert.equal("a", b.current_leader)
  end)

  it("run one at a time: inputs that come while one waits are delivered in order when it ends", function()
    local log = {}
    local Waits = hs.ElectionStrategy:extend("Waits")
    function Waits:should_start_election() return false end
    function Waits:handle_election_message(node, from, kind, payload, epoch)
      log[#log + 1] = { what = "message " .. payload, at = hs.now(), epoch = epoch }
      if payload == 1 then
        node:set_timeout(0.15) -- fires while this callback waits
        hs.sleep(1)
        log[#log + 1] = { what = "woke", at = hs.now() }
      end
    end
    function Waits:on_timeout() log[#log + 1] = { what = "timeout", at = hs.now() } end
    local Sender = hs.ElectionStrategy:extend("Sender")
    function Sender:should_start_election() local first = not self.sent; self.sent = true; return first end
    function Sender:start_election(node)
      self.n = 1
      node:send("a", 1, 1)
      node:set_timeout(0.1)
    end
    function Sender:on_timeout(node)
      self.n = self.n + 1
      node:send("a", 1, self.n)
      if self.n < 3 then node:set_timeout(0.1) end
    end
    local sim = pair(Waits(), Sender())
    sim:run_until(5)
    -- b campaigns at 2.0 and sends 1, 2, 3 at 2.0, 2.1, 2.2; they arrive 10 ms later
    local what, at = {}, {}
    for i, e in ipairs(log) do what[i], at[i] = e.what, e.at end
    assert.same({ "message 1", "woke", "message 2", "timeout", "message 3" }, what)
    near(2.01, at[1])
    for i = 2, 5 do near(3.01, at[i]) end -- all queued behind the wait, then delivered at once
    assert.equal(1, log[1].epoch) -- the message's epoch: b's first election
  end)

  it("answer the core late: accept_leader that waits accepts the leader when it returns", function()
    local Slow = hs.ElectionStrategy:extend("Slow")
    function Slow:should_start_election(node) return node.id == "a" end
    function Slow:start_election(node) node:declare() end
    function Slow:accept_leader(node, leader)
      self.asked = (self.asked or 0) + 1
      hs.sleep(0.2)
      return true
    end
    local sb = Slow()
    local sim, a, b, checker = pair(Slow(), sb)
    sim:run_until(2.05)
    assert.is_true(a.is_leader)
    assert.is_nil(b.current_leader) -- refused for now: the answer is not in yet
    sim:run_until(2.5)
    assert.equal("a", b.current_leader)
    assert.equal("a", b.backed)
    assert.equal(1, sb.asked) -- the heartbeats that came meanwhile asked nothing more
    sim:run_until(3)
    assert.equal(1, a.stats.leaders_confirmed)
    assert.is_nil(checker.violation)
  end)

  it("are killed with their node: nothing acts after a crash, queued inputs are dropped, reset runs", function()
    local Victim = hs.ElectionStrategy:extend("Victim")
    function Victim:init() self.handled, self.acted, self.resets = {}, 0, 0 end
    function Victim:should_start_election() return false end
    function Victim:handle_election_message(node, from, kind, payload)
      self.handled[#self.handled + 1] = payload
      if payload == 1 then
        hs.sleep(1)
        self.acted = self.acted + 1 -- never: the node crashes while it sleeps
        node:send(from, 9, "late")
      end
    end
    function Victim:reset() self.resets = self.resets + 1 end
    local Sender = hs.ElectionStrategy:extend("Sender2")
    function Sender:init() self.got = {} end
    function Sender:should_start_election() return not self.started end
    function Sender:start_election(node)
      self.started = true
      node:send("a", 1, 1)
      node:set_timeout(0.1)
    end
    function Sender:on_timeout(node)
      self.n = (self.n or 1) + 1
      node:send("a", 1, self.n)
      if self.n < 5 then node:set_timeout(1) end
    end
    function Sender:handle_election_message(node, from, kind, payload) self.got[#self.got + 1] = payload end
    local sv, ss = Victim(), Sender()
    local sim, a = pair(sv, ss)
    sim:run_until(2.5) -- 1 arrived at 2.01 (it sleeps), 2 at 2.11 (queued)
    assert.same({ 1 }, sv.handled)
    a:crash()
    assert.equal(1, sv.resets)
    sim:run_until(3.5) -- where the sleep would have ended; 3 is lost (a is down)
    a:restart()
    assert.equal(2, sv.resets)
    sim:run_until(6)
    assert.equal(0, sv.acted)
    assert.same({}, ss.got)
    assert.same({ 1, 4, 5 }, sv.handled) -- 2 was dropped with the queue; 4 and 5 came after the restart
  end)

  it("do nothing once their own node crashed under them", function()
    local Self = hs.ElectionStrategy:extend("SelfCrash")
    function Self:should_start_election(node) return node.id == "a" end
    function Self:start_election(node)
      node:crash()
      self.declared = node:declare()
      node:send("b", 1, "after the crash")
      node:set_timeout(0.1)
      self.ran_on = true
    end
    local Recv = hs.ElectionStrategy:extend("Recv")
    function Recv:should_start_election() return false end
    function Recv:handle_election_message() self.got = true end
    local sa, sb = Self(), Recv()
    local sim, a = pair(sa, sb)
    sim:run_until(4)
    assert.is_true(sa.ran_on)
    assert.is_false(sa.declared)
    assert.is_nil(sb.got)
    assert.is_true(a.crashed)
    assert.is_false(a.is_leader)
  end)

  it("stop the run when they raise after a wait: time, entity, callback, event and traceback", function()
    local Late = hs.ElectionStrategy:extend("Late")
    function Late:should_start_election(node) return node.id == "a" end
    function Late:start_election(node)
      hs.sleep(0.25)
      error("boom after the wait")
    end
    local sim = pair(Late(), Late())
    local ok, err = pcall(sim.run_until, sim, 10)
    assert.is_false(ok)
    err = tostring(err)
    assert.matches("error at t=2.25 in election strategy start_election for entity 'a' handling 'ElectionTimer'", err, 1, true)
    assert.matches("boom after the wait", err, 1, true)
    assert.matches("stack traceback", err, 1, true)
    assert.matches("election_strategy_spec.lua", err, 1, true)
  end)

  it("keep a bounded queue: a callback that never finishes stops the run, saying so", function()
    local Stuck = hs.ElectionStrategy:extend("Stuck")
    function Stuck:should_start_election() return false end
    function Stuck:handle_election_message() hs.await(hs.Future()) end -- never resolved
    local Flood = hs.ElectionStrategy:extend("Flood")
    function Flood:should_start_election() local first = not self.go; self.go = true; return first end
    function Flood:start_election(node) node:set_timeout(0.001) end
    function Flood:on_timeout(node)
      for i = 1, 10 do node:send("a", 1, i) end
      node:set_timeout(0.001)
    end
    local sim = pair(Stuck(), Flood())
    local ok, err = pcall(sim.run_until, sim, 20)
    assert.is_false(ok)
    assert.matches("in election strategy handle_election_message for entity 'a' handling 'Election': 65536 inputs "
                   .. "wait for the strategy while its callbacks wait (hs.sleep, hs.await): a callback that never finishes?",
                   tostring(err), 1, true)
  end)

  it("may be asked between runs and wait into the next run", function()
    local sim, a, b = pair(LowestWins(), LowestWins())
    sim:run_until(5)
    assert.equal("a", b.current_leader)
    b:set_alive("a", false) -- between runs: b's should_start_election waits its rank (1) x step
    assert.equal(1, b.epoch)
    sim:run_until(6)
    assert.is_true(b.epoch > 1) -- it campaigned once the wait was over
  end)

  it("raise when a service is called from outside its node's callbacks", function()
    local Leak = hs.ElectionStrategy:extend("Leak")
    function Leak:should_start_election(node) return node.id == "a" end
    function Leak:start_election(node) node:declare() end
    local sim, a, b = pair(Leak(), Leak())
    local err
    sim:spawn(function()
      local ok, e = pcall(a.send, a, "b", 1, "x")
      err = not ok and tostring(e)
    end)
    sim:run_until(1)
    assert.matches("send: LeaderElection 'a': strategy services are only valid inside a strategy method", err, 1, true)
  end)

  it("are deterministic: the same seed gives the same trace hash", function()
    local function run(seed)
      local names = { "n1", "n2", "n3", "n4", "n5" }
      local net = hs.Network{ name = "net", default_link = hs.NetworkLink{ latency = hs.dist.uniform(0.001, 0.05),
                                                                           packet_loss_rate = 0.05 } }
      local nodes = {}
      for i, name in ipairs(names) do
        nodes[i] = hs.LeaderElection{ name = name, network = net, members = names, strategy = LowestWins() }
        nodes[i]:start()
      end
      local faults = hs.FaultSchedule{
        hs.faults.random_partitions{ nodes = names, mtbf = 4, mttr = 2, start = 2, stop = 20 },
        hs.faults.crash{ node = "n1", at = 5, restart_at = 12 },
      }
      local sim = hs.Simulation{ seed = seed, entities = { net, table.unpack(nodes) }, faults = faults, end_time = 30 }
      return sim:run().trace_hash
    end
    assert.equal(run(7), run(7))
    assert.are_not.equal(run(7), run(8))
  end)
end)
