--- Invariants: checks attached to a simulation that fail the run at the first violation.
--
--   sim:invariant("one leader per term", function(sim) ... end)          -- after every event
--   sim:invariant("log matching", fn, { every = 100 })                    -- after every 100th event
--   sim:invariant("bounded queue", fn, { period = 0.5 })                  -- every 0.5 simulated s
--   sim:invariant("all committed", fn, { at_end = true })                 -- only when sim:run() returns
--   hs.invariant(sim, name, fn, opts) is the same as sim:invariant(name, fn, opts).
--
-- A check returns nothing or true when the invariant holds, and false (with an optional
-- message) or raises an error when it does not. Checks given `every` or `period` (and the
-- default, every event) also run once more when sim:run() returns, unless at_end = false.
--
-- The first violation stops the run: sim:run() (or run_until / step) raises
--   invariant 'one leader per term' violated at t=12.5 (seed 42) after event Tick on n1: ...
-- and invariants.violation(sim) returns it as a table { invariant, message, time, seed,
-- event = { type, target } }. Per-event checks observe events through sim:trace (which
-- still works for users: their trace function is kept and called too). A simulation
-- with invariants has its run / run_until / step / trace routed through this module (C
-- wrappers in core.check leave every other simulation untouched). A check "after"
-- an event runs just before the next one is dispatched, or when the run returns, so the
-- event that follows a violation may already have started when the run stops. Periodic
-- checks are daemon timers: they add events of their own (and change the trace hash),
-- never draw random numbers, and do not keep a run alive.

local core = require("happysim.core")

local M = {}

local methods = core.sim_methods()
local orig -- the engine's run, run_until, step and trace (set at the end of this file)

local states = setmetatable({}, { __mode = "k" }) -- sim -> per-simulation state

local function show_time(t) return ("%.9g"):format(t) end

local function is_sim(v)
  local mt = type(v) == "userdata" and getmetatable(v)
  return mt and mt.__name == "happysim.Simulation" or false
end

local function violation_message(v)
  local s = ("invariant '%s' violated at t=%s (seed %s)"):format(v.invariant, show_time(v.time), tostring(v.seed))
  if v.event then
    s = s .. (" after event %s%s"):format(v.event.type or "?", v.event.target and (" on " .. v.event.target) or "")
  elseif v.when == "end" then
    s = s .. " at the end of the run"
  end
  return s .. ": " .. v.message
end

-- Runs one check; records the first violation. Returns true when it holds.
local function run_check(S, sim, c, when, time, event)
  local ok, res, msg = pcall(c.fn, sim)
  local message
  if not ok then
    message = tostring(res)
  elseif res == false then
    message = msg ~= nil and tostring(msg) or "the check returned false"
  else
    return true
  end
  if not S.violation then
    S.violation = { invariant = c.name, message = message, time = time, seed = sim.seed, event = event, when = when }
    S.violation.text = violation_message(S.violation)
  end
  return false
end

local function raise(S)
  error(S.violation.text, 0)
end

-- The checks due after the last traced event.
local function check_last_event(S, sim)
  if not S.has_last then return end
  S.has_last = false
  S.events = S.events + 1
  local event = { type = S.last_type, target = S.last_target }
  for _, c in ipairs(S.event_checks) do
    if S.events % c.every == 0 and not run_check(S, sim, c, "event", S.last_time, event) then return end
  end
end

local function update_trace(sim, S)
  if #S.event_checks > 0 then
    orig.trace(sim, S.dispatch)
  else
    orig.trace(sim, S.user_trace)
  end
end

local function state_of(sim)
  local S = states[sim]
  if S then return S end
  S = { checks = {}, event_checks = {}, events = 0, has_last = false, user_trace = core.check.trace_of(sim) }
  S.dispatch = function(time, type, target)
    if not S.violation then
      check_last_event(S, sim)
      if S.violation then
        sim:stop()
      else
        S.has_last, S.last_time, S.last_type, S.last_target = true, time, type, target
      end
    end
    local user = S.user_trace
    if user then user(time, type, target) end
  end
  states[sim] = S
  core.check.hook_sim(sim, true)
  return S
end

