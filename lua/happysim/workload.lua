--- hs.workload: client load against a replicated service, recorded as a history.
--
--   local w = hs.workload.kv{ cluster = nodes, network = net, clients = 5, rate = 100,
--                             ops = { read = 0.5, write = 0.3, cas = 0.2 }, keys = 4,
--                             timeout = 0.5, duration = 30 }
--   sim:run(); hs.check.linearizable(w.history, { model = "kv" })
--
-- Each client is an entity that sends requests over the network: "submit" with a
-- command, or "read" with a query, to any node that answers them (hs.RaftNode does); with
-- protocol = "replication", "Write"{ key, value } and "Read"{ key } (hs.PrimaryNode,
-- hs.ChainNode ...: docs/API.md 5.1; reads and writes only), following not_primary / not_head /
-- not_tail hints and retrying reads refused with no_lease / unavailable / not_ready after a pause.
-- It follows `not_leader` hints (with read_any = true, each read goes to a node picked at
-- random instead, to exercise read paths that any node answers), and records a Jepsen-style
-- history (API.md §6):
--   ok    the service acknowledged the operation (a read carries the value read);
--   fail  it certainly did not take effect: a cas that did not match, a request the service
--         cannot apply (bad_request, apply_failed), a read that got no value;
--   info  unknown (timeout, crash, outcome unknown, a write or cas refused: see below): the
--         client then continues as a new process id, as a Jepsen client does, since the old
--         operation may still apply.
-- A refusal (not_leader, transferring, lost) is about one copy of one request: a network
-- that duplicates messages may still deliver another copy of that request to the same node
-- later, once it leads, and the node's client session then applies it (a session applies a
-- request id at most once, not never). And a request sent again is a request of its own
-- (net:request gives it a new id), which a session cannot tell from a new operation. So a
-- client does not send a write or cas again: after a refusal it records info and goes on
-- with its next operation, sent to the leader the refusal named; retrying could apply the
-- operation twice, once from a late copy and once from the retry, with other writes in
-- between. Reads change nothing: a refused read is retried at the leader named, up to
-- twice the cluster's size, and a read that got no value is recorded as fail.

local core = require("happysim.core")
local Entity = require("happysim.entity")
local process = require("happysim.process")

local hs_sleep, hs_now, hs_await = core.sleep, core.now, process.await

local M = {}

local KNOWN = { cluster = true, network = true, clients = true, rate = true, ops = true, keys = true,
                timeout = true, duration = true, reads = true, name = true, start = true, read_any = true,
                protocol = true }

local function fail_arg(field, msg)
  error(("bad argument #1 to 'workload.kv' (field '%s' %s)"):format(field, msg), 3)
end

