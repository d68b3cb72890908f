-- hs.Network: link properties (measured), FIFO, reordering, duplication, bandwidth, value
-- semantics, partitions, crash / restart / pause, interception, request / reply, statistics
-- and bad arguments. Every run has a fixed seed, so the statistical checks are exact replays;
-- their tolerances are several standard errors wide so a change of seed would pass too.
local hs = require("happysim")

-- A recorder: an entity that keeps what it receives.
local function record(self, ev)
  self.got[#self.got + 1] = { type = ev.type, payload = ev.payload, time = ev.time, sent_at = ev.sent_at,
                              source = ev.source, id = ev.id }
end

local function recorder(name)
  return hs.Entity{ name = name, got = {}, handle_event = record }
end

-- A simulation with recorders n1..nN on one network.
local function world(opts)
  opts = opts or {}
  local sim = hs.Simulation{ seed = opts.seed or 1 }
  local nodes = {}
  for i = 1, opts.n or 2 do
    nodes[i] = recorder("n" .. i)
    sim:register(nodes[i])
  end
  local net = hs.Network{ sim = sim, name = opts.name or "net", default_link = opts.default_link }
  if opts.link then net:connect_all(nodes, opts.link) end
  return sim, net, nodes
end

-- Sends count messages a -> b, one every `every` seconds from t = 0 (all at 0 when every is 0).
local function send_many(sim, net, a, b, count, every, payload_of)
  sim:spawn(function()
    for i = 1, count do
      net:send(a, b, "M", payload_of and payload_of(i) or i)
      if every > 0 then hs.sleep(every) end
    end
  end)
end

local function delays(node)
  local out = {}
  for i, g in ipairs(node.got) do out[i] = g.time - g.sent_at end
  return out
end

local function mean(xs)
  local s = 0
  for _, x in ipairs(xs) do s = s + x end
  return s / #xs
end

