-- disarm: step 2 of a delete (and the orphan sweep), in the ticker's slot: the
-- alert leaves the evaluator's index. Idempotent.
-- KEYS ticker_alerts:{<ticker>} alert_idx:{<ticker>}:above alert_idx:{<ticker>}:below
-- ARGV id
-- -> 1 it was armed, 0 not
local n = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return n
