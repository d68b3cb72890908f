--- Raft throughput through the Lua API (figures, not a test).
--   build/bin/happysim run scripts/bench/raft.lua [-- --quick] [-- clients=100 commands=100000 mode=direct|net inflight=32]
-- or: LUA_PATH=... LUA_CPATH=build/?.so lua5.4 scripts/bench/raft.lua [--quick]
--
-- A 5-node cluster on hs.datacenter_network() elects a leader; then `clients` concurrent
-- closed-loop clients submit `commands` commands in all ({ op = "set", key, value } on the
-- C KVStateMachine), each waiting for its command to be applied before sending the next.
-- mode=direct: each client is a Lua process calling leader:submit(cmd) and hs.await;
-- mode=net:    each client is an entity sending net:request(client, leader, "submit", cmd).
-- inflight: the nodes' max_inflight (pipelined AppendEntries per follower; 32 is the default).
-- Prints committed commands per wall second, events per wall second, messages per command
-- and the process's peak RSS (wall: the simulation's own wall clock over sim:run; CPU: the
-- process's CPU time over the same span, steadier on a shared machine). --quick runs 10x
-- fewer commands (CI).

local hs = require("happysim")
local bench = require("happysim.bench")

local cfg = bench.options("bench/raft", { clients = 100, commands = 100000, mode = { "direct", "net" }, inflight = 32 }, ...)
if cfg.quick then cfg.commands = cfg.commands // 10 end
local peak_rss_mb = bench.peak_rss_mb

local NODES = { "n1", "n2", "n3", "n4", "n5" }
local sim = hs.Simulation{ seed = (type(seed) == "number" and seed) or 1 }
local net = hs.Network{ sim = sim, name = "cluster", default_link = hs.datacenter_network() }
local nodes = {}
for i, name in ipairs(NODES) do
  nodes[i] = hs.RaftNode{ name = name, network = net, peers = NODES, election_timeout_min = 0.15,
                          election_timeout_max = 0.3, heartbeat_interval = 0.05, max_inflight = cfg.inflight }
end
for _, n in ipairs(nodes) do n:start() end

-- elect a leader first (not measured)
local leader
while not leader do
  sim:run_until(sim.now + 0.01)
  for _, n in ipairs(nodes) do if n.is_leader and n.commit_index > 0 then leader = n end end
end

local issued, committed, failed = 0, 0, 0
local done_at
local keys = {}
for i = 1, 1000 do keys[i] = "k" .. i end

if cfg.mode == "direct" then
  for c = 1, cfg.clients do
    sim:spawn(function()
      while issued < cfg.commands do
        issued = issued + 1
        local index = hs.await(leader:submit{ op = "set", key = keys[issued % 1000 + 1], value = issued })
        if index then committed = committed + 1 else failed = failed + 1 end
      end
      if committed + failed == cfg.commands and not done_at then
        done_at = sim.now
        sim:stop()
      end
    end)
  end
else
  for c = 1, cfg.clients do
    local client = hs.Entity{ name = "client" .. c, handle_event = function() end }
    sim:register(client)
    sim:spawn(function()
      while issued < cfg.commands do
        issued = issued + 1
        local reply = hs.await(net:request(client, leader, "submit",
          { op = "set", key = keys[issued % 1000 + 1], value = issued }))
        if reply and reply.ok then committed = committed + 1 else failed = failed + 1 end
      end
      if committed + failed == cfg.commands and not done_at then
        done_at = sim.now
        sim:stop()
      end
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
local wall = s1.wall_clock_seconds - wall0
local events = s1.events_processed - events0
local msgs = net.stats.sent - sent0

print(("Raft: 5 nodes, %d clients (%s), %d commands over hs.datacenter_network()%s"):format(cfg.clients, cfg.mode,
  cfg.commands, cfg.quick and " [quick]" or ""))
print(("  committed %d, failed %d, in %.3f s of simulated time (%.0f commands per simulated second)"):format(committed,
  failed, (done_at or sim.now) - start_sim, committed / math.max(1e-9, (done_at or sim.now) - start_sim)))
print(("  %.3f s wall: %.0f commands/s, %.0f events/s (CPU %.3f s: %.0f commands/s)"):format(wall, committed / wall,
  events / wall, cpu, committed / cpu))
print(("  %.2f messages per command, %.1f events per command"):format(msgs / math.max(1, committed),
  events / math.max(1, committed)))
print(("  leader log %d entries, every node applied %d; peak RSS %.1f MB"):format(leader.log_length,
  leader.last_applied, peak_rss_mb()))
assert(committed == cfg.commands, "not every command committed")
