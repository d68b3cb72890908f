--- hs.Future: a value that becomes available later, and its combinators.
-- A future settles once: resolve(...) or reject(err). Processes wait on it with
-- hs.await; callbacks registered with :on_settle run synchronously when it settles.

local errors = require("happysim.errors")

local Future = {}
Future.__index = Future
Future.__name = "happysim.Future"

local function is_future(v)
  return getmetatable(v) == Future
end

-- The constructor names every field settling fills in (nil ones too), so the table is
-- sized for them once and settling does not rehash it: futures are made per request.
local function new()
  return setmetatable({ done = false, ok = nil, n = 0, value = nil, values = nil, _waiters = nil }, Future)
end

function Future:__tostring()
  if not self.done then return "Future (pending)" end
  if self.ok then return "Future (resolved)" end
  return "Future (rejected: " .. tostring(self.error) .. ")"
end

local function settle(self, ok, ...)
  if self.done then return false end
  self.done, self.ok = true, ok
  if ok then
    self.n = select("#", ...)
    self.values = { ... }
    self.value = (...)
  else
    self.error = (...)
  end
  local waiters = self._waiters -- nil, one function, or a list of them
  if waiters then
    self._waiters = nil
    if type(waiters) == "function" then
      waiters(self)
    else
      for i = 1, #waiters do waiters[i](self) end
    end
  end
  return true
end

-- Raises the error of settling a future twice, at the caller of resolve/reject.
local function settled_error(self, fname)
  error(("%s: the Future is already %s (a Future settles once)"):format(fname, self.ok and "resolved" or "rejected"), 3)
end

--- Resolves with any number of values; returns true. Raises if it was already settled.
function Future:resolve(...)
  if not is_future(self) then error("bad argument #1 to 'resolve' (Future expected)", 2) end
  if self.done then settled_error(self, "resolve") end
  return settle(self, true, ...)
end

--- Rejects with an error value (a table {code=, message=} by convention; a string is wrapped);
-- returns true. Raises if it was already settled.
function Future:reject(err)
  if not is_future(self) then error("bad argument #1 to 'reject' (Future expected)", 2) end
  if err == nil then error("bad argument #1 to 'reject' (an error value is required)", 2) end
  if self.done then settled_error(self, "reject") end
  if type(err) == "string" then err = errors.new("error", err) end
  return settle(self, false, err)
end

--- f:_settle(ok, ...) -> true if it settled now, false if it had settled before. For the
-- library's own races (the first of several outcomes wins: any_of, timeouts, a duplicated
-- reply), where a second outcome is expected and ignored.
function Future:_settle(ok, ...)
  return settle(self, ok, ...)
end

--- Calls fn(future) when it settles (at once if it already has).
function Future:on_settle(fn)
  if type(fn) ~= "function" then error("bad argument #1 to 'on_settle' (function expected, got " .. type(fn) .. ")", 2) end
  if self.done then
    fn(self)
  else
    local w = self._waiters
    if not w then
      self._waiters = fn -- the common case, one waiter: no list
    elseif type(w) == "function" then
      self._waiters = { w, fn }
    else
      w[#w + 1] = fn
    end
  end
  return self
end

--- The outcome as await returns it: the values, or nil and the error.
function Future:result()
  if not self.done then error("result: the future is still pending", 2) end
  if self.ok then return table.unpack(self.values, 1, self.n) end
  return nil, self.error
end

local function check_list(fname, list)
  if type(list) ~= "table" then
    error(("bad argument #1 to '%s' (list of futures expected, got %s)"):format(fname, type(list)), 3)
  end
  for i = 1, #list do
    if not is_future(list[i]) then
      error(("bad argument #1 to '%s' (item %d is not a Future)"):format(fname, i), 3)
    end
  end
end

--- Resolves to (index, value) of the first future to resolve; rejects with code
-- "all_rejected" (and the list of errors) if every one rejects.
local function any_of(list)
  check_list("any_of", list)
  local out, n, rejected, errs = new(), #list, 0, {}
  if n == 0 then
    out:_settle(false, errors.new("all_rejected", "any_of: empty list", { errors = errs }))
    return out
  end
  for i = 1, n do
    list[i]:on_settle(function(f)
      if f.ok then
        out:_settle(true, i, f.value)
      else
        rejected = rejected + 1
        errs[i] = f.error
        if rejected == n then out:_settle(false, errors.new("all_rejected", "any_of: every future was rejected", { errors = errs })) end
      end
    end)
  end
  return out
end

--- Resolves to the list of values once all resolve; rejects with the first rejection.
local function all_of(list)
  check_list("all_of", list)
  local out, n, left, values = new(), #list, #list, {}
  if n == 0 then
    out:_settle(true, values)
    return out
  end
  for i = 1, n do
    list[i]:on_settle(function(f)
      if f.ok then
        values[i] = f.value
        left = left - 1
        if left == 0 then out:_settle(true, values) end
      else
        out:_settle(false, f.error)
      end
    end)
  end
  return out
end

return { new = new, is_future = is_future, any_of = any_of, all_of = all_of, Future = Future }
