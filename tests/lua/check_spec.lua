local hs = require("happysim")
local hsb = require("happysim.busted")
local invariants = require("happysim.invariants")

-- A history builder: h:invoke(p, f, value [, key]) / h:ok(p [, value]) / h:fail(p) / h:info(p)
local function history()
  local h = { t = 0 }
  local function rec(r)
    h.t = h.t + 1
    r.time = r.time or h.t / 10
    h[#h + 1] = r
    return h
  end
  function h.invoke(_, p, f, value, key) return rec{ process = p, type = "invoke", f = f, value = value, key = key } end
  function h.ok(_, p, value) return rec{ process = p, type = "ok", value = value } end
  function h.fail(_, p) return rec{ process = p, type = "fail" } end
  function h.info(_, p) return rec{ process = p, type = "info" } end
  return h
end

local function records(h)
  local out = {}
  for i = 1, #h do out[i] = h[i] end
  return out
end

-- tests/data/checker: Jepsen-shaped histories made by tools/gen-checker-histories.lua
local DATA = debug.getinfo(1, "S").source:match("^@(.-)tests/lua/[^/]*$") .. "tests/data/checker/"
if DATA:sub(1, 1) ~= "/" and DATA:sub(1, 2) ~= "./" then DATA = "./" .. DATA end

-- The file's history with its corruption applied: one read returns a value nobody wrote.
local function corrupted(d)
  local h = {}
  for i, r in ipairs(d.history) do h[i] = r end
  local r = {}
  for k, v in pairs(h[d.corrupt.record]) do r[k] = v end
  r.value = d.corrupt.value
  h[d.corrupt.record] = r
  return h
end

describe("hs.check.linearizable", function()
  describe("built-in models", function()
    it("accepts a sequential register history and rejects a stale read", function()
      local h = history():invoke(1, "write", 1):ok(1):invoke(2, "read"):ok(2, 1)
      local r = hs.check.linearizable(records(h), { model = "register" })
      assert.is_true(r.valid)
      assert.equal(2, r.ops)
      h = history():invoke(1, "write", 1):ok(1):invoke(2, "read"):ok(2, nil)
      r = hs.check.linearizable(records(h), "register")
      assert.is_false(r.valid)
      assert.equal("read", r.anomaly.op.f)
      assert.equal(1, r.anomaly.prefix_length)
      assert.equal(1, r.anomaly.state)
    end)

    it("lets concurrent reads see either value but not new then old", function()
      -- write 1 overlaps two reads: nil then 1 is fine
      local h = history():invoke(0, "write", 1):invoke(1, "read"):ok(1, nil):invoke(2, "read"):ok(2, 1):ok(0)
      assert.is_true(hs.check.linearizable(records(h), "register").valid)
      -- 1 then nil is not
      h = history():invoke(0, "write", 1):invoke(1, "read"):ok(1, 1):invoke(2, "read"):ok(2, nil):ok(0)
      local r = hs.check.linearizable(records(h), "register")
      assert.is_false(r.valid)
      assert.equal(2, r.anomaly.op.process)
      assert.matches("not linearizable", r.message)
      assert.matches("process 2: read %-> nil", r.message)
    end)

    it("checks cas against the current value", function()
      local r = hs.check.linearizable({
        { process = 1, type = "invoke", f = "write", value = 0 }, { process = 1, type = "ok" },
        { process = 1, type = "invoke", f = "cas", value = { 0, 1 } }, { process = 1, type = "ok" },
        { process = 2, type = "invoke", f = "cas", value = { 1, 2 } }, { process = 2, type = "ok" },
        { process = 3, type = "invoke", f = "read" }, { process = 3, type = "ok", value = 2 },
      }, "cas_register")
      assert.is_true(r.valid)
      r = hs.check.linearizable({
        { process = 1, type = "invoke", f = "write", value = 0 }, { process = 1, type = "ok" },
        { process = 2, type = "invoke", f = "cas", value = { 5, 1 } }, { process = 2, type = "ok" },
      }, "cas_register")
      assert.is_false(r.valid)
      assert.same({ 5, 1 }, r.anomaly.op.value)
      assert.equal(0, r.anomaly.state)
    end)

    it("partitions kv by key and names the failing key", function()
      local h = {
        { process = 1, type = "invoke", f = "write", key = "x", value = 1, time = 0 },
        { process = 2, type = "invoke", f = "write", key = "y", value = 2, time = 0 },
        { process = 1, type = "ok", f = "write", key = "x", value = 1, time = 1 },
        { process = 2, type = "ok", f = "write", key = "y", value = 2, time = 1 },
        { process = 1, type = "invoke", f = "read", key = "x", time = 2 },
        { process = 1, type = "ok", f = "read", key = "x", value = 1, time = 3 },
        { process = 2, type = "invoke", f = "read", key = "y", time = 3 },
        { process = 2, type = "ok", f = "read", key = "y", value = 1, time = 4 },
      }
      local r = hs.check.linearizable(h, "kv")
      assert.is_false(r.valid)
      assert.equal("y", r.key)
      assert.equal("y", r.anomaly.key)
      assert.equal(2, r.anomaly.op.process)
      assert.equal(2, r.anomaly.state)
      assert.equal(2, r.partitions)
      assert.matches('key "y"', r.message)
      -- without partitioning, one search over a map gives the same answer
      local r2 = hs.check.linearizable(h, { model = "kv", partition = false })
      assert.is_false(r2.valid)
      h[8].value = 2
      assert.is_true(hs.check.linearizable(h, "kv").valid)
      assert.is_true(hs.check.linearizable(h, { model = "kv", partition = false }).valid)
    end)

    it("checks sets and counters", function()
      local set = {
        { process = 1, type = "invoke", f = "add", value = "a" }, { process = 1, type = "ok" },
        { process = 2, type = "invoke", f = "add", value = "b" },
        { process = 3, type = "invoke", f = "read" }, { process = 3, type = "ok", value = { "b", "a" } },
        { process = 2, type = "ok" },
      }
      assert.is_true(hs.check.linearizable(set, "set").valid)
      set[5].value = { "a", "c" }
      local r = hs.check.linearizable(set, "set")
      assert.is_false(r.valid)
      assert.same({ "a", "b" }, r.anomaly.state) -- after add a, add b
      assert.same({ "a", "c" }, r.anomaly.op.output)
      local counter = {
        { process = 1, type = "invoke", f = "add", value = 2 }, { process = 1, type = "ok" },
        { process = 2, type = "invoke", f = "add", value = 3 },
        { process = 3, type = "invoke", f = "read" }, { process = 3, type = "ok", value = 5 },
        { process = 2, type = "info" },
        { process = 4, type = "invoke", f = "read" }, { process = 4, type = "ok", value = 2 },
      }
      assert.is_false(hs.check.linearizable(counter, "counter").valid) -- 5 then 2: the add cannot be undone
      counter[8].value = 5
      assert.is_true(hs.check.linearizable(counter, "counter").valid)
    end)

    it("compares values, not table identity or number subtypes", function()
      local h = {
        { process = 1, type = "invoke", f = "write", value = { a = 1, b = { 2.0, "x" } } }, { process = 1, type = "ok" },
        { process = 2, type = "invoke", f = "read" }, { process = 2, type = "ok", value = { b = { 2, "x" }, a = 1.0 } },
      }
      assert.is_true(hs.check.linearizable(h, "register").valid)
      assert.equal(hs.core.check.canonical({ x = 1, y = 2 }), hs.core.check.canonical({ y = 2.0, x = 1 }))
    end)
  end)

  describe("fail and info operations", function()
    it("leaves out fail operations", function()
      local h = history():invoke(1, "write", 1):fail(1):invoke(2, "read"):ok(2, nil)
      local r = hs.check.linearizable(records(h), "register")
      assert.is_true(r.valid)
      assert.equal(1, r.failed)
      assert.equal(1, r.ops)
      -- a failed write that somebody read is an anomaly
      h = history():invoke(1, "write", 1):fail(1):invoke(2, "read"):ok(2, 1)
      assert.is_false(hs.check.linearizable(records(h), "register").valid)
    end)

    it("lets info operations take effect at any later time, or never", function()
      local h = history():invoke(1, "write", 1):info(1)
        :invoke(2, "read"):ok(2, nil)
        :invoke(2, "read"):ok(2, 1)
      local r = hs.check.linearizable(records(h), "register")
      assert.is_true(r.valid)
      assert.equal(1, r.unknown)
      -- never is fine too
      h = history():invoke(1, "write", 1):info(1):invoke(2, "read"):ok(2, nil)
      assert.is_true(hs.check.linearizable(records(h), "register").valid)
      -- but not before its invoke
      h = history():invoke(2, "read"):ok(2, 1):invoke(1, "write", 1):info(1)
      r = hs.check.linearizable(records(h), "register")
      assert.is_false(r.valid)
    end)

    it("treats an invoke without a completion as info", function()
      local h = history():invoke(1, "write", 7):invoke(2, "read"):ok(2, 7)
      local r = hs.check.linearizable(records(h), "register")
      assert.is_true(r.valid)
      assert.equal(1, r.unknown)
    end)

    it("reports pending info operations among the concurrent ones", function()
      -- the longest prefix holds the most operations of known outcome, and no info
      -- operation that nothing needed: the info write is among those pending...
      local h = history():invoke(1, "write", 1):ok(1)
        :invoke(3, "write", 9):info(3)
        :invoke(2, "read"):ok(2, 5)
      local r = hs.check.linearizable(records(h), "register")
      assert.is_false(r.valid)
      assert.equal(5, r.anomaly.op.output)
      assert.equal(1, r.anomaly.prefix_length)
      assert.equal(1, r.anomaly.state)
      assert.equal(1, #r.anomaly.concurrent)
      assert.equal(9, r.anomaly.concurrent[1].value)
      -- ...as one that could not have happened is
      h = history():invoke(1, "write", 1):ok(1)
        :invoke(3, "cas", { 7, 8 }):info(3)
        :invoke(2, "read"):ok(2, 5)
      r = hs.check.linearizable(records(h), "cas_register")
      assert.is_false(r.valid)
      assert.equal(1, r.anomaly.prefix_length)
      assert.equal(1, #r.anomaly.concurrent)
      local c = r.anomaly.concurrent[1]
      assert.equal("info", c.type)
      assert.same({ 7, 8 }, c.value)
      assert.equal(3, c.process)
      assert.equal(4, c.complete_index) -- the info record
      assert.matches("outcome unknown, info at t=0.4 %(record 4%)", r.message)
      assert.equal(2, #r.anomaly.ops)
      assert.matches("outcome unknown", r.message)
    end)
  end)

  describe("anomaly", function()
    it("names the operation, its times, the prefix and the state", function()
      -- Knossos' RethinkDB example: a read of a value nobody wrote
      local h = {
        { process = 0, type = "invoke", f = "write", value = 0, time = 1.0 },
        { process = 0, type = "ok", f = "write", value = 0, time = 1.5 },
        { process = 1, type = "invoke", f = "read", time = 2.0 },
        { process = 2, type = "invoke", f = "write", value = 4, time = 2.5 },
        { process = 1, type = "ok", f = "read", value = 3, time = 3.0 },
        { process = 2, type = "ok", f = "write", value = 4, time = 3.5 },
        { process = 3, type = "invoke", f = "read", time = 4.0 },
        { process = 3, type = "ok", f = "read", value = 4, time = 4.5 },
      }
      local r = hs.check.linearizable(h, { model = "cas_register", timeout = 10 })
      assert.is_false(r.valid)
      local op = r.anomaly.op
      assert.same({ f = "read", process = 1, output = 3, value = 3, type = "ok", index = 3, complete_index = 5,
                    invoke_time = 2.0, complete_time = 3.0 }, op)
      assert.equal(2, r.anomaly.prefix_length)
      assert.equal(2, #r.anomaly.prefix)
      assert.equal(0, r.anomaly.prefix[1].value)
      assert.equal(4, r.anomaly.prefix[2].value)
      assert.equal(4, r.anomaly.state)
      assert.same({}, r.anomaly.concurrent)
      assert.matches("t=2 .. 3", r.message, 1, true)
      assert.equal(r.message, tostring(r))
    end)
  end)

  describe("histories from a simulation", function()
    -- clients of a linearizable cas register: each operation takes effect inside its interval
    local function generate(seed, clients, ops, info)
      local sim = hs.Simulation{ seed = seed }
      local r = sim:random("workload")
      local h, value, issued = {}, nil, 0
      for c = 1, clients do
        sim:spawn(function()
          local process = c
          while issued < ops do
            issued = issued + 1
            local roll, f, v = r:random(), nil, nil
            if roll < 0.5 then f = "read" elseif roll < 0.8 then f, v = "write", r:random(0, 3)
            else f, v = "cas", { r:random(0, 3), r:random(0, 3) } end
            h[#h + 1] = { process = process, type = "invoke", f = f, value = v, time = sim.now }
            hs.sleep(r:exponential(0.002))
            local out, ty = nil, "ok"
            if f == "read" then out = value
            elseif f == "write" then value = v
            elseif value == v[1] then value = v[2]
            else ty = "fail" end
            if info and r:random() < info then
              h[#h + 1] = { process = process, type = "info", f = f, time = sim.now }
              process = process + clients
            else
              hs.sleep(r:exponential(0.002))
              h[#h + 1] = { process = process, type = ty, f = f, value = f == "read" and out or v, time = sim.now }
            end
          end
        end)
      end
      sim:run()
      return h
    end

    it("accepts them, with and without info operations", function()
      for seed = 1, 5 do
        local r = hs.check.linearizable(generate(seed, 8, 400), "cas_register")
        assert.is_true(r.valid, r.message)
        r = hs.check.linearizable(generate(seed, 8, 400, 0.05), "cas_register")
        assert.is_true(r.valid, r.message)
        assert.is_true(r.unknown > 0)
      end
    end)

    it("finds a read of a value nobody wrote, and points at it", function()
      local h = generate(3, 8, 400)
      local target
      for i = #h // 2, #h do
        if h[i].type == "ok" and h[i].f == "read" then target = i break end
      end
      h[target].value = 99
      local r = hs.check.linearizable(h, "cas_register")
      assert.is_false(r.valid)
      assert.equal(target, r.anomaly.op.complete_index)
      assert.equal(99, r.anomaly.op.output)
      assert.is_true(r.anomaly.prefix_length > 50)
    end)
  end)

  describe("Jepsen-shaped histories (tests/data/checker)", function()
    -- one key, 50 clients of a Raft cluster under partitions, many timed-out operations
    for _, file in ipairs{ "raft_kv50_seed2.lua", "raft_kv50_seed34.lua" } do
      it(file .. " is linearizable; with one read corrupted it is not, and the report shows why", function()
        local d = dofile(DATA .. file)
        local ok = hs.check.linearizable(d.history, "kv")
        assert.is_true(ok.valid, ok.message)
        assert.is_true(ok.unknown >= 20)
        local r = hs.check.linearizable(corrupted(d), "kv")
        assert.is_false(r.valid)
        local a = r.anomaly
        -- the key, the operation that cannot be placed, the longest linearizable prefix
        assert.equal("k1", r.key)
        assert.equal(d.corrupt.record, a.op.complete_index)
        assert.equal(-1, a.op.output)
        assert.is_true(a.prefix_length > 100)
        assert.equal(a.prefix_length, #a.linearization)
        assert.equal(a.prefix[#a.prefix].index, a.linearization[#a.linearization])
        assert.equal(1 + #a.concurrent, #a.ops)
        local lines = {}
        for line in (r.message .. "\n"):gmatch("(.-)\n") do lines[#lines + 1] = line end
        assert.matches('^not linearizable %(model kv, key "k1"%): process %d+: read "k1" %-> %-1 %[t=[%d.]+ %.%. [%d.]+, '
          .. "records %d+ %.%. " .. d.corrupt.record .. "%] cannot be linearized$", lines[1])
        assert.equal(("  longest linearizable prefix: %d operations, ending with:"):format(a.prefix_length), lines[2])
        assert.matches("\n  model state after it: ", r.message)
        assert.matches("\n  operations that cannot be placed after it %(the first must take effect before it "
          .. "completes, the others were pending then%):\n    process %d+: read \"k1\" %-> %-1 ", r.message)
        -- the prefix replays: every operation in it is one of the history's invocations
        for _, rec in ipairs(a.linearization) do assert.equal("invoke", d.history[rec].type) end
      end)
    end
  end)

  describe("Lua models", function()
    local lua_register = {
      init = function() return { v = nil } end,
      step = function(state, op)
        if op.f == "read" then return op.unknown or op.output == state.v, state end
        if op.f == "write" then return true, { v = op.value } end
        if op.f == "cas" then
          if state.v ~= op.value[1] then return false end
          return true, { v = op.value[2] }
        end
        error("unknown f " .. op.f)
      end,
    }

    it("agree with the built-in register", function()
      local h = history():invoke(0, "write", 1):invoke(1, "read"):ok(1, 1):invoke(2, "read"):ok(2, nil):ok(0)
      assert.is_false(hs.check.linearizable(records(h), lua_register).valid)
      h = history():invoke(0, "write", 1):invoke(1, "read"):ok(1, nil):invoke(2, "read"):ok(2, 1):ok(0)
      local r = hs.check.linearizable(records(h), { model = lua_register })
      assert.is_true(r.valid)
      assert.equal("lua", r.model)
    end)

    it("can hash their states and partition by key", function()
      local calls = 0
      local m = {
        init = function(key) return { key = key, v = 0 } end,
        step = function(s, op)
          calls = calls + 1
          assert.is_not_nil(op.key)
          if op.f == "add" then return true, { key = s.key, v = s.v + op.value, f = function() end } end
          return op.output == s.v, s
        end,
        hash = function(s) return s.v end,
        partition = "key",
      }
      local h = {
        { process = 1, type = "invoke", f = "add", key = "a", value = 2 }, { process = 1, type = "ok" },
        { process = 2, type = "invoke", f = "add", key = "b", value = 5 }, { process = 2, type = "ok" },
        { process = 1, type = "invoke", f = "read", key = "a" }, { process = 1, type = "ok", value = 2 },
        { process = 2, type = "invoke", f = "read", key = "b" }, { process = 2, type = "ok", value = 4 },
      }
      local r = hs.check.linearizable(h, m)
      assert.is_false(r.valid)
      assert.equal("b", r.key)
      assert.equal(5, r.anomaly.state.v)
      assert.equal(2, r.partitions)
      assert.is_true(calls > 0)
    end)

    it("let go of the states the search no longer needs", function()
      -- 12 concurrent writes and an impossible read: thousands of states, a shallow path
      local alive, created, max_alive, calls = setmetatable({}, { __mode = "k" }), 0, 0, 0
      local function new_state(v)
        local st = { v = v }
        alive[st] = true
        created = created + 1
        return st
      end
      local m = {
        init = function() return new_state(nil) end,
        step = function(st, op)
          calls = calls + 1
          if calls % 500 == 0 then
            collectgarbage()
            local n = 0
            for _ in pairs(alive) do n = n + 1 end
            if n > max_alive then max_alive = n end
          end
          if op.f == "read" then return op.output == st.v, st end
          return true, new_state(op.value)
        end,
      }
      local h = {}
      for p = 1, 12 do h[#h + 1] = { process = p, type = "invoke", f = "write", value = p } end
      for p = 1, 12 do h[#h + 1] = { process = p, type = "ok" } end
      h[#h + 1] = { process = 99, type = "invoke", f = "read" }
      h[#h + 1] = { process = 99, type = "ok", value = 99 }
      local r = hs.check.linearizable(h, m)
      assert.is_false(r.valid)
      assert.is_true(created > 5000)
      assert.is_true(max_alive > 0 and max_alive <= 20, "live states: " .. max_alive)
    end)

    it("may declare read-only operations: the search then takes the built-in model's steps", function()
      local steps = {}
      local m = {
        partition = "key",
        init = function() return nil end,
        step = function(v, op)
          if op.f == "read" then return op.unknown or op.output == v, v end
          if op.f == "write" then return true, op.value end
          if v == op.value[1] then return true, op.value[2] end
          return false
        end,
        readonly = function(op) return op.f == "read" end,
      }
      local d = dofile(DATA .. "raft_kv50_seed2.lua")
      for _, variant in ipairs{ "valid", "corrupt" } do
        local h = variant == "valid" and d.history or corrupted(d)
        local c = hs.check.linearizable(h, "kv")
        local l = hs.check.linearizable(h, m)
        assert.equal(variant == "valid", c.valid)
        assert.equal(c.valid, l.valid)
        assert.equal(c.steps, l.steps)
        steps[variant] = l.steps
      end
      -- without readonly, every read is a branch of its own: more steps, the same verdicts
      m.readonly = nil
      local l = hs.check.linearizable(d.history, m)
      assert.is_true(l.valid)
      assert.is_true(l.steps > steps.valid)
      -- and a budget that runs out says so, with the hint
      l = hs.check.linearizable(corrupted(d), { model = m, max_steps = 10000 })
      assert.equal("unknown", l.valid)
      assert.matches("declares readonly", l.message)
    end)

    it("keep plain states (nil, booleans, integers, strings) without copying them, and give them back", function()
      local seen = {}
      local m = {
        init = function() return "s0" end,
        step = function(st, op)
          seen[math.type(st) or type(st)] = true
          if op.f == "read" then return op.output == st, st end
          return true, op.value
        end,
      }
      local h = history():invoke(1, "write", 7):ok(1):invoke(2, "write", true):ok(2):invoke(3, "write", "x"):ok(3)
        :invoke(4, "read"):ok(4, "x"):invoke(5, "write", 2.5):ok(5):invoke(6, "read"):ok(6, 7)
      local r = hs.check.linearizable(records(h), m)
      assert.is_false(r.valid)
      assert.equal(2.5, r.anomaly.state)
      assert.same({ string = true, integer = true, boolean = true, float = true }, seen)
    end)

    it("raise the model's error with a traceback", function()
      local bad = { init = function() return 0 end, step = function() error("boom in step") end }
      local h = history():invoke(1, "write", 1):ok(1)
      local ok, err = pcall(hs.check.linearizable, records(h), bad)
      assert.is_false(ok)
      assert.matches("the model failed: .*boom in step", err)
      assert.matches("stack traceback", err)
    end)

    it("raise an error of readonly", function()
      local bad = { init = function() return 0 end, step = function(s) return true, s end,
                    readonly = function() error("boom in readonly") end }
      local ok, err = pcall(hs.check.linearizable, records(history():invoke(1, "write", 1):ok(1)), bad)
      assert.is_false(ok)
      assert.matches("the model failed: .*boom in readonly", err)
    end)

    it("refuse states that cannot be compared without a hash", function()
      local m = { init = function() return { f = print } end, step = function(s) return true, s end }
      local ok, err = pcall(hs.check.linearizable, records(history():invoke(1, "write", 1):ok(1)), m)
      assert.is_false(ok)
      assert.matches("hash function", err)
    end)
  end)

  describe("validation", function()
    local function err_of(h, opts)
      local ok, err = pcall(hs.check.linearizable, h, opts or "register")
      assert.is_false(ok)
      return err
    end

    it("names the malformed record", function()
      assert.matches("history record 2 has no process",
        err_of({ { process = 1, type = "invoke", f = "read" }, { type = "ok" } }))
      assert.matches("history record 1 has an unknown type \"done\"",
        err_of({ { process = 1, type = "done", f = "read" } }))
      assert.matches("history record 1 has no type", err_of({ { process = 1, f = "read" } }))
      assert.matches("history record 1 is a completion %(ok%) for process 4, which has no pending invoke",
        err_of({ { process = 4, type = "ok", f = "read" } }))
      assert.matches("history record 2 invokes for process 1, which already has a pending invoke %(record 1%)",
        err_of({ { process = 1, type = "invoke", f = "read" }, { process = 1, type = "invoke", f = "read" } }))
      assert.matches("history record 2 has time 1, before the time 2 of record 1",
        err_of({ { process = 1, type = "invoke", f = "read", time = 2 }, { process = 1, type = "ok", time = 1 } }))
      assert.matches("history record 1 %(an invoke%) needs f",
        err_of({ { process = 1, type = "invoke" } }))
      assert.matches("history record 2 has f \"write\" but its invoke %(record 1%) has f \"read\"",
        err_of({ { process = 1, type = "invoke", f = "read" }, { process = 1, type = "ok", f = "write" } }))
      assert.matches("history record 3 must be a table, got number", err_of({ { process = 1, type = "invoke", f = "read" },
        { process = 1, type = "ok" }, 5 }))
      assert.matches("history must be an array", err_of("nope"))
    end)

    it("checks operations against the model", function()
      assert.matches("history record 1: a cas value must be { expected, new }",
        err_of({ { process = 1, type = "invoke", f = "cas", value = 3 }, { process = 1, type = "ok" } }, "cas_register"),
        1, true)
      assert.matches("history record 1: the register model knows read and write",
        err_of({ { process = 1, type = "invoke", f = "cas", value = { 1, 2 } }, { process = 1, type = "ok" } }), 1, true)
      assert.matches("history record 1: a kv operation needs a key",
        err_of({ { process = 1, type = "invoke", f = "read" }, { process = 1, type = "ok" } }, "kv"), 1, true)
      assert.matches("a function",
        err_of({ { process = 1, type = "invoke", f = "write", value = print }, { process = 1, type = "ok" } }))
    end)

    it("checks the options", function()
      local h = { { process = 1, type = "invoke", f = "read" } }
      assert.matches("unknown model \"paxos\"", err_of(h, "paxos"))
      assert.matches("field 'model' is required", err_of(h, {}))
      assert.matches("unknown option \"timeot\"", err_of(h, { model = "register", timeot = 1 }))
      assert.matches("field 'timeout' must be a positive number", err_of(h, { model = "register", timeout = -1 }))
      assert.matches("a model table needs init", err_of(h, { model = { step = print } }))
      assert.matches("partition must be \"key\"", err_of(h, { model = { init = print, step = print, partition = 1 } }))
      assert.matches("a model's readonly must be a function",
        err_of(h, { model = { init = print, step = print, readonly = true } }))
    end)

    it("points at the caller", function()
      local ok, err = pcall(function() hs.check.linearizable({ { type = "ok" } }, "register") end)
      assert.is_false(ok)
      assert.matches("check_spec.lua:%d+: bad argument #1 to 'linearizable'", err)
    end)
  end)

  describe("budgets", function()
    -- 30 concurrent writes, then a read of a value nobody wrote: every subset must be tried
    local function pathological()
      local h = {}
      for p = 1, 30 do h[#h + 1] = { process = p, type = "invoke", f = "write", value = p } end
      for p = 1, 30 do h[#h + 1] = { process = p, type = "ok" } end
      h[#h + 1] = { process = 99, type = "invoke", f = "read" }
      h[#h + 1] = { process = 99, type = "ok", value = 1000 }
      return h
    end

    it("returns unknown instead of hanging", function()
      local r = hs.check.linearizable(pathological(), { model = "register", max_steps = 20000 })
      assert.equal("unknown", r.valid)
      assert.equal("step limit", r.reason)
      assert.is_nil(r.timed_out)
      assert.equal(20000, r.steps)
      assert.matches("^unknown %(model register%): the check stopped after 20000 model steps, 1 of 1 sub%-histories "
        .. "checked: its budget of 20000 model steps %(max_steps%) ran out$", r.message)
      local t0 = os.clock()
      r = hs.check.linearizable(pathological(), { model = "register", timeout = 0.2 })
      assert.equal("unknown", r.valid)
      assert.equal("timeout", r.reason)
      assert.is_true(r.timed_out)
      assert.matches("timed out: the wall%-clock guard %(timeout = 0.2 s%)", r.message)
      assert.is_true(os.clock() - t0 < 3)
      r = hs.check.linearizable(pathological(), { model = "register", max_memory_mb = 2 })
      assert.equal("unknown", r.valid)
      assert.equal("memory limit", r.reason)
      assert.matches("its memory budget %(max_memory_mb = 2%) ran out", r.message)
    end)

    it("counts the budget in work: the same steps and verdict every time", function()
      local a = hs.check.linearizable(pathological(), { model = "register", max_steps = 1e5 })
      local b = hs.check.linearizable(pathological(), { model = "register", max_steps = 100000 })
      assert.equal(a.message, b.message)
      assert.equal(a.configurations, b.configurations)
      -- without options there is no wall-clock guard, only the step and memory budgets
      local ok, err = pcall(hs.check.linearizable, pathological(), { model = "register", max_steps = 1.5 })
      assert.is_false(ok)
      assert.matches("field 'max_steps' must be a positive integer", err)
    end)
  end)
end)

describe("happysim.busted", function()
  local good = {
    { process = 1, type = "invoke", f = "write", value = 1 }, { process = 1, type = "ok" },
    { process = 2, type = "invoke", f = "read" }, { process = 2, type = "ok", value = 1 },
  }
  local bad = {
    { process = 1, type = "invoke", f = "write", value = 1 }, { process = 1, type = "ok" },
    { process = 2, type = "invoke", f = "read" }, { process = 2, type = "ok", value = 2 },
  }

  it("assert.linearizable passes, and fails with the anomaly", function()
    assert.linearizable(good, "register")
    assert.is_not.linearizable(bad, "register")
    local ok, err = pcall(assert.linearizable, bad, "register")
    assert.is_false(ok)
    err = tostring(err)
    assert.matches("Expected the history to be linearizable", err)
    assert.matches("process 2: read %-> 2", err)
    assert.matches("model state after it: 1", err)
    ok, err = pcall(assert.is_not.linearizable, good, { model = "register" })
    assert.is_false(ok)
    assert.matches("not to be linearizable", tostring(err))
  end)

  it("assert.linearizable refuses to decide an unknown", function()
    local h = {}
    for p = 1, 30 do h[#h + 1] = { process = p, type = "invoke", f = "write", value = p } end
    for p = 1, 30 do h[#h + 1] = { process = p, type = "ok" } end
    h[#h + 1] = { process = 99, type = "invoke", f = "read" }
    h[#h + 1] = { process = 99, type = "ok", value = 1000 }
    local ok, err = pcall(assert.linearizable, h, { model = "register", max_steps = 1000 })
    assert.is_false(ok)
    assert.matches("could not decide", tostring(err))
    ok = pcall(assert.is_not.linearizable, h, { model = "register", max_steps = 1000 })
    assert.is_false(ok)
  end)

  local function scenario(seed)
    local sim = hs.Simulation{ seed = seed, end_time = 20 }
    local r = sim:random("arrivals")
    local function arrive() return r:exponential(0.5) end
    sim:timer(arrive(), arrive)
    return sim:run()
  end

  it("assert.deterministic compares trace hashes over seeds", function()
    assert.deterministic(scenario)
    assert.deterministic(function(seed) return scenario(seed).trace_hash end, { seed = 5, other_seed = 6 })
    -- a scenario that ignores its seed is caught, unless told it has no randomness
    local function fixed()
      local sim = hs.Simulation{ seed = 1 }
      sim:timer(1, function() end)
      sim:run()
      return sim
    end
    local ok, err = pcall(assert.deterministic, fixed)
    assert.is_false(ok)
    assert.matches("gave the same trace hash", tostring(err))
    assert.deterministic(fixed, { vary = false })
    -- and one that is not deterministic
    local n = 0
    local function flaky(seed)
      n = n + 1
      return scenario(seed + n)
    end
    ok, err = pcall(assert.deterministic, flaky)
    assert.is_false(ok)
    assert.matches("ran twice with different trace hashes", tostring(err))
  end)

  it("for_seeds runs a scenario per seed and reports the failing one", function()
    local seen = {}
    assert.equal(20, hsb.for_seeds(20, function(seed) seen[#seen + 1] = seed end))
    assert.equal(20, #seen)
    assert.equal(3, hsb.for_seeds("4..6", function() end))
    assert.equal(2, hsb.for_seeds({ 7, 9 }, function() end))
    assert.equal(5, hsb.for_seeds({ from = 10, to = 14 }, function() end))
    local ok, err = pcall(hsb.for_seeds, 50, function(seed)
      local s = scenario(seed)
      if seed == 17 then return false, "trace " .. s.trace_hash end
    end)
    assert.is_false(ok)
    assert.matches("seed 17 failed: trace %x+", err)
    assert.matches("HAPPYSIM_SEED=17", err)
    ok, err = pcall(hsb.for_seeds, 10, function(seed)
      if seed % 4 == 0 then error("bad seed " .. seed) end
    end, { keep_going = true })
    assert.is_false(ok)
    assert.matches("2 of 10 seeds failed", err)
    assert.matches("seed 4 failed: .*bad seed 4", err)
    assert.matches("seed 8 failed: .*bad seed 8", err)
  end)

  it("for_seeds checks a linearizability property per seed", function()
    hsb.for_seeds(25, function(seed)
      -- a register driven by random clients in a simulation: each op takes effect at its midpoint
      local sim = hs.Simulation{ seed = seed }
      local r = sim:random("clients")
      local value, h = nil, {}
      for p = 1, 3 do
        sim:spawn(function()
          for _ = 1, 5 do
            local f = r:random() < 0.5 and "read" or "write"
            local v = r:random(100)
            h[#h + 1] = { process = p, type = "invoke", f = f, value = f == "write" and v or nil, time = sim.now }
            hs.sleep(r:uniform(0.01, 0.1))
            local out
            if f == "write" then value = v else out = value end
            hs.sleep(r:uniform(0.01, 0.1))
            h[#h + 1] = { process = p, type = "ok", f = f, value = f == "write" and v or out, time = sim.now }
          end
        end)
      end
      sim:run()
      assert.linearizable(h, "register")
    end)
  end)
end)

describe("invariants", function()
  local function counter_sim(seed)
    local sim = hs.Simulation{ seed = seed or 42 }
    local st = { x = 0 }
    for i = 1, 10 do
      sim:schedule(hs.Event{ time = i * 0.5, type = "Inc", target = function() st.x = st.x + 1 end })
    end
    return sim, st
  end

  it("stops the run at the first violation with the seed, time and message", function()
    local sim, st = counter_sim(42)
    local calls = 0
    sim:invariant("x stays below 4", function()
      calls = calls + 1
      if st.x >= 4 then return false, "x is " .. st.x end
    end)
    local ok, err = pcall(sim.run, sim)
    assert.is_false(ok)
    assert.equal("invariant 'x stays below 4' violated at t=2 (seed 42) after event Inc: x is 4", err)
    assert.equal(4, calls)
    -- the run stopped right away: at most the event being dispatched ran
    assert.is_true(st.x <= 5)
    assert.is_true(sim.now <= 2.5)
    local v = invariants.violation(sim)
    assert.same({ invariant = "x stays below 4", message = "x is 4", time = 2.0, seed = 42, when = "event",
                  event = { type = "Inc" }, text = err }, v)
    -- running again raises the same violation
    local ok2, err2 = pcall(sim.run, sim)
    assert.is_false(ok2)
    assert.equal(err, err2)
  end)

  it("turns an error in a check into a violation", function()
    local sim, st = counter_sim(7)
    hs.invariant(sim, "asserting", function() assert(st.x < 3, "x reached 3") end)
    local ok, err = pcall(sim.run, sim)
    assert.is_false(ok)
    assert.matches("^invariant 'asserting' violated at t=1.5 %(seed 7%) after event Inc: .*x reached 3", err)
  end)

  it("checks every N events", function()
    local sim, st = counter_sim(1)
    local seen = {}
    sim:invariant("sampled", function() seen[#seen + 1] = st.x end, { every = 3, at_end = false })
    sim:run()
    assert.same({ 3, 6, 9 }, seen)
  end)

  it("checks every T simulated seconds with a daemon timer", function()
    local sim, st = counter_sim(3)
    local at = {}
    sim:invariant("periodic", function(s)
      at[#at + 1] = s.now
      if st.x >= 7 then return false, "too many" end
    end, { period = 1 })
    local ok, err = pcall(sim.run, sim)
    assert.is_false(ok)
    assert.same({ 1, 2, 3, 4 }, at)
    assert.equal("invariant 'periodic' violated at t=4 (seed 3): too many", err)
  end)

  it("runs end checks when run returns, and only then", function()
    local sim, st = counter_sim(5)
    local ran = 0
    sim:invariant("converged", function()
      ran = ran + 1
      if st.x ~= 10 then return false, "x is " .. st.x end
    end, { at_end = true })
    sim:run_until(1.0)
    assert.equal(0, ran)
    local s = sim:run()
    assert.equal(1, ran)
    assert.equal(10, s.events_processed)
    local sim2, st2 = counter_sim(6)
    sim2:invariant("never", function() return false end, { at_end = true })
    local ok, err = pcall(sim2.run, sim2)
    assert.is_false(ok)
    assert.equal("invariant 'never' violated at t=5 (seed 6) at the end of the run: the check returned false", err)
    assert.equal(10, st2.x)
  end)

  it("checks the last event too, and works with run_until and step", function()
    local sim, st = counter_sim(8)
    sim:invariant("below 10", function() return st.x < 10, "reached 10" end)
    sim:run_until(4.9)
    assert.equal(9, st.x)
    local ok, err = pcall(sim.step, sim, 5)
    assert.is_false(ok)
    assert.matches("violated at t=5 %(seed 8%) after event Inc: reached 10", err)
  end)

  it("keeps the user's trace function", function()
    local sim, st = counter_sim(9)
    local traced = {}
    sim:trace(function(t, ty) traced[#traced + 1] = ty end)
    local checks = 0
    local handle = sim:invariant("count", function() checks = checks + 1 end, { at_end = false })
    sim:run_until(2.0)
    assert.equal(4, #traced)
    assert.equal(4, checks)
    handle:remove()
    sim:run()
    assert.equal(10, #traced)
    assert.equal(4, checks)
    sim:trace(nil)
    assert.equal(10, st.x)
    -- and a trace set after the invariant
    local sim2 = counter_sim(10)
    local n = 0
    sim2:invariant("count", function() checks = checks + 1 end, { at_end = false })
    sim2:trace(function() n = n + 1 end)
    sim2:run_until(1.0)
    assert.equal(2, n)
    assert.equal(6, checks)
    sim2:trace(nil)
    sim2:run()
    assert.equal(2, n)
    assert.equal(14, checks)
    assert.has_error(function() sim2:trace(5) end)
  end)

  it("does not change a run without invariants", function()
    local a = counter_sim(11):run()
    local b = counter_sim(11):run()
    assert.equal(a.trace_hash, b.trace_hash)
  end)

  it("validates its arguments", function()
    local sim = counter_sim(1)
    assert.has_error(function() sim:invariant(1, function() end) end,
      "bad argument #2 to 'invariant' (name must be a string, got number)")
    assert.has_error(function() sim:invariant("x") end, "bad argument #3 to 'invariant' (function expected, got nil)")
    assert.has_error(function() sim:invariant("x", print, { every = 0 }) end,
      "bad argument #4 to 'invariant' (field 'every' must be a positive integer, got 0)")
    assert.has_error(function() sim:invariant("x", print, { evry = 1 }) end,
      "bad argument #4 to 'invariant' (unknown option 'evry')")
    assert.has_error(function() sim:invariant("x", print, { every = 2, period = 1 }) end,
      "bad argument #4 to 'invariant' (give 'every' or 'period', not both)")
    assert.has_error(function() hs.invariant({}, "x", print) end,
      "bad argument #1 to 'invariant' (Simulation expected, got table)")
  end)

  it("check_invariants runs every check now", function()
    local sim, st = counter_sim(2)
    sim:invariant("small", function() return st.x < 1, "x grew" end, { at_end = true })
    assert.is_true(sim:check_invariants())
    st.x = 3
    assert.has_error(function() sim:check_invariants() end, "invariant 'small' violated at t=0 (seed 2): x grew")
  end)
end)
