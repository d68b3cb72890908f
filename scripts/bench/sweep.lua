--- Seed-sweep throughput: `happysim check` over the same seeds of raft_linearizable with
-- --jobs 1 and --jobs 2, wall-clock seeds per second of each and their ratio (goal: 2 jobs
-- give at least 1.8x the seeds per second of 1 on two cores). Figures, not a test.
--   build/bin/happysim run scripts/bench/sweep.lua [-- --quick] [-- seeds=N jobs=N]
-- seeds: how many (1..N, default 1000; 10 with --quick); jobs: the larger job count
-- (default 2). The machine's load average is printed before and after: other work on the
-- cores lowers the ratio, so compare runs on a quiet machine.

local bench = require("happysim.bench")
local clock = require("happysim.core").check.clock

local cfg = bench.options("bench/sweep", { seeds = 1000, jobs = 2 }, ...)
local seeds = cfg.quick and 10 or cfg.seeds
local here = debug.getinfo(1, "S").source:match("^@(.-)[^/]*$")
local script = (here ~= "" and here or "./") .. "../raft_linearizable.lua"
local prog = os.getenv("HAPPYSIM_PROG") or "happysim"

local function quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function loadavg()
  local f = io.open("/proc/loadavg", "r")
  local s = f and f:read("l")
  if f then f:close() end
  return s and s:match("^(%S+ %S+ %S+)") or "?"
end

-- Runs the sweep with `jobs` workers; returns wall seconds and the summary's first lines.
local function sweep(jobs)
  local cmd = ("%s check %s --seeds 1..%d --jobs %d 2>/dev/null"):format(quote(prog), quote(script), seeds, jobs)
  local t0 = clock()
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local ok, how, code = p:close()
  local secs = clock() - t0
  local verdict = out:match("\npassed: [^\n]*") or "?"
  return secs, verdict:sub(2), ok or (how .. " " .. tostring(code))
end

print(("sweep of raft_linearizable, seeds 1..%d (load average before: %s)"):format(seeds, loadavg()))
local rate = {}
for _, jobs in ipairs{ 1, cfg.jobs } do
  local secs, verdict, status = sweep(jobs)
  rate[jobs] = seeds / secs
  print(("--jobs %d: %.1f s wall clock, %.2f seeds/s (%s%s)"):format(jobs, secs, rate[jobs], verdict,
    status == true and "" or (", exit " .. tostring(status))))
end
local ratio = rate[cfg.jobs] / rate[1]
local verdict = ""
if cfg.quick then
  verdict = " (--quick: too few seeds for the goal to mean anything)"
elseif cfg.jobs == 2 then
  verdict = ratio >= 1.8 and ": met" or ": NOT MET"
end
print(("--jobs %d / --jobs 1: %.2fx the seeds per second (goal for 2 jobs over 1,000 seeds: >= 1.8x)%s")
  :format(cfg.jobs, ratio, verdict))
print(("load average after: %s"):format(loadavg()))
