-- Helpers for the specs that run the happysim CLI as a program (cli_spec, check_cli_spec):
-- shell quoting, temporary files removed at the end, and running a command line.
--   local cli = dofile(<this file>)(HAPPYSIM)

return function(program)
  local M = {}
  local tmpfiles = {}

  function M.quote(s)
    return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
  end

  function M.slurp(path)
    local f = assert(io.open(path, "r"))
    local s = f:read("a")
    f:close()
    return s
  end

  function M.tmpname()
    local name = os.tmpname()
    tmpfiles[#tmpfiles + 1] = name
    return name
  end

  -- Writes a scenario script to a temporary file and returns its path.
  function M.script(src)
    local name = M.tmpname() .. ".lua"
    tmpfiles[#tmpfiles + 1] = name
    local f = assert(io.open(name, "w"))
    f:write(src)
    f:close()
    return name
  end

  -- Runs a shell command line with stdin (a string, or nothing: /dev/null); returns exit
  -- status, stdout, stderr.
  function M.shell(cmd, stdin)
    local err = M.tmpname()
    cmd = cmd .. " 2>" .. M.quote(err)
    if stdin then
      local input = M.tmpname()
      local f = assert(io.open(input, "w"))
      f:write(stdin)
      f:close()
      cmd = cmd .. " <" .. M.quote(input)
    else
      cmd = cmd .. " </dev/null"
    end
    local p = assert(io.popen(cmd, "r"))
    local out = p:read("a")
    local _, how, code = p:close()
    assert(how == "exit", "killed by signal " .. tostring(code))
    return code, out, M.slurp(err)
  end

  -- happysim(args [, stdin]) -> exit status, stdout, stderr
  function M.happysim(args, stdin)
    local parts = { M.quote(program) }
    for _, a in ipairs(args) do parts[#parts + 1] = M.quote(a) end
    return M.shell(table.concat(parts, " "), stdin)
  end

  -- A string as a Lua pattern that matches it literally.
  function M.fixed(s) return (s:gsub("%p", "%%%0")) end

  function M.cleanup()
    for _, name in ipairs(tmpfiles) do os.remove(name) end
  end

  return M
end
