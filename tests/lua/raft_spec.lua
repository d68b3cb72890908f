-- hs.RaftNode through the whole stack: the Lua binding, the simulator adapter, the network
-- (hs.Network, partitions, interception) and the invariant checker. The protocol core has
-- its own cmocka tests (tests/c/test_raft_*.c); these check what a Lua user sees: elections,
-- replication, client futures (never left hanging), reads, durability, snapshots,
-- membership, Lua state machines, network clients, observability, argument errors, and
-- exact interleavings built with net:intercept in the manner of etcd's raft tests.
local hs = require("happysim")

local FAST = { election_timeout_min = 0.15, election_timeout_max = 0.3, heartbeat_interval = 0.05 }

-- A cluster of n nodes n1..nN on a datacenter network, watched by one RaftChecker.
-- opts: n, seed, link, raft = { extra RaftNode options }, sm = function(i) -> state machine,
-- start = false to leave them stopped.
local function cluster(opts)
  opts = opts or {}
  local sim = hs.Simulation{ seed = opts.seed or 1 }
  local net = hs.Network{ sim = sim, name = "raft", default_link = opts.link or hs.datacenter_network() }
  local checker = hs.RaftChecker()
  local names, nodes, by = {}, {}, {}
  for i = 1, opts.n or 5 do names[i] = "n" .. i end
  for i, name in ipairs(names) do
    local o = { name = name, network = net, peers = names, checker = checker }
    for k, v in pairs(FAST) do o[k] = v end
    for k, v in pairs(opts.raft or {}) do o[k] = v end
    if opts.sm then o.state_machine = opts.sm(i) end
    nodes[i] = hs.RaftNode(o)
    by[name] = nodes[i]
  end
  if opts.start ~= false then
    for _, n in ipairs(nodes) do n:start() end
  end
  return { sim = sim, net = net, checker = checker, nodes = nodes, by = by, names = names }
end

