-- arm: step 2 of a create, in the ticker's slot: the alert enters the
-- evaluator's index. Idempotent (the same values again).
-- KEYS ticker_alerts:{<ticker>} alert_idx:{<ticker>}:<type>
-- ARGV id user threshold type [expires_at [note]] (the note as its JSON string)
-- -> 1
local v = ARGV[2] .. ' ' .. ARGV[3] .. ' ' .. ARGV[4]
for i = 5, #ARGV do v = v .. ' ' .. ARGV[i] end
redis.call('HSET', KEYS[1], ARGV[1], v)
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
