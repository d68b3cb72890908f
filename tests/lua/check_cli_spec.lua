-- `happysim check` run as a program: seed sweeps over worker processes, replay commands,
-- the determinism self-check, usage errors, and the Raft scenarios in scripts/.
-- ctest sets HAPPYSIM to <build>/bin/happysim; without it these specs are pending.

local HAPPYSIM = os.getenv("HAPPYSIM")

if HAPPYSIM == nil or HAPPYSIM == "" then
  describe("happysim check", function()
    pending("HAPPYSIM is not set: run through ctest, or HAPPYSIM=build/bin/happysim busted tests/lua/check_cli_spec.lua")
  end)
  return
end

local cli = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "support/cli.lua")(HAPPYSIM)
local quote, slurp, tmpname, script, shell, happysim, fixed =
  cli.quote, cli.slurp, cli.tmpname, cli.script, cli.shell, cli.happysim, cli.fixed

-- The lines of the summary block for one failed seed: from "seed N:" to its replay line.
local function failure_block(out, seed)
  local from = out:find("\nseed " .. seed .. ":\n", 1, true)
  if not from then return nil end
  local block = out:sub(from + 1)
  local replay_at = block:find("\nreplay: ", 1, true)
  local stop = block:find("\n", replay_at + 1, true) or #block + 1
  return block:sub(1, stop - 1)
end

teardown(cli.cleanup)

-- A scenario that fails on seeds that are 3 mod 7, with a simulation drawing random delays.
local MODULO = [[
return hs.scenario{
  name = "modulo",
  run = function(ctx)
    local sim = hs.Simulation{}
    local r = sim:random("delays")
    local e = hs.Entity{ name = "e", handle_event = function() end }
    for i = 1, 20 do sim:schedule(hs.Event{ time = r:uniform(0, 10), type = "Tick", target = e }) end
    print("this goes nowhere in check")
    return { summary = sim:run(), seed = ctx.seed, args = ctx.args }
  end,
  checks = {
    { "summary", function(r) return r.summary.events_processed == 20, "20 events" end },
    { "modulo", function(r)
      if r.seed % 7 == 3 then return false, ("seed %d is 3 mod 7\nsecond line"):format(r.seed) end
      return true
    end },
  },
}
]]

