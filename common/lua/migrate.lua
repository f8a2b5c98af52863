-- migrate: moves one user's history out of the list the version before kept
-- (alert_history:<user>: alert JSON, newest first, each with its store-wide
-- "seq") into the user's stream, where entry seq N becomes position 0-N, so a
-- resume token of that version still resumes at the right place. Atomic and
-- idempotent: a second run finds no list. Entries the new version appended
-- before the migration ran keep their positions, after the old ones.
-- KEYS alert_history:<user> alert_events:{<user>}
-- ARGV history_max history_ttl_s
-- -> the number of entries moved
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local old = redis.call('LRANGE', KEYS[1], 0, -1)
local kept = redis.call('XRANGE', KEYS[2], '-', '+')
local pttl = redis.call('PTTL', KEYS[1])
local seen = {}
redis.call('DEL', KEYS[2])
local last = 0
for i = #old, 1, -1 do
  local p = old[i]
  local seq = tonumber(string.match(p, '"seq":(%d+)')) or 0
  if seq <= last then seq = last + 1 end -- unnumbered or out of order: keep it, next
  last = seq
  local id = string.match(p, '"alert_id":"([%w_%-]+)"') or ''
  seen[id] = true
  redis.call('XADD', KEYS[2], string.format('0-%.0f', seq), 'alert_id', id, 'payload', p)
end
for _, e in ipairs(kept) do
  local id
  for i = 1, #e[2], 2 do
    if e[2][i] == 'alert_id' then id = e[2][i + 1] end
  end
  if not (id and seen[id]) then
    redis.pcall('XADD', KEYS[2], e[1], unpack(e[2]))
  end
end
redis.call('XTRIM', KEYS[2], 'MAXLEN', ARGV[1])
if #kept == 0 and pttl > 0 then
  redis.call('PEXPIRE', KEYS[2], pttl)
else
  redis.call('EXPIRE', KEYS[2], ARGV[2])
end
redis.call('DEL', KEYS[1])
return #old
