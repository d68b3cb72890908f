local hs = require("happysim")

local function in_process(fn)
  local sim = hs.Simulation{}
  local p = sim:spawn(fn, sim)
  sim:run()
  return sim, p
end

describe("Future", function()
  it("resolves once, with several values", function()
    local f = hs.Future()
    assert.is_false(f.done)
    assert.is_true(f:resolve(1, 2))
    -- a second outcome is a mistake, said at the call (issue 16), and changes nothing
    assert.has_error(function() f:resolve(3) end, "resolve: the Future is already resolved (a Future settles once)")
    assert.has_error(function() f:reject("late") end, "reject: the Future is already resolved (a Future settles once)")
    local g = hs.Future()
    g:reject("no")
    assert.has_error(function() g:resolve(1) end, "resolve: the Future is already rejected (a Future settles once)")
    assert.is_true(f.done)
    assert.equal(1, f.value)
    assert.same({ 1, 2 }, { f:result() })
  end)

  it("rejects with an error value; strings are wrapped", function()
    local f = hs.Future()
    f:reject("nope")
    assert.equal("error", f.error.code)
    assert.equal("error: nope", tostring(f.error))
    local g = hs.Future()
    g:reject(hs.error("not_leader", "ask n3", { leader = "n3" }))
    local v, err = g:result()
    assert.is_nil(v)
    assert.equal("n3", err.leader)
    assert.has_error(function() hs.Future():reject() end)
  end)

  it("await returns the values, or nil and the error", function()
    local got = {}
    in_process(function(sim)
      local f, g = hs.Future(), hs.Future()
      sim:timer(1, function() f:resolve("a", "b") end)
      sim:timer(2, function() g:reject(hs.error("boom", "x")) end)
      got.f = { hs.await(f) }
      got.t1 = hs.now()
      got.g = { hs.await(g) }
      got.t2 = hs.now()
      got.done = { hs.await(f) } -- already settled: no wait
    end)
    assert.same({ "a", "b" }, got.f)
    assert.equal(1, got.t1)
    assert.is_nil(got.g[1])
    assert.equal("boom", got.g[2].code)
    assert.equal(2, got.t2)
    assert.same({ "a", "b" }, got.done)
  end)

  it("several processes can await one future", function()
    local sim = hs.Simulation{}
    local f = hs.Future()
    local woke = {}
    for i = 1, 3 do sim:spawn(function() hs.await(f); woke[#woke + 1] = i end) end
    sim:after(1, function() f:resolve() end)
    sim:run()
    assert.same({ 1, 2, 3 }, woke)
  end)

  it("runs on_settle callbacks once each, in the order they were added", function()
    local f, calls = hs.Future(), {}
    f:on_settle(function() calls[#calls + 1] = "a" end)
    f:on_settle(function() calls[#calls + 1] = "b" end)
    f:on_settle(function() calls[#calls + 1] = "c" end)
    f:resolve(1)
    assert.has_error(function() f:resolve(2) end)
    f:on_settle(function(g) calls[#calls + 1] = "late " .. g.value end) -- already settled: at once
    assert.same({ "a", "b", "c", "late 1" }, calls)
    assert.same({ 1 }, f.values)
    assert.equal(1, f.n)
  end)

  it("a process woken by a future it no longer waits for is not woken again", function()
    -- the process awaits f then g; f's late waiters and a slot reused by a later process
    -- must not resume anything early
    local sim = hs.Simulation{}
    local f, g, h = hs.Future(), hs.Future(), hs.Future()
    local log = {}
    sim:spawn(function()
      hs.await(f)
      log[#log + 1] = ("A got f at %g"):format(hs.now())
      hs.await(g)
      log[#log + 1] = ("A got g at %g"):format(hs.now())
    end)
    sim:after(1, function() f:resolve() end)
    sim:after(5, function() g:resolve() end)
    sim:after(6, function() -- reuses A's slot once A is done
      hs.await(h)
      log[#log + 1] = ("B got h at %g"):format(hs.now())
    end)
    sim:after(7, function() f:on_settle(function() end) end)
    sim:after(8, function() h:resolve() end)
    sim:run()
    assert.same({ "A got f at 1", "A got g at 5", "B got h at 8" }, log)
  end)

  it("the waker of a cancelled process does not wake the process that reuses its slot", function()
    local sim = hs.Simulation{}
    local f, h = hs.Future(), hs.Future()
    local log = {}
    local a = sim:spawn(function()
      hs.await(f)
      log[#log + 1] = "A woke"
    end)
    sim:after(1, function() assert.is_true(a:cancel()) end)
    sim:after(2, function() -- takes A's pooled slot
      hs.await(h)
      log[#log + 1] = ("B got h at %g"):format(hs.now())
    end)
    sim:after(3, function() f:resolve() end) -- runs A's stale waker
    sim:after(4, function() h:resolve() end)
    sim:run()
    assert.same({ "B got h at 4" }, log)
  end)
end)

describe("any_of", function()
  it("resolves with the index and value of the first to resolve", function()
    local a, b = hs.Future(), hs.Future()
    local any = hs.any_of{ a, b }
    b:resolve("B")
    a:resolve("A")
    assert.same({ 2, "B" }, { any:result() })
  end)

  it("skips rejections while one may still resolve", function()
    local a, b = hs.Future(), hs.Future()
    local any = hs.any_of{ a, b }
    a:reject("x")
    assert.is_false(any.done)
    b:resolve(7)
    assert.same({ 2, 7 }, { any:result() })
  end)

  it("rejects when all reject", function()
    local a, b = hs.Future(), hs.Future()
    local any = hs.any_of{ a, b }
    a:reject("x"); b:reject("y")
    assert.equal("all_rejected", any.error.code)
    assert.equal("x", any.error.errors[1].message)
    assert.equal("all_rejected", hs.any_of{}.error.code)
  end)

  it("works with already-settled futures", function()
    local a = hs.Future(); a:resolve(1)
    assert.same({ 1, 1 }, { hs.any_of{ a, hs.Future() }:result() })
  end)
end)

describe("all_of", function()
  it("resolves with all values in order", function()
    local a, b, c = hs.Future(), hs.Future(), hs.Future()
    local all = hs.all_of{ a, b, c }
    c:resolve(3); a:resolve(1)
    assert.is_false(all.done)
    b:resolve(2)
    assert.same({ 1, 2, 3 }, all.value)
    assert.same({}, hs.all_of{}.value)
  end)

  it("rejects with the first rejection", function()
    local a, b = hs.Future(), hs.Future()
    local all = hs.all_of{ a, b }
    b:reject("bad")
    assert.equal("bad", all.error.message)
  end)

  it("validates its argument", function()
    assert.has_error(function() hs.all_of(3) end, "bad argument #1 to 'all_of' (list of futures expected, got number)")
    assert.has_error(function() hs.any_of{ 1 } end, "bad argument #1 to 'any_of' (item 1 is not a Future)")
  end)
end)

describe("hs.timeout", function()
  it("rejects with code timeout when the future is late", function()
    local got
    local sim = in_process(function(sim)
      local f = hs.Future()
      sim:timer(5, function() f:resolve("late") end)
      got = { hs.await(hs.timeout(f, 2)) }
      got.t = hs.now()
    end)
    assert.is_nil(got[1])
    assert.equal("timeout", got[2].code)
    assert.equal(2, got.t)
  end)

  it("passes the value through when in time, and its timer goes away", function()
    local got
    local sim, p = in_process(function(sim)
      local f = hs.Future()
      sim:timer(1, function() f:resolve("ok") end)
      got = { hs.await(hs.timeout(f, 2)) }
    end)
    assert.same({ "ok" }, got)
    assert.equal(1, sim.now) -- the cancelled timeout did not keep the run alive
  end)

  it("a resolve racing the timeout at the same instant: the one scheduled first wins", function()
    local results = {}
    for _, resolve_first in ipairs{ true, false } do
      local sim = hs.Simulation{}
      local f = hs.Future()
      local out
      if resolve_first then sim:timer(1, function() f:resolve("value") end) end
      out = hs.timeout(f, 1, sim)
      if not resolve_first then sim:timer(1, function() f:resolve("value") end) end
      sim:run()
      results[#results + 1] = out.ok and out.value or out.error.code
    end
    assert.same({ "value", "timeout" }, results)
  end)

  it("outside a process needs the simulation", function()
    assert.has_error(function() hs.timeout(hs.Future(), 1) end)
    assert.has_error(function() hs.timeout(hs.Future(), -1, hs.Simulation{}) end)
    assert.has_error(function() hs.timeout(nil, 1) end)
  end)

  it("propagates a rejection", function()
    local sim = hs.Simulation{}
    local f = hs.Future()
    local out = hs.timeout(f, 5, sim)
    f:reject(hs.error("crashed", "node down"))
    assert.equal("crashed", out.error.code)
  end)
end)