describe("happysim check", function()
  local modulo
  setup(function() modulo = script(MODULO) end)

  describe("--seeds", function()
    it("reports the failing seeds with the failed check, its message and a replay command; exits 1", function()
      local code, out, err = happysim{ "check", modulo, "--seeds", "1..20", "--jobs", "1" }
      assert.equal(1, code, err)
      assert.matches("happysim check: scenario modulo (" .. modulo .. "), 20 seeds (1..20)\n", out, 1, true)
      assert.matches("\npassed: 17 seeds\n", out, 1, true)
      assert.matches("\nfailed: 3 seeds: 3, 10, 17\n", out, 1, true)
      assert.matches("\nfailed checks: modulo 3\n", out, 1, true)
      for _, seed in ipairs{ 3, 10, 17 } do
        local block = failure_block(out, seed)
        assert.is_not_nil(block, "no block for seed " .. seed)
        assert.equal(("seed %d:\ncheck modulo: FAILED\n  seed %d is 3 mod 7\n  second line\nreplay: %s run %s --seed %d")
          :format(seed, seed, HAPPYSIM, modulo, seed), block)
      end
      assert.is_nil(failure_block(out, 4))
      assert.not_matches("this goes nowhere", out, 1, true)
      assert.matches("20 seeds in [%d.]+ s wall clock with 1 job", err)
    end)

    it("prints a replay command that reproduces the failure exactly", function()
      local _, out = happysim{ "check", modulo, "--seeds", "8..12", "--jobs", "2" }
      local block = failure_block(out, 10)
      local replay = block:match("\nreplay: ([^\n]+)$")
      assert.equal(HAPPYSIM .. " run " .. modulo .. " --seed 10", replay)
      local code, rout = shell(replay)
      assert.equal(1, code)
      local verdict = block:match("\n(check modulo: FAILED\n.-)\nreplay: ")
      assert.matches("\n" .. fixed(verdict) .. "\n", rout)
      assert.matches("\ncheck summary: ok (20 events)\n", rout, 1, true)
      assert.matches("scenario modulo, seed 10: FAILED (modulo)\n", rout, 1, true)
    end)

    it("gives the same summary with --jobs 1, 2 and 3", function()
      local c1, o1 = happysim{ "check", modulo, "--seeds", "1..30", "--jobs", "1" }
      local c2, o2 = happysim{ "check", modulo, "--seeds", "1..30", "--jobs", "2" }
      local c3, o3 = happysim{ "check", modulo, "--seeds", "1..30", "--jobs=3" }
      assert.same({ 1, 1, 1 }, { c1, c2, c3 })
      assert.equal(o1, o2)
      assert.equal(o1, o3)
    end)

    it("exits 0 when every seed passes; accepts lists of seeds", function()
      local code, out = happysim{ "check", modulo, "--seeds", "1,2,4..9,11", "--jobs", "2" }
      assert.equal(0, code)
      assert.matches("9 seeds (1,2,4..9,11)", out, 1, true)
      assert.matches("\npassed: all 9 seeds\n", out, 1, true)
    end)

    it("passes script arguments and --until to the seeds and to the replay command", function()
      local path = script([[
        return hs.scenario{ name = "args", run = function(ctx)
          local sim = hs.Simulation{}
          return { args = ctx.args, end_time = sim.end_time }
        end, checks = { { "args", function(r)
          return false, ("args %s, end time %s"):format(table.concat(r.args, " "), tostring(r.end_time))
        end } } }
      ]])
      local code, out = happysim{ "check", path, "--seeds", "5", "--until", "2.5", "--", "x=1", "two words" }
      assert.equal(1, code)
      assert.matches("  args x=1 two words, end time 2.5\n", out, 1, true)
      local replay = out:match("\nreplay: ([^\n]+)")
      assert.equal(("%s run %s --seed 5 --until 2.5 -- x=1 'two words'"):format(HAPPYSIM, path), replay)
      local rcode, rout = shell(replay)
      assert.equal(1, rcode)
      assert.matches("  args x=1 two words, end time 2.5\n", rout, 1, true)
    end)

    it("fails a seed whose run raises, or whose check raises, naming them", function()
      local path = script([[
        return hs.scenario{ name = "raising", run = function(ctx)
          if ctx.seed == 2 then error("the run broke") end
          return { seed = ctx.seed }
        end, checks = { { "picky", function(r)
          if r.seed == 3 then error("the check broke") end
          return true
        end } } }
      ]])
      local code, out = happysim{ "check", path, "--seeds", "1..3" }
      assert.equal(1, code)
      assert.matches("seed 2:\ncheck run: FAILED\n  " .. path .. ":2: the run broke\n", out, 1, true)
      assert.matches("(stack traceback: see the replay)", out, 1, true)
      assert.matches("seed 3:\ncheck picky: FAILED\n  the check raised an error: " .. path .. ":5: the check broke\n",
        out, 1, true)
    end)

    it("checks a plain script too: a seed passes when its simulation runs without an error", function()
      local path = script([[
        local sim = hs.Simulation{ end_time = 5 }
        sim:timer(1, function() if seed == 4 and sim.now >= 3 then error("boom at 3") end return 1 end)
        return sim, function(summary) print("report") end
      ]])
      local code, out = happysim{ "check", path, "--seeds", "1..5", "--jobs", "2" }
      assert.equal(1, code)
      assert.matches("\nfailed: 1 seed: 4\n", out, 1, true)
      assert.matches("seed 4:\ncheck run: FAILED\n", out, 1, true)
      assert.matches("boom at 3", out, 1, true)
    end)

    it("survives a worker that dies: the seed fails and a new worker runs the rest", function()
      local path = script([[
        return hs.scenario{ name = "exits", run = function(ctx)
          if ctx.seed == 2 then os.exit(3) end
          return {}
        end }
      ]])
      local code, out = happysim{ "check", path, "--seeds", "1..6", "--jobs", "2" }
      assert.equal(1, code)
      assert.matches("\npassed: 5 seeds\n", out, 1, true)
      assert.matches("seed 2:\ncheck worker: FAILED\n  the worker process ended (exit 3) while running this seed\n", out,
        1, true)
    end)

    it("--timeout stops a seed that runs too long and reports it as timed out, not as failed", function()
      local path = script([[
        return hs.scenario{ name = "spins", run = function(ctx)
          local sim = hs.Simulation{}
          sim:spawn(function() if ctx.seed == 2 then while true do end end hs.sleep(1) end)
          return { summary = sim:run() }
        end }
      ]])
      local code, out = happysim{ "check", path, "--seeds", "1..3", "--jobs", "1", "--timeout", "0.5" }
      assert.equal(1, code)
      assert.matches("\npassed: 2 seeds\ntimed out: 1 seed: 2 (stopped by the wall-clock guard --timeout 0.5 s: "
        .. "no verdict)\n", out, 1, true)
      assert.not_matches("failed", out, 1, true)
      assert.matches("\nseed 2:\ntimed out: it ran longer than --timeout 0.5 s (wall clock) and its worker was "
        .. "stopped\nreplay: " .. HAPPYSIM .. " run " .. path .. " --seed 2\n", out, 1, true)
    end)

    it("shows progress on standard error", function()
      -- One job finishes the seeds in order, so the count at each step is known.
      local _, _, err = happysim{ "check", modulo, "--seeds", "1..10", "--jobs", "1" }
      assert.matches("happysim check: 2/10 seeds (20%), 0 failed", err, 1, true)
      assert.matches("happysim check: 5/10 seeds (50%), 1 failed", err, 1, true)
      assert.matches("happysim check: 10/10 seeds (100%), 2 failed", err, 1, true)
      -- Two jobs finish them in whatever order the workers run: only the end is fixed.
      _, _, err = happysim{ "check", modulo, "--seeds", "1..10", "--jobs", "2" }
      assert.matches("happysim check: 5/10 seeds %(50%%%), [01] failed", err)
      assert.matches("happysim check: 10/10 seeds (100%), 2 failed", err, 1, true)
    end)
  end)

  describe("--json, --shard and --merge", function()
    local json = require("happysim.json")

    local function records(path)
      local out = {}
      for line in io.lines(path) do out[#out + 1] = assert(json.decode(line)) end
      return out
    end

    it("--json writes a header, one record per seed and a closing record", function()
      local file = tmpname()
      local code, out = happysim{ "check", modulo, "--seeds", "1..10", "--jobs", "2", "--json", file, "--", "x=1" }
      assert.equal(1, code)
      local rs = records(file)
      assert.equal(12, #rs)
      assert.same({ happysim_check = 1, script = modulo, seeds = "1..10", count = 10, shard = json.null,
                    args = { "x=1" } }, rs[1])
      assert.is_true(rs[12].done)
      assert.equal(10, rs[12].seeds)
      local seen = {}
      for k = 2, 11 do
        local r = rs[k]
        seen[r.seed] = r
        assert.equal(r.seed, r.index)
        assert.equal(("%s run %s --seed %d -- x=1"):format(HAPPYSIM, modulo, r.seed), r.replay)
        assert.equal("number", type(r.wall_s))
        assert.equal("modulo", r.scenario)
      end
      assert.equal("fail", seen[3].verdict)
      assert.same({ { check = "modulo", message = "seed 3 is 3 mod 7\nsecond line" } }, seen[3].failed)
      assert.equal("pass", seen[4].verdict)
      assert.same({}, seen[4].failed)
      assert.matches("\nfailed: 2 seeds: 3, 10\n", out, 1, true)
    end)

    it("runs 4 shards through GNU parallel; --merge prints what the unsharded run prints", function()
      local code, whole = happysim{ "check", modulo, "--seeds", "1..30,41,45..50", "--jobs", "2" }
      assert.equal(1, code)
      local dir = tmpname()
      os.remove(dir)
      assert.is_true(os.execute("mkdir -p " .. quote(dir)))
      local pcode, pout, perr = shell(("parallel --will-cite --jobs 2 %s check %s --seeds 1..30,41,45..50 --shard {}/4 "
        .. "--jobs 1 --json %s/shard{}.jsonl ::: 1 2 3 4"):format(quote(HAPPYSIM), quote(modulo), quote(dir)))
      -- GNU parallel exits with the number of jobs that failed: each shard has a failing seed
      -- (3, 10, 17, 24 and 45 are 3 mod 7)
      assert.equal(4, pcode, perr)
      for k = 1, 4 do
        assert.matches(("%d seeds? %%(1%%.%%.30,41,45%%.%%.50, shard %d/4%%)"):format(k <= 1 and 10 or 9, k), pout)
      end
      local files = {}
      for k = 1, 4 do files[k] = ("%s/shard%d.jsonl"):format(dir, k) end
      local mcode, merged, merr = happysim{ "check", "--merge", files[3], files[1], files[4], files[2] }
      assert.equal(1, mcode, merr)
      assert.equal(whole, merged)
      assert.matches("happysim check --merge: 4 files, 37 seeds", merr, 1, true)
      -- each shard's seeds: positions k, k+4, ...; together every seed once
      local count = 0
      for k = 1, 4 do
        for _, r in ipairs(records(files[k])) do
          if r.index then
            assert.equal(k, (r.index - 1) % 4 + 1)
            count = count + 1
          end
        end
      end
      assert.equal(37, count)
      os.execute("rm -rf " .. quote(dir))
    end)

    it("--merge refuses files that do not make up one sweep", function()
      local f1, f2, other = tmpname(), tmpname(), tmpname()
      happysim{ "check", modulo, "--seeds", "1..8", "--shard", "1/2", "--json", f1 }
      happysim{ "check", modulo, "--seeds", "1..8", "--shard", "2/2", "--json", f2 }
      happysim{ "check", modulo, "--seeds", "1..9", "--shard", "2/2", "--json", other }
      local code, out = happysim{ "check", "--merge", f1, f2 }
      assert.equal(1, code) -- seed 3 fails
      assert.matches("\npassed: 7 seeds\nfailed: 1 seed: 3\n", out, 1, true)
      local cases = {
        { { f1 }, "4 of the 8 seeds of --seeds 1..8 are in none of the files (the first at position 2) (shards given: 1/2)" },
        { { f1, f1 }, "seed 1 (position 1) is in both" },
        { { f1, other }, "is from another sweep" },
        { { "/nonexistent/x.jsonl" }, "cannot open" },
        { { modulo }, "not a JSON record" },
      }
      for _, case in ipairs(cases) do
        local args = { "check", "--merge" }
        for _, f in ipairs(case[1]) do args[#args + 1] = f end
        local c, o, e = happysim(args)
        assert.equal(2, c, e)
        assert.equal("", o)
        assert.matches(case[2], e, 1, true)
      end
      -- a run that did not finish has no closing record
      local lines = {}
      for line in io.lines(f2) do lines[#lines + 1] = line end
      table.remove(lines)
      local f = assert(io.open(f2, "w"))
      f:write(table.concat(lines, "\n"), "\n")
      f:close()
      local c, _, e = happysim{ "check", "--merge", f1, f2 }
      assert.equal(2, c)
      assert.matches("has no closing record: its run did not finish (4 seeds recorded, shard 2/2)", e, 1, true)
    end)
  end)

  describe("budgets counted in work", function()
    -- A scenario whose check runs hs.check with a step budget on a history it cannot
    -- decide within it: the verdict ("unknown", a failure) must not depend on the load.
    local BUDGET = [[
return hs.scenario{
  name = "budget",
  run = function(ctx)
    local h = {}
    for p = 1, 24 do h[#h + 1] = { process = p, type = "invoke", f = "write", value = p } end
    for p = 1, 24 do h[#h + 1] = { process = p, type = "ok" } end
    h[#h + 1] = { process = 99, type = "invoke", f = "read" }
    h[#h + 1] = { process = 99, type = "ok", value = 1000 + ctx.seed }
    return { history = h }
  end,
  checks = { { "linearizable", function(r)
    local res = hs.check.linearizable(r.history, { model = "register", max_steps = 1500000 })
    if res.valid == "unknown" then return false, "the checker could not decide: " .. res.message end
    return res.valid, res.message
  end } },
}
]]

    it("gives the same unknown verdict under heavy load as alone", function()
      local path = script(BUDGET)
      local code, alone = happysim{ "check", path, "--seeds", "1..3", "--jobs", "1" }
      assert.equal(1, code)
      assert.matches("failed: 3 seeds: 1, 2, 3", alone, 1, true)
      assert.matches("the checker could not decide: unknown (model register): the check stopped after 1500000 model "
        .. "steps, 1 of 1 sub-histories checked: its budget of 1500000 model steps (max_steps) ran out", alone, 1, true)
      -- the same, with four processes spinning on the machine's cores
      local pids = {}
      for _ = 1, 4 do
        local p = io.popen("lua5.4 -e 'local t = os.time() while os.time() - t < 60 do end' >/dev/null 2>&1 & echo $!")
        pids[#pids + 1] = math.tointeger(p:read("n"))
        p:close()
      end
      local loaded_code, loaded = happysim{ "check", path, "--seeds", "1..3", "--jobs", "2" }
      for _, pid in ipairs(pids) do os.execute(("kill %d 2>/dev/null"):format(pid)) end
      assert.equal(code, loaded_code)
      assert.equal(alone, loaded)
    end)
  end)

  describe("--determinism", function()
    it("passes on a deterministic scenario", function()
      local code, out = happysim{ "check", modulo, "--determinism", "--seed", "5" }
      assert.equal(0, code)
      assert.matches("seed 5 of " .. modulo .. ", run twice in separate processes", out, 1, true)
      local h1 = out:match("\nrun 1: trace (%x+) %(20 events%)\n")
      assert.is_not_nil(h1)
      assert.matches("\nrun 2: trace " .. h1 .. " (20 events)\n", out, 1, true)
      assert.matches("\ndeterministic: both runs have the same event trace", out, 1, true)
    end)

    it("reports the first differing event of a nondeterministic scenario", function()
      -- each run depends on its process id: the two runs are two processes with different
      -- pids (a file counter would race: --determinism runs the two processes at once)
      local counter = tmpname()
      local path = script([[
        local stat = io.open("/proc/self/stat"):read("l")
        local n = tonumber(stat:match("^(%d+)")) % 3907 / 1000
        local sim = hs.Simulation{}
        local e = hs.Entity{ name = "e", handle_event = function() end }
        for i = 1, 10 do
          sim:schedule(hs.Event{ time = i + (i == 6 and n * 0.25 or 0), type = "Tick", target = e })
        end
        return sim
      ]])
      local code, out = happysim{ "check", path, "--determinism", "--", counter }
      assert.equal(1, code)
      assert.matches("NOT deterministic: the event traces differ", out, 1, true)
      assert.matches("first difference, after 5 identical events:\n", out, 1, true)
      local t1 = out:match("\n  run 1: simulation 1, event 6: t=([%d.]+) Tick on e\n")
      local t2 = out:match("\n  run 2: simulation 1, event 6: t=([%d.]+) Tick on e\n")
      assert.is_not_nil(t1)
      assert.is_not_nil(t2)
      assert.not_equal(t1, t2)
      assert.matches("    simulation 1, event 5: t=5.000000000 Tick on e\n", out, 1, true)
      assert.matches("replay: " .. HAPPYSIM .. " check " .. path .. " --determinism --seed 1 -- " .. counter, out, 1,
        true)
    end)
  end)

  describe("usage", function()
    it("exits 2 on usage errors", function()
      local cases = {
        { { "check" }, "check: missing argument 'SCRIPT'" },
        { { "check", modulo }, "check: --seeds LIST, --determinism or --merge FILE... is required" },
        { { "check", modulo, "--seeds", "9..3" }, "--seeds: the range 9..3 is empty" },
        { { "check", modulo, "--seeds", "a..b" }, "--seeds: expected A..B, N or a comma-separated list" },
        { { "check", modulo, "--seeds", "1..3", "--jobs", "0" }, "--jobs: an integer >= 1 is required, got '0'" },
        { { "check", modulo, "--seeds", "1..3", "--timeout", "0" }, "--timeout: a finite number of seconds > 0" },
        { { "check", modulo, "--seeds", "1..3", "--determinism" }, "check: option '--determinism' can not be used together with option '--seeds'" },
        { { "check", modulo, "--seed", "3" }, "check: --seed goes with --determinism" },
        { { "check", modulo, "--determinism", "--jobs", "2" },
          "check: option '--jobs' can not be used together with option '--determinism'" },
        { { "check", modulo, "--seeds", "1", "--fast" }, "check: unknown option '--fast'" },
        { { "check", "-", "--seeds", "1" }, "check: the script cannot be standard input" },
        { { "check", "/nonexistent/scenario.lua", "--seeds", "1" }, "cannot open script" },
        { { "help", "__worker" }, "help: unknown command '__worker'" },
        { { "check", modulo, "--seeds", "1..3", "--shard", "0/3" }, "--shard: K/N with 1 <= K <= N is required, got '0/3'" },
        { { "check", modulo, "--seeds", "1..3", "--shard", "5/4" }, "--shard: K/N with 1 <= K <= N" },
        { { "check", modulo, "--seeds", "1..3", "--shard", "x" }, "--shard: K/N" },
        { { "check", modulo, "--determinism", "--shard", "1/2" },
          "check: option '--shard' can not be used together with option '--determinism'" },
        { { "check", modulo, "--merge", "a.jsonl" },
          "check: option '--merge' can not be used together with argument 'SCRIPT'" },
        { { "check", "--merge" }, "check: option '--merge' requires at least 1 argument" },
        { { "check", "--merge", "a.jsonl", "--seeds", "1..3" },
          "check: option '--seeds' can not be used together with option '--merge'" },
        { { "check", "--merge", "a.jsonl", "--jobs", "2" },
          "check: option '--jobs' can not be used together with option '--merge'" },
      }
      for _, case in ipairs(cases) do
        local code, out, err = happysim(case[1])
        assert.equal(2, code, table.concat(case[1], " "))
        assert.equal("", out)
        assert.matches("^happysim: ", err)
        assert.matches(case[2], err, 1, true)
      end
    end)

    it("exits 1 on a syntax error in the script", function()
      local code, out, err = happysim{ "check", script("x = = 1\n"), "--seeds", "1..3" }
      assert.equal(1, code)
      assert.equal("", out)
      assert.matches("unexpected symbol near '='", err, 1, true)
    end)

    it("has its help", function()
      local code, out = happysim{ "help", "check" }
      assert.equal(0, code)
      assert.matches("Usage: happysim check SCRIPT --seeds LIST", out, 1, true)
      assert.matches("\n       happysim check --merge FILE...\n", out, 1, true)
      assert.matches("\n   %-%-determinism +Run one seed", out)
      assert.matches("\n   %-%-jobs N +Worker processes %(default: the number of CPUs%)%.\n", out)
      local _, top = happysim{ "--help" }
      assert.matches("\n   check +Run a scenario over many seeds", top)
    end)
  end)

  describe("run on a scenario", function()
    it("prints each verdict and exits 0 when all pass, 1 when one fails", function()
      local code, out = happysim{ "run", modulo, "--seed", "4" }
      assert.equal(0, code)
      assert.matches("summary: seed 4, simulated", out, 1, true)
      assert.matches("this goes nowhere in check", out, 1, true)
      local tail = "\ncheck summary: ok (20 events)\ncheck modulo: ok\nscenario modulo, seed 4: passed (2 checks)\n"
      assert.equal(tail, out:sub(-#tail))
      code, out = happysim{ "run", modulo, "--seed", "3" }
      assert.equal(1, code)
      tail = "\ncheck modulo: FAILED\n  seed 3 is 3 mod 7\n  second line\nscenario modulo, seed 3: FAILED (modulo)\n"
      assert.equal(tail, out:sub(-#tail))
    end)

    it("accepts a plain table with run and checks, and calls report", function()
      local path = script([[
        return { name = "plain", run = function(ctx) return { n = ctx.seed * 2 } end,
                 report = function(r) print("n is", r.n) end,
                 checks = { even = function(r) return r.n % 2 == 0, "even" end } }
      ]])
      local code, out = happysim{ "run", path, "--seed", "21" }
      assert.equal(0, code)
      assert.equal("n is\t42\ncheck even: ok (even)\nscenario plain, seed 21: passed (1 check)\n", out)
    end)
  end)

  describe("the Raft scenarios", function()
    local dir
    setup(function()
      dir = debug.getinfo(1, "S").source:match("^@(.*)/tests/lua/[^/]*$") or "."
    end)

    it("raft_linearizable passes its checks over a few seeds", function()
      local code, out, err = happysim{ "check", dir .. "/scripts/raft_linearizable.lua", "--seeds", "1..6", "--jobs", "2" }
      assert.equal(0, code, out .. err)
      assert.matches("scenario raft_linearizable", out, 1, true)
      assert.matches("\npassed: all 6 seeds\n", out, 1, true)
      local rcode, rout = happysim{ "run", dir .. "/scripts/raft_linearizable.lua", "--seed", "2" }
      assert.equal(0, rcode)
      assert.matches("check linearizable: ok %(linearizable %(model kv%): %d+ operations", rout)
      assert.matches("check raft safety: ok %(%d+ invariant checks, no violation%)", rout)
    end)

    it("raft_linearizable passes seeds 323, 1136 and 8855 (a refused write applied from a late duplicate)", function()
      -- a client's write was refused during a leadership transfer, and a delayed duplicate
      -- of the refused request was applied once its node led: hs.workload.kv must record
      -- such a write as info (323, 1136), and must not send it again (8855: applied twice,
      -- with other writes in between). tests/lua/workload_spec.lua replays the interleavings.
      local code, out, err = happysim{ "check", dir .. "/scripts/raft_linearizable.lua", "--seeds", "323,1136,8855",
                                       "--jobs", "2" }
      assert.equal(0, code, out .. err)
      assert.matches("\npassed: all 3 seeds\n", out, 1, true)
    end)

    it("raft_unsafe_reads fails the linearizability check, and its replay prints the same anomaly", function()
      local path = dir .. "/scripts/raft_unsafe_reads.lua"
      local code, out = happysim{ "check", path, "--seeds", "1..4", "--jobs", "2" }
      assert.equal(1, code)
      local seed = math.tointeger(tonumber(out:match("\nfailed: %d+ seeds?: (%d+)")))
      assert.is_not_nil(seed, out)
      local block = failure_block(out, seed)
      assert.matches("check linearizable: FAILED\n  not linearizable (model kv, key ", block, 1, true)
      assert.matches("cannot be linearized", block, 1, true)
      assert.not_matches("check raft safety: FAILED", out, 1, true)
      local replay = block:match("\nreplay: ([^\n]+)$")
      assert.equal(("%s run %s --seed %d"):format(HAPPYSIM, path, seed), replay)
      local rcode, rout = shell(replay)
      assert.equal(1, rcode)
      local verdict = block:match("\n(check linearizable: FAILED\n.-)\nreplay: ")
      assert.matches("\n" .. fixed(verdict) .. "\n", rout)
      assert.matches("(UNSAFE local reads)", rout, 1, true)
    end)
  end)
end)
