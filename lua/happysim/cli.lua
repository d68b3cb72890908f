--- The happysim command-line tool: `happysim run SCRIPT`, `happysim check SCRIPT` and
-- `happysim repl [SCRIPT]` (seed sweeps and the determinism check are in cli_check.lua).
-- bin/happysim only finds this module and calls main(arg); everything else is here so
-- that it can be tested. main returns the exit status: 0, 1 (the script or the
-- simulation failed) or 2 (the command line was wrong), like Unix tools.
--
-- The scenario-script contract (also in the help text and README.md):
--   * the script is a Lua chunk; `...` is a context table
--       { hs = <the library>, seed = <integer>, args = { ... }, end_time = <number or nil>,
--         script = <path>, command = "run" | "repl" | "check" }
--   * it also sees the globals hs, seed and args (and arg, as lua.c sets it:
--     arg[0] is the script, arg[1..] its arguments); the globals it sets live in
--     its own environment, which falls back to _G;
--   * hs.Simulation{} takes seed = --seed and end_time = --until when the options
--     table gives neither (seed; end_time or duration);
--     require("happysim") returns the same table as hs while the CLI runs;
--   * if the script returns a Simulation that has not run yet, `run` runs it and
--     prints its summary, or, when the script returns a function after the
--     Simulation, calls that function with the summary instead;
--     `repl` does not run it but binds it (and the function) to the globals `sim`
--     (and `report`) unless the script set them;
--   * a script may instead return a scenario (hs.scenario{...}, or a plain table with
--     run and checks): `run` runs it for --seed and prints each check's verdict (exit 1
--     when one fails); `check` runs it over many seeds.

local M = {}

M.VERSION = "scm-1"

local PROG = "happysim"

local HELP = [[
Usage: happysim COMMAND [OPTIONS] [SCRIPT] [-- SCRIPT-ARGS...]
       happysim --help | --version

A deterministic discrete-event simulator of distributed systems.

Commands:
  run SCRIPT      load a scenario script and run it
  check SCRIPT    run a scenario over many seeds, or check that a seed replays exactly
  repl [SCRIPT]   load a scenario script, then read Lua lines from standard input
  diagram SCRIPT  run a script and draw its run as a space-time diagram (SVG)
  help [COMMAND]  show this help, or a command's

Options:
  -h, --help      show help and exit
  --version       show the version and exit

Run 'happysim help run' for the scenario-script contract, 'happysim help check'
for seed sweeps.
Exit status: 0 on success, 1 when the script or the simulation fails (or, for
check, when a seed fails), 2 when the command line is wrong.
]]

local CONTRACT = [[
The script is a Lua chunk. It receives a context table as `...`:
  { hs = <the happysim library>, seed = <integer>, args = { ... },
    end_time = <--until value or nil>, script = <path>,
    command = "run" | "repl" | "check" }
and sees the globals `hs`, `seed`, `args` (and `arg`: arg[0] is the script,
arg[1..] its arguments). hs.Simulation{} takes seed = --seed and
end_time = --until unless its options give seed, or end_time/duration;
require("happysim") returns that same `hs`.
If the script returns a Simulation that has not run, `run` runs it and prints
its summary; if the script returns a function after it, that function is
called with the summary instead (so the script narrates its own results).
A script may instead return a scenario, which `check` can run over many seeds:
  return hs.scenario{ name = "...", run = function(ctx) ... return result end,
                      checks = { { "name", function(result) return ok, message end } },
                      report = function(result) ... end }   -- report: optional
`run` then calls run(ctx) for --seed, prints the report (or the summary in
result.summary), then each check's verdict, and exits 1 when a check fails.
]]

local RUN_HELP = [[
Usage: happysim run SCRIPT [--seed N] [--until T] [--timing] [--trace FILE]
                    [--shiviz FILE] [-- SCRIPT-ARGS...]

Load the scenario script SCRIPT (a file, or - for standard input) and run it.

Options:
  --seed N        the seed of the run (an integer; default 1)
  --until T       default end time in simulated seconds (T >= 0)
  --timing        also print wall-clock time and events per second
  --trace FILE    write the run of the script's first Simulation as a Chrome
                  trace (JSON) that Perfetto (ui.perfetto.dev) and
                  chrome://tracing open
  --shiviz FILE   write its messages as a vector-clock log that ShiViz reads
  -h, --help      show this help and exit

Arguments after SCRIPT, and everything after --, are passed to the script.

]] .. CONTRACT .. [[

Example:
  happysim run scripts/client_server.lua --seed 7 -- clients=20 workers=4
]]

