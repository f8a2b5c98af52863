-- outbox_read: outbox entries old enough to be republished, oldest first.
-- KEYS alerts_outbox:{<ticker>} (or the schema-2 alerts_outbox)
-- ARGV after_id ("0": from the start) min_age_ms max
-- -> flat id payload user_id alert_id, for entries at least min_age_ms old by
--    Redis' clock (alert_id "" in schema 2's entries)
local t = redis.call('TIME')
local last = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
last = last - tonumber(ARGV[2])
if last < 0 then return {} end
local start = '-'
if ARGV[1] ~= '0' then start = '(' .. ARGV[1] end
local rows = redis.call('XRANGE', KEYS[1], start, string.format('%.0f', last),
  'COUNT', ARGV[3])
local out = {}
for _, e in ipairs(rows) do
  local f = {}
  for i = 1, #e[2], 2 do f[e[2][i]] = e[2][i + 1] end
  out[#out + 1] = e[1]
  out[#out + 1] = f['payload'] or ''
  out[#out + 1] = f['user_id'] or ''
  out[#out + 1] = f['alert_id'] or ''
end
return out
