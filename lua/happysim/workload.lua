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
-- hs.ChainNode ...: API.md 5.1; reads and writes only), following not_primary / not_head /
-- not_tail hints and retrying no_lease / unavailable / not_ready after a pause.
-- It follows `not_leader` hints (with read_any = true, each read goes to a node picked at
-- random instead, to exercise read paths that any node answers), and records a Jepsen-style
-- history (docs/API.md §6):
--   ok    the service acknowledged the operation (a read carries the value read);
--   fail  it certainly did not take effect (not_leader, transferring, lost, a cas that did not match);
--   info  unknown (timeout, crash, outcome unknown): the client then continues as a new
--         process id, as a Jepsen client does, since the old operation may still apply.

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

local DEFINITE = { not_leader = true, transferring = true, lost = true, bad_request = true, apply_failed = true, read_failed = true,
                   -- replication nodes' refusals: certainly no effect (engine/repl/hs_repl.h)
                   not_primary = true, not_head = true, not_tail = true, no_lease = true, unavailable = true,
                   not_ready = true, stale_view = true }
-- refusals worth retrying elsewhere (at the hint) or after a pause
local REDIRECT = { not_leader = true, transferring = true, not_primary = true, not_head = true, not_tail = true }
local RETRY = { no_lease = true, unavailable = true, not_ready = true }

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
      if cfg.protocol == "replication" then
        if f == "read" then
          if cfg.read_any then target = cluster[r:random(#cluster)] end
          kind, request = "Read", { key = key }
        else
          next_value = next_value + 1
          value = next_value
          kind, request = "Write", { key = key, value = value }
        end
      elseif f == "read" then
        if cfg.read_any then target = cluster[r:random(#cluster)] end -- any node, not the leader it knows
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
      while true do
        attempts = attempts + 1
        local reply, err = hs_await(net:request(client, target, kind, request, { timeout = cfg.timeout }))
        if reply and reply.ok then
          local result = reply.result
          if cfg.protocol == "replication" then result = reply.value end
          if f == "read" then
            record(process, "ok", f, key, result)
          elseif f == "cas" and result ~= true then
            record(process, "fail", f, key, value) -- the compare did not match: no effect
          else
            record(process, "ok", f, key, value)
          end
          break
        end
        local e = reply and reply.error or err
        local code = type(e) == "table" and e.code or "unknown"
        if (REDIRECT[code] or RETRY[code]) and attempts < 2 * #cluster then -- refused: retry
          target = (e.leader and by_name[e.leader]) or cluster[r:random(#cluster)]
          if not e.leader or RETRY[code] then hs_sleep(cfg.timeout / 4) end -- no leader known yet: back off
        elseif DEFINITE[code] then
          record(process, "fail", f, key, f == "read" and nil or value)
          break
        else -- timeout, crashed, unknown: the operation may still take effect
          record(process, "info", f, key, f == "read" and nil or value)
          next_process = next_process + 1
          process = next_process
          target = cluster[r:random(#cluster)]
          break
        end
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
