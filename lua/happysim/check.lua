--- hs.check: checking histories of client operations (docs/API.md §6).
--
--   local r = hs.check.linearizable(history, { model = "cas_register", max_steps = 1e7 })
--   hs.check.linearizable(history, "kv")           -- a model name or model table alone
--
-- Options: model (required); the budget, counted in work so that a verdict is the same on
-- every machine and under any load: max_steps (model steps, default 100,000,000) and
-- max_memory_mb (the search's own accounting of its memoized configurations, per
-- sub-history, default 1024); timeout (wall-clock seconds, default none: a guard only,
-- see r.timed_out); partition (false: check a partitioned model in one search; true:
-- partition a Lua model by key). A budget that runs out gives valid = "unknown", never a
-- hang.
--
-- The result (tostring gives r.message):
--   r.valid       true | false | "unknown"
--   r.message     one paragraph for humans
--   r.model, r.ops (operations checked), r.failed (fail ops left out), r.unknown (info
--   or never completed), r.partitions, r.steps, r.configurations, r.cpu_seconds
--   r.reason      when unknown: "step limit" or "memory limit" (the budget: the same
--                 everywhere), or "timeout" (the wall-clock guard: then r.timed_out is
--                 true, and the outcome depends on the machine and its load)
--   r.key         when false, for a partitioned model: the key that failed
--   r.anomaly     when false:
--     .op           the operation that cannot be linearized: it had to take effect before
--                   its completion, and no order of what was pending allows it
--     .concurrent   the other operations pending at that point, not linearized either
--     .ops          { op, concurrent... }: the operations that cannot be placed after the
--                   longest linearizable prefix
--     .prefix_length, .prefix   the longest linearizable prefix found: its length and its
--                   last (up to 10) operations, in order
--     .linearization   the invoke record indices of that whole prefix, in order
--     .state        the model state after that prefix
--     .key, .message
--   Each operation is { f, key, value, output, process, type ("ok" | "info"), index
--   (invoke record), complete_index, invoke_time, complete_time }.
--
-- A history is an array of Jepsen-style records ordered by time:
--   { process = 3, type = "invoke", f = "cas", key = "x", value = { 1, 2 }, time = 1.25 }
--   { process = 3, type = "ok",     f = "cas", key = "x", value = { 1, 2 }, time = 1.31 }
-- Each invoke pairs with the next completion of the same process. "ok": it took effect
-- (a read's ok carries the value read); "fail": it certainly did not, and is left out;
-- "info" (or no completion at all): it may take effect at any time after its invoke, or
-- never. Real-time order is the order of the records: an operation precedes another when
-- its completion record comes before the other's invoke record.
--
-- Models: "register" (read, write), "cas_register" (read, write, cas with value
-- { expected, new }), "kv" (a cas_register per key, each key checked on its own), "set"
-- (add x; read returns an array of the elements), "counter" (add n; read returns the
-- sum), or a Lua table { init = fn(key), step = fn(state, op) -> ok, new_state,
-- hash = fn(state) (optional), partition = "key" (optional), readonly = fn(op)
-- (optional) }. The step function sees op.f, op.key, op.value (the invoke's value),
-- op.output (the ok record's value, nil when unknown) and op.unknown. States without a
-- hash function must be plain data (they are compared by value); step must not modify the
-- state it is given. readonly(op), called once per operation, says that op never changes
-- any state (a read): the search then places such an operation without trying
-- alternatives where it is legal, and drops those of unknown outcome, as it does for the
-- built-in models' reads. A wrong "true" makes the checker unsound; leave it out when unsure.

local core = require("happysim.core")

local check = {}

check.models = { "register", "cas_register", "kv", "set", "counter" }
local BUILTIN = {}
for _, m in ipairs(check.models) do BUILTIN[m] = true end

local TYPES = { invoke = true, ok = true, fail = true, info = true }

local DEFAULT_MAX_STEPS = 100000000
local DEFAULT_MEMORY_MB = 1024

-- ---- formatting --------------------------------------------------------------------

local function show(v, depth)
  depth = depth or 0
  local t = type(v)
  if t == "string" then return ("%q"):format(v) end
  if t == "number" then
    if math.type(v) == "integer" then return tostring(v) end
    return ("%.14g"):format(v)
  end
  if t ~= "table" then return tostring(v) end
  if depth > 3 then return "{...}" end
  local parts, n = {}, #v
  for i = 1, n do parts[#parts + 1] = show(v[i], depth + 1) end
  local keys = {}
  for k in pairs(v) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  table.sort(keys, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    if ta == "number" or ta == "string" then return a < b end
    return tostring(a) < tostring(b)
  end)
  for _, k in ipairs(keys) do
    local ks = type(k) == "string" and k:match("^[%a_][%w_]*$") and k or ("[" .. show(k, depth + 1) .. "]")
    parts[#parts + 1] = ks .. " = " .. show(v[k], depth + 1)
    if #parts > 12 then parts[#parts + 1] = "..." break end
  end
  return "{ " .. table.concat(parts, ", ") .. " }"
end
check.show = show

local function show_time(t)
  if t == nil then return "?" end
  return ("%.6g"):format(t)
end

--- check.describe(op) -> "process 1: read x -> 3 [t=1.2 .. 1.5]"
local function describe(op)
  local s = ("process %s: %s"):format(tostring(op.process), op.f)
  if op.key ~= nil then s = s .. " " .. show(op.key) end
  if op.value ~= nil and op.f ~= "read" then s = s .. " " .. show(op.value) end
  if op.type == "ok" and (op.f == "read" or op.output ~= op.value) then s = s .. " -> " .. show(op.output) end
  if op.type == "ok" then
    s = s .. (" [t=%s .. %s, records %d .. %d]"):format(show_time(op.invoke_time), show_time(op.complete_time),
      op.index, op.complete_index)
  else
    local info = op.complete_index and (", info at t=%s (record %d)"):format(show_time(op.complete_time),
      op.complete_index) or ", never completed"
    s = s .. (" [t=%s .. ?, record %d, outcome unknown%s]"):format(show_time(op.invoke_time), op.index, info)
  end
  return s
end
check.describe = describe

-- ---- the history ---------------------------------------------------------------------

local function bad_history(i, msg, level)
  error(("bad argument #1 to 'linearizable' (history record %d %s)"):format(i, msg), level + 1)
end

local function valid_process(p)
  local t = type(p)
  return t == "string" or t == "boolean" or (t == "number" and p == p)
end

-- Pairs invocations with completions. Returns the operations to check (in invoke order,
-- fail operations left out) and counts.
local function collect(history, level)
  level = level + 1
  if type(history) ~= "table" then
    error(("bad argument #1 to 'linearizable' (history must be an array of records, got %s)"):format(type(history)),
      level)
  end
  local all, pending = {}, {}
  local failed = 0
  local last_time, last_time_index
  local n = #history
  for i = 1, n do
    local rec = history[i]
    if type(rec) ~= "table" then bad_history(i, "must be a table, got " .. type(rec), level) end
    local ty = rec.type
    if ty == nil then bad_history(i, "has no type (invoke, ok, fail or info)", level) end
    if not TYPES[ty] then
      bad_history(i, ("has an unknown type %s (expected invoke, ok, fail or info)"):format(show(ty)), level)
    end
    local p = rec.process
    if p == nil then bad_history(i, "has no process", level) end
    if not valid_process(p) then bad_history(i, "has a process of type " .. type(p), level) end
    local t = rec.time
    if t ~= nil then
      if type(t) ~= "number" or t ~= t then
        bad_history(i, "has a time that is not a number: " .. show(t), level)
      end
      if last_time and t < last_time then
        bad_history(i, ("has time %s, before the time %s of record %d: records must be in time order")
          :format(show_time(t), show_time(last_time), last_time_index), level)
      end
      last_time, last_time_index = t, i
    end
    if ty == "invoke" then
      if type(rec.f) ~= "string" then bad_history(i, "(an invoke) needs f, a string such as \"read\"", level) end
      local prev = pending[p]
      if prev then
        bad_history(i, ("invokes for process %s, which already has a pending invoke (record %d)")
          :format(show(p), prev.index), level)
      end
      local op = { f = rec.f, key = rec.key, value = rec.value, process = p, index = i, invoke_time = t, call = i }
      pending[p] = op
      all[#all + 1] = op
    else
      local op = pending[p]
      if not op then
        bad_history(i, ("is a completion (%s) for process %s, which has no pending invoke"):format(ty, show(p)), level)
      end
      if rec.f ~= nil and rec.f ~= op.f then
        bad_history(i, ("has f %s but its invoke (record %d) has f %s"):format(show(rec.f), op.index, show(op.f)), level)
      end
      pending[p] = nil
      op.type, op.complete_index, op.complete_time = ty, i, t
      if op.key == nil then op.key = rec.key end
      if ty == "ok" then
        op.output, op.ret, op.unknown = rec.value, i, false
        if op.value == nil then op.value = rec.value end
      elseif ty == "info" then
        op.unknown = true
      else
        op.failed = true
        failed = failed + 1
      end
    end
  end
  local ops, unknown = {}, 0
  for _, op in ipairs(all) do
    if not op.failed then
      if op.type == nil then -- never completed: unknown
        op.type, op.unknown = "info", true
      end
      if op.unknown then unknown = unknown + 1 end
      ops[#ops + 1] = op
    end
  end
  return ops, failed, unknown
end

-- ---- options -------------------------------------------------------------------------

local function bad_option(msg, level)
  error("bad argument #2 to 'linearizable' (" .. msg .. ")", level + 1)
end

local OPTIONS = { model = true, timeout = true, max_steps = true, max_memory_mb = true, partition = true }

local function check_model_table(m, level)
  if type(m.init) ~= "function" then bad_option("a model table needs init, a function", level + 1) end
  if type(m.step) ~= "function" then bad_option("a model table needs step, a function", level + 1) end
  if m.hash ~= nil and type(m.hash) ~= "function" then bad_option("a model's hash must be a function", level + 1) end
  if m.readonly ~= nil and type(m.readonly) ~= "function" then
    bad_option("a model's readonly must be a function", level + 1)
  end
  if m.partition ~= nil and m.partition ~= "key" then
    bad_option("a model's partition must be \"key\" or nil, got " .. show(m.partition), level + 1)
  end
end

local function parse_options(opts, level)
  level = level + 1
  if type(opts) == "string" or (type(opts) == "table" and opts.step ~= nil) then opts = { model = opts } end
  if type(opts) ~= "table" then bad_option("options table or model expected, got " .. type(opts), level) end
  for k in pairs(opts) do
    if not OPTIONS[k] then bad_option("unknown option " .. show(k), level) end
  end
  local model = opts.model
  if model == nil then
    bad_option("field 'model' is required: " .. table.concat(check.models, ", ") .. " or a model table", level)
  end
  if type(model) == "string" then
    if not BUILTIN[model] then
      bad_option(("unknown model %s (known: %s)"):format(show(model), table.concat(check.models, ", ")), level)
    end
  elseif type(model) == "table" then
    check_model_table(model, level)
  else
    bad_option("field 'model' must be a model name or a model table, got " .. type(model), level)
  end
  local timeout = opts.timeout
  if timeout ~= nil and (type(timeout) ~= "number" or timeout ~= timeout or timeout <= 0) then
    bad_option("field 'timeout' must be a positive number of seconds, got " .. show(timeout), level)
  end
  local max_steps = opts.max_steps
  if max_steps == nil then max_steps = DEFAULT_MAX_STEPS end
  if type(max_steps) == "number" and max_steps == math.floor(max_steps) and max_steps > 0 and max_steps < 2^63 then
    max_steps = math.tointeger(max_steps) -- 1e7 is a fine way to write it
  end
  if math.type(max_steps) ~= "integer" or max_steps <= 0 then
    bad_option("field 'max_steps' must be a positive integer, got " .. show(max_steps), level)
  end
  local mem = opts.max_memory_mb
  if mem == nil then mem = DEFAULT_MEMORY_MB end
  if type(mem) ~= "number" or mem ~= mem or mem <= 0 then
    bad_option("field 'max_memory_mb' must be a positive number, got " .. show(mem), level)
  end
  if opts.partition ~= nil and type(opts.partition) ~= "boolean" then
    bad_option("field 'partition' must be a boolean, got " .. show(opts.partition), level)
  end
  -- partition = false: one search over the whole history
  local cmodel, name = model, type(model) == "string" and model or "lua"
  if opts.partition == false then
    if model == "kv" then
      cmodel = "kv_map"
    elseif type(model) == "table" and model.partition then
      cmodel = { init = model.init, step = model.step, hash = model.hash, readonly = model.readonly }
    end
  elseif opts.partition == true and type(model) == "table" and not model.partition then
    cmodel = { init = model.init, step = model.step, hash = model.hash, readonly = model.readonly, partition = "key" }
  end
  return cmodel, name, { timeout = timeout and math.min(timeout, 1e9), max_steps = max_steps, max_memory_mb = mem }
end

-- ---- the report ------------------------------------------------------------------------

local function public_op(op)
  return {
    f = op.f, key = op.key, value = op.value, output = op.output, process = op.process,
    type = op.type, index = op.index, complete_index = op.complete_index,
    invoke_time = op.invoke_time, complete_time = op.complete_time,
  }
end

local Result = { __name = "happysim.CheckResult" }
Result.__index = Result
function Result:__tostring() return self.message end

local function invalid_report(raw, ops, res, partitioned)
  local blocked = ops[raw.blocked]
  local a = {
    op = public_op(blocked),
    concurrent = {},
    prefix_length = raw.prefix_length,
    prefix = {},
    linearization = {},
    state = raw.state,
  }
  a.ops = { a.op }
  for _, i in ipairs(raw.pending) do
    local p = public_op(ops[i])
    a.concurrent[#a.concurrent + 1] = p
    a.ops[#a.ops + 1] = p
  end
  for _, i in ipairs(raw.prefix_tail) do a.prefix[#a.prefix + 1] = public_op(ops[i]) end
  for j, i in ipairs(raw.prefix) do a.linearization[j] = ops[i].index end
  if partitioned then
    a.key = ops[raw.partition_op].key
    res.key = a.key
  end
  local lines = {}
  lines[1] = ("not linearizable (model %s%s): %s cannot be linearized"):format(res.model,
    partitioned and (", key " .. show(a.key)) or "", describe(blocked))
  if raw.prefix_length == 0 then
    lines[#lines + 1] = "  it is the first operation that must take effect, and the initial state does not allow it"
  else
    lines[#lines + 1] = ("  longest linearizable prefix: %d operation%s, ending with:"):format(raw.prefix_length,
      raw.prefix_length == 1 and "" or "s")
    local from = math.max(1, #raw.prefix_tail - 2)
    for j = from, #raw.prefix_tail do lines[#lines + 1] = "    " .. describe(ops[raw.prefix_tail[j]]) end
  end
  if raw.state ~= nil or res.model ~= "lua" then
    lines[#lines + 1] = "  model state after it: " .. show(raw.state)
  end
  -- the concurrent operations of known outcome first, then (fewer of) those of unknown
  -- outcome, which stay pending forever once invoked
  local known, unknown = {}, {}
  for _, i in ipairs(raw.pending) do
    local list = ops[i].type == "ok" and known or unknown
    list[#list + 1] = i
  end
  lines[#lines + 1] = ("  operations that cannot be placed after it (the first must take effect before it completes%s):")
    :format(#raw.pending == 0 and "" or (", the other%s %s pending then"):format(#raw.pending == 1 and "" or "s",
      #raw.pending == 1 and "was" or "were"))
  lines[#lines + 1] = "    " .. describe(blocked)
  for j, i in ipairs(known) do
    if j > 8 then
      lines[#lines + 1] = ("    ... and %d more of known outcome"):format(#known - 8)
      break
    end
    lines[#lines + 1] = "    " .. describe(ops[i])
  end
  for j, i in ipairs(unknown) do
    if j > 4 then
      lines[#lines + 1] = ("    ... and %d more of unknown outcome"):format(#unknown - 4)
      break
    end
    lines[#lines + 1] = "    " .. describe(ops[i])
  end
  a.message = table.concat(lines, "\n")
  return a
end

--- check.linearizable(history, opts) -> result (see the top of this file)
function check.linearizable(history, opts)
  local cmodel, name, copts = parse_options(opts, 2)
  local ops, failed, unknown = collect(history, 2)
  local t0 = os.clock()
  local ok, raw, err = pcall(core.check.linearizable, ops, cmodel, copts)
  if not ok then error("linearizable: " .. tostring(raw), 2) end
  if not raw then
    if err:find("^history record") then error("bad argument #1 to 'linearizable' (" .. err .. ")", 2) end
    error("linearizable: " .. err, 2)
  end
  local res = setmetatable({
    model = name,
    ops = #ops,
    failed = failed,
    unknown = unknown,
    partitions = raw.partitions,
    steps = raw.steps,
    configurations = raw.configurations,
    cpu_seconds = os.clock() - t0,
  }, Result)
  local partitioned = (type(cmodel) == "string" and cmodel == "kv") or (type(cmodel) == "table" and cmodel.partition == "key")
  if raw.verdict == "valid" then
    res.valid = true
    res.message = ("linearizable (model %s): %d operations (%d of unknown outcome, %d failed and left out)")
      :format(name, #ops, unknown, failed)
  elseif raw.verdict == "invalid" then
    res.valid = false
    res.anomaly = invalid_report(raw, ops, res, partitioned)
    res.message = res.anomaly.message
  else
    res.valid = "unknown"
    res.reason = raw.reason
    local why
    if raw.reason == "timeout" then
      res.timed_out = true
      why = ("timed out: the wall-clock guard (timeout = %g s) stopped it, which depends on the machine and its "
        .. "load; the budget is max_steps"):format(copts.timeout)
    elseif raw.reason == "step limit" then
      why = ("its budget of %d model steps (max_steps) ran out"):format(copts.max_steps)
    elseif raw.reason == "memory limit" then
      why = ("its memory budget (max_memory_mb = %g) ran out"):format(copts.max_memory_mb)
    else
      why = raw.reason or "?"
    end
    res.message = ("unknown (model %s): the check stopped after %d model steps, %d of %d sub-histories checked: %s")
      :format(name, raw.steps, raw.partitions_checked, raw.partitions, why)
    if type(cmodel) == "table" and not cmodel.readonly then
      res.message = res.message .. " (a Lua model that declares readonly(op) spares the search trying every order of"
        .. " the reads)"
    end
  end
  return res
end

return check
