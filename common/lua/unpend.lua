-- unpend: removes a pending entry (the undo of a create whose arm failed, and
-- the repair sweep's removal), in the user's slot. An armed entry is kept.
-- KEYS user_alerts:{<user>}
-- ARGV id [created_before]: only an entry created before this time (Unix s)
-- -> 1 removed, 0 not (armed, gone, or too young)
local e = redis.call('HGET', KEYS[1], ARGV[1])
if not e or string.sub(e, -2) ~= ' p' then return 0 end
if ARGV[2] then
  local created = tonumber(string.match(e, '^%S+ %S+ %S+ (%S+)'))
  if not created or created >= tonumber(ARGV[2]) then return 0 end
end
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
