--- happysim: a deterministic discrete-event simulator of distributed systems.
-- local hs = require("happysim") gives the whole API (see README.md and docs/API.md).

local core = require("happysim.core")
local future = require("happysim.future")
local errors = require("happysim.errors")
local process = require("happysim.process")
local network = require("happysim.network")

local hs = {
  _VERSION = "happysim scm",
  core = core,

  -- core
  Simulation = core.Simulation,
  Event = core.Event,
  Entity = require("happysim.entity"),
  HoldModel = core.HoldModel,
  KVStateMachine = core.KVStateMachine,
  RaftNode = core.RaftNode,
  RaftChecker = core.RaftChecker,
  PaxosNode = core.PaxosNode,
  MultiPaxosNode = core.MultiPaxosNode,
  FlexiblePaxosNode = core.FlexiblePaxosNode,
  PaxosChecker = core.PaxosChecker,
  MultiPaxosRole = { FOLLOWER = "follower", CANDIDATE = "candidate", LEADER = "leader" },
  workload = require("happysim.workload"),
  check = require("happysim.check"),
  invariant = require("happysim.invariants").add,
  scenario = require("happysim.scenario").scenario,
  RaftState = { FOLLOWER = "follower", PRE_CANDIDATE = "pre_candidate", CANDIDATE = "candidate", LEADER = "leader" },

  -- processes
  sleep = core.sleep,
  now = core.now,
  await = process.await,
  timeout = process.timeout,

  -- futures
  Future = setmetatable({ is_future = future.is_future }, {
    __call = function() return future.new() end,
    __name = "happysim.FutureClass",
  }),
  any_of = future.any_of,
  all_of = future.all_of,

  -- errors as values
  error = errors.new,

  -- printing values readably (what the REPL prints)
  inspect = require("happysim.inspect").inspect,

  -- network
  Network = core.Network,
  NetworkLink = core.NetworkLink,
  dist = core.dist,

  -- faults
  FaultSchedule = require("happysim.faults").FaultSchedule,
  faults = require("happysim.faults").faults,

  -- CRDTs (engine/crdt)
  GCounter = core.GCounter,
  PNCounter = core.PNCounter,
  LWWRegister = core.LWWRegister,
  ORSet = core.ORSet,
  CRDTStore = require("happysim.crdt_store"),

  -- coordination and membership (engine/coord, engine/membership)
  PhiAccrualDetector = core.PhiAccrualDetector,
  DistributedLock = core.DistributedLock,
  FencedResource = core.FencedResource,
  LeaderElection = core.LeaderElection,
  ElectionStrategy = require("happysim.election"),
  BullyStrategy = core.BullyStrategy,
  RingStrategy = core.RingStrategy,
  RandomizedStrategy = core.RandomizedStrategy,
  ElectionChecker = core.ElectionChecker,
  MembershipProtocol = core.MembershipProtocol,
  MemberState = { ALIVE = "alive", SUSPECT = "suspect", DEAD = "dead" },
  -- replication (engine/repl): primary-backup, chain/CRAQ, multi-leader
  PrimaryNode = core.PrimaryNode,
  BackupNode = core.BackupNode,
  ReplicationMaster = core.ReplicationMaster,
  ChainNode = core.ChainNode,
  build_chain = require("happysim.replication").build_chain,
  LeaderNode = core.LeaderNode,
  MerkleTree = core.MerkleTree,
  LastWriterWins = require("happysim.replication").LastWriterWins,
  VectorClockMerge = require("happysim.replication").VectorClockMerge,
  CustomResolver = require("happysim.replication").CustomResolver,
  VersionedValue = require("happysim.replication").VersionedValue,
  KVStore = require("happysim.replication").KVStore,
  ReplicationMode = { SYNC = "sync", SEMI_SYNC = "semi_sync", ASYNC = "async" },
  ChainNodeRole = { HEAD = "head", MIDDLE = "middle", TAIL = "tail" },

  -- clocks
  LamportClock = core.LamportClock,
  VectorClock = require("happysim.clock").VectorClock,
  HybridLogicalClock = core.HybridLogicalClock,
  HLCTimestamp = core.HLCTimestamp,
  NodeClock = core.NodeClock,
}

for _, preset in ipairs{ "local_network", "datacenter_network", "cross_region_network", "internet_network",
                         "satellite_network", "mobile_3g_network", "mobile_4g_network", "lossy_network",
                         "slow_network" } do
  hs[preset] = network[preset]
end

-- After happysim.invariants, which hooks the C run methods: sim:run_until(cond) wraps them.
require("happysim.breakpoints") -- sim:break_on, sim:continue, sim:run_until(cond)

return hs
