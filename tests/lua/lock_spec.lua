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

describe("DistributedLock over the network", function()
  local function setup(link)
    local sim = hs.Simulation{ seed = 1 }
    local net = hs.Network{ sim = sim, default_link = link or hs.datacenter_network() }
    local lock = hs.DistributedLock{ name = "locks", network = net, lease_duration = 4 }
    local clients = {}
    for i = 1, 3 do
      clients[i] = hs.Entity{ name = "c" .. i, handle_event = function() end }
      sim:register(clients[i])
    end
    return sim, net, lock, clients
  end

  it("serves acquire, try_acquire, renew and release, and answers a queued acquire when it is granted", function()
    local sim, net, lock, c = setup()
    local log = {}
    sim:spawn(function()
      local r = hs.await(net:request(c[1], lock, "acquire", { lock = "db" }))
      assert.is_true(r.ok)
      assert.equal("c1", r.value.holder) -- the requester is the client unless it says otherwise
      assert.equal(1, r.value.fencing_token)
      local busy = hs.await(net:request(c[2], lock, "try_acquire", { lock = "db", requester = "worker-2" }))
      assert.same({ ok = false, error = { code = "lock_held",
                                          message = "try_acquire('db') on 'locks': the lock is held" } }, busy)
      local queued = net:request(c[2], lock, "acquire", { lock = "db", lease = 2 })
      hs.sleep(0.5)
      assert.is_false(queued.done)
      local renewed = hs.await(net:request(c[1], lock, "renew", { lock = "db", token = 1, lease = 3 }))
      assert.is_true(renewed.ok)
      assert.equal(1, renewed.value.fencing_token)
      assert.same({ ok = true, value = false }, hs.await(net:request(c[1], lock, "release", { lock = "db", token = 7 })))
      assert.same({ ok = true, value = true }, hs.await(net:request(c[1], lock, "release", { lock = "db", token = 1 })))
      local g = hs.await(queued)
      assert.is_true(g.ok)
      assert.equal("c2", g.value.holder)
      assert.equal(2, g.value.fencing_token)
      assert.equal(2, g.value.lease_duration)
      local timed_out = hs.await(net:request(c[3], lock, "acquire", { lock = "db", timeout = 0.5 }))
      assert.equal("timeout", timed_out.error.code)
      log[#log + 1] = "done"
    end)
    sim:run()
    assert.same({ "done" }, log)
    assert.equal(7, lock.stats.requests)
    assert.equal(0, lock.stats.bad_requests)
  end)

  it("answers a request it cannot read with bad_request, naming what is wrong", function()
    local sim, net, lock, c = setup()
    local errors = {}
    sim:spawn(function()
      for _, case in ipairs{ { "acquire", "db" }, { "acquire", { lock = "" } }, { "acquire", { lock = "db", lease = 60 } },
                             { "acquire", { lock = "db", timeout = -1 } }, { "acquire", { lock = "db", tokn = 1 } },
                             { "release", { lock = "db" } }, { "renew", { lock = "db", token = 1.5 } },
                             { "steal", { lock = "db" } }, { "try_acquire", { lock = "db", requester = 5 } } } do
        local r = hs.await(net:request(c[1], lock, case[1], case[2]))
        assert.is_false(r.ok)
        assert.equal("bad_request", r.error.code)
        errors[#errors + 1] = r.error.message
      end
    end)
    sim:run()
    assert.same({
      "acquire: the payload must be a table { lock = ... }, got string",
      "acquire: field 'lock' must be a non-empty string",
      "acquire: field 'lease' must be a number of seconds > 0 and at most the server's max_lease (4.0 s)",
      "acquire: field 'timeout' must be a number of seconds > 0",
      "acquire: unknown field 'tokn'",
      "release: field 'token' must be an integer >= 1",
      "renew: field 'token' must be an integer >= 1",
      "DistributedLock 'locks' serves 'acquire', 'try_acquire', 'release' and 'renew' requests, not 'steal'",
      "try_acquire: field 'requester' must be a non-empty string",
    }, errors)
    assert.equal(9, lock.stats.bad_requests)
    assert.equal(0, lock.stats.total_acquires)
  end)

  it("drops the waiters of a crashed server without answering; the clients' requests time out", function()
    local sim, net, lock, c = setup()
    local outcome
    sim:spawn(function()
      assert.is_true(hs.await(net:request(c[1], lock, "acquire", { lock = "db" })).ok)
      local waiting = net:request(c[2], lock, "acquire", { lock = "db" }, { timeout = 2 })
      hs.sleep(0.1)
      lock:crash()
      local _, err = hs.await(waiting)
      outcome = err.code
    end)
    sim:run()
    assert.equal("timeout", outcome)
  end)

  -- Mutual exclusion seen from the clients, end to end: a client counts its lease from when it
  -- SENT the acquire (the server's lease starts later, when it grants), and stops believing it
  -- holds the lock when it sends its release. Over a lossy network that delays, reorders and
  -- duplicates, with partitions and a server that crashes and restarts, no two of these beliefs
  -- overlap, the tokens grow in the order the beliefs start, and a client that outlives its lease
  -- (a pause) has its write refused by the fenced resource. With restart_grace = false planted (a
  -- restarted server grants at once, forgetting the leases it gave), 5 of the 200 seeds overlap.
  it("keeps mutual exclusion and fencing for clients over a faulty network, over 200 seeds", function()
    local SEEDS, refused, grants = 200, 0, 0
    for seed = 1, SEEDS do
      local names = { "locks", "c1", "c2", "c3", "c4" }
      local faults = hs.FaultSchedule{
        hs.faults.random_partitions{ nodes = names, mtbf = 6, mttr = 1.5, start = 1, stop = 50 },
        hs.faults.crash{ node = "locks", at = 10 + seed % 7, restart_at = 14 + seed % 7 },
        hs.faults.crash{ node = "locks", at = 30 + seed % 5, restart_at = 31 + seed % 5 },
      }
      local sim = hs.Simulation{ seed = seed }
      local net = hs.Network{ sim = sim, default_link = hs.NetworkLink{ latency = hs.dist.uniform(0.001, 0.08),
                                                                      packet_loss_rate = 0.05 } }
      local dup = sim:random("duplicates")
      net:intercept(function() if dup:random() < 0.05 then return "duplicate" end end)
      local lock = hs.DistributedLock{ name = "locks", network = net, lease_duration = 2 }
      local resource = hs.FencedResource{ name = "db" }
      local beliefs = {}
      for i = 1, 4 do
        local client = hs.Entity{ name = "c" .. i, handle_event = function() end }
        sim:register(client)
        local rng = sim:random("client" .. i)
        sim:spawn(function()
          while sim.now < 60 do
            local sent = sim.now
            local r = hs.await(net:request(client, lock, "acquire", { lock = "x", timeout = 1 }, { timeout = 1.5 }))
            if r and r.ok then
              local b = { client = i, token = r.value.fencing_token, from = sim.now,
                          until_ = sent + r.value.lease_duration }
              beliefs[#beliefs + 1] = b
              hs.sleep(rng:random() < 0.1 and 2.5 or rng:random() * 1.2) -- now and then a pause past the lease
              if sim.now >= b.until_ then
                local ok = resource:write(b.token, i)
                if not ok then refused = refused + 1 end
              else
                assert(resource:write(b.token, i), "a write within the lease was refused")
                b.until_ = sim.now
                net:request(client, lock, "release", { lock = "x", token = b.token }, { timeout = 1 })
              end
            end
            hs.sleep(rng:random() * 0.3)
          end
        end)
      end
      faults:install(sim)
      sim:run_until(70)
      table.sort(beliefs, function(a, b) return a.from < b.from end)
      for k = 2, #beliefs do
        local a, b = beliefs[k - 1], beliefs[k]
        assert(b.from >= a.until_, ("seed %d: c%d believed it held token %d until %.3f, c%d holds token %d from %.3f")
          :format(seed, a.client, a.token, a.until_, b.client, b.token, b.from))
        assert(b.token > a.token, ("seed %d: token %d after token %d"):format(seed, b.token, a.token))
      end
      grants = grants + #beliefs
      sim:close()
    end
    print(("lock over the network: %d seeds, %d grants, %d stale writes refused"):format(SEEDS, grants, refused))
    assert.is_true(grants > SEEDS * 20, "grants: " .. grants)
    assert.is_true(refused > SEEDS / 2, "stale writes refused: " .. refused)
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
