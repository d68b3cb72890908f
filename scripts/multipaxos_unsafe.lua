-- multipaxos_unsafe.lua: multipaxos_linearizable.lua with a deliberately broken Multi-Paxos,
-- to show the checkers catching it.
--
--   happysim check scripts/multipaxos_unsafe.lua --seeds 1..100    seeds fail
--   happysim run scripts/multipaxos_unsafe.lua --seed N            replays seed N's violation
--
-- Every node is built with unsafe_ignore_promises = true (a TEST-ONLY MultiPaxosNode option):
-- a new leader ignores the values the promises of phase 1 report - its own acceptor's
-- included - and fills every slot it does not know chosen with a no-op (the bug of the Python
-- original). A command chosen under the previous leader, but not yet known chosen by the new
-- one, is then overwritten: the PaxosChecker sees two different values chosen for one slot
-- and stops the run ("paxos safety" and "run completed" fail). With stop_at_violation=false
-- the run goes on, and the acknowledged writes that vanish make the history
-- non-linearizable too (or too tangled for the linearizability checker to decide in its
-- 10 s). Script arguments as for multipaxos_linearizable.lua.

local ctx = ...
local dir = type(ctx.script) == "string" and ctx.script:match("^(.*)/[^/]*$") or "."
local base = assert(loadfile(dir .. "/multipaxos_linearizable.lua", "t", _ENV))
local variant = { name = "multipaxos_unsafe", unsafe_ignore_promises = true }
return base(setmetatable({ variant = variant }, { __index = ctx }))
