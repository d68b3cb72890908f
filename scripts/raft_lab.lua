-- raft_lab.lua: the seed's Raft lab on the simulator. Five nodes boot as followers,
-- elect a leader with randomized timeouts, replicate three commands to a quorum; the
-- leader crashes; the survivors elect a new leader, which replicates two more; at the
-- end every committed entry is on every live node and no two nodes disagree (no split
-- brain). The invariant checker runs all along.
--
--   happysim run scripts/raft_lab.lua [--seed N]

local NODES = { "n1", "n2", "n3", "n4", "n5" }

local sim = hs.Simulation{ end_time = 60 }
local net = hs.Network{ sim = sim, name = "cluster", default_link = hs.datacenter_network() }
local checker = hs.RaftChecker()
local nodes = {}
for i, name in ipairs(NODES) do
  nodes[i] = hs.RaftNode{ name = name, network = net, peers = NODES, checker = checker,
                          election_timeout_min = 1.5, election_timeout_max = 3.0, heartbeat_interval = 0.5 }
end
for _, n in ipairs(nodes) do n:start() end

local function say(fmt, ...) print(("t=%7.3fs  " .. fmt):format(sim.now, ...)) end

-- when a node became leader (its role history records every transition)
local function elected_at(n)
  local h = n.history
  return h[#h].time
end

local function leader()
  for _, n in ipairs(nodes) do if n.is_leader then return n end end
end

local function wait_for_leader(except)
  while true do
    local l = leader()
    if l and l ~= except then return l end
    hs.sleep(0.05)
  end
end

local function replicate(l, key, value)
  local index, result = hs.await(l:submit{ op = "set", key = key, value = value })
  if not index then error("submit failed: " .. tostring(result)) end
  local acks = 0
  for _, n in ipairs(nodes) do if not n.crashed and n.log_length >= index then acks = acks + 1 end end
  say("%s = %s committed at index %d (on %d of %d nodes)", key, tostring(result), index, acks, #nodes)
end

sim:spawn(function()
  say("5 nodes boot as followers; election timeouts are random in [1.5, 3.0) s")
  local l = wait_for_leader()
  say("%s won the election of term %d with %d votes at t=%.3fs", l.name, l.current_term, l.stats.votes_received,
    elected_at(l))
  for i, v in ipairs{ "alpha", "beta", "gamma" } do replicate(l, "x" .. i, v) end

  say("the leader %s crashes", l.name)
  l:crash()
  local l2 = wait_for_leader(l)
  say("%s is the new leader of term %d since t=%.3fs; the old leader's term was %d", l2.name, l2.current_term,
    elected_at(l2), l.current_term)
  for i, v in ipairs{ "delta", "epsilon" } do replicate(l2, "y" .. i, v) end

  local index, value = hs.await(l2:read{ op = "get", key = "x2" })
  say("a linearizable read of x2 on %s returns %s (read index %d)", l2.name, tostring(value), index)
  hs.sleep(1)
  sim:stop()
end)

return sim, function(summary)
  print()
  print("node  state      term  commit  applied  keys")
  for _, n in ipairs(nodes) do
    print(("%-5s %-10s %4d  %6d  %7d  %4d"):format(n.name, n.crashed and "crashed" or n.state, n.current_term,
      n.commit_index, n.last_applied, n.state_machine.size))
  end
  -- split brain check: the applied state of every live node is the same
  local reference
  for _, n in ipairs(nodes) do
    if not n.crashed then
      local data = hs.core.encode(n.state_machine.data)
      reference = reference or data
      assert(data == reference, "split brain: " .. n.name .. " disagrees")
    end
  end
  local ok, violation = checker:check()
  print()
  print(("no split brain: all live nodes hold the same %d keys; invariant checks: %d, violations: %s"):format(
    leader().state_machine.size, checker.checks, ok and "none" or violation))
  print(("%d events in %.3f s of simulated time, %d messages delivered, trace %s"):format(
    summary.events_processed, summary.duration_s, net.stats.delivered, summary.trace_hash))
end
