-- craq_reads.lua: read throughput against chain length, plain chain replication (reads at the
-- tail) against CRAQ (reads at any node): the read-scaling shape of the CRAQ paper (Terrace &
-- Freedman 2009, figure 4), from simulated counts.
--
--   happysim run scripts/craq_reads.lua --seed 1 [-- writes=50 capacity=10000]
--
-- The nodes model no service time, so throughput comes from where the reads land: for each
-- chain length (3..9) a load of 4,000 reads/s (plain: all at the tail; CRAQ: spread evenly)
-- and `writes` writes/s at the head runs for 2 s, and each node's load is counted: reads it
-- answered plus, at the tail, the version queries of CRAQ's dirty reads. With every node able
-- to serve `capacity` requests/s, the chain saturates when its busiest node does, so its read
-- throughput is capacity x reads / (the busiest node's load).

local ctx = ...
local hs = ctx.hs

local opts = { writes = 50, capacity = 10000 }
for _, a in ipairs(ctx.args or {}) do
  local k, v = a:match("^([%w_]+)=(.+)$")
  if not k or opts[k] == nil or not tonumber(v) then error("craq_reads: unknown argument '" .. a .. "'", 0) end
  opts[k] = tonumber(v)
end

local READS, SECONDS = 4000, 2

local function measure(n, craq)
  local net = hs.Network{ name = "net", default_link = hs.datacenter_network() }
  local names = {}
  for i = 1, n do names[i] = "c" .. i end
  local chain = hs.build_chain{ names = names, network = net, craq_enabled = craq }
  local sim = hs.Simulation{ seed = ctx.seed, entities = { net, chain.master, table.unpack(chain) } }
  local rng = sim:random("craq_reads")
  local served = 0
  sim:spawn(function() -- writes at the head
    hs.sleep(0.5)
    local i = 0
    while hs.now() < 0.5 + SECONDS do
      i = i + 1
      chain[1]:write("k" .. rng:random(10), i)
      hs.sleep(1 / opts.writes)
    end
  end)
  sim:spawn(function() -- reads
    hs.sleep(0.5)
    local total = READS * SECONDS
    for i = 1, total do
      local node = craq and chain[(i % n) + 1] or chain[n]
      node:read("k" .. rng:random(10)):on_settle(function(f) if f.ok then served = served + 1 end end)
      hs.sleep(1 / READS)
    end
  end)
  sim:run_until(0.5 + SECONDS + 1)
  local busiest = 0
  for _, c in ipairs(chain) do
    local s = c.stats
    busiest = math.max(busiest, s.reads_served + s.version_queries)
  end
  local dirty = 0
  for _, c in ipairs(chain) do dirty = dirty + c.stats.dirty_reads end
  return opts.capacity * served / math.max(busiest, 1), served, dirty
end

print(("read throughput at saturation (node capacity %d requests/s, %g writes/s at the head)")
  :format(opts.capacity, opts.writes))
print(("%-7s %16s %16s %10s %14s"):format("nodes", "chain reads/s", "CRAQ reads/s", "CRAQ/chain", "CRAQ dirty"))
for n = 3, 9 do
  local plain = measure(n, false)
  local craq, _, dirty = measure(n, true)
  print(("%-7d %16.0f %16.0f %9.2fx %13.2f%%"):format(n, plain, craq, craq / plain, 100 * dirty / (READS * SECONDS)))
end
