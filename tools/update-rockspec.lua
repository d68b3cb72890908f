#!/usr/bin/env lua5.4
-- Rewrites the file lists of rocks/happysim-scm-1.rockspec from the tree: every .c file
-- of every engine/<area>/ folder (and engine/lua/runtime, engine/lua/protocols) for happysim.core, and every lua/happysim/*.lua module.
-- luarocks' builtin backend does not glob, so run this after adding or removing a file
-- (tests/lua/rockspec_spec.lua fails until you do):
--   lua5.4 tools/update-rockspec.lua
local root = (arg[0]:match("^(.*)/tools/[^/]*$") or ".")
local ROCKSPEC = root .. "/rocks/happysim-scm-1.rockspec"

local function ls(pattern)
  local p = assert(io.popen("cd '" .. root .. "' && ls -1 " .. pattern .. " 2>/dev/null"))
  local out = {}
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  table.sort(out)
  return out
end

local sources = {}
for _, f in ipairs(ls("engine/*/*.c engine/lua/*/*.c")) do sources[#sources + 1] = ('        "%s",'):format(f) end
local modules = {}
for _, f in ipairs(ls("lua/happysim/*.lua")) do
  local name = f:match("([^/]+)%.lua$")
  name = name == "init" and "happysim" or "happysim." .. name
  modules[#modules + 1] = ('    ["%s"] = "%s",'):format(name, f)
end

local f = assert(io.open(ROCKSPEC, "r"))
local text = f:read("a")
f:close()
local function replace(body, tag, lines)
  local pattern = "(%-%- BEGIN " .. tag .. "[^\n]*\n).-(\n[ ]*%-%- END " .. tag .. ")"
  local out, n = body:gsub(pattern, function(a, b) return a .. table.concat(lines, "\n") .. b end)
  assert(n == 1, "marker '-- BEGIN " .. tag .. "' not found in " .. ROCKSPEC)
  return out
end
text = replace(replace(text, "sources", sources), "modules", modules)
f = assert(io.open(ROCKSPEC, "w"))
f:write(text)
f:close()
print(("%s: %d C sources, %d Lua modules"):format(ROCKSPEC, #sources, #modules))
