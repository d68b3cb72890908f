-- hs.DistributedLock (the lock server of engine/coord/hs_lock.h) and hs.FencedResource through
-- the binding: grants as values, leases in simulated time, FIFO waiters, fencing. The server's
-- rules in detail: tests/c/test_lock.c.

local hs = require("happysim")

describe("DistributedLock", function()
  it("grants, queues FIFO, hands over on release and refuses stale tokens", function()
    local lock = hs.DistributedLock{ name = "locks", lease_duration = 10 }
    local sim = hs.Simulation{ seed = 1, entities = { lock } }
    local log = {}
    sim:spawn(function()
      hs.sleep(1)
      local g = lock:try_acquire("db", "c1")
      assert.same({ lock_name = "db", fencing_token = 1, holder = "c1", granted_at = 1, lease_duration = 10,
                    expires_at = 11 }, g)
      local none, err = lock:try_acquire("db", "c2")
      assert.is_nil(none)
      assert.equal("lock_held", err.code)
      local f2 = lock:acquire("db", "c2")
      local f3 = lock:acquire("db", "c3", { timeout = 0.5 })
      assert.equal(2, lock:waiting("db"))
      hs.sleep(1)
      assert.is_true(f3.done) -- timed out
      local v, e3 = hs.await(f3)
      assert.is_nil(v)
      assert.equal("timeout", e3.code)
      assert.is_false(lock:release("db", 99))
      assert.is_true(lock:release("db", g.fencing_token))
      local g2 = hs.await(f2)
      assert.equal("c2", g2.holder)
      assert.equal(2, g2.fencing_token)
      assert.equal(2, g2.granted_at)
      assert.is_false(lock:release("db", g.fencing_token)) -- stale
      local r = lock:renew("db", g2.fencing_token, { lease = 5 })
      assert.equal(7, r.expires_at)
      local s, es = lock:renew("db", 1)
      assert.is_nil(s)
      assert.equal("stale_token", es.code)
      log[#log + 1] = "done"
    end)
    sim:run()
    assert.same({ "done" }, log)
    local st = lock.stats
    assert.equal(2, st.total_acquires)
    assert.equal(1, st.total_releases)
    assert.equal(1, st.total_timeouts)
    assert.equal(0, st.active_locks) -- c2's renewed lease ran out at 7: the run went on until then
    assert.equal(1, st.total_expirations)
    assert.is_true(st.stale_refused >= 2)
    assert.equal(2, lock:last_token("db"))
  end)

  it("expires leases in simulated time and passes the lock to the first waiter", function()
    local lock = hs.DistributedLock{ lease_duration = 2 }
    local sim = hs.Simulation{ seed = 1 }
    sim:add(lock)
    local got
    sim:spawn(function()
      local g1 = hs.await(lock:acquire("x", "a"))
      assert.equal(1, g1.fencing_token)
      got = hs.await(lock:acquire("x", "b"))
    end)
    sim:run()
    assert.equal(2, got.granted_at) -- a's lease ran out at 2
    assert.equal("b", got.holder)
    assert.equal(2, lock.stats.total_expirations) -- a's, then b's at 4
  end)

  it("rejects waiters when the server crashes, and keeps tokens across a restart", function()
    local net = hs.Network{ name = "net" }
    local lock = hs.DistributedLock{ name = "L", network = net, lease_duration = 1 }
    assert.is_false(lock.attached)
    local sim = hs.Simulation{ seed = 3, entities = { net, lock } }
    local err
    sim:spawn(function()
      lock:try_acquire("k", "a")
      local f = lock:acquire("k", "b")
      hs.sleep(0.1)
      lock:crash()
      local _, e = hs.await(f)
      err = e
      lock:restart()
      local none, e2 = lock:try_acquire("k", "c")
      assert.is_nil(none) -- the restart grace: nothing for one max lease
      assert.equal("lock_held", e2.code)
      hs.sleep(1)
      local g = lock:try_acquire("k", "c")
      assert.equal(2, g.fencing_token)
    end)
    sim:run()
    assert.equal("crashed", err.code)
  end)

  it("FencedResource refuses writes with a token below the highest it saw", function()
    local r = hs.FencedResource{ name = "storage" }
    assert.is_true(r:write(1, "a"))
    assert.is_true(r:write(3, "b"))
    local ok, err = r:write(2, "stale")
    assert.is_nil(ok)
    assert.equal("stale_token", err.code)
    assert.equal("b", r.value)
    assert.equal(3, r.highest_token)
    assert.equal(2, r.writes_accepted)
    assert.equal(1, r.writes_refused)
  end)

  it("raises on misuse, naming the function and argument", function()
    local function msg(f) local ok, e = pcall(f); assert.is_false(ok); return tostring(e) end
    assert.matches("field 'lease_duration' must be a positive number", msg(function() hs.DistributedLock{ lease_duration = -1 } end))
    assert.matches("unknown option 'lease'", msg(function() hs.DistributedLock{ lease = 1 } end))
    local lock = hs.DistributedLock{ name = "l" }
    assert.matches("not attached", msg(function() lock:try_acquire("a", "b") end))
    local sim = hs.Simulation{ entities = { lock } }
    assert.matches("bad argument #1 to 'try_acquire'", msg(function() lock:try_acquire(1, "b") end))
    assert.matches("bad argument #2 to 'try_acquire'", msg(function() lock:try_acquire("a", 3) end))
    assert.matches("bad argument #2 to 'release'", msg(function() lock:release("a", "t") end))
    assert.matches("max_lease", msg(function() lock:acquire("a", "b", { lease = 60 }) end))
    assert.matches("unknown option 'timout'", msg(function() lock:acquire("a", "b", { timout = 1 }) end))
    sim:close()
  end)
end)

describe("scripts/lock_fencing.lua", function()
  it("the paused client's stale write is refused by its fencing token", function()
    local out = {}
    local env = setmetatable({ hs = hs, args = {}, seed = 1,
                               print = function(s) out[#out + 1] = s end }, { __index = _G })
    local sim = assert(loadfile("scripts/lock_fencing.lua", "t", env))()
    sim:run()
    local text = table.concat(out, "\n")
    assert.matches("client%-a wrote with token 1: REFUSED", text)
    assert.matches("client%-b wrote with token 2: accepted", text)
    assert.matches("1 writes accepted, 1 refused", text)
  end)
end)
