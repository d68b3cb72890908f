-- rocks/happysim-scm-1.rockspec lists every file by hand (luarocks' builtin backend does
-- not glob). These specs fail when the lists drift from the tree, and say what to add.

local dir = require("pl.dir")
local path = require("pl.path")

local root = debug.getinfo(1, "S").source:match("^@(.*)/tests/lua/[^/]*$") or "."
local ROCKSPEC = root .. "/rocks/happysim-scm-1.rockspec"

local function load_rockspec()
  local env = {}
  local chunk = assert(loadfile(ROCKSPEC, "t", env))
  chunk()
  return env
end

-- Paths relative to root, sorted.
local function files(folder, pattern)
  local out = {}
  for _, f in ipairs(dir.getfiles(root .. "/" .. folder, pattern)) do
    out[#out + 1] = folder .. "/" .. path.basename(f)
  end
  table.sort(out)
  return out
end

local function sorted(list)
  local out = {}
  for i, v in ipairs(list) do out[i] = v end
  table.sort(out)
  return out
end

-- "missing from the rockspec: ..., not on disk: ..." or nil when both lists agree.
local function drift(listed, on_disk)
  local set_listed, set_disk, missing, extra = {}, {}, {}, {}
  for _, f in ipairs(listed) do set_listed[f] = true end
  for _, f in ipairs(on_disk) do set_disk[f] = true end
  for _, f in ipairs(on_disk) do if not set_listed[f] then missing[#missing + 1] = f end end
  for _, f in ipairs(listed) do if not set_disk[f] then extra[#extra + 1] = f end end
  if #missing == 0 and #extra == 0 then return nil end
  local parts = {}
  if #missing > 0 then parts[#parts + 1] = "add " .. table.concat(missing, ", ") end
  if #extra > 0 then parts[#parts + 1] = "remove " .. table.concat(extra, ", ") end
  return ROCKSPEC .. ": " .. table.concat(parts, "; ") .. " (lua5.4 tools/update-rockspec.lua does it)"
end

describe("rocks/happysim-scm-1.rockspec", function()
  local spec
  setup(function() spec = load_rockspec() end)

  it("is a builtin rockspec for Lua 5.4 that installs the CLI", function()
    assert.equal("happysim", spec.package)
    assert.equal("scm-1", spec.version)
    assert.equal("builtin", spec.build.type)
    assert.same({ "lua >= 5.4, < 5.5" }, spec.dependencies)
    assert.same({ happysim = "bin/happysim" }, spec.build.install.bin)
    assert.truthy(path.isfile(root .. "/bin/happysim"))
  end)

  it("compiles happysim.core from every .c file of every engine folder", function()
    local core = spec.build.modules["happysim.core"]
    assert.is_table(core)
    assert.same({ "engine", "engine/lua" }, core.incdirs)
    local on_disk = {}
    for _, folder in ipairs(sorted(dir.getdirectories(root .. "/engine"))) do
      for _, f in ipairs(files("engine/" .. path.basename(folder), "*.c")) do on_disk[#on_disk + 1] = f end
    end
    for _, sub in ipairs{ "runtime", "protocols" } do -- the binding's two halves
      for _, f in ipairs(files("engine/lua/" .. sub, "*.c")) do on_disk[#on_disk + 1] = f end
    end
    assert.is_true(#on_disk > 0)
    local problem = drift(core.sources, on_disk)
    assert(problem == nil, problem)
    assert.same(sorted(on_disk), sorted(core.sources))
  end)

  it("installs every Lua module of lua/happysim under its module name", function()
    local listed, names = {}, {}
    for name, src in pairs(spec.build.modules) do
      if name ~= "happysim.core" then
        listed[#listed + 1] = src
        names[src] = name
      end
    end
    local on_disk = files("lua/happysim", "*.lua")
    local problem = drift(listed, on_disk)
    assert(problem == nil, problem)
    for _, src in ipairs(on_disk) do
      local base = path.basename(src):gsub("%.lua$", "")
      assert.equal(base == "init" and "happysim" or "happysim." .. base, names[src])
    end
  end)
end)
