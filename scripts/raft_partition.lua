-- raft_partition.lua: the seed 004 partition walk-through, narrated.
--
--   happysim run scripts/raft_partition.lua [--seed N] [-- check_quorum=false]
--
-- Five nodes elect a leader and commit a first command. The network then splits the
-- leader and one follower (the minority) from the other three (the majority). The
-- majority elects a new leader of a higher term and keeps committing; the old leader
-- accepts a command but cannot commit it (it reaches two of five nodes). With
-- check-quorum (the default) the old leader notices it lost the majority and steps down
-- by itself; with check_quorum=false it believes it leads until the partition heals.
-- When the partition heals, the old leader learns the new term, steps down if it had
-- not, and its uncommitted entries are replaced by the new leader's: the client that
-- submitted to it is told its command was lost. A RaftChecker watches every node all
-- along (election safety, log matching, leader completeness, state machine safety).

local NODES = { "n1", "n2", "n3", "n4", "n5" }

local check_quorum = true
for _, a in ipairs(args or {}) do
  local k, v = a:match("^([%w_]+)=(.+)$")
  if k == "check_quorum" and (v == "true" or v == "false") then
    check_quorum = v == "true"
  else
    error(("raft_partition: unknown argument '%s' (expected check_quorum=true|false)"):format(a), 0)
  end
end

local sim = hs.Simulation{ end_time = 60 }
local net = hs.Network{ sim = sim, name = "cluster", default_link = hs.datacenter_network() }
local checker = hs.RaftChecker()
local nodes = {}
for i, name in ipairs(NODES) do
  nodes[i] = hs.RaftNode{ name = name, network = net, peers = NODES, checker = checker,
                          election_timeout_min = 0.15, election_timeout_max = 0.3, heartbeat_interval = 0.05,
                          check_quorum = check_quorum }
end
for _, n in ipairs(nodes) do n:start() end

local function say(fmt, ...) print(("t=%7.3fs  " .. fmt):format(sim.now, ...)) end

local function names(list)
  local out = {}
  for i, n in ipairs(list) do out[i] = n.name end
  return table.concat(out, ", ")
end

-- The leader among `among` with the highest term (nil if none).
local function leader_of(among)
  local best
  for _, n in ipairs(among) do
    if n.is_leader and (not best or n.current_term > best.current_term) then best = n end
  end
  return best
end

local function wait_for(pred, step)
  while not pred() do hs.sleep(step or 0.005) end
end

local function status(title)
  print()
  print("  " .. title)
  print("  node  state          term  leader  log  commit  applied  last entries (index:term)")
  for _, n in ipairs(nodes) do
    local log, tail = n.log, {}
    for i = math.max(1, #log - 3), #log do tail[#tail + 1] = ("%d:%d"):format(log[i].index, log[i].term) end
    print(("  %-5s %-13s %5d  %-6s %4d  %6d  %7d  %s"):format(n.name, n.state, n.current_term,
      n.current_leader or "-", n.log_length, n.commit_index, n.last_applied, table.concat(tail, " ")))
  end
  print()
end

local summary_lines = {}
local function note(fmt, ...) summary_lines[#summary_lines + 1] = fmt:format(...) end

sim:spawn(function()
  say("5 nodes boot as followers (election timeouts uniform in [150, 300) ms, heartbeat 50 ms, check-quorum %s)",
    check_quorum and "on" or "off")
  wait_for(function() return leader_of(nodes) ~= nil end)
  local old = leader_of(nodes)
  say("%s is elected leader of term %d", old.name, old.current_term)
  local i1, r1 = hs.await(old:submit{ op = "set", key = "x", value = "before the partition" })
  say("x = %q committed at index %d on every side", r1, i1)
  hs.sleep(0.1)

  -- the split: the leader and one follower | the other three
  local minority, majority = { old }, {}
  for _, n in ipairs(nodes) do
    if n ~= old then
      if #minority < 2 then minority[#minority + 1] = n else majority[#majority + 1] = n end
    end
  end
  local p = net:partition(minority, majority)
  say("PARTITION: { %s } | { %s }", names(minority), names(majority))

  -- the old leader still accepts writes, but can reach only 2 of 5 nodes: no commit
  local doomed = old:submit{ op = "set", key = "x", value = "written on the minority side" }
  local doomed_index = old.log_length
  say("a client submits x = 'written on the minority side' to %s: appended at index %d, sent to %s, the one node it reaches",
    old.name, doomed_index, minority[2].name)

  -- the majority notices the silence, elects a leader of a higher term, and commits
  wait_for(function() return leader_of(majority) ~= nil end)
  local new = leader_of(majority)
  say("the majority elects %s leader of term %d (%s still believes it leads term %d: %s)", new.name, new.current_term,
    old.name, old.current_term, tostring(old.is_leader))
  local i2, r2 = hs.await(new:submit{ op = "set", key = "x", value = "written on the majority side" })
  say("x = %q committed by %s at index %d (3 of 5 nodes: a quorum)", r2, new.name, i2)
  local i3 = hs.await(new:submit{ op = "set", key = "y", value = 2 })
  say("y = 2 committed at index %d", i3)

  hs.sleep(0.5)
  say("%s, on the minority side: commit index %d, its entry %d uncommitted after %.1f s; %s", old.name,
    old.commit_index, doomed_index, 0.5, old.is_leader and "still leader (check-quorum off)"
      or "it stepped down by itself (check-quorum: no majority heard within an election timeout)")
  note("minority leader %s: commit index stayed %d while it held entry %d", old.name, old.commit_index, doomed_index)
  local _, v = hs.await(new:read{ op = "get", key = "x" })
  say("a linearizable read of x on %s returns %q", new.name, v)
  status("during the partition")

  -- heal: the old leader meets the higher term; its uncommitted entry is replaced
  p:heal()
  say("HEAL: the partition is gone")
  local _, err = hs.await(doomed)
  say("the minority client's submit is rejected: %s (code %q)", tostring(err), err.code)
  wait_for(function()
    for _, n in ipairs(nodes) do if n.last_applied < new.commit_index then return false end end
    return true
  end)
  local entry = old.log[doomed_index - old.stats.first_index + 1]
  say("%s is now a follower of %s in term %d; its entry %d is term %d: %s", old.name, old.current_leader,
    old.current_term, doomed_index, entry.term, entry.command and ("%s %s = %s"):format(entry.command.op,
      entry.command.key, tostring(entry.command.value)) or entry.type)
  note("the old leader's entry at index %d was replaced: %s", doomed_index, err.code)
  local i4 = hs.await(new:submit{ op = "set", key = "z", value = "after the heal" })
  say("z committed at index %d", i4)
  hs.sleep(0.2)
  status("after the heal")
  sim:stop()
end)

return sim, function(summary)
  local reference, agree = nil, true
  for _, n in ipairs(nodes) do
    local data = hs.core.encode(n.state_machine.data)
    reference = reference or data
    agree = agree and data == reference
  end
  local ok, violation = checker:check()
  for _, l in ipairs(summary_lines) do print(l) end
  print(("every node holds the same state machine: %s (x = %q)"):format(tostring(agree),
    tostring(nodes[1].state_machine.data.x)))
  print(("invariant checks: %d, violations: %s"):format(checker.checks, ok and "none" or violation))
  print(("%d events in %.3f s of simulated time, %d messages delivered, trace %s"):format(summary.events_processed,
    summary.duration_s, net.stats.delivered, summary.trace_hash))
  assert(agree and ok, "the walk-through broke an invariant")
end