local function check_opts(opts)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error("bad argument #4 to 'invariant' (options table expected, got " .. type(opts) .. ")", 4)
  end
  for k in pairs(opts) do
    if k ~= "every" and k ~= "period" and k ~= "at_end" then
      error("bad argument #4 to 'invariant' (unknown option '" .. tostring(k) .. "')", 4)
    end
  end
  if opts.every ~= nil and (math.type(opts.every) ~= "integer" or opts.every < 1) then
    error("bad argument #4 to 'invariant' (field 'every' must be a positive integer, got " .. tostring(opts.every) .. ")", 4)
  end
  if opts.period ~= nil and (type(opts.period) ~= "number" or opts.period ~= opts.period or opts.period <= 0
      or opts.period == math.huge) then
    error("bad argument #4 to 'invariant' (field 'period' must be a positive number of seconds, got "
      .. tostring(opts.period) .. ")", 4)
  end
  if opts.every and opts.period then
    error("bad argument #4 to 'invariant' (give 'every' or 'period', not both)", 4)
  end
  if opts.at_end ~= nil and type(opts.at_end) ~= "boolean" then
    error("bad argument #4 to 'invariant' (field 'at_end' must be a boolean, got " .. type(opts.at_end) .. ")", 4)
  end
  return opts
end

local Handle = { __name = "happysim.Invariant" }
Handle.__index = Handle

--- handle:remove(): the check no longer runs.
function Handle:remove()
  local S = states[self.sim]
  if not S or self.removed then return end
  self.removed = true
  for _, list in ipairs{ S.checks, S.event_checks } do
    for i = #list, 1, -1 do
      if list[i] == self.check then table.remove(list, i) end
    end
  end
  if self.timer then self.timer:cancel() end
  update_trace(self.sim, S)
end

local function add(sim, name, fn, opts)
  if type(name) ~= "string" then
    error("bad argument #2 to 'invariant' (name must be a string, got " .. type(name) .. ")", 3)
  end
  if type(fn) ~= "function" then
    error("bad argument #3 to 'invariant' (function expected, got " .. type(fn) .. ")", 3)
  end
  opts = check_opts(opts)
  local S = state_of(sim)
  local only_at_end = opts.at_end == true and opts.every == nil and opts.period == nil
  local c = { name = name, fn = fn, at_end = opts.at_end ~= false, every = opts.every, period = opts.period }
  local handle = setmetatable({ sim = sim, check = c, name = name }, Handle)
  S.checks[#S.checks + 1] = c
  if only_at_end then
    -- nothing during the run
  elseif c.period then
    local period = c.period
    handle.timer = sim:timer(period, function()
      if S.violation or handle.removed then return nil end
      if not run_check(S, sim, c, "period", sim.now) then
        sim:stop()
        return nil
      end
      return period
    end, { daemon = true })
  else
    c.every = c.every or 1
    S.event_checks[#S.event_checks + 1] = c
    update_trace(sim, S)
  end
  return handle
end

--- invariants.add(sim, name, fn [, opts]) -> handle (also sim:invariant(name, fn, opts) and hs.invariant)
function M.add(sim, name, fn, opts)
  if not is_sim(sim) then
    error("bad argument #1 to 'invariant' (Simulation expected, got " .. type(sim) .. ")", 2)
  end
  return add(sim, name, fn, opts)
end

--- invariants.violation(sim) -> the first violation as a table, or nil
function M.violation(sim)
  local S = states[sim]
  return S and S.violation or nil
end

--- invariants.check(sim [, when]): runs every check now; raises on a violation.
function M.check(sim, when)
  local S = states[sim]
  if not S then return true end
  if S.violation then raise(S) end
  for _, c in ipairs(S.checks) do
    if not run_check(S, sim, c, when or "manual", sim.now) then raise(S) end
  end
  return true
end

-- sim:run / run_until / step / trace of a simulation with invariants. After run,
-- run_until and step: the checks due after the last event; after run: the end checks.
local function hook(name, f, sim, ...)
  local S = states[sim]
  if not S then return f(sim, ...) end
  if name == "trace" then -- the user's trace function, called beside the per-event checks
    local fn = ...
    if select("#", ...) < 1 or (fn ~= nil and type(fn) ~= "function") then return f(sim, ...) end
    S.user_trace = fn
    update_trace(sim, S)
    return
  end
  if S.violation then raise(S) end
  local res = table.pack(pcall(f, sim, ...))
  if S.violation then raise(S) end -- it happened first: it wins over a later error
  if not res[1] then error(res[2], 0) end
  check_last_event(S, sim)
  if S.violation then raise(S) end
  if name == "run" then
    for _, c in ipairs(S.checks) do
      if c.at_end and not run_check(S, sim, c, "end", sim.now) then raise(S) end
    end
  end
  return table.unpack(res, 2, res.n)
end

orig = core.check.hook_methods(hook)

function methods.invariant(sim, name, fn, opts)
  return add(sim, name, fn, opts)
end

function methods.check_invariants(sim)
  return M.check(sim)
end

return M
