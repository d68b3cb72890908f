--- hs.ElectionStrategy: the base class of leader-election strategies written in Lua, for
-- hs.LeaderElection{ strategy = ... } (docs/API.md, LeaderElection).
--
--   local Lowest = hs.ElectionStrategy:extend("Lowest")
--   function Lowest:init(opts) self.step = opts.step or 0.1 end   -- state of one node
--   function Lowest:start_election(node) ... end
--   hs.LeaderElection{ name = "n1", network = net, members = names, strategy = Lowest{ step = 0.2 } }
--
-- Give each node its own instance: it holds that node's state. hs.ElectionStrategy{
-- start_election = fn, ... } makes a one-off strategy (without init, the options are copied onto
-- the instance, as hs.Entity{...} does). The callbacks run as processes of the node, one at a
-- time: they may hs.sleep and hs.await (see LeaderElection in docs/API.md for what queues
-- meanwhile). What the base class does when a method is not given:
--   should_start_election(node)  true: start an election when the leader is lost
--   start_election(node)         nothing (override it: it says how an election runs)
--   handle_election_message(node, from, kind, payload, epoch)  false: not a message it speaks
--   on_timeout(node)             nothing
-- accept_leader and reset have no default on purpose: without accept_leader every leader the
-- core allows is accepted at once (no callback runs), without reset nothing is called.

local classes = require("happysim.class")

local METHODS = { "should_start_election", "start_election", "handle_election_message", "on_timeout",
                  "accept_leader", "reset" }

local Strategy = { class_name = "ElectionStrategy" }

function Strategy:should_start_election() return true end
function Strategy:start_election() end
function Strategy:handle_election_message() return false end
function Strategy:on_timeout() end

local function check_methods(class, self)
  for _, m in ipairs(METHODS) do
    local v = rawget(self, m)
    if v ~= nil and type(v) ~= "function" then
      error(("bad argument #1 to '%s' (field '%s' must be a function, got %s)"):format(class.class_name, m, type(v)), 3)
    end
  end
end

local function instantiate(class, opts)
  opts = classes.options(class, opts)
  local self = setmetatable({}, class.__instance_mt)
  classes.build(class, self, opts)
  check_methods(class, self)
  return self
end

local function setup(class)
  return classes.setup(class, { __index = class, __name = "happysim." .. class.class_name,
    __tostring = function() return class.class_name .. " (an election strategy)" end },
    { __call = instantiate, __name = "happysim.ElectionStrategyClass" })
end

--- ElectionStrategy:extend(name) -> a subclass; call it with options to make an instance.
function Strategy:extend(name) return classes.extend(self, name, setup) end

return setup(Strategy)
