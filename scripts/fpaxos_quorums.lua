-- fpaxos_quorums.lua: how Flexible Paxos trades phase 2 against phase 1.
--
--   happysim run scripts/fpaxos_quorums.lua [--seed N] [-- n=7 clients=4 seconds=2 elections=20]
--
-- Flexible Paxos (Howard, Malkhi, Spiegelman 2016) only needs every phase-1 quorum to meet
-- every phase-2 quorum: Q1 + Q2 > N. A smaller phase-2 quorum makes each command cheaper to
-- commit (the leader waits for fewer, hence nearer, acceptors); the price is a larger phase-1
-- quorum, paid at every leader election, and fewer failures tolerated before no new leader
-- can be elected. For each Q2 from 1 to N, with Q1 = N - Q2 + 1, this script builds an N-node
-- hs.FlexiblePaxosNode cluster whose members sit at different distances (node k is
-- 2^(k-2) ms from n1 along a line: links of 1, 2, 4, 8 ... ms one way, plus 0.2 ms and a
-- little jitter), makes n1 the leader, runs `clients` closed-loop clients (0.1 ms from it)
-- submitting to it over the network for `seconds` simulated seconds, then forces `elections` elections (a random other node
-- campaigns; the time until it leads, and the Prepare/Promise/Nack messages it causes), and
-- prints one row per quorum setting:
--   commit mean / p99   a client's request to its reply, the command applied (simulated ms)
--   commits/s           what the clients got through (simulated)
--   phase-1 msgs        Prepare, Promise and Nack messages per election
--   election ms         campaign() to leading, mean over the elections (simulated)
--   down: elect/commit  nodes that may be down while a leader can still be elected (N - Q1)
--                       and while commands still commit (N - Q2)
-- Everything is simulated time: the figures are the same on every machine for a seed.

local ctx = ...
local hs = ctx.hs

local cfg = { n = 5, clients = 4, seconds = 2, elections = 20 }
for _, a in ipairs(ctx.args or {}) do
  local k, v = a:match("^([%w_]+)=(.+)$")
  if not k or cfg[k] == nil then
    error(("fpaxos_quorums: unknown argument '%s' (expected n=, clients=, seconds=, elections=)"):format(a), 0)
  end
  cfg[k] = math.tointeger(tonumber(v)) or error(("fpaxos_quorums: %s must be an integer"):format(k), 0)
end
if cfg.n < 3 or cfg.n > 9 then error("fpaxos_quorums: n must be in [3, 9]", 0) end

local MS = 0.001

-- One quorum setting: returns the row's figures.
local function measure(q1, q2)
  local names = {}
  for i = 1, cfg.n do names[i] = "n" .. i end
  local sim = hs.Simulation{ seed = ctx.seed }
  local net = hs.Network{ sim = sim, name = "wan" }
  local nodes, by = {}, {}
  for i, name in ipairs(names) do
    nodes[i] = hs.FlexiblePaxosNode{ name = name, network = net, peers = names, phase1_quorum = q1, phase2_quorum = q2,
                                     leader_lease_timeout = 1, election_timeout_max = 2, heartbeat_interval = 0.1 }
    by[name] = nodes[i]
  end
  -- node k sits at 2^(k-2) ms from n1 (n1 at 0): one-way latency is the distance plus 0.2 ms
  local pos = { 0 }
  for k = 2, cfg.n do pos[k] = 2 ^ (k - 2) end
  for i = 1, cfg.n do
    for j = i + 1, cfg.n do
      net:add_bidirectional_link(nodes[i], nodes[j], hs.NetworkLink{
        latency = (0.2 + math.abs(pos[i] - pos[j])) * MS, jitter = hs.dist.exponential(0.05 * MS) })
    end
  end
  for _, n in ipairs(nodes) do n:start() end
  local leader = nodes[1]
  leader:campaign()
  sim:run_until(0.5)
  assert(leader.is_leader, "n1 did not become the leader")

  -- commit latency: closed-loop clients next to the leader (0.1 ms away), over the network
  local lat, stop_at = {}, sim.now + cfg.seconds
  for c = 1, cfg.clients do
    local client = hs.Entity{ name = "client" .. c, handle_event = function() end }
    sim:register(client)
    net:add_bidirectional_link(client, leader, hs.NetworkLink{ latency = 0.1 * MS })
    sim:spawn(function()
      local i = 0
      while hs.now() < stop_at do
        i = i + 1
        local t0 = hs.now()
        local reply = hs.await(net:request(client, leader, "submit", { op = "set", key = "k" .. c, value = i }))
        if reply and reply.ok then lat[#lat + 1] = hs.now() - t0 end
      end
    end)
  end
  sim:run_until(stop_at + 0.5)

  -- elections: a random other node campaigns; count phase-1 messages until it leads
  local phase1 = { Prepare = true, Promise = true, Nack = true }
  local counting, msgs = false, 0
  net:intercept(function(m) if counting and phase1[m.type] then msgs = msgs + 1 end end)
  local pick = sim:random("fpaxos:campaigns")
  local times, won = {}, 0
  for _ = 1, cfg.elections do
    local current
    for _, n in ipairs(nodes) do if n.is_leader then current = n end end
    local cand
    repeat cand = nodes[pick:random(cfg.n)] until cand ~= current
    counting = true
    local t0 = sim.now
    cand:campaign()
    local deadline = t0 + 5
    while not cand.is_leader and sim.now < deadline do sim:run_until(sim.now + 0.0005) end
    if cand.is_leader then
      won = won + 1
      times[#times + 1] = sim.now - t0
    end
    sim:run_until(sim.now + 0.3) -- the new leader settles in; the last promises arrive
    counting = false
  end
  table.sort(lat)
  local sum = 0
  for _, x in ipairs(lat) do sum = sum + x end
  local esum = 0
  for _, x in ipairs(times) do esum = esum + x end
  return {
    q1 = q1, q2 = q2, commits = #lat, rate = #lat / cfg.seconds,
    mean = #lat > 0 and sum / #lat or 0 / 0, p99 = lat[math.max(1, math.ceil(#lat * 0.99))] or 0 / 0,
    msgs = msgs / cfg.elections, election = won > 0 and esum / won or 0 / 0, won = won,
  }
end

local rows = {}
for q2 = 1, cfg.n do
  rows[#rows + 1] = measure(cfg.n - q2 + 1, q2)
end

do
  print(("Flexible Paxos, N = %d (seed %d): Q1 + Q2 = N + 1; node k is 2^(k-2) ms from n1, which leads;"):format(cfg.n,
    ctx.seed))
  print(("%d closed-loop clients for %g s, then %d forced elections per setting (simulated time)"):format(cfg.clients,
    cfg.seconds, cfg.elections))
  print()
  print(" Q1 Q2 | commit mean ms  p99 ms  commits/s | phase-1 msgs/election  election ms | down: elect commit")
  for _, r in ipairs(rows) do
    print(("%3d %2d | %14.2f %7.2f %10.0f | %21.1f %12.2f | %11d %6d"):format(r.q1, r.q2, r.mean / MS, r.p99 / MS, r.rate,
      r.msgs, r.election / MS, cfg.n - r.q1, cfg.n - r.q2))
  end
  print()
  print("A smaller Q2 commits sooner (the leader waits for its Q2-1 nearest acceptors) but needs a larger Q1:")
  print("an election waits for more, hence farther, promises, and fails once more than N - Q1 nodes are down.")
  print("Every member gets each Prepare (and each Accept), so the messages per election barely move: the price")
  print("is paid in election latency and availability.")
end
