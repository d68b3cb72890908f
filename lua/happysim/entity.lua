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

local Entity = { class_name = "Entity" }

local function class_index(class)
  return function(self, key)
    local v = class[key]
    if v ~= nil then return v end
    if key == "now" then
      local sim = rawget(self, "sim")
      return sim and sim.now
    end
  end
end

local function instantiate(class, opts)
  if opts ~= nil and type(opts) ~= "table" then
    error(("bad argument #1 to '%s' (table of options expected, got %s)"):format(class.class_name, type(opts)), 3)
  end
  opts = opts or {}
  if opts.name ~= nil and type(opts.name) ~= "string" then
    error(("bad argument #1 to '%s' (field 'name' must be a string, got %s)"):format(class.class_name, type(opts.name)), 3)
  end
  local self = setmetatable({ name = opts.name }, class.__instance_mt)
  if class.init then
    class.init(self, opts)
  else
    for k, v in pairs(opts) do self[k] = v end
  end
  return self
end

local function setup(class)
  class.__instance_mt = { __index = class_index(class), __name = "happysim." .. class.class_name,
    __tostring = function(self) return class.class_name .. " '" .. tostring(rawget(self, "name")) .. "'" end }
  return setmetatable(class, {
    __index = rawget(class, "super"),
    __call = instantiate,
    __name = "happysim.EntityClass",
  })
end

--- Entity:extend(name) -> a subclass; call it with options to make instances.
function Entity:extend(name)
  if type(name) ~= "string" then
    error("bad argument #1 to 'extend' (class name string expected, got " .. type(name) .. ")", 2)
  end
  return setup({ class_name = name, super = self })
end

--- self:random([suffix]) -> this entity's own random stream (deterministic per name).
function Entity:random(suffix)
  local sim = rawget(self, "sim")
  if not sim then error("random: entity '" .. tostring(self.name) .. "' is not registered with a simulation", 2) end
  return sim:random(suffix and (self.name .. ":" .. suffix) or self.name)
end

setup(Entity)
Entity.init = nil -- the base class copies its options (name, handle_event, ...) onto the instance

return Entity