local function check_opts(o)
  if type(o) ~= "table" then error("bad argument #1 to 'workload.kv' (table expected, got " .. type(o) .. ")", 3) end
  for k in pairs(o) do
    if not KNOWN[k] then error(("bad argument #1 to 'workload.kv' (unknown option '%s')"):format(tostring(k)), 3) end
  end
  if type(o.cluster) ~= "table" or #o.cluster == 0 then fail_arg("cluster", "must be a non-empty list of nodes") end
  if o.network == nil then fail_arg("network", "is required (an hs.Network)") end
  local function positive(field, dflt, integer)
    local v = o[field]
    if v == nil then return dflt end
    if type(v) ~= "number" or v ~= v or v <= 0 or v == math.huge or (integer and math.type(v) ~= "integer") then
      fail_arg(field, integer and "must be a positive integer" or "must be a positive number")
    end
    return v
  end
  local cfg = {
    clients = positive("clients", 5, true), rate = positive("rate", 100), keys = positive("keys", 4, true),
    timeout = positive("timeout", 0.5), duration = positive("duration", 30), start = o.start or 0,
    reads = o.reads or "read_index", name = o.name or "client",
  }
  if cfg.reads ~= "read_index" and cfg.reads ~= "log" then fail_arg("reads", "must be \"read_index\" or \"log\"") end
  if o.read_any ~= nil and type(o.read_any) ~= "boolean" then fail_arg("read_any", "must be a boolean") end
  cfg.read_any = o.read_any == true
  cfg.protocol = o.protocol or "consensus"
  if cfg.protocol ~= "consensus" and cfg.protocol ~= "replication" then
    fail_arg("protocol", "must be \"consensus\" (submit/read) or \"replication\" (Write/Read)")
  end
  local ops = o.ops or { read = 0.5, write = 0.3, cas = 0.2 }
  if type(ops) ~= "table" then fail_arg("ops", "must be a table of weights") end
  local total, mix = 0, {}
  for _, f in ipairs{ "read", "write", "cas" } do
    local w = ops[f] or 0
    if type(w) ~= "number" or w < 0 or w ~= w then fail_arg("ops", "weights must be numbers >= 0") end
    total = total + w
    mix[#mix + 1] = { f = f, w = w }
  end
  for k in pairs(ops) do
    if k ~= "read" and k ~= "write" and k ~= "cas" then fail_arg("ops", "has an unknown operation '" .. tostring(k) .. "'") end
  end
  if total <= 0 then fail_arg("ops", "must give some operation a positive weight") end
  if cfg.protocol == "replication" and (ops.cas or 0) > 0 then
    fail_arg("ops", "has cas, which replication nodes do not offer (protocol = \"replication\": read and write)")
  end
  cfg.mix, cfg.total = mix, total
  return cfg
end

-- Refusals of one copy of a request: another copy may still be applied (see the top).
local REFUSED = { not_leader = true, transferring = true, lost = true,
                  -- replication nodes' (engine/repl/hs_repl.h)
                  not_primary = true, not_head = true, not_tail = true, no_lease = true, unavailable = true,
                  not_ready = true, stale_view = true }
-- Refusals a read is retried after: at the node they name, or after a pause.
local REDIRECT = { not_leader = true, transferring = true, not_primary = true, not_head = true, not_tail = true }
local RETRY = { no_lease = true, unavailable = true, not_ready = true }
-- Answers every copy of a request gets alike: the operation did not take effect.
local DEFINITE = { bad_request = true, apply_failed = true, read_failed = true }

--- workload.kv(opts) -> workload { history = {...}, clients = {...}, stats = fn }
function M.kv(opts)
  local cfg = check_opts(opts)
  local net, cluster = opts.network, opts.cluster
  local sim = net.sim
  if not sim then error("bad argument #1 to 'workload.kv' (the network is not attached to a simulation)", 2) end
  local w = { history = {}, clients = {}, counts = { ok = 0, fail = 0, info = 0 } }
  local history, next_value, next_process = w.history, 0, 0
  local by_name = {}
  for _, n in ipairs(cluster) do by_name[n.name] = n end

  local function record(process, type_, f, key, value)
    history[#history + 1] = { process = process, type = type_, f = f, key = key, value = value, time = sim.now }
    if type_ ~= "invoke" then w.counts[type_] = w.counts[type_] + 1 end
  end

  local function client_loop(client, r)
    next_process = next_process + 1
    local process = next_process
    local target = cluster[r:random(#cluster)]
    local stop_at = cfg.start + cfg.duration
    while hs_now() < stop_at do
      hs_sleep(r:exponential(cfg.clients / cfg.rate))
      if hs_now() >= stop_at then break end
      local pick, f = r:random() * cfg.total, nil
      for _, m in ipairs(cfg.mix) do
        if pick < m.w then f = m.f break end
        pick = pick - m.w
      end
      f = f or cfg.mix[#cfg.mix].f
      local key = "k" .. r:random(cfg.keys)
      local value, request, kind
      local dest = target -- where this operation goes: the leader it knows ...
      if cfg.protocol == "replication" then
        if f == "read" then
          if cfg.read_any then dest = cluster[r:random(#cluster)] end
          kind, request = "Read", { key = key }
        else
          next_value = next_value + 1
          value = next_value
          kind, request = "Write", { key = key, value = value }
        end
      elseif f == "read" then
        if cfg.read_any then dest = cluster[r:random(#cluster)] end -- ... or, for a read, any node
        kind = cfg.reads == "read_index" and "read" or "submit"
        request = { op = "get", key = key }
      elseif f == "write" then
        next_value = next_value + 1
        value = next_value
        kind, request = "submit", { op = "set", key = key, value = value }
      else
        next_value = next_value + 1
        value = { r:random(0, next_value - 1), next_value }
        kind, request = "submit", { op = "cas", key = key, expected = value[1], value = value[2] }
      end
      record(process, "invoke", f, key, value)
      local attempts = 0
      local outcome -- "ok", "fail" or "info"
      local hinted = false -- the last answer named the leader: target is it
      while true do
        attempts = attempts + 1
        local reply, err = hs_await(net:request(client, dest, kind, request, { timeout = cfg.timeout }))
        if reply and reply.ok then
          local result = reply.result
          if cfg.protocol == "replication" then result = reply.value end
          if f == "read" then
            value = result
            outcome = "ok"
          else -- a cas whose compare did not match had no effect
            outcome = (f == "cas" and result ~= true) and "fail" or "ok"
          end
          break
        end
        local e = reply and reply.error or err
        local code = type(e) == "table" and e.code or "unknown"
        hinted = REFUSED[code] and e.leader and by_name[e.leader] and true or false
        if hinted then target = by_name[e.leader] end
        dest = target
        if f == "read" and (REDIRECT[code] or RETRY[code]) and attempts < 2 * #cluster then
          -- a read changes nothing, so it may be retried: a late copy of this attempt is harmless
          if RETRY[code] then hs_sleep(cfg.timeout / 4) end
          if not hinted and not RETRY[code] then
            target = cluster[r:random(#cluster)]
            dest = target
            hs_sleep(cfg.timeout / 4) -- no leader known yet: back off
          end
        else
          -- a read that got no value did nothing (fail); a write or cas fails only on an
          -- answer every copy of the request gets (DEFINITE), otherwise its outcome is unknown
          outcome = (f == "read" or DEFINITE[code]) and "fail" or "info"
          if f == "read" then value = nil end
          break
        end
      end
      record(process, outcome, f, key, value)
      if outcome == "info" then -- the operation may still take effect: go on as a new process
        next_process = next_process + 1
        process = next_process
        if not hinted then target = cluster[r:random(#cluster)] end
      end
    end
  end

  for i = 1, cfg.clients do
    local client = Entity{ name = ("%s-%d"):format(cfg.name, i), handle_event = function() end }
    sim:register(client)
    w.clients[i] = client
    sim:after(cfg.start, client_loop, client, client:random())
  end

  function w.stats()
    return { ok = w.counts.ok, fail = w.counts.fail, info = w.counts.info, operations = #history }
  end
  return w
end

return M
