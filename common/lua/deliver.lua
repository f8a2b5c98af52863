-- deliver: claimed alerts enter their user's history, in the user's slot: the
-- id XADD gives an entry is the alert's position (evid.h), assigned once.
-- Idempotent: an alert already in the history gets the same answer again.
-- KEYS alert_events:{<user>} user_alerts:{<user>}
-- ARGV history_max history_ttl_s (alert_id payload)...
-- -> {state, position, previous, ...} per alert, in order: state 1 appended
--    now, 2 found in the history (delivered before), 0 skipped (the user
--    deleted the alert: not in the user's list, not in the history);
--    position and previous are "" when skipped.
--
-- A repeating alert's firing (its payload names it: "repeat":"every",
-- "cooldown_s":c,"firing":n, written by claim.lua) keeps the user's entry,
-- whose token "r:<cooldown_s>:<fires>" counts the firings delivered: firing n
-- is appended when n > fires (and fires becomes n), else it was delivered
-- before and is found in the history by alert id and firing (or skipped).
-- A history entry of a firing has the field "firing".
local out = {}
local last -- the newest position, once read
local kept -- the history's entries, once scanned
local added = false

-- The history entry of alert id (its firing: nil for a one-shot alert).
local function find(id, firing)
  if not kept then kept = redis.call('XRANGE', KEYS[1], '-', '+') end
  for i, e in ipairs(kept) do
    local f = e[2]
    local aid, fir
    for j = 1, #f, 2 do
      if f[j] == 'alert_id' then aid = f[j + 1] end
      if f[j] == 'firing' then fir = f[j + 1] end
    end
    if aid == id and fir == firing then
      return e[1], kept[i - 1] and kept[i - 1][1] or '0-0'
    end
  end
  return nil
end

-- True when the alert is to enter the history now: a one-shot alert still
-- in the user's list (removed from it here), a firing not counted yet in
-- its repeating alert's entry (counted here).
local function take(id, firing)
  if not firing then return redis.call('HDEL', KEYS[2], id) == 1 end
  local e = redis.call('HGET', KEYS[2], id)
  if not e then return false end
  local head, cool, fires, tail = string.match(e, '^([^"]- r):(%d+):(%d+)(.*)$')
  if not head or tonumber(fires) >= tonumber(firing) then return false end
  redis.call('HSET', KEYS[2], id, head .. ':' .. cool .. ':' .. firing .. tail)
  return true
end

for i = 3, #ARGV, 2 do
  local id, payload = ARGV[i], ARGV[i + 1]
  local firing = string.match(payload, ',"repeat":"every","cooldown_s":%d+,"firing":(%d+)')
  if take(id, firing) then
    if not last then
      local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
      last = top[1] and top[1][1] or '0-0'
    end
    local pos
    if firing then
      pos = redis.call('XADD', KEYS[1], '*', 'alert_id', id, 'firing', firing, 'payload', payload)
    else
      pos = redis.call('XADD', KEYS[1], '*', 'alert_id', id, 'payload', payload)
    end
    out[#out + 1] = 1
    out[#out + 1] = pos
    out[#out + 1] = last
    last = pos
    kept = nil
    added = true
  else
    local pos, prev = find(id, firing)
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
