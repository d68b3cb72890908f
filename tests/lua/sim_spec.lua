local hs = require("happysim")

local function recorder()
  local log = {}
  local function at(label)
    return function() log[#log + 1] = label end
  end
  return log, at
end

describe("Simulation ordering", function()
  it("runs events in time order and ties in creation order", function()
    local sim = hs.Simulation{}
    local log = {}
    local target = function(ev) log[#log + 1] = ev.payload end
    sim:schedule(hs.Event{ time = 2, type = "X", target = target, payload = "c" })
    sim:schedule(hs.Event{ time = 1, type = "X", target = target, payload = "a" })
    sim:schedule(hs.Event{ time = 1, type = "X", target = target, payload = "b" })
    sim:schedule{ hs.Event{ time = 1, type = "X", target = target, payload = "b2" },
                  hs.Event{ time = 0, type = "X", target = target, payload = "first" } }
    sim:run()
    assert.same({ "first", "a", "b", "b2", "c" }, log)
    assert.equal(2, sim.now)
  end)

  it("keeps nanosecond resolution for close times", function()
    local sim = hs.Simulation{}
    local log = {}
    local t = function(ev) log[#log + 1] = ev.payload end
    sim:schedule(hs.Event{ time = 1 + 2e-9, type = "X", target = t, payload = 2 })
    sim:schedule(hs.Event{ time = 1 + 1e-9, type = "X", target = t, payload = 1 })
    sim:run()
    assert.same({ 1, 2 }, log)
  end)

  it("runs events scheduled at the current time after those already queued", function()
    local sim = hs.Simulation{}
    local log = {}
    local t2 = function() log[#log + 1] = "second" end
    local t1 = function(ev)
      log[#log + 1] = "first"
      return hs.Event{ time = ev.time, type = "Y", target = function() log[#log + 1] = "spawned" end }
    end
    sim:schedule(hs.Event{ time = 1, type = "X", target = t1 })
    sim:schedule(hs.Event{ time = 1, type = "X", target = t2 })
    sim:run()
    assert.same({ "first", "second", "spawned" }, log)
  end)

  it("rejects events in the past", function()
    local sim = hs.Simulation{}
    sim:run_until(5)
    assert.has_error(function()
      sim:schedule(hs.Event{ time = 4, type = "Late", target = function() end })
    end, "schedule: event 'Late' time 4.0 is before now (5.0)")
  end)

  it("refuses to schedule an event twice", function()
    local sim = hs.Simulation{}
    local ev = hs.Event{ time = 1, type = "X", target = function() end }
    sim:schedule(ev)
    assert.has_error(function() sim:schedule(ev) end, "schedule: event 'X' is already scheduled")
  end)
end)

describe("Events are tables", function()
  it("hs.Event makes the table it is given an event: plain fields, type 'Event' by default", function()
    local f = function() end
    local t = { time = 2, target = f, payload = { n = 1 } }
    local ev = hs.Event(t)
    assert.equal(t, ev)
    assert.equal(ev, hs.Event(ev)) -- an event given again is returned as it is
    assert.equal("Event", rawget(ev, "type"))
    assert.equal(2, rawget(ev, "time"))
    assert.equal(1, rawget(ev, "payload").n)
    assert.is_false(ev.daemon)
    assert.is_false(ev.pending)
    assert.equal("Event Event at 2.0s", tostring(ev))
  end)

  it("a handler may schedule again the event it was given", function()
    local sim = hs.Simulation{}
    local seen = {}
    local Ticker = hs.Entity:extend("Ticker")
    function Ticker:handle_event(ev)
      seen[#seen + 1] = self.now
      ev.payload.n = ev.payload.n + 1
      if ev.payload.n < 4 then
        ev.time = self.now + 0.5
        return ev
      end
    end
    sim:schedule(hs.Event{ time = 1, type = "Tick", target = Ticker{ name = "t" }, payload = { n = 0 } })
    sim:run()
    assert.same({ 1, 1.5, 2, 2.5 }, seen)
  end)

  it("reads the fields when scheduled: changing a queued event changes nothing of its delivery", function()
    local sim = hs.Simulation{}
    local log = {}
    local a = function(ev) log[#log + 1] = "a " .. ev.type .. " " .. hs.now() end
    local b = function() log[#log + 1] = "b" end
    local ev = hs.Event{ time = 1, type = "X", target = a }
    sim:schedule(ev)
    ev.time, ev.target, ev.type = 5, b, "Y"
    collectgarbage()
    sim:run()
    assert.same({ "a Y 1.0" }, log) -- delivered at 1 to a; the handler sees the table as it is now
  end)

  it("reports a field spoiled before it was scheduled, naming it", function()
    local sim = hs.Simulation{}
    local ev = hs.Event{ time = 1, target = function() end }
    ev.time = "soon"
    assert.has_error(function() sim:schedule(ev) end,
      "schedule: event 'Event': field 'time' must be a finite number of seconds >= 0")
    ev.time, ev.target = 1, "nobody"
    assert.has_error(function() sim:schedule(ev) end,
      "schedule: event 'Event': field 'target' must be an entity or a function, got string")
  end)

  it("one event may wait in two simulations; cancel takes it out of both", function()
    local s1, s2 = hs.Simulation{}, hs.Simulation{}
    local ev = hs.Event{ time = 1, target = function() end }
    s1:schedule(ev)
    s2:schedule(ev)
    assert.is_true(ev.pending)
    assert.is_true(ev:cancel())
    assert.is_false(ev.pending)
    assert.equal(0, s1.pending + s2.pending)
    s2:close()
    s1:schedule(ev)
    assert.is_true(ev.pending)
  end)

  it("the same seed gives the same run whether handlers make new events or reuse theirs", function()
    local function run(reuse)
      local sim = hs.Simulation{ seed = 7 }
      local r = sim:random("x")
      local P = hs.Entity:extend("P")
      function P:handle_event(ev)
        local t = self.now + r:exponential(1)
        if reuse then
          ev.time = t
          return ev
        end
        return hs.Event{ time = t, type = "Tick", target = self }
      end
      for i = 1, 20 do sim:schedule(hs.Event{ time = r:exponential(1), type = "Tick", target = P{ name = "p" .. i } }) end
      return sim:run_until(50).trace_hash
    end
    assert.equal(run(false), run(true))
  end)
end)

describe("Cancellation", function()
  it("cancelled events never run and are counted", function()
    local sim = hs.Simulation{}
    local ran = 0
    local evs = {}
    for i = 1, 100 do
      evs[i] = hs.Event{ time = i, type = "X", target = function() ran = ran + 1 end }
      sim:schedule(evs[i])
    end
    for i = 1, 100, 2 do assert.is_true(evs[i]:cancel()) end
    assert.is_false(evs[1]:cancel())
    assert.equal(50, sim.pending)
    local s = sim:run()
    assert.equal(50, ran)
    assert.equal(50, s.events_cancelled)
    assert.equal(50, s.events_processed)
    assert.is_true(evs[1].cancelled)
    assert.is_false(evs[2].cancelled)
    assert.is_false(evs[2].pending)
    evs[1].time = sim.now + 1
    sim:schedule(evs[1])
    assert.is_false(evs[1].cancelled) -- until it is scheduled again
  end)

  it("a cancelled event can be scheduled again", function()
    local sim = hs.Simulation{}
    local ran = 0
    local ev = hs.Event{ time = 1, type = "X", target = function() ran = ran + 1 end }
    sim:schedule(ev)
    ev:cancel()
    sim:schedule(ev)
    sim:run()
    assert.equal(1, ran)
  end)

  it("does not leak: a million cancelled events leave nothing pending", function()
    local sim = hs.Simulation{}
    local f = function() end
    for i = 1, 20000 do
      local ev = hs.Event{ time = i, type = "X", target = f }
      sim:schedule(ev)
      ev:cancel()
    end
    assert.equal(0, sim.pending)
    collectgarbage()
    local before = collectgarbage("count")
    for i = 1, 20000 do
      local ev = hs.Event{ time = i, type = "X", target = f }
      sim:schedule(ev)
      ev:cancel()
    end
    collectgarbage()
    assert.is_true(collectgarbage("count") < before + 200)
  end)
end)

describe("Daemons and termination", function()
  it("stops when only daemon events are left", function()
    local sim = hs.Simulation{}
    local beats = 0
    sim:timer(0.1, function() beats = beats + 1; return 0.1 end, { daemon = true })
    sim:schedule(hs.Event{ time = 1.05, type = "Work", target = function() end })
    local s = sim:run()
    assert.equal(1.05, s.duration_s)
    assert.equal(10, beats)
    assert.equal(1, s.events_pending) -- the daemon timer is still queued
  end)

  it("daemon hs.Events do not keep a run alive", function()
    local sim = hs.Simulation{}
    local ran = false
    sim:schedule(hs.Event{ time = 5, type = "D", target = function() ran = true end, daemon = true })
    sim:schedule(hs.Event{ time = 1, type = "W", target = function() end })
    sim:run()
    assert.is_false(ran)
    assert.equal(1, sim.now)
  end)

  it("with an end time, runs daemons until it and stops there", function()
    local sim = hs.Simulation{ end_time = 1 }
    local beats = 0
    sim:timer(0.25, function() beats = beats + 1; return 0.25 end, { daemon = true })
    local ran_late = false
    sim:schedule(hs.Event{ time = 1.5, type = "Late", target = function() ran_late = true end })
    local s = sim:run()
    assert.equal(4, beats) -- 0.25, 0.5, 0.75 and 1.0: the end time is inclusive
    assert.is_false(ran_late)
    assert.equal(1, s.duration_s)
    assert.equal(1, sim.now)
  end)

  it("duration is an alias of end_time, and the clock reaches it even when idle", function()
    local sim = hs.Simulation{ duration = 30 }
    local s = sim:run()
    assert.equal(30, s.duration_s)
    assert.equal(30, sim.end_time)
    assert.has_error(function() hs.Simulation{ duration = 1, end_time = 2 } end)
  end)
end)

describe("run_until, step and stop", function()
  it("run_until is resumable and covers daemons", function()
    local sim = hs.Simulation{}
    local log, at = recorder()
    for i = 1, 5 do sim:schedule(hs.Event{ time = i, type = "X", target = at(i) }) end
    sim:run_until(2.5)
    assert.same({ 1, 2 }, log)
    assert.equal(2.5, sim.now)
    sim:run_until(2.5) -- no-op
    sim:run()
    assert.same({ 1, 2, 3, 4, 5 }, log)
  end)

  it("step processes n events and reports how many", function()
    local sim = hs.Simulation{}
    local log, at = recorder()
    for i = 1, 3 do sim:schedule(hs.Event{ time = i, type = "X", target = at(i) }) end
    assert.equal(1, sim:step())
    assert.same({ 1 }, log)
    assert.equal(1, sim.now)
    assert.equal(2, sim:step(5))
    assert.equal(0, sim:step())
  end)

  it("stop from a handler returns after that event; run resumes", function()
    local sim = hs.Simulation{}
    local log = {}
    for i = 1, 4 do
      sim:schedule(hs.Event{ time = i, type = "X", target = function()
        log[#log + 1] = i
        if i == 2 then sim:stop() end
      end })
    end
    sim:run()
    assert.same({ 1, 2 }, log)
    sim:run()
    assert.same({ 1, 2, 3, 4 }, log)
  end)

  it("stop from a trace function keeps that event queued; it runs on resume", function()
    local sim = hs.Simulation{}
    local log = {}
    for i = 1, 3 do
      sim:schedule(hs.Event{ time = i, type = "X", target = function() log[#log + 1] = i end })
    end
    local stopped = false
    sim:trace(function(t)
      if t == 2 and not stopped then stopped = true; sim:stop() end
    end)
    sim:run()
    assert.same({ 1 }, log)
    assert.equal(2, sim.now)
    assert.equal(2, sim.pending)
    sim:run()
    assert.same({ 1, 2, 3 }, log)
  end)

  it("refuses to run from inside a handler", function()
    local sim = hs.Simulation{}
    sim:schedule(hs.Event{ time = 1, type = "X", target = function() sim:run() end })
    assert.has_error(function() sim:run() end)
    assert.is_false(sim.running)
  end)
end)

describe("Summary", function()
  it("reports counts, times and per-entity numbers", function()
    local sim = hs.Simulation{ seed = 7 }
    local a = hs.Entity{ name = "a", handle_event = function() end }
    local b = hs.Entity{ name = "b", handle_event = function() end }
    for i = 1, 3 do sim:schedule(hs.Event{ time = i, type = "X", target = a }) end
    sim:schedule(hs.Event{ time = 1, type = "X", target = b })
    local s = sim:run()
    assert.equal(4, s.events_processed)
    assert.equal(0, s.events_cancelled)
    assert.equal(3, s.duration_s)
    assert.equal(7, s.seed)
    assert.equal(3, s.entities.a.events_handled)
    assert.equal(1, s.entities.b.events_handled)
    assert.equal("lua", s.entities.a.kind)
    assert.is_number(s.wall_clock_seconds)
    assert.is_number(s.events_per_wall_second)
    assert.matches("^%x+$", s.trace_hash)
    assert.same(s.entities, sim:summary().entities)
  end)
end)

describe("Closing", function()
  it("raises on use after close, a second close and fields read after it included", function()
    local sim = hs.Simulation{}
    sim:schedule(hs.Event{ time = 1, type = "X", target = function() end })
    sim:close()
    assert.has_error(function() sim:close() end, "close: the simulation is already closed")
    for _, field in ipairs{ "now", "pending", "seed", "end_time", "events_processed", "running" } do
      assert.has_error(function() return sim[field] end, "sim." .. field .. ": the simulation is closed")
    end
    assert.matches("closed", tostring(sim))
    assert.is_true(sim.closed)
    assert.has_error(function() sim:run() end, "run: the simulation is closed")
    assert.has_error(function() sim:random() end, "random: the simulation is closed")
  end)

  it("works as a to-be-closed variable", function()
    local captured
    do
      local sim <close> = hs.Simulation{}
      captured = sim
    end
    assert.is_true(captured.closed)
  end)
end)