local DIAGRAM_HELP = [[
Usage: happysim diagram SCRIPT -o FILE.svg [--from T] [--to T] [--max-messages N]
                        [--seed N] [--until T] [-- SCRIPT-ARGS...]

Run SCRIPT as `run` does (without printing its summary), recording its first
Simulation, and draw the run as a space-time diagram: a lifeline per node,
messages as arrows labelled with their type, lost messages, crashes, pauses,
partitions and roles, and a time axis.

Options:
  -o, --output FILE   the SVG file to write (required)
  --from T, --to T    the window, in simulated seconds (default: the whole run)
  --max-messages N    refuse a window holding more messages (default 600)
  --seed N, --until T as for run

Example:
  happysim diagram scripts/raft_partition.lua --from 4 --to 9 -o partition.svg
]]

local REPL_HELP = [[
Usage: happysim repl [SCRIPT] [--seed N] [--until T] [-- SCRIPT-ARGS...]

Load the scenario script SCRIPT if one is given, then read Lua statements from
standard input and run them, with `hs` and the script's globals in scope.
An expression's values are printed; a statement may span several lines; an
error is printed with its traceback and the session goes on. End with EOF
(Ctrl-D) or os.exit().

Options:
  --seed N        the seed (an integer; default 1)
  --until T       default end time in simulated seconds (T >= 0)
  -h, --help      show this help and exit

]] .. CONTRACT .. [[
In the REPL a returned Simulation is not run: it is bound to the global `sim`
(and a returned function to `report`) unless the script set those itself.

Example:
  happysim repl scripts/client_server.lua
  > sim:step(10)
  > sim.now
]]

local CHECK_HELP = [[
Usage: happysim check SCRIPT --seeds LIST [--shard K/N] [--jobs N] [--json FILE]
                      [--timeout S] [--until T] [-- SCRIPT-ARGS...]
       happysim check --merge FILE...
       happysim check SCRIPT --determinism [--seed N] [--until T] [-- SCRIPT-ARGS...]

Run the scenario that SCRIPT returns (hs.scenario{...}: see 'happysim help run')
once per seed, in parallel worker processes, and report the seeds that fail a
check, each with the command that replays it. A script that returns a
Simulation instead passes a seed when it runs without an error.

Options:
  --seeds LIST    the seeds: A..B, N, or a comma-separated list of those
                  (1..1000, 7, 1..50,90..99)
  --shard K/N     run only the K-th of N disjoint slices of LIST (its seeds at
                  positions K, K+N, K+2N ...): N runs, on one machine or many,
                  cover LIST once; --merge puts their --json files together
  --jobs N        worker processes (default: the number of CPUs)
  --json FILE     also write one JSON record per seed to FILE (JSON Lines: a
                  header, then per seed its seed, verdict (pass, fail or
                  timeout), failed checks and messages, replay command and wall
                  time, then a closing record)
  --merge FILE... print the summary of the runs whose --json files are given,
                  exactly as one run over all their seeds prints it
  --timeout S     a wall-clock guard: a seed that runs longer than S seconds is
                  stopped (a new worker takes the other seeds) and reported as
                  timed out, which is no verdict: it depends on the machine and
                  its load (a scenario's own budgets, such as hs.check's
                  max_steps, give the same verdict everywhere)
  --until T       default end time in simulated seconds, as for run
  --determinism   run one seed twice, in two processes, and compare the event
                  traces: their hashes, then the first event that differs
  --seed N        the seed for --determinism (default 1)
  -h, --help      show this help and exit

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
  happysim check --merge shard1.jsonl shard2.jsonl shard3.jsonl shard4.jsonl
]]

-- ---- errors and output --------------------------------------------------------------

local usage_mt = { __tostring = function(e) return e.message end }

-- Raises a usage error (exit 2) with a message.
local function usage_error(fmt, ...)
  error(setmetatable({ message = fmt:format(...) }, usage_mt), 0)
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

-- ---- the command line ---------------------------------------------------------------

local function parse_seed(v)
  local n = math.tointeger(tonumber(v))
  if not n then usage_error("--seed: an integer is required, got '%s'", tostring(v)) end
  return n
end

local function parse_until(v)
  local t = tonumber(v)
  if not t or t ~= t or t < 0 or t == math.huge then
    usage_error("--until: a finite number of seconds >= 0 is required, got '%s'", tostring(v))
  end
  return t + 0.0 -- seconds are floats, as sim.end_time reads
end

