-- lock_fencing.lua: why a lease is not enough, and what a fencing token adds (Kleppmann,
-- "How to do distributed locking"). Two clients take turns at one lock of hs.DistributedLock
-- and write to a storage that checks fencing tokens (hs.FencedResource). Client A gets the
-- lock, then stops the world (a long GC pause: hs.faults.pause) for longer than its lease.
-- Its lease runs out, B gets the lock with a higher token and writes. When A wakes up it still
-- believes it holds the lock and writes with its old token: the storage refuses it. The clients
-- talk to the lock server over a datacenter network (net:request), as real clients would.
--
--   happysim run scripts/lock_fencing.lua [--seed N]

local net = hs.Network{ name = "lan", default_link = hs.datacenter_network() }
local lock = hs.DistributedLock{ name = "lock-server", network = net, lease_duration = 5 }
local storage = hs.FencedResource{ name = "storage" }

local Client = hs.Entity:extend("Client")

function Client:init(opts) self.work = opts.work end

function Client:handle_event(ev)
  local reply, err = hs.await(net:request(self, lock, "acquire", { lock = "file", timeout = 30 }, { timeout = 31 }))
  if not (reply and reply.ok) then
    print(("t=%5.2f  %s could not get the lock: %s"):format(self.now, self.name, (err or reply.error).code))
    return
  end
  local grant = reply.value
  print(("t=%5.2f  %s holds 'file' with fencing token %d until t=%.2f"):format(self.now, self.name,
        grant.fencing_token, grant.expires_at))
  hs.sleep(self.work) -- the work; a pause of the entity stretches it
  local ok, werr = storage:write(grant.fencing_token, self.name .. "'s data")
  if ok then
    print(("t=%5.2f  %s wrote with token %d: accepted"):format(self.now, self.name, grant.fencing_token))
  else
    print(("t=%5.2f  %s wrote with token %d: REFUSED (%s)"):format(self.now, self.name, grant.fencing_token,
          werr.message))
  end
  local released = hs.await(net:request(self, lock, "release", { lock = "file", token = grant.fencing_token },
                                       { timeout = 1 }))
  if released and released.value then
    print(("t=%5.2f  %s released the lock"):format(self.now, self.name))
  else
    print(("t=%5.2f  %s's release was refused: its lease had run out"):format(self.now, self.name))
  end
end

local a = Client{ name = "client-a", work = 1 }
local b = Client{ name = "client-b", work = 1 }

local faults = hs.FaultSchedule{
  hs.faults.pause{ node = "client-a", at = 0.5, resume_at = 8.0 }, -- a stop-the-world pause of 7.5 s
}

sim = hs.Simulation{ entities = { net, lock, a, b }, faults = faults }
sim:schedule(hs.Event{ time = 0.0, type = "Start", target = a })
sim:schedule(hs.Event{ time = 1.0, type = "Start", target = b })
sim:after(20, function()
  print(("storage: value %q, highest token %d, %d writes accepted, %d refused"):format(storage.value,
        storage.highest_token, storage.writes_accepted, storage.writes_refused))
  local s = lock.stats
  print(("lock server: %d grants, %d releases, %d leases expired, %d stale requests refused"):format(
        s.total_acquires, s.total_releases, s.total_expirations, s.stale_refused))
end)
return sim
