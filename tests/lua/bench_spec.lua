-- happysim.bench: the argument parsing and memory readings the benchmark scripts share.
local bench = require("happysim.bench")

local function raises(pattern, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error matching " .. pattern)
  assert.matches(pattern, err, 1, true)
end

describe("happysim.bench", function()
  local spec = { clients = 100, mode = { "direct", "net" } }

  it("reads the arguments from a happysim context table or from command-line strings", function()
    assert.same({ "--quick", "a=1" }, bench.script_args({ args = { "--quick", "a=1" }, seed = 1 }))
    assert.same({ "--quick", "a=1" }, bench.script_args("--quick", "a=1"))
    assert.same({}, bench.script_args())
    assert.same({}, bench.script_args({ seed = 1 }))
  end)

  it("parses --quick and key=value options over the defaults", function()
    assert.same({ quick = false, clients = 100, mode = "direct" }, bench.options("b", spec))
    assert.same({ quick = true, clients = 7, mode = "net" },
      bench.options("b", spec, { args = { "clients=7", "--quick", "mode=net" } }))
    assert.same({ quick = true }, bench.options("b", {}, "--quick"))
  end)

  it("raises on anything else, naming the script and what it accepts", function()
    raises("b: unknown argument '--quikc' (--quick, clients=N, mode=direct|net)", bench.options, "b", spec, "--quikc")
    raises("b: unknown argument 'mode=udp' (--quick, clients=N, mode=direct|net)", bench.options, "b", spec, "mode=udp")
    raises("b: unknown argument 'seed=3' (--quick)", bench.options, "b", {}, { args = { "seed=3" } })
    raises("b: clients must be a positive integer, got '0'", bench.options, "b", spec, "clients=0")
    raises("b: clients must be a positive integer, got '1.5'", bench.options, "b", spec, "clients=1.5")
  end)

  it("reads the process's memory in MB", function()
    local peak, now = bench.peak_rss_mb(), bench.rss_mb()
    assert.is_number(peak)
    assert.is_number(now)
    if io.open("/proc/self/status") then -- (the kernel updates the peak lazily: no order between them)
      assert.is_true(peak > 0)
      assert.is_true(now > 0)
    end
  end)
end)
