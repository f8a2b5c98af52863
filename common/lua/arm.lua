-- arm: step 2 of a create, in the ticker's slot: the alert enters the
-- evaluator's index. Idempotent: an id already armed is left as it is (the
-- same values, or a repeating alert that fired since and waits in a re-arm or
-- cooldown set with its fire count: arming it again would fire it twice).
-- KEYS ticker_alerts:{<ticker>} alert_idx:{<ticker>}:<side>
-- ARGV id user threshold cond [expires_at [c:<channels>] [r:<cooldown_s>:0] [note]]
--      (the note as its JSON string);
--      a windowed percent cond ("percent_up|percent_down:<p>:w<w>"):
--      ARGV id user threshold cond seed max_windows [expires_at ...],
--      seed the reference price that starts a new window's history,
--      max_windows the cap of distinct windows on the ticker
-- -> 1; for a windowed cond that would open a window past the cap: the
--    windows in use, "w w ...", and nothing stored.
-- A windowed alert goes to its window's index instead of KEYS[2] (keys of
-- the ticker's slot built from KEYS[1]'s hash tag: window.lua, prepended).
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 1 end
local cond = ARGV[4]
local first = 5
if win_of(cond) then
  first = 7
  local t = redis.call('TIME')
  local full = win_arm(ARGV[1], cond, ARGV[5], tonumber(ARGV[6]), t[1])
  if full then return full end
else
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
end
local v = ARGV[2] .. ' ' .. ARGV[3] .. ' ' .. cond
for i = first, #ARGV do v = v .. ' ' .. ARGV[i] end
redis.call('HSET', KEYS[1], ARGV[1], v)
return 1
