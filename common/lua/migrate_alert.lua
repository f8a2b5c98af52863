-- migrate_alert: moves one alert of schema 2 (alert:<id> and its ids in the
-- user's set, the ticker's set and the index) into schema 3's keys (the
-- user's and the ticker's hashes, the tagged index), armed. Runs only on the
-- single instance that holds the old data, so it may touch both slots.
-- Atomic and idempotent: a second run finds no alert:<id>.
-- KEYS alert:<id> user_alerts:<user> ticker_alerts:<ticker> alert_idx:<ticker>:<type>
--      user_alerts:{<user>} ticker_alerts:{<ticker>} alert_idx:{<ticker>}:<type>
-- ARGV id user ticker type (as the caller read them from alert:<id>)
-- -> 1 moved, 0 nothing to move
local h = redis.call('HMGET', KEYS[1], 'user_id', 'ticker', 'threshold', 'type', 'created_at')
if not h[1] then
  redis.call('SREM', KEYS[2], ARGV[1])
  redis.call('SREM', KEYS[3], ARGV[1])
  redis.call('ZREM', KEYS[4], ARGV[1])
  return 0
end
if h[1] ~= ARGV[2] or h[2] ~= ARGV[3] or h[4] ~= ARGV[4] or not tonumber(h[3]) then
  return redis.error_reply('ERR alert ' .. ARGV[1] .. ' changed or malformed')
end
redis.call('HSET', KEYS[5], ARGV[1],
  h[2] .. ' ' .. h[3] .. ' ' .. h[4] .. ' ' .. (h[5] or '0') .. ' a')
redis.call('HSET', KEYS[6], ARGV[1], h[1] .. ' ' .. h[3] .. ' ' .. h[4])
redis.call('ZADD', KEYS[7], h[3], ARGV[1])
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
return 1
