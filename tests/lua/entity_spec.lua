local hs = require("happysim")

describe("hs.Entity", function()
  it("extend makes classes with init, inheritance and tostring", function()
    local Base = hs.Entity:extend("Base")
    function Base:init(opts) self.x = opts.x or 1 end
    function Base:hello() return "base " .. self.x end
    local Child = Base:extend("Child")
    function Child:hello() return "child " .. Base.hello(self) end
    local c = Child{ name = "c", x = 5 }
    assert.equal("child base 5", c:hello())
    assert.equal("c", c.name)
    assert.equal("Child 'c'", tostring(c))
    assert.equal("Child", Child.class_name)
  end)

  it("hs.Entity{...} makes a one-off entity", function()
    local sim = hs.Simulation{}
    local got
    local e = hs.Entity{ name = "one", handle_event = function(self, ev) got = { self.name, ev.type, self.now } end }
    sim:schedule(hs.Event{ time = 3, type = "Ping", target = e })
    sim:run()
    assert.same({ "one", "Ping", 3 }, got)
  end)

  it("registration sets sim, generates names, and rejects duplicates", function()
    local sim = hs.Simulation{}
    local e = hs.Entity{ handle_event = function() end }
    sim:register(e)
    assert.equal(sim, e.sim)
    assert.matches("^entity%-%d+$", e.name)
    assert.equal(e, sim:register(e)) -- idempotent
    local a = hs.Entity{ name = "dup", handle_event = function() end }
    local b = hs.Entity{ name = "dup", handle_event = function() end }
    sim:register(a)
    assert.has_error(function() sim:register(b) end,
      "an entity named 'dup' is already registered with this simulation")
    local other = hs.Simulation{}
    assert.has_error(function() other:register(a) end, "entity is registered with another simulation")
  end)

  it("Simulation{ entities = ... } registers them in order", function()
    local a = hs.Entity{ name = "a", handle_event = function() end }
    local b = hs.Entity{ name = "b", handle_event = function() end }
    local sim = hs.Simulation{ entities = { a, b } }
    local s = sim:summary()
    assert.equal(1, s.entities.a.order)
    assert.equal(2, s.entities.b.order)
  end)

  it("an entity without handle_event fails the run clearly", function()
    local sim = hs.Simulation{}
    local e = hs.Entity{ name = "mute" }
    sim:schedule(hs.Event{ time = 1, type = "X", target = e })
    assert.has_error(function() sim:run() end,
      "happysim: error at t=1.0 in entity 'mute' handling 'X': the entity has no handle_event method")
  end)

  it("self:random() is a per-entity deterministic stream", function()
    local function draws(extra)
      local sim = hs.Simulation{ seed = 99 }
      local ents = {}
      if extra then sim:register(hs.Entity{ name = "zzz", handle_event = function() end }) end
      local e = hs.Entity{ name = "e", handle_event = function() end }
      sim:register(e)
      if extra then sim:random("zzz"):random() end
      local r = e:random()
      return { r:random(), r:random(), r:random(1, 100) }
    end
    assert.same(draws(false), draws(true))
    assert.has_error(function() hs.Entity{ name = "loose" }:random() end)
  end)

  it("validates options", function()
    assert.has_error(function() hs.Entity{ name = 3 } end,
      "bad argument #1 to 'Entity' (field 'name' must be a string, got number)")
    assert.has_error(function() hs.Entity("x") end)
    assert.has_error(function() hs.Entity:extend(42) end)
  end)
end)

