--- `happysim check`: a scenario over many seeds in worker processes, the determinism
-- self-check, and the merging of sharded sweeps. cli.lua parses the command line and
-- calls check(cli, opts, argv) or, in a worker process, worker(cli, opts).
--
-- The parent starts itself again (the same interpreter, script and module paths; Debian's
-- lua-luv spawns the processes, reads their pipes and runs the --timeout timers) as hidden
-- `happysim __worker SCRIPT --seeds LIST --stride N --start J` processes: worker J runs the
-- seeds at positions J, J+N, J+2N ... of LIST, each on a freshly loaded script, and writes
-- protocol lines to standard output (the script's print is silenced; anything else it
-- writes is skipped by the parent): before each seed
--   HSW2 <TAB> begin <TAB> index
-- and after it
--   HSW2 <TAB> seed <TAB> index <TAB> seed <TAB> scenario <TAB> ok|fail <TAB> cpu_ms <TAB>
--        wall_ms <TAB> hashes <TAB> n <TAB> then n times: check <TAB> ok|fail <TAB> message
-- with fields escaped (\\, \t, \n, \r) and hashes "trace_hash:events" per Simulation the
-- seed created, comma-separated. `--trace FILE` also writes every event of those
-- simulations to FILE (simulation, event number, time, type, target): what
-- --determinism compares when two runs of a seed hash differently.
--
-- `--shard K/N` keeps the positions K, K+N, K+2N ... of LIST (its workers take every
-- jobs-th of those). `--json FILE` writes JSON Lines: a header
--   { "happysim_check": 1, "script", "seeds", "count", "shard": [K, N] | null, "args",
--     "until", "timeout" }
-- then one record per seed as it completes
--   { "seed", "index" (its position in LIST), "verdict": "pass" | "fail" | "timeout",
--     "failed": [ { "check", "message" } ], "replay", "wall_s", "cpu_s", "scenario", "trace" }
-- then { "done": true, "seeds", "wall_s", "jobs" }. `--merge FILE...` reads such files,
-- checks that together they hold every seed of one LIST exactly once, and prints the
-- summary a single run prints (the same function prints both).

local M = {}

local TAG = "HSW2"
local MAX_SHOWN = 10     -- failures shown in full in the summary
local MAX_LISTED = 30    -- failed seeds listed by number
local MAX_MESSAGE_LINES = 40
local cli_verdict_text -- cli.verdict_text (set by check)

-- ---- small helpers ---------------------------------------------------------------------

local ESC = { ["\\"] = "\\\\", ["\t"] = "\\t", ["\n"] = "\\n", ["\r"] = "\\r" }
local UNESC = { ["\\"] = "\\", t = "\t", n = "\n", r = "\r" }

local function esc(s) return (tostring(s):gsub("[\\\t\n\r]", ESC)) end
local function unesc(s) return (s:gsub("\\(.)", UNESC)) end

