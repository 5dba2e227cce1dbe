-- wrk script of the A/B benchmark (bench/ab.mjs). Counts every answer by status and checks
-- that each is the one the case expects, so that the figures measure what they claim.
--
--   wrk -t2 -c20 -d5s -s load.lua URL -- PATH STATUS HEADER FILE MODE THREADS METHOD BODY
--
-- PATH: the request path. STATUS: the expected status. HEADER: a response header the
-- expected answer must carry ("-": none). FILE: a file of PAYMENT-SIGNATURE values, one a
-- line ("-": no payment); thread k of THREADS sends lines k, k+THREADS, ... MODE "once":
-- each line is sent once, and a thread that has sent all of its lines stops (sets
-- `exhausted`; its later requests carry no payment and count as unexpected); "cycle":
-- a thread starts again from its first line (and shares all of them when the file has fewer
-- lines than threads). METHOD: the request method; BODY: a form body to send ("-": none).
-- done() prints one line `AB-RESULT {json}`.

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

-- per-thread state (globals of the thread's Lua state, read by done() through thread:get)
ok = 0
unexpected = 0
exhausted = 0
statuses = ""
local by_status = {}
local path, expect, need, cycle, method, body
local form = {}
local payments = {}
local paying = false
local idx = 0

function init(args)
  path = args[1]
  expect = tonumber(args[2])
  need = (args[3] ~= "-") and string.lower(args[3]) or nil
  local file = args[4]
  cycle = (args[5] == "cycle")
  method = args[7] or "GET"
  if args[8] and args[8] ~= "-" then
    body = args[8]
    form = { ["Content-Type"] = "application/x-www-form-urlencoded" }
  end
  local n = tonumber(args[6])
  local id = wrk.thread:get("id")
  paying = (file ~= "-")
  if paying then
    local all = {}
    for line in io.lines(file) do
      if #line > 0 then all[#all + 1] = line end
    end
    for i = 1, #all do
      if (i - 1) % n == id then payments[#payments + 1] = all[i] end
    end
    -- fewer lines than threads: "cycle" shares them all, "once" leaves this thread none
    if #payments == 0 and cycle then payments = all end
  end
end

function request()
  if not paying then return wrk.format(method, path, form, body) end
  idx = idx + 1
  if idx > #payments then
    if cycle then
      idx = 1
    else
      exhausted = 1
      wrk.thread:stop()
      return wrk.format("GET", path)
    end
  end
  return wrk.format("GET", path, { ["PAYMENT-SIGNATURE"] = payments[idx] })
end

function response(status, headers, body)
  by_status[status] = (by_status[status] or 0) + 1
  local good = (status == expect)
  if good and need then
    good = false
    for name, _ in pairs(headers) do
      if string.lower(name) == need then good = true break end
    end
  end
  if good then ok = ok + 1 else unexpected = unexpected + 1 end
  local parts = {}
  for s, c in pairs(by_status) do parts[#parts + 1] = s .. ":" .. c end
  statuses = table.concat(parts, ",")
end

function done(summary, latency, requests)
  local t = { ok = 0, unexpected = 0, exhausted = 0, statuses = {} }
  for _, thread in ipairs(threads) do
    t.ok = t.ok + thread:get("ok")
    t.unexpected = t.unexpected + thread:get("unexpected")
    t.exhausted = t.exhausted + thread:get("exhausted")
    for s, c in string.gmatch(thread:get("statuses"), "(%d+):(%d+)") do
      t.statuses[s] = (t.statuses[s] or 0) + tonumber(c)
    end
  end
  local st = {}
  for s, c in pairs(t.statuses) do st[#st + 1] = string.format('"%s":%d', s, c) end
  local e = summary.errors
  io.write(string.format(
    'AB-RESULT {"requests":%d,"duration_us":%d,"ok":%d,"unexpected":%d,"exhausted":%d,' ..
    '"statuses":{%s},"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, t.ok, t.unexpected, t.exhausted, table.concat(st, ","),
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean))
end
