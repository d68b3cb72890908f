local hs = require("happysim")

describe("hs.KVStateMachine", function()
  it("implements set, get, delete and cas as in the seed", function()
    local kv = hs.KVStateMachine()
    assert.equal(1, kv:apply{ op = "set", key = "x", value = 1 })
    assert.equal(1, kv:apply{ op = "get", key = "x" })
    assert.is_nil(kv:apply{ op = "get", key = "nope" })
    assert.is_true(kv:apply{ op = "cas", key = "x", expected = 1, value = 2 })
    assert.is_false(kv:apply{ op = "cas", key = "x", expected = 1, value = 3 })
    assert.equal(2, kv:apply{ op = "get", key = "x" })
    assert.is_true(kv:apply{ op = "cas", key = "new", value = "v" }) -- expected nil: absent
    assert.is_false(kv:apply{ op = "cas", key = "new", value = "w" })
    assert.equal("v", kv:apply{ op = "delete", key = "new" })
    assert.is_nil(kv:apply{ op = "delete", key = "new" })
    assert.same({ x = 2 }, kv.data)
    assert.equal(1, kv.size)
  end)

  it("stores table values by value", function()
    local kv = hs.KVStateMachine()
    local v = { list = { 1, 2 }, name = "n" }
    kv:apply{ op = "set", key = "t", value = v }
    v.name = "changed"
    assert.same({ list = { 1, 2 }, name = "n" }, kv:apply{ op = "get", key = "t" })
    assert.is_true(kv:apply{ op = "cas", key = "t", expected = { list = { 1, 2 }, name = "n" }, value = 0 })
  end)

  it("compares table values by content, whatever order their keys were inserted in", function()
    local kv = hs.KVStateMachine()
    local stored, expected = {}, {}
    local keys = {}
    for i = 1, 40 do keys[i] = "f" .. i end
    for i = 1, 40 do stored[keys[i]] = i end
    for i = 40, 1, -1 do expected[keys[i]] = i end
    expected.extra = true
    expected.extra = nil -- a different history of the table's hash part
    kv:apply{ op = "set", key = "t", value = stored }
    assert.is_true(kv:apply{ op = "cas", key = "t", expected = expected, value = "swapped" })
  end)

  it("snapshots and restores, equal states giving equal snapshots", function()
    local a, b = hs.KVStateMachine(), hs.KVStateMachine()
    for i = 1, 200 do a:apply{ op = "set", key = "k" .. i, value = i } end
    for i = 200, 1, -1 do b:apply{ op = "set", key = "k" .. i, value = i } end
    for i = 1, 200, 2 do a:apply{ op = "delete", key = "k" .. i }; b:apply{ op = "delete", key = "k" .. i } end
    assert.equal(hs.core.encode(a:snapshot()) == hs.core.encode(b:snapshot()), true)
    local c = hs.KVStateMachine()
    c:restore(a:snapshot())
    assert.same(a.data, c.data)
    assert.equal(100, c.size)
  end)

  it("rejects malformed commands without changing state", function()
    local kv = hs.KVStateMachine()
    kv:apply{ op = "set", key = "x", value = 1 }
    assert.has_error(function() kv:apply{ op = "bogus", key = "x" } end, "apply: unknown op (expected set, get, delete or cas)")
    assert.has_error(function() kv:apply{ key = "x" } end)
    assert.has_error(function() kv:apply{ op = "set", key = 5, value = 1 } end)
    assert.has_error(function() kv:apply{ op = "set", key = "x" } end)
    assert.has_error(function() kv:apply("set") end)
    assert.has_error(function() kv:apply{ op = "set", key = "f", value = print } end)
    assert.has_error(function() kv:restore{ [1] = "x" } end)
    assert.same({ x = 1 }, kv.data)
  end)
end)
