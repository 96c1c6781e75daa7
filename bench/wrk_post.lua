-- wrk script for the bench: POST one body (file named by BENCH_BODY) as fast as answers come,
-- stop each thread after BENCH_MAX_PER_THREAD requests, and print one JSON line of results.
local file = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"

local limit = tonumber(os.getenv("BENCH_MAX_PER_THREAD") or "0")
local sent = 0
local encoded = nil

function request()
  if encoded == nil then
    encoded = wrk.format()
  end
  sent = sent + 1
  if limit > 0 and sent > limit then
    wrk.thread:stop()
  end
  return encoded
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%.0f,"duration_us":%.0f,"connect":%.0f,"read":%.0f,' ..
    '"write":%.0f,"status":%.0f,"timeout":%.0f,"p50_us":%.0f,"p90_us":%.0f,' ..
    '"p99_us":%.0f,"max_us":%.0f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
