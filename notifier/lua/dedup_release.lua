-- dedup_release: gives up this notifier's claim (a failed delivery to retry elsewhere).
-- KEYS notified:<alert id>
-- ARGV token
-- -> 1 released, 0 it was not this notifier's claim
if redis.call('GET', KEYS[1]) == 'claim:' .. ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
