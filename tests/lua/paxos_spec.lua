-- hs.PaxosNode, hs.MultiPaxosNode, hs.FlexiblePaxosNode and hs.PaxosChecker through the whole
-- stack: the Lua binding (engine/lua/protocols/hs_lua_paxos_node.c), the simulator adapter
-- (engine/paxos/hs_paxos_node.c), the network and the invariant checker. The protocol cores
-- have their own cmocka tests (tests/c/test_paxos_*.c, test_mpaxos_paper.c); these check what a
-- Lua user sees: decisions under loss, a replicated KV store, client futures (never left
-- hanging), reads, sessions, durability, Flexible Paxos quorums, order of construction, misuse.
local hs = require("happysim")

local FAST = { leader_lease_timeout = 0.15, election_timeout_max = 0.3, heartbeat_interval = 0.05 }

local function error_of(fn)
  local ok, err = pcall(fn)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

local function names_of(n)
  local names = {}
  for i = 1, n do names[i] = "n" .. i end
  return names
end

-- A Multi-Paxos (or Flexible Paxos) cluster n1..nN on a network, watched by one PaxosChecker.
-- opts: n, seed, link, class ("MultiPaxosNode" default), node = { extra options },
-- sm = function(i) -> state machine, start = false to leave them stopped, checker_stops = false
-- for a checker that records violations without stopping the run.
local function cluster(opts)
  opts = opts or {}
  local sim = hs.Simulation{ seed = opts.seed or 1 }
  local net = hs.Network{ sim = sim, name = "paxos", default_link = opts.link or hs.datacenter_network() }
  local checker = hs.PaxosChecker{ stop = opts.checker_stops ~= false }
  local names, nodes, by = names_of(opts.n or 5), {}, {}
  for i, name in ipairs(names) do
    local o = { name = name, network = net, peers = names, checker = checker }
    for k, v in pairs(FAST) do o[k] = v end
    for k, v in pairs(opts.node or {}) do o[k] = v end
    if opts.sm then o.state_machine = opts.sm(i) end
    nodes[i] = hs[opts.class or "MultiPaxosNode"](o)
    by[name] = nodes[i]
  end
  if opts.start ~= false then
    for _, n in ipairs(nodes) do n:start() end
  end
  return { sim = sim, net = net, checker = checker, nodes = nodes, by = by, names = names }
end

local function run_until(c, pred, limit, what)
  local deadline = c.sim.now + (limit or 10)
  while not pred() do
    if c.sim.now >= deadline then error(("timed out waiting for %s (t=%.3f)"):format(what or "a condition", c.sim.now), 2) end
    c.sim:run_until(c.sim.now + 0.005)
  end
end

