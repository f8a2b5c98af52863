-- claim: fires the alerts a batch of ticks crosses, in one atomic step.
-- KEYS alerts_outbox
-- ARGV max history_max history_ttl_s ticks text_format,
--      ticks = "TICKER price timestamp " repeated,
--      text_format = the message text's format (ALERT_MSG_TEXT_FORMAT, message.h)
-- -> {ticks_done, outbox_id, payload, user_id, ...}
--
-- Per tick, in order: above fires when threshold < price, below when threshold >
-- price, each index read with ZRANGEBYSCORE ... LIMIT (O(log n + k)). A fired alert
-- leaves every key and enters its user's history, the stream alert_events:{<user>}:
-- the id XADD gives that entry is the alert's position (evid.h), the resume token of
-- the user's streams. The alert JSON, with its position and the position of the
-- entry before it, goes to the outbox, which the evaluator publishes to Kafka.
-- Numbers arrive as their shortest round-trip text and are copied as they are;
-- ticker (checked by the caller), type and message (the format's constant part, the
-- ticker, type and numbers) need no JSON escaping; ids are escaped by cjson unless
-- they are plain [A-Za-z0-9_-].
local max = tonumber(ARGV[1])
local text_format = ARGV[5]
local out = {0}
local n = 0
local last, users = {}, {} -- user -> the newest position of their history

local function jstr(s)
  if string.find(s, '^[%w_%-]+$') then return '"' .. s .. '"' end
  return cjson.encode(s)
end

local function jnum(s)
  if string.match(s, '^%-?%d[%d%.eE%+%-]*$') then return s end
  return cjson.encode(tonumber(s))
end

-- Appends json to the user's history; returns its position and the one before.
local function append(user, id, json)
  local key = 'alert_events:{' .. user .. '}'
  local prev = last[user]
  if not prev then
    local top = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
    prev = top[1] and top[1][1] or '0-0'
    users[#users + 1] = user
  end
  local pos = redis.call('XADD', key, '*', 'alert_id', id, 'payload', json)
  last[user] = pos
  return pos, prev
end

local function fire(idx, ids, ticker, typ, price, pnum, ts)
  local keys, rows = {}, {}
  for i, id in ipairs(ids) do
    keys[i] = 'alert:' .. id
    local h = redis.call('HMGET', keys[i], 'user_id', 'threshold')
    local thr = h[2] and tonumber(h[2])
    if h[1] and thr then rows[#rows + 1] = {id, h[1], h[2], thr} end
  end
  redis.call('DEL', unpack(keys))
  redis.call('ZREM', idx, unpack(ids))
  redis.call('SREM', 'ticker_alerts:' .. ticker, unpack(ids))
  for _, r in ipairs(rows) do
    local id, user = r[1], r[2]
    redis.call('SREM', 'user_alerts:' .. user, id)
    local msg = string.format(text_format, ticker, typ, r[4], pnum)
    local json = '{"alert_id":' .. jstr(id) .. ',"user_id":' .. jstr(user) ..
      ',"ticker":"' .. ticker .. '","price":' .. price .. ',"threshold":' ..
      jnum(r[3]) .. ',"type":"' .. typ .. '","timestamp":' .. ts ..
      ',"message":"' .. msg .. '"'
    local pos, prev = append(user, id, json .. '}')
    json = json .. ',"event_id":"' .. pos .. '","prev_event_id":"' .. prev .. '"}'
    out[#out + 1] = redis.call('XADD', KEYS[1], '*', 'payload', json, 'user_id', user)
    out[#out + 1] = json
    out[#out + 1] = user
  end
  n = n + #ids
end

local done = 0
for ticker, price, ts in string.gmatch(ARGV[4], '(%S+) (%S+) (%S+) ') do
  if n >= max then break end
  local pnum = tonumber(price)
  local idx = 'alert_idx:' .. ticker .. ':above'
  local ids = redis.call('ZRANGEBYSCORE', idx, '-inf', '(' .. price, 'LIMIT', 0, max - n)
  if #ids > 0 then fire(idx, ids, ticker, 'above', price, pnum, ts) end
  if n < max then
    idx = 'alert_idx:' .. ticker .. ':below'
    ids = redis.call('ZRANGEBYSCORE', idx, '(' .. price, '+inf', 'LIMIT', 0, max - n)
    if #ids > 0 then fire(idx, ids, ticker, 'below', price, pnum, ts) end
  end
  if n >= max then break end
  done = done + 1
end
for _, user in ipairs(users) do -- trimmed once per user: cheaper than on every XADD
  local key = 'alert_events:{' .. user .. '}'
  redis.call('XTRIM', key, 'MAXLEN', ARGV[2])
  redis.call('EXPIRE', key, ARGV[3])
end
out[1] = done
return out
