-- raft_unsafe_reads.lua: raft_linearizable.lua with a deliberately broken read path, to
-- show the linearizability checker catching it.
--
--   happysim check scripts/raft_unsafe_reads.lua --seeds 1..20    some seeds fail
--   happysim run scripts/raft_unsafe_reads.lua --seed N           replays seed N's anomaly
--
-- Every node is built with unsafe_local_reads = true (a test-only RaftNode option): a
-- "read" is answered at once from the local state machine of whichever node receives it,
-- leader or not, without ReadIndex, and the clients send each read to a node picked at
-- random. A follower that has not yet applied the latest write, a node cut off by a
-- partition, or a deposed leader that still believes it leads then returns a stale
-- value, after a newer one was acknowledged or read: the "linearizable" check fails and
-- prints the operations that cannot be ordered, with their times. Writes still go through
-- the log, so the Raft safety checks keep passing. Script arguments as for
-- raft_linearizable.lua.

local ctx = ...
local dir = type(ctx.script) == "string" and ctx.script:match("^(.*)/[^/]*$") or "."
local base = assert(loadfile(dir .. "/raft_linearizable.lua", "t", _ENV))
local variant = { name = "raft_unsafe_reads", unsafe_local_reads = true, read_any = true }
return base(setmetatable({ variant = variant }, { __index = ctx }))
