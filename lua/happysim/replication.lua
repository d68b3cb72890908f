--- The Lua side of replication (issue 12): hs.build_chain, the conflict resolvers
-- (hs.LastWriterWins, hs.VectorClockMerge, hs.CustomResolver), hs.VersionedValue and hs.KVStore.
-- The nodes themselves are C entities (engine/lua/protocols/hs_lua_*_node.c).
--
-- Resolvers are tables with resolve(self, key, versions) -> version, the seed's
-- ConflictResolver protocol. The two built-in ones carry `_builtin`, which hs.LeaderNode
-- recognises to run the C resolver instead (the same choice, without calling Lua); any other
-- resolver (a CustomResolver, a VectorClockMerge with merge_fn, a table of your own, or a plain
-- function(key, versions)) is called by the C core through the door for each set of
-- concurrent versions.

local core = require("happysim.core")

local M = {}

local function bad(fname, msg, level)
  error(("bad argument #1 to '%s' (%s)"):format(fname, msg), (level or 2) + 1)
end

--- hs.VersionedValue{ value =, timestamp =, writer_id =, vector_clock = { name = count } }
function M.VersionedValue(t)
  if type(t) ~= "table" then bad("VersionedValue", "table expected, got " .. type(t)) end
  for k in pairs(t) do
    if k ~= "value" and k ~= "timestamp" and k ~= "writer_id" and k ~= "vector_clock" then
      bad("VersionedValue", "unknown field '" .. tostring(k) .. "'")
    end
  end
  if type(t.timestamp) ~= "number" or t.timestamp ~= t.timestamp then
    bad("VersionedValue", "field 'timestamp' must be a number of seconds")
  end
  if type(t.writer_id) ~= "string" then bad("VersionedValue", "field 'writer_id' must be a string") end
  if t.vector_clock ~= nil then
    if type(t.vector_clock) ~= "table" then bad("VersionedValue", "field 'vector_clock' must be a table name -> count") end
    for k, v in pairs(t.vector_clock) do
      if type(k) ~= "string" or math.type(v) ~= "integer" or v < 0 then
        bad("VersionedValue", "field 'vector_clock' must map names to integers >= 0")
      end
    end
  end
  return { value = t.value, timestamp = t.timestamp, writer_id = t.writer_id, vector_clock = t.vector_clock }
end

-- The LastWriterWins order: timestamp, then writer id.
local function newer(a, b)
  if a.timestamp ~= b.timestamp then return a.timestamp > b.timestamp end
  return tostring(a.writer_id) > tostring(b.writer_id)
end

local function lww_pick(versions)
  local best = versions[1]
  for i = 2, #versions do
    if newer(versions[i], best) then best = versions[i] end
  end
  return best
end

--- Whether clock a is before or equal to b (every entry <=).
local function covered(a, b)
  for k, n in pairs(a or {}) do
    if n > ((b or {})[k] or 0) then return false end
  end
  return true
end

--- hs.LastWriterWins(): the highest timestamp wins, ties broken by writer id (run in C by LeaderNode).
function M.LastWriterWins()
  return { _builtin = "last_writer_wins", name = "last_writer_wins",
           resolve = function(_, _, versions) return lww_pick(versions) end }
end

--- hs.VectorClockMerge{ merge_fn = function(key, a, b) return version end }: a version whose
-- clock dominates wins (the core never hands over dominated ones); concurrent versions go to
-- merge_fn pairwise. Without merge_fn every concurrent sibling is kept (Dynamo style; run in
-- C), and a read returns them all until the next write covers them.
function M.VectorClockMerge(opts)
  opts = opts or {}
  if type(opts) ~= "table" then bad("VectorClockMerge", "table expected, got " .. type(opts)) end
  for k in pairs(opts) do
    if k ~= "merge_fn" then bad("VectorClockMerge", "unknown option '" .. tostring(k) .. "'") end
  end
  local merge_fn = opts.merge_fn
  if merge_fn == nil then
    return { _builtin = "vector_clock_merge", name = "vector_clock_merge", keep_siblings = true,
             resolve = function(_, _, versions) -- as the seed: dominance, else the latest timestamp
               for _, v in ipairs(versions) do
                 local dominates = true
                 for _, w in ipairs(versions) do
                   if w ~= v and not covered(w.vector_clock, v.vector_clock) then dominates = false break end
                 end
                 if dominates then return v end
               end
               return lww_pick(versions)
             end }
  end
  if type(merge_fn) ~= "function" then bad("VectorClockMerge", "field 'merge_fn' must be a function(key, a, b)") end
  return { name = "vector_clock_merge", merge_fn = merge_fn,
           resolve = function(self, key, versions)
             local acc = versions[1]
             for i = 2, #versions do acc = self.merge_fn(key, acc, versions[i]) end
             return acc
           end }
