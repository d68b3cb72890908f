--- Linearizability checker benchmark (figures, not tests).
--   build/bin/happysim run scripts/bench/checker.lua [-- --quick]
-- or: LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="build/?.so;;" lua5.4 scripts/bench/checker.lua [--quick]
--
-- Histories come from a simulation: clients (processes) call a linearizable register (or
-- one register per key), each operation takes effect at a random instant between its
-- invoke and its completion, latencies are exponential. So every history is valid and the
-- checker has to prove it. Values are drawn from a small domain (0..4), as in Jepsen, which
-- makes many orders plausible. With `info`, a share of the operations time out: their
-- effect happens (or not) and the client never learns; the process then continues under a
-- new process id, as Jepsen's do. The last runs corrupt one read to show what proving a
-- violation costs.
-- Prints, per run: operations invoked and checked, clients, model, keys, info operations,
-- the result, the checker's CPU seconds, model steps, memoized configurations and the
-- process's peak memory (all runs share one process, so it only grows).

local hs = require("happysim")
local bench = require("happysim.bench")

local quick = bench.options("bench/checker", {}, ...).quick
local peak_rss_mb = bench.peak_rss_mb

--- A valid history of about `ops` operations from `clients` concurrent clients.
local function generate(cfg)
  local sim = hs.Simulation{ seed = cfg.seed or 1 }
  local r = sim:random("workload")
  local h = {}
  local state = {}
  local keys = cfg.keys or 1
  local issued = 0
  local function key_of() return cfg.model == "kv" and ("k" .. r:random(keys)) or nil end
  for c = 1, cfg.clients do
    sim:spawn(function()
      local process = c
      hs.sleep(r:exponential(0.001))
      while issued < cfg.ops do
        issued = issued + 1
        local key = key_of()
        local roll = r:random()
        local f, value
        if roll < 0.5 then
          f = "read"
        elseif roll < 0.8 then
          f, value = "write", r:random(0, 4)
        else
          f, value = "cas", { r:random(0, 4), r:random(0, 4) }
        end
        h[#h + 1] = { process = process, type = "invoke", f = f, key = key, value = value, time = sim.now }
        hs.sleep(r:exponential(0.002))
        -- the linearization point
        local sk = key or "register"
        local out, done = nil, "ok"
        if f == "read" then
          out = state[sk]
        elseif f == "write" then
          state[sk] = value
        elseif state[sk] == value[1] then
          state[sk] = value[2]
        else
          done = "fail"
        end
        local info = cfg.info and r:random() < cfg.info
        if info then
          -- the client times out: it never hears back (a lost reply, a crashed proxy)
          hs.sleep(r:exponential(0.004))
          h[#h + 1] = { process = process, type = "info", f = f, key = key, time = sim.now }
          process = process + cfg.clients
        else
          hs.sleep(r:exponential(0.002))
          h[#h + 1] = { process = process, type = done, f = f, key = key,
                        value = f == "read" and out or value, time = sim.now }
        end
        hs.sleep(r:exponential(0.001))
      end
    end)
  end
  sim:run()
  return h
end

-- 5 to 50 clients; a single register gets harder with concurrency much faster than a kv
-- store whose load spreads over keys (each key is checked on its own).
local runs = {
  { ops = 1000, clients = 5, model = "cas_register" },
  { ops = 1000, clients = 50, model = "cas_register" },
  { ops = 10000, clients = 10, model = "cas_register" },
  { ops = 10000, clients = 20, model = "cas_register" },
  { ops = 10000, clients = 50, model = "cas_register" },
  { ops = 10000, clients = 20, model = "kv", keys = 4 },
  { ops = 10000, clients = 10, model = "cas_register", info = 0.01 },
  { ops = 100000, clients = 5, model = "cas_register" },
  { ops = 100000, clients = 20, model = "cas_register" },
  { ops = 100000, clients = 50, model = "kv", keys = 8 },
  { ops = 100000, clients = 50, model = "kv", keys = 4, info = 0.01 },
  -- invalid: one read in the middle returns a value nobody wrote. Proving that no order
  -- works means exhausting the configurations before it: costlier than finding one order.
  { ops = 10000, clients = 10, model = "cas_register", corrupt = true },
  { ops = 100000, clients = 5, model = "cas_register", corrupt = true },
  { ops = 100000, clients = 50, model = "kv", keys = 8, corrupt = true },
}
if quick then
  runs = { runs[1], runs[2], runs[6], runs[7], runs[12] }
end

-- ops: operations invoked; checked: ok + info (a cas that found another value fails and is left out)
print(("%-7s %-8s %-8s %-13s %-5s %-5s %-8s %-8s %-9s %-9s %s"):format("ops", "checked", "clients", "model",
  "keys", "info", "result", "seconds", "steps", "configs", "peak MB"))
for _, cfg in ipairs(runs) do
  local h = generate(cfg)
  if cfg.corrupt then
    for i = #h // 2, #h do
      if h[i].type == "ok" and h[i].f == "read" then
        h[i].value = 77
        break
      end
    end
  end
  local t0 = os.clock()
  local res = hs.check.linearizable(h, { model = cfg.model, timeout = 120 })
  local secs = os.clock() - t0
  print(("%-7d %-8d %-8d %-13s %-5s %-5d %-8s %-8.3f %-9d %-9d %.0f"):format(cfg.ops, res.ops, cfg.clients,
    cfg.model, tostring(cfg.keys or 1), res.unknown, tostring(res.valid), secs, res.steps, res.configurations,
    peak_rss_mb()))
  if res.valid ~= true and not cfg.corrupt then print("  " .. res.message:gsub("\n", "\n  ")) end
  if cfg.corrupt then print(("  corrupted read found: %s (prefix of %s operations)"):format(
    tostring(res.valid == false and res.anomaly.op.output == 77), res.anomaly and res.anomaly.prefix_length or "-")) end
end
