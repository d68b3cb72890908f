--- The REPL of `happysim repl`: reads Lua statements like lua.c (an expression prints its
-- values), prints results with hs.inspect, and, when Debian's lua-readline is installed and
-- standard input is a terminal, edits lines with history (~/.happysim_history) and completes
-- names with Tab: globals, `hs.` members, fields and methods of tables and happysim objects.

local inspect = require("happysim.inspect").inspect

local M = {}

-- Fields a happysim object answers besides its methods, for completion (C objects cannot list
-- the fields they compute).
local FIELDS = {
  ["happysim.Simulation"] = { "now", "seed", "end_time", "pending", "events_processed", "running", "closed", "entities" },
  ["happysim.RaftNode"] = { "name", "now", "sim", "crashed", "paused", "attached", "state", "role", "is_leader",
    "current_term", "current_leader", "voted_for", "commit_index", "last_applied", "log_length", "id", "started",
    "stats", "log", "history", "state_machine", "network", "peers" },
  ["happysim.Network"] = { "name", "sim", "stats" },
  ["happysim.PaxosNode"] = { "name", "now", "sim", "crashed", "paused", "attached", "decided_value", "is_decided",
    "quorum_size", "phase1_quorum", "phase2_quorum", "ballot", "promised", "phase", "stats", "id", "started", "network",
    "peers", "members", "checker" },
}
do -- MultiPaxosNode and FlexiblePaxosNode answer the same fields
  local multi = { "name", "now", "sim", "crashed", "paused", "attached", "is_leader", "role", "state", "current_leader",
    "ballot", "commit_index", "last_applied", "log_length", "phase1_quorum", "phase2_quorum", "stats", "log", "history",
    "id", "started", "state_machine", "network", "peers", "members", "checker" }
  FIELDS["happysim.MultiPaxosNode"] = multi
  FIELDS["happysim.FlexiblePaxosNode"] = multi
end

