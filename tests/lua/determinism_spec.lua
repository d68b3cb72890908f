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
end)
