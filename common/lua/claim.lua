-- claim: fires the alerts of one ticker that a run of its ticks crosses, in
-- one atomic step in the ticker's slot. The alerts go to the ticker's outbox;
-- deliver.lua then gives each its position in its user's history.
-- KEYS ticker_alerts:{<ticker>} alert_idx:{<ticker>}:above
--      alert_idx:{<ticker>}:below alerts_outbox:{<ticker>}
-- ARGV max text_format ticker ticks,
--      text_format = the message text's format (ALERT_MSG_TEXT_FORMAT, message.h),
--      ticks = "price timestamp decimals " repeated, in their order (decimals:
--      the asset's, -1 when the tick did not say: then 2)
-- -> {ticks_done, outbox_id, alert_id, user_id, payload, ...}
--
-- Per tick, in order: above fires when threshold < price, below when threshold >
-- price, each index read with ZRANGEBYSCORE ... LIMIT (O(log n + k)). A fired
-- alert leaves the index and ticker_alerts and enters the outbox as the alert
-- JSON without positions (what the history keeps). Numbers arrive as their
-- shortest round-trip text and are copied as they are; ticker (checked by the
-- caller), type and message (the format's constant part, the ticker, type and
-- numbers) need no JSON escaping; ids are escaped by cjson unless they are
-- plain [A-Za-z0-9_-].
local max = tonumber(ARGV[1])
local text_format = ARGV[2]
local ticker = ARGV[3]
local out = {0}
local n = 0

local function jstr(s)
  if string.find(s, '^[%w_%-]+$') then return '"' .. s .. '"' end
  return cjson.encode(s)
end

-- The one number format (docs/number-format.md; fmtNum in app.js does the
-- same): d decimals, thousands separated by ','.
local function money(x, d)
  local s = string.format('%.' .. d .. 'f', x)
  local sign, int, frac = string.match(s, '^(%-?)(%d+)(.*)$')
  if not int then return s end
  int = string.reverse((string.gsub(string.reverse(int), '(%d%d%d)', '%1,')))
  if string.sub(int, 1, 1) == ',' then int = string.sub(int, 2) end
  return sign .. int .. frac
end

-- A threshold as the user typed it: the asset's decimals, or as many more
-- (up to 8) as it takes to show its value.
local function typed(x, d)
  for k = d, 8 do
    if tonumber(string.format('%.' .. k .. 'f', x)) == x then return money(x, k) end
  end
  return money(x, 8)
end

local function jnum(s)
  if string.match(s, '^%-?%d[%d%.eE%+%-]*$') then return s end
  return cjson.encode(tonumber(s))
end

-- k: the index's position in KEYS (2 above, 3 below)
local function fire(k, ids, typ, price, pnum, ts, d)
  local rows = redis.call('HMGET', KEYS[1], unpack(ids))
  redis.call('HDEL', KEYS[1], unpack(ids))
  redis.call('ZREM', KEYS[k], unpack(ids))
  for i, id in ipairs(ids) do
    local user, thr
    if rows[i] then user, thr = string.match(rows[i], '^(%S+) (%S+)') end
    local tnum = thr and tonumber(thr)
    if user and tnum then
      local msg = string.format(text_format, ticker, typ, typed(tnum, d), money(pnum, d))
      local json = '{"alert_id":' .. jstr(id) .. ',"user_id":' .. jstr(user) ..
        ',"ticker":"' .. ticker .. '","price":' .. price .. ',"threshold":' ..
        jnum(thr) .. ',"type":"' .. typ .. '","timestamp":' .. ts ..
        ',"message":"' .. msg .. '"}'
      out[#out + 1] = redis.call('XADD', KEYS[4], '*', 'payload', json, 'user_id', user,
        'alert_id', id)
      out[#out + 1] = id
      out[#out + 1] = user
      out[#out + 1] = json
    end
  end
  n = n + #ids
end

local done = 0
for price, ts, dec in string.gmatch(ARGV[4], '(%S+) (%S+) (%S+) ') do
  if n >= max then break end
  local pnum = tonumber(price)
  local d = tonumber(dec)
  if not d or d < 0 or d > 8 then d = 2 end
  local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. price, 'LIMIT', 0, max - n)
  if #ids > 0 then fire(2, ids, 'above', price, pnum, ts, d) end
  if n < max then
    ids = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. price, '+inf', 'LIMIT', 0, max - n)
    if #ids > 0 then fire(3, ids, 'below', price, pnum, ts, d) end
  end
  if n >= max then break end
  done = done + 1
end
out[1] = done
return out
