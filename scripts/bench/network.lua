--- Network benchmark: messages per wall second through a 100-node full mesh (figures, not tests).
--   build/bin/happysim run scripts/bench/network.lua [-- --quick]
-- or: LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="build/?.so;;" lua5.4 scripts/bench/network.lua [--quick]
--
-- 100 Lua entities, every ordered pair linked with hs.datacenter_network() (9,900 links).
-- Tokens circulate: each node that receives one forwards it to a peer drawn from its own
-- random stream, so every delivered message costs one engine event (the arrival) plus one
-- Lua handler process, and sends the next message. Three runs:
--   (a) integer payloads, 1,000 tokens in flight
--   (b) table payloads ({ hops, origin, path = { 4 numbers } }), 1,000 tokens
--   (c) integer payloads, 10,000 tokens (a deeper event queue)
-- There is no C-only message path yet (the network's C entities are protocol nodes), so
-- every figure includes a Lua handler per message. Prints messages and events per wall second
-- (the run's wall_clock_seconds), messages per CPU second (os.clock: steadier on a busy
-- machine), CPU ns per message and the process's peak resident memory.

local ctx = ...
local hs = (type(ctx) == "table" and ctx.hs) or require("happysim")
local bench = require("happysim.bench")

local quick = bench.options("bench/network", {}, ...).quick
local peak_rss_mb = bench.peak_rss_mb

local NODES = 100

local function run(label, tokens, sim_seconds, make_payload)
  local sim = hs.Simulation{ seed = 42 }
  local net = hs.Network{ sim = sim, name = "mesh" }
  local Forwarder = hs.Entity:extend("Forwarder")
  local nodes = {}
  local forwarded = 0
  function Forwarder:init(opts)
    self.index = opts.index
  end
  function Forwarder:handle_event(ev)
    local k = self.rng:random(1, NODES - 1)
    if k >= self.index then k = k + 1 end -- a peer, never itself
    local p = ev.payload
    if type(p) == "table" then
      p.hops = p.hops + 1
      p.path[(p.hops % 4) + 1] = self.index
    else
      p = p + 1
    end
    forwarded = forwarded + 1
    net:send(self, nodes[k], "Hop", p)
  end
  for i = 1, NODES do
    nodes[i] = Forwarder{ name = ("n%03d"):format(i), index = i }
    sim:register(nodes[i])
    nodes[i].rng = nodes[i]:random()
  end
  net:connect_all(nodes, hs.datacenter_network())
  sim:spawn(function()
    for t = 1, tokens do net:send(nodes[(t - 1) % NODES + 1], nodes[t % NODES + 1], "Hop", make_payload(t)) end
  end)
  collectgarbage("collect")
  local c0 = os.clock()
  local s = sim:run_until(sim_seconds)
  local cpu = os.clock() - c0
  local wall = s.wall_clock_seconds
  local st = net.stats
  assert(st.sent == st.delivered + st.dropped + st.in_flight, "statistics out of balance")
  print(("%-36s tokens=%-6d messages=%-8d msgs/wall s=%5.0fk  events/wall s=%5.0fk  msgs/cpu s=%5.0fk  " ..
    "ns/msg(cpu)=%5.0f  peak=%.0fMB"):format(label, tokens, st.delivered, st.delivered / wall / 1e3,
    s.events_processed / wall / 1e3, st.delivered / cpu / 1e3, cpu / st.delivered * 1e9, peak_rss_mb()))
  return st.delivered / wall
end

print(("network benchmark: %d-node full mesh, hs.datacenter_network()%s"):format(NODES, quick and " (quick)" or ""))
local span = quick and 0.05 or 0.5
run("(a) Lua entities, integer payloads", 1000, span, function(t) return t end)
run("(b) Lua entities, table payloads", 1000, span, function(t) return { hops = 0, origin = t, path = { 0, 0, 0, 0 } } end)
run("(c) Lua entities, integer payloads", 10000, span / 4, function(t) return t end)
print("(no C-only message path exists yet: every message above runs a Lua handler)")
