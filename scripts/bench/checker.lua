--- Linearizability checker benchmark (figures, not tests).
--   build/bin/happysim run scripts/bench/checker.lua [-- --quick]
-- or: LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="build/?.so;;" lua5.4 scripts/bench/checker.lua [--quick]
--
-- Part 1, the goals: Jepsen-shaped histories (tests/data/checker, made by
-- tools/gen-checker-histories.lua: one key, 50 hs.workload.kv clients of a Raft cluster
-- under partitions, about 400 operations, 30 and 49 of them timed out), as recorded (valid)
-- and with one read corrupted (invalid), checked with the C models ("kv" and
-- "cas_register") and with the same model written in Lua. Each check is run several times
-- and the best time printed: the goal is under 50 ms each. Then the overhead of a Lua
-- model step: the same searches (the Lua model declares readonly, so it takes exactly the
-- built-in model's steps) timed with both models, the difference per step; goal under
-- 0.3 us; how many of those steps reached Lua (the binding remembers steps from plain
-- states) and the overhead per call into Lua. For comparison: a Lua model whose states are
-- tables (encoded and canonicalized at each step, not cached), and one that does not declare readonly (so the search branches on every
-- read, as it must when it cannot know that a read changes nothing; not in --quick, and
-- with max_steps = 5e6, which it may use up). Last (not in --quick), the spread of the
-- times over 40 histories of the same generator.
--
-- Part 2, throughput: histories from a simulation: clients (processes) call a
-- linearizable register (or one register per key), each operation takes effect at a
-- random instant between its invoke and its completion, latencies are exponential. So
-- every history is valid and the checker has to prove it. Values are drawn from a small
-- domain (0..4), as in Jepsen, which makes many orders plausible. With `info`, a share of
-- the operations time out: their effect happens (or not) and the client never learns; the
-- process then continues under a new process id, as Jepsen's do. The last runs corrupt one
-- read to show what proving a violation costs.
-- Prints, per run: operations invoked and checked, clients, model, keys, info operations,
-- the result, the checker's CPU seconds, model steps, memoized configurations and the
-- process's peak memory (all runs share one process, so it only grows).

local hs = require("happysim")
local bench = require("happysim.bench")

local quick = bench.options("bench/checker", {}, ...).quick
local peak_rss_mb = bench.peak_rss_mb

-- ---- part 1: the goals -------------------------------------------------------------------

local here = debug.getinfo(1, "S").source:match("^@(.-)[^/]*$")
local DATA = (here ~= "" and here or "./") .. "../../tests/data/checker/"

local function corrupted(d)
  local h = {}
  for i, r in ipairs(d.history) do h[i] = r end
  local r = {}
  for k, v in pairs(h[d.corrupt.record]) do r[k] = v end
  r.value = d.corrupt.value
  h[d.corrupt.record] = r
  return h
end

-- The kv model (a cas register per key), in Lua; its state is the value (plain data).
local lua_calls = 0 -- steps that reached Lua (the others come from the binding's step cache)
local lua_kv = {
  partition = "key",
  init = function() return nil end,
  step = function(v, op)
    lua_calls = lua_calls + 1
    local f = op.f
    if f == "read" then return op.unknown or op.output == v, v end
    if f == "write" then return true, op.value end
    if v == op.value[1] then return true, op.value[2] end
    return false
  end,
  readonly = function(op) return op.f == "read" end,
}
-- The same without readonly: every read is a branch of its own (no partial-order reduction).
local lua_kv_plain = { partition = "key", init = lua_kv.init, step = lua_kv.step }
-- The same, with each state a table { v = value }.
local lua_kv_table = {
  partition = "key",
  init = function() return { v = nil } end,
  step = function(s, op)
    local f = op.f
    if f == "read" then return op.unknown or op.output == s.v, s end
    if f == "write" then return true, { v = op.value } end
    if s.v == op.value[1] then return true, { v = op.value[2] } end
    return false
  end,
  readonly = function(op) return op.f == "read" end,
}

-- The best CPU time (os.clock) of `reps` checks, and the result of the last.
local function timed(h, model, reps, max_steps)
  local best, res = math.huge, nil
  for _ = 1, reps do
    local t0 = os.clock()
    res = hs.check.linearizable(h, { model = model, max_steps = max_steps })
    local t = os.clock() - t0
    if t < best then best = t end
  end
  return best, res
end

local reps = quick and 3 or 15
local worst = { valid = 0, invalid = 0 }
local decided = true
print("Jepsen-shaped histories: one key, 50 clients (tests/data/checker); best of " .. reps .. " runs")
print(("%-22s %-8s %-6s %-17s %-8s %-9s %-9s %s"):format("history", "variant", "ops", "model", "result", "ms",
  "steps", "configs"))
local overhead = { c = 0, lua = 0, table = 0, steps = 0, calls = 0 }
for _, file in ipairs{ "raft_kv50_seed2.lua", "raft_kv50_seed34.lua" } do
  local d = dofile(DATA .. file)
  for _, variant in ipairs{ "valid", "invalid" } do
    local h = variant == "valid" and d.history or corrupted(d)
    local expect = variant == "valid"
    local steps
    local models = { { "kv", "kv" }, { "cas_register", "cas_register" }, { "lua", lua_kv }, { "lua (tables)", lua_kv_table } }
    if not quick then models[#models + 1] = { "lua, no readonly", lua_kv_plain, 1, 5000000 } end
    for _, m in ipairs(models) do
      local calls0 = lua_calls
      local secs, res = timed(h, m[2], m[3] or reps, m[4])
      if m[1] == "lua" then overhead.calls = overhead.calls + (lua_calls - calls0) / (m[3] or reps) end
      if res.valid ~= expect and m[1] ~= "lua, no readonly" then decided = false end
      if m[1] == "kv" or m[1] == "cas_register" or m[1] == "lua" then worst[variant] = math.max(worst[variant], secs) end
      print(("%-22s %-8s %-6d %-17s %-8s %-9.2f %-9d %d"):format(file:gsub("%.lua$", ""), variant, res.ops, m[1],
        tostring(res.valid), secs * 1000, res.steps, res.configurations))
      if m[1] == "kv" then
        overhead.c, steps = overhead.c + secs, res.steps
        overhead.steps = overhead.steps + res.steps
      elseif m[1] == "lua" then
        assert(res.steps == steps, "the Lua model took other steps than the built-in one")
        overhead.lua = overhead.lua + secs
      elseif m[1] == "lua (tables)" then
        overhead.table = overhead.table + secs
      end
    end
  end
end
local per_step = (overhead.lua - overhead.c) / overhead.steps * 1e6
local per_step_table = (overhead.table - overhead.c) / overhead.steps * 1e6
local function met(ok) return ok and "met" or "NOT MET" end
print(("goal: every history decided right (valid true, corrupted false): %s"):format(met(decided)))
print(("goal: valid decided in under 50 ms (slowest %.2f ms: kv, cas_register, lua): %s"):format(worst.valid * 1000,
  met(worst.valid < 0.05)))
print(("goal: invalid decided in under 50 ms (slowest %.2f ms: kv, cas_register, lua): %s"):format(worst.invalid * 1000,
  met(worst.invalid < 0.05)))
print(("goal: overhead of a Lua model step under 0.3 us: %.3f us per step (%d steps): %s"):format(per_step,
  overhead.steps, met(per_step < 0.3)))
print(("      %d of those steps called Lua (%.0f%%; the binding's step cache answered the others); the extra"
  .. " time over C divided by those calls (it also pays for the cache's lookups): %.3f us"):format(overhead.calls, 100 * overhead.calls / overhead.steps,
  (overhead.lua - overhead.c) / math.max(overhead.calls, 1) * 1e6))
print(("      a Lua model whose states are tables (not cached): %.3f us per step"):format(per_step_table))

-- The spread: 40 histories of the same generator (tools/gen-checker-histories.lua, seeds
-- 1..40), each as recorded and with its read corrupted, with the kv model. Invalid
-- histories cost more: proving that no order works means trying them all up to the
-- corrupted read, and a stretch where many writes are pending at once multiplies them.
if not quick then
  local gen = assert(loadfile(here .. "../../tools/gen-checker-histories.lua"))({ hs = hs, library = true })
  local times = { valid = {}, invalid = {} }
  local slowest = { valid = { 0 }, invalid = { 0 } }
  for seed = 1, 40 do
    local w = gen.run(seed)
    local h = w.history
    local d = { history = h, corrupt = { record = gen.corrupt_record(h), value = -1 } }
    for _, variant in ipairs{ "valid", "invalid" } do
      local secs, res = timed(variant == "valid" and h or corrupted(d), "kv", 1)
      if res.valid ~= (variant == "valid") then decided = false end
      local t = times[variant]
      t[#t + 1] = secs
      if secs > slowest[variant][1] then slowest[variant] = { secs, seed, res.steps } end
    end
  end
  for _, variant in ipairs{ "valid", "invalid" } do
    local t = times[variant]
    table.sort(t)
    local under = 0
    for _, x in ipairs(t) do if x < 0.05 then under = under + 1 end end
    print(("spread over seeds 1..40 of the generator, %s, kv: median %.2f ms, 90th percentile %.2f ms, slowest "
      .. "%.1f ms (seed %d, %d steps); %d of 40 under 50 ms"):format(variant, t[20] * 1000, t[36] * 1000,
      slowest[variant][1] * 1000, slowest[variant][2], slowest[variant][3], under))
  end
  print(("every one decided right: %s"):format(met(decided)))
end
print()

-- ---- part 2: throughput --------------------------------------------------------------------

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