local command_options = {
  run = { seed = true, ["until"] = true, timing = true, trace = true, shiviz = true },
  diagram = { seed = true, ["until"] = true, from = true, to = true, output = true, ["max-messages"] = true },
  repl = { seed = true, ["until"] = true },
  check = { seed = true, ["until"] = true, seeds = true, jobs = true, timeout = true, determinism = true, shard = true,
            json = true, merge = true },
  -- hidden: one worker process of `check` (see cli_check.lua)
  __worker = { ["until"] = true, seeds = true, stride = true, start = true, timeout = true, trace = true },
}
local hidden_commands = { __worker = true }
local flag_options = { timing = true, determinism = true, merge = true }

--- parse_seeds(spec) -> list of integers, in the order given; raises a usage error.
-- spec: "A..B", "N", or a comma-separated list of those.
function M.parse_seeds(spec)
  local list = {}
  if type(spec) ~= "string" or spec == "" then usage_error("--seeds: a list of seeds is required (A..B, N, ...)") end
  for part in (spec .. ","):gmatch("([^,]*),") do
    local a, b = part:match("^%s*(%-?%d+)%s*%.%.%s*(%-?%d+)%s*$")
    if not a then a = part:match("^%s*(%-?%d+)%s*$") b = a end
    a, b = math.tointeger(tonumber(a)), math.tointeger(tonumber(b))
    if not a or not b then
      usage_error("--seeds: expected A..B, N or a comma-separated list of those, got '%s'", spec)
    end
    if b < a then usage_error("--seeds: the range %d..%d is empty", a, b) end
    if #list + (b - a + 1) > 10000000 then usage_error("--seeds: more than 10000000 seeds") end
    for s = a, b do list[#list + 1] = s end
  end
  return list
end

local function parse_count(name, v, min)
  local n = math.tointeger(tonumber(v))
  if not n or n < min then usage_error("--%s: an integer >= %d is required, got '%s'", name, min, tostring(v)) end
  return n
end

--- parse(argv) -> options table; raises a usage error (see is_usage_error).
-- The table: command ("run" | "repl" | "check" | "__worker" | "help" | "version"), help (true for a command's
-- --help), topic (for help), script, args, seed, end_time, timing.
function M.parse(argv)
  local n = #argv
  if n == 0 then usage_error("a command is required") end
  local first = argv[1]
  if first == "-h" or first == "--help" then return { command = "help" } end
  if first == "--version" then return { command = "version" } end
  if first == "help" then
    local topic = argv[2]
    if topic ~= nil and (not command_options[topic] or hidden_commands[topic]) then
      usage_error("help: unknown command '%s'", topic)
    end
    return { command = "help", topic = topic }
  end
  if first:sub(1, 1) == "-" then usage_error("unknown option '%s'", first) end
  local allowed = command_options[first]
  if not allowed then usage_error("unknown command '%s'", first) end

  local opts = { command = first, args = {}, seed = 1 }
  local i = 2
  local function value(name, inline)
    if inline then return inline end
    i = i + 1
    if i > n then usage_error("%s: option --%s needs a value", first, name) end
    return argv[i]
  end
  while i <= n do
    local a = argv[i]
    if a == "--" then
      for j = i + 1, n do opts.args[#opts.args + 1] = argv[j] end
      break
    elseif a == "-h" or a == "--help" then
      opts.help = true
    elseif a == "-o" and allowed.output then
      i = i + 1
      if i > n then usage_error("%s: option -o needs a file name", first) end
      opts.output = argv[i]
    elseif a:sub(1, 2) == "--" then
      local name, inline = a:match("^%-%-([^=]+)=(.*)$")
      name = name or a:sub(3)
      if not allowed[name] then usage_error("%s: unknown option '%s'", first, a) end
      if flag_options[name] then
        if inline then usage_error("%s: option --%s takes no value", first, name) end
        opts[name] = true
      elseif name == "seed" then
        opts.seed = parse_seed(value(name, inline))
        opts.seed_given = true
      elseif name == "until" then
        opts.end_time = parse_until(value(name, inline))
      elseif name == "seeds" then
        opts.seeds_spec = value(name, inline)
        opts.seeds = M.parse_seeds(opts.seeds_spec)
      elseif name == "jobs" then
        opts.jobs = parse_count(name, value(name, inline), 1)
      elseif name == "stride" then
        opts.stride = parse_count(name, value(name, inline), 1)
      elseif name == "start" then
        opts.start = parse_count(name, value(name, inline), 1)
      elseif name == "timeout" then
        local v = value(name, inline)
        local t = tonumber(v)
        if not t or t ~= t or t <= 0 or t == math.huge then
          usage_error("--timeout: a finite number of seconds > 0 is required, got '%s'", tostring(v))
        end
        opts.timeout = t
      elseif name == "trace" or name == "shiviz" or name == "output" then
        opts[name] = value(name, inline)
        if opts[name] == "" then usage_error("--%s: a file name is required", name) end
      elseif name == "from" or name == "to" then
        opts[name] = parse_until(value(name, inline))
      elseif name == "max-messages" then
        opts.max_messages = parse_count(name, value(name, inline), 1)
      elseif name == "json" then
        opts.json = value(name, inline)
        if opts.json == "" then usage_error("--json: a file name is required") end
      elseif name == "shard" then
        local v = value(name, inline)
        local k, of = tostring(v):match("^(%d+)/(%d+)$")
        k, of = math.tointeger(tonumber(k)), math.tointeger(tonumber(of))
        if not k or k < 1 or of < k then
          usage_error("--shard: K/N with 1 <= K <= N is required, got '%s'", tostring(v))
        end
        opts.shard = { k, of }
      end
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      usage_error("%s: unknown option '%s'", first, a)
    elseif opts.script == nil then
      opts.script = a
    else
      opts.args[#opts.args + 1] = a
    end
    i = i + 1
  end
  if opts.help then return opts end
  if first == "check" and opts.merge then
    for _, o in ipairs{ "seeds", "shard", "jobs", "json", "timeout", "determinism", "end_time", "seed_given" } do
      if opts[o] then usage_error("check: --merge takes only the files of a sweep's --json records") end
    end
    if opts.script == nil then usage_error("check: --merge needs the --json files of a sweep") end
    opts.files = { opts.script }
    for _, f in ipairs(opts.args) do opts.files[#opts.files + 1] = f end
    return opts
  end
  if first == "diagram" then
    if not opts.output then usage_error("diagram: -o FILE (the SVG to write) is required") end
    if opts.from and opts.to and opts.to <= opts.from then usage_error("diagram: --to must be after --from") end
  end
  if (first == "run" or first == "check" or first == "__worker" or first == "diagram") and opts.script == nil then
    usage_error("%s: a SCRIPT is required", first)
  end
  if first == "check" then
    if opts.script == "-" then usage_error("check: the script cannot be standard input (each worker loads it)") end
    if opts.determinism and opts.seeds then usage_error("check: give either --seeds or --determinism, not both") end
    if opts.seed_given and not opts.determinism then
      usage_error("check: --seed goes with --determinism (for a sweep, give --seeds)")
    end
    if not opts.determinism and not opts.seeds then usage_error("check: --seeds LIST or --determinism is required") end
    if opts.determinism and opts.jobs then usage_error("check: --jobs goes with --seeds, not --determinism") end
    if opts.determinism and (opts.shard or opts.json) then
      usage_error("check: --shard and --json go with --seeds, not --determinism")
    end
  end
  if first == "__worker" and not opts.seeds then usage_error("__worker: --seeds is required") end
  if first == "repl" and opts.script == "-" then
    usage_error("repl: the script cannot be standard input (it is the prompt)")
  end
  return opts
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

local function stdin_is_tty()
  local ok, r = pcall(os.execute, "test -t 0")
  return ok and r == true
end

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
  local interactive = stdin_is_tty()
  if interactive then
    io.stdout:write(("happysim %s (%s)  hs, seed, args%s are set; Ctrl-D to quit\n")
      :format(M.VERSION, _VERSION, rawget(env, "sim") and ", sim" or ""))
  end
  M.repl(env, interactive)
  return 0
end

-- ---- main ---------------------------------------------------------------------------

local function version_text()
  local ok, hs = pcall(require, "happysim")
  local lib = ok and type(hs) == "table" and hs._VERSION or ("happysim " .. M.VERSION)
  return ("%s (cli %s, %s)"):format(lib, M.VERSION, _VERSION)
end

--- main(argv) -> exit status. argv is a list of strings (bin/happysim passes arg).
function M.main(argv)
  local ok, opts = pcall(M.parse, argv or {})
  if not ok then
    if not is_usage_error(opts) then error(opts, 0) end
    report_error(opts.message)
    io.stderr:write("Try 'happysim --help' for more information.\n")
    return 2
  end
  if opts.command == "version" then
    print(version_text())
    return 0
  end
  local helps = { run = RUN_HELP, repl = REPL_HELP, check = CHECK_HELP, __worker = CHECK_HELP, diagram = DIAGRAM_HELP }
  if opts.command == "help" then
    io.stdout:write(helps[opts.topic] or HELP)
    return 0
  end
  if opts.help then
    io.stdout:write(helps[opts.command])
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
