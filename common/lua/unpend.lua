-- unpend: removes a pending entry (the undo of a create whose arm failed, and
-- the repair sweep's removal), in the user's slot. An armed entry is kept. The
-- removed id is remembered for an hour in alert_unpended:{<user>}, so that a
-- retry under the same idempotency key creates the alert again instead of
-- answering that it was stored (create.lua).
-- KEYS user_alerts:{<user>} alert_unpended:{<user>}
-- ARGV id ttl_s [created_before]: only an entry created before this time (Unix s)
-- -> 1 removed, 0 not (armed, gone, or too young)
local e = redis.call('HGET', KEYS[1], ARGV[1])
if not e or string.sub(e, -2) ~= ' p' then return 0 end
if ARGV[3] then
  local created = tonumber(string.match(e, '^%S+ %S+ %S+ (%S+)'))
  if not created or created >= tonumber(ARGV[3]) then return 0 end
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