local function split_tabs(line)
  local out = {}
  for field in (line .. "\t"):gmatch("([^\t]*)\t") do out[#out + 1] = field end
  return out
end

-- Shell quoting, only where needed (the replay command is printed for people).
local function quote(s)
  s = tostring(s)
  if s ~= "" and not s:find("[^%w%._/%-=:,+@%%]") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end
M.quote = quote

local clock = require("happysim.core").check.clock -- monotonic wall seconds, for reports
local json = require("happysim.json")
local uv = require("luv")

-- How to start this program again: the interpreter and its options and the script
-- (argv[-k..0], as lua.c sets `arg`), and the environment with this process's module paths.
local function self_command(argv)
  local cmd = {}
  if argv and argv[0] then
    local lo = 0
    while argv[lo - 1] ~= nil do lo = lo - 1 end
    table.move(argv, lo, 0, 1, cmd)
  else
    cmd[1] = os.getenv("HAPPYSIM") or "happysim"
  end
  local env = { "LUA_PATH_5_4=" .. package.path, "LUA_CPATH_5_4=" .. package.cpath }
  for k, v in pairs(uv.os_environ()) do
    if k ~= "LUA_PATH_5_4" and k ~= "LUA_CPATH_5_4" then env[#env + 1] = k .. "=" .. v end
  end
  return { file = cmd[1], args = table.move(cmd, 2, #cmd, 1, {}), env = env }
end

-- The name people run this program by, for replay commands: $HAPPYSIM_PROG (the build
-- tree's launcher sets it), else happysim.
local function prog_name()
  local p = os.getenv("HAPPYSIM_PROG")
  if p and p ~= "" then return p end
  return "happysim"
end

-- { "--until", T, "--", args... } for the commands that rerun the script as given.
local function script_tail_args(opts)
  local t = {}
  if opts.end_time then t[1], t[2] = "--until", ("%.17g"):format(opts.end_time) end
  if opts.args and #opts.args > 0 then
    t[#t + 1] = "--"
    table.move(opts.args, 1, #opts.args, #t + 1, t)
  end
  return t
end

-- The same, quoted for a shell, with a leading space.
local function script_tail(opts)
  local s = ""
  for _, a in ipairs(script_tail_args(opts)) do s = s .. " " .. quote(a) end
  return s
end

local function replay_command(opts, seed)
  return ("%s run %s --seed %d%s"):format(prog_name(), quote(opts.script), seed, script_tail(opts))
end

-- A failure message for the summary: without the stack traceback (the replay prints it),
-- at most MAX_MESSAGE_LINES lines.
local function short_message(msg)
  msg = tostring(msg or "")
  local cut = msg:find("\nstack traceback:\n", 1, true)
  if cut then msg = msg:sub(1, cut - 1) .. "\n(stack traceback: see the replay)" end
  local lines, n = {}, 0
  for line in (msg .. "\n"):gmatch("(.-)\n") do
    n = n + 1
    if n <= MAX_MESSAGE_LINES then lines[#lines + 1] = line end
  end
  if n > MAX_MESSAGE_LINES then lines[#lines + 1] = ("... (%d more lines: see the replay)"):format(n - MAX_MESSAGE_LINES) end
  return table.concat(lines, "\n")
end

-- ---- the worker --------------------------------------------------------------------------

-- Writes every event of a simulation to file f.
local function attach_trace(f, sim, k)
  local n = 0
  sim:trace(function(t, ty, target)
    n = n + 1
    f:write(("%d\t%d\t%.9f\t%s\t%s\n"):format(k, n, t, tostring(ty), target and tostring(target) or "-"))
  end)
end

-- Runs one seed in this process. Returns the outcome (see scenario:run_seed) with
-- name, hashes and cpu_ms.
local function run_seed(cli, opts, seed, trace_file)
  local sims = {}
  local o = {
    script = opts.script, args = opts.args, end_time = opts.end_time, seed = seed, command = "check",
    quiet = true,
    on_sim = function(sim)
      sims[#sims + 1] = sim
      if trace_file then attach_trace(trace_file, sim, #sims) end
    end,
  }
  local t0, w0 = os.clock(), clock()
  local out, name
  local loaded, res, _, ctx = cli.load_and_run(o)
  if not loaded then
    out = { ok = false, verdicts = { { name = "load", ok = false, message = res } } }
  else
    local made, scenario = pcall(cli.as_scenario, res, opts.script)
    if not made then
      out = { ok = false, verdicts = { { name = "load", ok = false, message = cli.error_text(scenario) } } }
    else
      name = scenario.name
      out = scenario:run_seed(ctx, cli.traceback_handler)
    end
  end
  out.cpu_ms = math.floor((os.clock() - t0) * 1000 + 0.5)
  out.wall_ms = math.floor((clock() - w0) * 1000 + 0.5)
  out.name = name or tostring(opts.script)
  local hashes = {}
  for _, sim in ipairs(sims) do
    local ok, s = pcall(sim.summary, sim)
    hashes[#hashes + 1] = ok and ("%s:%d"):format(s.trace_hash, s.events_processed) or "?"
    pcall(sim.close, sim)
  end
  if #hashes == 0 and type(out.result) == "table" and type(out.result.summary) == "table" then
    local s = out.result.summary
    hashes[1] = ("%s:%s"):format(tostring(s.trace_hash), tostring(s.events_processed))
  end
  out.hashes = #hashes > 0 and table.concat(hashes, ",") or "-"
  out.result = nil
  return out
end

--- worker(cli, opts) -> exit status: runs its slice of the seeds, one protocol line each.
function M.worker(cli, opts)
  local seeds = opts.seeds
  local stride, start = opts.stride or 1, opts.start or 1
  local trace_file
  if opts.trace then
    local err
    trace_file, err = io.open(opts.trace, "w")
    if not trace_file then cli.usage_error("cannot open the trace file: %s", err) end
  end
  local preloaded = {}
  for name in pairs(package.loaded) do preloaded[name] = true end
  for i = start, #seeds, stride do
    local seed = seeds[i]
    io.stdout:write("\n", TAG, "\tbegin\t", i, "\n")
    io.stdout:flush()
    local out = run_seed(cli, opts, seed, trace_file)
    local fields = { TAG, "seed", i, seed, esc(out.name), out.ok and "ok" or "fail", out.cpu_ms, out.wall_ms,
                     out.hashes, #out.verdicts }
    for _, v in ipairs(out.verdicts) do
      fields[#fields + 1] = esc(v.name)
      fields[#fields + 1] = v.ok and "ok" or "fail"
      fields[#fields + 1] = esc(v.message or "")
    end
    io.stdout:write("\n", table.concat(fields, "\t"), "\n")
    io.stdout:flush()
    -- the next seed loads the script's own modules afresh, as its replay would
    for name in pairs(package.loaded) do
      if not preloaded[name] and not name:find("^happysim") then package.loaded[name] = nil end
    end
    collectgarbage()
  end
  if trace_file then trace_file:close() end
  io.stdout:write("\n", TAG, "\tdone\n")
  io.stdout:flush()
  return 0
end

-- ---- the parent: workers and their lines ---------------------------------------------

local function parse_line(line)
  local f = split_tabs(line)
  if f[1] ~= TAG then return nil end
  if f[2] == "done" then return { done = true } end
  if f[2] == "begin" then return { begin = true } end
  if f[2] ~= "seed" then return nil end
  local r = {
    index = math.tointeger(tonumber(f[3])), seed = math.tointeger(tonumber(f[4])), name = unesc(f[5] or ""),
    ok = f[6] == "ok", cpu_ms = tonumber(f[7]) or 0, wall_ms = tonumber(f[8]) or 0, hashes = f[9], verdicts = {},
  }
  r.verdict = r.ok and "pass" or "fail"
  local n = math.tointeger(tonumber(f[10])) or 0
  for k = 1, n do
    local base = 10 + (k - 1) * 3
    r.verdicts[k] = { name = unesc(f[base + 1] or "?"), ok = f[base + 2] == "ok", message = unesc(f[base + 3] or "") }
  end
  return r
end

-- luv ends the process on an error in a callback: the callbacks run through guarded, and
-- run_loop raises the first such error once the loop has stopped.
local loop_error
local function guarded(fn)
  return function(...)
    local ok, err = pcall(fn, ...)
    if not ok and not loop_error then
      loop_error = err
      uv.stop()
    end
  end
end

local function run_loop()
  loop_error = nil
  uv.run()
  if loop_error then error(loop_error, 0) end
end

-- Starts a worker for the seeds at positions start, start + stride, ... of the list spec
-- gives, with more worker options in extra; returns it ({ start =, stride = }). on_result(r)
-- gets each seed's record; on_end(w), once the worker has exited and its output is read,
-- sees w.status ("exit 0", "signal 9", ...), w.done (it finished its seeds) and w.timed_out
-- (a seed ran longer than opts.timeout, so the worker was killed: Lua code in coroutines
-- cannot be interrupted from inside, as debug hooks are per thread). Then run_loop().
local function spawn(cmd, opts, spec, stride, start, extra, on_result, on_end)
  local args = { table.unpack(cmd.args) }
  for _, a in ipairs{ "__worker", opts.script, "--seeds", spec, "--stride", stride, "--start", start,
                      table.unpack(extra or {}) } do args[#args + 1] = tostring(a) end
  local tail = script_tail_args(opts)
  table.move(tail, 1, #tail, #args + 1, args)
  local w = { start = start, stride = stride }
  local out, timer = uv.new_pipe(false), opts.timeout and uv.new_timer()
  local open = 2 -- the process and its output
  local function close_one()
    open = open - 1
    if open > 0 then return end
    if timer then timer:close() end
    on_end(w)
  end
  local proc, err = uv.spawn(cmd.file, { args = args, env = cmd.env, stdio = { 0, out, 2 } },
    guarded(function(code, signal)
      w.status = signal ~= 0 and ("signal %d"):format(signal) or ("exit %d"):format(code)
      w.proc:close()
      close_one()
    end))
  if not proc then
    out:close()
    if timer then timer:close() end
    error("cannot start a worker process: " .. tostring(err), 0)
  end
  w.proc = proc
  local buf = ""
  out:read_start(guarded(function(_, data)
    if not data then
      out:close()
      return close_one()
    end
    buf = buf .. data
    local from = 1
    for line, next_from in buf:gmatch("([^\n]*)\n()") do
      from = next_from
      local r = parse_line(line)
      if r and r.done then
        w.done = true
      elseif r and r.begin and timer then
        timer:start(math.ceil(opts.timeout * 1000), 0, guarded(function()
          w.timed_out = true
          proc:kill("sigkill")
        end))
      elseif r and not r.begin then
        if timer then timer:stop() end
        on_result(r)
      end
    end
    buf = buf:sub(from)
  end))
  return w
end

-- ---- sweeps ------------------------------------------------------------------------------

-- Progress on stderr: a line rewritten in place on a terminal, else a line per tenth.
-- Elapsed time in whole seconds (os.time: no process to start per update).
local function progress_reporter(total)
  local started = os.time()
  local tty = uv.guess_handle(2) == "tty"
  local last_decile, last_len = 0, 0
  local r = {}
  function r.update(done, failed)
    if tty then
      local s = ("happysim check: %d/%d seeds (%d%%), %d failed, %d s"):format(done, total,
        math.floor(100 * done / total), failed, os.time() - started)
      io.stderr:write("\r", s, (" "):rep(math.max(0, last_len - #s)))
      last_len = #s
    else
      local decile = math.floor(10 * done / total)
      if decile > last_decile then
        last_decile = decile
        io.stderr:write(("happysim check: %d/%d seeds (%d%%), %d failed, %d s\n"):format(done, total,
          math.floor(100 * done / total), failed, os.time() - started))
      end
    end
    io.stderr:flush()
  end
  function r.finish()
    if tty and last_len > 0 then io.stderr:write("\n") end
    io.stderr:flush()
  end
  return r
end

local function failed_names(r)
  local names = {}
  for _, v in ipairs(r.verdicts) do
    if not v.ok then names[#names + 1] = v.name end
  end
  return names
end

local function plural(n, word) return ("%d %s%s"):format(n, word, n == 1 and "" or "s") end

local function seed_list(rs)
  local listed = {}
  for k = 1, math.min(#rs, MAX_LISTED) do listed[k] = tostring(rs[k].seed) end
  if #rs > MAX_LISTED then listed[#listed + 1] = "..." end
  return table.concat(listed, ", ")
end

-- The summary of a sweep, from its seeds' records in list order. meta: script, spec (the
-- --seeds text, with ", shard K/N" for a shard), timeout. A record: seed, verdict ("pass",
-- "fail" or "timeout"), name (the scenario), verdicts (the failed checks: name, message),
-- replay. A local run and --merge both print with this. Returns the seeds not passed.
local function print_summary(meta, records)
  local total = #records
  local failures, timeouts, by_check, check_order = {}, {}, {}, {}
  local name
  for _, r in ipairs(records) do
    name = name or (r.name ~= "" and r.name) or nil
    if r.verdict == "fail" then
      failures[#failures + 1] = r
      for _, c in ipairs(failed_names(r)) do
        if not by_check[c] then check_order[#check_order + 1] = c end
        by_check[c] = (by_check[c] or 0) + 1
      end
    elseif r.verdict == "timeout" then
      timeouts[#timeouts + 1] = r
    end
  end
  local out = {}
  local function say(fmt, ...) out[#out + 1] = fmt:format(...) end
  say("happysim check: scenario %s (%s), %s (%s)", name or tostring(meta.script), meta.script, plural(total, "seed"),
    meta.spec)
  local passed = total - #failures - #timeouts
  if passed == total then
    say("passed: all %s", plural(total, "seed"))
  else
    say("passed: %s", plural(passed, "seed"))
    if #failures > 0 then
      say("failed: %s: %s", plural(#failures, "seed"), seed_list(failures))
      local counts = {}
      for _, c in ipairs(check_order) do counts[#counts + 1] = ("%s %d"):format(c, by_check[c]) end
      say("failed checks: %s", table.concat(counts, ", "))
    end
    if #timeouts > 0 then
      say("timed out: %s: %s (stopped by the wall-clock guard --timeout %g s: no verdict)", plural(#timeouts, "seed"),
        seed_list(timeouts), meta.timeout or 0)
    end
    local shown = 0
    for _, r in ipairs(failures) do
      if shown == MAX_SHOWN then break end
      shown = shown + 1
      say("")
      say("seed %d:", r.seed)
      for _, v in ipairs(r.verdicts) do
        if not v.ok then say("%s", cli_verdict_text({ name = v.name, ok = false, message = short_message(v.message) })) end
      end
      say("replay: %s", r.replay)
    end
    for _, r in ipairs(timeouts) do
      if shown == MAX_SHOWN then break end
      shown = shown + 1
      say("")
      say("seed %d:", r.seed)
      say("timed out: it ran longer than --timeout %g s (wall clock) and its worker was stopped", meta.timeout or 0)
      say("replay: %s", r.replay)
    end
    if #failures + #timeouts > shown then
      say("")
      say("(%d more seeds not shown)", #failures + #timeouts - shown)
    end
  end
  io.stdout:write(table.concat(out, "\n"), "\n")
  io.stdout:flush()
  return total - passed
end

-- ---- --json records ----------------------------------------------------------------------

local HEADER_KEYS = { "happysim_check", "script", "seeds", "count", "shard", "args", "until", "timeout" }
local RECORD_KEYS = { "seed", "index", "verdict", "failed", "replay", "wall_s", "cpu_s", "scenario", "trace" }
local DONE_KEYS = { "done", "seeds", "wall_s", "jobs" }

local function seed_record(r)
  local failed = {}
  for _, v in ipairs(r.verdicts) do
    if not v.ok then failed[#failed + 1] = { check = v.name, message = v.message or "" } end
  end
  return json.encode({ seed = r.seed, index = r.index, verdict = r.verdict, failed = failed, replay = r.replay,
                       wall_s = r.wall_ms / 1000, cpu_s = r.cpu_ms / 1000, scenario = r.name ~= "" and r.name or nil,
                       trace = r.hashes }, RECORD_KEYS)
end

local function open_json(opts, count)
  local f, err = io.open(opts.json, "w")
  if not f then error(("cannot write the --json file: %s"):format(err), 0) end
  f:write(json.encode({ happysim_check = 1, script = opts.script, seeds = opts.seeds_spec, count = count,
                        shard = opts.shard or json.null, args = opts.args or {}, ["until"] = opts.end_time,
                        timeout = opts.timeout }, HEADER_KEYS), "\n")
  f:flush()
  return f
end

-- ---- sweeps ------------------------------------------------------------------------------

local function sweep(opts, argv)
  local seeds = opts.seeds
  local shard_k, shard_n = 1, 1
  if opts.shard then shard_k, shard_n = opts.shard[1], opts.shard[2] end
  local indices = {} -- the positions in LIST this run covers
  for i = shard_k, #seeds, shard_n do indices[#indices + 1] = i end
  local total = #indices
  local jobs = math.max(1, math.min(opts.jobs or uv.available_parallelism(), total))
  local started = clock()
  local progress = progress_reporter(math.max(total, 1))
  local jf = opts.json and open_json(opts, #seeds)
  local cmd = self_command(argv)
  local results, done, failed, cpu_ms = {}, 0, 0, 0
  local function record(r)
    r.replay = replay_command(opts, r.seed)
    results[r.index] = r
    done = done + 1
    if r.verdict ~= "pass" then failed = failed + 1 end
    cpu_ms = cpu_ms + r.cpu_ms
    if jf then
      jf:write(seed_record(r), "\n")
      jf:flush()
    end
    progress.update(done, failed)
  end
  local function on_result(r)
    if r.index and seeds[r.index] == r.seed and not results[r.index] then record(r) end
  end
  local function on_end(w)
    -- a worker that ended early died on the first seed of its slice it did not report:
    -- that seed fails (or timed out, when the --timeout timer killed it), and a new
    -- worker takes the rest of the slice
    if w.done then return end
    for i = w.start, #seeds, w.stride do
      if not results[i] then
        local r = { index = i, seed = seeds[i], ok = false, verdict = "fail", name = "", cpu_ms = 0, wall_ms = 0,
                    hashes = "-", verdicts = { { name = "worker", ok = false,
                      message = ("the worker process ended (%s) while running this seed"):format(w.status) } } }
        if w.timed_out then
          r.verdict, r.verdicts = "timeout", {}
          r.wall_ms = math.floor(opts.timeout * 1000 + 0.5)
        end
        record(r)
        if i + w.stride <= #seeds then spawn(cmd, opts, opts.seeds_spec, w.stride, i + w.stride, nil, on_result, on_end) end
        return
      end
    end
  end
  for j = 1, math.min(jobs, total) do
    spawn(cmd, opts, opts.seeds_spec, shard_n * jobs, shard_k + (j - 1) * shard_n, nil, on_result, on_end)
  end
  run_loop()
  progress.finish()
  local elapsed = clock() - started
  local list = {}
  for _, i in ipairs(indices) do list[#list + 1] = results[i] end
  if jf then
    jf:write(json.encode({ done = true, seeds = total, wall_s = elapsed, jobs = jobs }, DONE_KEYS), "\n")
    jf:close()
  end
  local spec = opts.seeds_spec
  if opts.shard then spec = ("%s, shard %d/%d"):format(spec, shard_k, shard_n) end
  local not_passed = print_summary({ script = opts.script, spec = spec, timeout = opts.timeout }, list)
  io.stderr:write(("happysim check: %d seeds in %.1f s wall clock with %d job%s (%.1f s of CPU in the workers): "
    .. "%.2f seeds/s\n"):format(total, elapsed, jobs, jobs == 1 and "" or "s", cpu_ms / 1000,
    elapsed > 0 and total / elapsed or 0))
  io.stderr:flush()
  return not_passed == 0 and 0 or 1
end

-- ---- --merge -------------------------------------------------------------------------------

-- A merge that cannot be done: the files do not make up one sweep (exit 2).
local function merge_error(cli, fmt, ...)
  cli.usage_error("check --merge: " .. fmt, ...)
end

local function read_json_file(cli, path)
  local f, err = io.open(path, "r")
  if not f then merge_error(cli, "cannot open %s", tostring(err)) end
  local header, records, done = nil, {}, nil
  local n = 0
  for line in f:lines() do
    n = n + 1
    if line ~= "" then
      local v, jerr = json.decode(line)
      if type(v) ~= "table" then merge_error(cli, "%s:%d: not a JSON record (%s)", path, n, jerr or "?") end
      if n == 1 then
        if v.happysim_check ~= 1 then merge_error(cli, "%s: not a `happysim check --json` file", path) end
        header = v
      elseif v.done == true then
        done = v
      else
        if math.type(v.seed) ~= "integer" or math.type(v.index) ~= "integer" or type(v.verdict) ~= "string" then
          merge_error(cli, "%s:%d: a seed record needs seed, index and verdict", path, n)
        end
        records[#records + 1] = v
      end
    end
  end
  f:close()
  if not header then merge_error(cli, "%s is empty", path) end
  -- workers finish in any order, and so their records are written: by position, what a
  -- merge says (the first seed found twice) is the same whatever the order was
  table.sort(records, function(a, b) return a.index < b.index end)
  return header, records, done
end

local function same_list(a, b)
  if type(a) ~= "table" or type(b) ~= "table" or #a ~= #b then return false end
  for i = 1, #a do
    if a[i] ~= b[i] then return false end
  end
  return true
end

local function merge(cli, opts)
  local meta, by_index, files = nil, {}, {}
  local wall, cpu = 0, 0
  for _, path in ipairs(opts.files) do
    local header, records, done = read_json_file(cli, path)
    local shard = header.shard ~= json.null and header.shard or nil
    if not meta then
      meta = header
    elseif header.script ~= meta.script or header.seeds ~= meta.seeds or header.count ~= meta.count
      or not same_list(header.args, meta.args) or header["until"] ~= meta["until"] then
      merge_error(cli, "%s is from another sweep (%s --seeds %s) than %s (%s --seeds %s)", path, tostring(header.script),
        tostring(header.seeds), opts.files[1], tostring(meta.script), tostring(meta.seeds))
    end
    if not done then
      merge_error(cli, "%s has no closing record: its run did not finish (%d seeds recorded%s)", path, #records,
        shard and (", shard %d/%d"):format(shard[1], shard[2]) or "")
    end
    files[#files + 1] = { path = path, shard = shard }
    for _, r in ipairs(records) do
      if by_index[r.index] then
        merge_error(cli, "seed %d (position %d) is in both %s and %s", r.seed, r.index, by_index[r.index].path, path)
      end
      r.path = path
      by_index[r.index] = r
      wall = wall + (tonumber(r.wall_s) or 0)
      cpu = cpu + (tonumber(r.cpu_s) or 0)
    end
    if meta.timeout == nil or meta.timeout == json.null then meta.timeout = header.timeout end
  end
  local list, missing = {}, {}
  for i = 1, meta.count do
    local r = by_index[i]
    if r then
      local verdicts = {}
      for _, fv in ipairs(type(r.failed) == "table" and r.failed or {}) do
        verdicts[#verdicts + 1] = { name = tostring(fv.check), ok = false, message = tostring(fv.message) }
      end
      list[#list + 1] = { seed = r.seed, verdict = r.verdict, name = type(r.scenario) == "string" and r.scenario or "",
                          verdicts = verdicts, replay = tostring(r.replay) }
    else
      missing[#missing + 1] = i
    end
  end
  if #missing > 0 then
    local shards = {}
    for _, f in ipairs(files) do
      if f.shard then shards[#shards + 1] = ("%d/%d"):format(f.shard[1], f.shard[2]) end
    end
    merge_error(cli, "%d of the %d seeds of --seeds %s are in none of the files (the first at position %d)%s",
      #missing, meta.count, tostring(meta.seeds), missing[1],
      #shards > 0 and (" (shards given: %s)"):format(table.concat(shards, ", ")) or "")
  end
  local timeout = meta.timeout ~= json.null and meta.timeout or nil
  local not_passed = print_summary({ script = meta.script, spec = meta.seeds, timeout = timeout }, list)
  io.stderr:write(("happysim check --merge: %d files, %d seeds, %.1f s of wall time and %.1f s of CPU in their "
    .. "runs\n"):format(#files, #list, wall, cpu))
  io.stderr:flush()
  return not_passed == 0 and 0 or 1
end

-- ---- determinism -------------------------------------------------------------------------

-- Runs seed in two worker processes at once (extra: more worker options, per run).
-- Returns the two results (nil for a worker that reported nothing) and the workers.
local function run_twice(opts, argv, extra1, extra2)
  local cmd, spec, res, workers = self_command(argv), tostring(opts.seed), {}, {}
  for k, extra in ipairs{ extra1 or {}, extra2 or {} } do
    workers[k] = spawn(cmd, opts, spec, 1, 1, extra, function(r) res[k] = r end, function() end)
  end
  run_loop()
  return res[1], res[2], workers
end

local function read_lines(path)
  local lines = {}
  local f = io.open(path, "r")
  if not f then return lines end
  for line in f:lines() do lines[#lines + 1] = line end
  f:close()
  return lines
end

local function show_event(line)
  if not line then return "(no event: the run ended here)" end
  local k, n, t, ty, target = line:match("^(%d+)\t(%d+)\t([^\t]*)\t([^\t]*)\t(.*)$")
  if not k then return line end
  return ("simulation %s, event %s: t=%s %s%s"):format(k, n, t, ty, target ~= "-" and (" on " .. target) or "")
end

local function verdicts_key(r)
  local parts = {}
  for _, v in ipairs(r.verdicts) do parts[#parts + 1] = v.name .. "=" .. (v.ok and "ok" or "fail") .. ":" .. v.message end
  return table.concat(parts, "\n")
end

local function determinism(opts, argv)
  local seed = opts.seed
  local say = function(fmt, ...) io.stdout:write(fmt:format(...), "\n") end
  say("happysim check --determinism: seed %d of %s, run twice in separate processes", seed, opts.script)
  local a, b, workers = run_twice(opts, argv)
  for k, r in ipairs{ a, b } do
    if not r then
      say("run %d: the worker process ended (%s) without a result", k, workers[k].status or "?")
      return 1
    end
  end
  local function hash_text(r)
    local list = {}
    for h in r.hashes:gmatch("[^,]+") do
      local hash, events = h:match("^([^:]*):(.*)$")
      list[#list + 1] = hash and ("%s (%s events)"):format(hash, events) or h
    end
    return #list > 0 and table.concat(list, ", ") or "(no simulation)"
  end
  say("run 1: trace %s", hash_text(a))
  say("run 2: trace %s", hash_text(b))
  local same_verdicts = verdicts_key(a) == verdicts_key(b)
  if a.hashes == b.hashes and a.hashes ~= "-" and same_verdicts then
    say("deterministic: both runs have the same event trace and the same check verdicts%s",
      a.ok and "" or (" (the seed fails: %s)"):format(table.concat(failed_names(a), ", ")))
    return 0
  end
  if a.hashes == "-" then
    say("no simulation was created through hs.Simulation: there is no event trace to compare")
    return same_verdicts and 0 or 1
  end
  if a.hashes == b.hashes then
    say("NOT deterministic: the traces agree, but the check verdicts differ:")
    for k, r in ipairs{ a, b } do
      say("run %d:", k)
      for _, v in ipairs(r.verdicts) do say("%s", cli_verdict_text({ name = v.name, ok = v.ok, message = short_message(v.message) })) end
    end
    return 1
  end
  say("NOT deterministic: the event traces differ; running both again, recording every event...")
  local t1, t2 = os.tmpname(), os.tmpname()
  run_twice(opts, argv, { "--trace", t1 }, { "--trace", t2 })
  local l1, l2 = read_lines(t1), read_lines(t2)
  os.remove(t1)
  os.remove(t2)
  local n = math.max(#l1, #l2)
  local first
  for i = 1, n do
    if l1[i] ~= l2[i] then first = i break end
  end
  if not first then
    say("the recorded events (time, type, target) agree (%d events): the runs differ in the order of events", #l1)
    say("scheduled at the same time, or this rerun happened to agree")
    return 1
  end
  say("first difference, after %d identical events:", first - 1)
  say("  run 1: %s", show_event(l1[first]))
  say("  run 2: %s", show_event(l2[first]))
  if first > 1 then
    say("the events before it (both runs):")
    for i = math.max(1, first - 3), first - 1 do say("    %s", show_event(l1[i])) end
  end
  say("replay: %s check %s --determinism --seed %d%s", prog_name(), quote(opts.script), seed, script_tail(opts))
  return 1
end

-- ---- entry ---------------------------------------------------------------------------------

--- check(cli, opts, argv) -> exit status
function M.check(cli, opts, argv)
  cli_verdict_text = cli.verdict_text
  if opts.merge then return merge(cli, opts) end
  local f, err = io.open(opts.script, "r")
  if not f then cli.usage_error("cannot open script: %s", err) end
  f:close()
  local chunk, syntax = loadfile(opts.script, "t", {})
  if not chunk then
    cli.report_error(syntax)
    return 1
  end
  if opts.determinism then return determinism(opts, argv) end
  return sweep(opts, argv)
end

return M
