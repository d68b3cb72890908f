-- two_regions.lua: a request/response service across two regions, broken on schedule.
--
--   happysim run scripts/two_regions.lua [--seed N]
--   LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="build/?.so;;" lua5.4 scripts/two_regions.lua [--seed N]
--
-- Region A (eu) holds three clients, region B (us) two servers. Inside a region nodes talk over
-- hs.local_network(); between the regions over hs.cross_region_network() (50 ms, exponential
-- jitter, a little loss). Each client sends a "Get" every 200 ms to its home server and waits
-- 300 ms for the reply; on a timeout it retries once on the other server. A server answers
-- after a short service time and tells its peer what it served ("Sync", inside region B).
--
-- An hs.FaultSchedule breaks things:
--    3 s -  5 s   the regions are partitioned (every request times out)
--    7 s - 10 s   server s1 crashes, then restarts (its clients fail over to s2)
--   11 s - 13 s   the cross-region links lose 30% of their messages
-- The script narrates the faults as they fire and heal, then prints per-second outcomes and
-- what the network delivered and dropped. Everything random derives from the seed, so the
-- output is the same for the same --seed.

local ctx = ...
local hs = (type(ctx) == "table" and ctx.hs) or require("happysim")
local seed = type(ctx) == "table" and ctx.seed or nil
if seed == nil then
  for i, a in ipairs(arg or {}) do
    if a == "--seed" then seed = math.tointeger(tonumber(arg[i + 1])) end
    local v = a:match("^%-%-seed=(.+)$")
    if v then seed = math.tointeger(tonumber(v)) end
  end
end
seed = seed or 1

local DURATION = 15
local INTERVAL, TIMEOUT = 0.2, 0.3

local sim = hs.Simulation{ seed = seed, end_time = DURATION + 1 }
local net = hs.Network{ sim = sim, name = "wan" }

-- ---- nodes ----------------------------------------------------------------------------

local Server = hs.Entity:extend("Server")
Server.durable = { "served_before" } -- what it served before its last crash survives
function Server:init(opts)
  self.peer = opts.peer
  self.served = 0
  self.synced = 0
end
function Server:on_crash()
  self.served_before = (self.served_before or 0) + self.served
end
function Server:handle_event(ev)
  if ev.type == "Sync" then
    self.synced = self.synced + 1
    return
  end
  hs.sleep(self:random("service"):exponential(0.004))
  self.served = self.served + 1
  net:reply(ev, { key = ev.payload.key, value = ev.payload.key * ev.payload.key, by = self.name })
  net:send(self, self.peer, "Sync", { key = ev.payload.key })
end

local outcomes = {} -- per second: { ok, failover, failed }
local function count(kind)
  local b = math.floor(sim.now)
  local o = outcomes[b]
  if not o then
    o = { ok = 0, failover = 0, failed = 0 }
    outcomes[b] = o
  end
  o[kind] = o[kind] + 1
end

local Client = hs.Entity:extend("Client")
function Client:init(opts)
  self.home, self.other = opts.home, opts.other
end
function Client:handle_event()
  local key = 0
  hs.sleep(self:random("start"):uniform(0, INTERVAL)) -- clients do not move in lockstep
  while self.now < DURATION do
    key = key + 1
    local v = hs.await(net:request(self, self.home, "Get", { key = key }, { timeout = TIMEOUT }))
    if v then
      count("ok")
    else
      v = hs.await(net:request(self, self.other, "Get", { key = key }, { timeout = TIMEOUT }))
      count(v and "failover" or "failed")
    end
    hs.sleep(INTERVAL)
  end
end

local s1 = Server{ name = "s1", peer = "s2" }
local s2 = Server{ name = "s2", peer = "s1" }
local clients = {
  Client{ name = "c1", home = "s1", other = "s2" },
  Client{ name = "c2", home = "s1", other = "s2" },
  Client{ name = "c3", home = "s2", other = "s1" },
}
local region_a, region_b = { "c1", "c2", "c3" }, { "s1", "s2" }
for _, e in ipairs{ clients[1], clients[2], clients[3], s1, s2 } do sim:register(e) end

net:connect_all(region_a, hs.local_network())
net:connect_all(region_b, hs.local_network())
for _, a in ipairs(region_a) do
  for _, b in ipairs(region_b) do net:add_bidirectional_link(a, b, hs.cross_region_network()) end
end

-- ---- faults -------------------------------------------------------------------------------

local function describe(e)
  local d = e.details
  if e.kind == "partition" then
    return ("{%s} | {%s}"):format(table.concat(d.a, ","), table.concat(d.b, ","))
  elseif e.kind == "packet_loss" then
    return ("%.0f%% loss between {%s} and {%s} (%d links)"):format(d.rate * 100, table.concat(d.between[1], ","),
      table.concat(d.between[2], ","), d.pairs)
  end
  return e.target
end

local schedule = hs.FaultSchedule{
  hs.faults.partition{ network = net, a = region_a, b = region_b, start = 3, stop = 5 },
  hs.faults.crash{ node = "s1", at = 7, restart_at = 10 },
  hs.faults.packet_loss{ network = net, rate = 0.3, start = 11, stop = 13, between = { region_a, region_b } },
  on_fault = function(e, what)
    print(("  t=%6.3f  %-11s %-6s %s"):format(sim.now, e.kind, what, describe(e)))
  end,
}
schedule:install(sim)

for _, c in ipairs(clients) do sim:schedule(hs.Event{ time = 0, type = "Start", target = c }) end

-- ---- narration ------------------------------------------------------------------------------

local function report()
  print()
  print("requests finished per second (ok at home / ok after failover / failed):")
  for b = 0, DURATION do
    local o = outcomes[b] or { ok = 0, failover = 0, failed = 0 }
    local mark = ""
    if b >= 3 and b < 5 then mark = "  <- regions partitioned" end
    if b >= 7 and b < 10 then mark = "  <- s1 down" end
    if b >= 11 and b < 13 then mark = "  <- 30% loss across regions" end
    print(("  [%2d, %2d)  %3d %3d %3d%s"):format(b, b + 1, o.ok, o.failover, o.failed, mark))
  end
  local s = net.stats
  print()
  print(("network: %d sent, %d delivered, %d dropped (partition %d, crash %d, loss %d, no route %d), %d in flight")
    :format(s.sent, s.delivered, s.dropped, s.dropped_partition, s.dropped_crash, s.dropped_loss, s.dropped_no_route,
      s.in_flight))
  print("per link (sent / delivered / dropped: partition, crash, loss):")
  for _, r in ipairs(net:traffic_matrix()) do
    if r.sent > 0 then
      print(("  %-3s -> %-3s %5d %5d   %4d %4d %4d"):format(r.source, r.destination, r.sent, r.delivered,
        r.dropped_partition, r.dropped_crash, r.dropped_loss))
    end
  end
  print(("servers: s1 served %d (+%d before its crash), s2 served %d; syncs seen: s1 %d, s2 %d")
    :format(s1.served, s1.served_before or 0, s2.served, s1.synced, s2.synced))
  local st = schedule:stats()
  print(("faults: %d fired, %d healed, %d still active"):format(st.fired, st.healed, st.active))
end

print(("two regions: clients c1 c2 c3 in region A, servers s1 s2 in region B, seed %d"):format(seed))
print("faults as they happen:")

if type(ctx) == "table" and ctx.command then
  -- under `happysim run`: it runs the simulation, then calls report with the summary
  return sim, function() report() end
end
sim:run()
report()
