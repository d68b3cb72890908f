-- Seeing a run: the Chrome trace (sim:record_trace, happysim run --trace) decoded as JSON, the
-- space-time diagram drawn from it (SVG, rendered to PNG by a real renderer), and the ShiViz log.

local hs = require("happysim")
local diagram = require("happysim.diagram")
local cjson_ok, cjson = pcall(require, "cjson")

local function tmp(suffix)
  local p = os.tmpname()
  os.remove(p)
  return p .. suffix
end

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- The flagship's shape: 5 Raft nodes; the leader crashes at t=4 and restarts at t=6; a
-- partition from 7 to 8.
local function flagship(trace_path, opts)
  local net = hs.Network{ name = "net", default_link = hs.datacenter_network() }
  local names = { "n1", "n2", "n3", "n4", "n5" }
  local nodes = {}
  for i, n in ipairs(names) do
    nodes[i] = hs.RaftNode{ name = n, network = net, peers = names }
    nodes[i]:start()
  end
  local sim = hs.Simulation{ seed = 7, entities = { net, table.unpack(nodes) } }
  sim:record_trace(trace_path, opts)
  local crashed
  sim:timer(4, function()
    for _, n in ipairs(nodes) do if n.is_leader then crashed = n; n:crash() end end
  end)
  sim:timer(6, function() if crashed then crashed:restart() end end)
  local p
  sim:timer(7, function() p = net:partition({ "n1", "n2" }, { "n3", "n4", "n5" }) end)
  sim:timer(8, function() p:heal() end)
  sim:run_until(10)
  sim:close()
  return nodes, crashed
end

describe("sim:record_trace", function()
  if not cjson_ok then
    pending("needs lua-cjson (tools/deps.sh installs it) to decode the trace")
    return
  end

  it("writes Chrome-trace JSON: a track per node, message flows, the crash, the partition and the roles", function()
    local path = tmp(".json")
    local _, crashed = flagship(path)
    local events = cjson.decode(slurp(path))
    os.remove(path)
    local tracks, flows_s, flows_f, crash, partition, roles, lost = {}, {}, {}, 0, 0, {}, 0
    for _, e in ipairs(events) do
      if e.ph == "M" and e.name == "thread_name" then tracks[e.args.name] = e.tid end
      if e.ph == "s" then flows_s[e.id] = e end
      if e.ph == "f" then flows_f[e.id] = e end
      if e.ph == "b" and e.name == "crash " .. crashed.name then crash = crash + 1 end
      if e.ph == "b" and e.name:find("^partition") then partition = partition + 1 end
      if e.ph == "X" and e.cat == "role" then roles[e.name] = (roles[e.name] or 0) + 1 end
      if e.ph == "X" and e.args and e.args.lost then lost = lost + 1 end
    end
    for _, n in ipairs{ "n1", "n2", "n3", "n4", "n5" } do assert.is_number(tracks[n], n) end
    local matched = 0
    for id, s in pairs(flows_s) do
      local f = flows_f[id]
      if f then
        matched = matched + 1
        assert.is_true(f.ts >= s.ts)
      end
    end
    assert.is_true(matched > 100)
    assert.equal(1, crash)
    assert.equal(1, partition)
    assert.is_true(roles.leader >= 2) -- one before the crash, one after
    assert.is_true(roles.follower >= 4)
    assert.is_true(lost > 0) -- messages to the crashed node and across the cut
  end)

  it("keeps only the entities and the window asked for", function()
    local path = tmp(".json")
    flagship(path, { entities = { "n1", "n2" }, from = 2, to = 5 })
    local events = cjson.decode(slurp(path))
    os.remove(path)
    for _, e in ipairs(events) do
      if e.ph == "M" and e.name == "thread_name" then assert.is_true(e.args.name == "n1" or e.args.name == "n2") end
      if e.ph ~= "M" then
        assert.is_true(e.ts >= 2e6 and e.ts <= 5e6 + (e.dur or 0), "event at " .. tostring(e.ts))
      end
    end
  end)

  it("raises on bad arguments and an unwritable path", function()
    local sim = hs.Simulation{}
    assert.has_error(function() sim:record_trace("/nonexistent-dir/t.json") end,
      "record_trace: cannot open '/nonexistent-dir/t.json' for writing")
    assert.has_error(function() sim:record_trace(tmp(".json"), { sample = 1 }) end)
    assert.has_error(function() sim:record_trace(tmp(".json"), { entities = { "ghost" } }) end)
  end)
end)

