--- Operational errors as values: { code = "timeout", message = "...", ... } with __tostring.

local Error = {}
Error.__index = Error
Error.__name = "happysim.Error"

function Error.__tostring(e)
  if e.message and e.message ~= "" then return e.code .. ": " .. e.message end
  return e.code
end

--- errors.new(code, message [, extra fields])
local function new(code, message, extra)
  local e = extra or {}
  e.code, e.message = code, message
  return setmetatable(e, Error)
end

--- errors.call_as(public, cname, fn, ...): runs fn(...), a call of the C function `cname` on
-- behalf of the library function `public`. An error it raises is re-raised at the caller of
-- `public` (level 3: `public` must call call_as in tail position or directly), under the name
-- `public`, without the library file's position, and prefixed "public: " when it names no
-- function. Argument numbers stay right when fn calls cname with the colon syntax.
local function call_as(public, cname, fn, ...)
  local res = table.pack(pcall(fn, ...))
  if res[1] then return table.unpack(res, 2, res.n) end
  local msg = res[2]
  if type(msg) == "string" then
    msg = msg:gsub("^[^\n]-happysim/[%w_]+%.lua:%d+: ", ""):gsub("'" .. cname .. "'", "'" .. public .. "'")
    if not msg:find("^bad argument") and not msg:find("^" .. public:gsub("%p", "%%%0") .. ":") then
      msg = public .. ": " .. msg
    end
  end
  error(msg, 3)
end

require("happysim.core").set_error_metatable(Error)

return { new = new, Error = Error, call_as = call_as }
