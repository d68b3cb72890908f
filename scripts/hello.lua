-- hello.lua: the smallest scenario. Two entities play ping-pong for a while.
--
--   happysim run scripts/hello.lua [--seed N] [--until T] [-- ROUNDS]
--
-- The script receives hs, seed and args (see `happysim help run`). It returns the
-- Simulation without running it, so `happysim run` runs it and prints the summary,
-- and `happysim repl scripts/hello.lua` leaves it ready to `sim:step()`.

local rounds = tonumber(args[1]) or 5

local Player = hs.Entity:extend("Player")

function Player:init(opts)
  self.peer = opts.peer
  self.hits = 0
end

function Player:handle_event(ev)
  self.hits = self.hits + 1
  hs.sleep(self:random():uniform(0.1, 0.3))       -- think, 100-300 ms of simulated time
  print(("t=%.3f  %s returns ball %d"):format(self.now, self.name, ev.payload.n))
  if ev.payload.n < rounds then
    return hs.Event{ time = self.now + 0.05, type = "Ball", target = self.peer, payload = { n = ev.payload.n + 1 } }
  end
end

ping = Player{ name = "ping" }
pong = Player{ name = "pong", peer = ping }
ping.peer = pong

sim = hs.Simulation{ entities = { ping, pong } }   -- seed and end time come from --seed / --until
sim:schedule(hs.Event{ time = 0, type = "Ball", target = ping, payload = { n = 1 } })
return sim
