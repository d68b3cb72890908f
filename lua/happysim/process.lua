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
    self._join:reject(errors.new("cancelled", "process '" .. self.name .. "' was cancelled"))
    return true
  end
  return false
end

Process.__index = function(self, key)
  if key == "state" then return core.process_state(self.sim, self._slot, self._gen) end
  if key == "done" then return self._join.done end
  return Process[key]
end

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
  local function on_done(_, ...) join:resolve(...) end
  local slot, gen = core.spawn(sim, delay or 0, on_done, name, fn, ...)
  return setmetatable({ sim = sim, name = name, _slot = slot, _gen = gen, _join = join }, Process)
end

local methods = core.sim_methods()

--- sim:spawn(fn, ...) -> Process: fn(...) starts as a process at the current time.
function methods:spawn(fn, ...)
  return start(self, nil, fn, ...)
end

--- sim:after(dt, fn, ...) -> Process: fn(...) starts as a process at now + dt.
function methods:after(dt, fn, ...)
  if type(dt) ~= "number" or dt ~= dt or dt < 0 or dt == math.huge then
    error("bad argument #1 to 'after' (delay must be a finite number of seconds >= 0, got " .. tostring(dt) .. ")", 2)
  end
  return start(self, dt, fn, ...)
end

--- hs.await(future) -> the future's values, or nil and the error when it was rejected.
local function await(f)
  if not future.is_future(f) then
    error("bad argument #1 to 'await' (Future expected, got " .. type(f) .. ")", 2)
  end
  if not f.done then
    f:on_settle(core.waker("hs.await"))
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
  if type(dt) ~= "number" or dt ~= dt or dt < 0 or dt == math.huge then
    error("bad argument #2 to 'timeout' (delay must be a finite number of seconds >= 0, got " .. tostring(dt) .. ")", 2)
  end
  if sim == nil then sim = core.current_process("hs.timeout") end
  local out = future.new()
  if f.done then
    if f.ok then out:resolve(table.unpack(f.values, 1, f.n)) else out:reject(f.error) end
    return out
  end
  local timer = sim:timer(dt, function()
    out:reject(errors.new("timeout", ("no result within %g s"):format(dt)))
  end)
  f:on_settle(function()
    timer:cancel()
    if f.ok then out:resolve(table.unpack(f.values, 1, f.n)) else out:reject(f.error) end
  end)
  return out
end

return { await = await, timeout = timeout, Process = Process }
