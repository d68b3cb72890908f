--- hs.FaultSchedule and hs.faults: faults that fire, and heal, at set simulated times.
--
--   local schedule = hs.FaultSchedule{
--     hs.faults.crash{ node = "n1", at = 5, restart_at = 8 },
--     hs.faults.partition{ network = net, a = { "n1", "n2" }, b = { "n3" }, start = 10, stop = 15 },
--     hs.faults.packet_loss{ network = net, rate = 0.2, start = 20, stop = 25 },
--     hs.faults.random_partitions{ network = net, nodes = names, mtbf = 5, mttr = 2, stop = 60 },
--   }
--   local sim = hs.Simulation{ seed = 7, faults = schedule }   -- or schedule:install(sim)
--   ...; sim:run(); print(#schedule.log, schedule:stats().fired)
--
-- Faults fire from daemon timers, so a schedule never keeps a run alive (the one exception:
-- once a pause has begun, its resume timer is a normal one, so a paused node always comes
-- back). Every fault appends an entry to schedule.log when it fires,
--   { kind = "crash", target = "n1", fired_at = 5, healed_at = 8, details = { ... } }
-- and sets healed_at when it heals (nil while active, or for a fault with no end), so a
-- test can prove that a fault really happened. Nodes given by name are looked up when the
-- fault fires (entities may be registered after the schedule is installed). The network
-- faults may leave out `network` (as docs/API.md writes them) when the simulation has exactly
-- one network; it is looked up when the fault starts.
--
-- packet_loss and latency change link parameters for the pairs they cover and restore
-- exactly what was there when they heal. Several such faults may overlap: the parameters
-- of a pair are always recomputed from what it had before the first fault touched it, with
-- every active fault applied in the order they fired (loss rates combine as independent
-- losses; extra latencies add up). Link changes made by hand on a pair during such a fault
-- are overwritten when the fault heals.

local core = require("happysim.core")

local M = {}
local unpack = table.unpack

-- ---- argument checking -----------------------------------------------------------------

local function argerror(fname, msg, level)
  error(("bad argument #1 to '%s' (%s)"):format(fname, msg), level + 1)
end

local function describe(v)
  if type(v) == "number" then return tostring(v) end
  local mt = getmetatable(v)
  if type(mt) == "table" and type(mt.__name) == "string" then return mt.__name end
  return type(v)
end

local function check_options(fname, opts, known, level)
  if type(opts) ~= "table" then argerror(fname, "table of options expected, got " .. describe(opts), level + 1) end
  local names = {}
  for k in pairs(opts) do
    if type(k) ~= "string" or not known[k] then names[#names + 1] = tostring(k) end
  end
  if #names > 0 then
    table.sort(names)
    local list = {}
    for k in pairs(known) do list[#list + 1] = k end
    table.sort(list)
    argerror(fname, ("unknown option '%s' (known: %s)"):format(names[1], table.concat(list, ", ")), level + 1)
  end
end

local function is_time(v)
  return type(v) == "number" and v == v and v >= 0 and v ~= math.huge
end

local function time_field(fname, opts, field, required, level)
  local v = opts[field]
  if v == nil then
    if required then argerror(fname, ("field '%s' is required (a time in seconds)"):format(field), level + 1) end
    return nil
  end
  if not is_time(v) then
    argerror(fname, ("field '%s' must be a finite number of seconds >= 0, got %s"):format(field, describe(v)), level + 1)
  end
  return v
end

local function positive_field(fname, opts, field, level)
  local v = opts[field]
  if not is_time(v) or v <= 0 then
    argerror(fname, ("field '%s' must be a finite number of seconds > 0, got %s"):format(field, describe(v)), level + 1)
  end
  return v
end

local function later_field(fname, opts, field, after, after_name, level)
  local v = time_field(fname, opts, field, false, level + 1)
  if v ~= nil and not (v > after) then
    argerror(fname, ("field '%s' (%s) must be after '%s' (%s)"):format(field, v, after_name, after), level + 1)
  end
  return v
end

local function is_centity(v)
  if type(v) ~= "userdata" then return false end
  local mt = getmetatable(v)
  return type(mt) == "table" and mt.__hs_centity == true
end

local function is_node(v)
  return (type(v) == "string" and v ~= "") or type(v) == "table" or is_centity(v)
end

local function node_field(fname, opts, field, level)
  local v = opts[field]
  if not is_node(v) then
    argerror(fname, ("field '%s' must be a node (an entity or its name), got %s"):format(field, describe(v)), level + 1)
  end
  return v
end

local function is_network(v)
  local mt = getmetatable(v)
  return type(v) == "userdata" and type(mt) == "table" and mt.__name == "happysim.Network"
end

-- Optional: without it, the fault acts on the simulation's only network (see network_of).
local function network_field(fname, opts, level)
  local v = opts.network
  if v ~= nil and not is_network(v) then
    argerror(fname, "field 'network' must be an hs.Network, got " .. describe(v), level + 1)
  end
  return v
end

-- A group: one node, or a non-empty list of nodes. Returns a fresh list.
local function group_field(fname, value, what, level)
  local is_list = type(value) == "table" and (value[1] ~= nil or next(value) == nil) and getmetatable(value) == nil
  if is_node(value) and not is_list then return { value } end
  if type(value) ~= "table" or value[1] == nil then
    argerror(fname, ("%s must be a node or a non-empty list of nodes, got %s"):format(what, describe(value)), level + 1)
  end
  local out = {}
  for i, v in ipairs(value) do
    if not is_node(v) then
      argerror(fname, ("%s[%d] must be a node (an entity or its name), got %s"):format(what, i, describe(v)), level + 1)
    end
    out[i] = v
  end
  return out
end

local function is_dist(v)
  local mt = getmetatable(v)
  return type(v) == "userdata" and type(mt) == "table" and mt.__name == "happysim.Distribution"
end

-- ---- helpers used when faults fire -------------------------------------------------------

local function node_name(v)
  if type(v) == "string" then return v end
  return tostring(v.name)
end

local function names_of(group)
  local out = {}
  for i, v in ipairs(group) do out[i] = node_name(v) end
  return out
end

-- The entity for a node given by name or object; raises when a name is unknown.
local function resolve(sim, node, fname)
  if type(node) ~= "string" then return node end
  local e = core.entity(sim, node)
  if e == nil then error(("%s: unknown node '%s' (no entity of that name is registered)"):format(fname, node), 0) end
  return e
end

-- entity:method() when the entity has it (hs.Entity, C entities), else the core function.
local function call(sim, e, method)
  local f = e[method]
  if type(f) == "function" then return f(e) end
  return core[method](sim, e)
end

-- The fault's network (checked to belong to sim), or the simulation's only network.
local function network_of(sim, net, fname)
  if net == nil then
    local all = core.networks(sim)
    if #all ~= 1 then
      error(("%s: no 'network' given, and the simulation has %d networks (give network = net)"):format(fname, #all), 0)
    end
    return all[1]
  end
  if rawequal(net.sim, sim) then return net end
  error(("%s: network '%s' is not attached to this simulation (create it with hs.Network{ sim = sim })")
    :format(fname, tostring(net.name)), 0)
end

-- ---- link overlays: packet_loss and latency faults ----------------------------------------

-- net -> { mods = { active modifiers, in firing order }, touched = { key -> pair state },
--          order = { keys of touched pairs, in the order they were touched },
--          default_saved = bool, default_base = NetworkLink or nil }
local overlays = setmetatable({}, { __mode = "k" })

local function overlay_of(net)
  local ov = overlays[net]
  if not ov then
    ov = { mods = {}, touched = {}, order = {}, default_saved = false }
    overlays[net] = ov
  end
  return ov
end

local function pair_key(src, dst) return src .. "\0" .. dst end

local function link_spec(l)
  return { latency = l.latency, jitter = l.jitter, bandwidth_bps = l.bandwidth_bps,
           packet_loss_rate = l.packet_loss_rate, duplicate_rate = l.duplicate_rate,
           reorder_rate = l.reorder_rate, reorder_delay = l.reorder_delay, name = l.name }
end

local function apply_mods(base, mods, src, dst)
  local spec = link_spec(base)
  for _, m in ipairs(mods) do m.apply(spec, src, dst) end
  return core.NetworkLink(spec)
end

local function mods_for(ov, key)
  local out = {}
  for _, m in ipairs(ov.mods) do
    if m.covers == nil or m.covers[key] then out[#out + 1] = m end
  end
  return out
end

-- Brings every link of net in line with the active modifiers (see the header).
local function recompute(net, ov)
  local global, keys, pairs_of = {}, {}, {}
  local function want(key, src, dst)
    if not pairs_of[key] then
      pairs_of[key] = { src, dst }
      keys[#keys + 1] = key
    end
  end
  for _, m in ipairs(ov.mods) do
    if m.covers == nil then
      global[#global + 1] = m
    else
      for _, pr in ipairs(m.pairs) do want(pair_key(pr[1], pr[2]), pr[1], pr[2]) end
    end
  end
  -- the default link carries the network-wide modifiers
  if #global > 0 then
    if not ov.default_saved then
      ov.default_saved, ov.default_base = true, net.default_link
    end
    if ov.default_base then net:set_default_link(apply_mods(ov.default_base, global, "*", "*")) end
  elseif ov.default_saved then
    net:set_default_link(ov.default_base)
    ov.default_saved, ov.default_base = false, nil
  end
  -- explicit links (the user's) carry them too
  if #global > 0 then
    for _, row in ipairs(net:traffic_matrix()) do
      local key = pair_key(row.source, row.destination)
      local t = ov.touched[key]
      if (t == nil and row.explicit) or (t ~= nil and t.base) then want(key, row.source, row.destination) end
    end
  end
  local pure_default = ov.default_saved and ov.default_base or net.default_link
  local wanted = {}
  for _, key in ipairs(keys) do
    local src, dst = pairs_of[key][1], pairs_of[key][2]
    local t = ov.touched[key]
    if not t then
      local link, explicit = net:link(src, dst)
      t = { src = src, dst = dst, base = explicit and link or false }
      ov.touched[key] = t
      ov.order[#ov.order + 1] = key
    end
    local base = t.base or pure_default
    if base then net:add_link(src, dst, apply_mods(base, mods_for(ov, key), src, dst)) end
    wanted[key] = true
  end
  local keep = {}
  for _, key in ipairs(ov.order) do
    if wanted[key] then
      keep[#keep + 1] = key
    else
      local t = ov.touched[key]
      ov.touched[key] = nil
      if t.base then net:add_link(t.src, t.dst, t.base) else net:remove_link(t.src, t.dst) end
    end
  end
  ov.order = keep
end

-- The ordered pairs between groups a and b (both ways unless asymmetric), as names.
local function pairs_between(a, b, asymmetric)
  local list, covers = {}, {}
  local function add(x, y)
    local key = pair_key(x, y)
    if x ~= y and not covers[key] then
      covers[key] = true
      list[#list + 1] = { x, y }
    end
  end
  for _, x in ipairs(names_of(a)) do
    for _, y in ipairs(names_of(b)) do
      add(x, y)
      if not asymmetric then add(y, x) end
    end
  end
  return list, covers
end

local function add_mod(net, m)
  local ov = overlay_of(net)
  ov.mods[#ov.mods + 1] = m
  local ok, err = pcall(recompute, net, ov)
  if not ok then
    table.remove(ov.mods)
    pcall(recompute, net, ov)
    error(err, 0)
  end
end

local function remove_mod(net, m)
  local ov = overlay_of(net)
  for i, x in ipairs(ov.mods) do
    if x == m then
      table.remove(ov.mods, i)
      break
    end
  end
  recompute(net, ov)
end

-- ---- the schedule ------------------------------------------------------------------------

local Schedule = {}
Schedule.__index = Schedule
Schedule.__name = "happysim.FaultSchedule"

local Fault = { __name = "happysim.Fault" }
Fault.__index = Fault

function Fault:__tostring()
  return ("Fault %s"):format(self.kind)
end

local function is_fault(v)
  return getmetatable(v) == Fault
end

local function new_fault(kind, opts, arm)
  opts.kind = kind
  opts._arm = arm
  return setmetatable(opts, Fault)
end

-- Runs fn at absolute time t from a daemon timer (or a normal one when keep_alive).
local function at(sim, t, fn, keep_alive)
  local dt = t - sim.now
  if dt < 0 then dt = 0 end
  return sim:timer(dt, fn, { daemon = not keep_alive })
end

-- Appends a log entry for a fault that fired now.
function Schedule:_fired(kind, target, details)
  local entry = { kind = kind, target = target, fired_at = self.sim.now, details = details or {} }
  self.log[#self.log + 1] = entry
  if self.on_fault then self.on_fault(entry, "fired") end
  return entry
end

function Schedule:_healed(entry)
  entry.healed_at = self.sim.now
  if self.on_fault then self.on_fault(entry, "healed") end
end

local schedule_options = { on_fault = true, name = true }

--- hs.FaultSchedule{ fault, fault, ..., on_fault = fn(entry, "fired" | "healed") }
function M.FaultSchedule(list)
  if list == nil then list = {} end
  if type(list) ~= "table" then argerror("FaultSchedule", "list of faults expected, got " .. describe(list), 2) end
  local self = setmetatable({ faults = {}, log = {} }, Schedule)
  local n = #list
  for k, v in pairs(list) do
    if math.type(k) == "integer" and k >= 1 and k <= n then
      if not is_fault(v) then
        argerror("FaultSchedule", ("item %d must be a fault (hs.faults.crash{...}, ...), got %s"):format(k, describe(v)), 2)
      end
    elseif not schedule_options[k] then
      argerror("FaultSchedule", ("unknown option '%s' (a list of faults, and on_fault, name)"):format(tostring(k)), 2)
    end
  end
  for i = 1, n do self.faults[i] = list[i] end
  if list.on_fault ~= nil and type(list.on_fault) ~= "function" then
    argerror("FaultSchedule", "field 'on_fault' must be a function", 2)
  end
  if list.name ~= nil and type(list.name) ~= "string" then argerror("FaultSchedule", "field 'name' must be a string", 2) end
  self.on_fault = list.on_fault
  self.name = list.name
  return self
end

local function arm(self, fault)
  fault._arm(fault, self, self.sim)
end

--- schedule:add(fault) -> schedule. After install, the fault is armed at once.
function Schedule:add(fault)
  if not is_fault(fault) then
    error("bad argument #1 to 'add' (a fault expected (hs.faults.crash{...}, ...), got " .. describe(fault) .. ")", 2)
  end
  self.faults[#self.faults + 1] = fault
  if self.sim then arm(self, fault) end
  return self
end

-- The first node name of fault f (in node, a, b, nodes, between) that sim has no entity for.
local function unknown_node(sim, f)
  local function check(v)
    if type(v) == "string" then return core.entity(sim, v) == nil and v or nil end
    if type(v) == "table" and getmetatable(v) == nil then
      for _, item in ipairs(v) do
        local bad = check(item)
        if bad then return bad end
      end
    end
  end
  for _, field in ipairs{ "node", "a", "b", "nodes", "between" } do
    local bad = check(f[field])
    if bad then return bad end
  end
end

-- Raises (at `level`) when a fault names a node sim does not have.
local function check_nodes(self, sim, level)
  for i, f in ipairs(self.faults) do
    local name = unknown_node(sim, f)
    if name then
      error(("install: fault #%d (%s) names an unknown node '%s' (register it first: list it in "
             .. "hs.Simulation{ entities = {...} } or sim:add it)"):format(i, f.kind, name), level)
    end
  end
end

--- schedule:install(sim): arms every fault on sim (hs.Simulation{ faults = schedule } calls it,
-- with `entities_given` true when it listed entities: their names must be known then).
function Schedule:install(sim, entities_given)
  local mt = getmetatable(sim)
  if type(mt) ~= "table" or mt.__name ~= "happysim.Simulation" then
    error("bad argument #1 to 'install' (hs.Simulation expected, got " .. describe(sim) .. ")", 2)
  end
  if self.sim ~= nil then
    if rawequal(self.sim, sim) then error("install: this FaultSchedule is already installed on this simulation", 2) end
    error("install: this FaultSchedule is installed on another simulation", 2)
  end
  for i, f in ipairs(self.faults) do
    local first = f.at or f.start or 0
    if first < sim.now then
      error(("install: fault #%d (%s) starts at %g s, before now (%g s)"):format(i, f.kind, first, sim.now), 2)
    end
  end
  if entities_given then
    check_nodes(self, sim, 2)
  elseif not pcall(check_nodes, self, sim, 0) then
    -- entities may still be registered before the run: check again first thing in it
    at(sim, sim.now, function() check_nodes(self, sim, 0) end)
  end
  self.sim = sim
  self._nemesis_names = {}
  for _, f in ipairs(self.faults) do arm(self, f) end
  return self
end

--- schedule:active() -> the log entries of faults that fired and have not healed.
function Schedule:active()
  local out = {}
  for _, e in ipairs(self.log) do
    if e.healed_at == nil then out[#out + 1] = e end
  end
  return out
end

--- schedule:stats() -> { faults, fired, healed, active, by_kind = { crash = { fired, healed, active } ... } }
function Schedule:stats()
  local s = { faults = #self.faults, fired = 0, healed = 0, active = 0, by_kind = {} }
  for _, e in ipairs(self.log) do
    local k = s.by_kind[e.kind]
    if not k then
      k = { fired = 0, healed = 0, active = 0 }
      s.by_kind[e.kind] = k
    end
    local field = e.healed_at ~= nil and "healed" or "active"
    s.fired, k.fired = s.fired + 1, k.fired + 1
    s[field], k[field] = s[field] + 1, k[field] + 1
  end
  return s
end

function Schedule:__tostring()
  local s = self:stats()
  return ("FaultSchedule (%d faults, %d fired, %d active)"):format(s.faults, s.fired, s.active)
end

M.Schedule = Schedule

-- ---- the faults --------------------------------------------------------------------------

local faults = {}
M.faults = faults

--- hs.faults.crash{ node = "n1" | entity, at = 5, restart_at = 8 }: node:crash() at `at`,
-- node:restart() at restart_at (if given).
function faults.crash(opts)
  local fname = "faults.crash"
  check_options(fname, opts, { node = true, at = true, restart_at = true }, 2)
  local f = { node = node_field(fname, opts, "node", 2), at = time_field(fname, opts, "at", true, 2) }
  f.restart_at = later_field(fname, opts, "restart_at", f.at, "at", 2)
  return new_fault("crash", f, function(self, sched, sim)
    at(sim, self.at, function()
      local e = resolve(sim, self.node, fname)
      local was_up = call(sim, e, "crash")
      local entry = sched:_fired("crash", node_name(e), { was_up = was_up })
      if self.restart_at then
        at(sim, self.restart_at, function()
          entry.details.restarted = call(sim, e, "restart")
          sched:_healed(entry)
        end)
      end
    end)
  end)
end

--- hs.faults.pause{ node = "n1" | entity, at = 5, resume_at = 8 }: node:pause() at `at`,
-- node:resume() at resume_at (if given). What comes due for the node meanwhile waits.
function faults.pause(opts)
  local fname = "faults.pause"
  check_options(fname, opts, { node = true, at = true, resume_at = true }, 2)
  local f = { node = node_field(fname, opts, "node", 2), at = time_field(fname, opts, "at", true, 2) }
  f.resume_at = later_field(fname, opts, "resume_at", f.at, "at", 2)
  return new_fault("pause", f, function(self, sched, sim)
    at(sim, self.at, function()
      local e = resolve(sim, self.node, fname)
      local paused = call(sim, e, "pause")
      local entry = sched:_fired("pause", node_name(e), { was_up = paused })
      if self.resume_at then
        -- a normal timer: once a node is paused, the run goes on until it resumes
        at(sim, self.resume_at, function()
          entry.details.resumed = call(sim, e, "resume")
          sched:_healed(entry)
        end, paused)
      end
    end)
  end)
end

--- hs.faults.partition{ network = net, a = {...}, b = {...}, start = 0, stop = nil,
-- asymmetric = false }: net:partition(a, b) from start until stop (its own handle heals).
function faults.partition(opts)
  local fname = "faults.partition"
  check_options(fname, opts, { network = true, a = true, b = true, start = true, stop = true, asymmetric = true }, 2)
  local f = { network = network_field(fname, opts, 2), start = time_field(fname, opts, "start", false, 2) or 0 }
  f.a = group_field(fname, opts.a, "field 'a'", 2)
  f.b = group_field(fname, opts.b, "field 'b'", 2)
  f.stop = later_field(fname, opts, "stop", f.start, "start", 2)
  if opts.asymmetric ~= nil and type(opts.asymmetric) ~= "boolean" then
    argerror(fname, "field 'asymmetric' must be a boolean, got " .. describe(opts.asymmetric), 2)
  end
  f.asymmetric = opts.asymmetric or false
  return new_fault("partition", f, function(self, sched, sim)
    at(sim, self.start, function()
      local net = network_of(sim, self.network, fname)
      local handle = net:partition(self.a, self.b, { asymmetric = self.asymmetric })
      local entry = sched:_fired("partition", net.name,
        { a = names_of(self.a), b = names_of(self.b), asymmetric = self.asymmetric, handle = handle })
      if self.stop then
        at(sim, self.stop, function()
          entry.details.was_active = handle:heal()
          sched:_healed(entry)
        end)
      end
    end)
  end)
end

local function between_field(fname, opts, level)
  local v = opts.between
  if v == nil then return nil end
  if type(v) ~= "table" or v[1] == nil or v[2] == nil or v[3] ~= nil then
    argerror(fname, "field 'between' must be a pair { a, b } of nodes or lists of nodes, got " .. describe(v), level + 1)
  end
  return { group_field(fname, v[1], "field 'between[1]'", level + 1), group_field(fname, v[2], "field 'between[2]'", level + 1) }
end

-- The shared body of packet_loss and latency: a link modifier active from start to stop.
local function link_fault(kind, fname, f, details, apply)
  return new_fault(kind, f, function(self, sched, sim)
    at(sim, self.start, function()
      local net = network_of(sim, self.network, fname)
      local m = { apply = apply }
      local d = details()
      if self.between then
        m.pairs, m.covers = pairs_between(self.between[1], self.between[2], self.asymmetric)
        d.between = { names_of(self.between[1]), names_of(self.between[2]) }
        d.pairs = #m.pairs
      end
      add_mod(net, m)
      local entry = sched:_fired(kind, net.name, d)
      if self.stop then
        at(sim, self.stop, function()
          remove_mod(net, m)
          sched:_healed(entry)
        end)
      end
    end)
  end)
end

local link_fault_options = { network = true, start = true, stop = true, between = true, asymmetric = true }

local function link_fault_common(fname, opts, extra_option)
  local known = { [extra_option] = true }
  for k in pairs(link_fault_options) do known[k] = true end
  check_options(fname, opts, known, 3)
  local f = { network = network_field(fname, opts, 3), start = time_field(fname, opts, "start", false, 3) or 0 }
  f.stop = later_field(fname, opts, "stop", f.start, "start", 3)
  f.between = between_field(fname, opts, 3)
  if opts.asymmetric ~= nil and type(opts.asymmetric) ~= "boolean" then
    argerror(fname, "field 'asymmetric' must be a boolean, got " .. describe(opts.asymmetric), 3)
  end
  if opts.asymmetric and not f.between then argerror(fname, "field 'asymmetric' needs 'between'", 3) end
  f.asymmetric = opts.asymmetric or false
  return f
end

--- hs.faults.packet_loss{ network = net, rate = 0.2, start = 0, stop = nil,
-- between = { a, b } (optional; default: every link), asymmetric = false }: the covered links
-- also lose `rate` of their messages (independently of their own loss).
function faults.packet_loss(opts)
  local fname = "faults.packet_loss"
  local f = link_fault_common(fname, opts, "rate")
  local rate = opts.rate
  if type(rate) ~= "number" or not (rate >= 0 and rate <= 1) then
    argerror(fname, "field 'rate' must be a number in [0, 1], got " .. describe(rate), 2)
  end
  f.rate = rate
  return link_fault("packet_loss", fname, f, function() return { rate = rate } end, function(spec)
    local base = spec.packet_loss_rate
    spec.packet_loss_rate = base == 0 and rate or 1 - (1 - base) * (1 - rate)
  end)
end

--- hs.faults.latency{ network = net, extra = 0.1 | hs.dist..., start = 0, stop = nil,
-- between = { a, b } (optional), asymmetric = false }: the covered links take `extra` longer.
function faults.latency(opts)
  local fname = "faults.latency"
  local f = link_fault_common(fname, opts, "extra")
  local extra = opts.extra
  if not is_time(extra) and not is_dist(extra) then
    argerror(fname, "field 'extra' must be a finite number of seconds >= 0 or an hs.dist distribution, got " ..
      describe(extra), 2)
  end
  f.extra = extra
  return link_fault("latency", fname, f, function() return { extra = extra } end, function(spec, src, dst)
    if type(extra) == "number" then
      spec.latency = spec.latency + extra
    elseif extra.kind == "constant" then
      spec.latency = spec.latency + extra.mean
    elseif spec.latency.kind == "constant" then
      spec.latency = extra + spec.latency.mean
    elseif spec.jitter.kind == "constant" then
      spec.jitter = extra + spec.jitter.mean
    else
      error(("%s: cannot add a random extra delay (%s) to link %s -> %s, whose latency (%s) and jitter (%s) are " ..
        "both random; give 'extra' as a number"):format(fname, extra.kind, src, dst, spec.latency.kind, spec.jitter.kind), 0)
    end
  end)
end

--- hs.faults.clock_skew{ node = "n1" | entity, skew = 0.5, at = 5, stop = nil, drift = nil }:
-- sets the node's clock skew (seconds) and drift (rate, optional) at `at`, and puts the old
-- values back at stop (if given). A node with a clock (node.clock, an hs.NodeClock) has it
-- stepped there (clock:set_skew(now, skew): from then on it reads true time + skew, drifting
-- at the drift rate); otherwise the values are recorded on the entity as entity.clock_skew
-- and entity.clock_drift (Lua entities; a C entity without a clock only gets the log entry).
function faults.clock_skew(opts)
  local fname = "faults.clock_skew"
  check_options(fname, opts, { node = true, skew = true, at = true, stop = true, drift = true }, 2)
  local f = { node = node_field(fname, opts, "node", 2), at = time_field(fname, opts, "at", true, 2) }
  if type(opts.skew) ~= "number" or opts.skew ~= opts.skew or math.abs(opts.skew) == math.huge then
    argerror(fname, "field 'skew' must be a finite number of seconds, got " .. describe(opts.skew), 2)
  end
  if opts.drift ~= nil and (type(opts.drift) ~= "number" or opts.drift ~= opts.drift or math.abs(opts.drift) >= 1) then
    argerror(fname, "field 'drift' must be a number in (-1, 1), got " .. describe(opts.drift), 2)
  end
  f.skew, f.drift = opts.skew, opts.drift
  f.stop = later_field(fname, opts, "stop", f.at, "at", 2)
  return new_fault("clock_skew", f, function(self, sched, sim)
    at(sim, self.at, function()
      local e = resolve(sim, self.node, fname)
      local clock = e.clock
      local restore
      local d = { skew = self.skew, drift = self.drift }
      if clock ~= nil and type(clock.set_skew) == "function" then -- an hs.NodeClock
        local old_skew, old_drift = clock.skew, clock.drift
        if self.drift ~= nil then clock:set_drift(sim.now, self.drift) end
        clock:set_skew(sim.now, self.skew)
        d.applied = "clock"
        restore = function()
          if self.drift ~= nil then clock:set_drift(sim.now, old_drift) end
          clock:set_skew(sim.now, old_skew)
        end
      elseif type(e) == "table" then
        local old_skew, old_drift = rawget(e, "clock_skew"), rawget(e, "clock_drift")
        e.clock_skew = self.skew
        if self.drift ~= nil then e.clock_drift = self.drift end
        d.applied = "entity"
        restore = function()
          e.clock_skew = old_skew
          if self.drift ~= nil then e.clock_drift = old_drift end
        end
      else
        d.applied = false
        restore = function() end
      end
      local entry = sched:_fired("clock_skew", node_name(e), d)
      if self.stop then
        at(sim, self.stop, function()
          restore()
          sched:_healed(entry)
        end)
      end
    end)
  end)
end

local shapes = { halves = true, isolate = true, random = true }

--- hs.faults.random_partitions{ network = net, nodes = {...}, mtbf = 5, mttr = 2, start = 0,
-- stop = nil, shape = "halves" | "isolate" | "random", name = net.name }: a Jepsen-style
-- nemesis. From start, it waits an exponential time (mean mtbf), cuts the nodes in two at
-- random, waits an exponential time (mean mttr), heals, and again, until stop (when an
-- active cut heals). "halves" cuts a shuffled list in the middle (a minority and a
-- majority), "isolate" one node from the rest, "random" at a random point. Draws come from
-- the stream sim:random("nemesis:<name>"), so a seed replays the same cuts.
function faults.random_partitions(opts)
  local fname = "faults.random_partitions"
  check_options(fname, opts, { network = true, nodes = true, mtbf = true, mttr = true, start = true, stop = true,
                               shape = true, name = true }, 2)
  local f = { network = network_field(fname, opts, 2), start = time_field(fname, opts, "start", false, 2) or 0 }
  f.nodes = group_field(fname, opts.nodes, "field 'nodes'", 2)
  if #f.nodes < 2 then argerror(fname, "field 'nodes' must list at least 2 nodes", 2) end
  f.mtbf = positive_field(fname, opts, "mtbf", 2)
  f.mttr = positive_field(fname, opts, "mttr", 2)
  f.stop = later_field(fname, opts, "stop", f.start, "start", 2)
  f.shape = opts.shape or "halves"
  if not shapes[f.shape] then
    argerror(fname, ("field 'shape' must be \"halves\", \"isolate\" or \"random\", got %s"):format(describe(opts.shape)), 2)
  end
  if opts.name ~= nil and type(opts.name) ~= "string" then argerror(fname, "field 'name' must be a string", 2) end
  f.name = opts.name
  return new_fault("random_partitions", f, function(self, sched, sim)
    local net, stream_name -- known at start: the network may be attached after install
    local stopped = false
    local next_failure

    local function cut()
      local stream = sim:random(stream_name)
      local names = stream:shuffle(names_of(self.nodes))
      local n = #names
      local k
      if self.shape == "halves" then k = n // 2
      elseif self.shape == "isolate" then k = 1
      else k = stream:random(1, n - 1) end
      return { unpack(names, 1, k) }, { unpack(names, k + 1, n) }
    end

    local function fail()
      if stopped then return end
      local stream = sim:random(stream_name)
      local a, b = cut()
      local handle = net:partition(a, b)
      local entry = sched:_fired("random_partition", net.name, { a = a, b = b, stream = stream_name, handle = handle })
      local heal_at = sim.now + stream:exponential(self.mttr)
      local last = self.stop ~= nil and heal_at >= self.stop
      if last then heal_at = self.stop end
      at(sim, heal_at, function()
        entry.details.was_active = handle:heal()
        sched:_healed(entry)
        if last then stopped = true else next_failure() end
      end)
    end

    next_failure = function()
      local t = sim.now + sim:random(stream_name):exponential(self.mtbf)
      if self.stop ~= nil and t >= self.stop then
        stopped = true
        return
      end
      at(sim, t, fail)
    end

    at(sim, self.start, function()
      net = network_of(sim, self.network, fname)
      local base = "nemesis:" .. (self.name or tostring(net.name))
      local used = sched._nemesis_names[base] or 0
      sched._nemesis_names[base] = used + 1
      stream_name = used == 0 and base or (base .. ":" .. (used + 1))
      next_failure()
    end)
  end)
end

return M
