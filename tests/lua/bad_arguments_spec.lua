-- Every public function raises a clear error on bad input, and nothing crashes.
local hs = require("happysim")

local function raises(pattern, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error matching " .. pattern)
  assert.is_string(err)
  assert.matches(pattern, err, 1, true)
end

local NaN, inf = 0 / 0, math.huge

describe("bad arguments", function()
  it("hs.Simulation", function()
    raises("table expected, got number", hs.Simulation, 5)
    raises("field 'seed' must be an integer, got 1.5", hs.Simulation, { seed = 1.5 })
    raises("field 'seed' must be an integer, got string", hs.Simulation, { seed = "x" })
    raises("field 'end_time' must be a finite number of seconds >= 0", hs.Simulation, { end_time = -1 })
    raises("field 'end_time' must be a finite number of seconds >= 0", hs.Simulation, { end_time = NaN })
    raises("field 'duration' must be a finite number of seconds >= 0", hs.Simulation, { duration = inf })
    raises("field 'duration' must be a number of seconds, got string", hs.Simulation, { duration = "1" })
    raises("unknown option 'sed'", hs.Simulation, { sed = 1 })
    raises("field 'entities' must be a list of entities", hs.Simulation, { entities = 3 })
    raises("an entity must be a table, got number", hs.Simulation, { entities = { 3 } })
    raises("field 'faults' must be an hs.FaultSchedule", hs.Simulation, { faults = {} })
  end)

  it("Simulation methods", function()
    local sim = hs.Simulation{}
    raises("time must be a finite number of seconds >= 0", sim.run_until, sim, -1)
    raises("time must be a finite number of seconds >= 0", sim.run_until, sim, NaN)
    raises("time must be a number of seconds, got no value", sim.run_until, sim)
    raises("count must be a non-negative integer, got -1", sim.step, sim, -1)
    raises("count must be a non-negative integer, got 1.5", sim.step, sim, 1.5)
    raises("hs.Event or list of events expected, got number", sim.schedule, sim, 3)
    raises("item 1 must be an hs.Event, got table", sim.schedule, sim, { {} })
    raises("delay must be a finite number of seconds >= 0", sim.timer, sim, -1, print)
    raises("function expected, got no value", sim.timer, sim, 1)
    raises("unknown option 'demon'", sim.timer, sim, 1, print, { demon = true })
    raises("field 'daemon' must be a boolean, got number", sim.timer, sim, 1, print, { daemon = 1 })
    raises("function expected, got number", sim.trace, sim, 5)
    raises("bad argument #1 to 'after' (delay must be a number of seconds in [0, 9e+09], got ", sim.after, sim, NaN, print)
    raises("bad argument #1 to 'after' (delay must be a number of seconds in [0, 9e+09], got -1)", sim.after, sim, -1, print)
    raises("bad argument #1 to 'after' (delay must be a number of seconds in [0, 9e+09], got 1e+300)", sim.after, sim, 1e300, print)
    raises("(function expected, got nil)", sim.spawn, sim)
    raises("entity expected (a table, a C entity or a Network), got number", sim.register, sim, 3)
    raises("entity expected (a table, a C entity or a Network), got happysim.KVStateMachine", sim.register, sim, hs.KVStateMachine())
    raises("stream name string expected, got table", sim.random, sim, {})
    raises("Simulation: cannot set field 'now'", function() sim.now = 3 end)
    raises("happysim.Simulation expected, got table", sim.run, {})
    raises("happysim.Simulation expected, got no value", sim.run)
  end)

  it("hs.Event", function()
    local f = function() end
    raises("table expected, got no value", hs.Event)
    raises("field 'time' is required", hs.Event, { target = f })
    raises("field 'time' must be a finite number of seconds >= 0", hs.Event, { time = -0.5, target = f })
    raises("field 'time' must be a finite number of seconds >= 0", hs.Event, { time = NaN, target = f })
    raises("field 'time' must be a number of seconds, got string", hs.Event, { time = "1", target = f })
    raises("field 'type' must be a string, got number", hs.Event, { time = 1, type = 1, target = f })
    raises("field 'target' must be an entity or a function, got nil", hs.Event, { time = 1 })
    raises("field 'target' must be an entity or a function, got string", hs.Event, { time = 1, target = "n1" })
    raises("field 'daemon' must be a boolean, got string", hs.Event, { time = 1, target = f, daemon = "yes" })
    raises("unknown option 'payloud'", hs.Event, { time = 1, target = f, payloud = 1 })
    local ev = hs.Event{ time = 1, target = f }
    raises("happysim.Event expected, got table", ev.cancel, {})
  end)

  it("futures and processes", function()
    raises("bad argument #1 to 'await' (Future expected, got nil)", hs.await)
    raises("bad argument #1 to 'timeout' (Future expected, got number)", hs.timeout, 1, 1)
    raises("bad argument #2 to 'timeout'", hs.timeout, hs.Future(), NaN, hs.Simulation{})
    raises("bad argument #1 to 'on_settle' (function expected, got nil)", hs.Future().on_settle, hs.Future())
    raises("result: the future is still pending", hs.Future().result, hs.Future())
    raises("hs.sleep: not inside a process", hs.sleep, 1)
    raises("hs.now: not inside a process", hs.now)
    local sim = hs.Simulation{}
    local err
    sim:spawn(function() err = select(2, pcall(hs.sleep, -1)) end)
    sim:run()
    assert.matches("delay must be a finite number of seconds >= 0", err, 1, true)
    sim:spawn(function() err = select(2, pcall(hs.sleep, "1")) end)
    sim:run()
    assert.matches("delay must be a number of seconds, got string", err, 1, true)
  end)

  it("hs.Network methods take no string for a number, nor a number for a string", function()
    local sim = hs.Simulation{}
    local a, b = hs.Entity{ name = "a", handle_event = function() end }, hs.Entity{ name = "b", handle_event = function() end }
    sim:register(a)
    sim:register(b)
    local net = hs.Network{ sim = sim, default_link = hs.local_network() }
    raises("bad argument #3 to 'send' (string expected, got number)", function() net:send(a, b, 42, 1) end)
    raises("bad argument #3 to 'send' (string expected, got nil)", function() net:send(a, b) end)
    raises("bad argument #3 to 'request' (string expected, got number)", function() net:request(a, b, 42, 1) end)
    raises("bad argument #3 to 'request' (string expected, got boolean)", function() net:request(a, b, true) end)
    raises("bad argument #1 to 'deliver_held' (integer expected, got string)", function() net:deliver_held("1") end)
    raises("bad argument #1 to 'deliver_held' (number has no integer representation)", function() net:deliver_held(1.5) end)
    raises("bad argument #3 to 'deliver_held' (integer expected, got string)", function() net:deliver_held(1, 0, "0") end)
    raises("bad argument #3 to 'deliver_held' (copy must be an integer in [0, 2^32), got -1)",
      function() net:deliver_held(1, 0, -1) end)
    raises("bad argument #2 to 'drop_held' (copy must be an integer in [0, 2^32), got 4294967296)",
      function() net:drop_held(1, 1 << 32) end)
    raises("bad argument #1 to 'drop_held' (integer expected, got string)", function() net:drop_held("1") end)
    raises("bad argument #2 to 'drop_held' (integer expected, got string)", function() net:drop_held(1, "0") end)
    assert.is_nil(net[1]) -- a number key is not read as the string "1"
    assert.is_number(net:send(a, b, "M", 1)) -- and the right types still work
    assert.is_false(net:deliver_held(1, 0, 0))
    assert.is_false(net:drop_held(1.0))
  end)

  it("hs.HoldModel (a C entity)", function()
    local sim = hs.Simulation{}
    raises("field 'sim' must be a Simulation", hs.HoldModel, {})
    raises("field 'pending' must be an integer in [1, 1e8]", hs.HoldModel, { sim = sim, pending = 0 })
    raises("field 'mean' must be > 0", hs.HoldModel, { sim = sim, mean = 0 })
    raises("unknown option 'pendin'", hs.HoldModel, { sim = sim, pendin = 1 })
    local h = hs.HoldModel{ sim = sim, name = "h", pending = 10 }
    raises("an entity named 'h' is already registered", hs.HoldModel, { sim = sim, name = "h" })
    raises("HoldModel: field 'pending' is read-only", function() h.pending = 1 end)
    raises("happysim.HoldModel expected, got table", h.start, {})
    h:start()
    raises("start: HoldModel 'h' is already running", h.start, h)
    sim:close()
    raises("HoldModel 'h': its simulation is closed", h.stop, h)
  end)

  it("use after close", function()
    local sim = hs.Simulation{}
    local ev = hs.Event{ time = 1, target = function() end }
    sim:schedule(ev)
    sim:close()
    assert.is_false(ev.pending)
    assert.is_false(ev:cancel())
    for _, m in ipairs{ "run", "step", "summary", "stop", "random", "trace" } do
      raises("the simulation is closed", sim[m], sim)
    end
    raises("the simulation is closed", sim.run_until, sim, 1)
    raises("the simulation is closed", sim.schedule, sim, ev)
    raises("spawn: the simulation is closed", sim.spawn, sim, print)
  end)

  it("use after close names the function, at the caller's line", function()
    local sim = hs.Simulation{}
    local net = hs.Network{ sim = sim, default_link = hs.datacenter_network() }
    local e = hs.Entity{ name = "e", handle_event = function() end }
    sim:register(e)
    local line = debug.getinfo(1, "l").currentline
    sim:close()
    local cases = {
      { function() sim:run_until(1) end, "run_until: the simulation is closed" },
      { function() sim:after(1, print) end, "after: the simulation is closed" },
      { function() sim:timer(1, print) end, "timer: the simulation is closed" },
      { function() e:crash() end, "crash: the simulation is closed" },
      { function() e:random() end, "random: the simulation is closed" },
      { function() net:send(e, e, "x", 1) end, "send: the network's simulation is closed" },
      { function() net:partition({ e }, {}) end, "partition: the network's simulation is closed" },
    }
    for i, c in ipairs(cases) do
      local ok, err = pcall(c[1])
      assert.is_false(ok)
      assert.matches("bad_arguments_spec.lua:" .. (line + 2 + i) .. ": " .. c[2], err, 1, true)
    end
  end)

  it("Entity:random takes a string or number suffix", function()
    local sim = hs.Simulation{}
    local e = hs.Entity{ name = "e", handle_event = function() end }
    sim:register(e)
    raises("bad argument #1 to 'random' (string expected, got boolean)", e.random, e, true)
    raises("bad argument #1 to 'random' (string expected, got table)", e.random, e, {})
    assert.equal(sim:random("e:x"), e:random("x")) -- the entity's named stream
    assert.is_number(e:random(7):random())
  end)
end)

describe("C entities from Lua", function()
  it("expose fields and methods and count events", function()
    local sim = hs.Simulation{ seed = 3 }
    local h = hs.HoldModel{ sim = sim, name = "hold", pending = 100, mean = 0.5 }
    assert.equal("hold", h.name)
    assert.equal(100, h.pending)
    assert.equal(0.5, h.mean)
    assert.is_false(h.running)
    assert.is_false(h.crashed)
    assert.equal(sim, h.sim)
    assert.is_nil(h.no_such_field)
    assert.equal("HoldModel 'hold'", tostring(h))
    h:start()
    assert.is_true(h.running)
    sim:run_until(10)
    assert.equal(10, h.now)
    assert.near(2000, h.events_handled, 200) -- 100 events at rate 2/s for 10 s
    assert.equal(h.events_handled, sim:summary().entities.hold.events_handled)
    assert.equal("HoldModel", sim:summary().entities.hold.kind)
    h:stop()
    assert.equal(0, sim.pending)
  end)

  it("a crashed HoldModel does nothing until restart, which starts a fresh population", function()
    local sim = hs.Simulation{ seed = 3 }
    local h = hs.HoldModel{ sim = sim, name = "hold", pending = 100, mean = 0.5 }
    h:start()
    sim:run_until(1)
    local before = h.events_handled
    assert.is_true(h:crash())
    assert.is_false(h.running)
    assert.equal(0, sim.pending) -- its events were volatile: they died with it
    raises("start: HoldModel 'hold' is crashed", h.start, h)
    sim:run() -- nothing left to do: the run drains
    assert.equal(1, sim.now)
    sim:run_until(5)
    assert.equal(before, h.events_handled)
    assert.is_true(h:restart())
    assert.is_true(h.running)
    assert.equal(100, sim.pending)
    sim:run_until(10)
    assert.near(before + 1000, h.events_handled, 120) -- 100 events at rate 2/s for 5 s
    -- stopped while down, it stays stopped after the restart
    h:crash()
    h:stop()
    h:restart()
    assert.is_false(h.running)
    assert.equal(0, sim.pending)
    h:start()
    assert.is_true(h.running)
  end)

  it("indexing a C object with a non-string key gives nil (no number-to-string coercion)", function()
    local objects = {
      dist = hs.dist.exponential(1),
      link = hs.datacenter_network(),
      event = hs.Event{ time = 1, target = function() end },
      kv = hs.KVStateMachine(),
      checker = hs.RaftChecker(),
    }
    for what, o in pairs(objects) do
      for _, key in ipairs({ 1, 2.5, true, {} }) do
        assert.is_nil(o[key], what .. "[" .. tostring(key) .. "]")
      end
    end
    assert.is_number(objects.dist.mean) -- string keys still work
    assert.is_number(objects.event.time)
  end)
end)
