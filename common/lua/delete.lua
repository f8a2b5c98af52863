-- delete: step 1 of a delete, in the user's slot: the alert leaves the user's
-- list if it is the user's (the disarm in the ticker's slot follows).
-- KEYS user_alerts:{<user>}
-- ARGV id
-- -> {ticker, type} deleted, 0 not found (or not the user's, or fired already)
local e = redis.call('HGET', KEYS[1], ARGV[1])
if not e then return 0 end
local ticker, typ = string.match(e, '^(%S+) %S+ (%S+)')
redis.call('HDEL', KEYS[1], ARGV[1])
return {ticker or '', typ or ''}
