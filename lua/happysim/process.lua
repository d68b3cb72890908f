--- Processes started with sim:spawn / sim:after, and hs.await / hs.timeout.

local core = require("happysim.core")
local future = require("happysim.future")
local errors = require("happysim.errors")

local Process = {}
Process.__index = Process
Process.__name = "happysim.Process"

function Process:__tostring()
  return ("Process '%s' (%s)"):format(self.name, self.state)
end

--- process:join() -> a Future that resolves with the function's return values.
function Process:join()
  return self._join
end

--- process:cancel() -> true if it was pending, sleeping or parked and is now stopped.
function Process:cancel()
  if core.kill(self.sim, self._slot, self._gen) then
    self._join:_settle(false, errors.new("cancelled", "process '" .. self.name .. "' was cancelled"))
    return true
  end
  return false
end

Process.__index = function(self, key)
  if key == "state" then return core.process_state(self.sim, self._slot, self._gen) end
  if key == "done" then return self._join.done end
  return Process[key]
end

-- The longest delay the engine takes (HS_TIME_MAX_S: about 285 years of simulated time).
local MAX_DELAY = 9.0e9

-- Whether dt is a delay the engine takes: a number of seconds in [0, MAX_DELAY].
local function valid_delay(dt)
  return type(dt) == "number" and dt >= 0 and dt <= MAX_DELAY -- false for NaN
end

local as_public = errors.call_as
-- Called in tail position by sim:spawn and sim:after: error level 2 is their caller.
local function start(sim, delay, fn, ...)
  if type(fn) ~= "function" then
    error("bad argument #" .. (delay and 2 or 1) .. " to '" .. (delay and "after" or "spawn") ..
      "' (function expected, got " .. type(fn) .. ")", 2)
  end
  if sim.closed then error((delay and "after" or "spawn") .. ": the simulation is closed", 2) end
  local join = future.new()
  local info = debug.getinfo(fn, "S")
  local name = info and (info.short_src .. ":" .. info.linedefined) or "process"
  local function on_done(_, ...) join:_settle(true, ...) end
  local slot, gen = as_public(delay and "after" or "spawn", "spawn", core.spawn, sim, delay or 0, on_done, name, fn, ...)
  return setmetatable({ sim = sim, name = name, _slot = slot, _gen = gen, _join = join }, Process)
end

local methods = core.sim_methods()

--- sim:spawn(fn, ...) -> Process: fn(...) starts as a process at the current time.
function methods:spawn(fn, ...)
  return start(self, nil, fn, ...)
end

--- sim:after(dt, fn, ...) -> Process: fn(...) starts as a process at now + dt.
function methods:after(dt, fn, ...)
  if not valid_delay(dt) then
    error(("bad argument #1 to 'after' (delay must be a number of seconds in [0, %g], got %s)"):format(MAX_DELAY, tostring(dt)), 2)
  end
  return start(self, dt, fn, ...)
end

--- hs.await(future) -> the future's values, or nil and the error when it was rejected.
local function await(f)
  if not future.is_future(f) then
    error("bad argument #1 to 'await' (Future expected, got " .. type(f) .. ")", 2)
  end
  if not f.done then
    local ok, waker = pcall(core.waker, "hs.await")
    if not ok then error((tostring(waker):gsub("^[^\n]-process%.lua:%d+: ", "")), 2) end
    f:on_settle(waker)
    core.park()
  end
  return f:result()
end

--- hs.timeout(f, dt [, sim]) -> a Future settled like f, or rejected with code "timeout"
-- if f is still pending after dt seconds. sim defaults to the running process's.
local function timeout(f, dt, sim)
  if not future.is_future(f) then
    error("bad argument #1 to 'timeout' (Future expected, got " .. type(f) .. ")", 2)
  end
  if not valid_delay(dt) then
    error(("bad argument #2 to 'timeout' (delay must be a number of seconds in [0, %g], got %s)"):format(MAX_DELAY, tostring(dt)), 2)
  end
  if sim == nil then
    local ok, current = pcall(core.current_process, "hs.timeout")
    if not ok then error((tostring(current):gsub("^[^\n]-process%.lua:%d+: ", "")), 2) end
    sim = current
  end
  local out = future.new()
  if f.done then
    if f.ok then out:resolve(table.unpack(f.values, 1, f.n)) else out:reject(f.error) end
    return out
  end
  local timer = as_public("timeout", "timer", sim.timer, sim, dt, function()
    out:_settle(false, errors.new("timeout", ("no result within %g s"):format(dt)))
  end)
  f:on_settle(function()
    timer:cancel()
    if f.ok then out:_settle(true, table.unpack(f.values, 1, f.n)) else out:_settle(false, f.error) end
  end)
  return out
end

return { await = await, timeout = timeout, Process = Process }
