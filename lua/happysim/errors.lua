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

require("happysim.core").set_error_metatable(Error)

return { new = new, Error = Error }
