local hs = require("happysim")

-- A small randomized workload: entities that sleep random times and message each other.
local function run(seed)
  local sim = hs.Simulation{ seed = seed, end_time = 50 }
  local trace = {}
  sim:trace(function(t, type, target) trace[#trace + 1] = ("%.9f %s %s"):format(t, type, tostring(target)) end)
  local Node = hs.Entity:extend("Node")
  local nodes = {}
  function Node:handle_event(ev)
    local r = self:random()
    hs.sleep(r:exponential(0.5))
    local peer = nodes[r:random(#nodes)]
    return hs.Event{ time = self.now + r:uniform(0.1, 1), type = "Msg", target = peer, payload = ev.payload + 1 }
  end
  for i = 1, 5 do nodes[i] = Node{ name = "n" .. i } end
  for i = 1, 5 do sim:schedule(hs.Event{ time = 0, type = "Msg", target = nodes[i], payload = 0 }) end
  sim:timer(0.3, function() return sim:random("jitter"):exponential(0.3) end, { daemon = true })
  local s = sim:run()
  return trace, s
end

describe("Determinism", function()
  it("the same seed gives the same trace, event for event", function()
    local t1, s1 = run(11)
    local t2, s2 = run(11)
    assert.is_true(#t1 > 100)
    assert.same(t1, t2)
    assert.equal(s1.trace_hash, s2.trace_hash)
    assert.equal(s1.events_processed, s2.events_processed)
  end)

  it("another seed gives another trace", function()
    local t1, s1 = run(11)
    local t3, s3 = run(12)
    assert.are_not.same(t1, t3)
    assert.are_not.equal(s1.trace_hash, s3.trace_hash)
  end)

  it("does not depend on the garbage collector's timing", function()
    collectgarbage("generational")
    local _, a = run(21)
    collectgarbage("incremental")
    collectgarbage("setpause", 50)
    local _, b = run(21)
    collectgarbage("setpause", 200)
    assert.equal(a.trace_hash, b.trace_hash)
  end)

  describe("the value encoding", function()
    local function hex(s) return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end)) end
    local SRC = [[
      local t = { list = { 1, 2, { z = 1, a = 2 } }, [true] = "yes", [2.5] = "x" }
      for i = 1, 30 do t["key" .. i] = i end
      for i = 1, 30, 3 do t["key" .. i] = nil end
      t.op, t.key, t.value = "set", "k", { b = 1, a = 2, c = { y = 1, x = 2 } }
      return t
    ]]

    it("is canonical: equal tables encode to equal bytes, whatever their insertion order", function()
      local a, b = {}, {}
      for i = 1, 50 do a["k" .. i] = { i, ["n" .. i] = i } end
      for i = 50, 1, -1 do b["k" .. i] = { ["n" .. i] = i, i } end
      b.tmp = 1
      b.tmp = nil
      assert.equal(hex(hs.core.encode(a)), hex(hs.core.encode(b)))
      assert.same(a, hs.core.decode(hs.core.encode(a)))
      local t = assert(load(SRC))()
      assert.same(t, hs.core.decode(hs.core.encode(t)))
    end)

    local HAPPYSIM = os.getenv("HAPPYSIM")
    local it_cli = (HAPPYSIM and HAPPYSIM ~= "") and it or pending
    it_cli("gives the same bytes in separate processes (Lua seeds its string hashes per process)", function()
      local cli = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "support/cli.lua")(HAPPYSIM)
      local script = cli.script("local t = (function() " .. SRC .. " end)()\n"
        .. "print((hs.core.encode(t):gsub('.', function(c) return ('%02x'):format(c:byte()) end)))\n")
      local outs = {}
      for i = 1, 3 do
        local code, out, err = cli.happysim({ "run", script })
        assert.equal(0, code, err)
        outs[i] = out
      end
      cli.cleanup()
      assert.equal(hex(hs.core.encode(assert(load(SRC))())) .. "\n", outs[1])
      assert.equal(outs[1], outs[2])
      assert.equal(outs[1], outs[3])
    end)
  end)
end)
