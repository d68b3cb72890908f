-- multileader_lua_resolver.lua: three hs.LeaderNode replicas of shopping carts, written to
-- concurrently on both sides of a partition, with a conflict resolver written in Lua (called
-- by the C core through the door): concurrent carts merge to the union of their items, so no
-- add is lost (LastWriterWins would keep one side's cart). Anti-entropy (every 0.5 s) repairs
-- what the partition hid.
--
--   happysim run scripts/multileader_lua_resolver.lua --seed 1

local ctx = ...
local hs = ctx.hs

local calls = 0
local union = hs.CustomResolver{ resolve_fn = function(_, versions)
  calls = calls + 1
  local set, items = {}, {}
  for _, v in ipairs(versions) do
    for _, item in ipairs(v.value or {}) do
      if not set[item] then set[item] = true; items[#items + 1] = item end
    end
  end
  table.sort(items) -- deterministic whatever the order of the versions
  return { value = items }
end }

local function run(resolver)
  local net = hs.Network{ name = "net", default_link = hs.datacenter_network() }
  local names = { "eu", "us", "ap" }
  local nodes = {}
  for i, n in ipairs(names) do
    nodes[i] = hs.LeaderNode{ name = n, network = net, peers = names, resolver = resolver, anti_entropy_interval = 0.5 }
  end
  local sim = hs.Simulation{ seed = ctx.seed, entities = { net, table.unpack(nodes) } }
  local eu, us, ap = nodes[1], nodes[2], nodes[3]
  sim:spawn(function()
    hs.await(eu:write("cart:ann", { "book" }))
    hs.sleep(0.1)
    local p = net:partition({ eu }, { us, ap })
    -- both sides add to the cart they see
    local function add(node, item)
      local cart = hs.await(node:read("cart:ann")) or {}
      local copy = { table.unpack(cart) }
      copy[#copy + 1] = item
      hs.await(node:write("cart:ann", copy))
    end
    add(eu, "lamp")
    add(us, "pen")
    add(ap, "mug")
    hs.sleep(1)
    p:heal()
    hs.sleep(2)
  end)
  sim:run_until(5)
  local carts = {}
  for i, n in ipairs(nodes) do
    local v = n.data["cart:ann"]
    carts[i] = table.concat(v or {}, ", ")
  end
  local s = { conflicts = 0, resolved = 0, repaired = 0 }
  for _, n in ipairs(nodes) do
    s.conflicts = s.conflicts + n.stats.conflicts_detected
    s.resolved = s.resolved + n.stats.conflicts_resolved
    s.repaired = s.repaired + n.stats.anti_entropy_keys_repaired
  end
  return carts, s, nodes
end

print("cart:ann after a partition: eu added lamp, us added pen, ap added mug, then heal + anti-entropy")
print(("%-26s %-30s %-30s %-30s %9s %9s"):format("resolver", "eu", "us", "ap", "conflicts", "repaired"))
for _, r in ipairs{ { "union (Lua CustomResolver)", union }, { "LastWriterWins (C)", hs.LastWriterWins() } } do
  local carts, s, nodes = run(r[2])
  print(("%-26s %-30s %-30s %-30s %9d %9d"):format(r[1], carts[1], carts[2], carts[3], s.conflicts, s.repaired))
  if r[2] == union then
    print(("  the Lua resolver was called %d times; replicas agree: %s (root hashes %s)"):format(calls,
      tostring(nodes[1].root_hash == nodes[2].root_hash and nodes[2].root_hash == nodes[3].root_hash), nodes[1].root_hash))
  end
end
