-- create: stores one alert, at most max per user, once per idempotency key.
-- KEYS alert:<id> user_alerts:<user> ticker_alerts:<ticker> alert_idx:<ticker>:<type>
--      [alert_idem:<user>:<key>]
-- ARGV id user ticker threshold type created_at max [key_ttl_s fingerprint]
-- -> 1 stored; 0 the user is at max; {id} the alert this key stored before;
--    -1 the key was used before for a different request (fingerprint =
--    "ticker threshold type"), nothing stored.
if KEYS[5] then
  local v = redis.call('GET', KEYS[5])
  if v then
    local id, fp = string.match(v, '^(%S+) (.+)$')
    if not id then return {v} end -- kept by the version before: no fingerprint
    if fp ~= ARGV[9] then return -1 end
    return {id}
  end
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.error_reply('ERR alert id already exists')
end
if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[7]) then
  return 0
end
redis.call('HSET', KEYS[1], 'user_id', ARGV[2], 'ticker', ARGV[3],
  'threshold', ARGV[4], 'type', ARGV[5], 'created_at', ARGV[6])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])
if KEYS[5] then
  redis.call('SET', KEYS[5], ARGV[1] .. ' ' .. ARGV[9], 'EX', ARGV[8])
end
return 1
