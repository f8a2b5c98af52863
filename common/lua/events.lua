-- events: a user's history after a position, oldest first, for an alert
-- stream's replay and for the webapp filling a stream's gap.
-- KEYS alert_events:{<user>}
-- ARGV after ("": none, only the tail is wanted) max
-- -> {tail, position, payload, position, payload, ...}
-- tail is the newest position ("0-0": empty history). A position after the tail
-- (a token from a Redis that lost data, or a forged one) replays the whole kept
-- history, whose readers de-duplicate by alert_id (and firing); one before the oldest kept
-- entry replays from the oldest kept.
local function num_lt(a, b)
  if #a ~= #b then return #a < #b end
  return a < b
end

local function after_tail(a, tail)
  local ams, aseq = string.match(a, '^(%d+)%-(%d+)$')
  local tms, tseq = string.match(tail, '^(%d+)%-(%d+)$')
  if not ams or not tms then return true end
  if ams ~= tms then return num_lt(tms, ams) end
  return num_lt(tseq, aseq)
end

local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local out = {top[1] and top[1][1] or '0-0'}
if ARGV[1] == '' then return out end
local start = '(' .. ARGV[1]
if after_tail(ARGV[1], out[1]) then start = '-' end
for _, e in ipairs(redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', ARGV[2])) do
  local p = ''
  for i = 1, #e[2], 2 do
    if e[2][i] == 'payload' then p = e[2][i + 1] end
  end
  out[#out + 1] = e[1]
  out[#out + 1] = p
end
return out
