-- Randomized Raft runs: for each seed, a 5-node cluster with a RaftChecker on every node
-- runs under random partitions (symmetric or not), message loss, duplication and reordering
-- (the link's parameters), crash/restart, leadership transfers and, on half the seeds,
-- membership changes (remove a voter, add it back), while clients submit commands, directly (node:submit) and over the
-- network (net:request). Each seed also draws the nodes' options (pre-vote, check-quorum,
-- snapshot threshold, batch size, pipelining). Then everything heals, every node becomes a
-- voter again, and the cluster must commit again and every node converge to the same state
-- machine, holding every acknowledged command exactly once; no future may be left pending.
-- Any violation fails with the seed.
--
-- The number of seeds: RAFT_RANDOM_SEEDS (default 300), from RAFT_RANDOM_FIRST (default 1).
-- Replay one seed: RAFT_RANDOM_FIRST=N RAFT_RANDOM_SEEDS=1 busted tests/lua/raft_random_spec.lua
--
-- Against a deliberately broken build (a follower may grant a second vote in a term), the
-- same runs must trip the checker instead:
--   cmake -S . -B /tmp/build-unsafe -DHS_BUILD_TESTS=OFF -DCMAKE_C_FLAGS=-DHS_RAFT_UNSAFE_DOUBLE_VOTE
--   cmake --build /tmp/build-unsafe -j2
--   LUA_CPATH="/tmp/build-unsafe/?.so;;" busted tests/lua/raft_random_spec.lua
local hs = require("happysim")

local SEEDS = tonumber(os.getenv("RAFT_RANDOM_SEEDS") or "") or 300
local FIRST = tonumber(os.getenv("RAFT_RANDOM_FIRST") or "") or 1
local CHAOS_S = 8 -- simulated seconds of faults
local NAMES = { "n1", "n2", "n3", "n4", "n5" }

-- A state machine that records which commands it applied, in order.
local function recorder_sm()
  local sm = { ids = {}, n = 0 }
  function sm:apply(cmd)
    self.n = self.n + 1
    self.ids[self.n] = cmd.id
    return self.n
  end
  function sm:snapshot()
    return { ids = { table.unpack(self.ids, 1, self.n) } }
  end
  function sm:restore(snap)
    self.ids = snap and { table.unpack(snap.ids) } or {}
    self.n = #self.ids
  end
  function sm:read() return self.n end
  return sm
end

local function pick(rnd, list) return rnd:choice(list) end

local function shuffled(rnd, list) return rnd:shuffle{ table.unpack(list) } end

