-- lowest_wins.lua: an election strategy written in Lua for hs.LeaderElection: the lowest live
-- member (by name) wins, an inverted bully with messages of its own, written against the node's
-- services only (the C tests' tests/c/test_elect_world.h has the same one in C, without the wait).
--
--   local LowestWins = dofile("scripts/lowest_wins.lua")
--   hs.LeaderElection{ name = "n1", network = net, members = names, strategy = LowestWins() }
--   LowestWins{ step = 0.5 }   -- the wait per rank, in seconds (default: election_timeout / 4)
--
-- Each node gets its own strategy object (it holds that node's state). Its callbacks run as
-- processes of the node, one at a time, so they may wait: a member that lost its leader waits
-- its rank (its place among the members, 0 for the lowest) times `step` before it starts an
-- election, so the lowest live member usually goes first and is announced before the others
-- wake. While it waits, the core keeps going (it adopts the epoch of an announcement) and the
-- strategy's other inputs queue behind the wait (the question whether to accept that leader);
-- so it watches node.epoch, and a member whose epoch moved (someone's election reached it)
-- stands down at once, and the queued inputs are handled.

local hs = require("happysim")

local PROBE, OBJECT = 1, 2

local LowestWins = hs.ElectionStrategy:extend("LowestWins")

function LowestWins:init(opts)
  if opts.step ~= nil and (type(opts.step) ~= "number" or not (opts.step >= 0)) then
    error("bad argument #1 to 'LowestWins' (field 'step' must be a number >= 0, got " .. tostring(opts.step) .. ")", 3)
  end
  self.step = opts.step
  self.running, self.objected = false, false
end

local function rank(node)
  for i, m in ipairs(node.members) do
    if m == node.id then return i - 1 end
  end
end

local function run(self, node)
  self.running, self.objected = true, false
  for _, m in ipairs(node.members) do -- sorted: the lower members come first
    if m >= node.id then break end
    node:send(m, PROBE, "lower?")
  end
  node:set_timeout(node.election_timeout / 4)
end

function LowestWins:should_start_election(node)
  if self.running then return false end
  local epoch, wait = node.epoch, rank(node) * (self.step or node.election_timeout / 4)
  local ticks = math.ceil(wait / (node.election_timeout / 40))
  for _ = 1, ticks do -- wait, watching the epoch: the core goes on meanwhile
    hs.sleep(wait / ticks)
    if self.running or node.epoch ~= epoch then return false end -- someone's election came first
  end
  return true
end

function LowestWins:start_election(node) run(self, node) end

function LowestWins:handle_election_message(node, from, kind, payload)
  if kind == PROBE then
    if payload ~= "lower?" or from < node.id then return false end -- not a message it speaks
    node:send(from, OBJECT, true)
    if node.is_leader then node:announce_to(from)
    elseif not self.running then run(self, node) end
  elseif kind == OBJECT then
    self.objected = true
  else
    return false
  end
end

function LowestWins:on_timeout(node)
  if not self.running then return end
  self.running = false
  if node.current_leader or self.objected then return end -- the core asks again later
  if not node:declare() then node:campaign() end
end

function LowestWins:accept_leader(node, leader)
  if leader > node.id then
    if not self.running then node:campaign() end
    return false
  end
  self.running = false
  return true
end

function LowestWins:reset(node) self.running = false end

return LowestWins
