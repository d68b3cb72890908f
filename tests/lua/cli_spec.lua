-- The happysim command-line tool, run as a program: exit statuses, help, run, repl.
-- ctest sets HAPPYSIM to <build>/bin/happysim; without it these specs are pending.

local HAPPYSIM = os.getenv("HAPPYSIM")

if HAPPYSIM == nil or HAPPYSIM == "" then
  describe("happysim CLI", function()
    pending("HAPPYSIM is not set: run through ctest, or HAPPYSIM=build/bin/happysim busted tests/lua/cli_spec.lua")
  end)
  return
end

local cli = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "support/cli.lua")(HAPPYSIM)
local quote, slurp, tmpname, script, shell, happysim, fixed =
  cli.quote, cli.slurp, cli.tmpname, cli.script, cli.shell, cli.happysim, cli.fixed

teardown(cli.cleanup)

describe("happysim CLI", function()
  describe("help and usage", function()
    it("--help and -h print the usage and exit 0", function()
      for _, flag in ipairs{ "--help", "-h" } do
        local code, out, err = happysim{ flag }
        assert.equal(0, code)
        assert.matches("Usage: happysim COMMAND", out, 1, true)
        assert.matches("\n   run +Load a scenario script and run it%.\n", out)
        assert.matches("\n   repl +Load a scenario script, then read Lua lines", out)
        assert.not_matches("__worker", out, 1, true)
        assert.equal("", err)
      end
    end)

    it("each command has its own help", function()
      local code, out = happysim{ "run", "--help" }
      assert.equal(0, code)
      assert.matches("Usage: happysim run [-h] [--seed N] [--until T] [--timing]", out, 1, true)
      assert.matches(" SCRIPT [ARGS] ...\n", out, 1, true)
      assert.matches("\n   %-%-seed N +The seed of the run, an integer %(default: 1%)\n", out)
      assert.matches("--until T", out, 1, true)
      assert.matches("The script is a Lua chunk.", out, 1, true)
      code, out = happysim{ "repl", "-h" }
      assert.equal(0, code)
      assert.matches("Usage: happysim repl [-h] [--seed N] [--until T] [SCRIPT] [ARGS] ...\n", out, 1, true)
      local _, run_help = happysim{ "run", "--help" }
      code, out = happysim{ "help", "run" }
      assert.equal(0, code)
      assert.equal(run_help, out)
    end)

    it("--version prints the version", function()
      local code, out = happysim{ "--version" }
      assert.equal(0, code)
      assert.matches("^happysim ", out)
      assert.matches("Lua 5.4", out, 1, true)
    end)

    it("usage errors exit 2 with a message on stderr", function()
      local cases = {
        { {}, "a command is required" },
        { { "--frobnicate" }, "unknown option '--frobnicate'" },
        { { "launch" }, "unknown command 'launch'" },
        { { "run" }, "run: missing argument 'SCRIPT'" },
        { { "run", "x.lua", "--fast" }, "run: unknown option '--fast'" },
        { { "run", "x.lua", "--seed", "1.5" }, "--seed: an integer is required, got '1.5'" },
        { { "run", "x.lua", "--seed=abc" }, "--seed: an integer is required, got 'abc'" },
        { { "run", "x.lua", "--seed" }, "run: option '--seed' requires an argument" },
        { { "run", "x.lua", "--until", "-3" }, "--until: a finite number of seconds >= 0 is required" },
        { { "run", "/nonexistent/scenario.lua" }, "cannot open script" },
      }
      for _, case in ipairs(cases) do
        local code, out, err = happysim(case[1])
        assert.equal(2, code, table.concat(case[1], " "))
        assert.equal("", out)
        assert.matches("^happysim: ", err)
        assert.matches(case[2], err, 1, true)
        local command = case[1][1] == "run" and " run" or ""
        if not case[2]:find("cannot open", 1, true) then
          assert.matches("\nUsage: happysim" .. command, err, 1, true)
          assert.matches(fixed("\nTry 'happysim" .. command .. " --help' for more information.\n") .. "$", err)
        end
      end
    end)
  end)

  describe("run", function()
    it("exits 1 on an error in the script, with the message and traceback on stderr", function()
      local path = script("local function f() error('the scenario broke') end\nf()\n")
      local code, _, err = happysim{ "run", path }
      assert.equal(1, code)
      assert.matches("^happysim: " .. fixed(path) .. ":1: the scenario broke", err)
      assert.matches("stack traceback:", err, 1, true)
    end)

    it("exits 1 on a syntax error", function()
      local code, _, err = happysim{ "run", script("x = = 1\n") }
      assert.equal(1, code)
      assert.matches("^happysim: .*unexpected symbol near '='", err)
    end)

    it("exits 1 when the returned simulation fails, with the simulated time", function()
      local path = script([[
        local sim = hs.Simulation{}
        local e = hs.Entity{ name = "e", handle_event = function() error("kaput") end }
        sim:schedule(hs.Event{ time = 2, type = "Boom", target = e })
        return sim
      ]])
      local code, _, err = happysim{ "run", path }
      assert.equal(1, code)
      assert.matches("^happysim: ", err)
      assert.matches("t=2", err, 1, true)
      assert.matches("kaput", err, 1, true)
    end)

    it("reports a bad hs.Simulation call at the script's line, named Simulation", function()
      local path = script("local sim = hs.Simulation{ seed = 1.5 }\n")
      local code, _, err = happysim{ "run", path }
      assert.equal(1, code)
      assert.matches(path .. ":1: bad argument #1 to 'Simulation' (field 'seed' must be an integer, got 1.5)",
        err, 1, true)
      assert.not_matches("cli.lua", err, 1, true)
    end)

    it("passes hs, seed, args and arg as globals and a context as ...", function()
      local path = script([[
        local ctx = ...
        print(type(hs.Simulation), seed, #args, args[1], args[2], arg[0] == ctx.script, arg[1])
        print(ctx.hs == hs, ctx.seed, ctx.args == args, ctx.command, tostring(ctx.end_time))
        print(require("happysim") == hs)
      ]])
      local code, out = happysim{ "run", path, "--seed", "42", "--", "alpha", "--beta" }
      assert.equal(0, code)
      assert.equal("function\t42\t2\talpha\t--beta\ttrue\talpha\ntrue\t42\ttrue\trun\tnil\ntrue\n", out)
      code, out = happysim{ "run", path, "one", "--until=3" }
      assert.equal(0, code)
      assert.equal("function\t1\t1\tone\tnil\ttrue\tone\ntrue\t1\ttrue\trun\t3.0\ntrue\n", out)
    end)

    it("runs a returned simulation that has not run and prints its summary", function()
      local path = script([[
        local sim = hs.Simulation{}
        sim:schedule(hs.Event{ time = 7, type = "Tick", target = hs.Entity{ name = "clock", handle_event = function() end } })
        return sim
      ]])
      local code, out = happysim{ "run", path }
      assert.equal(0, code)
      assert.matches("summary: seed 1, simulated 7 s, 1 events processed", out, 1, true)
      assert.matches("trace_hash: %x+", out)
      assert.matches("clock +1 events", out)
    end)

    it("calls a returned report function with the summary instead", function()
      local path = script([[
        local sim = hs.Simulation{}
        sim:schedule(hs.Event{ time = 3, type = "Tick", target = function() end })
        return sim, function(s) print("report", s.duration_s, s.events_processed, s == nil) end
      ]])
      local code, out = happysim{ "run", path }
      assert.equal(0, code)
      assert.equal("report\t3.0\t1\tfalse\n", out)
    end)

    it("does not run again a simulation the script already ran", function()
      local path = script([[
        local sim = hs.Simulation{}
        sim:schedule(hs.Event{ time = 1, type = "Tick", target = function() print("tick") end })
        sim:run()
        return sim
      ]])
      local code, out = happysim{ "run", path }
      assert.equal(0, code)
      assert.equal("tick\n", out)
    end)

    it("--until gives hs.Simulation a default end time", function()
      local path = script([[
        local sim = hs.Simulation{}
        local n = 0
        sim:timer(1, function() n = n + 1; return 1 end)
        sim:run()
        print(n, sim.now, tostring(sim.end_time))
        local own = hs.Simulation{ duration = 2 }
        print(tostring(own.end_time))
      ]])
      local code, out, err = happysim{ "run", path, "--until", "5.5" }
      assert.equal(0, code, err)
      assert.equal("5\t5.5\t5.5\n2.0\n", out)
    end)

    it("--seed gives hs.Simulation a default seed", function()
      local path = script("print(hs.Simulation{}.seed, hs.Simulation{ seed = 3 }.seed)\n")
      local _, out = happysim{ "run", path, "--seed", "-17" }
      assert.equal("-17\t3\n", out)
      _, out = happysim{ "run", path }
      assert.equal("1\t3\n", out)
    end)

    it("reads the script from standard input for -", function()
      local code, out = happysim({ "run", "-", "--seed", "9" }, "#!shebang line\nprint('from stdin', seed)\n")
      assert.equal(0, code)
      assert.equal("from stdin\t9\n", out)
    end)
  end)

  describe("the flagship scenario", function()
    local flagship
    setup(function()
      local dir = debug.getinfo(1, "S").source:match("^@(.*)/tests/lua/[^/]*$") or "."
      flagship = dir .. "/scripts/client_server.lua"
    end)

    it("is deterministic for a seed and differs for another", function()
      local c1, a = happysim{ "run", flagship, "--seed", "7", "--", "duration=5" }
      local c2, b = happysim{ "run", flagship, "--seed", "7", "--", "duration=5" }
      local c3, c = happysim{ "run", flagship, "--seed", "8", "--", "duration=5" }
      assert.same({ 0, 0, 0 }, { c1, c2, c3 })
      assert.matches("requests +%d+ answered", a)
      assert.matches("latency +p50 [%d.]+ ms, p99 [%d.]+ ms", a)
      assert.matches("trace_hash %x+", a)
      assert.equal(a, b)
      assert.not_equal(a, c)
      assert.not_equal(a:match("trace_hash (%x+)"), c:match("trace_hash (%x+)"))
    end)

    it("stops at --until", function()
      local code, out = happysim{ "run", flagship, "--until", "1.5" }
      assert.equal(0, code)
      assert.matches("run +1.500 s simulated", out)
    end)

    it("rejects unknown scenario arguments", function()
      local code, _, err = happysim{ "run", flagship, "--", "bogus=1" }
      assert.equal(1, code)
      assert.matches("unknown argument 'bogus=1'", err, 1, true)
    end)
  end)

  describe("repl", function()
    it("evaluates piped lines and prints expression values", function()
      local code, out, err = happysim({ "repl" }, "print(1+1)\n1 + 2, 'x'\n")
      assert.equal(0, code)
      assert.equal("2\n3\tx\n", out)
      assert.equal("", err)
    end)

    it("reads a statement over several lines", function()
      local code, out = happysim({ "repl" }, "for i = 1, 3 do\n  io.write(i, ' ')\nend\nprint()\n")
      assert.equal(0, code)
      assert.equal("1 2 3 \n", out)
    end)

    it("prints errors with a traceback and goes on", function()
      local code, out, err = happysim({ "repl" }, "error('boom')\nx = = 1\nprint('still here')\n")
      assert.equal(0, code)
      assert.equal("still here\n", out)
      assert.matches("stdin:1: boom", err, 1, true)
      assert.matches("stack traceback:", err, 1, true)
      assert.matches("unexpected symbol near '='", err, 1, true)
    end)

    it("reports an incomplete statement at EOF", function()
      local code, _, err = happysim({ "repl" }, "function f()\n")
      assert.equal(0, code)
      assert.matches("'end' expected", err, 1, true)
    end)

    it("loads a script and exposes its globals and the returned simulation as sim", function()
      local path = script([[
        counter = hs.Entity{ name = "counter", n = 0, handle_event = function(self) self.n = self.n + 1 end }
        local s = hs.Simulation{}
        for i = 1, 5 do s:schedule(hs.Event{ time = i, type = "Tick", target = counter }) end
        return s, function() print("reported") end
      ]])
      local code, out, err = happysim({ "repl", path, "--seed", "3" },
        "sim.now, sim.seed, seed\nsim:step(2)\nsim.now, counter.n\nsim:run_until(4.5)\nsim.now, counter.n\nreport()\n")
      assert.equal(0, code, err)
      assert.matches("^0%.0\t3\t3\n2\n2%.0\t2\n", out)
      assert.matches("4%.5\t4\nreported\n$", out)
    end)

    it("exits with the status given to os.exit", function()
      local code, out = happysim({ "repl" }, "print('a')\nos.exit(3)\nprint('b')\n")
      assert.equal(3, code)
      assert.equal("a\n", out)
    end)

    it("exits 1 when the script fails to load", function()
      local code, _, err = happysim({ "repl", script("error('bad setup')\n") }, "print('never')\n")
      assert.equal(1, code)
      assert.matches("bad setup", err, 1, true)
    end)
  end)
end)
