-- delete: removes an alert from every key, if it belongs to the user.
-- KEYS alert:<id> user_alerts:<user>
-- ARGV id user
-- -> 1 deleted, 0 not found (or not the user's, or fired already)
local h = redis.call('HMGET', KEYS[1], 'user_id', 'ticker')
if h[1] ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
if h[2] then
  redis.call('SREM', 'ticker_alerts:' .. h[2], ARGV[1])
  redis.call('ZREM', 'alert_idx:' .. h[2] .. ':above', ARGV[1])
  redis.call('ZREM', 'alert_idx:' .. h[2] .. ':below', ARGV[1])
end
return 1