local function live_leaders(c)
  local out = {}
  for _, n in ipairs(c.nodes) do
    if not n.crashed and n.is_leader then out[#out + 1] = n end
  end
  return out
end

-- The live leader every other live node not cut off from it follows, other than `except`.
local function wait_leader(c, except, limit)
  local leader
  run_until(c, function()
    leader = nil
    for _, n in ipairs(live_leaders(c)) do
      if n ~= except and (not leader or n.ballot.number > leader.ballot.number) then leader = n end
    end
    if not leader then return false end
    for _, n in ipairs(c.nodes) do
      if not n.crashed and not c.net:is_partitioned(leader, n) and n.current_leader ~= leader.name then return false end
    end
    return true
  end, limit, "a leader")
  return leader
end

local function settle(c, f, limit)
  run_until(c, function() return f.done end, limit or 10, "a future to settle")
  return f:result()
end

local function set(key, value) return { op = "set", key = key, value = value } end

local function commit(c, node, cmd)
  local index, result = settle(c, node:submit(cmd))
  assert(index, "submit failed: " .. tostring(result))
  return index, result
end

local function wait_applied(c, index)
  run_until(c, function()
    for _, n in ipairs(c.nodes) do
      if not n.crashed and n.last_applied < index then return false end
    end
    return true
  end, 20, "slot " .. index .. " applied everywhere")
end

local function assert_agree(c)
  local ref
  for _, n in ipairs(c.nodes) do
    if not n.crashed then
      local d = hs.core.encode(n.state_machine.data)
      ref = ref or d
      assert.equal(ref, d, n.name .. "'s state machine differs")
    end
  end
  local ok, violation = c.checker:check()
  assert(ok, violation)
end

local function follower_of(c, leader)
  for _, n in ipairs(c.nodes) do
    if n ~= leader and not n.crashed then return n end
  end
end

-- ---------------------------------------------------------------------------------------------

describe("PaxosNode (single-decree)", function()
  local function sd_cluster(opts)
    opts = opts or {}
    local sim = hs.Simulation{ seed = opts.seed or 1 }
    local net = hs.Network{ sim = sim, name = "sd", default_link = opts.link or hs.datacenter_network() }
    local checker = hs.PaxosChecker()
    local names, nodes = names_of(opts.n or 5), {}
    for i, name in ipairs(names) do
      nodes[i] = hs.PaxosNode{ name = name, network = net, peers = names, checker = checker,
                               retry_delay = opts.retry_delay or 0.05 }
    end
    return { sim = sim, net = net, nodes = nodes, checker = checker, names = names }
  end

  it("decides the proposed value, and every node learns it", function()
    local c = sd_cluster()
    local f = c.nodes[1]:propose("hello")
    local v = settle(c, f)
    assert.equal("hello", v)
    run_until(c, function()
      for _, n in ipairs(c.nodes) do if not n.is_decided then return false end end
      return true
    end, 5, "every node to learn")
    for _, n in ipairs(c.nodes) do
      assert.equal("hello", n.decided_value)
      assert.equal("hello", n.stats.decided_value)
    end
    local s = c.nodes[1].stats
    assert.equal(1, s.proposals_started)
    assert.equal(1, s.proposals_succeeded)
    assert.is_true(s.promises_received >= 2)
    assert.is_true(s.accepts_received >= 2)
    assert.is_true(s.messages_sent > 0)
    assert.equal(3, c.nodes[1].quorum_size)
    assert.is_true(c.checker:check())
    assert.is_true(c.checker.chosen >= 1)
  end)

  it("decides one value under message loss with competing proposers, retrying with higher ballots", function()
    local retried = 0
    for seed = 1, 10 do
      local c = sd_cluster{ seed = seed, link = hs.lossy_network(0.3) }
      local fs = {}
      for i = 1, 3 do fs[i] = c.nodes[i]:propose("v" .. i) end
      local decided
      for i = 1, 3 do
        local v = settle(c, fs[i], 60)
        decided = decided or v
        assert.equal(decided, v, "seed " .. seed .. ": proposers disagree")
      end
      assert.matches("^v[123]$", decided)
      run_until(c, function()
        for _, n in ipairs(c.nodes) do if n.decided_value ~= decided then return false end end
        return true
      end, 60, "every node to learn under loss")
      for i = 1, 3 do retried = retried + c.nodes[i].stats.proposals_failed end
      assert.is_true(c.checker:check())
    end
    assert.is_true(retried > 0, "loss and duelling proposers should make some rounds fail")
  end)

  it("follows the seed's order: set_peers, propose, start_phase1; a late proposal gets the decision", function()
    local sim = hs.Simulation{ seed = 3 }
    local net = hs.Network{ sim = sim, name = "sd", default_link = hs.datacenter_network() }
    local a = hs.PaxosNode{ name = "a", network = net }
    local b = hs.PaxosNode{ name = "b", network = net }
    local p = hs.PaxosNode{ name = "p", network = net }
    a:set_peers{ b, p }
    b:set_peers{ "a", "p" }
    p:set_peers{ a, b }
    local f = a:propose(42)
    assert.is_true(a:start_phase1())
    sim:run_until(1)
    assert.equal(42, f.value)
    assert.equal(2, a.stats.ballots_tried) -- propose's round, then start_phase1's
    local late = p:propose(7)
    assert.is_true(late.done) -- p knows the decision already
    assert.equal(42, late.value)
    assert.is_false(p:start_phase1()) -- decided: nothing to do
    assert.equal(42, b.decided_value)
  end)

  it("rejects the proposals of a proposer that crashes before deciding", function()
    local c = sd_cluster()
    local f = c.nodes[1]:propose("x")
    c.nodes[1]:crash()
    assert.is_true(f.done)
    assert.equal("crashed", f.error.code)
    c.nodes[1]:restart()
    local v = settle(c, c.nodes[2]:propose("y"))
    assert.equal("y", v)
  end)
end)

describe("MultiPaxosNode", function()
  it("elects one leader and replicates commands; every state machine agrees", function()
    local c = cluster{ n = 5 }
    local l = wait_leader(c)
    assert.equal(1, #live_leaders(c))
    assert.equal("leader", l.role)
    assert.equal(hs.MultiPaxosRole.LEADER, l.state)
    local fs = {}
    for i = 1, 20 do fs[i] = l:submit(set("k" .. (i % 7), i)) end
    fs[21] = l:submit{ op = "cas", key = "k1", expected = 15, value = "cas!" }
    fs[22] = l:submit{ op = "cas", key = "k1", expected = 15, value = "again" }
    local last
    for i, f in ipairs(fs) do
      local index, result = settle(c, f)
      assert(index, tostring(result))
      if last then assert.equal(last + 1, index) end
      last = index
      if i <= 20 then assert.equal(i, result) end
    end
    assert.is_true(fs[21].values[2])
    assert.is_false(fs[22].values[2])
    wait_applied(c, last)
    assert_agree(c)
    assert.equal("cas!", l.state_machine.data.k1)
    local s = l.stats
    assert.is_true(s.is_leader)
    assert.equal(last, s.commit_index)
    assert.equal(last, s.log_length)
    assert.equal(22, s.commands_committed)
    assert.is_true(s.current_ballot >= 1)
    assert.equal(1, s.elections_won)
    assert.is_true(s.ballots_tried >= 1)
    assert.is_true(s.messages_sent > 0)
    assert.equal(3, s.phase1_quorum)
    assert.equal(3, s.phase2_quorum)
    local e = l.log[1]
    assert.equal(1, e.slot)
    assert.equal("normal", e.type)
    assert.is_true(e.chosen)
    assert.same(set("k1", 1), e.command)
    assert.equal(l.name, e.ballot.node_id)
    local h = l.history[#l.history]
    assert.equal("leader", h.role)
    assert.equal(l.name, h.leader)
    assert.equal(l.ballot.number, h.ballot.number)
    assert.is_number(h.time)
  end)

  it("refuses a submit on a follower with not_leader and the leader's name", function()
    local c = cluster{ n = 3 }
    local l = wait_leader(c)
    for _, n in ipairs(c.nodes) do
      if n ~= l then
        local f = n:submit(set("x", 1))
        assert.is_true(f.done)
        assert.equal("not_leader", f.error.code)
        assert.equal(l.name, f.error.leader)
        assert.equal(l.name, n.current_leader)
        local rf = n:read{ op = "get", key = "x" }
        assert.equal("not_leader", rf.error.code)
      end
    end
  end)

  it("before any election, a submit is refused with no leader hint", function()
    local c = cluster{ n = 3 }
    local f = c.nodes[1]:submit(set("x", 1))
    assert.equal("not_leader", f.error.code)
    assert.is_nil(f.error.leader)
  end)

  it("reads through the log: a read sees every write acknowledged before it", function()
    local c = cluster{ n = 5 }
    local l = wait_leader(c)
    commit(c, l, set("x", 1))
    local w = l:submit(set("x", 2))
    local r = l:read{ op = "get", key = "x" }
    local wi = settle(c, w)
    local ri, v = settle(c, r)
    assert.equal(wi + 1, ri)
    assert.equal(2, v)
    assert.equal("read", l.log[ri].type)
    assert.same({ op = "get", key = "x" }, l.log[ri].query)
    assert.equal(1, l.stats.reads_served)
    local bad = l:read{ op = "put", key = "x" }
    local _, err = settle(c, bad)
    assert.equal("read_failed", err.code)
  end)

  it("answers 'submit' and 'read' requests over the network like a RaftNode", function()
    local c = cluster{ n = 3 }
    local l = wait_leader(c)
    local client = hs.Entity{ name = "client", handle_event = function() end }
    c.sim:register(client)
    local replies = {}
    c.sim:spawn(function()
      replies[1] = hs.await(c.net:request(client, l, "submit", set("a", 1)))
      replies[2] = hs.await(c.net:request(client, l, "read", { op = "get", key = "a" }))
      replies[3] = hs.await(c.net:request(client, follower_of(c, l), "submit", set("a", 2)))
      replies[4] = hs.await(c.net:request(client, l, "submit", { op = "frobnicate" }))
      replies[5] = hs.await(c.net:request(client, l, "Hello", 1))
    end)
    run_until(c, function() return replies[5] ~= nil end, 5, "the replies")
    assert.is_true(replies[1].ok)
    assert.equal(1, replies[1].result)
    assert.is_true(replies[2].ok)
    assert.equal(1, replies[2].result)
    assert.equal(replies[1].index + 1, replies[2].index)
    assert.is_false(replies[3].ok)
    assert.equal("not_leader", replies[3].error.code)
    assert.equal(l.name, replies[3].error.leader)
    assert.equal("invalid_command", replies[4].error.code)
    assert.equal("bad_request", replies[5].error.code)
  end)

  it("answers a duplicated network submit once; a repeated session request is applied once", function()
    local c = cluster{ n = 3 }
    local l = wait_leader(c)
    c.net:intercept(function(m) if m.type == "submit" then return "duplicate" end end)
    local client = hs.Entity{ name = "client", handle_event = function() end }
    c.sim:register(client)
    local reply
    c.sim:spawn(function() reply = hs.await(c.net:request(client, l, "submit", { op = "cas", key = "c", value = 1 })) end)
    run_until(c, function() return reply ~= nil end, 5, "the reply")
    c.sim:run_until(c.sim.now + 0.5)
    assert.is_true(reply.ok)
    assert.is_true(reply.result)
    assert.equal(1, l.stats.duplicate_requests) -- the copy was recognised and dropped
    local entries = 0
    for _, e in ipairs(l.log) do if e.client == "client" then entries = entries + 1 end end
    assert.equal(1, entries)
    -- a session request submitted twice (a client retrying) is applied once: the second gets the
    -- first's result (and would on another leader too: sessions are replicated state)
    local f1 = l:submit({ op = "cas", key = "d", value = 1 }, { client = "c9", request_id = 7 })
    local f2 = l:submit({ op = "cas", key = "d", value = 1 }, { client = "c9", request_id = 7 })
    local _, r1 = settle(c, f1)
    local _, r2 = settle(c, f2)
    assert.is_true(r1)
    assert.is_true(r2) -- the first result, not a failed second cas
    assert.equal(1, l.stats.duplicate_commands)
  end)

  it("rejects the pending commands of a crashed leader; a new leader takes over and a restarted node catches up", function()
    local c = cluster{ n = 5 }
    local l = wait_leader(c)
    for i = 1, 5 do commit(c, l, set("k", i)) end
    local pending = l:submit(set("k", 99))
    l:crash()
    assert.is_true(pending.done)
    assert.equal("crashed", pending.error.code)
    local l2 = wait_leader(c, l)
    local index = commit(c, l2, set("k", 6))
    assert.is_true(index >= 6)
    l:restart()
    assert.equal(0, l.stats.crashed and 1 or 0)
    wait_applied(c, l2.commit_index)
    assert_agree(c)
    -- what it applied again after the restart is the chosen prefix: the same state
    assert.equal(6, l.state_machine.data.k)
    assert.is_false(l.is_leader)
  end)

  it("reports lost when a deposed leader's command loses its slot", function()
    local c = cluster{ n = 5 }
    local l = wait_leader(c)
    commit(c, l, set("a", 1))
    local others = {}
    for _, n in ipairs(c.nodes) do if n ~= l then others[#others + 1] = n end end
    local p = c.net:partition({ l }, others)
    local f = l:submit(set("a", 2)) -- accepted by the leader alone
    local l2 = wait_leader(c, l)
    commit(c, l2, set("a", 3))
    p:heal()
    local _, err = settle(c, f, 10)
    assert.equal("lost", err.code)
    wait_applied(c, l2.commit_index)
    assert_agree(c)
    assert.equal(3, l.state_machine.data.a)
    assert.is_true(l.stats.proposals_lost >= 1)
  end)

  it("a Lua state machine (apply, restore, read, validate) works and survives a restart", function()
    local function sm()
      return { total = 0,
        validate = function(_, cmd) if math.type(cmd) ~= "integer" then return false, "integers only" end return true end,
        apply = function(self, cmd) self.total = self.total + cmd; return self.total end,
        restore = function(self, snap) self.total = snap or 0 end,
        read = function(self) return self.total end }
    end
    local c = cluster{ n = 3, sm = sm }
    local l = wait_leader(c)
    assert.matches("bad argument #1 to 'submit' (invalid command: integers only)",
                   error_of(function() local f = l:submit("x"); return f end), 1, true)
    for i = 1, 4 do commit(c, l, i) end
    local _, total = settle(c, l:read("total"))
    assert.equal(10, total)
    local f = follower_of(c, l)
    f:crash()
    f:restart()
    wait_applied(c, l.commit_index)
    assert.equal(10, f.state_machine.total)
  end)

  it("an error in a Lua state machine stops the run, naming the node (through the door)", function()
    local function sm()
      return { apply = function(_, cmd) if cmd == "boom" then error("kaboom") end return cmd end,
               restore = function() end }
    end
    local c = cluster{ n = 3, sm = sm }
    local l = wait_leader(c)
    commit(c, l, "fine")
    l:submit("boom")
    local err = error_of(function() c.sim:run_until(c.sim.now + 1) end)
    assert.matches("kaboom", err, 1, true)
    assert.matches("state machine apply", err, 1, true)
  end)

  it("a leader cut off from a quorum steps down; the others elect another", function()
    local c = cluster{ n = 5 }
    local l = wait_leader(c)
    local others = {}
    for _, n in ipairs(c.nodes) do if n ~= l then others[#others + 1] = n end end
    c.net:partition({ l }, others)
    local l2 = wait_leader(c, l)
    run_until(c, function() return not l.is_leader end, 2, "the old leader to step down")
    assert.is_true(l2.ballot.number > 0)
    assert.is_true(l2.stats.leader_changes >= 1)
    assert.is_true(c.checker:check())
  end)

  it("counts forged protocol messages as malformed and carries on", function()
    local c = cluster{ n = 3 }
    local l = wait_leader(c)
    local rogue = hs.Entity{ name = "rogue", handle_event = function() end }
    c.sim:register(rogue)
    c.net:send(rogue, l, "Accept", "not a paxos message")
    c.net:send(rogue, l, "Prepare", string.rep("\255", 64))
    c.sim:run_until(c.sim.now + 0.1)
    assert.equal(2, l.stats.malformed_messages)
    commit(c, l, set("ok", true))
  end)

  it("forged protocol messages (hs_paxos_msg's format, random fields) are refused or handled, never a crash", function()
    local WIRE = { "Prepare", "Promise", "Accept", "Accepted", "Nack", "Chosen", "ChosenAck", "Heartbeat",
                   "HeartbeatResponse" }
    for seed = 1, 5 do
      local c = cluster{ n = 3, seed = seed, checker_stops = false, sm = function() -- forged commands meet Lua
        return { n = 0, apply = function(self) self.n = self.n + 1; return self.n end,
                 restore = function(self) self.n = 0 end, read = function(self) return self.n end }
      end }
      -- forged messages can claim anything (a value chosen that was not): only the engine's
      -- robustness is checked here, not Paxos' safety against a Byzantine sender
      local rogue = hs.Entity{ name = "rogue", handle_event = function() end }
      c.sim:register(rogue)
      local r = c.sim:random("forge")
      local function counter()
        local k = r:random(1, 20)
        if k <= 9 then return r:random(0, 5) elseif k <= 18 then return r:random(0, 1000) end
        return k == 19 and -1 or (1 << 62) - r:random(0, 2)
      end
      local function bytes(n)
        local t = {}
        for j = 1, n do t[j] = string.char(r:random(0, 255)) end
        return table.concat(t)
      end
      local function ballot() return string.pack("<i8I4", counter(), r:random(0, 4)) end
      wait_leader(c)
      for _ = 1, 300 do
        local ty = r:random(0, #WIRE - 1)
        local values = {}
        for k = 1, r:random(0, 3) do
          local data = r:random() < 0.5 and hs.core.encode(k) or bytes(r:random(0, 12))
          if r:random() < 0.2 then data = string.char(r:random() < 0.5 and 0xC5 or 0xC6) .. bytes(r:random(0, 20)) end
          local noop = r:random() < 0.2
          if noop then data = "" end
          values[k] = string.pack("<i8", counter()) .. ballot() .. ballot() .. string.char(noop and 1 or 0, r:random(0, 1))
            .. string.pack("<I4", #data) .. data
        end
        local to = r:random(1, 3)
        local msg = string.char(1, ty, 0, 0) .. string.pack("<I4I4", r:random(0, 4), to) .. ballot() .. ballot()
          .. string.pack("<i8i8i8I4", counter(), counter(), counter(), #values) .. table.concat(values)
        if r:random() < 0.1 then msg = msg:sub(1, r:random(1, #msg)) end
        c.net:send(rogue, c.nodes[to], WIRE[ty + 1], msg)
        c.sim:run_until(c.sim.now + r:random() * 0.01)
      end
      c.sim:run_until(c.sim.now + 1)
      local malformed = 0
      for _, n in ipairs(c.nodes) do malformed = malformed + n.stats.malformed_messages end
      assert.is_true(malformed > 0, "seed " .. seed)
    end
  end)

  it("is deterministic: the same seed gives the same trace", function()
    local function run(seed)
      local c = cluster{ n = 5, seed = seed, link = hs.lossy_network(0.05) }
      local l = wait_leader(c)
      for i = 1, 10 do commit(c, l, set("k", i)) end
      return c.sim:summary().trace_hash
    end
    assert.equal(run(5), run(5))
    assert.are_not.equal(run(5), run(6))
  end)
end)

describe("FlexiblePaxosNode", function()
  it("commits with a phase-2 quorum of 2 out of 5 (phase 1: 4)", function()
    local c = cluster{ n = 5, class = "FlexiblePaxosNode", node = { phase1_quorum = 4, phase2_quorum = 2 } }
    local l = wait_leader(c)
    assert.equal(4, l.phase1_quorum)
    assert.equal(2, l.phase2_quorum)
    for i = 1, 10 do commit(c, l, set("k", i)) end
    wait_applied(c, l.commit_index)
    assert_agree(c)
    assert.equal(2, c.checker.phase2_quorum)
    local s = l.stats
    assert.equal(4, s.phase1_quorum)
    assert.equal(2, s.phase2_quorum)
  end)

  it("one size alone gets the smallest other that intersects it", function()
    local c = cluster{ n = 5, class = "FlexiblePaxosNode", node = { phase2_quorum = 1 } }
    assert.equal(5, c.nodes[1].phase1_quorum)
    local l = wait_leader(c)
    commit(c, l, set("k", 1))
  end)

  it("refuses quorums that do not intersect, at construction and at set_peers", function()
    local net = hs.Network{ name = "net" }
    local err = error_of(function()
      local n = hs.FlexiblePaxosNode{ name = "n1", network = net, peers = names_of(5), phase1_quorum = 2, phase2_quorum = 3 }
      return n
    end)
    assert.matches("bad argument #1 to 'FlexiblePaxosNode' (quorum sizes phase1_quorum = 2 and phase2_quorum = 3 " ..
                   "do not intersect in a cluster of 5 members: Q1 + Q2 must exceed N)", err, 1, true)
    err = error_of(function()
      local n = hs.FlexiblePaxosNode{ name = "n1", network = net, peers = names_of(5), phase1_quorum = 6 }
      return n
    end)
    assert.matches("quorum", err, 1, true)
    local n = hs.FlexiblePaxosNode{ name = "n1", network = net, phase1_quorum = 3, phase2_quorum = 3 }
    n:set_peers{ "n2", "n3", "n4", "n5" } -- 3 + 3 > 5
    err = error_of(function() n:set_peers(names_of(6)) end) -- 3 + 3 = 6
    assert.matches("bad argument #1 to 'set_peers' (quorum sizes", err, 1, true)
    assert.matches("quorum", err, 1, true)
  end)
end)

describe("Paxos nodes: order of construction", function()
  local function world(first)
    local names = names_of(3)
    local sim = first and hs.Simulation{ seed = 9 } or nil
    local net = hs.Network{ sim = sim, name = "net", default_link = hs.datacenter_network() }
    local nodes = {}
    for i, name in ipairs(names) do
      local o = { name = name, network = net, peers = names }
      for k, v in pairs(FAST) do o[k] = v end
      nodes[i] = hs.MultiPaxosNode(o)
    end
    for _, n in ipairs(nodes) do n:start() end
    if not first then
      assert.is_false(nodes[1].attached)
      sim = hs.Simulation{ seed = 9, entities = { net, table.unpack(nodes) } }
    end
    sim:run_until(1)
    return sim, nodes
  end

  it("nodes built before the Simulation run exactly as when it comes first", function()
    local s1, n1 = world(true)
    local s2, n2 = world(false)
    assert.is_true(n2[1].attached)
    assert.equal(s1:summary().trace_hash, s2:summary().trace_hash)
    local leaders = 0
    for i = 1, 3 do
      assert.equal(n1[i].role, n2[i].role)
      if n2[i].is_leader then leaders = leaders + 1 end
    end
    assert.equal(1, leaders)
  end)

  it("a detached node raises naming the function; set_peers works before it attaches", function()
    local net = hs.Network{ name = "net", default_link = hs.datacenter_network() }
    local n = hs.MultiPaxosNode{ name = "n1", network = net, leader_lease_timeout = 0.15, heartbeat_interval = 0.05 }
    n:set_peers{ "n2", "n3" }
    assert.matches("submit: MultiPaxosNode 'n1' is not attached to a simulation yet",
                   error_of(function() local f = n:submit(1); return f end), 1, true)
    assert.matches("field 'is_leader' is not available: MultiPaxosNode 'n1' is not attached",
                   error_of(function() return n.is_leader end), 1, true)
    local p = hs.PaxosNode{ name = "p1", network = net }
    assert.matches("propose: PaxosNode 'p1' is not attached", error_of(function() local f = p:propose(1); return f end),
                   1, true)
    local n2 = hs.MultiPaxosNode{ name = "n2", network = net, peers = { n, "n3" }, leader_lease_timeout = 0.15,
                                  heartbeat_interval = 0.05 }
    local n3 = hs.MultiPaxosNode{ name = "n3", network = net, peers = { n, n2 }, leader_lease_timeout = 0.15,
                                  heartbeat_interval = 0.05 }
    for _, x in ipairs{ n, n2, n3 } do x:start() end
    local sim = hs.Simulation{ seed = 2, entities = { net, n, n2, n3 } }
    sim:run_until(2)
    local leaders = 0
    for _, x in ipairs{ n, n2, n3 } do if x.is_leader then leaders = leaders + 1 end end
    assert.equal(1, leaders)
    assert.same({ "n2", "n3" }, n.peers)
  end)
end)

describe("Paxos nodes: misuse", function()
  it("bad options raise at construction, naming the field", function()
    local net = hs.Network{ name = "net" }
    local cases = {
      { "MultiPaxosNode", { name = "a", network = net, bogus = 1 }, "unknown option 'bogus'" },
      { "MultiPaxosNode", { name = "a" }, "field 'network' is required" },
      { "MultiPaxosNode", { name = "a", network = net, leader_lease_timeout = -1 },
        "field 'leader_lease_timeout' must be a positive number" },
      { "MultiPaxosNode", { name = "a", network = net, heartbeat_interval = 6 },
        "field 'heartbeat_interval' must be below 'leader_lease_timeout'" },
      { "MultiPaxosNode", { name = "a", network = net, peers = { 5 } },
        "field 'peers': item 1 must be a Paxos node or a node name, got number" },
      { "MultiPaxosNode", { name = "a", network = net, checker = hs.RaftChecker() },
        "field 'checker' must be an hs.PaxosChecker" },
      { "MultiPaxosNode", { name = "a", network = net, state_machine = { apply = function() end } },
        "field 'state_machine' has no restore method" },
      { "MultiPaxosNode", { name = "a", network = net, phase1_quorum = 3 }, "unknown option 'phase1_quorum'" },
      { "FlexiblePaxosNode", { name = "a", network = net, phase2_quorum = 0 },
        "field 'phase2_quorum' must be an integer in [1, 64]" },
      { "PaxosNode", { name = "a", network = net, retry_delay = 0 }, "field 'retry_delay' must be a positive number" },
      { "PaxosNode", { name = "a", network = net, state_machine = {} }, "unknown option 'state_machine'" },
    }
    local build = { -- called by name, so that the error names the function
      MultiPaxosNode = function(o) return hs.MultiPaxosNode(o) end,
      FlexiblePaxosNode = function(o) return hs.FlexiblePaxosNode(o) end,
      PaxosNode = function(o) return hs.PaxosNode(o) end,
    }
    for _, case in ipairs(cases) do
      local err = error_of(function() return build[case[1]](case[2]) end)
      assert.matches("bad argument #1 to '" .. case[1] .. "' (" .. case[3], err, 1, true)
      assert.matches("paxos_spec.lua:%d+:", err)
    end
  end)

  it("methods raise on the wrong kind of node, on a stopped node, and when started twice", function()
    local c = cluster{ n = 3, start = false }
    local n = c.nodes[1]
    assert.matches("submit: MultiPaxosNode 'n1' is not started (call node:start())",
                   error_of(function() local f = n:submit(1); return f end), 1, true)
    n:start()
    assert.matches("start: MultiPaxosNode 'n1' is already started", error_of(function() n:start() end), 1, true)
    assert.matches("set_peers: MultiPaxosNode 'n1' is started: its members are fixed",
                   error_of(function() n:set_peers{ "n2" } end), 1, true)
    assert.is_nil(n.propose)
    local sim = hs.Simulation{}
    local net = hs.Network{ sim = sim, name = "sd" }
    local p = hs.PaxosNode{ name = "p", network = net }
    assert.is_nil(p.submit)
    assert.matches("start_phase1: PaxosNode 'p' has no value to propose (call propose(v) first)",
                   error_of(function() p:start_phase1() end), 1, true)
    assert.matches("bad argument #1 to 'set_peers' (list of nodes or names expected",
                   error_of(function() c.nodes[2]:set_peers("n1") end), 1, true)
  end)

  it("peers that disagree on the cluster refuse to start", function()
    local sim = hs.Simulation{}
    local net = hs.Network{ sim = sim, name = "net" }
    local a = hs.MultiPaxosNode{ name = "a", network = net, peers = { "b", "c" } }
    local b = hs.MultiPaxosNode{ name = "b", network = net, peers = { "a" } }
    hs.MultiPaxosNode{ name = "c", network = net, peers = { "a", "b" } }
    local err = error_of(function() a:start() end)
    assert.matches("start: MultiPaxosNode 'a' and its peer 'b' disagree on the cluster", err, 1, true)
    local d = hs.MultiPaxosNode{ name = "d", network = net, peers = { "ghost" } }
    assert.matches("start: MultiPaxosNode 'd' has an unknown peer 'ghost'", error_of(function() d:start() end), 1, true)
    local _ = b
  end)

  it("a checker watches one cluster", function()
    local sim = hs.Simulation{}
    local net = hs.Network{ sim = sim, name = "net" }
    local checker = hs.PaxosChecker()
    local a = hs.MultiPaxosNode{ name = "a", network = net, checker = checker }
    local b = hs.MultiPaxosNode{ name = "b", network = net, checker = checker }
    a:start()
    assert.matches("start: MultiPaxosNode 'b': its PaxosChecker watches another cluster",
                   error_of(function() b:start() end), 1, true)
  end)
end)
