-- craq_unsafe_reads.lua: chain_linearizable.lua with a deliberately broken CRAQ read path, to
-- show the linearizability checker catching it.
--
--   happysim check scripts/craq_unsafe_reads.lua --seeds 1..300 --jobs 2    some seeds fail (exit 1)
--   happysim run scripts/craq_unsafe_reads.lua --seed N                    replays seed N's anomaly
--
-- Every ChainNode is built with unsafe_dirty_reads = true (a TEST-ONLY option): a node answers
-- its latest version even when it is dirty, without asking the tail. A client that reads a
-- write still travelling down the chain, which later times out or is lost in a repair, or a
-- read at the tail of an older version after that, breaks linearizability.

local ctx = ...
local dir = type(ctx.script) == "string" and ctx.script:match("^(.*)/[^/]*$") or "."
local base = assert(loadfile(dir .. "/chain_linearizable.lua", "t", _ENV))
local variant = { name = "craq_unsafe_reads", unsafe_dirty_reads = true, read_any = true }
return base(setmetatable({ variant = variant }, { __index = ctx }))
