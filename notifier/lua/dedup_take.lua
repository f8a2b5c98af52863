-- dedup_take: takes over the claim of a notifier found dead, if the key still holds
-- that claim (compare and set: another notifier may have taken it, or delivered it,
-- since dedup_claim answered).
-- KEYS notified:<alert id>
-- ARGV expected ('claim:<dead token>') token ttl_s
-- -> 'taken', 'claimed' (the key was gone), 'done', 'mine', or 'busy' (someone
--    else's claim now)
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] or not v then
  redis.call('SET', KEYS[1], 'claim:' .. ARGV[2], 'EX', ARGV[3])
  if v then return 'taken' end
  return 'claimed'
end
if v == 'done' then return 'done' end
if v == 'claim:' .. ARGV[2] then return 'mine' end
return 'busy'
