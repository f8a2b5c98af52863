-- deliver: claimed alerts enter their user's history, in the user's slot: the
-- id XADD gives an entry is the alert's position (evid.h), assigned once.
-- Idempotent: an alert already in the history gets the same answer again.
-- KEYS alert_events:{<user>} user_alerts:{<user>}
-- ARGV history_max history_ttl_s (alert_id payload)...
-- -> {state, position, previous, ...} per alert, in order: state 1 appended
--    now, 2 found in the history (delivered before), 0 skipped (the user
--    deleted the alert: not in the user's list, not in the history);
--    position and previous are "" when skipped.
local out = {}
local last -- the newest position, once read
local kept -- the history's entries, once scanned
local added = false

local function find(id)
  if not kept then kept = redis.call('XRANGE', KEYS[1], '-', '+') end
  for i, e in ipairs(kept) do
    local f = e[2]
    for j = 1, #f, 2 do
      if f[j] == 'alert_id' and f[j + 1] == id then
        return e[1], kept[i - 1] and kept[i - 1][1] or '0-0'
      end
    end
  end
  return nil
end

for i = 3, #ARGV, 2 do
  local id, payload = ARGV[i], ARGV[i + 1]
  if redis.call('HDEL', KEYS[2], id) == 1 then
    if not last then
      local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
      last = top[1] and top[1][1] or '0-0'
    end
    local pos = redis.call('XADD', KEYS[1], '*', 'alert_id', id, 'payload', payload)
    out[#out + 1] = 1
    out[#out + 1] = pos
    out[#out + 1] = last
    last = pos
    kept = nil
    added = true
  else
    local pos, prev = find(id)
    if pos then
      out[#out + 1] = 2
      out[#out + 1] = pos
      out[#out + 1] = prev
    else
      out[#out + 1] = 0
      out[#out + 1] = ''
      out[#out + 1] = ''
    end
  end
end
if added then -- trimmed once per call: cheaper than on every XADD
  redis.call('XTRIM', KEYS[1], 'MAXLEN', ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return out
