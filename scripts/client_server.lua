-- client_server.lua: the flagship scenario.
--
--   happysim run scripts/client_server.lua [--seed N] [--until T] [-- key=value ...]
--   happysim repl scripts/client_server.lua            (then sim:step(), sim.now, report())
--
-- N closed-loop clients send requests to one server that has a bounded pool of
-- workers and a bounded wait queue; service times are exponential. Each client
-- thinks, sends a request and waits for the reply with a deadline; if no reply has
-- come after the hedge delay it sends a second copy and takes whichever answers first
-- (tail-latency hedging). There is no network module yet: a request is an event
-- scheduled to the server after a random one-way delay, and the server resolves the
-- Future carried in the payload after another one.
--
-- Options (script arguments, key=value):
--   clients=12  workers=4  queue=16  think=0.05  service=0.03  timeout=0.2
--   hedge=0.1 (0 turns hedging off)  net=0.001 (mean one-way delay)  duration=20
--
-- Everything random comes from per-entity streams of the seed, so a run is
-- deterministic for a given --seed (and adding a client does not change the draws of
-- the others).

local cfg = {
  clients = 12, workers = 4, queue = 16, think = 0.05, service = 0.03,
  timeout = 0.2, hedge = 0.1, net = 0.001, duration = 20,
}
for _, a in ipairs(args) do
  local k, v = a:match("^([%w_]+)=(.+)$")
  if not k or cfg[k] == nil then
    error(("client_server: unknown argument '%s' (expected key=value with key one of: %s)")
      :format(a, "clients workers queue think service timeout hedge net duration"), 0)
  end
  local n = tonumber(v)
  if not n or n < 0 then error(("client_server: %s must be a number >= 0, got '%s'"):format(k, v), 0) end
  cfg[k] = n
end
for _, k in ipairs{ "clients", "workers", "queue" } do
  if math.type(cfg[k]) ~= "integer" or cfg[k] < 1 then
    error(("client_server: %s must be an integer >= 1, got %s"):format(k, cfg[k]), 0)
  end
end
local hedging = cfg.hedge > 0 and cfg.hedge < cfg.timeout

-- ---- the server -------------------------------------------------------------------

local Server = hs.Entity:extend("Server")

function Server:init(opts)
  self.workers, self.queue_limit = opts.workers, opts.queue
  self.busy = 0
  self.waiting, self.head, self.tail = {}, 1, 0 -- FIFO of futures: the next in line gets a worker
  self.served, self.rejected = 0, 0
end

function Server:queue_length()
  return self.tail - self.head + 1
end

-- Replies after a one-way network delay: the client's Future settles then.
function Server:reply(req, ok, value)
  self.sim:timer(self:random("net"):exponential(cfg.net), function()
    if ok then req.reply:resolve(value) else req.reply:reject(value) end
  end)
end

-- Each Request runs as its own process: it may wait for a worker, then holds it for
-- the service time.
function Server:handle_event(ev)
  local req = ev.payload
  if self.busy < self.workers then
    self.busy = self.busy + 1
  elseif self:queue_length() >= self.queue_limit then
    self.rejected = self.rejected + 1
    return self:reply(req, false, hs.error("queue_full", "server queue is full"))
  else
    local turn = hs.Future()
    self.tail = self.tail + 1
    self.waiting[self.tail] = turn
    hs.await(turn) -- a finishing request hands its worker over to us
  end
  hs.sleep(self:random("service"):exponential(cfg.service))
  self.served = self.served + 1
  if self:queue_length() > 0 then
    local nxt = self.waiting[self.head]
    self.waiting[self.head], self.head = nil, self.head + 1
    nxt:resolve()
  else
    self.busy = self.busy - 1
  end
  self:reply(req, true, { by = self.name, at = self.now })
end

-- ---- the clients ------------------------------------------------------------------

local Client = hs.Entity:extend("Client")

function Client:init(opts)
  self.server = opts.server
  self.latencies = {}
  self.ok, self.timed_out, self.rejected, self.hedged, self.sent = 0, 0, 0, 0, 0
end

-- Sends one copy of request seq; returns the Future of its reply.
function Client:send(seq)
  local reply = hs.Future()
  self.sent = self.sent + 1
  self.sim:schedule(hs.Event{
    time = self.now + self:random("net"):exponential(cfg.net), type = "Request", target = self.server,
    payload = { client = self.name, seq = seq, reply = reply },
  })
  return reply
