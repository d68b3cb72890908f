-- hs.scenario (declaration, run_seed), and the knobs the scenarios in scripts/ use:
-- RaftNode's test-only unsafe_local_reads and hs.workload.kv's read_any.
-- The CLI that runs scenarios over seeds is tested in check_cli_spec.lua.
local hs = require("happysim")
local scenario = require("happysim.scenario")

describe("hs.scenario", function()
  it("normalizes listed and named checks, listed first, named in name order", function()
    local f = function() return true end
    local s = hs.scenario{ name = "s", run = function() return {} end,
                           checks = { { "b", f }, { name = "a", check = f }, zeta = f, alpha = f } }
    assert.is_true(scenario.is_scenario(s))
    local names = {}
    for i, c in ipairs(s.checks) do names[i] = c.name end
    assert.same({ "b", "a", "alpha", "zeta" }, names)
    assert.matches("happysim.Scenario(s, 4 checks)", tostring(s), 1, true)
  end)

  it("rejects bad declarations", function()
    local run = function() end
    local cases = {
      { nil, "table expected" },
      { { run = run }, "field 'name' must be a non-empty string" },
      { { name = "x" }, "field 'run' must be a function" },
      { { name = "x", run = run, bogus = 1 }, "unknown field 'bogus'" },
      { { name = "x", run = run, checks = { 5 } }, "item 1 must be { name, fn }" },
      { { name = "x", run = run, checks = { { "c" } } }, "item 1 ('c') needs a function" },
      { { name = "x", run = run, checks = { { "c", run }, c = run } }, "names 'c' twice" },
      { { name = "x", run = run, report = 3 }, "field 'report' must be a function" },
    }
    for _, case in ipairs(cases) do
      local ok, err = pcall(hs.scenario, case[1])
      assert.is_false(ok)
      assert.matches(case[2], err, 1, true)
    end
  end)

  it("run_seed passes the context to run and the result to each check", function()
    local seen
    local s = hs.scenario{
      name = "s",
      run = function(ctx) seen = ctx return { value = ctx.seed * 10 } end,
      checks = {
        { "big", function(r) return r.value > 50, ("value %d"):format(r.value) end },
        { "truthy", function(r) return r.value end },
        { "nil", function() end },
        { "raises", function() error("oops", 0) end },
      },
    }
    local ctx = { seed = 7 }
    local out = s:run_seed(ctx)
    assert.equal(ctx, seen)
    assert.is_false(out.ok)
    assert.same({ value = 70 }, out.result)
    assert.same({ name = "big", ok = true, message = "value 70" }, out.verdicts[1])
    assert.same({ name = "truthy", ok = true }, out.verdicts[2])
    assert.same({ name = "nil", ok = false, message = "the check returned nil" }, out.verdicts[3])
    assert.equal("raises", out.verdicts[4].name)
    assert.matches("^the check raised an error: oops", out.verdicts[4].message)
    assert.equal(2, #out.failures)
  end)

  it("run_seed fails with the check 'run' when run raises, and calls no check", function()
    local called = false
    local s = hs.scenario{ name = "s", run = function() error("broken", 0) end,
                           checks = { { "c", function() called = true return true end } } }
    local out = s:run_seed({ seed = 1 }, function(e) return "handled: " .. e end)
    assert.is_false(out.ok)
    assert.is_false(called)
    assert.same({ { name = "run", ok = false, message = "handled: broken" } }, out.verdicts)
  end)
end)

describe("RaftNode unsafe_local_reads (test-only)", function()
  local FAST = { election_timeout_min = 0.15, election_timeout_max = 0.3, heartbeat_interval = 0.05 }

  local function cluster(unsafe)
    local sim = hs.Simulation{ seed = 3 }
    local net = hs.Network{ sim = sim, name = "raft", default_link = hs.datacenter_network() }
    local names, nodes = { "n1", "n2", "n3" }, {}
    for i, name in ipairs(names) do
      local o = { name = name, network = net, peers = names, unsafe_local_reads = unsafe }
      for k, v in pairs(FAST) do o[k] = v end
      nodes[i] = hs.RaftNode(o)
    end
    for _, n in ipairs(nodes) do n:start() end
    return sim, net, nodes
  end

  -- Elects a leader, commits x = 1 everywhere, cuts off a follower, commits x = 2 on the
  -- majority, and returns the cut-off follower's answer to read{ x }.
  local function stale_read(unsafe)
    local sim, net, nodes = cluster(unsafe)
    local answer
    sim:spawn(function()
      local leader
      repeat
        hs.sleep(0.01)
        for _, n in ipairs(nodes) do if n.is_leader then leader = n end end
      until leader
      hs.await(leader:submit{ op = "set", key = "x", value = 1 })
      hs.sleep(0.2)
      local follower
      for _, n in ipairs(nodes) do if n ~= leader and not follower then follower = n end end
      local rest = {}
      for _, n in ipairs(nodes) do if n ~= follower then rest[#rest + 1] = n end end
      net:partition({ follower }, rest)
      hs.await(leader:submit{ op = "set", key = "x", value = 2 })
      answer = table.pack(hs.await(follower:read{ op = "get", key = "x" }))
      sim:stop()
    end)
    sim:run_until(20)
    return answer
  end

  it("answers a read at once from the local state machine, even a stale one", function()
    local answer = stale_read(true)
    assert.is_not_nil(answer)
    assert.equal(1, answer[2]) -- x = 2 was committed, but this node never heard of it
    assert.is_true(math.type(answer[1]) == "integer" and answer[1] >= 2)
  end)

  it("is off by default: a follower does not serve reads", function()
    local answer = stale_read(nil)
    assert.is_not_nil(answer)
    assert.is_nil(answer[1])
    assert.equal("not_leader", answer[2].code)
  end)

  it("must be a boolean", function()
    local sim = hs.Simulation{ seed = 1 }
    local net = hs.Network{ sim = sim }
    local ok, err = pcall(hs.RaftNode, { name = "n1", network = net, unsafe_local_reads = "yes" })
    assert.is_false(ok)
    assert.matches("unsafe_local_reads", err, 1, true)
  end)
end)

describe("hs.workload.kv read_any", function()
  it("must be a boolean", function()
    local sim = hs.Simulation{ seed = 1 }
    local net = hs.Network{ sim = sim }
    local ok, err = pcall(hs.workload.kv, { cluster = { "n1" }, network = net, read_any = 1 })
    assert.is_false(ok)
    assert.matches("field 'read_any' must be a boolean", err, 1, true)
  end)
end)
