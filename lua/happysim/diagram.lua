--- Space-time diagrams and ShiViz logs, drawn from a run's Chrome trace (sim:record_trace).
--
--   local model = diagram.model(events)        -- events: the decoded trace (a JSON array)
--   local svg = diagram.svg(model, { from = 0, to = 5, max_messages = 600 })
--   local log = diagram.shiviz(model)          -- the vector-clock log ShiViz reads
--
-- The SVG has one lifeline per node (time runs down), an arrow per message labelled with its
-- type, lost messages dashed and ending in a cross, crashes (red) and pauses (orange) as bars
-- on the lifelines, roles as coloured segments, partitions as grey bands, and a time axis.

local M = {}

-- Microseconds (the trace's unit) to seconds.
local function seconds(us) return (tonumber(us) or 0) / 1e6 end

--- model(events) -> { nodes = { name... }, messages = {...}, spans = {...}, roles = {...} }
function M.model(events)
  if type(events) ~= "table" then error("bad argument #1 to 'model' (the decoded trace, a list of events, expected)", 2) end
  local names, sends, messages, spans, roles, open = {}, {}, {}, {}, {}, {}
  for _, e in ipairs(events) do
    if e.ph == "M" and e.name == "thread_name" then names[e.tid] = e.args and e.args.name end
  end
  local order = {}
  for tid in pairs(names) do order[#order + 1] = tid end
  table.sort(order)
  local nodes = {}
  for i, tid in ipairs(order) do nodes[i] = names[tid] end
  for _, e in ipairs(events) do
    local a = e.args or {}
    if e.ph == "X" and e.cat == "net" and a.id then
      if e.name:find("^send ") then
        local m = { id = a.id, type = a.type, src = names[e.tid], dst = a.peer, sent = seconds(e.ts) }
        sends[a.id] = m
        messages[#messages + 1] = m
      else
        local m = sends[a.id] or { id = a.id, type = a.type, src = a.peer, dst = names[e.tid] }
        if not sends[a.id] then messages[#messages + 1] = m end -- sent before the trace's window
        if a.lost then
          m.lost, m.lost_at, m.lost_on = a.lost, seconds(e.ts), names[e.tid]
        else
          m.received, m.dst = seconds(e.ts), names[e.tid]
        end
      end
    elseif e.ph == "X" and e.cat == "role" then
      roles[#roles + 1] = { node = names[e.tid], role = e.name, from = seconds(e.ts), to = seconds(e.ts + (e.dur or 0)) }
    elseif e.ph == "b" then
      open[e.id] = { cat = e.cat, name = e.name, from = seconds(e.ts) }
    elseif e.ph == "e" and open[e.id] then
      local s = open[e.id]
      open[e.id] = nil
      s.to = seconds(e.ts)
      s.kind, s.node = s.name:match("^(%a+) (.+)$")
      spans[#spans + 1] = s
    end
  end
  table.sort(messages, function(x, y)
    local tx, ty = x.sent or x.received or x.lost_at or 0, y.sent or y.received or y.lost_at or 0
    if tx ~= ty then return tx < ty end
    return x.id < y.id
  end)
  return { nodes = nodes, messages = messages, spans = spans, roles = roles }
end

local function esc(s)
  return (tostring(s):gsub("[&<>\"]", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;" }))
end

local ROLE_COLOURS = { leader = "#d4a017", candidate = "#6a5acd", pre_candidate = "#9fa8da", follower = "#90caf9" }

--- svg(model [, { from =, to =, max_messages = 600, width = }]) -> the SVG text. Raises when the
-- window holds more messages than max_messages (a diagram that dense cannot be read).
function M.svg(model, opts)
  opts = opts or {}
  local from, to = opts.from, opts.to
  local lo, hi = math.huge, -math.huge
  for _, m in ipairs(model.messages) do
    for _, t in ipairs{ m.sent or math.huge, m.received or m.lost_at or -math.huge } do
      if t < lo then lo = t end
      if t > hi and t ~= -math.huge then hi = t end
    end
  end
  for _, s in ipairs(model.spans) do lo, hi = math.min(lo, s.from), math.max(hi, s.to) end
  from = from or (lo < math.huge and lo or 0)
  to = to or (hi > -math.huge and hi or from + 1)
  if not (to > from) then error(("diagram: the window [%g, %g] is empty"):format(from, to), 2) end
  local shown = {}
  for _, m in ipairs(model.messages) do
    local t0, t1 = m.sent or from, m.received or m.lost_at or m.sent
    if t0 <= to and t1 >= from then shown[#shown + 1] = m end
  end
  local max = opts.max_messages or 600
  if #shown > max then
    error(("diagram: %d messages between %g s and %g s, more than %d can be read; narrow the window with --from and --to")
      :format(#shown, from, to, max), 2)
  end
  local col = {}
  for i, n in ipairs(model.nodes) do col[n] = i end
  local n = math.max(#model.nodes, 1)
  local left, top, bottom = 90, 50, 30
  local colw = math.max(110, math.floor(((opts.width or 900) - left) / n))
  local width = left + colw * n
  local height = math.max(500, math.min(8000, 18 * #shown + 200))
  local function x(node) return left + ((col[node] or 1) - 0.5) * colw end
  local function y(t) return top + (math.max(from, math.min(to, t)) - from) / (to - from) * (height - top - bottom) end
  local out = {}
  local function w(...) out[#out + 1] = table.concat({ ... }) end
  w('<svg xmlns="http://www.w3.org/2000/svg" width="', width, '" height="', height, '" viewBox="0 0 ', width, " ", height,
    '" font-family="sans-serif">')
  w('<defs><marker id="arrow" markerWidth="8" markerHeight="8" refX="7" refY="4" orient="auto">',
    '<path d="M0,0 L8,4 L0,8 z" fill="#333"/></marker></defs>')
  w('<rect width="100%" height="100%" fill="white"/>')
  -- partitions: grey bands across everything
  for _, s in ipairs(model.spans) do
    if s.kind == "partition" and s.to >= from and s.from <= to then
      w('<rect class="partition" x="0" y="', y(s.from), '" width="', width, '" height="', math.max(1, y(s.to) - y(s.from)),
        '" fill="#000" fill-opacity="0.07"/>')
      w('<text x="4" y="', y(s.from) + 12, '" font-size="10" fill="#555">', esc(s.name), "</text>")
    end
  end
  -- time axis
  w('<line x1="', left - 20, '" y1="', top, '" x2="', left - 20, '" y2="', height - bottom, '" stroke="#999"/>')
  for i = 0, 10 do
    local t = from + (to - from) * i / 10
    w('<text class="tick" x="2" y="', y(t) + 3, '" font-size="10" fill="#555">', ("%.4g s"):format(t), "</text>")
    w('<line x1="', left - 24, '" y1="', y(t), '" x2="', left - 16, '" y2="', y(t), '" stroke="#999"/>')
  end
  -- lifelines, roles, crashes and pauses
  for _, node in ipairs(model.nodes) do
    w('<text class="node" x="', x(node), '" y="', top - 18, '" font-size="13" text-anchor="middle">', esc(node), "</text>")
    w('<line class="lifeline" x1="', x(node), '" y1="', top, '" x2="', x(node), '" y2="', height - bottom,
      '" stroke="#bbb" stroke-width="1"/>')
  end
  for _, r in ipairs(model.roles) do
    if r.to >= from and r.from <= to and col[r.node] then
      w('<rect class="role" x="', x(r.node) - 3, '" y="', y(r.from), '" width="6" height="', math.max(1, y(r.to) - y(r.from)),
        '" fill="', ROLE_COLOURS[r.role] or "#ccc", '"><title>', esc(r.role), "</title></rect>")
    end
  end
  for _, s in ipairs(model.spans) do
    if (s.kind == "crash" or s.kind == "pause") and col[s.node] and s.to >= from and s.from <= to then
      w('<rect class="', s.kind, '" x="', x(s.node) - 9, '" y="', y(s.from), '" width="18" height="', math.max(2, y(s.to) - y(s.from)),
        '" fill="', s.kind == "crash" and "#e53935" or "#fb8c00", '" fill-opacity="0.55"><title>', esc(s.name), "</title></rect>")
    end
  end
  -- messages; a label is left out where it would overlap the one before it at the same place
  -- (the arrow keeps its type as a tooltip)
  local last_label = {}
  local function label(xm, ym, text, colour)
    local key = math.floor(xm / 40)
    if last_label[key] and math.abs(last_label[key] - ym) < 11 then return end
    last_label[key] = ym
    w('<text x="', xm, '" y="', ym, '" font-size="9" fill="', colour, '" text-anchor="middle">', text, "</text>")
  end
  for _, m in ipairs(shown) do
    if col[m.src] and (col[m.dst] or m.lost) then
      local x1, y1 = x(m.src), y(m.sent or from)
      if m.lost then
        local x2 = col[m.dst] and x(m.dst) or x1 + colw / 2
        local y2 = y(m.lost_at or m.sent)
        local xm, ym = (x1 + x2) / 2, math.max(y1, y2) + 6
        w('<line class="lost" x1="', x1, '" y1="', y1, '" x2="', xm, '" y2="', ym, '" stroke="#e53935" stroke-dasharray="4,3">',
          "<title>", esc(m.type), " lost (", esc(m.lost), ")</title></line>")
        w('<text x="', xm, '" y="', ym + 4, '" font-size="12" fill="#e53935" text-anchor="middle">&#215;</text>')
        label(xm + 30, ym - 2, esc(m.type) .. " (" .. esc(m.lost) .. ")", "#e53935")
      else
        local x2, y2 = x(m.dst), y(m.received or to)
        w('<line class="msg" x1="', x1, '" y1="', y1, '" x2="', x2, '" y2="', y2, '" stroke="#333" marker-end="url(#arrow)">',
          "<title>", esc(m.type), " ", esc(m.src), " -> ", esc(m.dst), "</title></line>")
        label((x1 + x2) / 2, (y1 + y2) / 2 - 2, esc(m.type), "#333")
      end
    end
  end
  w("</svg>")
  return table.concat(out, "\n") .. "\n"
end

--- shiviz(model) -> a log ShiViz reads: its parser regex, a blank line, then per event the host
-- with its vector clock and a description. Clocks follow the messages: a send ticks the sender,
-- a receipt merges the sender's clock at the send and ticks the receiver.
function M.shiviz(model)
  local steps = {}
  for _, m in ipairs(model.messages) do
    if m.sent and m.src then steps[#steps + 1] = { t = m.sent, kind = 0, m = m } end
    if m.received and m.dst then steps[#steps + 1] = { t = m.received, kind = 1, m = m } end
  end
  table.sort(steps, function(a, b)
    if a.t ~= b.t then return a.t < b.t end
    if a.kind ~= b.kind then return a.kind < b.kind end
    return a.m.id < b.m.id
  end)
  local clocks, at_send = {}, {}
  local function clock_of(node)
    clocks[node] = clocks[node] or {}
    return clocks[node]
  end
  local function json(vc)
    local keys = {}
    for k in pairs(vc) do keys[#keys + 1] = k end
    table.sort(keys)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = ('"%s":%d'):format(k:gsub('[\\"]', "\\%0"), vc[k]) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  local out = { [[(?<host>\S*) (?<clock>{.*})\n(?<event>.*)]], "" }
  for _, s in ipairs(steps) do
    local m = s.m
    local node = s.kind == 0 and m.src or m.dst
    local vc = clock_of(node)
    if s.kind == 1 and at_send[m] then
      for k, v in pairs(at_send[m]) do if (vc[k] or 0) < v then vc[k] = v end end
    end
    vc[node] = (vc[node] or 0) + 1
    if s.kind == 0 then
      local copy = {}
      for k, v in pairs(vc) do copy[k] = v end
      at_send[m] = copy
    end
    out[#out + 1] = node:gsub("%s", "_") .. " " .. json(vc)
    out[#out + 1] = ("%s %s %s at %.9f s"):format(s.kind == 0 and "send" or "recv", m.type or "?",
      s.kind == 0 and ("to " .. tostring(m.dst)) or ("from " .. tostring(m.src)), s.t)
  end
  return table.concat(out, "\n") .. "\n"
end

return M
