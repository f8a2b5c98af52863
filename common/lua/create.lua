-- create: step 1 of a create, in the user's slot: the idempotency key, the
-- per-user cap, then the alert entry, pending until the ticker side armed it.
-- KEYS user_alerts:{<user>} [alert_idem:{<user>}:<key> alert_unpended:{<user>}]
-- ARGV id ticker threshold type created_at max key_ttl_s fingerprint [expires_at [note]]
--      (key_ttl_s and fingerprint are read only with the key; the note is its
--      JSON string: the entry is "ticker threshold type created_at
--      [expires_at [note]] state", the state always last)
-- -> 1 stored (state p); 0 the user is at max; {id, state, entry} the alert
--    this key stored before (state p, a, or "" when it fired or was deleted
--    since; entry "" then);
--    -1 the key was used before for a different request (fingerprint =
--    "ticker threshold type [note]"), nothing stored. A key whose alert was removed
--    while pending (unpend.lua: the request failed, it was never acknowledged)
--    is dropped, and the alert is created as for a new key.
if KEYS[2] then
  local v = redis.call('GET', KEYS[2])
  if v then
    local id, fp = string.match(v, '^(%S+) (.+)$')
    if not id then return {v, '', ''} end -- kept by schema 1: no fingerprint, no re-arm
    if fp ~= ARGV[8] then return -1 end
    local e = redis.call('HGET', KEYS[1], id)
    if e or not KEYS[3] or redis.call('SREM', KEYS[3], id) == 0 then
      return {id, e and string.match(e, '(%S+)$') or '', e or ''}
    end
    redis.call('DEL', KEYS[2])
  end
end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  return redis.error_reply('ERR alert id already exists')
end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[6]) then
  return 0
end
local e = ARGV[2] .. ' ' .. ARGV[3] .. ' ' .. ARGV[4] .. ' ' .. ARGV[5]
for i = 9, #ARGV do e = e .. ' ' .. ARGV[i] end
redis.call('HSET', KEYS[1], ARGV[1], e .. ' p')
if KEYS[2] then
  redis.call('SET', KEYS[2], ARGV[1] .. ' ' .. ARGV[8], 'EX', ARGV[7])
end
return 1
