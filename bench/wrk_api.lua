-- wrk script for the API benchmark: each request carries the next user's
-- cookie (read from $BENCH_COOKIES, one value per line) so the per-user
-- alert cap and rate limit are spread over many users.
--   BENCH_API=set  POST /api/set-alert {"ticker": $BENCH_TICKER, far threshold}
--   BENCH_API=get  GET /api/get-alerts
--   BENCH_API=static  GET /static/style.css (a static libmicrohttpd reply: what a proxy
--                     in front costs by itself)
-- BENCH_IDEM=1: each set-alert carries its own Idempotency-Key (as nginx's
-- X-Request-Id gives one), so a run straight to a webapp has the same
-- guarantees as one through nginx. BENCH_LABEL names the RESULT (api-<mode>).
local cookies = {}
local next_i = 1
local mode = os.getenv("BENCH_API") or "set"
local label = os.getenv("BENCH_LABEL") or ("api-" .. mode)
local idem = os.getenv("BENCH_IDEM") == "1"
local sent = 0
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
  if mode == "static" then
    return wrk.format("GET", "/static/style.css", {["Cookie"] = c})
  end
  local h = {["Cookie"] = c, ["Content-Type"] = "application/json"}
  if idem then
    sent = sent + 1
    h["Idempotency-Key"] = string.format("wrk-%s-%d-%d", wrk.thread:get("id") or "0", os.time(), sent)
  end
  return wrk.format("POST", "/api/set-alert", h, body)
end

function done(summary, latency, requests)
  local p = {}
  for _, q in ipairs({50, 90, 99, 99.9}) do
    table.insert(p, string.format("p%s_ms=%.2f", tostring(q):gsub("%.", ""), latency:percentile(q) / 1000))
  end
  local secs = summary.duration / 1e6
  local non2xx = 0
  if summary.errors.status then non2xx = summary.errors.status end
  io.write(string.format("RESULT label=%s requests=%d rps=%.0f %s max_ms=%.2f non2xx=%d "
    .. "socket_errors=%d\n", label, summary.requests, summary.requests / secs, table.concat(p, " "),
    latency.max / 1000, non2xx, summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout))
end