-- The keys one can write after `obj.` (or `obj:` for methods only), sorted.
local function members(obj, methods_only)
  local out, seen = {}, {}
  local function add(k, v)
    if type(k) == "string" and not seen[k] and (not methods_only or type(v) == "function") then
      seen[k] = true
      out[#out + 1] = k
    end
  end
  local t = type(obj)
  if t == "table" then
    for k, v in pairs(obj) do add(k, v) end
  end
  local mt = getmetatable(obj)
  if type(mt) == "table" then
    if type(rawget(mt, "methods")) == "table" then
      for k, v in pairs(rawget(mt, "methods")) do add(k, v) end
    end
    local idx = rawget(mt, "__index")
    if type(idx) == "table" then
      for k, v in pairs(idx) do add(k, v) end
    end
    local class = rawget(mt, "__class") -- hs.Entity instances: their class and its ancestors
    while type(class) == "table" do
      for k, v in pairs(class) do add(k, v) end
      class = rawget(class, "super")
    end
    if not methods_only then
      for _, k in ipairs(FIELDS[rawget(mt, "__name")] or {}) do add(k, true) end
    end
  end
  table.sort(out)
  return out
end

-- Resolves a dotted path ("hs.faults") in env by plain indexing, calling nothing but
-- __index; nil when any step fails.
local function resolve(env, path)
  local v = env
  for part in path:gmatch("[^%.]+") do
    local ok, nxt = pcall(function() return v[part] end)
    if not ok or nxt == nil then return nil end
    v = nxt
  end
  return v
end

--- completions(env, text) -> the candidate completions of the expression that ends `text`
-- (whole replacement words: "hs.sleep", "sim:run_until").
function M.completions(env, text)
  local prefix, sep, word = text:match("([%a_][%w_%.]*)([%.:])([%a_]?[%w_]*)$")
  local out = {}
  if prefix then
    local obj = resolve(env, prefix)
    if obj == nil then return out end
    for _, k in ipairs(members(obj, sep == ":")) do
      if k:sub(1, #word) == word then out[#out + 1] = prefix .. sep .. k end
    end
    return out
  end
  word = text:match("([%a_][%w_]*)$") or ""
  local names = {}
  for k in pairs(env) do names[#names + 1] = k end
  local g = getmetatable(env) and getmetatable(env).__index
  if type(g) == "table" then for k in pairs(g) do names[#names + 1] = k end end
  table.sort(names, function(a, b) return tostring(a) < tostring(b) end)
  local seen = {}
  for _, k in ipairs(names) do
    if type(k) == "string" and k:sub(1, #word) == word and not seen[k] then
      seen[k] = true
      out[#out + 1] = k
    end
  end
  return out
end

-- Reads one complete statement, as lua.c does: a line is first tried as an expression
-- ("return " .. line); a chunk whose error ends in "<eof>" is incomplete, so another
-- line is read. Returns the function, or nil and a syntax error, or nothing at EOF.
local function read_statement(env, prompt)
  local line = prompt(1)
  if line == nil then return end
  local f = load("return " .. line, "=stdin", "t", env)
  if f then return f end
  local buf = line
  while true do
    local g, err = load(buf, "=stdin", "t", env)
    if g then return g end
    if not err:find("<eof>$") then return nil, err end
    local more = prompt(2)
    if more == nil then return nil, err end
    buf = buf .. "\n" .. more
  end
end

-- The line reader: readline when asked for and installed, else io.stdin.
local function line_reader(env, interactive, use_readline)
  local function prompt_text(level)
    return tostring(level == 1 and (rawget(env, "_PROMPT") or "> ") or (rawget(env, "_PROMPT2") or ">> "))
  end
  if interactive and use_readline then
    local ok, RL = pcall(require, "readline")
    if ok and type(RL) == "table" and RL.readline then
      local home = os.getenv("HOME")
      pcall(RL.set_options, { histfile = home and (home .. "/.happysim_history") or "", keeplines = 1000,
                              completion = true, auto_add = false })
      pcall(RL.set_readline_name, "happysim")
      pcall(RL.set_completion_append_character, "")
      RL.set_complete_function(function(text, from, to)
        local line_before = text:sub(1, to)
        local word_start = line_before:find("[%a_][%w_%.:]*$") or (to + 1)
        local candidates = M.completions(env, line_before)
        -- readline replaces text[from..to]; our candidates replace from word_start on
        local out = {}
        for _, c in ipairs(candidates) do out[#out + 1] = c:sub(from - word_start + 1) end
        return out
      end)
      return function(level)
        local line = RL.readline(prompt_text(level))
        if line and line:find("%S") then RL.add_history(line) end
        return line
      end, function() pcall(RL.save_history) end
    end
  end
  return function(level)
    if interactive then
      io.stdout:write(prompt_text(level))
      io.stdout:flush()
    end
    return io.stdin:read("l")
  end, function() end
end

--- run(env, { interactive =, readline =, traceback = fn, error_text = fn }): the prompt loop;
-- returns at EOF (or os.exit()).
function M.run(env, opts)
  local interactive = opts.interactive
  local read, close = line_reader(env, interactive, opts.readline ~= false)
  while true do
    local f, err = read_statement(env, read)
    if f == nil and err == nil then break end
    if f == nil then
      io.stderr:write(err, "\n")
    else
      local res = table.pack(xpcall(f, opts.traceback))
      if not res[1] then
        io.stdout:flush()
        io.stderr:write(res[2], "\n")
      elseif res.n > 1 then
        local print_fn = rawget(env, "print")
        local ok, perr
        if print_fn then
          ok, perr = pcall(print_fn, table.unpack(res, 2, res.n))
        else
          local parts = {}
          for i = 2, res.n do -- strings as lua.c prints them; the rest readably
            parts[#parts + 1] = type(res[i]) == "string" and res[i] or inspect(res[i])
          end
          ok, perr = pcall(print, table.concat(parts, "\t"))
        end
        if not ok then io.stderr:write("error calling 'print' (", opts.error_text(perr), ")\n") end
      end
    end
    io.stdout:flush()
    io.stderr:flush()
  end
  close()
  if interactive then io.stdout:write("\n") end
end

return M
