-- CRDTs as Lua values (hs.GCounter, hs.PNCounter, hs.LWWRegister, hs.ORSet) and hs.CRDTStore
-- converging by gossip over a network that loses, duplicates and reorders, with partitions and
-- crash/restart, over many seeds. (The merge laws themselves: tests/c/test_crdt.c.)

local hs = require("happysim")

describe("CRDT values", function()
  it("GCounter and PNCounter count every replica's updates once, however often they merge", function()
    local a, b = hs.GCounter{ node_id = "a" }, hs.GCounter{ node_id = "b" }
    a:increment(5)
    b:increment()
    b:increment(2)
    a:merge(b):merge(b:state()):merge(b)
    b:merge(a)
    assert.equal(8, a.value)
    assert.is_true(a == b)
    assert.same({ type = "GCounter", counts = { a = 5, b = 3 } }, a:state())
    local p, q = hs.PNCounter{ node_id = "p" }, hs.PNCounter{ node_id = "q" }
    p:increment(10)
    q:decrement(4)
    p:merge(q:state())
    assert.equal(6, p.value)
  end)

  it("LWWRegister keeps the latest write by (timestamp, writer)", function()
    local r1, r2 = hs.LWWRegister{ node_id = "r1" }, hs.LWWRegister{ node_id = "r2" }
    assert.is_nil(r1.value)
    assert.is_true(r1:set({ v = 1 }, 2.0))
    assert.is_true(r2:set("later", 3.0))
    assert.is_false(r1:set("older", 1.0)) -- an older local write loses
    r1:merge(r2)
    assert.equal("later", r1.value)
    assert.equal("r2", r1.node)
    r2:set("tie", 5.0)
    r1:set("tie-r1", 5.0)
    r1:merge(r2:state())
    r2:merge(r1:state())
    assert.equal("tie", r1.value) -- equal timestamps: the higher writer id wins, everywhere
    assert.equal("tie", r2.value)
  end)

  it("ORSet: add wins over a concurrent remove, and a removed element never comes back", function()
    local a, b, stale = hs.ORSet{ node_id = "a" }, hs.ORSet{ node_id = "b" }, hs.ORSet{ node_id = "stale" }
    a:add("x")
    a:add({ k = 1 })
    stale:merge(a)
    b:merge(a:state())
    assert.is_true(b:remove("x"))
    a:merge(b)
    assert.is_false(a:contains("x"))
    a:merge(stale:state()) -- an old copy that still has x
    assert.is_false(a:contains("x"))
    assert.same({ { k = 1 } }, a.elements)
    b:add("y")
    a:remove("y") -- a never saw b's add: nothing to remove
    a:merge(b)
    assert.is_true(a:contains("y"))
    assert.equal(2, a.size)
  end)

  it("misuse raises naming the function and the value", function()
    local c = hs.GCounter{ node_id = "c" }
    assert.has_error(function() hs.GCounter{} end, "bad argument #1 to 'GCounter' (field 'node_id' must be a string, got nil)")
    assert.has_error(function() c:increment(-1) end, "bad argument #1 to 'increment' (amount must be an integer >= 0, got -1)")
    assert.has_error(function() c:merge(hs.ORSet{ node_id = "o" }:state()) end,
      "bad argument #1 to 'merge' (a GCounter or its state() expected, got a state of type ORSet)")
    assert.has_error(function() c:merge({ type = "GCounter", counts = { x = 1.5 } }) end,
      "bad argument #1 to 'merge' (state field 'counts' must map node ids to counts >= 0)")
    assert.has_error(function() c:merge(5) end, "bad argument #1 to 'merge' (a GCounter or its state() expected, got number)")
    assert.has_error(function() hs.LWWRegister{ node_id = "r" }:set(1, 0 / 0) end)
    assert.has_error(function() c.value = 3 end, "GCounter: cannot set field 'value' (use its methods)")
    local forged = { type = "ORSet", seen = { z = 1 }, dots = { { "x", "z", 5 } } } -- a dot its 'seen' does not cover
    assert.has_error(function() hs.ORSet{ node_id = "o" }:merge(forged) end)
  end)
end)

