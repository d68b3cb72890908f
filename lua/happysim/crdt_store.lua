--- hs.CRDTStore: a replicated key -> CRDT map that converges by gossip (seed 001).
--
--   local store = hs.CRDTStore{ name = "s1", node_id = "s1", network = net, peers = { "s2", "s3" },
--                               crdt_factory = function(node_id) return hs.GCounter{ node_id = node_id } end,
--                               gossip_interval = 1.0 }
--   store:get_or_create("hits"):increment()      -- a local update
--   store:get("hits")                            -- the CRDT, or nil
--
-- Every gossip_interval seconds of simulated time a live store sends the state of all its keys
-- to one peer drawn from its own random stream; a store that receives gossip merges each key
-- into its own replica, made with crdt_factory(its own node_id) when it had none (so updates
-- it makes later count as its own and are never lost to a foreign replica id). Merges are
-- idempotent, commutative and associative, so lost, duplicated and reordered gossip only
-- delays convergence. A crash loses the store's state (it is volatile); gossip brings it back.

local Entity = require("happysim.entity")

local Store = Entity:extend("CRDTStore")

local function check_opts(opts)
  local function bad(msg) error("bad argument #1 to 'CRDTStore' (" .. msg .. ")", 4) end
  if type(opts.node_id) ~= "string" or opts.node_id == "" then bad("field 'node_id' must be a non-empty string") end
  if type(opts.crdt_factory) ~= "function" then bad("field 'crdt_factory' must be a function(node_id) -> CRDT") end
  local gi = opts.gossip_interval
  if gi ~= nil and (type(gi) ~= "number" or not (gi > 0) or gi > 9e9) then
    bad("field 'gossip_interval' must be a positive number of seconds, got " .. tostring(gi))
  end
  if opts.peers ~= nil and type(opts.peers) ~= "table" then bad("field 'peers' must be a list of stores or names") end
  for k in pairs(opts) do
    if not ({ name = 1, node_id = 1, network = 1, peers = 1, crdt_factory = 1, gossip_interval = 1 })[k] then
      bad("unknown option '" .. tostring(k) .. "'")
    end
  end
end

function Store:init(opts)
  check_opts(opts)
  self.name = opts.name or opts.node_id
  self.node_id = opts.node_id
  self.network = opts.network
  self.crdt_factory = opts.crdt_factory
  self.gossip_interval = opts.gossip_interval or 1.0
  self.peers = {}
  for i, p in ipairs(opts.peers or {}) do self.peers[i] = type(p) == "string" and p or p.name end
  self.crdts = {}
  self.stats = { gossip_sent = 0, gossip_received = 0, keys_merged = 0 }
end

-- A replica for key made by the factory for this node, checked to be a CRDT.
local function create(self, key)
  local c = self.crdt_factory(self.node_id)
  if type(c) ~= "userdata" or type(c.merge) ~= "function" or type(c.state) ~= "function" then
    error(("CRDTStore '%s': crdt_factory must return a CRDT (hs.GCounter{...} ...), got %s"):format(self.name, type(c)), 3)
  end
  self.crdts[key] = c
  return c
end

--- store:get_or_create(key) -> the CRDT for key (made by crdt_factory when new)
function Store:get_or_create(key)
  if type(key) ~= "string" then error("bad argument #1 to 'get_or_create' (string key expected, got " .. type(key) .. ")", 2) end
  return self.crdts[key] or create(self, key)
end

--- store:get(key) -> the CRDT for key, or nil
function Store:get(key)
  if type(key) ~= "string" then error("bad argument #1 to 'get' (string key expected, got " .. type(key) .. ")", 2) end
  return self.crdts[key]
end

--- store:keys() -> the keys, sorted
function Store:keys()
  local out = {}
  for k in pairs(self.crdts) do out[#out + 1] = k end
  table.sort(out)
  return out
end

--- store:set_peers(list) / store:add_peers(list): the stores it gossips with (others, not itself).
function Store:set_peers(list)
  if type(list) ~= "table" then error("bad argument #1 to 'set_peers' (list of stores or names expected)", 2) end
  self.peers = {}
  return self:add_peers(list)
end

function Store:add_peers(list)
  if type(list) ~= "table" then error("bad argument #1 to 'add_peers' (list of stores or names expected)", 2) end
  for _, p in ipairs(list) do
    local name = type(p) == "string" and p or (type(p) == "table" and p.name)
    if type(name) ~= "string" then error("bad argument #1 to 'add_peers' (stores or names expected)", 2) end
    if name ~= self.name then self.peers[#self.peers + 1] = name end
  end
  return self
end

-- The state of every key, sorted by key (a deterministic payload).
local function snapshot(self)
  local out = {}
  for _, k in ipairs(self:keys()) do out[#out + 1] = { k, self.crdts[k]:state() } end
  return out
end

--- store:gossip() -> the peer it sent its state to (or nil when it has none or is down)
function Store:gossip()
  if self.crashed or #self.peers == 0 or not self.network then return nil end
  local peer = self.peers[self:random("gossip"):random(#self.peers)]
  self.network:send(self, peer, "CRDTGossip", snapshot(self))
  self.stats.gossip_sent = self.stats.gossip_sent + 1
  return peer
end

-- Registered with a simulation: the gossip timer starts (a daemon: it keeps no run alive).
function Store:on_attach(sim)
  sim:timer(self.gossip_interval, function()
    self:gossip()
    return self.gossip_interval
  end, { daemon = true })
end

function Store:handle_event(ev)
  if ev.type ~= "CRDTGossip" then return end
  self.stats.gossip_received = self.stats.gossip_received + 1
  for _, item in ipairs(ev.payload) do
    local key, state = item[1], item[2]
    local c = self.crdts[key] or create(self, key)
    c:merge(state)
    self.stats.keys_merged = self.stats.keys_merged + 1
  end
end

-- A restarted store starts empty (its state was volatile); its timer never stopped.
Store.durable = {}

return Store
