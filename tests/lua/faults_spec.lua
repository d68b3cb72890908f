-- hs.FaultSchedule and hs.faults: every fault kind fires and heals at its time (proved with
-- schedule.log, the network's statistics and what the nodes saw), link changes are restored
-- exactly, the nemesis is deterministic per seed, and bad arguments raise clear errors.
local hs = require("happysim")

local function record(self, ev)
  self.got[#self.got + 1] = { type = ev.type, payload = ev.payload, time = ev.time, sent_at = ev.sent_at,
                              source = ev.source }
end

local function recorder(name)
  return hs.Entity{ name = name, got = {}, handle_event = record }
end

-- n1..nN recorders on a network whose default link is a constant 10 ms.
local function world(opts)
  opts = opts or {}
  local sim = hs.Simulation{ seed = opts.seed or 1, faults = opts.faults }
  local nodes = {}
  for i = 1, opts.n or 3 do
    nodes[i] = recorder("n" .. i)
    sim:register(nodes[i])
  end
  local net = opts.net or hs.Network{ name = "net" }
  sim:register(net)
  net:set_default_link(opts.link or hs.NetworkLink{ name = "base", latency = 0.010 })
  return sim, net, nodes
end

-- a sends to b every `every` s from `from` to `to` (exclusive); payloads 1, 2, ...
local function stream(sim, net, a, b, from, to, every)
  sim:spawn(function()
    hs.sleep(from)
    local i = 0
    while hs.now() < to - 1e-12 do
      i = i + 1
      net:send(a, b, "M", i)
      hs.sleep(every)
    end
  end)
end

local function times(node)
  local out = {}
  for i, g in ipairs(node.got) do out[i] = g.time end
  return out
end

local function entry(schedule, kind, n)
  local k = 0
  for _, e in ipairs(schedule.log) do
    if e.kind == kind then
      k = k + 1
      if k == (n or 1) then return e end
    end
  end
end

describe("hs.FaultSchedule", function()
  it("never keeps a run alive: with nothing else to do, no fault fires", function()
    local schedule = hs.FaultSchedule{ hs.faults.crash{ node = "n1", at = 5, restart_at = 8 } }
    local sim = world{ faults = schedule }
    local s = sim:run()
    assert.equal(0, s.duration_s)
    assert.same({}, schedule.log)
    assert.same({ faults = 1, fired = 0, healed = 0, active = 0, by_kind = {} }, schedule:stats())
  end)

  it("installs from hs.Simulation{ faults = } or by hand, once", function()
    local schedule = hs.FaultSchedule{}
    local sim = world{ faults = schedule }
    assert.equal(sim, schedule.sim)
    assert.has_error(function() schedule:install(sim) end,
      "install: this FaultSchedule is already installed on this simulation")
    assert.has_error(function() schedule:install(hs.Simulation{}) end,
      "install: this FaultSchedule is installed on another simulation")
    local by_hand = hs.FaultSchedule{ hs.faults.crash{ node = "n2", at = 1 } }
    local sim2, _, n = world{}
    by_hand:install(sim2)
    sim2:timer(2, function() end)
    sim2:run()
    assert.is_true(n[2].crashed)
    assert.equal(1, entry(by_hand, "crash").fired_at)
    assert.has_error(function() hs.FaultSchedule{}:install("sim") end,
      "bad argument #1 to 'install' (hs.Simulation expected, got string)")
  end)

  it("rejects a fault in the past at install, and arms faults added later", function()
    local sim = world{}
    sim:timer(5, function() end)
    sim:run()
    assert.has_error(function() hs.FaultSchedule{ hs.faults.crash{ node = "n1", at = 2 } }:install(sim) end,
      "install: fault #1 (crash) starts at 2 s, before now (5 s)")
    local schedule = hs.FaultSchedule{}:install(sim)
    schedule:add(hs.faults.crash{ node = "n1", at = 6 })
    sim:timer(2, function() end)
    sim:run()
    assert.equal(6, entry(schedule, "crash").fired_at)
  end)

  it("reports every change to on_fault, and counts in stats()", function()
    local seen = {}
    local schedule = hs.FaultSchedule{
      hs.faults.crash{ node = "n1", at = 1, restart_at = 2 },
      hs.faults.pause{ node = "n2", at = 1.5 },
      on_fault = function(e, what) seen[#seen + 1] = ("%s %s %s"):format(what, e.kind, e.target) end,
    }
    local sim = world{ faults = schedule }
    sim:timer(3, function() end)
    sim:run()
    assert.same({ "fired crash n1", "fired pause n2", "healed crash n1" }, seen)
    local s = schedule:stats()
    assert.same({ fired = 1, healed = 1, active = 0 }, s.by_kind.crash)
    assert.same({ fired = 1, healed = 0, active = 1 }, s.by_kind.pause)
    assert.equal(2, s.fired)
    assert.equal(1, #schedule:active())
    assert.equal("FaultSchedule (2 faults, 2 fired, 1 active)", tostring(schedule))
  end)
end)

describe("hs.faults.crash", function()
  it("crashes at `at` and restarts at restart_at: nothing is delivered in between", function()
    local schedule = hs.FaultSchedule{ hs.faults.crash{ node = "n1", at = 2, restart_at = 4 } }
    local sim, net, n = world{ faults = schedule }
    stream(sim, net, n[2], n[1], 0, 6, 0.1)
    local probes = {}
    for _, t in ipairs{ 1.9, 2.1, 3.9, 4.1 } do
      sim:timer(t, function() probes[#probes + 1] = n[1].crashed end)
    end
    sim:run()
    local e = entry(schedule, "crash")
    assert.same({ kind = "crash", target = "n1", fired_at = 2, healed_at = 4,
                  details = { was_up = true, restarted = true } }, e)
    assert.same({ false, true, true, false }, probes)
    for _, t in ipairs(times(n[1])) do assert.is_true(t < 2 or t > 4, "delivered at " .. t) end
    assert.equal(20, net.stats.dropped_crash) -- sent at 1.99 .. 3.89 arrive while it is down
    assert.equal(60, net.stats.sent)
  end)

  it("takes an entity as well as a name; without restart_at it stays down", function()
    local sim, net, n = world{}
    local schedule = hs.FaultSchedule{ hs.faults.crash{ node = n[3], at = 1 } }:install(sim)
    stream(sim, net, n[2], n[3], 0, 3, 0.5)
    sim:run()
    assert.is_true(n[3].crashed)
    assert.is_nil(entry(schedule, "crash").healed_at)
    assert.equal(2, #n[3].got)
  end)

  it("crashes C entities: a HoldModel handles nothing while down and starts afresh at restart", function()
    local sim = hs.Simulation{ seed = 2 }
    local h = hs.HoldModel{ sim = sim, name = "hold", pending = 10, mean = 0.1 }
    local schedule = hs.FaultSchedule{ hs.faults.crash{ node = h, at = 2, restart_at = 4 } }:install(sim)
    h:start()
    local at2, at4, running
    sim:timer(2.0, function() at2, running = h.events_handled, h.running end)
    sim:timer(3.999, function() at4 = h.events_handled end)
    sim:run_until(6)
    assert.equal(at2, at4)
    assert.is_false(running)
    assert.is_true(h.running)
    assert.near(at4 + 200, h.events_handled, 60) -- 10 events at rate 10/s again for 2 s
    assert.equal(4, entry(schedule, "crash").healed_at)
  end)

  it("an unknown node name fails the run as it starts, not when the fault fires", function()
    local schedule = hs.FaultSchedule{ hs.faults.crash{ node = "ghost", at = 5 } }
    local sim = world{ faults = schedule }
    sim:timer(2, function() end)
    local ok, err = pcall(sim.run, sim)
    assert.is_false(ok)
    assert.matches("install: fault #1 (crash) names an unknown node 'ghost'", err, 1, true)
    assert.equal(0, sim.now)
  end)

  it("an unknown node name raises at hs.Simulation{ entities =, faults = }, where the entities are known", function()
    local n1 = hs.Entity{ name = "n1", handle_event = function() end }
    local schedule = hs.FaultSchedule{ hs.faults.partition{ a = { "n1" }, b = { "n2" }, start = 1 } }
    local ok, err = pcall(function()
      local sim = hs.Simulation{ entities = { n1 }, faults = schedule }
      return sim
    end)
    assert.is_false(ok)
    assert.matches("install: fault #1 (partition) names an unknown node 'n2'", err, 1, true)
  end)
end)

describe("hs.faults.pause", function()
  it("pauses at `at`; what arrives meanwhile is delivered in order at resume_at", function()
    local schedule = hs.FaultSchedule{ hs.faults.pause{ node = "n1", at = 1, resume_at = 3 } }
    local sim, net, n = world{ faults = schedule }
    stream(sim, net, n[2], n[1], 0, 2, 0.25) -- nothing live after 2: the resume still happens
    local during
    sim:timer(2, function() during = n[1].paused end)
    sim:run()
    assert.is_true(during)
    assert.is_false(n[1].paused)
    local e = entry(schedule, "pause")
    assert.equal(1, e.fired_at)
    assert.equal(3, e.healed_at)
    assert.is_true(e.details.resumed)
    assert.equal(8, #n[1].got)
    for i, g in ipairs(n[1].got) do
      assert.equal(i, g.payload)
      if g.sent_at >= 0.99 then assert.equal(3, g.time) else assert.near(g.sent_at + 0.01, g.time, 1e-9) end
    end
    assert.equal(0, net.stats.dropped)
  end)

  it("pauses C entities", function()
    local sim = hs.Simulation{ seed = 2 }
    local h = hs.HoldModel{ sim = sim, name = "hold", pending = 10, mean = 0.1 }
    local schedule = hs.FaultSchedule{ hs.faults.pause{ node = h, at = 2, resume_at = 4 } }:install(sim)
    h:start()
    local at2, at4
    sim:timer(2.0, function() at2 = h.events_handled end)
    sim:timer(3.999, function() at4 = h.events_handled end)
    sim:run_until(6)
    assert.equal(at2, at4)
    assert.is_true(h.events_handled > at4)
    assert.equal(4, entry(schedule, "pause").healed_at)
  end)
end)

describe("hs.faults.partition", function()
  it("cuts between start and stop, then heals its own cut only", function()
    local sim, net, n = world{}
    local other
    local schedule = hs.FaultSchedule{
      hs.faults.partition{ network = net, a = { "n1" }, b = { n[2], "n3" }, start = 1, stop = 2 },
    }:install(sim)
    sim:timer(0.5, function() other = net:partition({ n[2] }, { n[3] }) end)
    local probes = {}
    for _, t in ipairs{ 0.9, 1.1, 1.9, 2.1 } do
      sim:timer(t, function() probes[#probes + 1] = net:is_partitioned(n[1], n[2]) and net:is_partitioned(n[3], n[1]) end)
    end
    stream(sim, net, n[1], n[2], 0, 3, 0.1)
    sim:run()
    assert.same({ false, true, true, false }, probes)
    assert.is_true(other.active) -- someone else's cut is left alone
    local e = entry(schedule, "partition")
    assert.same({ "net", 1, 2, { "n1" }, { "n2", "n3" }, false, true },
      { e.target, e.fired_at, e.healed_at, e.details.a, e.details.b, e.details.asymmetric, e.details.was_active })
    assert.equal(10, net:link_stats(n[1], n[2]).dropped_partition)
    for _, t in ipairs(times(n[2])) do assert.is_true(t < 1 or t > 2) end
  end)

  it("asymmetric partitions cut one way only", function()
    local sim, net, n = world{}
    hs.FaultSchedule{
      hs.faults.partition{ network = net, a = "n1", b = "n2", start = 1, stop = 2, asymmetric = true },
    }:install(sim)
    stream(sim, net, n[1], n[2], 0, 3, 0.1)
    stream(sim, net, n[2], n[1], 0, 3, 0.1)
    sim:run()
    assert.equal(10, net:link_stats(n[1], n[2]).dropped_partition)
    assert.equal(0, net:link_stats(n[2], n[1]).dropped_partition)
    assert.equal(30, #n[1].got)
  end)
end)

describe("network faults without 'network'", function()
  it("act on the simulation's only network", function()
    local schedule = hs.FaultSchedule{
      hs.faults.partition{ a = { "n1" }, b = { "n2" }, start = 1, stop = 2 },
      hs.faults.random_partitions{ nodes = { "n1", "n2", "n3" }, mtbf = 1, mttr = 0.5, start = 3, stop = 10 },
    }
    local sim, net, n = world{ faults = schedule } -- installed before the network is attached
    stream(sim, net, n[1], n[2], 0, 10, 0.1)
    sim:run()
    assert.equal("net", entry(schedule, "partition").target)
    assert.is_true(net:link_stats(n[1], n[2]).dropped_partition >= 10)
    assert.equal("nemesis:net", entry(schedule, "random_partition").details.stream)
  end)

  it("fail clearly when the simulation has several networks", function()
    local sim = world{}
    hs.Network{ sim = sim, name = "second" }
    hs.FaultSchedule{ hs.faults.packet_loss{ rate = 0.1, start = 1 } }:install(sim)
    sim:timer(2, function() end)
    local ok, err = pcall(sim.run, sim)
    assert.is_false(ok)
    assert.matches("faults.packet_loss: no 'network' given, and the simulation has 2 networks (give network = net)",
      err, 1, true)
  end)
end)

describe("hs.faults.packet_loss", function()
  it("raises the loss rate of every link for its window and restores the links exactly", function()
    local sim, net, n = world{ n = 3 }
    local base = net.default_link
    local explicit = hs.NetworkLink{ latency = 0.020, packet_loss_rate = 0.1 }
    net:add_link(n[1], n[3], explicit)
    local schedule = hs.FaultSchedule{ hs.faults.packet_loss{ network = net, rate = 0.3, start = 1, stop = 21 } }
      :install(sim)
    local during = {}
    sim:timer(10, function()
      during.default = net.default_link.packet_loss_rate
      during.pair = net:link(n[1], n[2]).packet_loss_rate
      during.explicit = net:link(n[1], n[3]).packet_loss_rate
      during.latency = net:link(n[1], n[3]).latency.mean
    end)
    stream(sim, net, n[1], n[2], 0, 31, 0.002)
    sim:run()
    assert.equal(0.3, during.default)
    assert.equal(0.3, during.pair)
    assert.near(1 - 0.9 * 0.7, during.explicit, 1e-12)
    assert.near(0.020, during.latency, 1e-12)
    -- restored: the very default link object, and the explicit link's parameters
    assert.equal(base, net.default_link)
    local l, is_explicit = net:link(n[1], n[3])
    assert.is_true(is_explicit)
    assert.equal(0.1, l.packet_loss_rate)
    assert.equal(base, (net:link(n[1], n[2])))
    assert.is_false(select(2, net:link(n[1], n[2])))
    -- measured: 10000 messages in the window, about 30% lost; none outside it
    local s = net:link_stats(n[1], n[2])
    local lost = s.dropped_loss / 10000
    assert.is_true(lost > 0.28 and lost < 0.32, "loss " .. lost)
    local e = entry(schedule, "packet_loss")
    assert.same({ 1, 21, 0.3 }, { e.fired_at, e.healed_at, e.details.rate })
    local outside = 0
    for _, g in ipairs(n[2].got) do if g.sent_at < 1 or g.sent_at >= 21 then outside = outside + 1 end end
    assert.equal(s.sent - 10000, outside)
  end)

  it("between = { a, b } covers only those pairs (one way with asymmetric)", function()
    local sim, net, n = world{ n = 3 }
    hs.FaultSchedule{
      hs.faults.packet_loss{ network = net, rate = 1, start = 1, stop = 2, between = { "n1", { "n2" } } },
      hs.faults.packet_loss{ network = net, rate = 1, start = 3, stop = 4, between = { "n1", "n3" }, asymmetric = true },
    }:install(sim)
    local rates = {}
    for _, t in ipairs{ 1.5, 3.5 } do
      sim:timer(t, function()
        local function r(a, b) return net:link(a, b).packet_loss_rate end
        rates[#rates + 1] = { r("n1", "n2"), r("n2", "n1"), r("n1", "n3"), r("n3", "n1"), r("n2", "n3") }
      end)
    end
    sim:timer(5, function() end)
    sim:run()
    assert.same({ { 1, 1, 0, 0, 0 }, { 0, 0, 1, 0, 0 } }, rates)
    for _, pr in ipairs{ { "n1", "n2" }, { "n2", "n1" }, { "n1", "n3" } } do
      local _, is_explicit = net:link(pr[1], pr[2])
      assert.is_false(is_explicit)
    end
  end)

  it("overlapping faults combine, and each heal removes only its own share", function()
    local sim, net, n = world{ n = 2 }
    hs.FaultSchedule{
      hs.faults.packet_loss{ network = net, rate = 0.5, start = 1, stop = 3 },
      hs.faults.packet_loss{ network = net, rate = 0.2, start = 2, stop = 4, between = { "n1", "n2" } },
    }:install(sim)
    local r = {}
    for _, t in ipairs{ 0.5, 1.5, 2.5, 3.5, 4.5 } do
      sim:timer(t, function() r[#r + 1] = net:link(n[1], n[2]).packet_loss_rate end)
    end
    sim:run()
    assert.same({ 0, 0.5 }, { r[1], r[2] })
    assert.near(1 - 0.5 * 0.8, r[3], 1e-12)
    assert.same({ 0.2, 0 }, { r[4], r[5] })
  end)
end)

describe("hs.faults.latency", function()
  it("adds a constant extra delay for its window", function()
    local sim, net, n = world{ n = 2 }
    local schedule = hs.FaultSchedule{ hs.faults.latency{ network = net, extra = 0.1, start = 1, stop = 2 } }:install(sim)
    stream(sim, net, n[1], n[2], 0, 3, 0.05)
    sim:run()
    local prev, slow = 0, 0
    for _, g in ipairs(n[2].got) do
      if g.sent_at > 1.001 and g.sent_at < 1.999 then
        assert.near(0.110, g.time - g.sent_at, 1e-9)
        slow = slow + 1
      elseif g.sent_at < 0.999 then
        assert.near(0.010, g.time - g.sent_at, 1e-9)
      elseif g.sent_at > 2.001 then -- FIFO: not before the slow messages still on the wire
        assert.near(math.max(g.sent_at + 0.010, prev), g.time, 1e-9)
      end
      prev = g.time
    end
    assert.equal(19, slow)
    assert.same({ 1, 2 }, { entry(schedule, "latency").fired_at, entry(schedule, "latency").healed_at })
    assert.equal(0.010, net.default_link.latency.mean)
  end)

  it("adds a random extra delay: the mean moves by the distribution's mean", function()
    local sim, net, n = world{ n = 2, link = hs.cross_region_network() }
    hs.FaultSchedule{ hs.faults.latency{ network = net, extra = hs.dist.exponential(0.2), start = 0, stop = 2000 } }
      :install(sim)
    stream(sim, net, n[1], n[2], 0, 2000, 1)
    sim:run()
    local sum = 0
    for _, g in ipairs(n[2].got) do sum = sum + (g.time - g.sent_at) end
    local m = sum / #n[2].got
    assert.is_true(math.abs(m - (0.050 + 0.005 + 0.2)) < 0.02, "mean delay " .. m)
    assert.equal("constant", net.default_link.latency.kind)
  end)

  it("cannot add a random delay to a link whose latency and jitter are both random", function()
    local sim, net = world{ link = hs.NetworkLink{ latency = hs.dist.exponential(0.01), jitter = hs.dist.uniform(0, 0.1) } }
    hs.FaultSchedule{ hs.faults.latency{ network = net, extra = hs.dist.exponential(0.2), start = 1 } }:install(sim)
    sim:timer(2, function() end)
    local ok, err = pcall(sim.run, sim)
    assert.is_false(ok)
    assert.matches("faults.latency: cannot add a random extra delay (exponential) to link * -> *", err, 1, true)
  end)
end)

describe("hs.faults.clock_skew", function()
  it("steps a node's hs.NodeClock, and puts the old skew back at stop", function()
    local sim, _, n = world{}
    n[1].clock = hs.NodeClock{ skew = 0.001 }
    local schedule = hs.FaultSchedule{ hs.faults.clock_skew{ node = "n1", skew = 0.5, at = 2, stop = 4 } }:install(sim)
    local offsets = {}
    for _, t in ipairs{ 1, 3, 5 } do sim:timer(t, function() offsets[#offsets + 1] = n[1].clock:offset(t) end) end
    sim:run()
    assert.near(0.001, offsets[1], 1e-9)
    assert.near(0.5, offsets[2], 1e-9)
    assert.near(0.001, offsets[3], 1e-9)
    local e = entry(schedule, "clock_skew")
    assert.same({ "n1", 2, 4, "clock", 0.5 }, { e.target, e.fired_at, e.healed_at, e.details.applied, e.details.skew })
  end)

  it("records the skew on an entity without a clock", function()
    local sim, _, n = world{}
    hs.FaultSchedule{ hs.faults.clock_skew{ node = n[2], skew = -0.25, drift = 1e-4, at = 1, stop = 2 } }:install(sim)
    local during
    sim:timer(1.5, function() during = { n[2].clock_skew, n[2].clock_drift } end)
    sim:timer(3, function() end)
    sim:run()
    assert.same({ -0.25, 1e-4 }, during)
    assert.is_nil(n[2].clock_skew)
    assert.is_nil(n[2].clock_drift)
  end)
end)

describe("hs.faults.random_partitions", function()
  local names = { "n1", "n2", "n3", "n4", "n5" }

  local function nemesis(seed, shape)
    local sim, net, n = world{ n = 5, seed = seed }
    local schedule = hs.FaultSchedule{
      hs.faults.random_partitions{ network = net, nodes = names, mtbf = 2, mttr = 1, start = 1, stop = 60, shape = shape },
    }:install(sim)
    for i = 1, 5 do stream(sim, net, n[i], n[i % 5 + 1], 0, 70, 0.1) end
    local cuts = 0
    for t = 0.5, 70, 0.5 do
      sim:timer(t, function()
        for _, a in ipairs(names) do
          for _, b in ipairs(names) do
            if a ~= b and net:is_partitioned(a, b) then cuts = cuts + 1 end
          end
        end
      end)
    end
    sim:run()
    local trace = {}
    for _, e in ipairs(schedule.log) do
      trace[#trace + 1] = ("%.6f-%.6f %s|%s"):format(e.fired_at, e.healed_at or -1, table.concat(e.details.a, ","),
        table.concat(e.details.b, ","))
    end
    return schedule, trace, net, cuts
  end

  it("partitions for real, between start and stop, and heals each cut", function()
    local schedule, trace, net, cuts = nemesis(11)
    assert.is_true(#trace >= 10, "only " .. #trace .. " partitions")
    assert.is_true(cuts > 0)
    assert.is_true(net.stats.dropped_partition > 0)
    for _, e in ipairs(schedule.log) do
      assert.equal("random_partition", e.kind)
      assert.is_true(e.fired_at >= 1 and e.healed_at <= 60 and e.healed_at > e.fired_at)
      assert.equal(2, #e.details.a) -- halves: a minority of 2, a majority of 3
      assert.equal(3, #e.details.b)
      assert.equal("nemesis:net", e.details.stream)
      assert.is_false(e.details.handle.active)
    end
    assert.equal(0, #schedule:active())
    for i = 2, #schedule.log do assert.is_true(schedule.log[i].fired_at >= schedule.log[i - 1].healed_at) end
  end)

  it("is deterministic per seed, and differs between seeds", function()
    local _, a = nemesis(11)
    local _, b = nemesis(11)
    local _, c = nemesis(12)
    assert.same(a, b)
    assert.are_not.same(a, c)
  end)

  it("isolates one node with shape = 'isolate'", function()
    local schedule = nemesis(3, "isolate")
    for _, e in ipairs(schedule.log) do assert.equal(1, #e.details.a) end
  end)
end)

describe("bad arguments to faults raise clear errors", function()
  local net = hs.Network{ name = "x" }
  local cases = {
    { function() hs.faults.crash{ node = "n1" } end,
      "bad argument #1 to 'faults.crash' (field 'at' is required (a time in seconds))" },
    { function() hs.faults.crash{ node = "n1", at = -1 } end,
      "bad argument #1 to 'faults.crash' (field 'at' must be a finite number of seconds >= 0, got -1)" },
    { function() hs.faults.crash{ node = "n1", at = 0 / 0 } end },
    { function() hs.faults.crash{ node = "n1", at = 5, restart_at = 5 } end,
      "bad argument #1 to 'faults.crash' (field 'restart_at' (5) must be after 'at' (5))" },
    { function() hs.faults.crash{ node = 7, at = 1 } end,
      "bad argument #1 to 'faults.crash' (field 'node' must be a node (an entity or its name), got 7)" },
    { function() hs.faults.crash{ node = "n1", at = 1, when = 2 } end,
      "bad argument #1 to 'faults.crash' (unknown option 'when' (known: at, node, restart_at))" },
    { function() hs.faults.crash("n1") end,
      "bad argument #1 to 'faults.crash' (table of options expected, got string)" },
    { function() hs.faults.pause{ node = "n1", at = 2, resume_at = 1 } end },
    { function() hs.faults.partition{ network = "net", a = { "n1" }, b = { "n2" } } end,
      "bad argument #1 to 'faults.partition' (field 'network' must be an hs.Network, got string)" },
    { function() hs.faults.partition{ network = net, a = {}, b = { "n2" } } end,
      "bad argument #1 to 'faults.partition' (field 'a' must be a node or a non-empty list of nodes, got table)" },
    { function() hs.faults.partition{ network = net, a = { "n1", 3 }, b = { "n2" } } end },
    { function() hs.faults.partition{ network = net, a = "n1", b = "n2", asymmetric = 1 } end },
    { function() hs.faults.packet_loss{ network = net, rate = 1.5 } end,
      "bad argument #1 to 'faults.packet_loss' (field 'rate' must be a number in [0, 1], got 1.5)" },
    { function() hs.faults.packet_loss{ network = net, rate = 0 / 0 } end },
    { function() hs.faults.packet_loss{ network = net, rate = 0.1, between = { "n1" } } end },
    { function() hs.faults.packet_loss{ network = net, rate = 0.1, asymmetric = true } end,
      "bad argument #1 to 'faults.packet_loss' (field 'asymmetric' needs 'between')" },
    { function() hs.faults.latency{ network = net, extra = -0.1 } end,
      "bad argument #1 to 'faults.latency' (field 'extra' must be a finite number of seconds >= 0 or an hs.dist distribution, got -0.1)" },
    { function() hs.faults.latency{ network = net, extra = "slow" } end },
    { function() hs.faults.latency{ network = net, extra = 0.1, start = 5, stop = 1 } end },
    { function() hs.faults.clock_skew{ node = "n1", at = 1 } end,
      "bad argument #1 to 'faults.clock_skew' (field 'skew' must be a finite number of seconds, got nil)" },
    { function() hs.faults.clock_skew{ node = "n1", at = 1, skew = 1, drift = 2 } end },
    { function() hs.faults.random_partitions{ network = net, nodes = { "n1" }, mtbf = 1, mttr = 1 } end,
      "bad argument #1 to 'faults.random_partitions' (field 'nodes' must list at least 2 nodes)" },
    { function() hs.faults.random_partitions{ network = net, nodes = { "a", "b" }, mtbf = 0, mttr = 1 } end,
      "bad argument #1 to 'faults.random_partitions' (field 'mtbf' must be a finite number of seconds > 0, got 0)" },
    { function() hs.faults.random_partitions{ network = net, nodes = { "a", "b" }, mtbf = 1, mttr = 1, shape = "thirds" } end },
    { function() hs.FaultSchedule{ 42 } end,
      "bad argument #1 to 'FaultSchedule' (item 1 must be a fault (hs.faults.crash{...}, ...), got 42)" },
    { function() hs.FaultSchedule{ hs.faults.crash{ node = "n1", at = 1 }, bogus = 1 } end,
      "bad argument #1 to 'FaultSchedule' (unknown option 'bogus' (a list of faults, and on_fault, name))" },
    { function() hs.FaultSchedule("x") end },
    { function() hs.FaultSchedule{}:add({}) end },
    { function() hs.Simulation{ faults = {} } end },
  }
  for i, c in ipairs(cases) do
    it("case " .. i .. (c[2] and (": " .. c[2]:match("%((.-)%s")) or ""), function()
      if c[2] then assert.has_error(c[1], c[2]) else assert.has_error(c[1]) end
    end)
  end

  it("a network fault on a network of another simulation fails when it fires", function()
    local other = hs.Network{ sim = hs.Simulation{}, name = "elsewhere" }
    local sim = world{}
    hs.FaultSchedule{ hs.faults.packet_loss{ network = other, rate = 0.5, start = 1 } }:install(sim)
    sim:timer(2, function() end)
    local ok, err = pcall(sim.run, sim)
    assert.is_false(ok)
    assert.matches("network 'elsewhere' is not attached to this simulation", err, 1, true)
  end)
end)
