-- email_confirm: a confirmation link was followed (GET /api/confirm-email),
-- in the user's slot. A token works once, until its expiry (Redis' clock).
-- KEYS user_email:{<user>}
-- ARGV sha-256 hex of the token
-- -> 1 confirmed now, 0 unknown or used token, -1 expired (it is dropped)
local cur = redis.call('HMGET', KEYS[1], 'token', 'token_exp')
if not cur[1] or cur[1] ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[1], 'token', 'token_exp')
if tonumber(cur[2] or '0') < tonumber(redis.call('TIME')[1]) then return -1 end
redis.call('HSET', KEYS[1], 'confirmed', '1')
redis.call('HDEL', KEYS[1], 'req')
return 1
