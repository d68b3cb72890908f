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
