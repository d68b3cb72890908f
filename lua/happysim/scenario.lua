--- hs.scenario: a simulation run per seed, with the checks that judge it.
--
--   return hs.scenario{
--     name = "raft_linearizable",
--     run = function(ctx)               -- ctx: { hs, seed, args, end_time, script, command }
--       local sim = hs.Simulation{}     -- the CLI gives it seed = ctx.seed
--       ...
--       return { summary = sim:run(), history = w.history }   -- the result, any table
--     end,
--     checks = {                        -- each check(result) -> ok [, message]
--       { "linearizable", function(r) ... end },
--       { name = "raft safety", check = function(r) ... end },
--     },
--     report = function(result) ... end,   -- optional: prints details for `happysim run`
--   }
--
-- A script hands its scenario to the CLI by returning it: `happysim run SCRIPT --seed N`
-- runs one seed and prints each check's verdict; `happysim check SCRIPT --seeds 1..1000`
-- runs many (see `happysim help check`). checks may also map names to functions
-- ({ linearizable = fn }); those run after the listed ones, in name order.
--
-- A check passes when its first result is truthy. It fails when that is false or nil (its
-- second result, or "returned false", is the message) or when it raises (the error is
-- the message). When run(ctx) raises, the seed fails with the check named "run" and the
-- other checks are not called.

local M = {}

local Scenario = { __name = "happysim.Scenario" }
Scenario.__index = Scenario

local KNOWN = { name = true, description = true, run = true, checks = true, report = true }

local function argerror(msg, level)
  error("bad argument #1 to 'scenario' (" .. msg .. ")", level + 1)
end

-- The checks as a list of { name =, fn = }.
local function normalize_checks(checks, level)
  level = level + 1
  local list, seen = {}, {}
  if checks == nil then return list end
  if type(checks) ~= "table" then argerror("field 'checks' must be a table, got " .. type(checks), level) end
  local function add(name, fn, where)
    if type(name) ~= "string" or name == "" then
      argerror(("field 'checks' %s needs a name (a non-empty string)"):format(where), level)
    end
    if type(fn) ~= "function" then
      argerror(("field 'checks' %s ('%s') needs a function"):format(where, name), level)
    end
    if seen[name] then argerror(("field 'checks' names '%s' twice"):format(name), level) end
    seen[name] = true
    list[#list + 1] = { name = name, fn = fn }
  end
  local n = #checks
  for i = 1, n do
    local c = checks[i]
    if type(c) ~= "table" then
      argerror(("field 'checks' item %d must be { name, fn } or { name =, check = }, got %s"):format(i, type(c)), level)
    end
    add(c.name or c[1], c.check or c[2], "item " .. i)
  end
  local named = {}
  for k, v in pairs(checks) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then
      if type(k) ~= "string" then argerror("field 'checks' has a key that is not a name: " .. tostring(k), level) end
      named[#named + 1] = k
    end
  end
  table.sort(named)
  for _, k in ipairs(named) do add(k, checks[k], "entry") end
  return list
end

--- hs.scenario{ name =, run =, checks =, report =, description = } -> a Scenario
function M.scenario(def)
  if type(def) ~= "table" then argerror("table expected, got " .. type(def), 2) end
  for k in pairs(def) do
    if not KNOWN[k] then argerror("unknown field '" .. tostring(k) .. "'", 2) end
  end
  if type(def.name) ~= "string" or def.name == "" then argerror("field 'name' must be a non-empty string", 2) end
  if type(def.run) ~= "function" then argerror("field 'run' must be a function run(ctx) -> result", 2) end
  if def.report ~= nil and type(def.report) ~= "function" then argerror("field 'report' must be a function", 2) end
  return setmetatable({
    name = def.name,
    description = def.description,
    run = def.run,
    report = def.report,
    checks = normalize_checks(def.checks, 2),
  }, Scenario)
end

function M.is_scenario(v)
  return getmetatable(v) == Scenario
end

local function error_text(e)
  if type(e) == "string" then return e end
  local mt = getmetatable(e)
  if mt and mt.__tostring then return tostring(e) end
  return ("(error object is a %s value)"):format(type(e))
end

--- scenario:run_seed(ctx [, handler]) -> outcome
-- Runs run(ctx) and then every check on its result. The outcome:
--   { ok = bool, result = <run's result or nil>,
--     verdicts = { { name =, ok =, message = } ... },   -- one per check, in order
--     failures = { <the failed verdicts> } }
-- handler (default debug.traceback) is the xpcall message handler for run and the checks.
function Scenario:run_seed(ctx, handler)
  handler = handler or debug.traceback
  local out = { ok = true, verdicts = {}, failures = {} }
  local function verdict(name, ok, message)
    local v = { name = name, ok = ok, message = message }
    out.verdicts[#out.verdicts + 1] = v
    if not ok then
      out.ok = false
      out.failures[#out.failures + 1] = v
    end
  end
  local ran, result = xpcall(self.run, handler, ctx)
  if not ran then
    verdict("run", false, error_text(result))
    return out
  end
  out.result = result
  for _, c in ipairs(self.checks) do
    local called, ok, message = xpcall(c.fn, handler, result)
    if not called then
      verdict(c.name, false, "the check raised an error: " .. error_text(ok))
    elseif ok == true or (ok ~= nil and ok ~= false) then
      verdict(c.name, true, message ~= nil and tostring(message) or nil)
    else
      verdict(c.name, false, message ~= nil and tostring(message) or "the check returned " .. tostring(ok))
    end
  end
  return out
end

function Scenario:__tostring()
  return ("happysim.Scenario(%s, %d checks)"):format(self.name, #self.checks)
end

return M
