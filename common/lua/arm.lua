-- arm: step 2 of a create, in the ticker's slot: the alert enters the
-- evaluator's index. Idempotent (the same values again).
-- KEYS ticker_alerts:{<ticker>} alert_idx:{<ticker>}:<type>
-- ARGV id user threshold type
-- -> 1
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. ARGV[3] .. ' ' .. ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