describe("hs.CRDTStore", function()
  -- n stores gossiping counters and a set over a faulty network.
  local function world(seed, n)
    local net = hs.Network{ name = "net", default_link = hs.NetworkLink{
      latency = hs.dist.exponential(0.01), packet_loss_rate = 0.2, duplicate_rate = 0.2, reorder_rate = 0.3 } }
    local names = {}
    for i = 1, n do names[i] = "s" .. i end
    local stores = {}
    for i, name in ipairs(names) do
      stores[i] = hs.CRDTStore{ node_id = name, network = net, peers = names, gossip_interval = 0.5,
        crdt_factory = function(id) return hs.PNCounter{ node_id = id } end }
    end
    local sets = {}
    for i, name in ipairs(names) do
      sets[i] = hs.CRDTStore{ name = name .. "-set", node_id = name, network = net, gossip_interval = 0.5,
        crdt_factory = function(id) return hs.ORSet{ node_id = id } end }
    end
    for i = 1, n do
      local others = {}
      for j = 1, n do if j ~= i then others[#others + 1] = sets[j] end end
      sets[i]:set_peers(others)
    end
    local all = { net }
    for i = 1, n do all[#all + 1] = stores[i]; all[#all + 1] = sets[i] end
    net:connect_all({ table.unpack(all, 2) })
    return hs.Simulation{ seed = seed, entities = all }, stores, sets, net
  end

  it("a key learned by gossip takes local updates as this store's own (none is lost)", function()
    local sim, stores = world(1, 2)
    stores[1]:get_or_create("k"):increment(5)
    sim:run_until(10)
    assert.equal(5, stores[2]:get("k").value)
    stores[2]:get("k"):increment(3) -- on the replica it learned by gossip
    sim:run_until(30)
    assert.equal(8, stores[1]:get("k").value)
    assert.equal(8, stores[2]:get("k").value)
    assert.same({ p = { s1 = 5, s2 = 3 }, n = {}, type = "PNCounter" }, stores[1]:get("k"):state())
  end)

  it("converges over 40 seeds with loss, duplication, reordering, partitions and (odd seeds) crash/restart", function()
    for seed = 1, 40 do
      local sim, stores, sets, net = world(seed, 4)
      local rng = sim:random("workload")
      local expected, crashes = 0, 0
      local adds, removes = 0, 0
      for step = 1, 60 do -- a burst of updates every 0.25 s, faults between
        sim:run_until(step * 0.25)
        local i = rng:random(4)
        local s, set = stores[i], sets[i]
        if not s.crashed then
          local n = rng:random(0, 5)
          if rng:random() < 0.7 then
            s:get_or_create("c" .. rng:random(3)):increment(n)
            expected = expected + n
          else
            s:get_or_create("c" .. rng:random(3)):decrement(n)
            expected = expected - n
          end
          local x = rng:random(6)
          if rng:random() < 0.7 then set:get_or_create("set"):add(x); adds = adds + 1
          else set:get_or_create("set"):remove(x); removes = removes + 1 end
        end
        if step == 20 then net:partition({ stores[1], sets[1] }, { stores[2], stores[3], stores[4], sets[2], sets[3], sets[4] }) end
        if step == 35 then net:heal_partition() end
        if step == 45 and seed % 2 == 1 then
          -- a crash loses what the store had not gossiped yet: count only what survives
          stores[4]:crash()
          crashes = crashes + 1
        end
        if step == 50 and seed % 2 == 1 then stores[4]:restart() end
      end
      sim:run_until(60) -- no more updates: gossip alone must bring every replica to one state
      for key = 1, 3 do
        local k = "c" .. key
        local ref = stores[1]:get(k)
        for i = 2, 4 do
          local c = stores[i]:get(k)
          assert.is_true((ref == nil and c == nil) or (ref ~= nil and c ~= nil and ref == c),
            ("seed %d: stores 1 and %d differ on %s"):format(seed, i, k))
        end
      end
      local ref = sets[1]:get("set")
      for i = 2, 4 do assert.is_true(ref == sets[i]:get("set"), ("seed %d: set replicas differ"):format(seed)) end
      if crashes == 0 then
        local total = 0
        for key = 1, 3 do
          local c = stores[1]:get("c" .. key)
          total = total + (c and c.value or 0)
        end
        assert.equal(expected, total, ("seed %d"):format(seed))
      end
      assert.is_true(adds + removes > 0)
    end
  end)

  it("checks its options", function()
    local net = hs.Network{}
    assert.has_error(function() hs.CRDTStore{ node_id = "a", network = net } end,
      "bad argument #1 to 'CRDTStore' (field 'crdt_factory' must be a function(node_id) -> CRDT)")
    assert.has_error(function()
      hs.CRDTStore{ node_id = "a", crdt_factory = function() end, gossip_interval = -1 }
    end, "bad argument #1 to 'CRDTStore' (field 'gossip_interval' must be a positive number of seconds, got -1)")
  end)
end)
