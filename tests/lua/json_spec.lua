-- happysim.json: the JSON subset of `happysim check --json` and `--merge`.
local json = require("happysim.json")

describe("happysim.json", function()
  it("round-trips the values a sweep record holds", function()
    local v = { seed = 12, index = 3, verdict = "fail", wall_s = 0.125, cpu_s = 1 / 3, big = 2 ^ 60,
                failed = { { check = "linearizable", message = "not linearizable\n\t\"k1\" \\ \1 é" } },
                ok = false, yes = true, empty = {} }
    local text = json.encode(v)
    assert.not_matches("\n", text, 1, true)
    local back = assert(json.decode(text))
    assert.same(v, back)
    assert.equal("integer", math.type(back.seed))
    assert.equal(1 / 3, back.cpu_s) -- 17 digits read back exactly
  end)

  it("writes objects in sorted key order, or in the order given", function()
    assert.equal('{"a":1,"b":[1,2],"c":"x"}', json.encode({ c = "x", a = 1, b = { 1, 2 } }))
    assert.equal('{"c":"x","a":1}', json.encode({ c = "x", a = 1, z = nil }, { "c", "a", "z" }))
    assert.equal('{"n":null}', json.encode({ n = json.null }))
  end)

  it("reads JSON with escapes, surrogate pairs and null", function()
    local v = assert(json.decode(' { "s" : "a\\u00e9\\ud83d\\ude00\\n\\/" , "n": null, "l": [ 1, -2.5e3, true ] } '))
    assert.equal("aé😀\n/", v.s)
    assert.equal(json.null, v.n)
    assert.same({ 1, -2500.0, true }, v.l)
  end)

  it("refuses what it cannot represent, and says where a text is wrong", function()
    assert.has_error(function() json.encode({ f = print }) end, "json.encode: cannot encode a function")
    assert.has_error(function() json.encode(0 / 0) end)
    assert.has_error(function() json.encode({ [true] = 1 }) end, "json.encode: an object key must be a string, got boolean")
    for _, bad in ipairs{ "{", '{"a" 1}', "[1,]", '"abc', "tru", "1 2", '"\\x"' } do
      local v, err = json.decode(bad)
      assert.is_nil(v, bad)
      assert.matches("at character %d+", err)
    end
    assert.has_error(function() json.decode(5) end, "bad argument #1 to 'decode' (string expected, got number)")
  end)
end)
