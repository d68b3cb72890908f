--- hs.Entity: the base class of entities written in Lua.
--
--   local Pinger = hs.Entity:extend("Pinger")
--   function Pinger:init(opts) self.peer = opts.peer end
--   function Pinger:handle_event(ev) ... end       -- runs as a process
--   local p = Pinger{ name = "p1", peer = "p2" }
--
-- hs.Entity{ name = ..., handle_event = fn } makes a one-off entity. Registering an
-- entity with a simulation (by scheduling an event to it, or sim:register) sets
-- entity.sim; entity.now and entity:random() then read the simulation.
--
-- Crash and restart: entity:crash() stops its processes and drops what is sent to it;
-- entity:restart() brings it back with its volatile state lost: the instance is rebuilt
-- from its constructor options (init runs again), then gets back the functions set on it
-- (methods are code, not state: `e.handle_event = f` survives a crash) and the fields the
-- class lists in `durable`, with their values from before the crash; then on_restart() runs.
--
-- Pause and resume: entity:pause() freezes it (what comes due for it waits, in order),
-- entity:resume() lets it go on where it was; entity.paused says which.

local core = require("happysim.core")
local classes = require("happysim.class")

local Entity = { class_name = "Entity" }

-- What an instance reads when it has no such field: `now`, else class[key] (methods,
-- through the superclass chain), else `crashed` or `paused`, else nil. The function is C
-- (core.entity_index): every method lookup of a handler goes through it. It reads `now`
-- itself and asks this for the other two (and for `now` when `sim` is not a Simulation).
local function fallback(self, key)
  local sim = rawget(self, "sim")
  if key == "now" then
    return sim and sim.now
  elseif key == "crashed" then
    return sim ~= nil and core.is_crashed(sim, self)
  elseif key == "paused" then
    return sim ~= nil and core.is_paused(sim, self)
  end
end

-- Instances read `now` before their class (it is read in most handlers), unless the class or
-- a superclass defines `now` itself: then the class comes first, as for any other key.
local function defines_now(class)
  while class do
    if rawget(class, "now") ~= nil then return true end
    class = rawget(class, "super")
  end
  return false
end

local function class_index(class)
  return core.entity_index(class, fallback, defines_now(class))
end

local build = classes.build

local function instantiate(class, opts)
  opts = classes.options(class, opts)
  if opts.name ~= nil and type(opts.name) ~= "string" then
    error(("bad argument #1 to '%s' (field 'name' must be a string, got %s)"):format(class.class_name, type(opts.name)), 2)
  end
  local self = setmetatable({ name = opts.name, _opts = opts }, class.__instance_mt)
  build(class, self, opts)
  local handler = self.handle_event
  if handler ~= nil and type(handler) ~= "function" then
    error(("bad argument #1 to '%s' (field 'handle_event' must be a function, got %s)"):format(class.class_name,
      type(handler)), 2)
  end
  return self
end

local function define(class, key, value)
  rawset(class, key, value)
  if key == "now" then class.__instance_mt.__index = core.entity_index(class, fallback, defines_now(class)) end
end

local function setup(class)
  return classes.setup(class, { __index = class_index(class), __name = "happysim." .. class.class_name, __class = class,
    __tostring = function(self) return class.class_name .. " '" .. tostring(rawget(self, "name")) .. "'" end },
    { __newindex = define, __call = instantiate, __name = "happysim.EntityClass" })
end

--- Entity:extend(name) -> a subclass; call it with options to make instances.
function Entity:extend(name) return classes.extend(self, name, setup) end

--- self:random([suffix]) -> this entity's own random stream (deterministic per name).
function Entity:random(suffix)
  local sim = rawget(self, "sim")
  if not sim then error("random: entity '" .. tostring(self.name) .. "' is not registered with a simulation", 2) end
  if sim.closed then error("random: the simulation is closed", 2) end
  if suffix ~= nil and type(suffix) ~= "string" and type(suffix) ~= "number" then
    error("bad argument #1 to 'random' (string expected, got " .. type(suffix) .. ")", 2)
  end
  return sim:random(suffix and (self.name .. ":" .. suffix) or self.name)
end

local function sim_of(self, fname)
  local sim = rawget(self, "sim")
  if not sim then
    error(fname .. ": entity '" .. tostring(rawget(self, "name")) .. "' is not registered with a simulation", 3)
  end
  if sim.closed then error(fname .. ": the simulation is closed", 3) end
  return sim
end

--- entity:crash() -> true if it was up. Its processes stop; events and messages to it drop.
function Entity:crash()
  if not core.crash(sim_of(self, "crash"), self) then return false end
  if self.on_crash then self:on_crash() end
  return true
end

--- entity:restart() -> true if it was crashed. Volatile state is rebuilt, durable kept.
function Entity:restart()
  local sim = sim_of(self, "restart")
  if not core.restart(sim, self) then return false end
  local class = getmetatable(self).__class
  local keep = { name = rawget(self, "name"), sim = sim, _opts = rawget(self, "_opts") }
  for k, v in pairs(self) do
    if type(v) == "function" then keep[k] = v end -- its methods
  end
  for _, field in ipairs(class.durable or {}) do keep[field] = rawget(self, field) end
  for k in pairs(self) do rawset(self, k, nil) end
  rawset(self, "name", keep.name)
  rawset(self, "sim", sim)
  build(class, self, keep._opts or {})
  for k, v in pairs(keep) do rawset(self, k, v) end
  if self.on_restart then self:on_restart() end
  return true
end

--- entity:pause() -> true if it was up, false if it was paused already. A paused entity
-- handles nothing: messages and events that come due for it, and the wake-ups of its
-- handlers, wait until entity:resume() and then run in the order they came due. Its state is
-- kept. A crashed entity cannot be paused: that raises.
function Entity:pause()
  local sim = sim_of(self, "pause")
  if core.is_crashed(sim, self) then
    error("pause: entity '" .. tostring(rawget(self, "name")) .. "' is crashed (restart it first)", 2)
  end
  return core.pause(sim, self)
end

--- entity:resume() -> true if it was paused.
function Entity:resume()
  return core.resume(sim_of(self, "resume"), self)
end

setup(Entity)
Entity.init = nil -- the base class copies its options (name, handle_event, ...) onto the instance

return Entity
