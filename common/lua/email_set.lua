-- email_set: a user sets or removes the e-mail address (PUT /api/settings),
-- in the user's slot. A new (or not yet confirmed) address is stored
-- unconfirmed with a fresh request id, for which the notifier then sends
-- one confirmation mail; at most ARGV[4] of those per ARGV[5] seconds.
-- KEYS user_email:{<user>} email_rate:{<user>}
-- ARGV addr ("" removes it), request id, set_at, rate max, rate window (s)
-- -> {'removed'} | {'confirmed'} (that address, confirmed already: nothing
--    to send) | {'limited', seconds left} (nothing changed) | {'send'}
if ARGV[1] == '' then
  redis.call('DEL', KEYS[1])
  return {'removed'}
end
local cur = redis.call('HMGET', KEYS[1], 'addr', 'confirmed')
if cur[1] == ARGV[1] and cur[2] == '1' then return {'confirmed'} end
local n = redis.call('INCR', KEYS[2])
if n == 1 then redis.call('EXPIRE', KEYS[2], tonumber(ARGV[5])) end
if n > tonumber(ARGV[4]) then
  local ttl = redis.call('TTL', KEYS[2])
  if ttl < 0 then
    redis.call('EXPIRE', KEYS[2], tonumber(ARGV[5]))
    ttl = tonumber(ARGV[5])
  end
  return {'limited', ttl}
end
redis.call('HDEL', KEYS[1], 'token', 'token_exp')
redis.call('HSET', KEYS[1], 'addr', ARGV[1], 'confirmed', '0', 'req', ARGV[2], 'set_at', ARGV[3])
return {'send'}
