-- disarm: step 2 of a delete (and the orphan sweep), in the ticker's slot: the
-- alert leaves the evaluator's index, and a repeating one the re-arm and
-- cooldown sets it may wait in. Idempotent.
-- KEYS the claim's (claim.lua): ticker_alerts:{<ticker>} alert_idx:{<ticker>}:above
--      alert_idx:{<ticker>}:below alerts_outbox:{<ticker>} (not touched)
--      alert_idx:{<ticker>}:rearm_above alert_idx:{<ticker>}:rearm_below
--      alert_cool:{<ticker>}
-- ARGV id
-- -> 1 it was armed, 0 not
-- A windowed percent alert leaves its window's index too, and the window's
-- count (its keys are of the ticker's slot, built from KEYS[1]'s hash tag:
-- window.lua, prepended).
local row = redis.call('HGET', KEYS[1], ARGV[1])
if row then win_unarm(ARGV[1], string.match(row, '^%S+ %S+ (%S+)')) end
local n = redis.call('HDEL', KEYS[1], ARGV[1])
for _, k in ipairs({2, 3, 5, 6, 7}) do redis.call('ZREM', KEYS[k], ARGV[1]) end
return n