end

--- hs.CustomResolver{ resolve_fn = function(key, versions) return version end }: returns one of
-- the versions, or a table { value = merged } for a new value.
function M.CustomResolver(opts)
  if type(opts) ~= "table" then bad("CustomResolver", "table expected, got " .. type(opts)) end
  for k in pairs(opts) do
    if k ~= "resolve_fn" then bad("CustomResolver", "unknown option '" .. tostring(k) .. "'") end
  end
  if type(opts.resolve_fn) ~= "function" then
    bad("CustomResolver", "field 'resolve_fn' must be a function(key, versions) -> version")
  end
  return { name = "custom", resolve_fn = opts.resolve_fn,
           resolve = function(self, key, versions) return self.resolve_fn(key, versions) end }
end

--- hs.KVStore{ name = }: a plain key -> value store (get, put, delete, keys, size), for Lua
-- entities and for snapshots. The replication nodes keep their data in C (node.data is a
-- fresh key -> value table of what a node holds).
local KVStore = {}
KVStore.__index = KVStore
KVStore.__name = "happysim.KVStore"

function M.KVStore(opts)
  opts = opts or {}
  if type(opts) ~= "table" then bad("KVStore", "table expected, got " .. type(opts)) end
  for k in pairs(opts) do
    if k ~= "name" then bad("KVStore", "unknown option '" .. tostring(k) .. "'") end
  end
  if opts.name ~= nil and type(opts.name) ~= "string" then bad("KVStore", "field 'name' must be a string") end
  return setmetatable({ name = opts.name or "kvstore", _data = {}, _keys = {} }, KVStore)
end

function KVStore:get(key) return self._data[key] end

function KVStore:put(key, value)
  if type(key) ~= "string" then error("bad argument #1 to 'put' (string key expected, got " .. type(key) .. ")", 2) end
  if self._data[key] == nil and value ~= nil then self._keys[#self._keys + 1] = key end
  self._data[key] = value
end

function KVStore:delete(key)
  self:put(key, nil)
end

--- The keys that hold a value, in insertion order.
function KVStore:keys()
  local out = {}
  for _, k in ipairs(self._keys) do
    if self._data[k] ~= nil then out[#out + 1] = k end
  end
  return out
end

function KVStore:size() return #self:keys() end

local CHAIN_KNOWN = { names = true, network = true, craq_enabled = true, master = true, store_factory = true,
                      ping_interval = true, retry_interval = true, write_timeout = true, read_timeout = true,
                      max_inflight = true, lease = true, failure_timeout = true, unsafe_dirty_reads = true }

--- hs.build_chain{ names = { head, ..., tail }, network =, craq_enabled = false, master = <name>,
-- lease =, failure_timeout = (the master's), and ChainNode's timing options } -> list of
-- ChainNode, head first; the list's `master` field is the hs.ReplicationMaster built for it
-- (named master, default "<head>.master").
function M.build_chain(opts)
  if type(opts) ~= "table" then bad("build_chain", "table expected, got " .. type(opts)) end
  for k in pairs(opts) do
    if not CHAIN_KNOWN[k] then bad("build_chain", "unknown option '" .. tostring(k) .. "'") end
  end
  if opts.store_factory ~= nil then
    bad("build_chain", "field 'store_factory' is not supported: a ChainNode keeps its versions in C "
      .. "(clean/dirty per version); read them with node.versions")
  end
  local names = opts.names
  if type(names) ~= "table" or #names < 2 then bad("build_chain", "field 'names' must list at least 2 names (head first)") end
  for i, n in ipairs(names) do
    if type(n) ~= "string" then bad("build_chain", ("field 'names': item %d must be a string"):format(i)) end
  end
  local master_name = opts.master or (names[1] .. ".master")
  if type(master_name) ~= "string" then bad("build_chain", "field 'master' must be a name") end
  local nodes = {}
  for i, n in ipairs(names) do
    nodes[i] = core.ChainNode{ name = n, network = opts.network, master = master_name, craq_enabled = opts.craq_enabled,
                               ping_interval = opts.ping_interval, retry_interval = opts.retry_interval,
                               write_timeout = opts.write_timeout, read_timeout = opts.read_timeout,
                               max_inflight = opts.max_inflight, unsafe_dirty_reads = opts.unsafe_dirty_reads }
  end
  nodes.master = core.ReplicationMaster{ name = master_name, network = opts.network, members = names,
                                         lease = opts.lease, failure_timeout = opts.failure_timeout }
  return nodes
end

return M
