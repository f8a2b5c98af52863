-- mark: step 3 of a create (and the repair sweep), in the user's slot: a
-- pending entry becomes armed.
-- KEYS user_alerts:{<user>} alert_unpended:{<user>}
-- ARGV id
-- -> 1 the entry is armed now (or was); 0 it was removed while pending (by the
--    repair sweep or an undo: its id is in alert_unpended:{<user>}); 2 it is
--    gone after it was armed (fired, or deleted, between steps 2 and 3)
local e = redis.call('HGET', KEYS[1], ARGV[1])
if not e then
  if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return 0 end
  return 2
end
if string.sub(e, -2) == ' p' then
  redis.call('HSET', KEYS[1], ARGV[1], string.sub(e, 1, -2) .. 'a')
end
return 1
