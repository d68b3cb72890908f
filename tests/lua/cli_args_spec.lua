-- The command line, parsed in-process: cli.parse returns the options or raises a usage
-- error; it never prints or exits (argparse's own error and help handlers would).

local cli = require("happysim.cli")

-- The usage error cli.parse raises for argv (fails when it raises none).
local function refused(argv)
  local ok, e = pcall(cli.parse, argv)
  assert.is_false(ok, table.concat(argv, " "))
  assert.is_true(cli.is_usage_error(e), tostring(e))
  return e
end

describe("cli.parse", function()
  it("gives each command's options, with defaults and converted values", function()
    local o = cli.parse{ "run", "x.lua", "--seed", "-17", "a", "--until=2", "--", "--b", "-3" }
    assert.same({ "run", "x.lua", -17, 2.0, { "a", "--b", "-3" } }, { o.command, o.script, o.seed, o.end_time, o.args })
    o = cli.parse{ "check", "x.lua", "--seeds", "3..5,9", "--shard", "2/3", "--jobs=2" }
    assert.same({ 3, 4, 5, 9 }, { table.unpack(o.seeds) })
    assert.same({ "3..5,9", { 2, 3 }, 2, 1 }, { o.seeds_spec, o.shard, o.jobs, o.seed })
    o = cli.parse{ "check", "--merge", "a.jsonl", "b.jsonl" }
    assert.same({ true, { "a.jsonl", "b.jsonl" } }, { o.merge, o.files })
    o = cli.parse{ "diagram", "x.lua", "-o", "x.svg", "--from", "1" }
    assert.same({ "x.svg", 1.0, 600 }, { o.output, o.from, o.max_messages })
  end)

  it("returns the help and the version as text to show", function()
    assert.matches("^Usage: happysim run %[%-h%]", cli.parse{ "run", "--help" }.show)
    assert.equal(cli.parse{ "run", "-h" }.show, cli.parse{ "help", "run" }.show)
    assert.matches("^Usage: happysim COMMAND", cli.parse{ "help" }.show)
    assert.matches("Lua 5.4", cli.parse{ "--version" }.show, 1, true)
  end)

  it("raises usage errors that name the command and carry its usage", function()
    local e = refused{ "run", "x.lua", "--seed", "1.5" }
    assert.equal("run: --seed: an integer is required, got '1.5'", e.message)
    assert.matches("^Usage: happysim run ", e.usage)
    assert.equal("happysim run", e.hint)
    e = refused{ "check", "x.lua", "--determinism", "--json", "x.jsonl" }
    assert.equal("check: option '--json' can not be used together with option '--determinism'", e.message)
    e = refused{ "--frobnicate" }
    assert.equal("unknown option '--frobnicate'", e.message)
    assert.equal("happysim", e.hint)
    assert.equal("diagram: --to must be after --from", refused{ "diagram", "x.lua", "-o", "x.svg", "--from", "2",
                                                                "--to", "1" }.message)
  end)
end)
