--- happysim.bench: what the benchmark scripts (scripts/bench/*.lua) share.
--
--   local bench = require("happysim.bench")
--   local cfg = bench.options("bench/raft", { clients = 100, mode = { "direct", "net" } }, ...)
--   if cfg.quick then ... end                 -- "--quick" was given
--   print(("peak=%.0fMB"):format(bench.peak_rss_mb()))
--
-- `...` is what the script received: the context table when it runs under
-- `happysim run SCRIPT -- ARGS` (its `args`), the command-line strings under
-- `lua5.4 SCRIPT ARGS`. Either way the same arguments are parsed.

local M = {}

--- bench.script_args(...) -> the list of the script's argument strings.
function M.script_args(...)
  local first = ...
  if type(first) == "table" then return first.args or {} end
  return { ... }
end

-- "--quick, clients=N, mode=direct|net": what options() accepts, keys sorted.
local function usage(spec)
  local keys = {}
  for k in pairs(spec) do keys[#keys + 1] = k end
  table.sort(keys)
  local out = { "--quick" }
  for _, k in ipairs(keys) do
    local v = spec[k]
    out[#out + 1] = k .. "=" .. (type(v) == "table" and table.concat(v, "|") or "N")
  end
  return table.concat(out, ", ")
end

local function is_one_of(list, v)
  for _, x in ipairs(list) do
    if x == v then return true end
  end
  return false
end

--- bench.options(name, spec, ...) -> cfg. Parses the script's arguments: "--quick" sets
-- cfg.quick (false otherwise); "key=value" sets an option that spec lists, where a number
-- is the default of a positive integer option and a list holds the allowed strings (the
-- first is the default). Anything else raises "<name>: unknown argument ..." with the
-- accepted forms; a bad integer raises "<name>: <key> must be a positive integer ...".
function M.options(name, spec, ...)
  local cfg = { quick = false }
  for k, v in pairs(spec) do cfg[k] = type(v) == "table" and v[1] or v end
  for _, a in ipairs(M.script_args(...)) do
    local k, v = tostring(a):match("^([%w_]+)=(.+)$")
    if a == "--quick" then
      cfg.quick = true
    elseif k and type(spec[k]) == "number" then
      cfg[k] = math.tointeger(tonumber(v))
      if not cfg[k] or cfg[k] < 1 then error(("%s: %s must be a positive integer, got '%s'"):format(name, k, v), 0) end
    elseif k and type(spec[k]) == "table" and is_one_of(spec[k], v) then
      cfg[k] = v
    else
      error(("%s: unknown argument '%s' (%s)"):format(name, tostring(a), usage(spec)), 0)
    end
  end
  return cfg
end

-- A "Field:  N kB" line of /proc/self/status in MB; 0 where there is no /proc.
local function status_mb(field)
  local f = io.open("/proc/self/status")
  if not f then return 0 end
  local s = f:read("a")
  f:close()
  return (tonumber(s:match(field .. ":%s*(%d+)")) or 0) / 1024
end

--- bench.peak_rss_mb() -> the process's peak resident memory (VmHWM) in MB.
function M.peak_rss_mb() return status_mb("VmHWM") end

--- bench.rss_mb() -> the process's resident memory now (VmRSS) in MB.
function M.rss_mb() return status_mb("VmRSS") end

return M