end

-- One request, hedged: returns true, or nil and the error (code "timeout", "queue_full").
function Client:call(seq)
  local first = self:send(seq)
  if not hedging then return hs.await(hs.timeout(first, cfg.timeout)) end
  local v, err = hs.await(hs.timeout(first, cfg.hedge))
  if v or err.code ~= "timeout" then return v, err end
  self.hedged = self.hedged + 1
  local second = self:send(seq)
  return hs.await(hs.timeout(hs.any_of{ first, second }, cfg.timeout - cfg.hedge))
end

-- The client's life, run as a process (started with sim:after).
function Client:run(stop_at)
  local think = self:random("think")
  local seq = 0
  while true do
    hs.sleep(think:exponential(cfg.think))
    if self.now >= stop_at then return end
    seq = seq + 1
    local t0 = self.now
    local v, err = self:call(seq)
    if v then
      self.ok = self.ok + 1
      self.latencies[#self.latencies + 1] = self.now - t0
    elseif err.code == "timeout" then
      self.timed_out = self.timed_out + 1
    else -- queue_full, or every copy was rejected
      self.rejected = self.rejected + 1
    end
  end
end

-- ---- the scenario -----------------------------------------------------------------

server = Server{ name = "server", workers = cfg.workers, queue = cfg.queue }
clients = {}
for i = 1, cfg.clients do
  clients[i] = Client{ name = ("client-%02d"):format(i), server = server }
end

local entities = { server }
for i = 1, #clients do entities[#entities + 1] = clients[i] end
sim = hs.Simulation{ entities = entities } -- seed = --seed, end_time = --until (when given)

for _, c in ipairs(clients) do
  sim:after(c:random("start"):uniform(0, cfg.think), c.run, c, cfg.duration)
end

-- Sample the server's queue every 100 ms; a daemon timer does not keep the run alive.
local samples, queue_sum, queue_max = 0, 0, 0
sim:timer(0.1, function()
  local q = server:queue_length()
  samples, queue_sum, queue_max = samples + 1, queue_sum + q, math.max(queue_max, q)
  return 0.1
end, { daemon = true })

local function percentile(sorted, p)
  if #sorted == 0 then return 0 / 0 end
  return sorted[math.max(1, math.ceil(p * #sorted))]
end

local function ms(s) return ("%.1f ms"):format(s * 1000) end

-- Prints the narrated summary of the run (the CLI calls it with sim:run()'s summary).
function report(summary)
  summary = summary or sim:summary()
  local lat, ok, timed_out, rejected, hedged, sent = {}, 0, 0, 0, 0, 0
  for _, c in ipairs(clients) do
    for _, l in ipairs(c.latencies) do lat[#lat + 1] = l end
    ok, timed_out, rejected = ok + c.ok, timed_out + c.timed_out, c.rejected + rejected
    hedged, sent = hedged + c.hedged, sent + c.sent
  end
  table.sort(lat)
  print(("client_server: %d clients -> 1 server (%d workers, queue %d), seed %d, clients send for %g s")
    :format(cfg.clients, cfg.workers, cfg.queue, summary.seed, cfg.duration))
  print(("  mean think %s, mean service %s, timeout %s, %s")
    :format(ms(cfg.think), ms(cfg.service), ms(cfg.timeout), hedging and ("hedge after " .. ms(cfg.hedge)) or "no hedging"))
  print(("requests  %d answered, %d timed out, %d rejected (queue full); %d hedged, %d copies sent")
    :format(ok, timed_out, rejected, hedged, sent))
  print(("server    %d served, %d turned away; queue length mean %.2f, max %d (sampled every 100 ms)")
    :format(server.served, server.rejected, samples > 0 and queue_sum / samples or 0, queue_max))
  print(("latency   p50 %s, p99 %s, max %s")
    :format(ms(percentile(lat, 0.50)), ms(percentile(lat, 0.99)), ms(percentile(lat, 1.0))))
  print(("run       %.3f s simulated, %d events processed, %d cancelled, trace_hash %s")
    :format(summary.duration_s, summary.events_processed, summary.events_cancelled, summary.trace_hash))
end

return sim, report
