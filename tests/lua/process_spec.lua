local hs = require("happysim")

describe("Entity handlers as processes", function()
  it("can sleep and return events", function()
    local sim = hs.Simulation{}
    local seen = {}
    local Pinger = hs.Entity:extend("Pinger")
    function Pinger:init(opts) self.limit = opts.limit end
    function Pinger:handle_event(ev)
      hs.sleep(0.010)
      seen[#seen + 1] = { ev.payload.n, self.now }
      if ev.payload.n < self.limit then
        return hs.Event{ time = self.now + 1, type = "Tick", target = self, payload = { n = ev.payload.n + 1 } }
      end
    end
    local p = Pinger{ name = "p", limit = 3 }
    sim:schedule(hs.Event{ time = 0, type = "Tick", target = p, payload = { n = 1 } })
    sim:run()
    assert.equal(3, #seen)
    assert.near(0.01, seen[1][2], 1e-12)
    assert.near(1.02, seen[2][2], 1e-12)
    assert.near(2.03, seen[3][2], 1e-12)
    assert.equal(p.sim, sim)
  end)

  it("coroutine.yield(dt) is the same as hs.sleep(dt)", function()
    local sim = hs.Simulation{}
    local t
    sim:spawn(function() coroutine.yield(0.5); t = hs.now() end)
    sim:run()
    assert.equal(0.5, t)
  end)

  it("can return a list of events", function()
    local sim = hs.Simulation{}
    local got = 0
    local sink = function() got = got + 1 end
    sim:schedule(hs.Event{ time = 0, type = "Go", target = function(ev)
      return { hs.Event{ time = 1, type = "A", target = sink }, hs.Event{ time = 2, type = "B", target = sink } }
    end })
    sim:run()
    assert.equal(2, got)
    assert.equal(2, sim.now)
  end)

  it("overlapping handlers of one entity interleave", function()
    local sim = hs.Simulation{}
    local log = {}
    local e = hs.Entity{ name = "e", handle_event = function(self, ev)
      log[#log + 1] = "start " .. ev.payload
      hs.sleep(ev.payload)
      log[#log + 1] = "end " .. ev.payload
    end }
    sim:schedule(hs.Event{ time = 0, type = "X", target = e, payload = 2 })
    sim:schedule(hs.Event{ time = 0, type = "X", target = e, payload = 1 })
    sim:run()
    assert.same({ "start 2", "start 1", "end 1", "end 2" }, log)
  end)

  it("recycles process threads: many sequential handlers leave a small pool", function()
    local sim = hs.Simulation{}
    local n = 0
    local e = hs.Entity{ name = "e", handle_event = function(self, ev)
      n = n + 1
      hs.sleep(0.001)
      if n < 5000 then return hs.Event{ time = self.now, type = "X", target = self } end
    end }
    sim:schedule(hs.Event{ time = 0, type = "X", target = e })
    collectgarbage()
    local before = collectgarbage("count")
    sim:run()
    collectgarbage()
    assert.equal(5000, n)
    assert.is_true(collectgarbage("count") - before < 100, "memory grew per handler")
  end)
end)

describe("Processes", function()
  it("spawn starts now, after starts later, join resolves with results", function()
    local sim = hs.Simulation{}
    local p1 = sim:spawn(function(a, b) hs.sleep(1); return a + b, "x" end, 2, 3)
    local p2 = sim:after(5, function() return hs.now() end)
    assert.equal("pending", p1.state)
    sim:run()
    assert.is_true(p1.done)
    assert.same({ 5, "x" }, { p1:join():result() })
    assert.equal(5, p2:join().value)
    assert.equal("done", p2.state)
  end)

  it("a process can await another's join", function()
    local sim = hs.Simulation{}
    local inner = sim:spawn(function() hs.sleep(2); return 42 end)
    local got
    sim:spawn(function() got = { hs.await(inner:join()), hs.now() } end)
    sim:run()
    assert.same({ 42, 2 }, got)
  end)

  it("cancel stops a pending, sleeping or parked process and rejects its join", function()
    local sim = hs.Simulation{}
    local ran = {}
    local pending = sim:after(1, function() ran.pending = true end)
    local sleeping = sim:spawn(function() hs.sleep(10); ran.sleeping = true end)
    local parked = sim:spawn(function() hs.await(hs.Future()); ran.parked = true end)
    sim:run_until(0.5)
    assert.equal("sleeping", sleeping.state)
    assert.equal("parked", parked.state)
    assert.is_true(pending:cancel())
    assert.is_true(sleeping:cancel())
    assert.is_true(parked:cancel())
    assert.is_false(parked:cancel())
    sim:run()
    assert.same({}, ran)
    assert.equal("cancelled", pending:join().error.code)
    assert.equal(0.5, sim.now)
  end)

  it("a parked process does not keep the run alive", function()
    local sim = hs.Simulation{}
    local p = sim:spawn(function() hs.await(hs.Future()) end)
    local s = sim:run()
    assert.equal("parked", p.state)
    assert.equal(0, s.events_pending)
  end)

  it("hs.sleep, hs.now and hs.await raise outside a process", function()
    assert.has_error(function() hs.sleep(1) end,
      "hs.sleep: not inside a process (call it from an entity's handle_event or a function started with sim:spawn or sim:after)")
    assert.has_error(function() hs.now() end)
    assert.has_error(function() hs.await(hs.Future()) end)
  end)

  it("hs.sleep inside a nested coroutine raises instead of confusing the scheduler", function()
    local sim = hs.Simulation{}
    local err
    sim:spawn(function()
      local co = coroutine.create(function() hs.sleep(1) end)
      local ok, e = coroutine.resume(co)
      err = e
    end)
    sim:run()
    assert.matches("not inside a process", err)
  end)
end)

describe("Process errors", function()
  it("stop the run with time, entity, event type and traceback", function()
    local sim = hs.Simulation{}
    local function deep() error("kaboom") end
    local e = hs.Entity{ name = "worker", handle_event = function(self, ev) hs.sleep(1.5); deep() end }
    sim:schedule(hs.Event{ time = 1, type = "Job", target = e })
    local ok, msg = pcall(sim.run, sim)
    assert.is_false(ok)
    assert.matches("happysim: error at t=2.5", msg, 1, true)
    assert.matches("in entity 'worker' handling 'Job'", msg, 1, true)
    assert.matches("kaboom", msg, 1, true)
    assert.matches("stack traceback:", msg, 1, true)
    assert.matches("in upvalue 'deep'", msg, 1, true)
    assert.equal(2.5, sim.now)
    assert.is_false(sim.running)
  end)

  it("an error in a spawned process names the process", function()
    local sim = hs.Simulation{}
    sim:after(3, function() error({ code = "x" }) end)
    local ok, msg = pcall(sim.run, sim)
    assert.is_false(ok)
    assert.matches("error at t=3.0 in process", msg, 1, true)
  end)

  it("bad yields and bad return values are reported", function()
    local sim = hs.Simulation{}
    sim:spawn(function() coroutine.yield("soon") end)
    local ok, msg = pcall(sim.run, sim)
    assert.is_false(ok)
    assert.matches("yielded something other than a delay", msg, 1, true)

    sim = hs.Simulation{}
    sim:spawn(function() coroutine.yield(-1) end)
    ok, msg = pcall(sim.run, sim)
    assert.matches("a delay must be a finite number >= 0", msg, 1, true)

    sim = hs.Simulation{}
    sim:schedule(hs.Event{ time = 0, type = "X", target = function() return 42 end })
    ok, msg = pcall(sim.run, sim)
    assert.matches("handler returned a number", msg, 1, true)
  end)

  it("the simulation can continue after an error", function()
    local sim = hs.Simulation{}
    local ran = false
    sim:schedule(hs.Event{ time = 1, type = "X", target = function() error("first") end })
    sim:schedule(hs.Event{ time = 2, type = "X", target = function() ran = true end })
    assert.has_error(function() sim:run() end)
    sim:run()
    assert.is_true(ran)
  end)

  it("an error in a timer callback stops the run with a traceback", function()
    local sim = hs.Simulation{}
    sim:timer(1, function() error("tick failed") end)
    local ok, msg = pcall(sim.run, sim)
    assert.is_false(ok)
    assert.matches("error at t=1.0 in timer callback", msg, 1, true)
    assert.matches("tick failed", msg, 1, true)
    assert.matches("stack traceback", msg, 1, true)
  end)
end)

describe("sim:timer", function()
  it("runs synchronously and repeats while it returns a delay", function()
    local sim = hs.Simulation{}
    local times = {}
    local t = sim:timer(1, function()
      times[#times + 1] = sim.now
      if #times < 3 then return 0.5 end
    end)
    assert.is_true(t.pending)
    sim:run()
    assert.same({ 1, 1.5, 2 }, times)
    assert.is_false(t.pending)
  end)

  it("can be cancelled", function()
    local sim = hs.Simulation{}
    local ran = false
    local t = sim:timer(1, function() ran = true end)
    assert.is_true(t:cancel())
    sim:run()
    assert.is_false(ran)
  end)

  it("cannot sleep", function()
    local sim = hs.Simulation{}
    sim:timer(1, function() hs.sleep(1) end)
    local ok, msg = pcall(sim.run, sim)
    assert.is_false(ok)
    assert.matches("not inside a process", msg, 1, true)
  end)
end)
