-- list: the user's active alerts, newest first (ties by id).
-- KEYS user_alerts:<user>
-- ARGV user max
-- -> flat id ticker threshold type created_at, per alert
local rows = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local h = redis.call('HMGET', 'alert:' .. id, 'user_id', 'ticker', 'threshold',
    'type', 'created_at')
  if h[1] == ARGV[1] and h[2] and h[3] and h[4] then
    local c = h[5] or '0'
    rows[#rows + 1] = {id, h[2], h[3], h[4], c, tonumber(c) or 0}
  end
end
table.sort(rows, function(a, b)
  if a[6] ~= b[6] then return a[6] > b[6] end
  return a[1] < b[1]
end)
local out = {}
for i = 1, math.min(#rows, tonumber(ARGV[2])) do
  for j = 1, 5 do out[#out + 1] = rows[i][j] end
end
return out