local function quantile(xs, q)
  local s = { table.unpack(xs) }
  table.sort(s)
  return s[math.max(1, math.ceil(q * #s))]
end

local function near(expected, actual, rel, what)
  local ok = math.abs(actual - expected) <= rel * math.abs(expected)
  assert(ok, ("%s: expected %.6g within %.1f%%, got %.6g"):format(what or "value", expected, rel * 100, actual))
end

-- sent + duplicated == delivered + dropped + in_flight + held now
local function assert_balanced(net)
  local s = net.stats
  assert.equal(s.sent + s.duplicated, s.delivered + s.dropped + s.in_flight + #net:held())
  local rows = { sent = 0, delivered = 0, duplicated = 0, dropped = 0, bytes_sent = 0 }
  for _, r in ipairs(net:traffic_matrix()) do
    for k in pairs(rows) do rows[k] = rows[k] + r[k] end
  end
  for k, v in pairs(rows) do assert.equal(s[k], v, "traffic matrix total of " .. k) end
end

describe("link properties, measured", function()
  it("loses packet_loss_rate of 100k messages, within tolerance", function()
    local sim, net, n = world{ link = hs.NetworkLink{ latency = 0.001, packet_loss_rate = 0.2 } }
    send_many(sim, net, n[1], n[2], 100000, 0)
    sim:run()
    local s = net:link_stats(n[1], n[2])
    assert.equal(100000, s.sent)
    near(0.2, s.dropped_loss / s.sent, 0.03, "loss rate") -- 4.7 standard errors
    assert.equal(s.sent - s.dropped_loss, s.delivered)
    assert.equal(s.delivered, #n[2].got)
    assert_balanced(net)
  end)

  it("loss 0 loses nothing and loss 1 loses everything", function()
    local sim, net, n = world{ n = 3 }
    net:add_link(n[1], n[2], hs.NetworkLink{ packet_loss_rate = 0 })
    net:add_link(n[1], n[3], hs.NetworkLink{ packet_loss_rate = 1 })
    send_many(sim, net, n[1], n[2], 2000, 0)
    send_many(sim, net, n[1], n[3], 2000, 0)
    sim:run()
    assert.equal(2000, #n[2].got)
    assert.equal(0, #n[3].got)
    assert.equal(2000, net:link_stats(n[1], n[3]).dropped_loss)
  end)

  -- One message every 10 s on one link, so the FIFO clamp never touches the samples.
  local function measure(latency, count)
    local sim, net, n = world{ link = hs.NetworkLink{ latency = latency } }
    send_many(sim, net, n[1], n[2], count or 20000, 10)
    sim:run()
    return delays(n[2])
  end

  it("constant latency is exact", function()
    local d = measure(hs.dist.constant(0.0125), 100)
    for _, x in ipairs(d) do assert.near(0.0125, x, 1e-9) end
  end)

  it("uniform latency: bounds, mean and percentiles", function()
    local d = measure(hs.dist.uniform(0.010, 0.030))
    for _, x in ipairs(d) do assert.is_true(x >= 0.010 - 1e-9 and x < 0.030 + 1e-9) end
    near(0.020, mean(d), 0.01, "mean")
    near(0.020, quantile(d, 0.5), 0.02, "p50")
    near(0.0298, quantile(d, 0.99), 0.01, "p99")
  end)

  it("exponential latency: mean and percentiles", function()
    local d = measure(hs.dist.exponential(0.010))
    near(0.010, mean(d), 0.03, "mean")
    near(0.010 * math.log(2), quantile(d, 0.5), 0.04, "p50")
    near(-0.010 * math.log(0.01), quantile(d, 0.99), 0.08, "p99")
  end)

  it("normal latency: mean and percentiles", function()
    local d = measure(hs.dist.normal(0.050, 0.010))
    near(0.050, mean(d), 0.01, "mean")
    near(0.050, quantile(d, 0.5), 0.01, "p50")
    near(0.050 + 2.3263 * 0.010, quantile(d, 0.99), 0.03, "p99")
  end)

  it("normal latency is truncated at 0, never negative", function()
    local d = measure(hs.dist.normal(0.001, 0.010), 5000)
    for _, x in ipairs(d) do assert.is_true(x >= 0) end
    near(hs.dist.normal(0.001, 0.010).mean, mean(d), 0.05, "truncated mean")
  end)

  it("lognormal latency: mean, median and p99", function()
    local dist = hs.dist.lognormal{ mean = 0.020, stddev = 0.010 }
    local d = measure(dist)
    local s2 = math.log(1 + 0.25)
    local mu, sigma = math.log(0.020) - s2 / 2, math.sqrt(s2)
    near(0.020, dist.mean, 1e-9, "dist.mean")
    near(0.020, mean(d), 0.02, "mean")
    near(math.exp(mu), quantile(d, 0.5), 0.03, "p50")
    near(math.exp(mu + 2.3263 * sigma), quantile(d, 0.99), 0.06, "p99")
  end)

  it("percentiles latency hits its percentiles", function()
    local d = measure(hs.dist.percentiles{ p50 = 0.010, p90 = 0.030, p99 = 0.100 })
    near(0.010, quantile(d, 0.5), 0.04, "p50")
    near(0.030, quantile(d, 0.9), 0.04, "p90")
    near(0.100, quantile(d, 0.99), 0.06, "p99")
  end)

  it("latency plus jitter adds up; a shifted distribution adds its offset", function()
    local d = measure(hs.dist.constant(0.005), 5000)
    local sim, net, n = world{ link = hs.NetworkLink{ latency = hs.dist.exponential(0.01) + 0.005,
                                                      jitter = hs.dist.uniform(0, 0.002) } }
    send_many(sim, net, n[1], n[2], 20000, 10)
    sim:run()
    local dd = delays(n[2])
    for _, x in ipairs(dd) do assert.is_true(x >= 0.005 - 1e-9) end
    near(0.005 + 0.010 + 0.001, mean(dd), 0.03, "mean")
    assert.equal(5000, #d)
  end)

  it("keeps FIFO order per link despite jitter", function()
    local sim, net, n = world{ link = hs.NetworkLink{ latency = 0.010, jitter = hs.dist.exponential(0.050) } }
    send_many(sim, net, n[1], n[2], 2000, 0.001)
    sim:run()
    assert.equal(2000, #n[2].got)
    local spread = 0
    for i, g in ipairs(n[2].got) do
      assert.equal(i, g.payload)
      spread = math.max(spread, g.time - g.sent_at)
    end
    assert.is_true(spread > 0.1) -- the jitter was real: messages queued behind slow ones
  end)

  it("reorders when reorder_rate asks for it", function()
    local sim, net, n = world{ link = hs.NetworkLink{ latency = 0.010, reorder_rate = 0.2, reorder_delay = 0.05 } }
    send_many(sim, net, n[1], n[2], 5000, 0.001)
    sim:run()
    assert.equal(5000, #n[2].got)
    local late = 0
    local seen = 0
    for _, g in ipairs(n[2].got) do
      if g.payload < seen then late = late + 1 end
      seen = math.max(seen, g.payload)
    end
    -- a reordered message is held back by uniform [0, 50 ms) while one leaves every 1 ms
    assert.is_true(late > 0.15 * 5000 and late < 0.21 * 5000, "late messages: " .. late)
  end)

  it("duplicates duplicate_rate of the messages", function()
    local sim, net, n = world{ link = hs.NetworkLink{ latency = 0.001, duplicate_rate = 0.1 } }
    send_many(sim, net, n[1], n[2], 50000, 0)
    sim:run()
    local s = net:link_stats(n[1], n[2])
    near(0.1, s.duplicated / s.sent, 0.05, "duplicate rate")
    assert.equal(s.sent + s.duplicated, s.delivered)
    assert.equal(s.delivered, #n[2].got)
    assert_balanced(net)
  end)

  it("serializes messages at bandwidth_bps, queueing them behind each other", function()
    local sim, net, n = world{ link = hs.NetworkLink{ latency = 0.010, bandwidth_bps = 8000 } } -- 1000 bytes/s
    local blob = string.rep("x", 491)
    send_many(sim, net, n[1], n[2], 3, 0, function() return blob end)
    sim:run()
    local s = net:link_stats(n[1], n[2])
    local size = s.bytes_sent / 3
    assert.is_true(size >= 491)
    for i, g in ipairs(n[2].got) do
      assert.near(i * size / 1000 + 0.010, g.time, 1e-6)
    end
    assert.equal(s.bytes_sent, s.bytes_delivered)
  end)

  it("infinite bandwidth (0) adds no serialization delay", function()
    local sim, net, n = world{ link = hs.NetworkLink{ latency = 0.010, bandwidth_bps = 0 } }
    send_many(sim, net, n[1], n[2], 3, 0, function() return string.rep("y", 10000) end)
    sim:run()
    for _, g in ipairs(n[2].got) do assert.near(0.010, g.time, 1e-9) end
  end)

  it("presets have the documented latencies", function()
    assert.near(0.0001, hs.local_network().latency.mean, 1e-12)
    assert.near(0.0005, hs.datacenter_network().latency.mean, 1e-12)
    assert.near(0.050, hs.cross_region_network().latency.mean, 1e-12)
    assert.near(0.100, hs.internet_network().latency.mean, 1e-12)
    assert.near(0.600, hs.satellite_network().latency.mean, 1e-12)
    assert.near(0.100, hs.mobile_3g_network().latency.mean, 1e-12)
    assert.near(0.050, hs.mobile_4g_network().latency.mean, 1e-12)
    assert.equal(0.3, hs.lossy_network(0.3).packet_loss_rate)
    assert.near(0.25, hs.slow_network(0.25).latency.mean, 1e-12)
    local d = measure(hs.cross_region_network().latency + hs.cross_region_network().jitter.mean, 1000)
    near(0.055, mean(d), 1e-6, "cross region mean")
  end)

  it("draws per link: traffic on one link does not change another's delays", function()
    local function run(extra)
      local sim, net, n = world{ n = 3, link = hs.NetworkLink{ latency = hs.dist.exponential(0.01) } }
      send_many(sim, net, n[1], n[2], 100, 1)
      if extra then send_many(sim, net, n[1], n[3], 500, 0.1) end
      sim:run()
      return delays(n[2])
    end
    assert.same(run(false), run(true))
  end)
end)

describe("payloads have value semantics", function()
  it("a sender mutating its table after send does not change what the receiver gets", function()
    local sim, net, n = world{ link = hs.local_network() }
    local t = { x = 1, list = { 1, 2 }, nested = { deep = { v = "a" } } }
    sim:spawn(function()
      net:send(n[1], n[2], "M", t)
      t.x = 2
      t.list[1] = 99
      t.nested.deep.v = "changed"
    end)
    sim:run()
    assert.same({ x = 1, list = { 1, 2 }, nested = { deep = { v = "a" } } }, n[2].got[1].payload)
    assert.are_not.equal(t, n[2].got[1].payload)
  end)

  it("receivers (and duplicates) get distinct copies", function()
    local sim, net, n = world{ n = 3, link = hs.local_network() }
    net:intercept(function(m) if m.destination == "n3" then return "duplicate" end end)
    local seen = {}
    for i = 2, 3 do
      n[i].handle_event = function(self, ev)
        seen[#seen + 1] = ev.payload
        ev.payload.v[1] = self.name -- receivers mutate their copy
      end
    end
    local t = { v = { "orig" } }
    sim:spawn(function()
      net:send(n[1], n[2], "M", t)
      net:send(n[1], n[3], "M", t)
    end)
    sim:run()
    assert.equal(3, #seen)
    assert.equal("orig", t.v[1])
    assert.equal("n2", seen[1].v[1])
    assert.equal("n3", seen[2].v[1])
    assert.equal("n3", seen[3].v[1])
    assert.are_not.equal(seen[2], seen[3])
    assert.are_not.equal(seen[2].v, seen[3].v)
  end)

  it("nil, booleans, numbers, strings and nested tables travel; integers stay integers", function()
    local sim, net, n = world{ link = hs.local_network() }
    local payloads = { false, true, 3, 2.5, "s", { a = { b = { c = 1 } }, [1] = "x", [10] = 7 }, math.maxinteger }
    sim:spawn(function()
      net:send(n[1], n[2], "nil", nil)
      for _, p in ipairs(payloads) do net:send(n[1], n[2], "M", p) end
    end)
    sim:run()
    assert.is_nil(n[2].got[1].payload)
    for i, p in ipairs(payloads) do assert.same(p, n[2].got[i + 1].payload) end
    assert.equal("integer", math.type(n[2].got[4].payload))
    assert.equal(math.maxinteger, n[2].got[8].payload)
  end)

  it("functions, coroutines, userdata and cycles in payloads raise", function()
    local sim, net, n = world{ link = hs.local_network() }
    assert.has_error(function() net:send(n[1], n[2], "M", { f = print }) end,
      "payload contains a function; only nil, booleans, numbers, strings and tables can be sent")
    assert.has_error(function() net:send(n[1], n[2], "M", coroutine.create(print)) end)
    assert.has_error(function() net:send(n[1], n[2], "M", { sim = sim }) end)
    local cyc = {}
    cyc.self = cyc
    assert.has_error(function() net:send(n[1], n[2], "M", cyc) end,
      "payload is nested too deeply (or contains a cycle)")
    assert.equal(0, net.stats.sent)
  end)
end)

describe("partitions", function()
  -- n1..n4 on a constant 10 ms link; returns a function probing every ordered pair.
  local function cluster()
    local sim, net, n = world{ n = 4, link = hs.NetworkLink{ latency = 0.010 } }
    return sim, net, n
  end

  local function cut_matrix(net, n)
    local out = {}
    for i = 1, #n do
      for j = 1, #n do
        if i ~= j and net:is_partitioned(n[i], n[j]) then out[#out + 1] = i .. ">" .. j end
      end
    end
    return table.concat(out, " ")
  end

  it("symmetric partitions cut both ways, between groups only", function()
    local sim, net, n = cluster()
    local p = net:partition({ n[1], n[2] }, { "n3", "n4" })
    assert.is_true(p.active)
    assert.equal("1>3 1>4 2>3 2>4 3>1 3>2 4>1 4>2", cut_matrix(net, n))
    sim:spawn(function()
      net:send(n[1], n[3], "M", 1)
      net:send(n[3], n[1], "M", 2)
      net:send(n[1], n[2], "M", 3)
    end)
    sim:run()
    assert.equal(0, #n[3].got)
    assert.equal(0, #n[1].got)
    assert.equal(1, #n[2].got)
    assert.equal(2, net.stats.dropped_partition)
    assert.is_true(p:heal())
    assert.is_false(p.active)
    assert.is_false(p:heal())
    assert.equal("", cut_matrix(net, n))
  end)

  it("asymmetric partitions cut one way, in either direction", function()
    local sim, net, n = cluster()
    local p = net:partition({ n[1] }, { n[2] }, { asymmetric = true })
    assert.equal("1>2", cut_matrix(net, n))
    sim:spawn(function()
      net:send(n[1], n[2], "M", "lost")
      net:send(n[2], n[1], "M", "through")
    end)
    sim:run()
    assert.equal(0, #n[2].got)
    assert.equal("through", n[1].got[1].payload)
    p:heal()
    local q = net:partition({ n[2] }, { n[1] }, { asymmetric = true })
    assert.equal("2>1", cut_matrix(net, n))
    local r = net:partition({ n[1] }, { n[2] }, { asymmetric = true })
    assert.equal("1>2 2>1", cut_matrix(net, n)) -- both one-way cuts: a symmetric cut
    q:heal()
    assert.equal("1>2", cut_matrix(net, n))
    r:heal()
    assert.equal("", cut_matrix(net, n))
  end)

  it("overlapping partitions: healing one handle leaves the other's cut", function()
    local sim, net, n = cluster()
    local p1 = net:partition({ n[1] }, { n[2], n[3] })
    local p2 = net:partition({ n[1], n[2] }, { n[3] })
    assert.equal("1>2 1>3 2>1 2>3 3>1 3>2", cut_matrix(net, n))
    p1:heal()
    assert.equal("1>3 2>3 3>1 3>2", cut_matrix(net, n))
    assert.is_true(p2.active)
    local p3 = net:partition({ n[4] }, { n[1] })
    net:heal_partition()
    assert.equal("", cut_matrix(net, n))
    assert.is_false(p2.active)
    assert.is_false(p3.active)
    sim:run()
  end)

  it("a partition that starts while a message is in flight drops it on arrival", function()
    local sim, net, n = world{ n = 3, link = hs.NetworkLink{ latency = 1.0 } }
    local p
    sim:spawn(function()
      net:send(n[1], n[2], "M", "cut in flight")
      net:send(n[1], n[3], "M", "cut and healed in flight")
      hs.sleep(0.5)
      p = net:partition({ n[1] }, { n[2] })
      local q = net:partition({ n[1] }, { n[3] })
      hs.sleep(0.2)
      q:heal()
    end)
    sim:run()
    assert.equal(0, #n[2].got)
    assert.equal(1, #n[3].got)
    assert.equal(1, net:link_stats(n[1], n[2]).dropped_partition)
    assert.is_true(p.active)
    assert_balanced(net)
  end)

  it("partitions take names, and reject empty or overlapping groups", function()
    local _, net, n = cluster()
    local p = net:partition({ "n1" }, { "n2" })
    assert.is_true(net:is_partitioned("n1", n[2]))
    p:heal()
    assert.has_error(function() net:partition({}, { n[2] }) end,
      "bad argument #1 to 'partition' (a group must list at least one node)")
    assert.has_error(function() net:partition({ n[1] }, { n[1], n[2] }) end,
      "partition: a partition group is empty or shares an entity with the other group")
    assert.has_error(function() net:partition({ "n1" }, { "n9" }) end,
      "bad argument #2 to 'partition' (unknown node 'n9')")
    assert.has_error(function() net:partition({ n[1], 5 }, { "n2" }) end,
      "bad argument #1 to 'partition' (node expected (an entity or its name), got number)")
    assert.has_error(function() net:partition({ n[1] }, { n[2] }, { asymmetric = "yes" }) end,
      "bad argument #3 to 'partition' (field 'asymmetric' must be a boolean)")
  end)
end)

describe("crash, restart and pause", function()
  local Worker = hs.Entity:extend("Worker")
  Worker.durable = { "term" }
  function Worker:init(opts)
    self.peer = opts.peer
    self.cache = {}
    self.term = 0
    self.ticks = 0
    self.got = {}
  end
  function Worker:handle_event(ev)
    if ev.type == "Tick" then
      self.ticks = self.ticks + 1
      return hs.Event{ time = self.now + 1, type = "Tick", target = self }
    elseif ev.type == "Slow" then
      hs.sleep(2)
      self.got[#self.got + 1] = "slow done"
    else
      self.got[#self.got + 1] = ev.payload
    end
  end
  function Worker:on_restart()
    self.restarted = true
    self.sim:schedule(hs.Event{ time = self.now + 1, type = "Tick", target = self })
  end

  local function setup()
    local sim = hs.Simulation{ seed = 5 }
    local w = Worker{ name = "w" }
    local c = recorder("c")
    sim:register(w)
    sim:register(c)
    local net = hs.Network{ sim = sim, default_link = hs.NetworkLink{ latency = 0.1 } }
    return sim, net, w, c
  end

  it("a crashed node receives nothing, its processes stop, and it cannot send", function()
    local sim, net, w, c = setup()
    sim:schedule(hs.Event{ time = 0, type = "Slow", target = w })
    sim:schedule(hs.Event{ time = 1, type = "Tick", target = w })
    sim:timer(0.5, function() assert.is_true(w:crash()) end)
    sim:timer(0.6, function()
      assert.is_true(w.crashed)
      assert.is_false(w:crash())
      net:send(c, w, "M", "to the dead")
      local id, err = net:send(w, c, "M", "from the dead")
      assert.is_nil(id)
      assert.equal("crashed", err.code)
    end)
    sim:run()
    assert.same({}, w.got) -- the Slow handler never finished
    assert.equal(0, w.ticks) -- the Tick event was dropped
    assert.equal(1, net.stats.dropped_crash)
    assert.equal(0, #c.got)
    assert.equal(1, sim:summary().events_dropped)
  end)

  it("restart loses volatile state, keeps durable fields, and on_restart re-arms timers", function()
    local sim, net, w = setup()
    sim:schedule(hs.Event{ time = 0, type = "Tick", target = w })
    sim:timer(2.5, function()
      w.term, w.cache.x = 7, 1
      w:crash()
    end)
    sim:timer(5.5, function()
      assert.equal(3, w.ticks) -- ticks at 0, 1, 2; the state is still there while crashed
      assert.is_true(w:restart())
      assert.is_false(w:restart())
    end)
    sim:run_until(9.9)
    assert.is_false(w.crashed)
    assert.is_true(w.restarted)
    assert.equal(7, w.term) -- durable
    assert.is_nil(w.cache.x) -- volatile: rebuilt by init
    assert.equal(4, w.ticks) -- ticks at 6.5, 7.5, 8.5, 9.5 after the restart
    local id = net:send(w, "c", "M", "back")
    assert.is_number(id)
  end)

  it("restart keeps the functions set on the instance: methods are code, not state", function()
    local sim = hs.Simulation{ seed = 5 }
    local got = {}
    local e = hs.Entity{ name = "plain" }
    e.handle_event = function(self, ev) got[#got + 1] = ev.payload end -- assigned after construction
    e.counter = 41
    sim:register(e)
    sim:schedule(hs.Event{ time = 1, type = "M", target = e, payload = "before" })
    sim:timer(2, function() e:crash() end)
    sim:timer(3, function() e:restart() end)
    sim:schedule(hs.Event{ time = 4, type = "M", target = e, payload = "after" })
    sim:run()
    assert.same({ "before", "after" }, got)
    assert.is_nil(e.counter) -- state set after construction is volatile
  end)

  it("messages that arrive after a restart are delivered", function()
    local sim, net, w, c = setup()
    sim:timer(0.0, function() w:crash() end)
    sim:timer(0.05, function() net:send(c, w, "M", "lost") end) -- arrives at 0.15, crashed
    sim:timer(0.10, function() net:send(c, w, "M", "kept") end) -- arrives at 0.20, restarted
    sim:timer(0.17, function() w:restart() end)
    sim:run_until(1) -- on_restart starts a ticker that never ends
    assert.same({ "kept" }, w.got)
    assert.equal(1, net.stats.dropped_crash)
  end)

  it("a paused node handles nothing; on resume, what waited runs in order", function()
    local sim, net, w, c = setup()
    sim:schedule(hs.Event{ time = 0, type = "Slow", target = w }) -- sleeps until 2
    sim:timer(1, function() assert.is_true(w:pause()); assert.is_true(w.paused) end)
    for i = 1, 3 do sim:timer(1 + i * 0.3, function() net:send(c, w, "M", i) end) end
    sim:schedule(hs.Event{ time = 2.5, type = "Tick", target = w })
    sim:timer(3, function()
      assert.same({}, w.got)
      assert.equal(0, w.ticks)
      assert.equal(3, net.stats.in_flight) -- waiting at the paused node
      assert_balanced(net)
      assert.is_false(w:pause())
      assert.is_true(w:resume())
      assert.is_false(w:resume())
    end)
    sim:run_until(3.5)
    -- arrivals at 1.4, 1.7, 2.0 (before the sleep's end at 2.0, scheduled later), 2.3; tick at 2.5
    assert.same({ 1, 2, "slow done", 3 }, w.got)
    assert.equal(1, w.ticks)
    assert.equal(3, net.stats.delivered)
  end)

  it("crashing a paused node drops what waited for it", function()
    local sim, net, w, c = setup()
    sim:schedule(hs.Event{ time = 0, type = "Slow", target = w })
    sim:timer(1, function() w:pause() end)
    sim:timer(1.2, function() net:send(c, w, "M", "x") end)
    sim:timer(3, function()
      assert.is_true(w:crash())
      assert.is_false(w.paused)
    end)
    sim:timer(4, function() -- a crashed node cannot be paused: that is a mistake, said at the call
      assert.has_error(function() w:pause() end, "pause: entity 'w' is crashed (restart it first)")
    end)
    sim:run()
    assert.same({}, w.got)
    assert.equal(1, net.stats.dropped_crash)
    assert_balanced(net)
  end)

  it("C entities pause and resume too", function()
    local sim = hs.Simulation{ seed = 1 }
    local h = hs.HoldModel{ sim = sim, name = "hold", pending = 10, mean = 0.1 }
    h:start()
    sim:run_until(5)
    local before = h.events_handled
    assert.is_true(h:pause())
    assert.is_true(h.paused)
    sim:run_until(10)
    assert.equal(before, h.events_handled)
    assert.is_true(h:resume())
    assert.is_false(h.paused)
    sim:run_until(15)
    assert.is_true(h.events_handled > before + 10)
  end)
end)

describe("interception", function()
  it("drops, delays and duplicates chosen messages", function()
    local sim, net, n = world{ link = hs.NetworkLink{ latency = 0.010 } }
    net:intercept(function(m)
      if m.type == "Drop" then return "drop" end
      if m.type == "Delay" then return 0.5 end
      if m.type == "Dup" then return "duplicate" end
      return nil
    end)
    sim:spawn(function()
      for _, t in ipairs{ "Drop", "Delay", "Dup", "Plain" } do net:send(n[1], n[2], t, t) end
    end)
    sim:run()
    local got = {}
    for _, g in ipairs(n[2].got) do got[#got + 1] = ("%s@%.3f"):format(g.type, g.time) end
    assert.same({ "Dup@0.010", "Dup@0.010", "Plain@0.010", "Delay@0.510" }, got)
    local s = net.stats
    assert.equal(1, s.dropped_filter)
    assert.equal(1, s.duplicated)
    assert_balanced(net)
  end)

  it("holds messages, then delivers or drops them to build an exact interleaving", function()
    local sim, net, n = world{ n = 3, link = hs.NetworkLink{ latency = 0.010 } }
    local seen = {}
    net:intercept(function(m)
      seen[#seen + 1] = ("%s %s->%s %s"):format(m.type, m.source, m.destination, tostring(m.payload))
      if m.destination == "n2" then return "hold" end
    end)
    sim:spawn(function()
      net:send(n[1], n[2], "A", 1)
      net:send(n[3], n[2], "B", 2)
      net:send(n[1], n[2], "C", 3)
      net:send(n[1], n[3], "D", 4)
    end)
    sim:run()
    assert.same({ "A n1->n2 1", "B n3->n2 2", "C n1->n2 3", "D n1->n3 4" }, seen)
    assert.equal(0, #n[2].got)
    local held = net:held()
    assert.equal(3, #held)
    assert.same({ "A", "B", "C" }, { held[1].type, held[2].type, held[3].type })
    assert_balanced(net)
    -- the interleaving C, A; B never arrives
    assert.is_true(net:deliver_held(held[3].id))
    assert.is_true(net:deliver_held(held[1].id, 0.25))
    assert.is_true(net:drop_held(held[2].id))
    assert.is_false(net:drop_held(held[2].id))
    assert.is_false(net:deliver_held(12345))
    sim:run()
    assert.same({ "C", "A" }, { n[2].got[1].type, n[2].got[2].type })
    assert.near(n[2].got[1].time + 0.25, n[2].got[2].time, 1e-9)
    assert.equal(0, #net:held())
    assert.equal(3, net.stats.held)
    assert.equal(1, net.stats.dropped_filter)
    assert_balanced(net)
  end)

  it("a held message meets the arrival rule when released", function()
    local sim, net, n = world{ link = hs.NetworkLink{ latency = 0.010 } }
    net:intercept(function() return "hold" end)
    sim:spawn(function() net:send(n[1], n[2], "A", 1) end)
    sim:run()
    net:intercept(nil)
    local p = net:partition({ n[1] }, { n[2] })
    net:deliver_held(net:held()[1].id)
    sim:run()
    assert.equal(0, #n[2].got)
    assert.equal(1, net.stats.dropped_partition)
    p:heal()
  end)

  it("a filter error stops the run with a clear message; a bad verdict too", function()
    local sim, net, n = world{ link = hs.local_network() }
    net:intercept(function() error("boom") end)
    sim:spawn(function() net:send(n[1], n[2], "A", 1) end)
    assert.has_error(function() sim:run() end)
    local sim2, net2, n2 = world{ link = hs.local_network() }
    net2:intercept(function() return "sideways" end)
    sim2:spawn(function() net2:send(n2[1], n2[2], "A", 1) end)
    local ok, err = pcall(sim2.run, sim2)
    assert.is_false(ok)
    assert.matches("filter returned sideways", err)
  end)
end)

describe("request and reply", function()
  local function service(reply_delay)
    local sim, net, n = world{ link = hs.NetworkLink{ latency = 0.010 } }
    n[2].handle_event = function(self, ev)
      if ev.payload == "ignore" then return end
      hs.sleep(reply_delay)
      ev.network:reply(ev, { echo = ev.payload, by = self.name })
    end
    return sim, net, n
  end

  it("resolves with the reply's payload", function()
    local sim, net, n = service(0.05)
    local got, t
    sim:spawn(function()
      got = hs.await(net:request(n[1], n[2], "Echo", "hi", { timeout = 1 }))
      t = hs.now()
    end)
    sim:run()
    assert.same({ echo = "hi", by = "n2" }, got)
    assert.near(0.070, t, 1e-9)
  end)

  it("times out with code 'timeout', and a late reply is ignored", function()
    local sim, net, n = service(0.5)
    local v, err, t
    sim:spawn(function()
      v, err = hs.await(net:request(n[1], n[2], "Echo", "hi", { timeout = 0.1 }))
      t = hs.now()
    end)
    sim:run()
    assert.is_nil(v)
    assert.equal("timeout", err.code)
    assert.near(0.1, t, 1e-9)
    assert.equal(2, net.stats.delivered) -- the late reply arrived and was dropped quietly
  end)

  it("a request to an unreachable node times out; one from a crashed node fails at once", function()
    local sim, net, n = service(0)
    local e1, e2
    net:partition({ n[1] }, { n[2] })
    sim:spawn(function()
      local _, err = hs.await(net:request(n[1], n[2], "Echo", "x", { timeout = 0.2 }))
      e1 = err.code
    end)
    sim:timer(1, function()
      n[1]:crash()
      local f = net:request(n[1], n[2], "Echo", "x")
      assert.is_true(f.done)
      e2 = f.error.code
    end)
    sim:run()
    assert.equal("timeout", e1)
    assert.equal("crashed", e2)
  end)

  it("reply needs a request event", function()
    local _, net = service(0)
    assert.has_error(function() net:reply({ type = "X" }, 1) end,
      "bad argument #1 to 'reply' (a received request event expected)")
  end)
end)

describe("statistics", function()
  it("stay balanced through loss, duplication, partitions, holds and crashes", function()
    local sim, net, n = world{ n = 4, seed = 9, link = hs.NetworkLink{ latency = hs.dist.exponential(0.05),
      packet_loss_rate = 0.1, duplicate_rate = 0.1, reorder_rate = 0.1 } }
    net:intercept(function(m)
      if m.payload % 17 == 0 then return "hold" end
      if m.payload % 13 == 0 then return "drop" end
    end)
    local rng = sim:random("workload")
    sim:spawn(function()
      for i = 1, 3000 do
        local a, b = rng:random(1, 4), rng:random(1, 4)
        if a ~= b then net:send(n[a], n[b], "M", i) end
        hs.sleep(0.001)
      end
    end)
    local p
    sim:timer(0.5, function() p = net:partition({ n[1] }, { n[2], n[3] }) end)
    sim:timer(1.0, function() n[4]:crash() end)
    sim:timer(1.5, function() p:heal(); n[4]:restart() end)
    for t = 0.25, 3.5, 0.25 do sim:timer(t, function() assert_balanced(net) end) end
    sim:run()
    assert_balanced(net)
    local s = net.stats
    assert.is_true(s.dropped_loss > 0 and s.dropped_partition > 0 and s.dropped_crash > 0)
    assert.is_true(s.dropped_filter > 0 and s.duplicated > 0 and s.held > 0)
    for _, h in ipairs(net:held()) do net:drop_held(h.id) end
    assert_balanced(net)
    assert.equal(0, s.in_flight)
  end)

  it("traffic_matrix lists every pair that talked or has a link, in creation order", function()
    local sim, net, n = world{ n = 3, default_link = hs.local_network() }
    net:add_link(n[2], n[1], hs.NetworkLink{ latency = 0.001 })
    sim:spawn(function()
      net:send(n[1], n[3], "M", "abc")
      net:send(n[1], n[3], "M", "abc")
      net:send(n[2], n[1], "M", 1)
    end)
    sim:run()
    local m = net:traffic_matrix()
    assert.equal(2, #m)
    assert.same({ "n2", "n1", true, 1, 1 }, { m[1].source, m[1].destination, m[1].explicit, m[1].sent, m[1].delivered })
    assert.same({ "n1", "n3", false, 2, 2 }, { m[2].source, m[2].destination, m[2].explicit, m[2].sent, m[2].delivered })
    assert.equal(m[2].bytes_sent, m[2].bytes_delivered)
    assert.same(net:link_stats(n[1], n[3]), (function() local r = m[2]; r.source, r.destination, r.explicit = nil, nil, nil; return r end)())
    assert.equal(0, net:link_stats(n[3], n[2]).sent)
  end)

  it("no route: a pair without a link and no default link drops", function()
    local sim, net, n = world{}
    sim:spawn(function() net:send(n[1], n[2], "M", 1) end)
    sim:run()
    assert.equal(1, net.stats.dropped_no_route)
    assert.is_nil(net:link(n[1], n[2]))
  end)

  it("net:link reads the link a pair uses now", function()
    local _, net, n = world{ default_link = hs.datacenter_network() }
    local l, explicit = net:link(n[1], n[2])
    assert.equal(net.default_link, l)
    assert.is_false(explicit)
    net:add_link(n[1], n[2], hs.NetworkLink{ latency = 0.25, packet_loss_rate = 0.5 })
    l, explicit = net:link(n[1], n[2])
    assert.is_true(explicit)
    assert.equal(0.5, l.packet_loss_rate)
    assert.near(0.25, l.latency.mean, 1e-12)
    net:remove_link(n[1], n[2])
    assert.equal(net.default_link, (net:link(n[1], n[2])))
  end)
end)

describe("bad arguments raise clear errors", function()
  local _, net, n = world{ default_link = hs.local_network() }

  it("unknown node names", function()
    assert.has_error(function() net:send(n[1], "nobody", "M", 1) end, "bad argument #2 to 'send' (unknown node 'nobody')")
    assert.has_error(function() net:add_link("ghost", n[1], hs.local_network()) end,
      "bad argument #1 to 'add_link' (unknown node 'ghost')")
    assert.has_error(function() net:request(n[1], "nobody", "M", 1) end,
      "bad argument #2 to 'request' (unknown node 'nobody')")
    assert.has_error(function() net:connect_all({ n[1], "q" }) end, "bad argument #1 to 'connect_all' (unknown node 'q')")
  end)

  it("rates outside [0, 1] and NaN", function()
    assert.has_error(function() hs.NetworkLink{ packet_loss_rate = 1.5 } end,
      "bad argument #1 to 'NetworkLink' (field 'packet_loss_rate' must be in [0, 1], got 1.5)")
    assert.has_error(function() hs.NetworkLink{ packet_loss_rate = -0.1 } end)
    assert.has_error(function() hs.NetworkLink{ duplicate_rate = 0 / 0 } end)
    assert.has_error(function() hs.NetworkLink{ reorder_rate = 2 } end)
    assert.has_error(function() hs.NetworkLink{ packet_loss_rate = "high" } end,
      "bad argument #1 to 'NetworkLink' (field 'packet_loss_rate' must be a number in [0, 1], got string)")
    assert.has_error(function() hs.lossy_network(1.01) end,
      "bad argument #1 to 'lossy_network' (loss rate must be a number in [0, 1], got 1.01)")
    assert.has_error(function() hs.lossy_network(0 / 0) end)
  end)

  it("negative, infinite or NaN latencies", function()
    assert.has_error(function() hs.NetworkLink{ latency = -1 } end,
      "bad argument #1 to 'NetworkLink' (field 'latency' must be a finite number of seconds >= 0, got -1.0)")
    assert.has_error(function() hs.NetworkLink{ jitter = math.huge } end)
    assert.has_error(function() hs.NetworkLink{ latency = 0 / 0 } end)
    assert.has_error(function() hs.NetworkLink{ bandwidth_bps = -5 } end)
    assert.has_error(function() hs.dist.constant(-1) end, "bad argument #1 to 'constant' (value must be a finite number >= 0, got -1.0)")
    assert.has_error(function() hs.dist.exponential(0 / 0) end)
    assert.has_error(function() hs.dist.uniform(0.2, 0.1) end, "bad argument #2 to 'uniform' (high must be >= low)")
    assert.has_error(function() hs.dist.normal(0.1, -1) end)
    assert.has_error(function() hs.dist.percentiles{ p50 = 0.2, p99 = 0.1 } end)
    assert.has_error(function() hs.dist.percentiles{ q50 = 0.2 } end)
    assert.has_error(function() hs.slow_network(-1) end,
      "bad argument #1 to 'slow_network' (latency must be a finite number of seconds >= 0, got -1)")
    assert.has_error(function() return hs.dist.exponential(1) + hs.dist.uniform(0, 1) end,
      "cannot add two random distributions (exponential + uniform): one must be a constant")
    assert.has_error(function() return hs.dist.constant(0.1) + -1 end)
  end)

  it("a link from a node to itself", function()
    assert.has_error(function() net:add_link(n[1], n[1], hs.local_network()) end,
      "add_link: a link cannot connect an entity to itself")
    assert.has_error(function() net:add_bidirectional_link("n2", "n2", hs.local_network()) end)
  end)

  it("wrong types and unknown options", function()
    assert.has_error(function() net:add_link(n[1], n[2], "fast") end,
      "bad argument #3 to 'add_link' (happysim.NetworkLink expected, got string)")
    assert.has_error(function() net:send(n[1], n[2], {}, 1) end)
    assert.has_error(function() net:send(42, n[2], "M", 1) end,
      "bad argument #1 to 'send' (node expected (an entity or its name), got number)")
    assert.has_error(function() net:intercept(5) end, "bad argument #1 to 'intercept' (function expected, got number)")
    assert.has_error(function() net:deliver_held(1, -1) end)
    assert.has_error(function() hs.NetworkLink{ latencyy = 1 } end, "bad argument #1 to 'NetworkLink' (unknown option 'latencyy')")
    assert.has_error(function() hs.Network{ foo = 1 } end, "bad argument #1 to 'Network' (unknown option 'foo')")
    assert.has_error(function() hs.Network{ default_link = 0.1 } end)
    assert.has_error(function() net:partition({ n[1] }, { n[2] }, { bogus = true }) end,
      "bad argument #3 to 'partition' (unknown option 'bogus')")
    assert.has_error(function() net:request(n[1], n[2], "M", 1, 5) end,
      "bad argument #5 to 'request' (table of options expected, got number)")
    assert.has_error(function() net:request(n[1], n[2], "M", 1, { timeout = -1 }) end)
    assert.has_error(function() hs.local_network(3) end)
    assert.has_error(function() hs.datacenter_network{ packet_loss_rate = 7 } end)
  end)
end)
