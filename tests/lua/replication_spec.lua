-- The replication bindings (issue 12): hs.PrimaryNode / hs.BackupNode / hs.ReplicationMaster,
-- hs.ChainNode / hs.build_chain (CRAQ), hs.LeaderNode with resolvers (one written in Lua),
-- hs.MerkleTree, hs.KVStore, and clients over the network ("Write" / "Read").

local hs = require("happysim")

local function pb_world(mode, opts)
  opts = opts or {}
  local net = hs.Network{ name = "net", default_link = hs.datacenter_network() }
  local p = hs.PrimaryNode{ name = "p", network = net, backups = { "b1", "b2" }, mode = mode }
  local b1 = hs.BackupNode{ name = "b1", network = net, primary = p, serve_reads = opts.serve_reads }
  local b2 = hs.BackupNode{ name = "b2", network = net, primary = "p", serve_reads = opts.serve_reads }
  local sim = hs.Simulation{ seed = opts.seed or 1, entities = { net, p, b1, b2 } }
  return sim, net, p, b1, b2
end

local function client(sim)
  local c = hs.Entity{ name = "client", handle_event = function() end }
  sim:register(c)
  return c
end

describe("primary-backup", function()
  it("builds the master itself, commits sync writes on every backup, and reads them back", function()
    local sim, _, p, b1, b2 = pb_world("sync")
    local got = {}
    sim:spawn(function()
      hs.sleep(0.5)
      got.role = { p.role, b1.role, b2.role }
      got.seq = hs.await(p:write("x", { n = 1 }))
      got.x = hs.await(p:read("x"))
      hs.sleep(0.2)
    end)
    sim:run_until(2)
    assert.same({ "primary", "backup", "backup" }, got.role)
    assert.equal(1, got.seq)
    assert.same({ n = 1 }, got.x)
    assert.same({ x = { n = 1 } }, b1.data)
    assert.same({ x = { n = 1 } }, b2.data)
    assert.equal("sync", b1.mode) -- inherited from the primary: a backup may become primary
    assert.same({ "p", "b1", "b2" }, p.master.members)
    local s = p.stats
    assert.equal(1, s.writes)
    assert.equal(1, s.writes_committed)
    assert.is_true(s.write_latency_sum > 0)
    assert.is_true(s.replications_sent >= 2)
    assert.equal(1, b1.stats.replications_applied)
    assert.same({ b1 = 0, b2 = 0 }, p.backup_lag)
  end)

  it("refuses a write at a backup with not_primary and the primary as leader", function()
    local sim, _, _, b1 = pb_world("sync", { serve_reads = false })
    local e1, e2
    sim:spawn(function()
      hs.sleep(0.5)
      local _, err = hs.await(b1:write("x", 1))
      e1 = err
      _, e2 = hs.await(b1:read("x"))
    end)
    sim:run_until(1)
    assert.equal("not_primary", e1.code)
    assert.equal("p", e1.leader)
    assert.equal("not_primary", e2.code)
  end)

  it("answers Write and Read requests over the network (API.md 5.1)", function()
    local sim, net, p, b1 = pb_world("semi_sync")
    local r = {}
    sim:spawn(function()
      local c = client(sim)
      hs.sleep(0.5)
      r.w = hs.await(net:request(c, p, "Write", { key = "k", value = "v" }, { timeout = 1 }))
      r.r = hs.await(net:request(c, p, "Read", { key = "k" }, { timeout = 1 }))
      r.refused = hs.await(net:request(c, b1, "Write", { key = "k", value = 2 }, { timeout = 1 }))
      r.bad = hs.await(net:request(c, p, "Write", { key = 1 }, { timeout = 1 }))
    end)
    sim:run_until(3)
    assert.same({ ok = true }, r.w)
    assert.same({ ok = true, value = "v" }, r.r)
    assert.is_false(r.refused.ok)
    assert.equal("not_primary", r.refused.error.code)
    assert.equal("p", r.refused.error.leader)
    assert.equal("bad_request", r.bad.error.code)
  end)

  it("fails over when the primary crashes: the new primary holds every sync write; pending writes end crashed", function()
    local sim, _, p, b1, b2 = pb_world("sync")
    local pending, after = nil, {}
    sim:spawn(function()
      hs.sleep(0.5)
      for i = 1, 5 do hs.await(p:write("k" .. i, i)) end
      pending = p:write("late", 0)
      p:crash()
      hs.sleep(3)
      for _, n in ipairs{ b1, b2 } do
        if n.is_primary then after.primary = n.name; after.k5 = hs.await(n:read("k5")) end
      end
    end)
    sim:run_until(5)
    assert.is_true(pending.done)
    assert.is_false(pending.ok)
    assert.equal("crashed", pending.error.code)
    assert.equal("b1", after.primary)
    assert.equal(5, after.k5)
    assert.equal(2, b1.view)
  end)

  it("acknowledges async writes at once", function()
    local sim, _, p = pb_world("async")
    local t0, t1
    sim:spawn(function()
      hs.sleep(0.5)
      t0 = hs.now()
      hs.await(p:write("x", 1))
      t1 = hs.now()
    end)
    sim:run_until(1)
    assert.equal(t0, t1)
  end)

  it("raises on misuse, naming the function and the field", function()
    local net = hs.Network{ name = "net" }
    assert.has_error(function() hs.PrimaryNode{ name = "p", network = net, mode = "fast" } end,
      "bad argument #1 to 'PrimaryNode' (field 'mode' must be \"sync\", \"semi_sync\" or \"async\", got \"fast\")")
    assert.has_error(function() hs.PrimaryNode{ name = "p", network = net, colour = 1 } end,
      "bad argument #1 to 'PrimaryNode' (unknown option 'colour')")
    assert.has_error(function() hs.BackupNode{ name = "b", network = net } end,
      "bad argument #1 to 'BackupNode' (field 'primary' must be a PrimaryNode or its name, got nil)")
    local sim, _, p = pb_world("sync")
    sim:run_until(0.1)
    local ok, err = pcall(function() return p:write(1, 2) end)
    assert.is_false(ok)
    assert.matches("bad argument #1 to 'write'", err, 1, true)
  end)
end)
