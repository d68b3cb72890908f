--- The happysim command-line tool: `happysim run SCRIPT`, `happysim check SCRIPT` and
-- `happysim repl [SCRIPT]` (seed sweeps and the determinism check are in cli_check.lua).
-- bin/happysim only finds this module and calls main(arg); everything else is here so
-- that it can be tested. main returns the exit status: 0, 1 (the script or the
-- simulation failed) or 2 (the command line was wrong), like Unix tools.
--
-- The command line is declared with Debian's lua-argparse (new_parser), which writes the
-- help; the scenario-script contract is CONTRACT below (`happysim help run`, README.md).

local M = {}

M.VERSION = "scm-1"

local PROG = "happysim"
-- ---- errors and output --------------------------------------------------------------

local usage_mt = { __tostring = function(e) return e.message end }

-- Raises a usage error (exit 2) with a message. A command line that argparse or parse
-- refuses also carries the usage of its command and the command's name (hint, for the
-- "Try ... --help" line).
local function usage_error(fmt, ...)
  error(setmetatable({ message = fmt:format(...) }, usage_mt), 0)
end

local function command_usage_error(parser, name, fmt, ...)
  local msg = fmt:format(...)
  error(setmetatable({ message = name and (name .. ": " .. msg) or msg, usage = parser:get_usage(),
                       hint = PROG .. (name and (" " .. name) or "") }, usage_mt), 0)
end

local function is_usage_error(e)
  return getmetatable(e) == usage_mt
end

-- The text of an error value, the way lua.c shows it.
local function error_text(e)
  if type(e) == "string" then return e end
  local mt = getmetatable(e)
  if mt and mt.__tostring then return tostring(e) end
  if type(e) == "number" then return tostring(e) end
  return ("(error object is a %s value)"):format(type(e))
end

local function report_error(msg)
  io.stdout:flush()
  msg = msg:gsub("^happysim: ", "")
  io.stderr:write(PROG, ": ", msg, "\n")
  io.stderr:flush()
end

