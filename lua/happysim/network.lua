--- hs.Network's Lua layer: presets, request/reply, partition handles.

local core = require("happysim.core")
local future = require("happysim.future")
local process = require("happysim.process")

local M = {}

local NetworkLink, dist = core.NetworkLink, core.dist

-- Presets as in happysimulator's network conditions (latency, bandwidth, loss, jitter).
local function preset(name, latency, bandwidth, loss, jitter)
  return function(opts)
    if opts ~= nil and type(opts) ~= "table" then
      error(("bad argument #1 to '%s' (table of options expected, got %s)"):format(name, type(opts)), 2)
    end
    local spec = { name = name, latency = dist.constant(latency), bandwidth_bps = bandwidth,
                   packet_loss_rate = loss, jitter = jitter }
    for k, v in pairs(opts or {}) do spec[k] = v end
    return NetworkLink(spec)
  end
end

M.local_network = preset("local_network", 0.0001, 1e9, 0, nil)
M.datacenter_network = preset("datacenter_network", 0.0005, 10e9, 0, dist.constant(0.0001))
M.cross_region_network = preset("cross_region_network", 0.050, 1e9, 0.0001, dist.exponential(0.005))
M.internet_network = preset("internet_network", 0.100, 100e6, 0.001, dist.exponential(0.020))
M.satellite_network = preset("satellite_network", 0.600, 10e6, 0.005, dist.exponential(0.050))
M.mobile_3g_network = preset("mobile_3g_network", 0.100, 2e6, 0.005, dist.exponential(0.030))
M.mobile_4g_network = preset("mobile_4g_network", 0.050, 20e6, 0.001, dist.exponential(0.015))

--- hs.lossy_network(rate [, base_latency = 0.010])
function M.lossy_network(rate, base_latency)
  if type(rate) ~= "number" or not (rate >= 0 and rate <= 1) then
    error("bad argument #1 to 'lossy_network' (loss rate must be a number in [0, 1], got " .. tostring(rate) .. ")", 2)
  end
  return NetworkLink{ name = "lossy", latency = dist.constant(base_latency or 0.010), bandwidth_bps = 100e6,
                      packet_loss_rate = rate }
end

--- hs.slow_network(latency_s [, bandwidth_bps = 1e6])
function M.slow_network(latency, bandwidth)
  if type(latency) ~= "number" or latency ~= latency or latency < 0 or latency == math.huge then
    error("bad argument #1 to 'slow_network' (latency must be a finite number of seconds >= 0, got " .. tostring(latency) .. ")", 2)
  end
  return NetworkLink{ name = "slow", latency = dist.constant(latency), bandwidth_bps = bandwidth or 1e6 }
end

local methods = core.network_methods()

local errors = require("happysim.errors")

-- forward(cname, public, fn, ...): fn calls the C method cname for the public method (see
-- errors.call_as).
local function forward(cname, public, fn, ...)
  return errors.call_as(public, cname, fn, ...)
end

--- net:request(src, dst, type, payload [, { timeout = s }]) -> Future of the reply's payload.
-- The receiver answers with net:reply(ev, payload) (or ev.network:reply(ev, payload)).
function methods:request(src, dst, type, payload, opts)
  if opts ~= nil and _G.type(opts) ~= "table" then
    error("bad argument #5 to 'request' (table of options expected, got " .. _G.type(opts) .. ")", 2)
  end
  local f = future.new()
  local rid, err = forward("_request", "request", function() return self:_request(src, dst, type, payload, f) end)
  if not rid then
    f:reject(err)
    return f
  end
  local timeout = opts and opts.timeout
  if timeout == nil then return f end
  local out = process.timeout(f, timeout, self.sim)
  out:on_settle(function(o) if not o.ok then self:_forget(rid) end end)
  return out
end

--- net:reply(ev, payload): answers a request received as ev (ev.request_id is set).
function methods:reply(ev, payload)
  if _G.type(ev) ~= "table" or not ev.request_id then
    error("bad argument #1 to 'reply' (a received request event expected)", 2)
  end
  return forward("_reply", "reply", function() return self:_reply(ev.target, ev.src, ev.type, payload, ev.request_id) end)
end

local Partition = {}
Partition.__index = function(p, k)
  if k == "active" then return p.network:_partition_active(p.id) end
  return Partition[k]
end
Partition.__name = "happysim.Partition"

--- handle:heal() -> true if it was active. Heals only this partition's cut.
function Partition:heal()
  return self.network:_heal(self.id)
end

function Partition:__tostring()
  return ("Partition %d (%s)"):format(self.id, self.active and "active" or "healed")
end

--- net:partition(a, b [, { asymmetric = false }]) -> handle. Asymmetric cuts only a -> b.
function methods:partition(a, b, opts)
  local asym = false
  if opts ~= nil then
    if _G.type(opts) ~= "table" then
      error("bad argument #3 to 'partition' (table of options expected, got " .. _G.type(opts) .. ")", 2)
    end
    for k in pairs(opts) do
      if k ~= "asymmetric" then error("bad argument #3 to 'partition' (unknown option '" .. tostring(k) .. "')", 2) end
    end
    if opts.asymmetric ~= nil and _G.type(opts.asymmetric) ~= "boolean" then
      error("bad argument #3 to 'partition' (field 'asymmetric' must be a boolean)", 2)
    end
    asym = opts.asymmetric or false
  end
  local id = forward("_partition", "partition", function() return self:_partition(a, b, asym) end)
  return setmetatable({ network = self, id = id }, Partition)
end

return M
