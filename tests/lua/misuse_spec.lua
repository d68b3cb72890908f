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
