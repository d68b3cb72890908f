-- hs.workload.kv: what its clients record. The interleavings that broke seeds 323, 1136 and
-- 8855 of scripts/raft_linearizable.lua, replayed against a scripted two-node service: a
-- write refused during a leadership transfer and applied later from a delayed duplicate
-- of the refused request (recorded as fail: 323, 1136), and the same write also sent again
-- and applied a second time after other writes (8855).
local hs = require("happysim")

-- Two nodes that refuse every request until t = `leads_at` (n1: not_leader, pointing at n2;
-- n2: transferring, pointing at n1), as during a leadership transfer from n1 to n2. n1 keeps
-- the writes it refused: a duplicated copy of each, delayed in the network, reaches it once it
-- leads, and it applies them then, as a Raft leader whose client session has not seen that
-- request id does. From then on n1 serves reads and writes.
local function scripted_cluster(sim, net, leads_at, sent)
  local store, late = {}, {}
  sent = sent or {}
  local function refuse(ev, code, leader)
    ev.network:reply(ev, { ok = false, error = { code = code, leader = leader, message = "refused" } })
  end
  local function count(ev) -- submits by value; reads under the key "reads"
    local k = ev.type == "submit" and ev.payload.value or "reads"
    sent[k] = (sent[k] or 0) + 1
  end
  local n1 = hs.Entity{ name = "n1", handle_event = function(self, ev)
    local cmd = ev.payload
    count(ev)
    if self.now < leads_at then
      if ev.type == "submit" then late[#late + 1] = cmd end
      refuse(ev, "not_leader", "n2")
      return
    end
    if ev.type == "read" then ev.network:reply(ev, { ok = true, result = store[cmd.key] }) return end
    if cmd.op == "cas" then
      local match = store[cmd.key] == cmd.expected
      if match then store[cmd.key] = cmd.value end
      ev.network:reply(ev, { ok = true, result = match })
      return
    end
    store[cmd.key] = cmd.value
    ev.network:reply(ev, { ok = true, result = cmd.value })
  end }
  local n2 = hs.Entity{ name = "n2", handle_event = function(self, ev)
    count(ev)
    refuse(ev, self.now < leads_at and "transferring" or "not_leader", "n1")
  end }
  sim:timer(leads_at, function() -- the late copies arrive
    for _, cmd in ipairs(late) do store[cmd.key] = cmd.value end
  end)
  sim:register(n1)
  sim:register(n2)
  return { n1, n2 }
end

describe("hs.workload.kv", function()
  local function run(leads_at, sent)
    local sim = hs.Simulation{ seed = 5, end_time = 4 }
    local net = hs.Network{ sim = sim, default_link = hs.datacenter_network() }
    local cluster = scripted_cluster(sim, net, leads_at, sent)
    local w = hs.workload.kv{ cluster = cluster, network = net, clients = 1, rate = 20, keys = 1,
                              ops = { read = 1, write = 1 }, duration = 3 }
    sim:run()
    return w
  end

  it("records a refused write as info: a copy of the refused request may still be applied", function()
    local sent = {}
    local w = run(1.0, sent)
    local refused, processes = 0, {}
    for _, rec in ipairs(w.history) do
      processes[rec.process] = true
      if rec.f == "write" and rec.type ~= "invoke" and rec.time < 1.0 then
        assert.equal("info", rec.type)
        refused = refused + 1
      end
      if rec.type == "fail" then assert.equal("read", rec.f) end -- a read that got no value did nothing
    end
    assert.is_true(refused > 0)
    -- after an info the client goes on as a new process, as a Jepsen client does
    local n = 0
    for _ in pairs(processes) do n = n + 1 end
    assert.equal(refused + 1, n)
    local r = hs.check.linearizable(w.history, { model = "kv" })
    assert.is_true(r.valid, r.message)
    -- the writes applied late are read back: this history is linearizable only because
    -- they are recorded as info
    local late_read = false
    for _, rec in ipairs(w.history) do
      if rec.f == "read" and rec.type == "ok" and rec.value ~= nil and rec.time > 1.0 then late_read = true end
    end
    assert.is_true(late_read)
  end)

  it("does not send a refused write again: a late copy and a retry would apply it twice", function()
    local sent = {}
    local w = run(1.0, sent)
    local writes = 0
    for _, rec in ipairs(w.history) do
      if rec.f == "write" and rec.type == "invoke" then
        writes = writes + 1
        assert.equal(1, sent[rec.value], "write " .. rec.value)
      end
    end
    assert.is_true(writes > 5)
  end)

  it("retries a refused read at the leader it is told of, up to twice the cluster's size", function()
    local sent = {}
    local w = run(1.0, sent)
    local refused = 0
    for i, rec in ipairs(w.history) do
      if rec.f == "read" and rec.type == "invoke" and rec.time < 0.99 then
        refused = refused + 1
        assert.equal("fail", w.history[i + 1].type) -- n1 and n2 sent it back and forth: it gave up
      end
    end
    assert.is_true(refused > 0)
    local reads_after = 0
    for _, rec in ipairs(w.history) do
      if rec.f == "read" and rec.type == "invoke" and rec.time >= 1.0 then reads_after = reads_after + 1 end
    end
    assert.is_true(sent.reads >= 4 * refused + reads_after)
  end)

  it("records fail for a cas that did not match", function()
    local sim = hs.Simulation{ seed = 2, end_time = 3 }
    local net = hs.Network{ sim = sim, default_link = hs.datacenter_network() }
    local cluster = scripted_cluster(sim, net, 0)
    local w = hs.workload.kv{ cluster = { cluster[1] }, network = net, clients = 2, rate = 50, keys = 1,
                              ops = { write = 1, cas = 1 }, duration = 2 }
    sim:run()
    local fails = 0
    for _, rec in ipairs(w.history) do
      if rec.type == "fail" then
        assert.equal("cas", rec.f)
        fails = fails + 1
      end
      assert.not_equal("info", rec.type)
    end
    assert.is_true(fails > 0)
  end)
end)