describe("diagram", function()
  if not cjson_ok then
    pending("needs lua-cjson")
    return
  end
  local function model()
    local path = tmp(".json")
    flagship(path)
    local m = diagram.model(cjson.decode(slurp(path)))
    os.remove(path)
    return m
  end

  it("draws lifelines, one arrow per message in the window, crashes and partitions", function()
    local m = model()
    assert.same({ "n1", "n2", "n3", "n4", "n5" }, m.nodes)
    local svg = diagram.svg(m, { from = 3.5, to = 8.5 })
    assert.equal(5, select(2, svg:gsub('class="lifeline"', "")))
    local expected = 0
    for _, msg in ipairs(m.messages) do
      if not msg.lost and msg.sent and msg.received and msg.sent <= 8.5 and msg.received >= 3.5 then expected = expected + 1 end
    end
    assert.equal(expected, select(2, svg:gsub('class="msg"', "")))
    assert.is_true(select(2, svg:gsub('class="lost"', "")) > 0)
    assert.equal(1, select(2, svg:gsub('class="crash"', "")))
    assert.equal(1, select(2, svg:gsub('class="partition"', "")))
  end)

  it("says clearly when the window holds too many messages", function()
    assert.has_error(function() diagram.svg(model(), { max_messages = 10 }) end)
    local ok, err = pcall(diagram.svg, model(), { max_messages = 10 })
    assert.is_false(ok)
    assert.matches("more than 10 can be read; narrow the window with %-%-from and %-%-to", err)
  end)

  it("renders to a PNG that is not blank (rsvg-convert)", function()
    if os.execute("command -v rsvg-convert >/dev/null 2>&1") ~= true then
      pending("needs rsvg-convert (Debian librsvg2-bin; tools/deps.sh installs it)")
      return
    end
    local m = model()
    local function render(svg_text)
      local svg, png = tmp(".svg"), tmp(".png")
      local f = assert(io.open(svg, "w"))
      f:write(svg_text)
      f:close()
      assert.is_true(os.execute(("rsvg-convert -o %s %s"):format(png, svg)) == true)
      local bytes = slurp(png)
      os.remove(svg)
      os.remove(png)
      return bytes
    end
    local full = render(diagram.svg(m, { from = 3.5, to = 8.5 }))
    local blank = render(diagram.svg({ nodes = m.nodes, messages = {}, spans = {}, roles = {} }, { from = 3.5, to = 8.5 }))
    assert.equal("\137PNG", full:sub(1, 4))
    -- the same canvas with nothing drawn on it compresses to far fewer bytes
    assert.is_true(#full > 2 * #blank, ("diagram %d bytes, empty canvas %d bytes"):format(#full, #blank))
  end)

  it("writes a ShiViz log whose clocks follow the messages", function()
    local log = diagram.shiviz(model())
    local lines = {}
    for line in log:gmatch("[^\n]*") do lines[#lines + 1] = line end
    assert.equal([[(?<host>\S*) (?<clock>{.*})\n(?<event>.*)]], lines[1])
    local seen = {}
    local i = 3
    while lines[i] and lines[i] ~= "" do
      local host, clock = lines[i]:match("^(%S+) ({.*})$")
      assert.is_string(host, lines[i])
      local own = tonumber(clock:match('"' .. host .. '":(%d+)'))
      assert.is_true(own == (seen[host] or 0) + 1) -- each host's own entry counts its events
      seen[host] = own
      assert.matches("^%a+ ", lines[i + 1])
      i = i + 2
    end
    assert.is_true(i > 100)
  end)
end)

describe("happysim run --trace / --shiviz and happysim diagram", function()
  local HAPPYSIM = os.getenv("HAPPYSIM")
  if not (HAPPYSIM and HAPPYSIM ~= "" and cjson_ok) then
    pending("needs HAPPYSIM (ctest sets it) and lua-cjson")
    return
  end
  local function sh(cmd)
    local p = io.popen(cmd .. " 2>&1; echo \"exit=$?\"")
    local out = p:read("a")
    p:close()
    return tonumber(out:match("exit=(%d+)%s*$")), out
  end

  it("run --trace writes the flagship's trace and --shiviz its log; the run's output is unchanged", function()
    local trace, log = tmp(".json"), tmp(".shiviz")
    local code, out = sh(("%s run scripts/raft_lab.lua --seed 7 --trace %s --shiviz %s"):format(HAPPYSIM, trace, log))
    assert.equal(0, code, out)
    local _, plain = sh(("%s run scripts/raft_lab.lua --seed 7"):format(HAPPYSIM))
    assert.equal(plain, out)
    local events = cjson.decode(slurp(trace))
    assert.is_true(#events > 100)
    assert.matches("^%(%?<host>", slurp(log))
    os.remove(trace)
    os.remove(log)
  end)

  it("diagram draws a window of a script's run, refuses a crowded one, and needs -o", function()
    local svg = tmp(".svg")
    local code, out = sh(("%s diagram scripts/raft_partition.lua --from 0.25 --to 0.5 -o %s"):format(HAPPYSIM, svg))
    assert.equal(0, code, out)
    assert.matches('class="lifeline"', slurp(svg), 1, true)
    os.remove(svg)
    code, out = sh(("%s diagram scripts/raft_partition.lua --max-messages 5 -o %s"):format(HAPPYSIM, svg))
    assert.equal(1, code)
    assert.matches("narrow the window with %-%-from and %-%-to", out)
    code, out = sh(("%s diagram scripts/raft_partition.lua"):format(HAPPYSIM))
    assert.equal(2, code)
    assert.matches("diagram: missing option '%-o'", out)
  end)
end)
