-- arm: step 2 of a create, in the ticker's slot: the alert enters the
-- evaluator's index. Idempotent: an id already armed is left as it is (the
-- same values, or a repeating alert that fired since and waits in a re-arm or
-- cooldown set with its fire count: arming it again would fire it twice).
-- KEYS ticker_alerts:{<ticker>} alert_idx:{<ticker>}:<side>
-- ARGV id user threshold type [expires_at [c:<channels>] [r:<cooldown_s>:0] [note]]
--      (the note as its JSON string)
-- -> 1
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 1 end
local v = ARGV[2] .. ' ' .. ARGV[3] .. ' ' .. ARGV[4]
for i = 5, #ARGV do v = v .. ' ' .. ARGV[i] end
redis.call('HSET', KEYS[1], ARGV[1], v)
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