-- Handlers run on a pooled coroutine, are found without calling the instances' __index, and
-- what they return is scheduled without a protected call when it is plain: none of that may
-- show. These pin down what the fast paths must keep.
describe("Lua entity handlers (the fast paths keep the semantics)", function()
  it("find handle_event on the instance, its class or a superclass, as indexing does, live", function()
    local sim = hs.Simulation{}
    local log = {}
    local Base = hs.Entity:extend("Base")
    function Base:handle_event(ev) log[#log + 1] = "base " .. ev.type end
    local Derived = Base:extend("Derived")
    local d, own = Derived{ name = "d" }, Derived{ name = "own" }
    own.handle_event = function(self, ev) log[#log + 1] = "own " .. ev.type end
    sim:schedule(hs.Event{ time = 1, type = "A", target = d })
    sim:schedule(hs.Event{ time = 1, type = "B", target = own })
    sim:schedule(hs.Event{ time = 3, type = "D", target = d })
    sim:run_until(2)
    function Derived:handle_event(ev) log[#log + 1] = "derived " .. ev.type end -- changed after registration
    sim:run()
    assert.same({ "base A", "own B", "derived D" }, log)
  end)

  it("work for plain tables and for tables with their own __index", function()
    local sim = hs.Simulation{}
    local got = {}
    local plain = { name = "plain", handle_event = function(self, ev) got[#got + 1] = self.name end }
    local proto = { handle_event = function(self, ev) got[#got + 1] = self.name end }
    local custom = setmetatable({ name = "custom" }, { __index = proto })
    sim:schedule{ hs.Event{ time = 1, target = plain }, hs.Event{ time = 2, target = custom } }
    sim:run()
    assert.same({ "plain", "custom" }, got)
  end)

  it("self.now is the simulation's time unless the class defines now; nil before registration", function()
    local sim = hs.Simulation{}
    local E = hs.Entity:extend("E")
    local seen
    function E:handle_event() seen = self.now end
    local e = E{ name = "e" }
    assert.is_nil(e.now)
    sim:schedule(hs.Event{ time = 2.5, target = e })
    sim:run()
    assert.equal(2.5, seen)
    assert.equal(2.5, e.now)
    local F = hs.Entity:extend("F")
    F.now = "class field"
    assert.equal("class field", F{ name = "f" }.now)
    assert.is_false(e.crashed)
    assert.is_false(e.paused)
    assert.is_nil(e.no_such_field)
  end)

  it("schedule what they return in order: events, lists, new targets, functions", function()
    local sim = hs.Simulation{}
    local order = {}
    local sink = hs.Entity{ name = "sink", handle_event = function(self, ev) order[#order + 1] = ev.type end }
    local late = hs.Entity{ name = "late", handle_event = function(self, ev) order[#order + 1] = ev.type end }
    local src = hs.Entity{ name = "src", handle_event = function(self, ev)
      return hs.Event{ time = 1, type = "one", target = sink },
        { hs.Event{ time = 1, type = "two", target = late }, -- registered by being scheduled
          hs.Event{ time = 1, type = "three", target = function() order[#order + 1] = "three" end } },
        nil,
        hs.Event{ time = 1, type = "four", target = sink }
    end }
    sim:schedule(hs.Event{ time = 0, type = "go", target = src })
    sim:run()
    assert.same({ "one", "two", "three", "four" }, order)
    assert.equal(3, sim:summary().entities.late.order)
  end)

  it("raise as before on what cannot be scheduled", function()
    local function fails_with(ret, pattern)
      local sim = hs.Simulation{}
      local e
      e = hs.Entity{ name = "e", handle_event = function(self, ev)
        if ev.type == "go" then return ret(self) end
      end }
      sim:schedule(hs.Event{ time = 1, type = "go", target = e })
      local ok, msg = pcall(sim.run, sim)
      assert.is_false(ok)
      assert.matches(pattern, msg, 1, true)
    end
    fails_with(function(self) return hs.Event{ time = 0.5, target = self } end, "time 0.5 is before now (1.0)")
    fails_with(function(self)
      local ev = hs.Event{ time = 2, target = self }
      self.sim:schedule(ev)
      return ev
    end, "event 'Event' is already scheduled")
    fails_with(function() return 42 end, "handler returned a number")
    fails_with(function() return { 1 } end, "handler returned a list whose item 1 is a number")
  end)

  it("hs.Event keeps its fields and its errors", function()
    local e = hs.Entity{ name = "e", handle_event = function() end }
    local ev = hs.Event{ time = 1.5, target = e, payload = { 1 }, daemon = true }
    assert.equal("Event", ev.type)
    assert.equal(1.5, ev.time)
    assert.equal(e, ev.target)
    assert.same({ 1 }, ev.payload)
    assert.is_true(ev.daemon)
    assert.is_false(ev.pending)
    assert.equal("Tick", hs.Event{ time = 0, type = "Tick", target = e }.type)
    assert.has_error(function() hs.Event{ time = 1, target = e, typ = "X" } end)
    assert.has_error(function() hs.Event{ time = -1, target = e } end)
    assert.has_error(function() hs.Event{ time = 1, target = e, type = 3 } end,
      "bad argument #1 to 'Event' (field 'type' must be a string, got number)")
    assert.has_error(function() hs.Event{ time = 1, target = 3 } end,
      "bad argument #1 to 'Event' (field 'target' must be an entity or a function, got number)")
    assert.has_error(function() hs.Event{ time = 1, target = e, daemon = "yes" } end)
    assert.has_error(function() hs.Event{ target = e } end, "bad argument #1 to 'Event' (field 'time' is required)")
    local inherited = setmetatable({}, { __index = { time = 2, target = e } }) -- read as before, through __index
    assert.equal(2, hs.Event(inherited).time)
  end)

  it("a fired event is no longer pending and cannot be cancelled; it can be scheduled again", function()
    local sim = hs.Simulation{}
    local n = 0
    local ev = hs.Event{ time = 1, target = function() n = n + 1 end }
    sim:schedule(ev)
    assert.is_true(ev.pending)
    sim:run()
    assert.is_false(ev.pending)
    assert.is_false(ev:cancel())
    local sim2 = hs.Simulation{}
    sim2:schedule(ev) -- on another simulation
    sim2:run()
    assert.equal(2, n)
  end)
end)
