local hs = require("happysim")

describe("Random streams", function()
  it("are deterministic per seed and name, and cached", function()
    local a = hs.Simulation{ seed = 5 }:random("x")
    local b = hs.Simulation{ seed = 5 }:random("x")
    local c = hs.Simulation{ seed = 6 }:random("x")
    local d = hs.Simulation{ seed = 5 }:random("y")
    local va, vb, vc, vd = {}, {}, {}, {}
    for i = 1, 20 do va[i], vb[i], vc[i], vd[i] = a:random(), b:random(), c:random(), d:random() end
    assert.same(va, vb)
    assert.are_not.same(va, vc)
    assert.are_not.same(va, vd)
    local sim = hs.Simulation{}
    assert.equal(sim:random("k"), sim:random("k"))
    assert.equal(sim:random(), sim:random("sim"))
  end)

  it("follow math.random's conventions and stay in range", function()
    local r = hs.Simulation{}:random("r")
    local seen = {}
    for _ = 1, 10000 do
      local x = r:random()
      assert.is_true(x >= 0 and x < 1)
      local k = r:random(6)
      assert.is_true(k >= 1 and k <= 6 and math.type(k) == "integer")
      seen[k] = true
      local m = r:random(-3, 3)
      assert.is_true(m >= -3 and m <= 3)
      local u = r:uniform(2, 4)
      assert.is_true(u >= 2 and u < 4)
    end
    assert.equal(6, #seen)
    assert.equal(5, r:random(5, 5))
    assert.is_number(r:random(math.mininteger, math.maxinteger))
  end)

  it("exponential and normal have the right moments", function()
    local r = hs.Simulation{ seed = 3 }:random("m")
    local n, se, sn, sn2 = 100000, 0, 0, 0
    for _ = 1, n do
      se = se + r:exponential(2)
      local x = r:normal(10, 3)
      sn, sn2 = sn + x, sn2 + x * x
    end
    assert.near(2, se / n, 0.04)
    local mean = sn / n
    assert.near(10, mean, 0.05)
    assert.near(3, math.sqrt(sn2 / n - mean * mean), 0.05)
  end)

  it("choice and shuffle", function()
    local r = hs.Simulation{}:random("c")
    local list = { "a", "b", "c" }
    for _ = 1, 100 do assert.truthy(({ a = 1, b = 1, c = 1 })[r:choice(list)]) end
    local t = {}
    for i = 1, 50 do t[i] = i end
    r:shuffle(t)
    table.sort(t)
    for i = 1, 50 do assert.equal(i, t[i]) end
  end)

  it("reject bad arguments", function()
    local r = hs.Simulation{}:random("b")
    assert.has_error(function() r:random(0) end)
    assert.has_error(function() r:random(3, 1) end)
    assert.has_error(function() r:random(1.5) end)
    assert.has_error(function() r:exponential(0) end)
    assert.has_error(function() r:exponential(0 / 0) end)
    assert.has_error(function() r:normal(0, -1) end)
    assert.has_error(function() r:uniform(2, 1) end)
    assert.has_error(function() r:choice({}) end)
    assert.has_error(function() r:shuffle(3) end)
    assert.has_error(function() hs.Simulation{}:random({}) end)
  end)
end)
