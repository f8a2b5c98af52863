-- migrate_idem: moves one idempotency key of schema 2 (alert_idem:<user>:<key>)
-- to its tagged name (alert_idem:{<user>}:<key>), keeping its value and its
-- remaining time. Idempotent: a second run finds no old key.
-- KEYS alert_idem:<user>:<key> alert_idem:{<user>}:<key>
-- -> 1 moved, 0 nothing to move
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local pttl = redis.call('PTTL', KEYS[1])
if redis.call('EXISTS', KEYS[2]) == 0 then
  if pttl > 0 then
    redis.call('SET', KEYS[2], v, 'PX', pttl)
  else
    redis.call('SET', KEYS[2], v)
  end
end
redis.call('DEL', KEYS[1])
return 1
