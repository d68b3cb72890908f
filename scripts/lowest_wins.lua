-- lowest_wins.lua: an election strategy written in Lua for hs.LeaderElection: the lowest live
-- member (by name) wins, an inverted bully with messages of its own. The same strategy as the
-- C tests' (tests/c/test_elect_world.h), written against the node's services only.
--
--   local LowestWins = dofile("scripts/lowest_wins.lua")
--   hs.LeaderElection{ name = "n1", network = net, members = names, strategy = LowestWins() }
--
-- Each node gets its own strategy object (it holds that node's state). The methods are called
-- synchronously by the C core (through the door): they cannot hs.sleep; node:set_timeout(dt)
-- arms the strategy's timer, whose expiry calls on_timeout.

local PROBE, OBJECT = 1, 2

local LowestWins = {}
LowestWins.__index = LowestWins

local function run(self, node)
  self.running, self.objected = true, false
  for _, m in ipairs(node.members) do -- sorted: the lower members come first
    if m >= node.id then break end
    node:send(m, PROBE, "lower?")
  end
  node:set_timeout(node.election_timeout / 4)
end

function LowestWins:should_start_election(node) return not self.running end

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

return function() return setmetatable({ running = false, objected = false }, LowestWins) end