local function live_leaders(c)
  local out = {}
  for _, n in ipairs(c.nodes) do
    if not n.crashed and n.is_leader then out[#out + 1] = n end
  end
  return out
end

-- Advances the simulation by steps of dt until pred() holds; fails after `limit` seconds.
local function run_until(c, pred, limit, what)
  local deadline = c.sim.now + (limit or 10)
  while not pred() do
    if c.sim.now >= deadline then error(("timed out waiting for %s (t=%.3f)"):format(what or "a condition", c.sim.now), 2) end
    c.sim:run_until(c.sim.now + 0.005)
  end
end

-- Whether leader l has committed an entry of its own term (its no-op), so it serves clients.
local function serving(l)
  local ci = l.commit_index
  if ci == 0 then return false end
  local log = l.log
  local e = log[ci - (l.stats.first_index - 1)]
  return e ~= nil and e.term == l.current_term
end

-- The live leader of the highest term, other than `except`, once it serves clients and
-- every live node (of `among`, default all) that is not partitioned from it follows it.
local function current_leader(c, except, among)
  local best
  for _, n in ipairs(live_leaders(c)) do
    if n ~= except and (not best or n.current_term > best.current_term) then best = n end
  end
  if not best or not serving(best) then return nil end
  for _, n in ipairs(among or c.nodes) do
    if not n.crashed and n.started and not c.net:is_partitioned(best, n) and n.current_leader ~= best.name then
      return nil
    end
  end
  return best
end

local function wait_leader(c, except, limit, among)
  local l
  run_until(c, function()
    l = current_leader(c, except, among)
    return l ~= nil
  end, limit, "a leader")
  return l
end

-- Runs until future f settles; returns its outcome as hs.await would.
local function settle(c, f, limit)
  run_until(c, function() return f.done end, limit or 10, "a future to settle")
  return f:result()
end

local function commit(c, node, cmd)
  local index, result = settle(c, node:submit(cmd))
  assert(index, "submit failed: " .. tostring(result))
  return index, result
end

local function set(key, value) return { op = "set", key = key, value = value } end

-- Runs until every live node has applied index.
local function wait_applied(c, index, nodes)
  run_until(c, function()
    for _, n in ipairs(nodes or c.nodes) do
      if not n.crashed and n.last_applied < index then return false end
    end
    return true
  end, 20, "index " .. index .. " applied everywhere")
end

local function kv_data(n) return n.state_machine.data end

local function assert_agree(c, nodes)
  local ref
  for _, n in ipairs(nodes or c.nodes) do
    if not n.crashed then
      local d = hs.core.encode(n.state_machine.data)
      ref = ref or d
      assert.equal(ref, d, n.name .. "'s state machine differs")
    end
  end
  local ok, violation = c.checker:check()
  assert(ok, violation)
  assert.is_false(c.checker.violated)
end

-- An entity named "client" registered with c's simulation, to send net:request from.
local function network_client(c)
  local client = hs.Entity{ name = "client", handle_event = function() end }
  c.sim:register(client)
  return client
end

local function count_types(c)
  local counts = {}
  c.net:intercept(function(m) counts[m.type] = (counts[m.type] or 0) + 1 end)
  return counts
end

describe("RaftNode election", function()
  it("elects exactly one leader, which every node follows", function()
    local c = cluster{ n = 5 }
    local l = wait_leader(c)
    assert.equal(1, #live_leaders(c))
    c.sim:run_until(c.sim.now + 1)
    assert.equal(1, #live_leaders(c))
    assert.equal(l, live_leaders(c)[1])
    for _, n in ipairs(c.nodes) do
      assert.equal(l.current_term, n.current_term)
      assert.equal(l.name, n.current_leader)
      if n ~= l then assert.equal("follower", n.state) end
    end
    assert.equal(hs.RaftState.LEADER, l.state)
    assert.is_true(l.stats.votes_received >= 3)
    assert.equal(1, l.stats.elections_won)
    assert.is_true(c.checker.checks > 0)
    assert_agree(c)
  end)

  it("elects a leader on every one of 30 seeds, with one leader per term", function()
    for seed = 1, 30 do
      local c = cluster{ n = 5, seed = seed }
      local l = wait_leader(c)
      assert.equal(1, #live_leaders(c), "seed " .. seed)
      assert.is_true(l.current_term >= 1)
      assert.is_false(c.checker.violated)
    end
  end)

  it("commits on a single-node cluster (the Python original never does)", function()
    local c = cluster{ n = 1 }
    local n = c.nodes[1]
    local f = n:submit(set("a", 1)) -- before its election: refused at once
    assert.is_true(f.done)
    assert.equal("not_leader", f.error.code)
    local l = wait_leader(c)
    assert.equal(n, l)
    assert.equal(1, l.current_term)
    local index, result = commit(c, l, set("a", 1))
    assert.equal(2, index) -- after the leader's no-op
    assert.equal(1, result)
    assert.equal(2, l.commit_index)
    assert.equal(2, l.last_applied)
    assert.same({ a = 1 }, kv_data(l))
    local ri, v = settle(c, l:read{ op = "get", key = "a" })
    assert.equal(2, ri)
    assert.equal(1, v)
    assert.equal(0, l.stats.messages_sent)
  end)

  it("campaign() starts an election now; a follower then leads a new term", function()
    local c = cluster{ n = 3 }
    local l = wait_leader(c)
    local term = l.current_term
    local other = l == c.nodes[1] and c.nodes[2] or c.nodes[1]
    -- with pre-vote and leader stickiness, a campaign against a healthy leader fails
    assert.is_true(other:campaign())
    assert.equal("pre_candidate", other.state)
    c.sim:run_until(c.sim.now + 0.1) -- the pre-vote fails; the next heartbeat brings it back
    assert.equal(l, current_leader(c))
    assert.equal(term, l.current_term)
    -- without them, it deposes the leader
    local c2 = cluster{ n = 3, raft = { pre_vote = false, check_quorum = false } }
    local l2 = wait_leader(c2)
    local o2 = l2 == c2.nodes[1] and c2.nodes[2] or c2.nodes[1]
    o2:campaign()
    local nl = wait_leader(c2, l2)
    assert.equal(o2, nl)
    assert.equal(l2.current_term, nl.current_term)
    assert.is_false(l2.is_leader)
    -- a leader's campaign does nothing
    l:campaign()
    c.sim:run_until(c.sim.now + 0.02)
    assert.equal(term, l.current_term)
    assert.is_true(l.is_leader)
  end)
end)

describe("RaftNode clients", function()
  it("rejects a submit on a follower with not_leader and the leader's name", function()
    local c = cluster{ n = 3 }
    local l = wait_leader(c)
    for _, n in ipairs(c.nodes) do
      if n ~= l then
        local f = n:submit(set("x", 1))
        assert.is_true(f.done)
        local index, err = f:result()
        assert.is_nil(index)
        assert.equal("not_leader", err.code)
        assert.equal(l.name, err.leader)
        assert.matches("not the leader", tostring(err))
        local rf = n:read{ op = "get", key = "x" }
        assert.equal("not_leader", rf.error.code)
        assert.equal(l.name, rf.error.leader)
      end
    end
  end)

  it("replicates several commands; every state machine agrees", function()
    local c = cluster{ n = 5 }
    local l = wait_leader(c)
    local fs = {}
    for i = 1, 20 do fs[i] = l:submit(set("k" .. (i % 7), i)) end
    fs[21] = l:submit{ op = "cas", key = "k1", expected = 15, value = "cas!" }
    fs[22] = l:submit{ op = "cas", key = "k1", expected = 15, value = "again" }
    fs[23] = l:submit{ op = "delete", key = "k2" }
    local last
    for i, f in ipairs(fs) do
      local index, result = settle(c, f)
      assert(index, tostring(result))
      if last then assert.equal(last + 1, index) end -- in submit order, contiguous
      last = index
      if i <= 20 then assert.equal(i, result) end
    end
    assert.is_true(fs[21].values[2])
    assert.is_false(fs[22].values[2])
    assert.equal(16, fs[23].values[2])
    wait_applied(c, last)
    for _, n in ipairs(c.nodes) do
      assert.equal(last, n.commit_index)
      assert.equal(last, n.log_length)
      assert.equal(23, n.stats.commands_committed)
    end
    assert.same({ k0 = 14, k1 = "cas!", k3 = 17, k4 = 18, k5 = 19, k6 = 20 }, kv_data(l))
    assert_agree(c)
  end)

  it("rejects a future whose entry a new leader overwrote (code 'lost'), never leaving it pending", function()
    local c = cluster{ n = 5 }
    local old = wait_leader(c)
    local i0 = commit(c, old, set("before", 1))
    wait_applied(c, i0)
    local term = old.current_term
    -- cut the leader off from the other four while it holds entries nobody else has
    local others = {}
    for _, n in ipairs(c.nodes) do if n ~= old then others[#others + 1] = n end end
    local p = c.net:partition({ old }, others)
    local lost = { old:submit(set("lost", 1)), old:submit(set("lost", 2)) }
    c.sim:run_until(c.sim.now + 0.01)
    assert.equal(i0 + 2, old.log_length)
    assert.is_false(lost[1].done)
    -- the majority elects a leader of a higher term, which commits at those indexes
    local new = wait_leader(c, old)
    assert.is_true(new.current_term > term)
    local i1 = commit(c, new, set("after", 2))
    local i2 = commit(c, new, set("after", 3))
    assert.equal(i0 + 3, i2) -- its no-op at i0 + 1, then the two commands
    assert.is_true(i1 <= old.log_length)
    -- the old leader has stepped down on its own (check-quorum); its futures still wait
    run_until(c, function() return not old.is_leader end, 1, "the old leader to step down")
    c.sim:run_until(c.sim.now + 1)
    assert.is_false(lost[1].done or lost[2].done)
    p:heal()
    for _, f in ipairs(lost) do
      local index, err = settle(c, f)
      assert.is_nil(index)
      assert.equal("lost", err.code)
      assert.matches("overwritten", err.message)
    end
    wait_applied(c, i2)
    assert.equal(new.current_term, old.current_term)
    assert.is_nil(kv_data(old)["lost"])
    assert.equal(3, kv_data(old)["after"])
    assert.equal(2, old.stats.proposals_lost)
    local log = old.log
    for i = i0 + 1, i2 do assert.equal(new.log[i].term, log[i].term) end
    assert_agree(c)
  end)

  it("rejects with 'unknown' a future whose entry was replaced by an installed snapshot", function()
    local c = cluster{ n = 3, raft = { snapshot_threshold = 5 } }
    local old = wait_leader(c)
    local others = {}
    for _, n in ipairs(c.nodes) do if n ~= old then others[#others + 1] = n end end
    local p = c.net:partition({ old }, others)
    local f = old:submit(set("orphan", 1))
    local new = wait_leader(c, old)
    for i = 1, 12 do commit(c, new, set("k", i)) end
    assert.is_true(new.stats.snapshots_taken >= 1)
    assert.is_false(f.done)
    p:heal()
    local index, err = settle(c, f)
    assert.is_nil(index)
    assert.equal("unknown", err.code)
    assert.is_true(old.stats.snapshots_installed >= 1)
    wait_applied(c, new.commit_index)
    assert_agree(c)
  end)

  it("rejects pending futures with 'crashed' when the leader crashes", function()
    local c = cluster{ n = 3 }
    local l = wait_leader(c)
    local others = {}
    for _, n in ipairs(c.nodes) do if n ~= l then others[#others + 1] = n end end
    c.net:partition({ l }, others)
    local f = l:submit(set("x", 1))
    local r = l:read{ op = "get", key = "x" }
    assert.is_false(f.done or r.done)
    l:crash()
    assert.is_true(f.done and r.done)
    assert.equal("crashed", f.error.code)
    assert.equal("crashed", r.error.code)
    -- a crashed node refuses requests as values
    local g = l:submit(set("y", 1))
    assert.equal("crashed", g.error.code)
  end)

  it("serves linearizable reads with read(); a deposed leader never answers a stale value", function()
    local c = cluster{ n = 5 }
    local l = wait_leader(c)
    commit(c, l, set("x", 1))
    local index, v = settle(c, l:read{ op = "get", key = "x" })
    assert.equal(1, v)
    assert.equal(l.commit_index, index)
    local _, missing = settle(c, l:read{ op = "get", key = "nope" })
    assert.is_nil(missing)
    assert.equal(2, l.stats.reads_served)
    -- isolate the leader; the majority elects another and writes x = 2
    local others = {}
    for _, n in ipairs(c.nodes) do if n ~= l then others[#others + 1] = n end end
    local p = c.net:partition({ l }, others)
    local stale = l:read{ op = "get", key = "x" }
    local new = wait_leader(c, l)
    commit(c, new, set("x", 2))
    local ri, v2 = settle(c, new:read{ op = "get", key = "x" })
    assert.equal(2, v2)
    assert.equal(new.commit_index, ri)
    -- the old leader could not confirm its leadership: the read failed, it did not return 1
    local sv, err = settle(c, stale)
    assert.is_nil(sv)
    assert.equal("not_leader", err.code)
    p:heal()
    -- a read that is not a valid query fails as a value
    local _, bad = settle(c, new:read{ op = "put" })
    assert.equal("read_failed", bad.code)
  end)

  it("answers 'submit' and 'read' requests over the network", function()
    local c = cluster{ n = 3 }
    local client = network_client(c)
    local l = wait_leader(c)
    local follower = l == c.nodes[1] and c.nodes[2] or c.nodes[1]
    local replies = {}
    c.sim:spawn(function()
      replies.ok = hs.await(c.net:request(client, l, "submit", set("x", 42), { timeout = 1 }))
      replies.follower = hs.await(c.net:request(client, follower, "submit", set("x", 43), { timeout = 1 }))
      replies.read = hs.await(c.net:request(client, l, "read", { op = "get", key = "x" }, { timeout = 1 }))
      replies.read_f = hs.await(c.net:request(client, follower, "read", { op = "get", key = "x" }, { timeout = 1 }))
      replies.bad = hs.await(c.net:request(client, l, "frobnicate", {}, { timeout = 1 }))
    end)
    c.sim:run_until(c.sim.now + 1)
    assert.is_true(replies.ok.ok)
    assert.equal(l.log_length, replies.ok.index)
    assert.equal(42, replies.ok.result)
    assert.is_false(replies.follower.ok)
    assert.equal("not_leader", replies.follower.error.code)
    assert.equal(l.name, replies.follower.error.leader)
    assert.is_true(replies.read.ok)
    assert.equal(42, replies.read.result)
    assert.is_false(replies.read_f.ok)
    assert.equal("not_leader", replies.read_f.error.code)
    assert.is_false(replies.bad.ok)
    assert.equal("bad_request", replies.bad.error.code)
  end)
end)

-- A state machine whose commands do not commute with themselves: applying one twice shows.
local function counter_sm()
  local sm = { n = 0 }
  function sm:apply(cmd) self.n = self.n + cmd.add; return self.n end
  function sm:snapshot() return { n = self.n } end
  function sm:restore(snap) self.n = snap and snap.n or 0 end
  function sm:read() return self.n end
  return sm
end

describe("RaftNode client sessions (at-most-once commands)", function()
  it("applies a request the network duplicated once; the copy gets the first result", function()
    local c = cluster{ n = 3, sm = counter_sm }
    local client = network_client(c)
    local l = wait_leader(c)
    local replies = {}
    c.net:intercept(function(m) if m.type == "submit" then return "duplicate" end end)
    c.sim:spawn(function()
      replies[1] = hs.await(c.net:request(client, l, "submit", { add = 5 }, { timeout = 1 }))
      replies[2] = hs.await(c.net:request(client, l, "submit", { add = 1 }, { timeout = 1 }))
    end)
    c.sim:run_until(c.sim.now + 1)
    assert.is_true(replies[1].ok and replies[2].ok)
    assert.equal(5, replies[1].result)
    assert.equal(6, replies[2].result)
    wait_applied(c, l.commit_index)
    for _, n in ipairs(c.nodes) do
      assert.equal(6, n.state_machine.n, n.name)
      assert.equal(2, n.stats.duplicate_commands, n.name) -- both copies are in the log, applied once
    end
    local sessions = 0
    for _, e in ipairs(l.log) do
      if e.client then
        sessions = sessions + 1
        assert.equal("client", e.client)
        assert.is_true(math.type(e.request_id) == "integer")
      end
    end
    assert.equal(4, sessions)
    assert_agree(c)
  end)

  it("a copy held back past later writes does not undo them", function()
    local c = cluster{ n = 3 }
    local client = network_client(c)
    local l = wait_leader(c)
    local first = true
    c.net:intercept(function(m)
      if m.type == "submit" and first then
        first = false
        return "duplicate" -- one copy goes now; the second comes through the filter again
      elseif m.type == "submit" and m.payload.value == 1 then
        return 0.5 -- the duplicate of x = 1 arrives half a second late
      end
    end)
    local got = {}
    c.sim:spawn(function()
      got[1] = hs.await(c.net:request(client, l, "submit", set("x", 1), { timeout = 1 }))
      got[2] = hs.await(c.net:request(client, l, "submit", set("x", 2), { timeout = 1 }))
    end)
    c.sim:run_until(c.sim.now + 1.5)
    assert.is_true(got[1].ok and got[2].ok)
    wait_applied(c, l.commit_index)
    assert.equal(1, l.stats.duplicate_commands)
    for _, n in ipairs(c.nodes) do assert.equal(2, kv_data(n).x, n.name) end
    assert_agree(c)
  end)

  it("submit(cmd, session): a retry to a new leader is answered, not re-applied", function()
    local c = cluster{ n = 5, sm = counter_sm }
    local l = wait_leader(c)
    local session = { client = "app", request_id = 1 }
    local index, result = commit(c, l, { add = 10 })
    index, result = settle(c, l:submit({ add = 3 }, session))
    assert.equal(13, result)
    wait_applied(c, index)
    l:crash()
    local l2 = wait_leader(c, l)
    local index2, result2 = settle(c, l2:submit({ add = 3 }, session)) -- the client's retry
    assert.equal(13, result2)
    assert.is_true(index2 > index)
    assert.equal(1, l2.stats.duplicate_commands)
    local _, r3 = settle(c, l2:submit({ add = 1 }, { client = "app", request_id = 2 }))
    assert.equal(14, r3)
    l:restart()
    wait_applied(c, l2.commit_index)
    for _, n in ipairs(c.nodes) do assert.equal(14, n.state_machine.n, n.name) end
    assert_agree(c)
  end)

  it("sessions travel in snapshots and survive a restart of the whole cluster", function()
    local c = cluster{ n = 3, sm = counter_sm, raft = { snapshot_threshold = 4 } }
    local l = wait_leader(c)
    settle(c, l:submit({ add = 7 }, { client = "app", request_id = 1 }))
    for i = 1, 10 do commit(c, l, { add = 1 }) end
    wait_applied(c, l.commit_index)
    for _, n in ipairs(c.nodes) do assert.is_true(n.stats.snapshot_index > 2, n.name) end
    for _, n in ipairs(c.nodes) do n:crash() end
    for _, n in ipairs(c.nodes) do n:restart() end
    local l2 = wait_leader(c)
    local _, result = settle(c, l2:submit({ add = 7 }, { client = "app", request_id = 1 }))
    assert.equal(7, result) -- the first result, remembered through the snapshot
    wait_applied(c, l2.commit_index)
    for _, n in ipairs(c.nodes) do assert.equal(17, n.state_machine.n, n.name) end
    assert_agree(c)
  end)

  it("a request older than the client's window is refused as session_expired (outcome unknown)", function()
    local c = cluster{ n = 3, sm = counter_sm }
    local l = wait_leader(c)
    for id = 1, 40 do settle(c, l:submit({ add = 1 }, { client = "app", request_id = id })) end
    local v, err = settle(c, l:submit({ add = 1 }, { client = "app", request_id = 3 }))
    assert.is_nil(v)
    assert.equal("session_expired", err.code)
    local _, again = settle(c, l:submit({ add = 1 }, { client = "app", request_id = 40 }))
    assert.equal(40, again) -- still in the window: answered
    local _, other = settle(c, l:submit({ add = 1 }, { client = "other", request_id = 3 }))
    assert.equal(41, other) -- sessions are per client
    assert.equal(1, l.stats.expired_commands)
    wait_applied(c, l.commit_index)
    for _, n in ipairs(c.nodes) do assert.equal(41, n.state_machine.n, n.name) end
  end)

  it("raises for a malformed session", function()
    local c = cluster{ n = 1 }
    local l = wait_leader(c)
    assert.has_error(function() l:submit(set("x", 1), "s") end,
      "bad argument #2 to 'submit' (session table { client =, request_id = } expected, got string)")
    assert.has_error(function() l:submit(set("x", 1), { request_id = 1 }) end,
      "bad argument #2 to 'submit' (field 'client' must be a string)")
    for _, bad in ipairs({ 0, -1, 1.5, "1", 0 / 0 }) do
      assert.has_error(function() l:submit(set("x", 1), { client = "a", request_id = bad }) end,
        "bad argument #2 to 'submit' (field 'request_id' must be an integer >= 1)")
    end
  end)
end)

describe("RaftNode durability", function()
  it("keeps term, vote and log across crash/restart, rebuilds the state machine and catches up", function()
    local c = cluster{ n = 5 }
    local l = wait_leader(c)
    for i = 1, 5 do commit(c, l, set("k" .. i, i)) end
    wait_applied(c, l.commit_index)
    local f = l == c.nodes[5] and c.nodes[4] or c.nodes[5]
    local term, vote, log = f.current_term, f.voted_for, f.log
    f:crash()
    assert.is_true(f.crashed)
    assert.is_false(f.is_leader)
    c.sim:run_until(c.sim.now + 0.5)
    for i = 6, 10 do commit(c, l, set("k" .. i, i)) end
    f:restart()
    -- durable: term, vote, log; volatile: commit index, applied state
    assert.equal(term, f.current_term)
    assert.equal(vote, f.voted_for)
    assert.same(log, f.log)
    assert.equal("follower", f.state)
    assert.equal(0, f.commit_index)
    assert.equal(0, f.last_applied)
    assert.same({}, kv_data(f))
    wait_applied(c, l.commit_index)
    assert.equal(l.log_length, f.log_length)
    assert.equal(10, f.state_machine.size)
    assert_agree(c)
  end)

  it("a crashed leader is replaced and rejoins as a follower of the new term", function()
    local c = cluster{ n = 5 }
    local l = wait_leader(c)
    commit(c, l, set("a", 1))
    local term = l.current_term
    l:crash()
    local new = wait_leader(c, l)
    assert.is_true(new.current_term > term)
    commit(c, new, set("b", 2))
    l:restart()
    assert.equal(term, l.current_term)
    wait_applied(c, new.commit_index)
    assert.equal(new.current_term, l.current_term)
    assert.equal("follower", l.state)
    assert.equal(new.name, l.current_leader)
    assert.same({ a = 1, b = 2 }, kv_data(l))
    assert_agree(c)
  end)

  it("a whole cluster crashed and restarted keeps every committed entry", function()
    local c = cluster{ n = 3 }
    local l = wait_leader(c)
    for i = 1, 4 do commit(c, l, set("k" .. i, i)) end
    local last = l.commit_index
    for _, n in ipairs(c.nodes) do n:crash() end
    c.sim:run_until(c.sim.now + 1)
    for _, n in ipairs(c.nodes) do n:restart() end
    local l2 = wait_leader(c)
    commit(c, l2, set("k5", 5))
    wait_applied(c, l2.commit_index)
    assert.is_true(l2.commit_index > last)
    for _, n in ipairs(c.nodes) do assert.equal(5, n.state_machine.size) end
    assert_agree(c)
  end)
end)

describe("RaftNode snapshots", function()
  it("compacts its log and brings a far-behind follower back with InstallSnapshot", function()
    local c = cluster{ n = 5, raft = { snapshot_threshold = 8 } }
    local counts = count_types(c)
    local l = wait_leader(c)
    local behind = l == c.nodes[5] and c.nodes[4] or c.nodes[5]
    behind:crash()
    for i = 1, 40 do commit(c, l, set("k" .. (i % 13), i)) end
    assert.is_true(l.stats.snapshots_taken >= 3)
    assert.is_true(l.stats.snapshot_index > behind.log_length)
    assert.equal(l.stats.snapshot_index + 1, l.stats.first_index)
    assert.equal(l.log_length - l.stats.snapshot_index, #l.log) -- node.log starts after the snapshot
    assert.equal(l.stats.first_index, l.log[1].index)
    assert.is_nil(counts.InstallSnapshot)
    behind:restart()
    wait_applied(c, l.commit_index)
    assert.is_true(counts.InstallSnapshot >= 1)
    assert.is_true(behind.stats.snapshots_installed >= 1)
    assert.equal(l.log_length, behind.log_length)
    assert.same(kv_data(l), kv_data(behind))
    -- it keeps replicating normally afterwards
    local index = commit(c, l, set("end", true))
    wait_applied(c, index)
    assert_agree(c)
  end)

  it("restores from its own snapshot on restart", function()
    local c = cluster{ n = 3, raft = { snapshot_threshold = 4 } }
    local l = wait_leader(c)
    for i = 1, 10 do commit(c, l, set("k" .. i, i)) end
    wait_applied(c, l.commit_index)
    local f = l == c.nodes[3] and c.nodes[2] or c.nodes[3]
    assert.is_true(f.stats.snapshots_taken >= 1)
    local snap = f.stats.snapshot_index
    f:crash()
    f:restart()
    assert.equal(snap, f.last_applied) -- the state machine is the snapshot's
    assert.equal(snap, f.stats.snapshot_index)
    assert.is_true(f.state_machine.size > 0)
    wait_applied(c, l.commit_index)
    assert_agree(c)
  end)
end)

describe("RaftNode membership", function()
  it("adds a node as a learner, promotes it, removes another, and keeps committing", function()
    local c = cluster{ n = 3 }
    local l = wait_leader(c)
    for i = 1, 5 do commit(c, l, set("k" .. i, i)) end
    local n4 = hs.RaftNode{ name = "n4", network = c.net, peers = c.names, join = true, checker = c.checker,
                            election_timeout_min = FAST.election_timeout_min,
                            election_timeout_max = FAST.election_timeout_max, heartbeat_interval = FAST.heartbeat_interval }
    n4:start()
    c.nodes[4] = n4
    -- a joining node with no configuration never campaigns
    c.sim:run_until(c.sim.now + 1)
    assert.equal("follower", n4.state)
    assert.equal(0, n4.current_term)
    local index = settle(c, l:add_member(n4, { learner = true }))
    assert.is_number(index)
    wait_applied(c, l.commit_index)
    assert.same(kv_data(l), kv_data(n4))
    assert.equal("config", l.log[index].type)
    -- a second change while one is pending is refused; promotion once it committed
    local pi = settle(c, l:add_member("n4"))
    assert.is_number(pi)
    local i6 = commit(c, l, set("k6", 6))
    wait_applied(c, i6)
    -- remove a follower: the remaining three (n4 included) keep committing
    local gone = l == c.nodes[1] and c.nodes[2] or c.nodes[1]
    settle(c, l:remove_member(gone.name))
    gone:crash()
    local i7 = commit(c, l, set("k7", 7))
    local live = {}
    for _, n in ipairs(c.nodes) do if n ~= gone then live[#live + 1] = n end end
    wait_applied(c, i7, live)
    -- and survive the loss of the old leader: n4 is a voter now
    l:crash()
    local rest = {}
    for _, n in ipairs(live) do if n ~= l then rest[#rest + 1] = n end end
    local l2
    run_until(c, function()
      for _, n in ipairs(rest) do if n.is_leader then l2 = n end end
      return l2 ~= nil
    end, 10, "a leader among the remaining members")
    local i8 = commit(c, l2, set("k8", 8))
    assert.is_number(i8)
    assert.is_false(c.checker.violated)
  end)

  it("refuses a second change while one is pending, and bad changes as values", function()
    local c = cluster{ n = 3 }
    local l = wait_leader(c)
    local n4 = hs.RaftNode{ name = "n4", network = c.net, peers = c.names, join = true }
    local n5 = hs.RaftNode{ name = "n5", network = c.net, peers = c.names, join = true }
    n4:start()
    n5:start()
    local f1 = l:add_member(n4, { learner = true })
    local f2 = l:add_member(n5, { learner = true })
    assert.is_true(f2.done)
    assert.equal("busy", f2.error.code)
    settle(c, f1)
    assert.has_error(function() l:remove_member("nobody") end,
      "bad argument #1 to 'remove_member' (unknown node 'nobody': no RaftNode of that name in the simulation)")
    local f4 = l:add_member(l) -- already a voter: an outcome of the configuration, named
    assert.equal("invalid", f4.error.code)
    assert.equal(("add_member('%s') on '%s': is a voter already"):format(l.name, l.name), f4.error.message)
    local f3 = l:remove_member(n5) -- not a member (yet)
    assert.equal("invalid", f3.error.code)
    assert.equal(("remove_member('n5') on '%s': is not a member of the current configuration"):format(l.name),
                 f3.error.message)
    local follower = l == c.nodes[1] and c.nodes[2] or c.nodes[1]
    local f5 = follower:add_member(n5)
    assert.equal("not_leader", f5.error.code)
    assert.equal(l.name, f5.error.leader)
  end)

  it("a leader that removes itself steps down and the rest elect another", function()
    local c = cluster{ n = 3 }
    local l = wait_leader(c)
    commit(c, l, set("a", 1))
    settle(c, l:remove_member(l))
    local rest = {}
    for _, n in ipairs(c.nodes) do if n ~= l then rest[#rest + 1] = n end end
    local new = wait_leader(c, l, 5, rest)
    assert.is_false(l.is_leader)
    assert.is_nil(l.current_leader)
    commit(c, new, set("b", 2))
    assert.is_false(c.checker.violated)
  end)
end)

-- A state machine written in Lua: a table of values, with apply/snapshot/restore/read.
local function lua_sm()
  local sm = { data = {}, applied = 0, restores = 0 }
  function sm:apply(cmd)
    self.applied = self.applied + 1
    if cmd.op == "add" then
      self.data[cmd.key] = (self.data[cmd.key] or 0) + cmd.n
      return self.data[cmd.key]
    elseif cmd.op == "boom" then
      error("no such operation: boom")
    end
    return nil
  end
  function sm:snapshot()
    local copy = {}
    for k, v in pairs(self.data) do copy[k] = v end
    return { data = copy }
  end
  function sm:restore(snap)
    self.restores = self.restores + 1
    self.data = {}
    if snap then for k, v in pairs(snap.data) do self.data[k] = v end end
  end
  function sm:read(q) return self.data[q.key] end
  return sm
end

describe("RaftNode leadership transfer", function()
  it("hands leadership to a follower, refusing commands meanwhile", function()
    local c = cluster{ n = 5 }
    local l = wait_leader(c)
    commit(c, l, set("x", 1))
    local target = l == c.nodes[4] and c.nodes[5] or c.nodes[4]
    local term = l.current_term
    local f = l:transfer_leadership(target.name)
    local _, err = settle(c, l:submit(set("x", 2)))
    assert.equal("transferring", err.code)
    assert.equal(target.name, err.leader) -- where to ask next
    local name, new_term = settle(c, f)
    assert.equal(target.name, name)
    assert.equal(term + 1, new_term)
    assert.is_true(target.is_leader)
    assert.is_false(l.is_leader)
    assert.equal(1, l.stats.transfers_done)
    assert.equal(1, target.stats.elections_won)
    local l2 = wait_leader(c)
    assert.equal(target, l2)
    commit(c, l2, set("x", 3))
    wait_applied(c, l2.commit_index)
    for _, n in ipairs(c.nodes) do assert.equal(3, kv_data(n).x, n.name) end
    assert_agree(c)
  end)

  it("gives up after an election timeout when the target cannot win, and serves again", function()
    local c = cluster{ n = 3 }
    local l = wait_leader(c)
    local target = l == c.nodes[1] and c.nodes[2] or c.nodes[1]
    local others = {}
    for _, n in ipairs(c.nodes) do if n ~= target then others[#others + 1] = n end end
    local p = c.net:partition({ target }, others)
    local v, err = settle(c, l:transfer_leadership(target))
    assert.is_nil(v)
    assert.equal("timeout", err.code)
    assert.is_true(l.is_leader)
    commit(c, l, set("y", 1))
    p:heal()
    local name = settle(c, l:transfer_leadership(l)) -- to itself: done at once
    assert.equal(l.name, name)
  end)

  it("refuses bad transfers as values, and bad arguments as errors", function()
    local c = cluster{ n = 3 }
    local l = wait_leader(c)
    local follower = l == c.nodes[1] and c.nodes[2] or c.nodes[1]
    local _, err = settle(c, follower:transfer_leadership(l))
    assert.equal("not_leader", err.code)
    assert.equal(l.name, err.leader)
    assert.has_error(function() l:transfer_leadership("nobody") end,
      "bad argument #1 to 'transfer_leadership' (unknown node 'nobody': no RaftNode of that name in the simulation)")
    local f = l:transfer_leadership(follower)
    _, err = settle(c, l:transfer_leadership(follower))
    assert.equal("transferring", err.code)
    settle(c, f)
    assert.has_error(function() l:transfer_leadership() end)
    assert.has_error(function() l:transfer_leadership(42) end,
      "bad argument #1 to 'transfer_leadership' (RaftNode or node name expected, got number)")
  end)
end)

describe("RaftNode with a Lua state machine", function()
  it("applies, snapshots, restores and reads through the table's methods", function()
    local c = cluster{ n = 3, sm = function() return lua_sm() end, raft = { snapshot_threshold = 5 } }
    local l = wait_leader(c)
    assert.equal("table", type(l.state_machine))
    local behind = l == c.nodes[3] and c.nodes[2] or c.nodes[3]
    behind:crash()
    local _, total
    for i = 1, 12 do _, total = commit(c, l, { op = "add", key = "x", n = i }) end
    assert.equal(78, total)
    local _, v = settle(c, l:read{ key = "x" })
    assert.equal(78, v)
    -- (a method that raises stops the run: tests/lua/callback_errors_spec.lua)
    local restores = behind.state_machine.restores
    behind:restart() -- between runs: the restore still runs, on the main thread
    assert.equal(restores + 1, behind.state_machine.restores)
    assert.same({}, behind.state_machine.data)
    wait_applied(c, l.commit_index)
    assert.is_true(behind.state_machine.restores >= restores + 2) -- then the installed snapshot
    assert.is_true(behind.stats.snapshots_installed >= 1)
    for _, n in ipairs(c.nodes) do assert.same({ x = 78 }, n.state_machine.data) end
    assert.is_false(c.checker.violated)
  end)
end)

describe("RaftNode observability", function()
  it("stats carry the seed's RaftStats fields and more", function()
    local c = cluster{ n = 3 }
    local l = wait_leader(c)
    for i = 1, 3 do commit(c, l, set("k" .. i, i)) end
    wait_applied(c, l.commit_index)
    local s = l.stats
    assert.equal("leader", s.state)
    assert.equal(l.current_term, s.current_term)
    assert.equal(l.name, s.current_leader)
    assert.equal(4, s.log_length)
    assert.equal(4, s.commit_index)
    assert.equal(3, s.commands_committed)
    assert.is_true(s.elections_started >= 1)
    assert.is_true(s.votes_received >= 2)
    assert.equal(1, s.elections_won)
    assert.is_true(s.messages_sent > 0)
    assert.equal(4, s.entries_applied)
    assert.equal(4, s.applied_index)
    assert.is_false(s.crashed)
    -- a fresh table each time: a snapshot, not a live view
    assert.are_not.equal(l.stats, l.stats)
    s.commit_index = -1
    assert.equal(4, l.stats.commit_index)
    local f = l == c.nodes[1] and c.nodes[2] or c.nodes[1]
    assert.equal("follower", f.stats.state)
    assert.equal(l.name, f.stats.current_leader)
    assert.equal(0, f.stats.elections_won)
    assert.equal(3, f.stats.commands_committed)
    f:crash()
    assert.is_true(f.stats.crashed)
  end)

  it("node.log lists the entries, node.history the role changes", function()
    local c = cluster{ n = 3 }
    local l = wait_leader(c)
    commit(c, l, set("a", 1))
    commit(c, l, { op = "delete", key = "a" })
    local log = l.log
    assert.equal(3, #log)
    assert.same({ index = 1, term = l.current_term, type = "noop" }, log[1])
    assert.same({ index = 2, term = l.current_term, type = "normal", command = set("a", 1) }, log[2])
    assert.same({ op = "delete", key = "a" }, log[3].command)
    local h = l.history
    assert.same({ time = 0, role = "follower", term = 0 }, h[1])
    local last = h[#h]
    assert.equal("leader", last.role)
    assert.equal(l.current_term, last.term)
    assert.equal(l.name, last.leader)
    for i = 2, #h do assert.is_true(h[i].time >= h[i - 1].time) end
    local roles = {}
    for _, e in ipairs(h) do roles[#roles + 1] = e.role end
    assert.equal("candidate", roles[#roles - 1])
    assert.equal("pre_candidate", roles[#roles - 2])
    -- a follower's history names the leader it learned of
    local f = l == c.nodes[1] and c.nodes[2] or c.nodes[1]
    local fh = f.history
    assert.equal(l.name, fh[#fh].leader)
    assert.equal("follower", fh[#fh].role)
  end)

  it("exposes its options, peers, network and id", function()
    local c = cluster{ n = 3 }
    local n = c.nodes[1]
    assert.same({ "n2", "n3" }, n.peers)
    assert.equal(c.net, n.network)
    assert.is_true(n.started)
    assert.is_number(n.id)
    assert.equal("RaftNode 'n1'", tostring(n))
    assert.equal(3, c.checker.nodes)
  end)
end)

-- Checks that fn raises an error whose message contains `text` (plain).
local function raises(text, fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected an error containing: " .. text)
  err = tostring(err)
  assert(err:find(text, 1, true), ("expected an error containing %q, got %q"):format(text, err))
end

describe("RaftNode bad arguments", function()
  local sim, net
  before_each(function()
    sim = hs.Simulation{ seed = 1 }
    net = hs.Network{ sim = sim, default_link = hs.datacenter_network() }
  end)

  local function node(opts)
    opts.network = opts.network == nil and net or opts.network
    return hs.RaftNode(opts)
  end

  it("raises for wrong types, missing and unknown options", function()
    raises("bad argument #1 to 'RaftNode' (table expected, got no value)", function() hs.RaftNode() end)
    raises("table expected, got number", function() hs.RaftNode(5) end)
    raises("field 'network' is required", function() hs.RaftNode{ name = "a" } end)
    raises("field 'network' must be an hs.Network, got number", function() hs.RaftNode{ name = "a", network = 5 } end)
    raises("field 'name' must be a string", function() node{ name = 5 } end)
    raises("unknown option 'electon_timeout_min'", function() node{ name = "a", electon_timeout_min = 1 } end)
    raises("field 'peers' must be a list of nodes or names", function() node{ name = "a", peers = "n2" } end)
    raises("field 'peers': item 2 must be a RaftNode or a name, got number", function() node{ name = "a", peers = { "n2", 5 } } end)
    raises("field 'peers': item 1 must be a RaftNode or a name, got table", function() node{ name = "a", peers = { {} } } end)
    raises("field 'state_machine' must be an hs.KVStateMachine or a table", function() node{ name = "a", state_machine = 5 } end)
    raises("field 'state_machine' has no apply method", function() node{ name = "a", state_machine = {} } end)
    raises("field 'pre_vote' must be a boolean, got string", function() node{ name = "a", pre_vote = "yes" } end)
    raises("field 'check_quorum' must be a boolean", function() node{ name = "a", check_quorum = 1 } end)
    raises("field 'join' must be a boolean", function() node{ name = "a", join = "no" } end)
    raises("field 'checker' must be an hs.RaftChecker, got number", function() node{ name = "a", checker = 5 } end)
    raises("field 'snapshot_threshold' must be an integer", function() node{ name = "a", snapshot_threshold = -1 } end)
    raises("field 'snapshot_threshold' must be an integer", function() node{ name = "a", snapshot_threshold = 2.5 } end)
    raises("field 'max_entries_per_message' must be an integer in [1,", function() node{ name = "a", max_entries_per_message = 0 } end)
    raises("field 'max_inflight' must be an integer in [1,", function() node{ name = "a", max_inflight = 0 } end)
    node{ name = "taken" }
    raises("'taken'", function() node{ name = "taken" } end)
  end)

  it("raises for NaN, negative, infinite and inconsistent times", function()
    -- docs/API.md 2: "field 'election_timeout_min' must be a positive number, got -1"
    raises("field 'election_timeout_min' must be a positive number, got ", function() node{ name = "a", election_timeout_min = 0 / 0 } end)
    raises("bad argument #1 to 'RaftNode' (field 'election_timeout_min' must be a positive number, got -1)", function() node{ name = "a", election_timeout_min = -1 } end)
    raises("field 'election_timeout_min' must be a positive number, got string", function() node{ name = "a", election_timeout_min = "1" } end)
    raises("field 'election_timeout_min' must be a positive number, got 0", function() node{ name = "a", election_timeout_min = 0 } end)
    raises("field 'election_timeout_max' must be a positive number, got inf", function() node{ name = "a", election_timeout_max = math.huge } end)
    raises("field 'heartbeat_interval' must be a positive number, got -0.1", function() node{ name = "a", heartbeat_interval = -0.1 } end)
    raises("field 'election_timeout_max' must be greater than 'election_timeout_min'",
      function() node{ name = "a", election_timeout_min = 2, election_timeout_max = 2 } end)
    raises("field 'election_timeout_max' must be greater than 'election_timeout_min'",
      function() node{ name = "a", election_timeout_min = 2, election_timeout_max = 1 } end)
    raises("field 'heartbeat_interval' must be positive and below 'election_timeout_min'",
      function() node{ name = "a", heartbeat_interval = 1.5 } end)
    raises("field 'heartbeat_interval' must be a positive number, got 0",
      function() node{ name = "a", heartbeat_interval = 0 } end)
  end)

  it("raises on methods used before start, twice, or with bad arguments", function()
    local a = node{ name = "a", peers = { "ghost" } }
    raises("submit: RaftNode 'a' is not started (call node:start())", function() a:submit(1) end)
    raises("read: RaftNode 'a' is not started", function() a:read{} end)
    raises("campaign: RaftNode 'a' is not started", function() a:campaign() end)
    raises("add_member: RaftNode 'a' is not started", function() a:add_member("b") end)
    raises("remove_member: RaftNode 'a' is not started", function() a:remove_member("b") end)
    raises("start: RaftNode 'a' has an unknown peer 'ghost'", function() a:start() end)
    local e = hs.Entity{ name = "plain", handle_event = function() end }
    sim:register(e)
    local b = node{ name = "b", peers = { "plain" } }
    raises("start: peer 'plain' of 'b' is not a RaftNode", function() b:start() end)
    local solo = node{ name = "solo" }
    solo:start()
    raises("start: RaftNode 'solo' is already started", function() solo:start() end)
    raises("bad argument #1 to 'submit' (value expected)", function() solo:submit() end)
    raises("submit: command contains a function", function() solo:submit{ f = print } end)
    raises("submit: command contains a thread", function() solo:submit(coroutine.create(print)) end)
    local cyc = {}
    cyc.self = cyc
    raises("submit: command is nested too deeply (or contains a cycle)", function() solo:submit(cyc) end)
    raises("submit: command has a key of type table", function() solo:submit{ [{}] = 1 } end)
    raises("read: query contains a function", function() solo:read(print) end)
    raises("bad argument #1 to 'add_member' (RaftNode or node name expected, got number)", function() solo:add_member(5) end)
    raises("bad argument #2 to 'add_member' (field 'learner' must be a boolean, got number)",
      function() solo:add_member("x", { learner = 1 }) end)
    raises("bad argument #1 to 'remove_member' (value expected)", function() solo:remove_member() end)
    raises("happysim.RaftNode expected, got table", function() solo.submit({}, 1) end)
    local ch = hs.RaftChecker()
    raises("bad argument #1 to 'watch' (happysim.RaftNode expected, got number)", function() ch:watch(5) end)
    ch:watch(solo)
    raises("RaftNode 'solo' is already watched by a checker", function() ch:watch(solo) end)
    local other = hs.Simulation{ seed = 2 }
    local onet = hs.Network{ sim = other }
    local x = hs.RaftNode{ name = "x", network = onet }
    raises("RaftChecker watches nodes of another simulation", function() ch:watch(x) end)
  end)

  it("refuses a peer on another network at start", function()
    local net2 = hs.Network{ sim = sim, name = "other" }
    local a = node{ name = "a", peers = { "b" } }
    hs.RaftNode{ name = "b", network = net2, peers = { "a" } }
    raises("start: peer 'b' is on another network", function() a:start() end)
  end)
end)

describe("RaftNode exact interleavings (net:intercept)", function()
  it("a leader whose AppendEntriesResponses are all dropped retries until they get through", function()
    local c = cluster{ n = 3 }
    local l = wait_leader(c)
    local base = l.commit_index
    local drop, counts = true, {}
    c.net:intercept(function(m)
      counts[m.type] = (counts[m.type] or 0) + 1
      if drop and m.type == "AppendEntriesResponse" then return "drop" end
    end)
    local f = l:submit(set("x", 1))
    c.sim:run_until(c.sim.now + 0.5)
    -- the followers have the entry, the leader does not know: nothing commits
    for _, n in ipairs(c.nodes) do assert.equal(base + 1, n.log_length) end
    assert.equal(base, l.commit_index)
    assert.is_false(f.done)
    assert.is_true(l.is_leader) -- heartbeats still answer: check-quorum is satisfied
    -- it sent the entry again and again (2 followers, first send + retries)
    assert.is_true(counts.AppendEntries > 6, "AppendEntries sent: " .. tostring(counts.AppendEntries))
    drop = false
    local index = settle(c, f)
    assert.equal(base + 1, index)
    wait_applied(c, index)
    assert_agree(c)
  end)

  -- Large timeouts: nothing happens but what the test does.
  local QUIET = { election_timeout_min = 10, election_timeout_max = 20, heartbeat_interval = 1,
                  pre_vote = false, check_quorum = false }

  it("a candidate falls back to follower on AppendEntries of its term; held votes released late change nothing", function()
    local c = cluster{ n = 3, raft = QUIET }
    local n1, n2, n3 = c.nodes[1], c.nodes[2], c.nodes[3]
    c.net:intercept(function(m)
      if m.type == "RequestVote" and (m.source == "n3" or m.destination == "n3") then return "hold" end
    end)
    n3:campaign() -- term 1, its RequestVotes held
    assert.equal("candidate", n3.state)
    assert.equal(1, n3.current_term)
    assert.equal("n3", n3.voted_for)
    n1:campaign() -- term 1 too; n2 has not voted in term 1 and grants
    c.sim:run_until(c.sim.now + 0.01)
    assert.is_true(n1.is_leader)
    assert.equal(1, n1.current_term)
    assert.equal("n1", n2.voted_for)
    -- n3 got the leader's AppendEntries of its own term: it falls back, keeping its vote
    assert.equal("follower", n3.state)
    assert.equal(1, n3.current_term)
    assert.equal("n1", n3.current_leader)
    assert.equal("n3", n3.voted_for)
    local held = c.net:held()
    assert.equal(3, #held) -- n3 -> n1, n3 -> n2, n1 -> n3
    for _, m in ipairs(held) do assert.is_true(c.net:deliver_held(m.id)) end
    c.sim:run_until(c.sim.now + 0.01)
    -- every vote was already given in term 1: nothing changes
    assert.is_true(n1.is_leader)
    assert.equal(1, n3.stats.votes_received) -- its own only
    for _, n in ipairs(c.nodes) do assert.equal(1, n.current_term) end
    assert.equal("n3", n3.voted_for)
    assert.equal("n1", n2.voted_for)
    local index = commit(c, n1, set("x", 1))
    wait_applied(c, index)
    assert_agree(c)
  end)

  it("a RequestVote of an old term, released after a newer election, is ignored", function()
    local c = cluster{ n = 3, raft = QUIET }
    local n1, n2, n3 = c.nodes[1], c.nodes[2], c.nodes[3]
    c.net:intercept(function(m)
      if m.type == "RequestVote" and m.source == "n2" and m.destination == "n3" then return "hold" end
    end)
    n1:campaign()
    c.sim:run_until(c.sim.now + 0.01)
    assert.is_true(n1.is_leader)
    n2:campaign() -- term 2: n1 grants (check-quorum off, n2's log is as fresh), n3's request held
    c.sim:run_until(c.sim.now + 0.01)
    assert.is_true(n2.is_leader)
    assert.equal(2, n3.current_term) -- learned from n2's AppendEntries
    assert.is_nil(n3.voted_for)
    n3:campaign() -- term 3
    c.sim:run_until(c.sim.now + 0.01)
    assert.is_true(n3.is_leader)
    assert.equal(3, n3.current_term)
    local held = c.net:held()
    assert.equal(1, #held)
    assert.equal("RequestVote", held[1].type)
    c.net:deliver_held(held[1].id)
    c.sim:run_until(c.sim.now + 0.01)
    assert.is_true(n3.is_leader)
    assert.equal("n3", n3.voted_for)
    for _, n in ipairs(c.nodes) do assert.equal(3, n.current_term) end
    assert.equal(1, #live_leaders(c))
    local index = commit(c, n3, set("x", 3))
    wait_applied(c, index)
    assert_agree(c)
  end)

  it("a follower ignores an AppendEntries of a deposed leader's term, released after the new election", function()
    local c = cluster{ n = 3, raft = QUIET }
    local n1, n2, n3 = c.nodes[1], c.nodes[2], c.nodes[3]
    n1:campaign()
    c.sim:run_until(c.sim.now + 0.01)
    assert.is_true(n1.is_leader)
    commit(c, n1, set("a", 1))
    -- n1's next AppendEntries to n3 is held: n3 does not have the entry
    c.net:intercept(function(m)
      if m.type == "AppendEntries" and m.source == "n1" and m.destination == "n3" then return "hold" end
    end)
    local f = n1:submit(set("b", 2))
    c.sim:run_until(c.sim.now + 0.01)
    assert.equal(3, n1.log_length)
    assert.equal(2, n3.log_length)
    assert.is_true(f.done) -- n1 and n2 are a quorum
    -- n3 campaigns in term 2 and loses (its log is behind n2's); n2 then wins term 3
    n3:campaign()
    c.sim:run_until(c.sim.now + 0.01)
    assert.equal(2, n3.current_term)
    assert.equal("follower", n3.state) -- rejected by a majority, it gave up (as etcd's raft does)
    assert.is_nil(n3.current_leader)
    assert.is_false(n1.is_leader) -- it saw term 2
    n2:campaign()
    c.sim:run_until(c.sim.now + 0.01)
    assert.is_true(n2.is_leader)
    assert.equal(3, n2.current_term)
    local log3 = n3.log
    -- the held term-1 AppendEntries reaches n3 now: stale, ignored
    for _, m in ipairs(c.net:held()) do c.net:deliver_held(m.id) end
    c.sim:run_until(c.sim.now + 0.002)
    assert.equal(3, n3.current_term)
    assert.equal("n2", n3.current_leader)
    assert.is_true(#n3.log >= #log3)
    for i, e in ipairs(n3.log) do assert.equal(n2.log[i].term, e.term) end
    local index = commit(c, n2, set("c", 3))
    wait_applied(c, index)
    assert.same({ a = 1, b = 2, c = 3 }, kv_data(n3))
    assert_agree(c)
  end)

  it("pre-vote keeps an isolated node's term from disrupting the cluster when it rejoins", function()
    local function isolate(raft)
      local c = cluster{ n = 5, raft = raft }
      local l = wait_leader(c)
      local lone = l == c.nodes[5] and c.nodes[4] or c.nodes[5]
      local rest = {}
      for _, n in ipairs(c.nodes) do if n ~= lone then rest[#rest + 1] = n end end
      local term = l.current_term
      local p = c.net:partition({ lone }, rest)
      c.sim:run_until(c.sim.now + 3) -- ten or more election timeouts
      local during = { term = lone.current_term, pre = lone.stats.pre_votes_started,
                       elections = lone.stats.elections_started }
      p:heal()
      local l2 = wait_leader(c)
      commit(c, l2, set("x", 1))
      assert_agree(c)
      return c, l, l2, term, during, lone
    end
    -- with pre-vote: the lone node keeps asking for pre-votes, never takes a new term
    local c, l, l2, term, during, lone = isolate{ pre_vote = true }
    assert.equal(term, during.term)
    assert.is_true(during.pre >= 8, "pre-votes: " .. during.pre)
    assert.equal(0, during.elections - 0 * during.elections)
    assert.equal(l, l2)
    assert.equal(term, l2.current_term)
    assert.equal(term, lone.current_term)
    assert.equal(l.name, lone.current_leader)
    -- without pre-vote (nor check-quorum): its term runs away, and rejoining deposes the leader
    local c2, m, m2, term2, during2 = isolate{ pre_vote = false, check_quorum = false }
    assert.is_true(during2.term >= term2 + 8, "term " .. during2.term)
    assert.is_true(m2.current_term > during2.term - 1)
    assert.is_true(m.stats.elections_won >= 1)
    assert.is_false(c2.checker.violated)
    assert.is_false(c.checker.violated)
  end)

  it("stays safe and converges when every message is duplicated or delayed out of order", function()
    local c = cluster{ n = 5 }
    local rnd = c.sim:random("interleave")
    c.net:intercept(function(m)
      local u = rnd:random()
      if u < 0.3 then return "duplicate" end
      if u < 0.6 then return rnd:uniform(0, 0.02) end -- overtaken by later messages
    end)
    local l = wait_leader(c)
    local fs = {}
    for i = 1, 50 do fs[i] = l:submit(set("k" .. (i % 5), i)) end
    local last
    for _, f in ipairs(fs) do last = settle(c, f) end
    wait_applied(c, last)
    for _, n in ipairs(c.nodes) do assert.equal(last, n.log_length) end
    assert.same({ k0 = 50, k1 = 46, k2 = 47, k3 = 48, k4 = 49 }, kv_data(l))
    assert_agree(c)
  end)
end)

describe("RaftNode and garbage", function()
  it("ignores malformed protocol messages from anyone, counts them, and keeps working", function()
    local c = cluster{ n = 3 }
    local l = wait_leader(c)
    local evil = network_client(c)
    local r = c.sim:random("garbage")
    local types = { "RequestVote", "PreVote", "AppendEntries", "AppendEntriesResponse", "Heartbeat",
                    "InstallSnapshot", "TimeoutNow", "submit", "read" }
    c.sim:spawn(function()
      for i = 1, 3000 do
        local bytes = {}
        for j = 1, r:random(0, 120) do bytes[j] = string.char(r:random(0, 255)) end
        -- a protocol header with a lying entry count, now and then
        if i % 7 == 0 then bytes = { "\1\4\0\0", string.rep("\0", 64), "\255\255\255\127", string.rep("\0", 12) } end
        local payload = i % 3 == 0 and { table.concat(bytes), i } or table.concat(bytes)
        c.net:send(evil, c.nodes[r:random(1, 3)], types[r:random(1, #types)], payload)
        if i % 100 == 0 then hs.sleep(0.001) end
      end
    end)
    c.sim:run_until(c.sim.now + 1)
    local malformed = 0
    for _, n in ipairs(c.nodes) do malformed = malformed + n.stats.malformed_messages end
    assert.is_true(malformed > 100, "malformed messages counted: " .. malformed)
    local l2 = wait_leader(c)
    commit(c, l2, set("still", "working"))
    wait_applied(c, l2.commit_index)
    assert_agree(c)
  end)
end)

describe("RaftNode between runs (regressions)", function()
  it("a constructor that raises leaves no half-built node registered", function()
    local sim = hs.Simulation{ seed = 1 }
    local net = hs.Network{ sim = sim, default_link = hs.datacenter_network() }
    raises("item 2 must be a RaftNode or a name", function() hs.RaftNode{ name = "a", network = net, peers = { "b", {} } } end)
    raises("field 'checker' must be", function() hs.RaftNode{ name = "a", network = net, checker = {} } end)
    assert.is_nil(sim:summary().entities.a)
    local a = hs.RaftNode{ name = "a", network = net, peers = { "b" } } -- the name is free
    local b = hs.RaftNode{ name = "b", network = net, peers = { "a" } }
    a:start()
    b:start()
    sim:run_until(5)
    assert.is_true(a.is_leader or b.is_leader)
  end)

  it("messages sent by calls between runs go through the network's filter", function()
    local c = cluster{ n = 3, raft = { pre_vote = false } }
    local seen = {}
    c.net:intercept(function(m) seen[#seen + 1] = m.type .. " " .. m.source .. "->" .. m.destination end)
    c.nodes[1]:campaign()
    assert.same({ "RequestVote n1->n2", "RequestVote n1->n3" }, seen)
    -- a filter that raises between runs raises at the call that sent
    c.net:intercept(function() error("filter boom") end)
    raises("filter boom", function() c.nodes[2]:campaign() end)
  end)

  it("crash() between runs settles the node's futures; restart() rebuilds its state machine", function()
    local c = cluster{ n = 3 }
    local l = wait_leader(c)
    commit(c, l, set("a", 1))
    local rest = {}
    for _, n in ipairs(c.nodes) do if n ~= l then rest[#rest + 1] = n end end
    c.net:partition({ l }, rest)
    local f = l:submit(set("b", 2))
    l:crash()
    assert.equal("crashed", f.error.code)
    l:restart()
    assert.same({}, kv_data(l))
    assert.equal("follower", l.history[#l.history].role)
  end)
end)
