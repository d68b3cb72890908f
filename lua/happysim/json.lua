--- happysim.json: the small JSON subset `happysim check --json` writes and `--merge` reads.
--
--   json.encode(value [, keys]) -> one line of JSON (no newline inside)
--   json.decode(text) -> value | nil, message
--
-- Values: nil (null), booleans, numbers (integers stay integers; floats are written with
-- the fewest of 15 or 17 significant digits that read back exactly), strings (UTF-8 passes
-- through; control characters, quotes and backslashes are escaped), arrays (tables with
-- 1..n; an empty table is an empty array) and objects (tables with string keys, written in
-- sorted key order, or in the order of the `keys` list given for the top-level object). A table that is neither, a NaN or an
-- infinity raises. decode accepts any JSON text made of these, with \uXXXX escapes
-- (surrogate pairs included); JSON null reads as json.null, so that arrays keep their
-- length and objects their keys.

local M = {}

M.null = setmetatable({}, { __tostring = function() return "null" end, __name = "happysim.json.null" })

local ESC = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n", ["\r"] = "\\r",
              ["\t"] = "\\t" }

local function encode_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return ESC[c] or ("\\u%04x"):format(c:byte()) end) .. '"'
end

local encode

local function is_array(t)
  local n = #t
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 or k > n then return false end
  end
  return true
end

function encode(v, out, keys)
  local t = type(v)
  if v == nil or v == M.null then
    out[#out + 1] = "null"
  elseif t == "boolean" then
    out[#out + 1] = v and "true" or "false"
  elseif t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then error("json.encode: cannot encode " .. tostring(v), 0) end
    if math.type(v) == "integer" then
      out[#out + 1] = tostring(v)
    else -- the shortest of 15 or 17 digits that reads back exactly
      local text = ("%.15g"):format(v)
      if tonumber(text) ~= v then text = ("%.17g"):format(v) end
      out[#out + 1] = text
    end
  elseif t == "string" then
    out[#out + 1] = encode_string(v)
  elseif t == "table" then
    if next(v) == nil then -- an empty table: an empty array (sweep records have no empty objects)
      out[#out + 1] = "[]"
      return
    end
    if is_array(v) then
      out[#out + 1] = "["
      for i = 1, #v do
        if i > 1 then out[#out + 1] = "," end
        encode(v[i], out)
      end
      out[#out + 1] = "]"
      return
    end
    local order = keys
    if not order then
      order = {}
      for k in pairs(v) do
        if type(k) ~= "string" then error("json.encode: an object key must be a string, got " .. type(k), 0) end
        order[#order + 1] = k
      end
      table.sort(order)
    end
    out[#out + 1] = "{"
    local first = true
    for _, k in ipairs(order) do
      if v[k] ~= nil then
        if not first then out[#out + 1] = "," end
        first = false
        out[#out + 1] = encode_string(k)
        out[#out + 1] = ":"
        encode(v[k], out)
      end
    end
    out[#out + 1] = "}"
  else
    error("json.encode: cannot encode a " .. t, 0)
  end
end

--- json.encode(value [, keys]) -> string
function M.encode(v, keys)
  local out = {}
  encode(v, out, keys)
  return table.concat(out)
end

-- ---- decoding ----------------------------------------------------------------------

local function decoder(text)
  local pos = 1
  local function fail(msg) error({ json_error = ("%s at character %d"):format(msg, pos) }, 0) end
  local function skip() pos = text:find("[^ \t\r\n]", pos) or #text + 1 end
  local value
  local function str()
    pos = pos + 1
    local parts = {}
    while true do
      local a, b = text:find('["\\]', pos)
      if not a then fail("unterminated string") end
      parts[#parts + 1] = text:sub(pos, a - 1)
      pos = b + 1
      if text:sub(a, a) == '"' then break end
      local c = text:sub(pos, pos)
      pos = pos + 1
      local simple = ({ ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" })[c]
      if simple then
        parts[#parts + 1] = simple
      elseif c == "u" then
        local hex = text:match("^%x%x%x%x", pos)
        if not hex then fail("bad \\u escape") end
        pos = pos + 4
        local cp = tonumber(hex, 16)
        if cp >= 0xD800 and cp <= 0xDBFF then
          local lo = text:match("^\\u(%x%x%x%x)", pos)
          local lv = lo and tonumber(lo, 16)
          if not lv or lv < 0xDC00 or lv > 0xDFFF then fail("bad surrogate pair") end
          pos = pos + 6
          cp = 0x10000 + (cp - 0xD800) * 0x400 + (lv - 0xDC00)
        end
        parts[#parts + 1] = utf8.char(cp)
      else
        fail("bad escape")
      end
    end
    return table.concat(parts)
  end
  function value()
    skip()
    local c = text:sub(pos, pos)
    if c == "{" then
      pos = pos + 1
      local obj = {}
      skip()
      if text:sub(pos, pos) == "}" then
        pos = pos + 1
        return obj
      end
      while true do
        skip()
        if text:sub(pos, pos) ~= '"' then fail("expected a key") end
        local k = str()
        skip()
        if text:sub(pos, pos) ~= ":" then fail("expected ':'") end
        pos = pos + 1
        obj[k] = value()
        skip()
        local d = text:sub(pos, pos)
        pos = pos + 1
        if d == "}" then return obj end
        if d ~= "," then fail("expected ',' or '}'") end
      end
    elseif c == "[" then
      pos = pos + 1
      local arr = {}
      skip()
      if text:sub(pos, pos) == "]" then
        pos = pos + 1
        return arr
      end
      while true do
        arr[#arr + 1] = value()
        skip()
        local d = text:sub(pos, pos)
        pos = pos + 1
        if d == "]" then return arr end
        if d ~= "," then fail("expected ',' or ']'") end
      end
    elseif c == '"' then
      return str()
    elseif text:find("^true", pos) then
      pos = pos + 4
      return true
    elseif text:find("^false", pos) then
      pos = pos + 5
      return false
    elseif text:find("^null", pos) then
      pos = pos + 4
      return M.null
    else
      local num = text:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
      if not num or num == "" or num == "-" then fail("unexpected " .. (c == "" and "end" or ("'" .. c .. "'"))) end
      pos = pos + #num
      local n = math.tointeger(tonumber(num)) or tonumber(num)
      if not n then fail("bad number") end
      return n
    end
  end
  return function()
    local v = value()
    skip()
    if pos <= #text then fail("trailing characters") end
    return v
  end
end

--- json.decode(text) -> value | nil, message
function M.decode(text)
  if type(text) ~= "string" then error("bad argument #1 to 'decode' (string expected, got " .. type(text) .. ")", 2) end
  local ok, v = pcall(decoder(text))
  if ok then return v end
  if type(v) == "table" and v.json_error then return nil, v.json_error end
  error(v, 0)
end

return M
