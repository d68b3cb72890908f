--- Breakpoints for exploring a run step by step (the REPL's pause, step and break, as
-- happysimulator's control API offers them):
--
--   sim:break_on{ type = "RequestVote" }          -- also target = "n3", after = 2.5 (s),
--                                                 -- where = function(time, type, target) ... end
--   sim:continue()      -- runs until the next event matches a breakpoint, and stops before it:
--                       -- returns time, type, target of that event; nil when the run ends
--   sim:run_until(function() return leader() ~= nil end)   -- steps until the condition holds
--   sim:peek()          -- time, type, target of the next event (core, hs_lua_sim.c)
--
-- They step the run one event at a time (sim:step(1)), so they are for exploring, not for
-- long runs; sim:run() and sim:run_until(t) do not stop at breakpoints.

local core = require("happysim.core")
local errors = require("happysim.errors")

local methods = core.sim_methods()
local breakpoints = setmetatable({}, { __mode = "k" }) -- sim -> list of breakpoints

local SPEC = { type = "string", target = "string", after = "number", where = "function" }

local Breakpoint = {}
Breakpoint.__index = Breakpoint
Breakpoint.__name = "happysim.Breakpoint"

function Breakpoint:__tostring()
  local parts = {}
  for _, k in ipairs{ "type", "target", "after" } do
    if self[k] ~= nil then parts[#parts + 1] = k .. " = " .. tostring(self[k]) end
  end
  if self.where then parts[#parts + 1] = "where = <function>" end
  return "Breakpoint { " .. table.concat(parts, ", ") .. " }" .. (self.removed and " (removed)" or "")
end

--- bp:remove() -> true if it was set.
function Breakpoint:remove()
  local list = breakpoints[self.sim]
  for i, b in ipairs(list or {}) do
    if b == self then
      table.remove(list, i)
      self.removed = true
      return true
    end
  end
  return false
end

local function matches(b, time, type, target)
  if b.type ~= nil and b.type ~= type then return false end
  if b.target ~= nil and b.target ~= target then return false end
  if b.after ~= nil and time < b.after then return false end
  if b.where ~= nil and not b.where(time, type, target) then return false end
  return true
end

--- sim:break_on{ type =, target =, after =, where = } -> a breakpoint (bp:remove()).
function methods:break_on(spec)
  if type(spec) ~= "table" then
    error("bad argument #1 to 'break_on' (table { type =, target =, after =, where = } expected, got " .. type(spec) .. ")", 2)
  end
  local b = setmetatable({ sim = self }, Breakpoint)
  for k, v in pairs(spec) do
    if SPEC[k] == nil then error(("bad argument #1 to 'break_on' (unknown field '%s')"):format(tostring(k)), 2) end
    if type(v) ~= SPEC[k] then
      error(("bad argument #1 to 'break_on' (field '%s' must be a %s, got %s)"):format(k, SPEC[k], type(v)), 2)
    end
    b[k] = v
  end
  if self.closed then error("break_on: the simulation is closed", 2) end
  local list = breakpoints[self] or {}
  breakpoints[self] = list
  list[#list + 1] = b
  return b
end

--- sim:breakpoints() -> the list of breakpoints set.
function methods:breakpoints()
  local out = {}
  for i, b in ipairs(breakpoints[self] or {}) do out[i] = b end
  return out
end

--- sim:continue() -> time, type, target of the event a breakpoint stopped before, or nil
-- when the run ended first. It first takes the event it stopped before, if any, so repeated
-- calls go from breakpoint to breakpoint.
function methods:continue()
  if self.closed then error("continue: the simulation is closed", 2) end
  local first = true
  while true do
    local time, etype, target = self:peek()
    if time == nil then return nil end
    if not first then
      for _, b in ipairs(breakpoints[self] or {}) do
        if matches(b, time, etype, target) then return time, etype, target end
      end
    end
    first = false
    self:step(1)
  end
end

local c_run_until = methods.run_until
methods._run_until = c_run_until

--- sim:run_until(t) runs to simulated time t (core); sim:run_until(cond) steps until cond()
-- returns true (then true), or until no event is left (then false).
function methods:run_until(...)
  local t = ...
  if type(t) == "function" then
    if self.closed then error("run_until: the simulation is closed", 2) end
    while not t() do
      if self:peek() == nil then return false end
      self:step(1)
    end
    return true
  end
  local args = table.pack(...)
  local res = table.pack(errors.call_as("run_until", "_run_until",
    function() return self:_run_until(table.unpack(args, 1, args.n)) end))
  return table.unpack(res, 1, res.n) -- not a tail call: call_as raises at run_until's caller
end

return {}
