--- hs.inspect(value [, { depth = 3, items = 40, width = 96 }]) -> a readable string.
--
-- What the REPL prints for a result: nested tables with their array part first and the other
-- keys sorted (numbers, then strings, then the rest by their printed form), so equal tables
-- print alike whatever their insertion order; bounded in depth, items per table and string
-- length, so printing a big state never floods the terminal; cycles print as <cycle>.
-- happysim objects print as they name themselves (tostring: "RaftNode 'n1'", "Future
-- (resolved)"); at the top level a Lua entity or a table with a __tostring also shows its
-- fields.

local M = {}

local DEFAULTS = { depth = 3, items = 40, width = 96, string = 200 }

local function is_identifier(s)
  return type(s) == "string" and s:match("^[%a_][%w_]*$") ~= nil and not ({
    ["and"] = 1, ["break"] = 1, ["do"] = 1, ["else"] = 1, ["elseif"] = 1, ["end"] = 1, ["false"] = 1, ["for"] = 1,
    ["function"] = 1, ["goto"] = 1, ["if"] = 1, ["in"] = 1, ["local"] = 1, ["nil"] = 1, ["not"] = 1, ["or"] = 1,
    ["repeat"] = 1, ["return"] = 1, ["then"] = 1, ["true"] = 1, ["until"] = 1, ["while"] = 1 })[s]
end

local function quote(s, max)
  if #s > max then return ("%q"):format(s:sub(1, max)):gsub("\\\n", "\\n") .. ("...(%d bytes)"):format(#s) end
  return (("%q"):format(s):gsub("\\\n", "\\n"))
end

-- The sort order of keys: numbers, then strings, then other types by their printed form.
local RANK = { number = 1, string = 2, boolean = 3 }
local function key_less(a, b)
  local ta, tb = type(a), type(b)
  local ra, rb = RANK[ta] or 4, RANK[tb] or 4
  if ra ~= rb then return ra < rb end
  if ta == tb and (ta == "number" or ta == "string") then return a < b end
  return tostring(a) < tostring(b)
end

local function has_tostring(v)
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__tostring") ~= nil
end

local render

-- The items of table t as strings ("value" for the array part, "key = value" after it).
local function items_of(t, opts, level, seen)
  local out, n = {}, 0
  local len = rawlen(t)
  local total = 0
  for _ in next, t do total = total + 1 end
  for i = 1, len do
    if n >= opts.items then break end
    n = n + 1
    out[n] = render(rawget(t, i), opts, level + 1, seen)
  end
  local keys = {}
  for k in next, t do
    if not (math.type(k) == "integer" and k >= 1 and k <= len) then keys[#keys + 1] = k end
  end
  table.sort(keys, key_less)
  for _, k in ipairs(keys) do
    if n >= opts.items then break end
    n = n + 1
    local ks = is_identifier(k) and k or ("[" .. render(k, opts, level + 1, seen) .. "]")
    out[n] = ks .. " = " .. render(rawget(t, k), opts, level + 1, seen)
  end
  if total > n then out[#out + 1] = ("...(%d more)"):format(total - n) end
  return out
end

-- One line when it fits in the width, else one item per line, indented.
local function layout(prefix, items, level, opts)
  if #items == 0 then return prefix .. "{}" end
  local one = prefix .. "{ " .. table.concat(items, ", ") .. " }"
  if #one + 2 * level <= opts.width and not one:find("\n") then return one end
  local pad = string.rep("  ", level + 1)
  return prefix .. "{\n" .. pad .. table.concat(items, ",\n" .. pad) .. "\n" .. string.rep("  ", level) .. "}"
end

function render(v, opts, level, seen)
  local t = type(v)
  if t == "string" then return quote(v, opts.string) end
  if t == "number" then
    if math.type(v) == "float" and v == math.floor(v) and math.abs(v) < 1e15 then return ("%.1f"):format(v) end
    return tostring(v)
  end
  if t ~= "table" then
    if t == "function" then
      local info = debug.getinfo(v, "S")
      return info.what == "C" and "<function: builtin>" or ("<function %s:%d>"):format(info.short_src, info.linedefined)
    end
    return tostring(v)
  end
  if seen[v] then return "<cycle>" end
  local named = has_tostring(v)
  if named and level > 0 then return tostring(v) end
  if level >= opts.depth then return named and tostring(v) or "{...}" end
  seen[v] = true
  local items = items_of(v, opts, level, seen)
  seen[v] = nil
  return layout(named and (tostring(v) .. " ") or "", items, level, opts)
end

--- inspect(v [, opts]) -> string (see the top of this file).
function M.inspect(v, opts)
  if opts ~= nil and type(opts) ~= "table" then
    error("bad argument #2 to 'inspect' (table of options expected, got " .. type(opts) .. ")", 2)
  end
  local o = {}
  for k, d in pairs(DEFAULTS) do
    local x = opts and opts[k]
    if x ~= nil and (math.type(x) ~= "integer" or x < 1) then
      error(("bad argument #2 to 'inspect' (field '%s' must be a positive integer, got %s)"):format(k, tostring(x)), 2)
    end
    o[k] = x or d
  end
  return render(v, o, 0, {})
end

return M
