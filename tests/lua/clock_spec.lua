-- The laws of each clock (Lamport, vector, hybrid logical, per-node physical), and bad arguments.
local hs = require("happysim")

local NaN, inf = 0 / 0, math.huge

local function raises(pattern, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error matching " .. pattern)
  err = tostring(err):gsub("%-nan", "nan") -- 0/0 prints as -nan on x86
  assert.is_truthy(err:find(pattern, 1, true), ("expected an error matching %q, got %q"):format(pattern, err))
end

--- A causal history of `nodes` exchanging messages in a random order drawn from a seeded
-- stream. Every event records its node's vector clock and Lamport time after the event, and
-- its direct causes (the previous event of the same node; for a receive, the send). Returns
-- the events and hb[a][b] = true when event a happened before event b (ground truth: the
-- transitive closure of the causes).
local function causal_history(seed, nodes, steps)
  local rng = hs.Simulation{ seed = seed }:random("history")
  local vc, lc, last = {}, {}, {}
  for _, n in ipairs(nodes) do vc[n], lc[n] = hs.VectorClock(), hs.LamportClock() end
  local events, in_flight = {}, {}
  local function record(node, kind, causes)
    local e = { node = node, kind = kind, vc = vc[node]:copy(), lamport = lc[node].time, causes = causes }
    events[#events + 1] = e
    last[node] = #events
    return #events
  end
  for _ = 1, steps do
    local node = rng:choice(nodes)
    local r = rng:random(3)
    local mine = {}
    for i, m in ipairs(in_flight) do if m.to == node then mine[#mine + 1] = i end end
    if r == 3 and #mine > 0 then
      local i = mine[rng:random(#mine)]
      local m = table.remove(in_flight, i)
      vc[node]:merge(m.vc):increment(node)
      lc[node]:receive(m.lamport)
      record(node, "receive", { last[node], m.send })
    elseif r == 2 then
      local to
      repeat to = rng:choice(nodes) until to ~= node
      vc[node]:increment(node)
      local ts = lc[node]:send()
      local id = record(node, "send", { last[node] })
      in_flight[#in_flight + 1] = { to = to, vc = hs.core.copy(vc[node]:to_table()), lamport = ts, send = id }
    else
      vc[node]:increment(node)
      lc[node]:tick()
      record(node, "local", { last[node] })
    end
  end
  -- ancestors by dynamic programming: causes always precede their event
  local hb = {}
  for b, e in ipairs(events) do
    local anc = {}
    for _, c in pairs(e.causes) do
      anc[c] = true
      for a in pairs(hb[c]) do anc[a] = true end
    end
    hb[b] = anc -- hb[b][a]: a happened before b
  end
  local before = {}
  for a = 1, #events do before[a] = {} end
  for b = 1, #events do for a in pairs(hb[b]) do before[a][b] = true end end
  return events, before
end

describe("LamportClock", function()
  it("tick and send strictly increase, receive exceeds both clocks", function()
    local c = hs.LamportClock()
    assert.equal(0, c.time)
    assert.equal(1, c:tick())
    assert.equal(2, c:send())
    assert.equal(2, c.time)
    assert.equal(11, c:receive(10)) -- > remote
    assert.equal(12, c:receive(3)) -- > local
    assert.equal(13, c:receive(12))
    assert.equal("LamportClock(13)", tostring(c))
    assert.equal(5, hs.LamportClock{ time = 5 }.time)
    assert.equal(6, hs.LamportClock{ time = 5.0 }:tick())

    local rng = hs.Simulation{ seed = 9 }:random("lamport")
    local clocks = { hs.LamportClock(), hs.LamportClock(), hs.LamportClock() }
    for _ = 1, 3000 do
      local a, b = rng:choice(clocks), rng:choice(clocks)
      local before = a.time
      local t = rng:random(2) == 1 and a:tick() or a:send()
      assert.is_true(t > before)
      local local_before = b.time
      local got = b:receive(t)
      assert.is_true(got > t and got > local_before)
      assert.equal(math.max(t, local_before) + 1, got)
      assert.equal(got, b.time)
    end
  end)

  it("respects causality along send/receive chains", function()
    local events, before = causal_history(11, { "n1", "n2", "n3" }, 200)
    local pairs_checked = 0
    for a = 1, #events do
      for b in pairs(before[a]) do
        if events[a].lamport >= events[b].lamport then
          error(("event %d -> %d but Lamport %d >= %d"):format(a, b, events[a].lamport, events[b].lamport))
        end
        pairs_checked = pairs_checked + 1
      end
    end
    assert.is_true(pairs_checked > 1000)
  end)
end)

describe("VectorClock", function()
  it("basics: get, increment, compare, tostring sorted by name", function()
    local v = hs.VectorClock()
    assert.equal(0, v:get("a"))
    assert.equal(1, v:increment("b"))
    assert.equal(2, v:increment("b"))
    assert.equal(1, v:increment("a"))
    assert.equal("VectorClock{a=1, b=2}", tostring(v))
    assert.same({ a = 1, b = 2 }, v:to_table())
    assert.same({ "a", "b" }, v:nodes())
    assert.equal("before", hs.VectorClock{ a = 1 }:compare(v))
    assert.equal("after", v:compare{ a = 1 })
    assert.equal("equal", v:compare{ b = 2, a = 1, c = 0 })
    assert.equal("concurrent", hs.VectorClock{ a = 2 }:compare(v))
    assert.equal("VectorClock{}", tostring(hs.VectorClock{ x = 0 }))
    assert.equal(3, hs.VectorClock{ n = 3.0 }:get("n"))
  end)

  it("equality ignores zero entries and the order entries were made in", function()
    local a = hs.VectorClock()
    a:increment("x"); a:increment("y"); a:increment("z")
    local b = hs.VectorClock{ z = 1 }
    b:merge{ y = 1 }:merge(hs.VectorClock{ x = 1, w = 0 })
    assert.is_true(a == b)
    assert.equal(tostring(a), tostring(b))
    assert.is_true(a == a:copy())
    assert.is_false(a == hs.VectorClock{ x = 1 })
    assert.is_true(hs.VectorClock() == hs.VectorClock{ q = 0 })
    assert.is_false(a == a:to_table()) -- a plain table is not a clock
  end)

  it("copy and to_table are independent; merge is in place and returns the clock", function()
    local a = hs.VectorClock{ a = 1 }
    local c = a:copy()
    c:increment("a")
    assert.equal(1, a:get("a"))
    local t = a:to_table()
    t.a = 9
    assert.equal(1, a:get("a"))
    local b = hs.VectorClock{ b = 4 }
    assert.equal(a, a:merge(b))
    assert.equal("VectorClock{a=1, b=4}", tostring(a))
    assert.equal("VectorClock{b=4}", tostring(b)) -- the argument is untouched
    local d = hs.VectorClock(a) -- constructing from a clock copies it
    d:increment("a")
    assert.equal(1, a:get("a"))
  end)

  it("happened-before matches the true causal order of a random 3-node history", function()
    local events, before = causal_history(42, { "n1", "n2", "n3" }, 180)
    local n = #events
    local hb, counts = {}, { before = 0, concurrent = 0 }
    -- plain checks in the O(n^2) loop (luassert per pair is slow); the first mismatch raises
    local function expect(ok, what, a, b)
      if not ok then error(("%s wrong for events %d, %d: %s vs %s"):format(what, a, b, events[a].vc, events[b].vc)) end
    end
    for a = 1, n do
      hb[a] = {}
      for b = 1, n do
        local va, vb = events[a].vc, events[b].vc
        local h = va:happened_before(vb)
        hb[a][b] = h
        expect(h == (before[a][b] == true), "happened_before", a, b)
        local conc = va:concurrent(vb)
        expect(conc == (a ~= b and not before[a][b] and not before[b][a]), "concurrent", a, b)
        local want = a == b and "equal" or before[a][b] and "before" or before[b][a] and "after" or "concurrent"
        expect(va:compare(vb) == want, "compare", a, b)
        expect((va == vb) == (a == b), "==", a, b) -- distinct events have distinct clocks
        if h then counts.before = counts.before + 1 end
        if conc then counts.concurrent = counts.concurrent + 1 end
      end
    end
    assert.is_true(counts.before > 1000 and counts.concurrent > 1000)
    -- a strict partial order: irreflexive, antisymmetric, transitive
    for a = 1, n do
      expect(not hb[a][a], "irreflexive", a, a)
      for b = 1, n do
        if hb[a][b] then
          expect(not hb[b][a], "antisymmetric", a, b)
          for c = 1, n do
            if hb[b][c] and not hb[a][c] then error(("not transitive: %d < %d < %d"):format(a, b, c)) end
          end
        end
      end
    end
  end)

  it("the history is deterministic per seed", function()
    local function trace(seed)
      local events = causal_history(seed, { "n1", "n2", "n3" }, 60)
      local out = {}
      for i, e in ipairs(events) do out[i] = e.node .. e.kind .. tostring(e.vc) .. e.lamport end
      return table.concat(out, "\n")
    end
    assert.equal(trace(5), trace(5))
    assert.are_not.equal(trace(5), trace(6))
  end)

  it("merge is the least upper bound", function()
    local rng = hs.Simulation{ seed = 3 }:random("lub")
    local names = { "a", "b", "c" }
    local function random_clock()
      local t = {}
      for _, k in ipairs(names) do t[k] = rng:random(0, 2) end
      return hs.VectorClock(t)
    end
    local function le(x, y) local o = x:compare(y); return o == "before" or o == "equal" end
    -- every clock over 3 nodes with counts 0..2, as candidate upper bounds
    local all = {}
    for x = 0, 2 do for y = 0, 2 do for z = 0, 2 do all[#all + 1] = hs.VectorClock{ a = x, b = y, c = z } end end end
    for _ = 1, 60 do
      local a, b = random_clock(), random_clock()
      local m = a:copy():merge(b)
      assert.is_true(le(a, m) and le(b, m))
      for _, k in ipairs(names) do assert.equal(math.max(a:get(k), b:get(k)), m:get(k)) end
      for _, u in ipairs(all) do
        if le(a, u) and le(b, u) then assert.is_true(le(m, u)) end
      end
      assert.is_true(m == b:copy():merge(a)) -- commutative
      assert.is_true(m == m:copy():merge(a)) -- idempotent
    end
  end)
end)

describe("HybridLogicalClock", function()
  it("now: the counter resets when physical time advances and grows when it does not", function()
    local h = hs.HybridLogicalClock{ node = "n1" }
    assert.is_nil(h.last)
    assert.equal("n1", h.node)
    assert.is_nil(h.max_offset)
    local t = h:now(5)
    assert.same({ 5.0, 5000000000, 0, "n1" }, { t.wall, t.wall_ns, t.logical, t.node })
    assert.equal(1, h:now(5).logical)
    assert.equal(2, h:send(4).logical) -- physical time went backwards: l stays, c grows
    local t2 = h:now(6)
    assert.same({ 6.0, 0 }, { t2.wall, t2.logical })
    assert.is_true(h.last == t2)
    assert.equal("HLCTimestamp{wall=6.000000000, logical=0, node=n1}", tostring(t2))
    -- receive: the larger l wins; c follows the clock(s) that supplied it
    assert.same({ 6.0, 1 }, { h:receive(hs.HLCTimestamp{ wall = 3 }, 5).wall, h.last.logical })
    local r = h:receive(hs.HLCTimestamp{ wall = 8, logical = 4 }, 7)
    assert.same({ 8.0, 5 }, { r.wall, r.logical })
    r = h:receive(hs.HLCTimestamp{ wall = 8, logical = 2 }, 7)
    assert.same({ 8.0, 6 }, { r.wall, r.logical }) -- max(c, remote.c) + 1
    r = h:receive(hs.HLCTimestamp{ wall = 8, logical = 9 }, 9)
    assert.same({ 9.0, 0 }, { r.wall, r.logical }) -- physical time is ahead of both: reset
    assert.equal("HybridLogicalClock(n1, last=9.000000000/0)", tostring(h))
    assert.equal("HybridLogicalClock(unused)", tostring(hs.HybridLogicalClock()))
  end)

  it("is monotonic across now, send and receive, even when physical time goes backwards", function()
    local rng = hs.Simulation{ seed = 8 }:random("hlc")
    local a, b = hs.HybridLogicalClock{ node = "a" }, hs.HybridLogicalClock{ node = "b" }
    local pa, pb = 100.0, 100.0
    local last = { [a] = nil, [b] = nil }
    local backwards = 0
    for _ = 1, 5000 do
      local step = rng:uniform(-0.01, 0.02) -- steps back a third of the time
      if step < 0 then backwards = backwards + 1 end
      pa, pb = pa + step, pb + rng:uniform(-0.01, 0.02)
      local clock, pt, other, opt = a, pa, b, pb
      if rng:random(2) == 1 then clock, pt, other, opt = b, pb, a, pa end
      local k = rng:random(3)
      local t
      if k == 1 then
        t = clock:now(pt)
      elseif k == 2 then
        t = clock:send(pt)
      else
        local msg = other:send(opt)
        assert.is_true(last[other] == nil or msg > last[other])
        last[other] = msg
        t = clock:receive(msg:to_table(), pt) -- as it arrives in a payload
        assert.is_true(t > msg)
      end
      assert.is_true(last[clock] == nil or t > last[clock])
      assert.is_true(t.wall >= pt - 1e-9) -- l never lags physical time
      last[clock] = t
    end
    assert.is_true(backwards > 1000)
  end)

  it("stays within the clock spread of physical time across skewed, drifting nodes", function()
    local sim = hs.Simulation{ seed = 21 }
    local rng = sim:random("net")
    local specs = {
      { skew = 0.000, drift = 0 },
      { skew = 0.004, drift = 2e-4 },
      { skew = -0.003, drift = -1e-4 },
      { skew = 0.010, drift = 5e-5 },
    }
    local nodes = {}
    for i, s in ipairs(specs) do
      nodes[i] = { name = "n" .. i, clock = hs.NodeClock{ skew = s.skew, drift = s.drift, sim = sim },
                   hlc = hs.HybridLogicalClock{ node = "n" .. i } }
    end
    local worst, max_gap, events = 0, 0, 0
    local function spread_now()
      local lo, hi = inf, -inf
      for _, n in ipairs(nodes) do
        local o = n.clock:offset()
        lo, hi = math.min(lo, o), math.max(hi, o)
      end
      return lo, hi
    end
    local function check(n, t)
      local pt = n.clock:read()
      local gap = t.wall - pt
      local _, hi = spread_now()
      local bound = hi - n.clock:offset() -- l <= the largest local reading anywhere now
      assert.is_true(gap >= -1e-9, "l behind physical time")
      assert.is_true(gap <= bound + 1e-9, ("l - pt = %g exceeds the spread %g"):format(gap, bound))
      worst = math.max(worst, gap)
      max_gap = math.max(max_gap, bound)
      events = events + 1
    end
    local function send(n)
      local to
      repeat to = rng:choice(nodes) until to ~= n
      local ts = n.hlc:send(n.clock:read())
      check(n, ts)
      local msg = hs.core.copy(ts:to_table())
      sim:after(rng:exponential(0.002), function()
        local got = assert(to.hlc:receive(msg, to.clock:read()))
        check(to, got)
      end)
    end
    for _, n in ipairs(nodes) do
      sim:after(rng:uniform(0, 0.01), function()
        for _ = 1, 300 do
          send(n)
          hs.sleep(rng:exponential(0.003))
          check(n, n.hlc:now(n.clock:read()))
        end
      end)
    end
    sim:run()
    assert.equal(4 * 300 * 3, events)
    assert.is_true(worst > 0.005, "the exchange should pull slow nodes ahead of their physical clocks")
    local lo, hi = spread_now()
    assert.is_true(worst <= hi - lo + 1e-9)
    assert.is_true(max_gap < 0.02)
  end)

  it("refuses a remote too far ahead with nil, err when max_offset is set", function()
    local h = hs.HybridLogicalClock{ node = "n1", max_offset = 0.5 }
    assert.equal(0.5, h.max_offset)
    local before = h:now(10)
    local ok = h:receive(hs.HLCTimestamp{ wall = 10.5 }, 10) -- exactly max_offset ahead: accepted
    assert.same({ 10.5, 1 }, { ok.wall, ok.logical })
    local t, err = h:receive(hs.HLCTimestamp{ wall = 11.6, node = "n2" }, 11)
    assert.is_nil(t)
    assert.equal("clock_offset", err.code)
    assert.is_true(math.abs(err.offset - 0.6) < 1e-9)
    assert.equal(0.5, err.max_offset)
    assert.matches("^clock_offset: receive: remote timestamp is 0.6", tostring(err))
    assert.is_true(h.last == ok) -- unchanged
    assert.is_true(h.last > before)
    -- remote extremely far ahead of a very negative physical time does not overflow
    local t2, err2 = h:receive(hs.HLCTimestamp{ wall = 9e9 }, -9e9)
    assert.is_nil(t2)
    assert.equal("clock_offset", err2.code)
    -- without max_offset anything is accepted
    local free = hs.HybridLogicalClock()
    assert.equal(1000.0, free:receive(hs.HLCTimestamp{ wall = 1000 }, 0).wall)
  end)

  it("refuses a logical counter at its top with an error, and never wraps it", function()
    local top = (1 << 32) - 1
    local h = hs.HybridLogicalClock()
    raises("receive: logical counter overflow", function() h:receive({ wall_ns = 9e18 // 1, logical = top }, -9e9) end)
    assert.is_nil(h.last) -- unchanged
    local t = h:receive({ wall_ns = 9e18 // 1, logical = top - 1 }, -9e9)
    assert.same({ 9e18 // 1, top }, { t.wall_ns, t.logical })
    raises("now: logical counter overflow", function() h:now(9e9) end)
    raises("receive: logical counter overflow", function() h:receive({ wall_ns = -9e18 // 1 }, 9e9) end)
    assert.is_true(h.last == t)
  end)
end)

describe("HLCTimestamp", function()
  it("orders by (wall, logical), then node, with nil node first", function()
    local T = hs.HLCTimestamp
    assert.is_true(T{ wall = 1, logical = 5 } < T{ wall = 2 })
    assert.is_true(T{ wall = 1, logical = 1 } < T{ wall = 1, logical = 2 })
    assert.is_true(T{ wall = 1 } <= T{ wall = 1 })
    assert.is_true(T{ wall = 1 } == T{ wall = 1 })
    assert.is_true(T{ wall = 1 } == T{ wall_ns = 1000000000 })
    assert.is_false(T{ wall = 1, node = "a" } == T{ wall = 1, node = "b" })
    assert.is_true(T{ wall = 1, node = "a" } < T{ wall = 1, node = "b" })
    assert.is_true(T{ wall = 1 } < T{ wall = 1, node = "a" })
    assert.is_true(T{ wall = 1, node = "a" } < T{ wall = 1, node = "ab" })
    assert.is_false(T{ wall = 2 } < T{ wall = 1, logical = 99 })
    assert.is_true(T{ wall = -0.5 } < T{ wall = 0 })
    local list = { T{ wall = 3 }, T{ wall = 1, logical = 2 }, T{ wall = 1, node = "z" }, T{ wall = 2 } }
    table.sort(list)
    local out = {}
    for i, t in ipairs(list) do out[i] = tostring(t) end
    assert.same({ "HLCTimestamp{wall=1.000000000, logical=0, node=z}", "HLCTimestamp{wall=1.000000000, logical=2}",
                  "HLCTimestamp{wall=2.000000000, logical=0}", "HLCTimestamp{wall=3.000000000, logical=0}" }, out)
    assert.equal("HLCTimestamp{wall=-0.250000000, logical=0}", tostring(T{ wall = -0.25 }))
    raises("attempt to compare happysim.HLCTimestamp with number", function() return T{ wall = 1 } < 2 end)
    assert.is_false(T{ wall = 1 } == hs.LamportClock())
  end)

  it("round-trips through to_table and a message copy", function()
    local t = hs.HLCTimestamp{ wall_ns = 1234567890123, logical = 7, node = "n9" }
    local copy = hs.core.copy(t:to_table())
    assert.same({ wall_ns = 1234567890123, logical = 7, node = "n9" }, copy)
    assert.is_true(hs.HLCTimestamp(copy) == t)
    assert.equal(1234.567890123, t.wall)
    raises("HLCTimestamp: cannot set field 'logical'", function() t.logical = 3 end)
    assert.is_nil(t.nonexistent)
  end)
end)

describe("NodeClock", function()
  it("reads true * (1 + drift) + skew, and true_time inverts it", function()
    local c = hs.NodeClock()
    assert.equal(12.5, c:read(12.5))
    c = hs.NodeClock{ skew = 0.25 }
    assert.equal(10.25, c:read(10))
    assert.equal(0.25, c:offset(3))
    c = hs.NodeClock{ skew = -0.5, drift = 1e-3 }
    assert.same({ -0.5, 1e-3, 0.0 }, { c.skew, c.drift, c.changed_at })
    assert.is_true(math.abs(c:read(100) - (100 * 1.001 - 0.5)) < 1e-9)
    assert.is_true(math.abs(c:offset(100) - (0.1 - 0.5)) < 1e-9)
    assert.equal(0.5, hs.NodeClock{ skew = -0.5 }:true_time(0))
    assert.equal(-0.5, hs.NodeClock{ skew = 0.5 }:true_time(0)) -- before the run began
    local rng = hs.Simulation{ seed = 4 }:random("nc")
    for _ = 1, 2000 do
      local d = rng:uniform(-0.5, 0.5)
      local k = hs.NodeClock{ skew = rng:uniform(-10, 10), drift = d }
      local t = rng:uniform(0, 1e5)
      local l = k:read(t)
      assert.is_true(math.abs(k:true_time(l) - t) <= 2e-9)
      local x = rng:uniform(-10, 1e5)
      local back = k:true_time(x)
      if back >= 0 then
        -- the first nanosecond at which the clock reads x
        assert.is_true(k:read(back) >= x - 1e-9)
        assert.is_true(k:read(back) - x <= (1 + d) * 1e-9 + 1e-9)
      end
    end
    assert.equal("NodeClock{skew=-0.500000000, drift=0.001}", tostring(c))
  end)

  it("set_drift keeps the reading continuous; set_skew steps it; neither rewrites the past", function()
    local c = hs.NodeClock{ skew = 1, drift = 0.01 }
    local at10 = c:read(10) -- 11.1
    c:set_drift(10, -0.02)
    assert.is_true(math.abs(c:read(10) - at10) < 1e-9)
    assert.is_true(math.abs(c:read(20) - (at10 + 10 * 0.98)) < 1e-9)
    assert.equal(10.0, c.changed_at)
    assert.equal(-0.02, c.drift)
    assert.is_true(math.abs(c.skew - 1.1) < 1e-9)
    c:set_skew(20, -0.3)
    assert.is_true(math.abs(c:read(20) - 19.7) < 1e-9)
    assert.is_true(math.abs(c:offset(20) + 0.3) < 1e-9)
    assert.is_true(math.abs(c:read(30) - (19.7 + 10 * 0.98)) < 1e-9) -- drift continues
    assert.equal(-0.3, c.skew)
    raises("at (15.0) is before the clock's last change (20.0)", function() c:set_skew(15, 0) end)
    raises("at (0.0) is before the clock's last change (20.0)", function() c:set_drift(0, 0) end)
    c:set_skew(20, 0) -- at the same instant is fine
    assert.equal(20.0, c:read(20))
  end)

  it("with sim = sim, time arguments may be left out (as hs.faults.clock_skew does)", function()
    local sim = hs.Simulation{}
    local c = hs.NodeClock{ skew = 0.1, sim = sim }
    assert.equal(sim, c.sim)
    local seen = {}
    sim:after(5, function()
      seen.read = c:read()
      c:set_skew(2)
      seen.after_skew = c:read()
      c:set_drift(0.5)
      hs.sleep(2)
      seen.later = c:read()
      seen.offset = c:offset()
    end)
    sim:run()
    assert.equal(5.1, seen.read)
    assert.equal(7.0, seen.after_skew)
    assert.equal(10.0, seen.later) -- 7 + 2 * 1.5
    assert.equal(3.0, seen.offset)
    local bare = hs.NodeClock()
    raises("read: no time given and the clock has no 'sim' (call read(true_time))", function() bare:read() end)
    raises("set_skew: no time given and the clock has no 'sim' (call set_skew(at, skew))",
      function() bare:set_skew(1) end)
  end)

  it("drives hs.faults.clock_skew on an entity's clock", function()
    local sim = hs.Simulation{ end_time = 20 }
    local node = hs.Entity{ name = "n1", handle_event = function() end }
    node.clock = hs.NodeClock{ sim = sim }
    sim:register(node)
    local schedule = hs.FaultSchedule{ hs.faults.clock_skew{ node = "n1", skew = 0.5, drift = 0.1, at = 5, stop = 10 } }
    local readings = {}
    for _, t in ipairs{ 4, 6, 12 } do sim:after(t, function() readings[t] = node.clock:read() end) end
    schedule:install(sim)
    sim:run()
    assert.equal(4.0, readings[4])
    assert.is_true(math.abs(readings[6] - (5.5 + 1.1)) < 1e-9)
    assert.equal(12.0, readings[12]) -- skew and drift put back at 10
  end)
end)

describe("clocks: bad arguments", function()
  it("LamportClock", function()
    raises("bad argument #1 to 'LamportClock' (table of options expected, got number)", function() hs.LamportClock(3) end)
    raises("unknown option 'tiem'", hs.LamportClock, { tiem = 1 })
    raises("field 'time' must be a non-negative integer, got -1", hs.LamportClock, { time = -1 })
    raises("field 'time' must be a non-negative integer, got 1.5", hs.LamportClock, { time = 1.5 })
    raises("field 'time' must be a non-negative integer, got string", hs.LamportClock, { time = "1" })
    local c = hs.LamportClock()
    raises("bad argument #1 to 'receive' (remote timestamp must be a non-negative integer, got nan)",
      function() c:receive(NaN) end)
    raises("remote timestamp must be a non-negative integer, got -3", function() c:receive(-3) end)
    raises("remote timestamp must be a non-negative integer, got no value", function() c:receive() end)
    raises("remote timestamp must be a non-negative integer, got table", function() c:receive{} end)
    raises("remote timestamp must be a non-negative integer, got inf", function() c:receive(inf) end)
    raises("happysim.LamportClock expected, got table", function() c.tick({}) end)
    raises("LamportClock: cannot set field 'time'", function() c.time = 3 end)
    local big = hs.LamportClock{ time = math.maxinteger }
    raises("tick: Lamport time would overflow", function() big:tick() end)
    raises("receive: Lamport time would overflow", function() c:receive(math.maxinteger) end)
    assert.equal(0, c.time)
  end)

  it("VectorClock", function()
    raises("bad argument #1 to 'VectorClock' (VectorClock or table expected, got number)", hs.VectorClock, 3)
    raises("bad argument #1 to 'VectorClock' (node name must be a non-empty string, got 1)", hs.VectorClock, { 5 })
    raises("node name must be a non-empty string, got string", hs.VectorClock, { [""] = 1 })
    raises("count of node 'a' must be a non-negative integer, got -1", hs.VectorClock, { a = -1 })
    raises("count of node 'a' must be a non-negative integer, got 0.5", hs.VectorClock, { a = 0.5 })
    raises("count of node 'a' must be a non-negative integer, got nan", hs.VectorClock, { a = NaN })
    raises("count of node 'a' must be a non-negative integer, got string", hs.VectorClock, { a = "1" })
    local v = hs.VectorClock{ a = 1 }
    raises("bad argument #1 to 'increment' (node name must be a non-empty string, got nil)", function() v:increment() end)
    raises("bad argument #1 to 'get' (node name must be a non-empty string, got 3)", function() v:get(3) end)
    raises("bad argument #1 to 'merge' (VectorClock or table expected, got nil)", function() v:merge() end)
    raises("bad argument #1 to 'merge' (count of node 'b' must be a non-negative integer, got -2)",
      function() v:merge{ b = -2 } end)
    raises("bad argument #1 to 'compare' (VectorClock or table expected, got happysim.LamportClock)",
      function() v:compare(hs.LamportClock()) end)
    raises("bad argument #1 to 'happened_before' (VectorClock or table expected, got string)",
      function() v:happened_before("x") end)
    raises("bad argument #1 to 'concurrent' (VectorClock or table expected, got boolean)",
      function() v:concurrent(true) end)
    raises("bad self to 'copy' (happysim.VectorClock expected, got table)", function() v.copy({}) end)
    raises("bad self to 'to_table' (happysim.VectorClock expected, got nil)", function() v.to_table() end)
    raises("VectorClock: cannot set field 'a' (use increment or merge)", function() v.a = 2 end)
    local big = hs.VectorClock{ a = math.maxinteger }
    raises("increment: count of node 'a' would overflow", function() big:increment("a") end)
    assert.equal("VectorClock{a=1}", tostring(v))
  end)

  it("HybridLogicalClock", function()
    local H = hs.HybridLogicalClock
    raises("bad argument #1 to 'HybridLogicalClock' (table of options expected, got string)",
      function() hs.HybridLogicalClock("n1") end)
    raises("unknown option 'max_drift'", H, { max_drift = 1 })
    raises("field 'node' must be a string, got number", H, { node = 1 })
    raises("field 'max_offset' must be a finite number of seconds >= 0, got -1", H, { max_offset = -1 })
    raises("field 'max_offset' must be a finite number of seconds >= 0", H, { max_offset = NaN })
    raises("field 'max_offset' must be a finite number of seconds >= 0", H, { max_offset = inf })
    raises("field 'max_offset' must be a number of seconds, got string", H, { max_offset = "1" })
    raises("field 'max_offset' must be > 0 (leave it out to accept any offset)", H, { max_offset = 0 })
    local h = H{ node = "n1" }
    raises("bad argument #1 to 'now' (physical time must be a number of seconds, got no value)", function() h:now() end)
    raises("physical time must be a finite number of seconds, got nan", function() h:now(NaN) end)
    raises("physical time must be a finite number of seconds, got inf", function() h:send(inf) end)
    raises("physical time must be a finite number of seconds, got -10000000000.0", function() h:send(-1e10) end)
    raises("physical time must be a number of seconds, got string", function() h:send("1") end)
    raises("bad argument #1 to 'receive' (HLCTimestamp or timestamp table expected, got number)",
      function() h:receive(5, 1) end)
    raises("bad argument #2 to 'receive' (physical time must be a number of seconds, got no value)",
      function() h:receive(hs.HLCTimestamp{ wall = 1 }) end)
    raises("bad argument #1 to 'receive' (field 'wall' is required)", function() h:receive({}, 1) end)
    raises("bad argument #1 to 'receive' (unknown option 'physical_ns')", function() h:receive({ physical_ns = 1 }, 1) end)
    raises("happysim.HybridLogicalClock expected, got happysim.LamportClock",
      function() h.now(hs.LamportClock(), 1) end)
    raises("HybridLogicalClock: cannot set field 'node'", function() h.node = "x" end)
    assert.is_nil(h.last) -- nothing above changed the clock
  end)

  it("HLCTimestamp", function()
    local T = hs.HLCTimestamp
    raises("bad argument #1 to 'HLCTimestamp' (table expected, got no value)", function() hs.HLCTimestamp() end)
    raises("field 'wall' is required", T, {})
    raises("field 'wall' is required", T, { logical = 1 })
    raises("unknown option 'physical_ns'", T, { physical_ns = 1 })
    raises("field 'wall' must be a number of seconds, got string", T, { wall = "1" })
    raises("field 'wall' must be a finite number of seconds, got nan", T, { wall = NaN })
    raises("field 'wall' must be a finite number of seconds, got inf", T, { wall = inf })
    raises("give field 'wall' or field 'wall_ns', not both", T, { wall = 1, wall_ns = 1 })
    raises("field 'wall_ns' must be an integer number of nanoseconds, got 1.5", T, { wall_ns = 1.5 })
    raises("field 'wall_ns' must be an integer number of nanoseconds, got " .. math.maxinteger, T,
      { wall_ns = math.maxinteger })
    raises("field 'logical' must be an integer in [0, 2^32), got -1", T, { wall = 1, logical = -1 })
    raises("field 'logical' must be an integer in [0, 2^32), got 4294967296", T, { wall = 1, logical = 2 ^ 32 // 1 })
    raises("field 'logical' must be an integer in [0, 2^32), got nan", T, { wall = 1, logical = NaN })
    raises("field 'node' must be a string, got table", T, { wall = 1, node = {} })
    local t = T{ wall = 1 }
    raises("happysim.HLCTimestamp expected, got table", function() t.to_table({}) end)
  end)

  it("NodeClock", function()
    local N = hs.NodeClock
    raises("bad argument #1 to 'NodeClock' (table of options expected, got number)", function() hs.NodeClock(1) end)
    raises("unknown option 'offset'", N, { offset = 1 })
    raises("field 'skew' must be a finite number of seconds, got nan", N, { skew = NaN })
    raises("field 'skew' must be a finite number of seconds, got -inf", N, { skew = -inf })
    raises("field 'skew' must be a number of seconds, got string", N, { skew = "0" })
    raises("field 'drift': clock drift must be a finite number in (-1, 1], got -1", N, { drift = -1 })
    raises("field 'drift': clock drift must be a finite number in (-1, 1], got nan", N, { drift = NaN })
    raises("field 'drift': clock drift must be a finite number in (-1, 1], got 2", N, { drift = 2 })
    raises("field 'drift' must be a number, got boolean", N, { drift = true })
    raises("field 'sim' must be a Simulation, got table", N, { sim = {} })
    local closed = hs.Simulation{}
    closed:close()
    raises("the simulation is closed", N, { sim = closed })
    local c = N{ skew = 0.1 }
    raises("bad argument #1 to 'read' (true time must be a finite number of seconds >= 0, got -1", function() c:read(-1) end)
    raises("true time must be a finite number of seconds >= 0", function() c:read(NaN) end)
    raises("true time must be a number of seconds, got string", function() c:read("1") end)
    raises("true time must be a finite number of seconds >= 0", function() c:offset(inf) end)
    raises("bad argument #1 to 'true_time' (local time must be a number of seconds, got no value)",
      function() c:true_time() end)
    raises("local time must be a finite number of seconds, got nan", function() c:true_time(NaN) end)
    raises("bad argument #1 to 'set_drift' (at must be a finite number of seconds >= 0, got -1", function() c:set_drift(-1, 0) end)
    raises("bad argument #2 to 'set_drift' (clock drift must be a finite number in (-1, 1], got nan)",
      function() c:set_drift(1, NaN) end)
    raises("bad argument #2 to 'set_drift' (drift must be a number, got nil)", function() c:set_drift(1, nil) end)
    raises("bad argument #1 to 'set_drift' (value expected)", function() c:set_drift() end)
    raises("bad argument #2 to 'set_skew' (skew must be a finite number of seconds, got inf)",
      function() c:set_skew(1, inf) end)
    raises("bad argument #2 to 'set_skew' (skew must be a number of seconds, got table)", function() c:set_skew(1, {}) end)
    raises("happysim.NodeClock expected, got nil", function() c.read(nil, 1) end)
    raises("NodeClock: cannot set field 'skew'", function() c.skew = 1 end)
    -- readings that do not fit in int64 nanoseconds raise instead of overflowing
    local fast = N{ skew = 9e9, drift = 1 }
    raises("read: the clock's reading is out of range", function() fast:read(9e9) end)
    raises("offset: the clock's reading is out of range", function() fast:offset(9e9) end)
    raises("set_drift: the clock's reading is out of range", function() fast:set_drift(9e9, 0) end)
    raises("set_skew: the clock's reading is out of range", function() N():set_skew(9e9, 9e9) end)
    raises("true_time: the true time is out of range", function() N{ skew = 9e9, drift = -0.999 }:true_time(-9e9) end)
    -- a clock whose simulation was closed
    local sim = hs.Simulation{}
    local s = N{ sim = sim }
    sim:close()
    raises("the simulation is closed", function() s:read() end)
    assert.equal(3.1, c:read(3)) -- nothing above changed it
  end)
end)
