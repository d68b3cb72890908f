-- Exploring a run: hs.inspect (what the REPL prints), completion, entities by name,
-- breakpoints, and the REPL itself driven in a real terminal (tmux) with line editing.

local hs = require("happysim")
local repl = require("happysim.repl")

-- A 3-node Raft cluster, built world first, not yet run.
local function cluster(seed)
  local net = hs.Network{ name = "net", default_link = hs.datacenter_network() }
  local names = { "n1", "n2", "n3" }
  local nodes = {}
  for i, n in ipairs(names) do
    nodes[i] = hs.RaftNode{ name = n, network = net, peers = names }
    nodes[i]:start()
  end
  return hs.Simulation{ seed = seed or 1, entities = { net, nodes[1], nodes[2], nodes[3] } }, nodes
end

describe("hs.inspect", function()
  it("prints nested tables with sorted keys, the array part first", function()
    assert.equal('{ 3, 2, 1, a = { b = 1 }, z = "x" }', hs.inspect{ 3, 2, 1, z = "x", a = { b = 1 } })
    assert.equal('{ [1.5] = true, [false] = 0 }', hs.inspect{ [false] = 0, [1.5] = true })
    assert.equal('{ ["end"] = 1, ["two words"] = 2 }', hs.inspect{ ["two words"] = 2, ["end"] = 1 })
  end)

  it("is bounded: depth, items per table, long strings; cycles do not loop", function()
    assert.equal("{ a = { b = {...} } }", hs.inspect({ a = { b = { c = 1 } } }, { depth = 2 }))
    local big = {}
    for i = 1, 100 do big[i] = i end
    assert.matches("...(90 more)", hs.inspect(big, { items = 10 }), 1, true)
    local s = hs.inspect(string.rep("x", 1000))
    assert.is_true(#s < 260)
    assert.matches("(1000 bytes)", s, 1, true)
    local t = {}
    t.me = t
    assert.equal("{ me = <cycle> }", hs.inspect(t))
  end)

  it("prints happysim objects as they name themselves, and a node's stats readably", function()
    local sim, nodes = cluster()
    sim:run_until(5)
    assert.equal("RaftNode 'n1'", hs.inspect(nodes[1]))
    local stats = hs.inspect(nodes[1].stats)
    assert.matches("current_term = %d+", stats)
    assert.matches("state = \"%a+\"", stats)
    assert.not_matches("table: 0x", stats)
    assert.equal("{ n1 = RaftNode 'n1', n2 = RaftNode 'n2', n3 = RaftNode 'n3' }", hs.inspect(sim.entities))
  end)

  it("raises on bad options", function()
    assert.has_error(function() hs.inspect(1, { depth = 0 }) end,
      "bad argument #2 to 'inspect' (field 'depth' must be a positive integer, got 0)")
  end)
end)

describe("entities by name", function()
  it("sim.entities and sim:entity(name) reach what scripts keep in locals", function()
    local sim, nodes = cluster()
    assert.equal(nodes[2], sim:entity("n2"))
    assert.is_nil(sim:entity("nobody"))
    local all = sim.entities
    all.n1 = nil -- a fresh table each time
    assert.equal(nodes[1], sim.entities.n1)
  end)
end)

describe("breakpoints", function()
  it("sim:peek names the next event without taking it", function()
    local sim = cluster()
    local t, ty, target = sim:peek()
    assert.is_number(t)
    assert.equal("ElectionTimeout", ty)
    assert.is_string(target)
    assert.equal(0, sim.events_processed)
  end)

  it("sim:continue stops before each event a breakpoint matches, and runs to the end without one", function()
    local sim = cluster(2)
    local bp = sim:break_on{ type = "RequestVote" }
    local t1, ty1 = sim:continue()
    assert.equal("RequestVote", ty1)
    assert.equal(t1, (sim:peek())) -- stopped before it
    local t2, ty2 = sim:continue()
    assert.equal("RequestVote", ty2)
    assert.is_true(t2 >= t1)
    assert.is_true(bp:remove())
    assert.same({}, sim:breakpoints())
    local by_target = sim:break_on{ target = "n3", after = 3 }
    local t3, _, target = sim:continue()
    assert.is_true(t3 >= 3)
    assert.equal("n3", target)
    by_target:remove()
    sim:break_on{ where = function(time) return time > 4 end }
    assert.is_true(sim:continue() > 4)
  end)

  it("sim:run_until(cond) steps until the condition holds", function()
    local sim, nodes = cluster(3)
    local function leader() for _, n in ipairs(nodes) do if n.is_leader then return n end end end
    assert.is_true(sim:run_until(function() return leader() ~= nil end))
    assert.is_not_nil(leader())
    local done = hs.Simulation{}
    assert.is_false(done:run_until(function() return false end)) -- nothing to run
    assert.has_error(function() sim:run_until(-1) end)
    assert.has_error(function() sim:break_on{ type = 5 } end,
      "bad argument #1 to 'break_on' (field 'type' must be a string, got number)")
  end)
end)

describe("completion", function()
  it("completes globals, hs. members, object fields and methods", function()
    local sim, nodes = cluster()
    local env = setmetatable({ sim = sim, node = nodes[1] }, { __index = _G })
    env.hs = hs
    local c = repl.completions(env, "hs.sle")
    assert.same({ "hs.sleep" }, c)
    assert.is_true(#repl.completions(env, "hs.faults.") >= 6)
    local m = repl.completions(env, "sim:run")
    assert.same({ "sim:run", "sim:run_until" }, m)
    assert.same({ "node.current_leader", "node.current_term" }, repl.completions(env, "node.current_"))
    assert.same({ "node:submit" }, repl.completions(env, "node:subm"))
    assert.same({}, repl.completions(env, "nothing.here"))
    local g = repl.completions(env, "si")
    assert.is_true(#g >= 1 and g[1] == "sim")
  end)
end)

-- The REPL in a terminal: tmux runs it, send-keys types, capture-pane reads the screen.
local HAPPYSIM = os.getenv("HAPPYSIM")
local function have(cmd) return os.execute("command -v " .. cmd .. " >/dev/null 2>&1") == true end
local readline_ok = pcall(require, "readline")

describe("happysim repl in a terminal", function()
  if not (HAPPYSIM and HAPPYSIM ~= "" and have("tmux") and readline_ok) then
    pending("needs HAPPYSIM (ctest sets it), tmux and lua-readline (tools/deps.sh installs both)")
    return
  end
  local session = "hs_repl_" .. tostring(os.time()) .. "_" .. tostring(math.random(1e6))
  local home = os.tmpname()
  os.remove(home)
  os.execute("mkdir -p " .. home)

  local function tmux(args) return os.execute("tmux " .. args .. " >/dev/null 2>&1") end
  local function screen()
    local p = io.popen("tmux capture-pane -p -t " .. session)
    local out = p:read("a")
    p:close()
    return out
  end
  -- Waits (at most ~5 s of wall time, polling) until the screen shows `text` `times` times.
  local function wait_for(text, times)
    local s
    for _ = 1, 100 do
      s = screen()
      local n = select(2, s:gsub(text:gsub("%p", "%%%0"), ""))
      if n >= (times or 1) then return s end
      os.execute("sleep 0.05")
    end
    return s
  end

  teardown(function()
    tmux("kill-session -t " .. session)
    os.execute("rm -rf " .. home)
  end)

  it("edits lines, completes names with Tab, recalls history and prints results readably", function()
    assert.is_true(tmux(("new-session -d -s %s -x 120 -y 30 'HOME=%s %s repl scripts/hello.lua'"):format(session, home, HAPPYSIM)))
    assert.matches("Ctrl-D to quit", wait_for("Ctrl-D to quit"), 1, true)
    tmux("send-keys -t " .. session .. " 'x = hs.sle' Tab") -- completes to hs.sleep
    assert.matches("x = hs.sleep", wait_for("x = hs.sleep"), 1, true)
    tmux("send-keys -t " .. session .. " Enter")
    tmux("send-keys -t " .. session .. " 'x == hs.sleep' Enter")
    assert.matches("true", wait_for("true"), 1, true)
    tmux("send-keys -t " .. session .. " '{ b = 2, a = { 1 } }' Enter")
    assert.matches("{ a = { 1 }, b = 2 }", wait_for("{ a = { 1 }, b = 2 }"), 1, true)
    tmux("send-keys -t " .. session .. " '40 + 1' Home Right DC 2 Enter") -- edit in place: 42 + 1
    assert.matches("\n43", wait_for("\n43"), 1, true)
    tmux("send-keys -t " .. session .. " Up Up Enter") -- history: { b = 2, a = { 1 } } again
    local s = wait_for("{ a = { 1 }, b = 2 }", 2)
    assert.equal(2, select(2, s:gsub("{ a = { 1 }, b = 2 }", "")))
    tmux("send-keys -t " .. session .. " C-d")
  end)
end)
