-- Fuzzing that runs with every test pass (and so under ASan/UBSan with ./test.sh --sanitize):
-- forged Raft protocol messages with valid headers and random fields, and random calls of the
-- Lua API with random arguments. A Lua error is a fine outcome; a crash, a sanitizer report or
-- a hang is a failure. (Longer runs of the same generators found an allocation sized by a lying
-- entry count and an index that wrapped past 2^64.)
local hs = require("happysim")

local WIRE = { "RequestVote", "RequestVoteResponse", "PreVote", "PreVoteResponse", "AppendEntries",
               "AppendEntriesResponse", "Heartbeat", "HeartbeatResponse", "InstallSnapshot", "TimeoutNow" }

-- A state machine in Lua, so forged snapshots and entries reach Lua code too.
local function lua_sm()
  local sm = { n = 0 }
  function sm:apply(cmd) self.n = self.n + 1; return cmd end
  function sm:snapshot() return { n = self.n } end
  function sm:restore(snap) self.n = type(snap) == "table" and tonumber(snap.n) or 0 end
  function sm:read() return self.n end
  return sm
end

-- A Raft message in the core's wire format (hs_raft_msg_encode) with fields drawn from r.
local function forged_message(r, dst)
  local function u32(v) return string.pack("<I4", v) end
  local function u64(v) return string.pack("<i8", v) end
  local function counter()
    local k = r:random(1, 40)
    if k <= 18 then return r:random(0, 5) elseif k <= 36 then return r:random(0, 1000) end
    if k == 37 then return -1 end                               -- 2^64 - 1
    if k == 38 then return (1 << 62) - r:random(0, 3) end       -- at the limit
    return r:random(0, 1 << 40)
  end
  local function bytes(n)
    local t = {}
    for j = 1, n do t[j] = string.char(r:random(0, 255)) end
    return table.concat(t)
  end
  local ty = r:random(0, #WIRE - 1)
  local entries = {}
  for k = 1, r:random(0, 3) do
    local data = r:random() < 0.5 and hs.core.encode({ op = "set", key = "k", value = k }) or bytes(r:random(0, 20))
    if r:random() < 0.2 then data = string.char(0xC5) .. bytes(r:random(0, 30)) end -- a session envelope, or junk
    entries[k] = u64(counter()) .. string.char(r:random(0, 3)) .. u32(#data) .. data
  end
  local conf = r:random() < 0.5 and (u32(r:random(0, 3)) .. u32(r:random(0, 1)) .. u32(1) .. u32(2) .. u32(3))
    or bytes(r:random(0, 12))
  local snap = r:random() < 0.5 and hs.core.encode({ n = r:random(0, 9) }) or (string.char(0xC5) .. bytes(r:random(0, 40)))
  local msg = string.char(1, ty, r:random(0, 1), 0) .. u32((dst % 3) + 1) .. u32(dst)
  for _ = 1, 7 do msg = msg .. u64(counter()) end
  msg = msg .. u32(#entries) .. u32(#conf) .. u64(#snap) .. table.concat(entries) .. conf .. snap
  if r:random() < 0.1 then msg = msg:sub(1, r:random(1, #msg)) end
  return WIRE[ty + 1], msg
end

describe("fuzz", function()
  it("forged Raft messages are refused or handled, never a crash", function()
    for seed = 1, 3 do
      local sim = hs.Simulation{ seed = seed }
      local net = hs.Network{ sim = sim, name = "c", default_link = hs.datacenter_network() }
      local names = { "n1", "n2", "n3" }
      local nodes = {}
      for i, n in ipairs(names) do
        nodes[i] = hs.RaftNode{ name = n, network = net, peers = names, snapshot_threshold = 5,
                                state_machine = i == 2 and lua_sm() or nil, election_timeout_min = 0.15,
                                election_timeout_max = 0.3, heartbeat_interval = 0.05 }
      end
      for _, n in ipairs(nodes) do n:start() end
      local forger = hs.Entity{ name = "forger", handle_event = function() end }
      sim:register(forger)
      local r = sim:random("forge")
      sim:spawn(function()
        for i = 1, 4000 do
          local dst = r:random(1, 3)
          net:send(forger, nodes[dst], forged_message(r, dst))
          if i % 50 == 0 then hs.sleep(0.002) end
        end
      end)
      sim:run_until(1)
      local malformed = 0
      for _, n in ipairs(nodes) do malformed = malformed + n.stats.malformed_messages end
      assert.is_true(malformed > 100 and malformed < 4000, "seed " .. seed .. ": " .. malformed .. " malformed")
    end
  end)

  it("random calls of the API with random arguments raise Lua errors, never crash", function()
    local rng = hs.Simulation{ seed = 99 }:random("api")
    local R = function(a, b) return a and rng:random(a, b) or rng:random() end
    local calls, errors = 0, 0
    for round = 1, 12 do
      local sim = hs.Simulation{ seed = round, end_time = 5 }
      local net = hs.Network{ sim = sim, name = "net", default_link = hs.datacenter_network() }
      local names = { "n1", "n2", "n3" }
      local nodes = {}
      for i, n in ipairs(names) do
        nodes[i] = hs.RaftNode{ name = n, network = net, peers = names, election_timeout_min = 0.15,
                                election_timeout_max = 0.3, heartbeat_interval = 0.05 }
      end
      local e = hs.Entity{ name = "e", handle_event = function() if R() < 0.3 then hs.sleep(R() * 0.1) end end }
      sim:register(e)
      local pool = { sim, net, e, hs.KVStateMachine(), nodes[1], nodes[2], nodes[3], hs.Future(),
                     hs.datacenter_network(), hs.dist.exponential(1), hs.RaftChecker() }
      local function arg(depth)
        local k = R(1, 15)
        if k == 1 then return nil elseif k == 2 then return R(-3, 3) elseif k == 3 then return R() * 5 - 1
        elseif k == 4 then return 0 / 0 elseif k == 5 then return math.huge elseif k == 6 then return "n" .. R(1, 4)
        elseif k == 7 then return true elseif k == 8 then return {} elseif k == 9 and depth < 2 then
          local t = {}
          for _ = 1, R(0, 3) do t["k" .. R(1, 5)] = arg(depth + 1) end
          return t
        elseif k == 10 then return function() return nil end
        elseif k == 11 then return math.mininteger elseif k == 12 then return { op = "set", key = "k", value = R(1, 9) }
        else return pool[R(1, #pool)] end
      end
      local METHODS = { "submit", "read", "start", "crash", "restart", "pause", "resume", "campaign", "add_member",
                        "remove_member", "transfer_leadership", "send", "request", "reply", "partition", "heal_partition",
                        "intercept", "add_link", "connect_all", "set_default_link", "link", "schedule", "timer", "spawn",
                        "after", "random", "register", "summary", "close", "apply", "snapshot", "restore", "resolve",
                        "reject", "on_settle", "watch", "check", "cancel", "held", "deliver_held", "drop_held" }
      for _ = 1, 250 do
        local o = pool[R(1, #pool)]
        local m = METHODS[R(1, #METHODS)]
        local args, n = {}, R(0, 4)
        for a = 1, n do args[a] = arg(0) end
        calls = calls + 1
        local ok = pcall(function()
          local f = o[m]
          if type(f) == "function" then return f(o, table.unpack(args, 1, n)) end
          return o[arg(0)]
        end)
        if not ok then errors = errors + 1 end
      end
      if not sim.closed then pcall(sim.run_until, sim, sim.now + 0.5) end
      if round % 4 == 0 then collectgarbage() end
    end
    collectgarbage()
    assert.equal(3000, calls)
    assert.is_true(errors > 100 and errors < calls)
  end)
end)
