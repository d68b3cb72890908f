-- hs.PhiAccrualDetector: the phi accrual failure detector of engine/membership/hs_phi.h as a Lua
-- value (heartbeat times in, suspicion out). The formulas themselves: tests/c/test_phi.c.

local hs = require("happysim")

describe("PhiAccrualDetector", function()
  it("grows phi with silence past the mean interval and crosses the threshold", function()
    local d = hs.PhiAccrualDetector{ threshold = 8, min_std_deviation = 0.1 }
    assert.equal(0, d:phi(0))
    assert.is_true(d:is_available(0)) -- not enough data: available
    for i = 0, 20 do d:heartbeat(i * 1.0) end
    assert.equal(20, d.last_heartbeat)
    assert.equal(21, d.stats.heartbeats_received)
    assert.near(1.0, d.stats.mean_interval, 1e-12)
    assert.near(0.0, d.stats.std_interval, 1e-12)
    local p1, p2, p3 = d:phi(20.5), d:phi(21.0), d:phi(21.3)
    assert.is_true(p1 < p2 and p2 < p3)
    assert.near(-math.log(0.5, 10), p2, 1e-9) -- at the mean: P_later = 1/2
    assert.is_true(d:is_available(21.0))
    assert.is_false(d:is_available(21.8))
    local s = d:stats_at(21.8)
    assert.is_true(s.is_suspected)
    assert.is_true(s.current_phi >= 8)
    assert.equal(0, d.stats.current_phi) -- the seed's property has no time
  end)

  it("the exponential variant is t / (mean ln 10)", function()
    local d = hs.PhiAccrualDetector{ distribution = "exponential" }
    for i = 0, 10 do d:heartbeat(i * 2.0) end
    assert.near(3.0 / (2.0 * math.log(10)), d:phi(23.0), 1e-9)
    assert.equal("exponential", d.distribution)
  end)

  it("bootstraps from first_heartbeat_estimate and tolerates an acceptable pause", function()
    local d = hs.PhiAccrualDetector{ first_heartbeat_estimate = 1.0 }
    d:heartbeat(5)
    assert.is_true(d:phi(6) > 0) -- defined from the first heartbeat
    local strict = hs.PhiAccrualDetector{}
    local lenient = hs.PhiAccrualDetector{ acceptable_heartbeat_pause = 3 }
    for i = 0, 10 do strict:heartbeat(i); lenient:heartbeat(i) end
    assert.is_true(lenient:phi(13) < strict:phi(13))
    assert.is_true(lenient:is_available(13))
    assert.is_false(strict:is_available(13))
  end)

  it("keeps a sliding window of window_size intervals", function()
    local d = hs.PhiAccrualDetector{ window_size = 3 }
    for _, t in ipairs{ 0, 10, 20, 21, 22, 23 } do d:heartbeat(t) end
    assert.near(1.0, d.stats.mean_interval, 1e-12)
    assert.equal(3, d.sample_count)
    d:reset()
    assert.equal(0, d.sample_count)
    assert.is_nil(d.last_heartbeat)
  end)

  it("raises on misuse, naming the function and argument", function()
    local function msg(f, ...) local ok, err = pcall(f, ...); assert.is_false(ok); return tostring(err) end
    assert.matches("field 'threshold' must be a positive number", msg(hs.PhiAccrualDetector, { threshold = -1 }))
    assert.matches("unknown option 'treshold'", msg(hs.PhiAccrualDetector, { treshold = 1 }))
    assert.matches("field 'window_size' must be an integer", msg(hs.PhiAccrualDetector, { window_size = 0 }))
    assert.matches("field 'distribution' must be", msg(hs.PhiAccrualDetector, { distribution = "gamma" }))
    assert.matches("field 'min_std' must be a finite number", msg(hs.PhiAccrualDetector, { min_std = -0.1 }))
    assert.matches("same option", msg(hs.PhiAccrualDetector, { min_std = 0.1, min_std_deviation = 0.1 }))
    local d = hs.PhiAccrualDetector()
    d:heartbeat(5)
    assert.matches("bad argument #1 to 'heartbeat' %(time 4", msg(function() d:heartbeat(4) end))
    assert.matches("bad argument #1 to 'phi'", msg(function() d:phi("soon") end))
    assert.matches("bad argument #1 to 'phi'", msg(function() d:phi(0 / 0) end))
    assert.matches("cannot set field", msg(function() d.threshold = 3 end))
  end)
end)
