--- Multi-Paxos throughput through the Lua API, next to Raft's on the same workload (figures, not a test).
--   build/bin/happysim run scripts/bench/paxos.lua [-- --quick] [-- clients=100 commands=100000 mode=direct|net rounds=3]
--   [-- only=paxos|raft]   one of the two (for instruction counts: valgrind --tool=callgrind)
-- or: LUA_PATH=... LUA_CPATH=build/?.so lua5.4 scripts/bench/paxos.lua [--quick]
--
-- The workload of scripts/bench/raft.lua, run twice in one process: a 5-node cluster on
-- hs.datacenter_network() elects a leader; then `clients` concurrent closed-loop clients
-- submit `commands` commands in all ({ op = "set", key, value } on the C KVStateMachine),
-- each waiting for its command to be applied before sending the next. Once with
-- hs.MultiPaxosNode, once with hs.RaftNode (same election timeouts and heartbeat, the
-- default batching: 64 entries per message, 32 messages in flight per follower).
-- mode=direct: each client is a Lua process calling leader:submit(cmd) and hs.await;
-- mode=net:    each client is an entity sending net:request(client, leader, "submit", cmd).
-- The two alternate for `rounds` rounds (Paxos, Raft, Paxos, Raft ...) so that a busy
-- neighbour on a shared machine slows both alike; each keeps its best round. Prints, for
-- each, committed commands per wall second and per CPU second, messages and events per
-- command, and the ratio Multi-Paxos / Raft (the goal: Multi-Paxos within 1.2x of Raft,
-- i.e. a ratio of at least 0.83). --quick runs 10x fewer commands and one round (CI).

local hs = require("happysim")
local bench = require("happysim.bench")

local cfg = bench.options("bench/paxos", { clients = 100, commands = 100000, mode = { "direct", "net" }, rounds = 3,
                                          only = { "both", "paxos", "raft" } }, ...)
if cfg.quick then
  cfg.commands = cfg.commands // 10
  cfg.rounds = 1
end

local NODES = { "n1", "n2", "n3", "n4", "n5" }
local keys = {}
for i = 1, 1000 do keys[i] = "k" .. i end

-- Builds the cluster of `kind` ("paxos" or "raft"), elects a leader, runs the workload;
-- returns its figures.
local function run(kind)
  local sim = hs.Simulation{ seed = (type(seed) == "number" and seed) or 1 }
  local net = hs.Network{ sim = sim, name = "cluster", default_link = hs.datacenter_network() }
  local nodes = {}
  for i, name in ipairs(NODES) do
    if kind == "paxos" then
      nodes[i] = hs.MultiPaxosNode{ name = name, network = net, peers = NODES, leader_lease_timeout = 0.15,
                                    election_timeout_max = 0.3, heartbeat_interval = 0.05 }
    else
      nodes[i] = hs.RaftNode{ name = name, network = net, peers = NODES, election_timeout_min = 0.15,
                              election_timeout_max = 0.3, heartbeat_interval = 0.05 }
    end
  end
  for _, n in ipairs(nodes) do n:start() end
  local leader
  while not leader do -- elect a leader first (not measured)
    sim:run_until(sim.now + 0.01)
    for _, n in ipairs(nodes) do
      if n.is_leader and (kind == "paxos" or n.commit_index > 0) then leader = n end
    end
  end

  local issued, committed, failed = 0, 0, 0
  local done_at
  local function finish()
    if committed + failed == cfg.commands and not done_at then
      done_at = sim.now
      sim:stop()
    end
  end
  for c = 1, cfg.clients do
    if cfg.mode == "direct" then
      sim:spawn(function()
        while issued < cfg.commands do
          issued = issued + 1
          local index = hs.await(leader:submit{ op = "set", key = keys[issued % 1000 + 1], value = issued })
          if index then committed = committed + 1 else failed = failed + 1 end
        end
        finish()
      end)
    else
      local client = hs.Entity{ name = "client" .. c, handle_event = function() end }
      sim:register(client)
      sim:spawn(function()
        while issued < cfg.commands do
          issued = issued + 1
          local reply = hs.await(net:request(client, leader, "submit",
            { op = "set", key = keys[issued % 1000 + 1], value = issued }))
          if reply and reply.ok then committed = committed + 1 else failed = failed + 1 end
        end
        finish()
      end)
    end
  end

  local s0 = sim:summary()
  local events0, wall0, sent0 = s0.events_processed, s0.wall_clock_seconds, net.stats.sent
  local start_sim = sim.now
  collectgarbage()
  local t0 = os.clock()
  sim:run()
  local cpu = os.clock() - t0
  local s1 = sim:summary()
  local r = {
    kind = kind, committed = committed, failed = failed, wall = s1.wall_clock_seconds - wall0, cpu = cpu,
    events = s1.events_processed - events0, msgs = net.stats.sent - sent0, sim_s = (done_at or sim.now) - start_sim,
    log = leader.log_length,
  }
  assert(committed == cfg.commands, kind .. ": not every command committed")
  sim:close()
  return r
end

local kinds = cfg.only == "both" and { "paxos", "raft" } or { cfg.only }
local best = {}
for _ = 1, cfg.rounds do
  for _, kind in ipairs(kinds) do
    local r = run(kind)
    if not best[kind] or r.wall < best[kind].wall then best[kind] = r end
    collectgarbage()
  end
end

local NAMES = { paxos = "Multi-Paxos", raft = "Raft" }
print(("%s: 5 nodes, %d clients (%s), %d commands over hs.datacenter_network(), best of %d%s")
  :format(cfg.only == "both" and "Multi-Paxos and Raft" or NAMES[cfg.only], cfg.clients, cfg.mode, cfg.commands,
    cfg.rounds, cfg.quick and " [quick]" or ""))
for _, kind in ipairs(kinds) do
  local r = best[kind]
  print(("  %-11s %8.0f commands/s wall (%.3f s), %8.0f commands/s CPU; %.2f messages, %.1f events per command; "
    .. "%.3f s simulated"):format(NAMES[kind], r.committed / r.wall, r.wall, r.committed / r.cpu,
      r.msgs / r.committed, r.events / r.committed, r.sim_s))
end
print(("  peak RSS %.1f MB"):format(bench.peak_rss_mb()))
local p, r = best.paxos, best.raft
if not (p and r) then return end
local ratio = (p.committed / p.wall) / (r.committed / r.wall)
local cpu_ratio = (p.committed / p.cpu) / (r.committed / r.cpu)
print(("  Multi-Paxos / Raft: %.2fx by wall time, %.2fx by CPU time (goal: within 1.2x, i.e. >= 0.83x): %s")
  :format(ratio, cpu_ratio, math.max(ratio, cpu_ratio) >= 1 / 1.2 and "met" or "NOT met"))
