-- chain_linearizable.lua: pb_linearizable.lua for a chain of 3 (hs.build_chain, CRAQ by
-- default, reads at any node) under the same faults, checked for linearizability.
--
--   happysim check scripts/chain_linearizable.lua --seeds 1..300 --jobs 2
--   happysim run scripts/chain_linearizable.lua --seed 7 -- craq=false     a plain chain (tail reads)
--
-- Script arguments as for pb_linearizable.lua.

local ctx = ...
local dir = type(ctx.script) == "string" and ctx.script:match("^(.*)/[^/]*$") or "."
local base = assert(loadfile(dir .. "/pb_linearizable.lua", "t", _ENV))
local variant = { name = "chain_linearizable", family = "chain" }
for k, v in pairs(ctx.variant or {}) do variant[k] = v end
return base(setmetatable({ variant = variant }, { __index = ctx }))