-- One randomized run; raises on any failure. Returns a few numbers for the summary.
local function run_seed(seed)
  local sim = hs.Simulation{ seed = seed }
  local cfg = sim:random("config")
  local loss, dup, reorder = cfg:uniform(0, 0.1), cfg:uniform(0, 0.1), cfg:uniform(0, 0.3)
  local link = hs.NetworkLink{ latency = cfg:uniform(0.0005, 0.003), jitter = hs.dist.exponential(0.0005),
                               packet_loss_rate = loss, duplicate_rate = dup, reorder_rate = reorder,
                               reorder_delay = 0.02 }
  local net = hs.Network{ sim = sim, name = "raft", default_link = link }
  local checker = hs.RaftChecker()
  local snapshot_threshold = pick(cfg, { 0, 8, 30 })
  local pre_vote, check_quorum = cfg:random() < 0.75, cfg:random() < 0.75
  local nodes = {}
  for i, name in ipairs(NAMES) do
    nodes[i] = hs.RaftNode{ name = name, network = net, peers = NAMES, checker = checker,
                            state_machine = recorder_sm(), election_timeout_min = 0.15,
                            election_timeout_max = 0.3, heartbeat_interval = 0.05,
                            snapshot_threshold = snapshot_threshold, pre_vote = pre_vote,
                            check_quorum = check_quorum, max_entries_per_message = pick(cfg, { 1, 4, 64 }),
                            max_inflight = pick(cfg, { 1, 4, 32 }) }
  end
  for _, n in ipairs(nodes) do n:start() end

  local chaos = true
  local next_id = 0
  local acked = {}   -- id -> true: the command was applied (a client saw index, result)
  -- direct submissions have number ids, each applied at most once; network ones "r<n>" 
  local futures = {} -- direct submissions: every one must settle
  local stats = { crashes = 0, partitions = 0, acked = 0, changes = 0, transfers = 0 }
  local membership = cfg:random() < 0.5 -- half the seeds also change the membership
  local removed = {} -- node -> true: its removal committed (and it was not added back since)

  -- faults: partitions, heals, crashes and restarts at random times
  sim:spawn(function()
    local rnd = sim:random("faults")
    local part
    while chaos do
      hs.sleep(rnd:exponential(0.3))
      if not chaos then break end
      local u = rnd:random()
      if u < 0.3 then
        if part then part:heal() end
        local order = shuffled(rnd, nodes)
        local k = rnd:random(2)
        local a, b = {}, {}
        for i, n in ipairs(order) do
          if i <= k then a[#a + 1] = n else b[#b + 1] = n end
        end
        part = net:partition(a, b, { asymmetric = rnd:random() < 0.2 })
        stats.partitions = stats.partitions + 1
      elseif u < 0.5 then
        if part then part:heal() end
        part = nil
      elseif u < 0.75 then
        local n = pick(rnd, nodes)
        if not n.crashed then
          n:crash()
          stats.crashes = stats.crashes + 1
        end
      elseif u < 0.85 then
        local n = pick(rnd, nodes)
        if n.crashed then n:restart() end
      elseif not membership or rnd:random() < 0.4 then
        -- a leadership transfer from whoever leads to anyone (itself, a crashed or removed
        -- node too: those end in timeout or invalid)
        local leader
        for _, n in ipairs(nodes) do if n.is_leader then leader = n end end
        if leader then
          local f = leader:transfer_leadership(pick(rnd, nodes))
          futures[#futures + 1] = f
          f:on_settle(function(done) if done.ok then stats.transfers = stats.transfers + 1 end end)
        end
      else
        -- a membership change through whoever leads: remove a voter, or add back a removed one
        local leader
        for _, n in ipairs(nodes) do if n.is_leader then leader = n end end
        if leader then
          local target = next(removed) and next(removed) or pick(rnd, nodes)
          local f
          if removed[target] then
            f = leader:add_member(target)
          elseif target ~= leader then
            f = leader:remove_member(target)
          end
          if f then
            futures[#futures + 1] = f
            local adding = removed[target]
            f:on_settle(function(done)
              if done.ok then removed[target] = (not adding) or nil end
            end)
            stats.changes = stats.changes + 1
          end
        end
      end
    end
  end)

  -- direct clients: submit to whoever they think leads
  for ci = 1, 2 do
    sim:spawn(function()
      local rnd = sim:random("client" .. ci)
      local target = pick(rnd, nodes)
      while chaos do
        next_id = next_id + 1
        local id = next_id
        local f = target:submit{ id = id }
        futures[#futures + 1] = f
        local index, res = hs.await(hs.timeout(f, 0.5))
        if index then
          acked[id] = true
          stats.acked = stats.acked + 1
        else
          local hint = res and res.leader
          target = hint and nodes[tonumber(hint:sub(2))] or pick(rnd, nodes)
          hs.sleep(rnd:uniform(0, 0.05))
        end
      end
    end)
  end

  -- network clients: net:request to "submit", replies subject to the same faults
  for ci = 1, 2 do
    local client = hs.Entity{ name = "client" .. ci, handle_event = function() end }
    sim:register(client)
    sim:spawn(function()
      local rnd = sim:random("netclient" .. ci)
      local target = pick(rnd, nodes)
      while chaos do
        next_id = next_id + 1
        local id = "r" .. next_id -- the network may duplicate the request: the session applies it once
        local reply = hs.await(net:request(client, target, "submit", { id = id }, { timeout = 0.5 }))
        if reply and reply.ok then
          acked[id] = true
          stats.acked = stats.acked + 1
        else
          local hint = reply and reply.error and reply.error.leader
          target = hint and nodes[tonumber(hint:sub(2))] or pick(rnd, nodes)
          hs.sleep(rnd:uniform(0, 0.05))
        end
      end
    end)
  end

  sim:run_until(CHAOS_S)
  chaos = false

  -- heal everything: no partition, a clean network, every node up
  net:heal_partition()
  net:set_default_link(hs.datacenter_network())
  for _, n in ipairs(nodes) do if n.crashed then n:restart() end end

  local function leader()
    local best
    for _, n in ipairs(nodes) do
      if n.is_leader and (not best or n.current_term > best.current_term) then best = n end
    end
    return best
  end

  -- every node a voter again: add back what was removed (a change's outcome may be unknown:
  -- adding a voter that already is one is refused as "invalid", which is fine too)
  local deadline0 = sim.now + 30
  for _, target in ipairs(nodes) do
    while true do
      assert(sim.now < deadline0, "could not add back " .. target.name)
      local l
      for _, n in ipairs(nodes) do if n.is_leader and (not l or n.current_term > l.current_term) then l = n end end
      if l then
        local f = l:add_member(target)
        futures[#futures + 1] = f
        sim:run_until(sim.now + 0.2)
        if f.done and (f.ok or f.error.code == "invalid") then break end
      else
        sim:run_until(sim.now + 0.05)
      end
    end
  end

  -- the cluster commits again, and converges: same log length, everything applied
  local deadline = sim.now + 30
  local final_index
  while true do
    assert(sim.now < deadline, "the healed cluster did not converge")
    local l = leader()
    if l and not final_index then
      local f = l:submit{ id = "final" }
      futures[#futures + 1] = f
      sim:run_until(sim.now + 0.2)
      if f.done and f.ok then final_index = f.value end
    else
      sim:run_until(sim.now + 0.05)
    end
    if final_index and l then
      local done = true
      for _, n in ipairs(nodes) do
        if n.log_length ~= l.log_length or n.last_applied ~= l.log_length or n.commit_index ~= l.log_length then
          done = false
        end
      end
      if done then break end
    end
  end
  sim:run_until(sim.now + 1) -- let the tails of the clients' timeouts pass

  local ok, violation = checker:check()
  assert(ok, violation)
  assert(not checker.violated, checker.violation)
  local ref = nodes[1].state_machine
  local seen = {}
  for i = 1, ref.n do
    local id = ref.ids[i]
    assert(not seen[id], "command " .. tostring(id) .. " applied twice")
    seen[id] = true
  end
  for id in pairs(acked) do assert(seen[id], "acknowledged command " .. id .. " is not in the state machine") end
  assert(seen.final, "the final command is not applied")
  for _, n in ipairs(nodes) do
    assert(n.state_machine.n == ref.n, n.name .. " applied " .. n.state_machine.n .. " commands, n1 " .. ref.n)
    for i = 1, ref.n do
      assert(n.state_machine.ids[i] == ref.ids[i], ("%s differs from n1 at command %d"):format(n.name, i))
    end
  end
  for i, f in ipairs(futures) do assert(f.done, "submission " .. i .. " was left pending") end
  local summary = sim:summary()
  stats.events = summary.events_processed
  stats.commands = ref.n
  stats.checks = checker.checks
  return stats
end

describe("Raft under random faults", function()
  if hs.core.raft_unsafe_build() then
    it(("catches the broken double-vote build over %d seeds from %d"):format(SEEDS, FIRST), function()
      local caught, first = 0, nil
      for seed = FIRST, FIRST + SEEDS - 1 do
        local ok, err = pcall(run_seed, seed)
        if not ok and tostring(err):find("Raft invariant violated", 1, true) then
          caught = caught + 1
          first = first or ("seed " .. seed .. ": " .. tostring(err):match("[^\n]*"))
        end
      end
      print(("\nunsafe build: the checker caught %d of %d seeds; first: %s"):format(caught, SEEDS, tostring(first)))
      assert.is_true(caught > 0, "the checker missed the double votes")
    end)
    return
  end

  it(("keeps every invariant and converges over %d seeds from %d"):format(SEEDS, FIRST), function()
    local totals = { crashes = 0, partitions = 0, acked = 0, commands = 0, checks = 0, events = 0, changes = 0,
                     transfers = 0 }
    local clock = os.clock()
    for seed = FIRST, FIRST + SEEDS - 1 do
      local ok, res = pcall(run_seed, seed)
      if not ok then
        local msg = ("raft random test failed with seed %d (replay: RAFT_RANDOM_FIRST=%d RAFT_RANDOM_SEEDS=1): %s")
          :format(seed, seed, tostring(res))
        print(msg)
        error(msg, 0)
      end
      for k in pairs(totals) do totals[k] = totals[k] + res[k] end
    end
    print(("\n%d seeds in %.1f s: %d crashes, %d partitions, %d membership changes, %d leadership transfers, "
      .. "%d commands applied (%d acknowledged), %d invariant checks, %d events"):format(SEEDS, os.clock() - clock,
      totals.crashes, totals.partitions, totals.changes, totals.transfers, totals.commands, totals.acked, totals.checks,
      totals.events))
    assert.is_true(totals.crashes > SEEDS and totals.partitions > SEEDS)
    assert.is_true(totals.transfers > SEEDS / 2)
    assert.is_true(totals.acked > 0)
  end)
end)
