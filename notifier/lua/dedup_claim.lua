-- dedup_claim: claims the delivery of one alert for this notifier.
-- KEYS notified:<alert id>
-- ARGV token ttl_s
-- -> 'claimed' (it was free), 'done' (delivered before), 'mine' (this notifier's
--    claim already), or 'owner:<token>' (another notifier's claim: the caller checks
--    whether that notifier is alive, a key of another slot, then calls dedup_take)
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], 'claim:' .. ARGV[1], 'EX', ARGV[2])
  return 'claimed'
end
if v == 'done' then return 'done' end
local owner = string.sub(v, 7)
if owner == ARGV[1] then return 'mine' end
return 'owner:' .. owner