-- A message handler for xpcall: the message with the traceback of the failing code,
-- without the CLI's own frames. A message that already carries a traceback (an error
-- in a simulated process) is left alone.
local function traceback_handler(e)
  local msg = error_text(e)
  if msg:find("\nstack traceback:\n") then return msg end
  local tb = debug.traceback(msg, 2)
  local cut = tb:find("\n\t%[C%]: in function 'xpcall'")
  if cut then tb = tb:sub(1, cut - 1) end
  local lines = {}
  for line in (tb .. "\n"):gmatch("(.-)\n") do
    if not line:find("happysim/cli%.lua:%d+:") then lines[#lines + 1] = line end
  end
  return table.concat(lines, "\n")
end

M.usage_error, M.is_usage_error, M.report_error = usage_error, is_usage_error, report_error
M.traceback_handler, M.error_text = traceback_handler, error_text

local function version_text()
  local ok, hs = pcall(require, "happysim")
  local lib = ok and type(hs) == "table" and hs._VERSION or ("happysim " .. M.VERSION)
  return ("%s (cli %s, %s)"):format(lib, M.VERSION, _VERSION)
end
-- ---- the command line (Debian's lua-argparse) -----------------------------------------

local argparse = require("argparse")

local CONTRACT = [[
The script is a Lua chunk. It receives a context table as `...`:
  { hs = <the happysim library>, seed = <integer>, args = { ... },
    end_time = <--until value or nil>, script = <path>,
    command = "run" | "repl" | "check" }
and sees the globals `hs`, `seed`, `args` (and `arg`: arg[0] is the script,
arg[1..] its arguments); the globals it sets live in its own environment,
which falls back to _G. hs.Simulation{} takes seed = --seed and
end_time = --until unless its options give seed, or end_time/duration;
require("happysim") returns that same `hs`.
If the script returns a Simulation that has not run, `run` runs it and prints
its summary; if the script returns a function after it, that function is
called with the summary instead (so the script narrates its own results).
A script may instead return a scenario (or a plain table with run and checks),
which `check` can run over many seeds:
  return hs.scenario{
    name = "...",
    run = function(ctx) ... return result end,
    checks = { { "name", function(result) return ok, message end } },
    report = function(result) ... end,   -- optional
  }
`run` then calls run(ctx) for --seed, prints the report (or the summary in
result.summary), then each check's verdict, and exits 1 when a check fails.]]

local EXIT_STATUS = [[
Exit status: 0 on success, 1 when the script or the simulation fails (or, for
check, when a seed fails), 2 when the command line is wrong.]]

local shown_mt = {} -- raised by --help and --version: the text to print (exit 0)
local function show(text) error(setmetatable({ text = text }, shown_mt), 0) end

-- Converters for argparse: each returns the value, or nil and the message to report.
local function integer(name, min)
  return function(v)
    local n = math.tointeger(tonumber(v))
    if n and n >= (min or math.mininteger) then return n end
    if min then return nil, ("%s: an integer >= %d is required, got '%s'"):format(name, min, v) end
    return nil, ("%s: an integer is required, got '%s'"):format(name, v)
  end
end

local function seconds(name, above_zero)
  return function(v)
    local t = tonumber(v)
    if t and t == t and t ~= math.huge and (t > 0 or (t == 0 and not above_zero)) then return t + 0.0 end
    return nil, ("%s: a finite number of seconds %s 0 is required, got '%s'"):format(name, above_zero and ">" or ">=", v)
  end
end

local function file(name)
  return function(v)
    if v ~= "" then return v end
    return nil, name .. ": a file name is required"
  end
end

local function shard(v)
  local k, n = v:match("^(%d+)/(%d+)$")
  k, n = math.tointeger(tonumber(k)), math.tointeger(tonumber(n))
  if k and k >= 1 and n >= k then return { k, n } end
  return nil, ("--shard: K/N with 1 <= K <= N is required, got '%s'"):format(v)
end

--- parse_seeds(spec) -> list of integers in the order given, with the text as field spec;
-- or nil and a message. spec: "A..B", "N", or a comma-separated list of those.
function M.parse_seeds(spec)
  local list = { spec = spec }
  for part in (spec .. ","):gmatch("([^,]*),") do
    local a, b = part:match("^%s*(%-?%d+)%s*%.%.%s*(%-?%d+)%s*$")
    if not a then a = part:match("^%s*(%-?%d+)%s*$") b = a end
    a, b = math.tointeger(tonumber(a)), math.tointeger(tonumber(b))
    if not a or not b then
      return nil, ("--seeds: expected A..B, N or a comma-separated list of those, got '%s'"):format(spec)
    end
    if b < a then return nil, ("--seeds: the range %d..%d is empty"):format(a, b) end
    if #list + (b - a + 1) > 10000000 then return nil, "--seeds: more than 10000000 seeds" end
    for s = a, b do list[#list + 1] = s end
  end
  return list
end

-- The options of the commands that load a script (SCRIPT [ARGS...], --seed, --until);
-- returns them, for check's mutexes. how: optional (SCRIPT may be left out), no_stdin (why
-- SCRIPT cannot be -), seed_help (--seed's help, and then it has no default).
local function script_options(cmd, how)
  how = how or {}
  local script = cmd:argument("SCRIPT", how.no_stdin and "The scenario script (a Lua file)."
    or "The scenario script (a Lua file, or - for standard input).")
    :argname("SCRIPT"):target("script"):args(how.optional and "?" or 1)
  if how.no_stdin then
    script:convert(function(v)
      if v ~= "-" then return v end
      return nil, ("the script cannot be standard input (%s)"):format(how.no_stdin)
    end)
  end
  local seed_help = how.seed_help
  return script,
    cmd:argument("ARGS", "Arguments for the script (its args and arg[1..]); after -- when they start with -.")
      :argname("ARGS"):target("args"):args("*"),
    cmd:option("--seed", seed_help or "The seed of the run, an integer", not seed_help and "1" or nil)
      :argname("N"):convert(integer("--seed")),
    cmd:option("--until", "Default end time, in simulated seconds."):argname("T"):target("end_time")
      :convert(seconds("--until"))
end

-- The parser, and its commands by name.
local function new_parser()
  local p = argparse(PROG, "A deterministic discrete-event simulator of distributed systems.")
    :command_target("command"):help_max_width(80):usage_max_width(80)
    :usage("Usage: happysim COMMAND [OPTIONS] [SCRIPT] [-- ARGS...]\n       happysim --help | --version")
    :epilog("Run 'happysim help run' for the scenario-script contract, 'happysim help check' for seed "
      .. "sweeps.\n" .. EXIT_STATUS)
  local commands = {} -- name -> parser
  local function help_flag(c)
    c:add_help(false):flag("-h --help", "Show this help and exit."):action(function() show(c:get_help()) end)
  end
  local function command(name, summary, description, epilog)
    local c = p:command(name, description, epilog):summary(summary)
    commands[name] = c
    help_flag(c)
    return c
  end

  help_flag(p)
  p:flag("--version", "Show the version and exit."):action(function() show(version_text()) end)

  local run = command("run", "Load a scenario script and run it.",
    "Load the scenario script SCRIPT and run it.", CONTRACT
    .. "\n\nExample:\n  happysim run scripts/client_server.lua --seed 7 -- clients=20 workers=4")
  script_options(run)
  run:flag("--timing", "Also print wall-clock time and events per second.")
  run:option("--trace", "Write the run of the script's first Simulation as a Chrome trace (JSON) that "
    .. "Perfetto (ui.perfetto.dev) and chrome://tracing open."):argname("FILE"):convert(file("--trace"))
  run:option("--shiviz", "Write its messages as a vector-clock log that ShiViz reads."):argname("FILE")
    :convert(file("--shiviz"))

  local check = command("check", "Run a scenario over many seeds, or check that a seed replays exactly.",
    "Run the scenario that SCRIPT returns (hs.scenario{...}: see 'happysim help run') once per seed, in "
    .. "parallel worker processes, and report the seeds that fail a check, each with the command that "
    .. "replays it. A script that returns a Simulation instead passes a seed when it runs without an error.",
    [[
Progress goes to standard error. The summary goes to standard output: seeds
passed, failed and timed out, and for the first 10 failures the check that
failed, its message and the command that replays the seed (`happysim run SCRIPT
--seed N`). Each seed runs on its own: the results do not depend on --jobs or
on how the seeds are sharded.
Exit status: 0 when every seed passes (or both runs are identical), 1 when a
seed fails or times out (or the runs differ), 2 when the command line is wrong
(or the files given to --merge do not make up one sweep).

Examples:
  happysim check scripts/raft_linearizable.lua --seeds 1..200 --jobs 2
  happysim check scripts/raft_unsafe_reads.lua --seeds 1..50
  happysim run scripts/raft_unsafe_reads.lua --seed 2        (replays a failure)
  happysim check scripts/raft_linearizable.lua --determinism --seed 7
  parallel happysim check scripts/raft_linearizable.lua --seeds 1..100000 \
      --shard {}/4 --jobs 1 --json shard{}.jsonl ::: 1 2 3 4
  happysim check --merge shard1.jsonl shard2.jsonl shard3.jsonl shard4.jsonl]])
    :usage([[
Usage: happysim check SCRIPT --seeds LIST [--shard K/N] [--jobs N] [--json FILE]
                      [--timeout S] [--until T] [-- ARGS...]
       happysim check SCRIPT --determinism [--seed N] [--until T] [-- ARGS...]
       happysim check --merge FILE...]])
  local script, args, seed, end_time = script_options(check,
    { optional = true, no_stdin = "each worker loads it", seed_help = "The seed for --determinism (default: 1)." })
  local seeds = check:option("--seeds", "The seeds: A..B, N, or a comma-separated list of those "
    .. "(1..1000, 7, 1..50,90..99)."):argname("LIST"):convert(M.parse_seeds)
  local determinism = check:flag("--determinism", "Run one seed (--seed) twice, in two processes, and "
    .. "compare the event traces: their hashes, then the first event that differs.")
  local merge = check:option("--merge", "Print the summary of the runs whose --json files are given, exactly "
    .. "as one run over all their seeds prints it."):argname("FILE"):args("+")
  local sweep_only = {
    check:option("--shard", "Run only the K-th of N disjoint slices of LIST (its seeds at positions K, K+N, "
      .. "K+2N ...): N runs, on one machine or many, cover LIST once; --merge puts their --json files "
      .. "together."):argname("K/N"):convert(shard),
    check:option("--jobs", "Worker processes (default: the number of CPUs)."):argname("N")
      :convert(integer("--jobs", 1)),
    check:option("--json", "Also write one JSON record per seed to FILE (JSON Lines: a header, then per seed "
      .. "its seed, verdict (pass, fail or timeout), failed checks and messages, replay command and wall "
      .. "time, then a closing record)."):argname("FILE"):convert(file("--json")),
    check:option("--timeout", "A wall-clock guard: a seed that runs longer than S seconds is stopped (a new "
      .. "worker takes the other seeds) and reported as timed out, which is no verdict: it depends on the "
      .. "machine and its load (a scenario's own budgets, such as hs.check's max_steps, give the same "
      .. "verdict everywhere)."):argname("S"):convert(seconds("--timeout", true)),
  }
  check:mutex(seeds, determinism, merge)
  for _, o in ipairs(sweep_only) do
    check:mutex(o, determinism)
    check:mutex(o, merge)
  end
  for _, e in ipairs{ script, args, seed, end_time } do check:mutex(e, merge) end
  check:mutex(seed, seeds)

  local repl = command("repl", "Load a scenario script, then read Lua lines from standard input.",
    "Load the scenario script SCRIPT if one is given, then read Lua statements from standard input and run "
    .. "them, with `hs` and the script's globals in scope. An expression's values are printed; a statement "
    .. "may span several lines; an error is printed with its traceback and the session goes on. End with "
    .. "EOF (Ctrl-D) or os.exit().", CONTRACT .. [[

In the REPL a returned Simulation is not run: it is bound to the global `sim`
(and a returned function to `report`) unless the script set those itself.

Example:
  happysim repl scripts/client_server.lua
  > sim:step(10)
  > sim.now]])
  script_options(repl, { optional = true, no_stdin = "it is the prompt" })

  local diagram = command("diagram", "Run a script and draw its run as a space-time diagram (SVG).",
    "Run SCRIPT as `run` does (without printing its summary), recording its first Simulation, and draw the "
    .. "run as a space-time diagram: a lifeline per node, messages as arrows labelled with their type, lost "
    .. "messages, crashes, pauses, partitions and roles, and a time axis.",
    "Example:\n  happysim diagram scripts/raft_partition.lua --from 4 --to 9 -o partition.svg")
  script_options(diagram)
  diagram:option("-o --output", "The file to write."):argname("SVG"):count(1):convert(file("-o"))
  diagram:option("--from", "The window's start, in simulated seconds (default: the run's).")
    :argname("T"):convert(seconds("--from"))
  diagram:option("--to", "The window's end (default: the run's).")
    :argname("T"):convert(seconds("--to"))
  diagram:option("--max-messages", "Refuse a window holding more messages", "600")
    :argname("N"):target("max_messages"):convert(integer("--max-messages", 1))

  local help = command("help", "Show this help, or a command's.", "Show the help of happysim or of COMMAND.")
  help:argument("COMMAND", "The command."):argname("COMMAND"):target("topic"):args("?"):convert(function(name)
    if commands[name] and name ~= "__worker" then return commands[name] end
    return nil, ("unknown command '%s'"):format(name)
  end)

  -- one worker process of `check` (cli_check.lua starts them)
  local worker = command("__worker", "", ""):hidden(true)
  script_options(worker)
  worker:option("--seeds"):count(1):convert(M.parse_seeds)
  worker:option("--stride", nil, "1"):convert(integer("--stride", 1))
  worker:option("--start", nil, "1"):convert(integer("--start", 1))
  worker:option("--trace")

  function p.error(parser, msg) -- argparse's own prints the usage and exits 1
    local name
    for n, c in pairs(commands) do
      if c == parser then name = n end
    end
    command_usage_error(parser, name, "%s", msg)
  end
  return p, commands
end

-- argparse reads a value that starts with - as an option: "--seed -17" is passed on as
-- "--seed=-17" (up to --, after which everything is the script's).
local function join_negative_values(argv)
  local out, i = {}, 1
  while i <= #argv do
    local a, b = argv[i], argv[i + 1]
    if a == "--" then
      table.move(argv, i, #argv, #out + 1, out)
      break
    end
    if b and a:find("^%-%-%a[%w-]*$") and b:find("^%-%.?%d") then
      out[#out + 1] = a .. "=" .. b
      i = i + 2
    else
      out[#out + 1] = a
      i = i + 1
    end
  end
  return out
end

--- parse(argv) -> options table; raises a usage error (see is_usage_error).
-- The table: command ("run" | "repl" | "check" | "diagram" | "__worker"), script, args, seed,
-- end_time and each command's options; or { show = text } for --help, help and --version.
function M.parse(argv)
  local parser, commands = new_parser()
  local ok, o = pcall(parser.parse, parser, join_negative_values(argv))
  if not ok then
    if getmetatable(o) == shown_mt then return { show = o.text } end
    error(o, 0)
  end
  if o.command == "help" then return { show = (o.topic or parser):get_help() } end
  local function refuse(fmt, ...) command_usage_error(commands[o.command], o.command, fmt, ...) end
  if o.command == "check" then
    if o.merge then
      o.files, o.merge = o.merge, true
      return o
    end
    if not o.script then refuse("missing argument 'SCRIPT'") end
    if o.seed and not o.determinism then refuse("--seed goes with --determinism (for a sweep, give --seeds)") end
    o.seed = o.seed or 1
    if not (o.seeds or o.determinism) then refuse("--seeds LIST, --determinism or --merge FILE... is required") end
  end
  if o.command == "diagram" and o.from and o.to and o.to <= o.from then refuse("--to must be after --from") end
  o.seeds_spec = o.seeds and o.seeds.spec
  return o
end

-- ---- the script's world -------------------------------------------------------------

local function is_simulation(v)
  local mt = getmetatable(v)
  return type(mt) == "table" and mt.__name == "happysim.Simulation"
end
M.is_simulation = is_simulation

--- script_library(hs, seed, end_time [, on_sim]) -> a copy of the library whose Simulation
-- gives seed and end_time as defaults (and passes each new Simulation to on_sim). Errors
-- keep the names and positions the user's call would have had without the wrapper.
function M.script_library(hs, seed, end_time, on_sim)
  local real = hs.Simulation
  local function Simulation(opts)
    local o = opts
    if type(opts) == "table" or opts == nil then
      o = {}
      for k, v in pairs(opts or {}) do o[k] = v end
      if o.seed == nil then o.seed = seed end
      if end_time and o.end_time == nil and o.duration == nil then o.end_time = end_time end
    end
    local ok, sim = pcall(real, o)
    if ok then
      if on_sim then on_sim(sim) end
      return sim
    end
    if type(sim) ~= "string" or sim:find("^[^\n:]+:%d+: ") then error(sim, 0) end -- already placed
    -- called straight from pcall, the C function's message names no place: add the caller's
    error((sim:gsub("^bad argument #(%d+) to '[^']*'", "bad argument #%1 to 'Simulation'")), 2)
  end
  local lib = {}
  for k, v in pairs(hs) do lib[k] = v end
  lib.Simulation = Simulation
  return setmetatable(lib, { __index = hs })
end

-- Loads the script as a chunk with environment env; raises a usage error when the file
-- cannot be read, returns nil and the message on a syntax error.
local function load_script(path, env)
  if path == "-" then
    local src = io.stdin:read("a") or ""
    src = src:gsub("^#[^\n]*", "")
    return load(src, "=stdin", "t", env)
  end
  local f, err = io.open(path, "r")
  if not f then usage_error("cannot open script: %s", err) end
  f:close()
  return loadfile(path, "t", env)
end

-- The real library, loaded once: package.loaded["happysim"] is the script's copy while
-- a script runs.
local library
local function real_library()
  library = library or require("happysim")
  return library
end

--- load_and_run(opts) -> true, results (packed), env, ctx | false, message
-- Builds the context and environment, and runs the script. opts: script, seed, args,
-- end_time, command, and optionally on_sim (see script_library) and quiet (the script's
-- print does nothing).
function M.load_and_run(opts)
  local hs = M.script_library(real_library(), opts.seed, opts.end_time, opts.on_sim)
  package.loaded["happysim"] = hs
  local arg = { [0] = opts.script }
  for i, a in ipairs(opts.args) do arg[i] = a end
  local env = setmetatable({ hs = hs, seed = opts.seed, args = opts.args, arg = arg }, { __index = _G })
  if opts.quiet then env.print = function() end end
  local ctx = {
    hs = hs, seed = opts.seed, args = opts.args, end_time = opts.end_time,
    script = opts.script, command = opts.command,
  }
  if not opts.script then return true, table.pack(), env, ctx end
  local chunk, err = load_script(opts.script, env)
  if not chunk then return false, err end
  local res = table.pack(xpcall(chunk, traceback_handler, ctx))
  if not res[1] then return false, res[2] end
  return true, table.pack(table.unpack(res, 2, res.n)), env, ctx
end

-- As load_and_run, but reports a failure on stderr.
local function run_script(opts)
  local ok, res, env, ctx = M.load_and_run(opts)
  if not ok then
    report_error(res)
    return false
  end
  return true, res, env, ctx
end

local function print_summary(s, timing)
  print(("summary: seed %s, simulated %.6g s, %d events processed, %d cancelled, %d pending")
    :format(tostring(s.seed), s.duration_s, s.events_processed, s.events_cancelled, s.events_pending or 0))
  print("trace_hash: " .. tostring(s.trace_hash))
  local names = {}
  for name in pairs(s.entities or {}) do names[#names + 1] = name end
  table.sort(names, function(a, b) return s.entities[a].order < s.entities[b].order end)
  for _, name in ipairs(names) do
    print(("  %-24s %10d events"):format(name, s.entities[name].events_handled))
  end
  if timing then
    print(("wall clock: %.3f s, %.0f events/s"):format(s.wall_clock_seconds, s.events_per_wall_second))
  end
end
M.print_summary = print_summary

local function not_yet_run(sim)
  return not sim.closed and sim.events_processed == 0 and sim.now == 0
end

-- ---- scenarios ------------------------------------------------------------------------

local scenario_lib = require("happysim.scenario")

--- scenario_of(results, script) -> the Scenario a script returned (an hs.scenario, or a
-- plain table with run and checks made into one), or nil.
function M.scenario_of(res, script)
  local v = res[1]
  if scenario_lib.is_scenario(v) then return v end
  if type(v) == "table" and getmetatable(v) == nil and type(v.run) == "function" then
    local def = {}
    for k, x in pairs(v) do def[k] = x end
    def.name = def.name or tostring(script)
    return scenario_lib.scenario(def)
  end
  return nil
end

--- as_scenario(results, script) -> a Scenario for any script: the one it returned; else one
-- that runs a returned Simulation that has not run (and calls the function returned after
-- it with the summary); else one whose run does nothing more (the script did its work when
-- it was loaded). The last two have no checks: a seed passes when nothing raises.
function M.as_scenario(res, script)
  local s = M.scenario_of(res, script)
  if s then return s end
  local sim, after = res[1], res[2]
  local name = tostring(script)
  if is_simulation(sim) and not sim.closed and sim.events_processed == 0 and sim.now == 0 then
    return scenario_lib.scenario{ name = name, run = function()
      local summary = sim:run()
      if type(after) == "function" then after(summary) end
      return { summary = summary }
    end }
  end
  return scenario_lib.scenario{ name = name, run = function() return {} end }
end

--- indent(text [, prefix]) -> every line of text prefixed with prefix (default two spaces).
function M.indent(text, prefix)
  prefix = prefix or "  "
  return prefix .. tostring(text):gsub("\n", "\n" .. prefix)
end

--- verdict_text(v) -> the lines `run` and `check` print for a check's verdict
-- (v = { name, ok, message }): "check NAME: ok (message)" or "check NAME: FAILED" and the
-- message indented under it.
function M.verdict_text(v)
  local msg = v.message
  if v.ok then
    if msg == nil or msg == "" then return ("check %s: ok"):format(v.name) end
    if not msg:find("\n") then return ("check %s: ok (%s)"):format(v.name, msg) end
    return ("check %s: ok\n%s"):format(v.name, M.indent(msg))
  end
  return ("check %s: FAILED\n%s"):format(v.name, M.indent(msg or "(no message)"))
end

-- `run` on a script that returned a scenario: one seed, the report, the verdicts.
local function run_scenario(scenario, ctx, opts)
  local out = scenario:run_seed(ctx, traceback_handler)
  local result = out.result
  if result ~= nil then
    if scenario.report then
      local fine, err = xpcall(scenario.report, traceback_handler, result)
      if not fine then
        report_error(err)
        return 1
      end
    elseif type(result) == "table" and type(result.summary) == "table" then
      print_summary(result.summary, opts.timing)
    end
  end
  for _, v in ipairs(out.verdicts) do print(M.verdict_text(v)) end
  local n = #out.verdicts
  if out.ok then
    print(("scenario %s, seed %d: passed (%d check%s)"):format(scenario.name, ctx.seed, n, n == 1 and "" or "s"))
  else
    local names = {}
    for _, v in ipairs(out.failures) do names[#names + 1] = v.name end
    print(("scenario %s, seed %d: FAILED (%s)"):format(scenario.name, ctx.seed, table.concat(names, ", ")))
  end
  io.stdout:flush()
  return out.ok and 0 or 1
end

-- ---- recording a run (--trace, --shiviz, diagram) ---------------------------------------

-- Records the first Simulation the script makes into a Chrome trace at path (on_sim for
-- load_and_run); returns on_sim and a function that ends the trace (its file is complete then).
local function recorder(path)
  local recorded
  local function on_sim(sim)
    if recorded then return end
    recorded = sim
    sim:record_trace(path)
  end
  return on_sim, function()
    if recorded and not recorded.closed then recorded:stop_trace() end
    return recorded ~= nil
  end
end

-- The diagram model of a trace file (lua-cjson decodes it).
local function trace_model(path)
  local ok, cjson = pcall(require, "cjson")
  if not ok then error("reading a trace needs lua-cjson (Debian package lua-cjson)", 0) end
  local f = assert(io.open(path, "r"))
  local events = cjson.decode(f:read("a"))
  f:close()
  return require("happysim.diagram").model(events)
end

local function write_file(path, text)
  local f, err = io.open(path, "w")
  if not f then error(("cannot write %s"):format(err), 0) end
  f:write(text)
  f:close()
end

-- Runs what the script returned, as `run` does; returns the exit status.
local function run_result(res, ctx, opts, quiet)
  local scenario = M.scenario_of(res, opts.script)
  if scenario then return run_scenario(scenario, ctx, opts) end
  local sim, after = res[1], res[2]
  if is_simulation(sim) and not_yet_run(sim) then
    local done, summary = xpcall(sim.run, traceback_handler, sim)
    if not done then
      report_error(summary)
      return 1
    end
    if type(after) == "function" then
      local fine, err = xpcall(after, traceback_handler, summary)
      if not fine then
        report_error(err)
        return 1
      end
    elseif not quiet then
      print_summary(summary, opts.timing)
    end
  end
  return 0
end

local function cmd_run(opts)
  local trace_path = opts.trace or (opts.shiviz and os.tmpname())
  local stop
  if trace_path then opts.on_sim, stop = recorder(trace_path) end
  local ok, res, _, ctx = run_script(opts)
  if not ok then return 1 end
  local status = run_result(res, ctx, opts)
  if stop and not stop() then
    report_error("--trace/--shiviz: the script made no Simulation to record")
    status = 1
  elseif stop and opts.shiviz then
    write_file(opts.shiviz, require("happysim.diagram").shiviz(trace_model(trace_path)))
  end
  if trace_path and not opts.trace then os.remove(trace_path) end
  io.stdout:flush()
  return status
end

local function cmd_diagram(opts)
  local trace_path = os.tmpname()
  local stop
  opts.on_sim, stop = recorder(trace_path)
  local ok, res, _, ctx = run_script(opts)
  if not ok then
    os.remove(trace_path)
    return 1
  end
  local status = run_result(res, ctx, opts, true)
  if not stop() then
    os.remove(trace_path)
    report_error("diagram: the script made no Simulation to draw")
    return 1
  end
  local drawn, svg = pcall(require("happysim.diagram").svg, trace_model(trace_path),
    { from = opts.from, to = opts.to, max_messages = opts.max_messages })
  os.remove(trace_path)
  if not drawn then
    report_error(error_text(svg):gsub("^[^\n]-diagram%.lua:%d+: ", ""))
    return 1
  end
  write_file(opts.output, svg)
  io.stdout:flush()
  return status
end

-- ---- the REPL (lua/happysim/repl.lua) ----------------------------------------------


--- repl(env [, interactive]): the prompt loop; returns at EOF.
function M.repl(env, interactive)
  require("happysim.repl").run(env, { interactive = interactive, traceback = traceback_handler,
                                      error_text = error_text, readline = os.getenv("HAPPYSIM_NO_READLINE") == nil })
end

local function cmd_repl(opts)
  local ok, res, env = run_script(opts)
  if not ok then return 1 end
  if is_simulation(res[1]) and rawget(env, "sim") == nil then env.sim = res[1] end
  if type(res[2]) == "function" and rawget(env, "report") == nil then env.report = res[2] end
  local interactive = require("luv").guess_handle(0) == "tty"
  if interactive then
    io.stdout:write(("happysim %s (%s)  hs, seed, args%s are set; Ctrl-D to quit\n")
      :format(M.VERSION, _VERSION, rawget(env, "sim") and ", sim" or ""))
  end
  M.repl(env, interactive)
  return 0
end

-- ---- main ---------------------------------------------------------------------------

--- main(argv) -> exit status. argv is a list of strings (bin/happysim passes arg).
function M.main(argv)
  local ok, opts = pcall(M.parse, argv or {})
  if not ok then
    if not is_usage_error(opts) then error(opts, 0) end
    report_error(opts.message)
    io.stderr:write(opts.usage or "", opts.usage and "\n" or "",
      ("Try '%s --help' for more information.\n"):format(opts.hint or PROG))
    return 2
  end
  if opts.show then
    io.stdout:write(opts.show, "\n")
    return 0
  end
  local commands = {
    run = cmd_run,
    repl = cmd_repl,
    diagram = cmd_diagram,
    check = function(o) return require("happysim.cli_check").check(M, o, argv) end,
    __worker = function(o) return require("happysim.cli_check").worker(M, o) end,
  }
  local run_ok, status = pcall(commands[opts.command], opts)
  if run_ok then return status end
  if is_usage_error(status) then
    report_error(status.message)
    return 2
  end
  report_error(error_text(status))
  return 1
end

return M
