-- dedup_claim: claims the delivery of one alert for this notifier.
-- KEYS notified:<alert id>
-- ARGV token ttl_s alive_prefix
-- -> 'claimed' (it was free), 'done' (delivered before), 'mine' (this notifier's
--    claim already), 'busy' (a live notifier's claim), 'taken' (the claim of a
--    notifier no longer alive, now this one's)
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], 'claim:' .. ARGV[1], 'EX', ARGV[2])
  return 'claimed'
end
if v == 'done' then return 'done' end
local owner = string.sub(v, 7)
if owner == ARGV[1] then return 'mine' end
if redis.call('EXISTS', ARGV[3] .. owner) == 1 then return 'busy' end
redis.call('SET', KEYS[1], 'claim:' .. ARGV[1], 'EX', ARGV[2])
return 'taken'
