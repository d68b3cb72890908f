--- happysim.busted: assertions and helpers for busted specs.
--
--   local hsb = require("happysim.busted")
--
--   assert.linearizable(history, "cas_register")        -- or a model table, or { model =, timeout = }
--   assert.is_not.linearizable(history, "register")     -- it must be decided: "unknown" fails both
--   assert.deterministic(function(seed) ... return sim:run() end)
--       runs fn(seed) twice with seed 1 and compares the summaries' trace_hash, then once
--       with seed 2 and expects a different hash. Options: assert.deterministic(fn, {
--       seed = 1, other_seed = 2, vary = true }); vary = false skips the second part, for
--       scenarios that draw no random numbers. fn may return a run summary, a
--       Simulation, or a trace hash string.
--   hsb.for_seeds(100, function(seed) ... end)          -- seeds 1..100; also "5..20", { 3, 9 },
--                                                       -- { from = 1, to = 50 }
--       runs a scenario per seed; it fails when the function raises or returns false
--       (and an optional message), naming the seed: "seed 17 failed: ...". Setting
--       HAPPYSIM_SEED=17 in the environment runs only that seed, to replay it.
--       Options: { keep_going = true } tries every seed and reports all failures.

local say = require("say")
local luassert = require("luassert")
local check = require("happysim.check")

local M = {}

-- ---- assert.linearizable ----------------------------------------------------------

say:set("assertion.linearizable.positive", "Expected the history to be linearizable, but it is not:\n%s")
say:set("assertion.linearizable.negative", "Expected the history not to be linearizable, but it is:\n%s")

local function linearizable(_, arguments)
  local history, model = arguments[1], arguments[2]
  if model == nil then error("assert.linearizable(history, model): the model is missing", 3) end
  local res = check.linearizable(history, model)
  if res.valid == "unknown" then
    error("assert.linearizable: could not decide: " .. res.message, 3)
  end
  arguments[1] = res.message
  arguments.n = 1
  arguments.nofmt = { true }
  return res.valid == true
end

luassert:register("assertion", "linearizable", linearizable, "assertion.linearizable.positive",
  "assertion.linearizable.negative")

-- ---- assert.deterministic ---------------------------------------------------------

say:set("assertion.deterministic.positive", "Expected the scenario to be deterministic:\n%s")
say:set("assertion.deterministic.negative", "Expected the scenario not to be deterministic:\n%s")

local function hash_of(v, seed)
  if type(v) == "string" then return v end
  if type(v) == "table" and type(v.trace_hash) == "string" then return v.trace_hash end
  local mt = getmetatable(v)
  if type(v) == "userdata" and mt and mt.__name == "happysim.Simulation" then return v:summary().trace_hash end
  error(("assert.deterministic: fn(%s) must return a run summary, a Simulation or a trace hash, got %s")
    :format(tostring(seed), type(v)), 4)
end

local function deterministic(_, arguments)
  local fn, opts = arguments[1], arguments[2]
  if type(fn) ~= "function" then error("assert.deterministic(fn [, opts]): fn must be a function", 3) end
  opts = opts or {}
  local seed = opts.seed or 1
  local other = opts.other_seed or seed + 1
  local first = hash_of(fn(seed), seed)
  local again = hash_of(fn(seed), seed)
  local ok, msg = true, nil
  if first ~= again then
    ok, msg = false, ("seed %s ran twice with different trace hashes: %s then %s"):format(tostring(seed), first, again)
  elseif opts.vary ~= false then
    local diff = hash_of(fn(other), other)
    if diff == first then
      ok = false
      msg = ("seeds %s and %s gave the same trace hash %s: the seed does not reach the run "
        .. "(or pass { vary = false } for a scenario without randomness)"):format(tostring(seed), tostring(other), first)
    else
      msg = ("seed %s gave %s twice; seed %s gave %s"):format(tostring(seed), first, tostring(other), diff)
    end
  else
    msg = ("seed %s gave %s twice"):format(tostring(seed), first)
  end
  arguments[1] = msg
  arguments.n = 1
  arguments.nofmt = { true }
  return ok
end

luassert:register("assertion", "deterministic", deterministic, "assertion.deterministic.positive",
  "assertion.deterministic.negative")

-- ---- seed sweeps ------------------------------------------------------------------

local function seed_list(seeds)
  local t = type(seeds)
  local list = {}
  if math.type(seeds) == "integer" then
    for s = 1, seeds do list[#list + 1] = s end
  elseif t == "string" then
    local a, b = seeds:match("^%s*(%-?%d+)%s*%.%.%s*(%-?%d+)%s*$")
    if not a then
      local one = seeds:match("^%s*(%-?%d+)%s*$")
      if not one then error("for_seeds: seeds must look like \"1..100\", got " .. ("%q"):format(seeds), 3) end
      a, b = one, one
    end
    for s = math.tointeger(tonumber(a)), math.tointeger(tonumber(b)) do list[#list + 1] = s end
  elseif t == "table" and seeds.from ~= nil then
    for s = seeds.from, seeds.to or seeds.from do list[#list + 1] = s end
  elseif t == "table" then
    for i, s in ipairs(seeds) do
      if math.type(s) ~= "integer" then error(("for_seeds: seed #%d is not an integer"):format(i), 3) end
      list[#list + 1] = s
    end
  else
    error("for_seeds: seeds must be a count, \"a..b\", a list or { from =, to = }, got " .. t, 3)
  end
  return list
end

--- hsb.for_seeds(seeds, fn [, opts]) -> the number of seeds run; raises on the first failure.
function M.for_seeds(seeds, fn, opts)
  if type(fn) ~= "function" then error("for_seeds(seeds, fn): fn must be a function", 2) end
  opts = opts or {}
  local list = seed_list(seeds)
  local only = os.getenv("HAPPYSIM_SEED")
  if only and only ~= "" then
    local s = math.tointeger(tonumber(only))
    if not s then error("HAPPYSIM_SEED must be an integer, got " .. only, 2) end
    list = { s }
  end
  local failures = {}
  for _, seed in ipairs(list) do
    local ok, res, msg = xpcall(fn, debug.traceback, seed)
    local why
    if not ok then
      why = tostring(res)
    elseif res == false then
      why = msg ~= nil and tostring(msg) or "the scenario returned false"
    end
    if why then
      failures[#failures + 1] = { seed = seed, message = why }
      if not opts.keep_going then break end
    end
  end
  if #failures > 0 then
    local lines = {}
    for _, f in ipairs(failures) do lines[#lines + 1] = ("seed %d failed: %s"):format(f.seed, f.message) end
    if #failures > 1 then
      table.insert(lines, 1, ("%d of %d seeds failed"):format(#failures, #list))
    end
    lines[#lines + 1] = ("replay: HAPPYSIM_SEED=%d busted ..."):format(failures[1].seed)
    error(table.concat(lines, "\n"), 2)
  end
  return #list
end

M.sweep = M.for_seeds

return M
