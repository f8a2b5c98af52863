-- wrk script for the API benchmark: each request carries the next user's
-- cookie (read from $BENCH_COOKIES, one value per line) so the per-user
-- alert cap and rate limit are spread over many users.
--   BENCH_API=set  POST /api/set-alert {"ticker": $BENCH_TICKER, far threshold}
--   BENCH_API=get  GET /api/get-alerts
local cookies = {}
local next_i = 1
local mode = os.getenv("BENCH_API") or "set"
local ticker = os.getenv("BENCH_TICKER") or "AAPL"
local body = '{"ticker":"' .. ticker .. '","threshold":1000000000,"type":"above"}'

local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(os.getenv("BENCH_COOKIES")) do
    if #line > 0 then table.insert(cookies, "user_id=" .. line) end
  end
  -- Threads start at different users.
  next_i = (tonumber(wrk.thread:get("id")) or 0) * 7919 % #cookies + 1
end

function request()
  local c = cookies[next_i]
  next_i = next_i % #cookies + 1
  if mode == "get" then
    return wrk.format("GET", "/api/get-alerts", {["Cookie"] = c})
  end
  return wrk.format("POST", "/api/set-alert",
    {["Cookie"] = c, ["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
  local p = {}
  for _, q in ipairs({50, 90, 99, 99.9}) do
    table.insert(p, string.format("p%s_ms=%.2f", tostring(q):gsub("%.", ""), latency:percentile(q) / 1000))
  end
  local secs = summary.duration / 1e6
  local non2xx = 0
  if summary.errors.status then non2xx = summary.errors.status end
  io.write(string.format("RESULT label=api-%s requests=%d rps=%.0f %s max_ms=%.2f non2xx=%d "
    .. "socket_errors=%d\n", mode, summary.requests, summary.requests / secs, table.concat(p, " "),
    latency.max / 1000, non2xx, summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout))
end
