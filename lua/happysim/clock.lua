--- Vector clocks keyed by node names: hs.VectorClock.
--
--   local a = hs.VectorClock()               -- or hs.VectorClock{ n1 = 2, n2 = 1 }
--   a:increment("n1")                        --> 1 (a local or send event of n1)
--   b:merge(a):increment("n2")               -- a receive at n2: in-place merge, then tick
--   a:compare(b)                             --> "before" | "after" | "equal" | "concurrent"
--   a:happened_before(b), a:concurrent(b), a == b, a:get("n1"), tostring(a)
--   msg.vc = a:to_table()                    -- a plain { [node] = count } to send; hs.VectorClock(t) takes it back
--
-- A clock is a map node name -> count where a missing node reads 0. Nothing depends on the
-- order in which names were first seen: comparisons are pointwise, and tostring lists nodes
-- sorted by name, so two clocks with the same entries behave identically whatever their
-- history (the C hs_vclock, keyed by integer ids, would need a name interning whose ids
-- depend on first use). merge(other) updates the clock in place (the least upper bound) and
-- returns it; a:copy():merge(b) leaves a alone.
--
-- Wherever another clock is expected, a plain table { [node] = count } is accepted too.

local VectorClock = {}
VectorClock.__name = "happysim.VectorClock"
local methods = {}
VectorClock.__index = methods

local function argerror(fname, n, msg, level)
  error(("bad argument #%d to '%s' (%s)"):format(n, fname, msg), level + 1)
end

local function describe(v)
  if type(v) == "number" then return tostring(v) end
  local mt = getmetatable(v)
  if type(mt) == "table" and type(mt.__name) == "string" then return mt.__name end
  return type(v)
end

local function typename(v)
  local mt = getmetatable(v)
  if type(mt) == "table" and type(mt.__name) == "string" then return mt.__name end
  return type(v)
end

local function is_vector_clock(v) return getmetatable(v) == VectorClock end

-- A count: a non-negative integer (2.0 is taken as 2).
local function check_count(fname, n, node, v, level)
  local i = math.type(v) == "float" and math.tointeger(v) or v
  if math.type(i) ~= "integer" or i < 0 then
    argerror(fname, n, ("count of node '%s' must be a non-negative integer, got %s"):format(node, describe(v)),
      level + 1)
  end
  return i
end

local function check_node(fname, n, node, level)
  if type(node) ~= "string" or node == "" then
    argerror(fname, n, "node name must be a non-empty string, got " .. describe(node), level + 1)
  end
  return node
end

-- The counts of `v` (a VectorClock, or a plain table that is validated and copied).
local function counts_of(fname, n, v, level)
  if is_vector_clock(v) then return v._counts end
  if type(v) ~= "table" then argerror(fname, n, "VectorClock or table expected, got " .. typename(v), level + 1) end
  local counts = {}
  for node, c in pairs(v) do
    check_node(fname, n, node, level + 1)
    c = check_count(fname, n, node, c, level + 1)
    if c > 0 then counts[node] = c end
  end
  return counts
end

local function self_counts(fname, self, level)
  if not is_vector_clock(self) then
    error(("bad self to '%s' (happysim.VectorClock expected, got %s)"):format(fname, typename(self)), level + 1)
  end
  return self._counts
end

local function new(counts) return setmetatable({ _counts = counts }, VectorClock) end

--- hs.VectorClock([t]) where t is { [node] = count } or another VectorClock (copied).
local function VectorClockNew(t)
  if t == nil then return new({}) end
  local counts = counts_of("VectorClock", 1, t, 2)
  if is_vector_clock(t) then
    local copy = {}
    for node, c in pairs(counts) do copy[node] = c end
    counts = copy
  end
  return new(counts)
end

-- -1, 0, 1 or nil (concurrent): the happened-before order of a and b.
local function order(a, b)
  local le, ge = true, true -- a <= b, a >= b pointwise
  for node, ca in pairs(a) do
    local cb = b[node] or 0
    if ca < cb then ge = false elseif ca > cb then le = false end
  end
  for node, cb in pairs(b) do
    if a[node] == nil and cb > 0 then ge = false end
  end
  if le and ge then return 0 end
  if le then return -1 end
  if ge then return 1 end
  return nil
end

--- vc:get(node) -> count (0 for a node never seen)
function methods:get(node)
  local counts = self_counts("get", self, 2)
  return counts[check_node("get", 1, node, 2)] or 0
end

--- vc:increment(node) -> the new count of node
function methods:increment(node)
  local counts = self_counts("increment", self, 2)
  check_node("increment", 1, node, 2)
  local c = counts[node] or 0
  if c == math.maxinteger then error(("increment: count of node '%s' would overflow"):format(node), 2) end
  counts[node] = c + 1
  return c + 1
end

--- vc:merge(other) -> vc, now the pointwise max of both (in place)
function methods:merge(other)
  local counts = self_counts("merge", self, 2)
  for node, c in pairs(counts_of("merge", 1, other, 2)) do
    if c > (counts[node] or 0) then counts[node] = c end
  end
  return self
end

--- vc:compare(other) -> "before" | "after" | "equal" | "concurrent"
function methods:compare(other)
  local o = order(self_counts("compare", self, 2), counts_of("compare", 1, other, 2))
  return o == 0 and "equal" or o == -1 and "before" or o == 1 and "after" or "concurrent"
end

--- vc:happened_before(other) -> true when vc <= other pointwise and they differ
function methods:happened_before(other)
  return order(self_counts("happened_before", self, 2), counts_of("happened_before", 1, other, 2)) == -1
end

--- vc:concurrent(other) -> true when neither happened before the other
function methods:concurrent(other)
  return order(self_counts("concurrent", self, 2), counts_of("concurrent", 1, other, 2)) == nil
end

--- vc:copy() -> an independent VectorClock with the same entries
function methods:copy()
  local copy = {}
  for node, c in pairs(self_counts("copy", self, 2)) do copy[node] = c end
  return new(copy)
end

--- vc:to_table() -> a fresh plain table { [node] = count } (nodes at 0 left out)
function methods:to_table()
  local t = {}
  for node, c in pairs(self_counts("to_table", self, 2)) do t[node] = c end
  return t
end

--- vc:nodes() -> the sorted list of nodes with a non-zero count
function methods:nodes()
  local list = {}
  for node in pairs(self_counts("nodes", self, 2)) do list[#list + 1] = node end
  table.sort(list)
  return list
end

function VectorClock.__eq(a, b)
  return is_vector_clock(a) and is_vector_clock(b) and order(a._counts, b._counts) == 0
end

function VectorClock.__newindex(_, k)
  error(("VectorClock: cannot set field '%s' (use increment or merge)"):format(tostring(k)), 2)
end

function VectorClock.__tostring(vc)
  local parts = {}
  for i, node in ipairs(vc:nodes()) do parts[i] = ("%s=%d"):format(node, vc._counts[node]) end
  return "VectorClock{" .. table.concat(parts, ", ") .. "}"
end

return { VectorClock = VectorClockNew, is_vector_clock = is_vector_clock, metatable = VectorClock }
