-- mark: step 3 of a create (and the repair sweep), in the user's slot: a
-- pending entry becomes armed.
-- KEYS user_alerts:{<user>}
-- ARGV id
-- -> 1 the entry is armed now (or was), 0 it is gone (fired, deleted, or removed
--    by the repair sweep)
local e = redis.call('HGET', KEYS[1], ARGV[1])
if not e then return 0 end
if string.sub(e, -2) == ' p' then
  redis.call('HSET', KEYS[1], ARGV[1], string.sub(e, 1, -2) .. 'a')
end
return 1
