-- wrk script for bench/run.sh.
--   wrk -s bench/wrk.lua URL -- METHOD PATHS_FILE [BODY]
-- Every request picks a path at random from PATHS_FILE (one per line). Responses are counted by status
-- in every thread; `done` prints and writes (to $BENCH_RESULT) one JSON object with throughput,
-- exact latency percentiles, socket errors, the status counts, and the requests sent: wrk stops with
-- requests still in flight (sent, never answered), which the server may well have served.

local threads = {}
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("thread_id", next_id)
  table.insert(threads, thread)
end

function init(args)
  local method, file, body = args[1] or "GET", args[2], args[3]
  if body == nil or body == "" then body = nil end
  math.randomseed(thread_id * 7919 + os.time())
  reqs = {}
  for line in io.lines(file) do
    if line ~= "" then reqs[#reqs + 1] = wrk.format(method, line, nil, body) end
  end
  nreqs = #reqs
  if nreqs == 0 then error("no paths in " .. file) end
  ok2xx, s202, non2xx, sent = 0, 0, 0, 0
  statuses = {}
end

function request()
  sent = sent + 1
  return reqs[math.random(nreqs)]
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok2xx = ok2xx + 1
    if status == 202 then s202 = s202 + 1 end
  else
    non2xx = non2xx + 1
  end
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  -- wrk calls request() once in the first thread to check the script before the run: not sent.
  local t2xx, t202, tnon, tsent, st = 0, 0, 0, -1, {}
  for _, t in ipairs(threads) do
    tsent = tsent + t:get("sent")
    t2xx = t2xx + t:get("ok2xx")
    t202 = t202 + t:get("s202")
    tnon = tnon + t:get("non2xx")
    for k, v in pairs(t:get("statuses")) do st[k] = (st[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(st) do parts[#parts + 1] = string.format('"%d":%d', k, v) end
  table.sort(parts)
  local e = summary.errors
  local json = string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"rps":%.1f,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"mean_us":%.1f,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,' ..
    '"wrk_status_errors":%d,"sent":%d,"in_flight_at_end":%d,"ok2xx":%d,"status202":%d,"non2xx":%d,"statuses":{%s}}',
    summary.requests, summary.duration, summary.bytes, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.timeout, e.status, tsent, tsent - summary.requests, t2xx, t202, tnon, table.concat(parts, ","))
  io.write("RESULT ", json, "\n")
  local out = os.getenv("BENCH_RESULT")
  if out and out ~= "" then
    local f = assert(io.open(out, "w"))
    f:write(json, "\n")
    f:close()
  end
end
