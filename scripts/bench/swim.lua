--- SWIM at scale through the Lua API (figures, not a test): scripts/bench/bench_swim.c's run
-- with hs.MembershipProtocol.
--   build/bin/happysim run scripts/bench/swim.lua [-- --quick] [-- members=10000 seconds=60]
-- or: LUA_PATH="lua/?.lua;lua/?/init.lua" LUA_CPATH=build/?.so lua5.4 scripts/bench/swim.lua [--quick]
--
-- `members` members, each built with the same list of every name (resolved once, see
-- engine/lua/protocols/hs_lua_swim.c), on one network whose default link has a latency uniform
-- in 1-10 ms and 1% loss, for `seconds` simulated seconds; every 100th member crashes at 10 s
-- and every 200th comes back at 30 s. Prints the time to build the members and to run (wall
-- and CPU), the peak resident memory, events and messages, and what the survivors concluded
-- (every 10th survivor asked about every crashed or returned member; every 97th member sampled
-- for false deaths). The issue's budget: 10,000 members for 60 s in under 10 s and 1 GiB.
-- --quick: 500 members for 40 s (CI).

local hs = require("happysim")
local bench = require("happysim.bench")

local cfg = bench.options("bench/swim", { members = 10000, seconds = 60 }, ...)
if cfg.quick then cfg.members, cfg.seconds = 500, 40 end
local n = cfg.members

collectgarbage()
local c0 = os.clock()
local sim = hs.Simulation{ seed = math.tointeger(rawget(_G, "seed")) or 7 }
local net = hs.Network{ sim = sim, name = "lan",
                        default_link = hs.NetworkLink{ latency = hs.dist.uniform(0.001, 0.010), packet_loss_rate = 0.01 } }
local names, nodes = {}, {}
for i = 1, n do names[i] = "m" .. i end
for i = 1, n do
  nodes[i] = hs.MembershipProtocol{ name = names[i], network = net, members = names }
  nodes[i]:start()
end
local setup_cpu = os.clock() - c0
local setup_rss = bench.rss_mb()

sim:after(10, function()
  for i = 100, n, 100 do nodes[i]:crash() end
end)
sim:after(30, function()
  for i = 200, n, 200 do nodes[i]:restart() end
end)
local s0 = sim:summary()
local c1 = os.clock()
sim:run_until(cfg.seconds)
local run_cpu = os.clock() - c1
local s1 = sim:summary()
local wall = s1.wall_clock_seconds - s0.wall_clock_seconds

-- what the survivors concluded
local dead_seen, dead_pairs, back_seen, back_pairs, false_dead, sampled = 0, 0, 0, 0, 0, 0
for i = 1, n, 10 do
  local node = nodes[i]
  if not node.crashed then
    for j = 100, n, 100 do
      if j ~= i then
        local st = node:get_member_state(names[j])
        if nodes[j].crashed then
          dead_pairs = dead_pairs + 1
          if st == "dead" then dead_seen = dead_seen + 1 end
        else
          back_pairs = back_pairs + 1
          if st == "alive" then back_seen = back_seen + 1 end
        end
      end
    end
  end
end
for i = 1, n, 97 do
  if not nodes[i].crashed then
    sampled = sampled + 1
    false_dead = false_dead + #nodes[i].dead_members - (function()
      local c = 0
      for _, name in ipairs(nodes[i].dead_members) do
        if nodes[tonumber(name:sub(2))].crashed then c = c + 1 end
      end
      return c
    end)()
  end
end

local st = net.stats
print(("SWIM: %d members, %g simulated s through hs.MembershipProtocol%s"):format(n, cfg.seconds,
  cfg.quick and " [quick]" or ""))
print(("  build and start: %.2f s CPU (RSS %.0f MB); run: %.2f s wall, %.2f s CPU; peak RSS %.0f MB"):format(setup_cpu,
  setup_rss, wall, run_cpu, bench.peak_rss_mb()))
print(("  %d events, %d messages sent, %d delivered, %d lost"):format(s1.events_processed - s0.events_processed,
  st.sent, st.delivered, st.dropped_loss or 0))
print(("  crashed and still down seen dead: %.2f%%; restarted seen alive: %.2f%%; false deaths in %d sampled views: %d")
  :format(dead_pairs > 0 and 100 * dead_seen / dead_pairs or 100, back_pairs > 0 and 100 * back_seen / back_pairs or 100,
    sampled, false_dead))
