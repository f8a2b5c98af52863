-- email_issue: the notifier is about to send the confirmation mail of one
-- request, in the user's slot: the token's hash replaces any earlier one
-- (only the newest link works), unless the request is stale.
-- KEYS user_email:{<user>}
-- ARGV request id, sha-256 hex of the token, lifetime (s)
-- -> the address to send to, or false: the address was removed, changed
--    again (a newer request) or confirmed meanwhile: send nothing
local cur = redis.call('HMGET', KEYS[1], 'addr', 'confirmed', 'req')
if not cur[1] or cur[2] == '1' or cur[3] ~= ARGV[1] then return false end
local now = tonumber(redis.call('TIME')[1])
redis.call('HSET', KEYS[1], 'token', ARGV[2], 'token_exp', tostring(now + tonumber(ARGV[3])))
return cur[1]
