-- claim: fires the alerts of one ticker that a run of its ticks crosses, in
-- one atomic step in the ticker's slot. The alerts go to the ticker's outbox;
-- deliver.lua then gives each its position in its user's history. The same
-- script expires alerts (the repair sweep's expiry, ids given): each leaves
-- the index the same way and enters the outbox as an expired entry.
-- KEYS ticker_alerts:{<ticker>} alert_idx:{<ticker>}:above
--      alert_idx:{<ticker>}:below alerts_outbox:{<ticker>}
--      alert_idx:{<ticker>}:rearm_above alert_idx:{<ticker>}:rearm_below
--      alert_cool:{<ticker>}
-- ARGV max text_format ticker ticks expired_format percent_format
--      window_format [expire_ids],
--      text_format = the message text's format (ALERT_MSG_TEXT_FORMAT, message.h),
--      ticks = "price timestamp decimals " repeated, in their order (decimals:
--      the asset's, -1 when the tick did not say: then 2),
--      expired_format = ALERT_MSG_EXPIRED_FORMAT,
--      percent_format = ALERT_MSG_PERCENT_FORMAT,
--      window_format = ALERT_MSG_PERCENT_WINDOW_FORMAT,
--      expire_ids = "id id ... ": alerts to expire (only those whose expiry
--      has passed by Redis' clock; others are left alone)
-- -> {ticks_done, outbox_id, alert_id, user_id, payload, ...}
--
-- Per tick, in order: above fires when threshold < price, below when threshold >
-- price, each index read with ZRANGEBYSCORE ... LIMIT (O(log n + k)). A fired
-- alert leaves the index and ticker_alerts and enters the outbox as the alert
-- JSON without positions (what the history keeps). An alert whose expiry
-- (ticker_alerts: "user threshold cond [expires_at [c:<channels>] [note]]") has passed by
-- Redis' clock is not fired: it enters the outbox as expired instead (no scan:
-- only the k alerts the tick crosses are looked at). Numbers arrive as their
-- shortest round-trip text and are copied as they are; ticker (checked by the
-- caller), type and message (the format's constant part, the ticker, type and
-- numbers) need no JSON escaping; ids are escaped by cjson unless they are
-- plain [A-Za-z0-9_-]; the note is stored as its JSON string (written by the
-- webapp) and copied when it reads back as a string.
-- cond is the record's condition: "above" or "below" (the JSON of before,
-- byte for byte), "crosses:up|down" ("type":"crosses","direction":...) or
-- "percent_up|percent_down:<percent>:<reference>" ("type":...,"percent":...,
-- "reference_price":..., the percent message); the index it sits in decides
-- when it fires, the cond only what its JSON says.
-- "percent_up|percent_down:<percent>:w<window_s>" (a rolling window, issue
-- 18) is in its window's index (window.lua, prepended: keys of the ticker's
-- slot built from KEYS[1]'s hash tag). Per tick, each window in use (at most
-- the cap, ALERT_STORE_WINDOWS_MAX) takes the tick into its min and max
-- deques (amortised O(1)) and its two indexes are read with ZRANGEBYSCORE
-- ... LIMIT against price / low and price / high: still O(log n + k). Its
-- JSON adds "window_s" and "reference_price" (the low or high it fired
-- against), "threshold" being the level that low or high gave.
--
-- A repeating alert (token "r:<cooldown_s>:<fires>[:<cool_until>[:<fired_ts>]]" after the
-- channels', docs/key-schema.md "Repeating alerts") stays in ticker_alerts
-- when it fires: its fire count goes up by one (that count, "firing", is the
-- firing's identity down the chain), cool_until becomes now + cooldown_s and
-- it moves from its index to the re-arm set of the other side at the same
-- level (fired above T: rearm_below, crossed when price < T). When a tick
-- crosses it back (a tick not older than fired_ts, the timestamp of the tick that
-- fired it: one read again after an evaluator's crash is not the price going
-- back) it returns to its index if the cooldown is over, else it
-- waits in alert_cool scored by cool_until; each call first moves the due ones
-- of alert_cool back into their index (its first tick may fire them). Every
-- set is read by ZRANGEBYSCORE on the tick's price or on now: O(log n + k).
local max = tonumber(ARGV[1])
local text_format = ARGV[2]
local ticker = ARGV[3]
local expired_format = ARGV[5]
local percent_format = ARGV[6]
local window_format = ARGV[7]
local out = {0}
local n = 0
local REARM_BATCH = 1000 -- ids moved per ZRANGEBYSCORE (unpack's limit is ~8000)
local t = redis.call('TIME')
local now = tonumber(t[1])
local now_text = t[1] .. string.format('.%03d', math.floor(tonumber(t[2]) / 1000))

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

-- ',"note":<its JSON string>' when the record has a well-formed one, else ''.
local function jnote(note)
  if not note or string.sub(note, 1, 1) ~= '"' then return '' end
  local ok, v = pcall(cjson.decode, note)
  if not ok or type(v) ~= 'string' then return '' end
  return ',"note":' .. note
end

-- ',"channels":[...]' for a row's channel token (only set when they are
-- not the default, so that alerts without one keep their exact bytes).
local function jchannels(ch)
  if not ch then return '' end
  return ',"channels":["' .. (string.gsub(ch, ',', '","')) .. '"]'
end

-- A ticker_alerts row: user, threshold text and number, expiry (0: none),
-- note, cond, channels (nil: the default), repeat (nil: a one-shot alert;
-- else {cooldown = s, fires = n, cool_until = Unix s}).
local function parse(row)
  if not row then return nil end
  local user, thr, typ, exp, note = string.match(row, '^(%S+) (%S+) (%S+) ?(%d*) ?(.*)$')
  local tnum = thr and tonumber(thr)
  if not (user and tnum) then return nil end
  local ch, rest = string.match(note, '^c:([a-z,]+) ?(.*)$')
  if ch then note = rest end
  local rep
  local cool, fires, till, fts, after =
    string.match(note, '^r:(%d+):(%d+):?(%d*):?([%d.]*) ?(.*)$')
  if cool then
    rep = {cooldown = tonumber(cool), fires = tonumber(fires), cool_until = tonumber(till) or 0,
           fired_ts = fts ~= '' and fts or nil, fired_tnum = tonumber(fts)}
    note = after
  end
  return user, thr, tnum, tonumber(exp) or 0, note, typ, ch, rep
end

-- The row with its repeat token set to rep's values (the token is before the
-- note: the head matched holds no quote).
local function with_repeat(row, rep)
  local head, tail = string.match(row, '^([^"]- r):%d+:%d+:?%d*:?[%d.]*(.*)$')
  return head .. ':' .. rep.cooldown .. ':' .. rep.fires .. ':' .. rep.cool_until ..
    (rep.fired_ts and ':' .. rep.fired_ts or '') .. tail
end

-- The KEYS index of a cond's side: 2 above (above, crosses:up, percent_up),
-- 3 below.
local function side_of(cond)
  if cond == 'above' or string.find(cond, '^crosses:up$') or string.find(cond, '^percent_up:') then
    return 2
  end
  return 3
end

local function push(id, user, json)
  out[#out + 1] = redis.call('XADD', KEYS[4], '*', 'payload', json, 'user_id', user,
    'alert_id', id)
  out[#out + 1] = id
  out[#out + 1] = user
  out[#out + 1] = json
end

-- A cond: its type name, its JSON members from "type" on, and, for a
-- percent one, its percent and reference (text); nil when malformed.
local function condition(cond)
  if cond == 'above' or cond == 'below' then
    return cond, '"type":"' .. cond .. '"'
  end
  local dir = string.match(cond, '^crosses:(%a+)$')
  if dir == 'up' or dir == 'down' then
    return 'crosses', '"type":"crosses","direction":"' .. dir .. '"'
  end
  local w, _, wpct = win_of(cond)
  if w then
    local wtyp = string.match(cond, '^(percent_%a+):')
    return wtyp, '"type":"' .. wtyp .. '","percent":' .. jnum(wpct) .. ',"window_s":' .. w,
      wpct, nil, w
  end
  local typ, pct, ref = string.match(cond, '^(percent_%a+):([^:]+):([^:]+)$')
  if (typ == 'percent_up' or typ == 'percent_down') and tonumber(pct) and tonumber(ref) then
    return typ, '"type":"' .. typ .. '","percent":' .. jnum(pct) .. ',"reference_price":' ..
      jnum(ref), pct, ref
  end
  return nil
end

local function expired_json(id, user, thr, tnum, cond, exp, note, d)
  local typ, members = condition(cond)
  local msg = string.format(expired_format, ticker, typ, typed(tnum, d))
  return '{"alert_id":' .. jstr(id) .. ',"user_id":' .. jstr(user) ..
    ',"ticker":"' .. ticker .. '","threshold":' .. jnum(thr) .. ',' .. members ..
    ',"status":"expired","expires_at":' .. string.format('%d', exp) .. ',"timestamp":' ..
    now_text .. ',"message":"' .. msg .. '"' .. jnote(note) .. '}'
end

-- A window's length in words: "1h", "5min", "90s".
local function span(w)
  if w % 3600 == 0 then return string.format('%dh', w / 3600) end
  if w % 60 == 0 then return string.format('%dmin', w / 60) end
  return string.format('%ds', w)
end

-- The shortest text that reads back as x (like the thresholds' texts).
local function shortest(x)
  for k = 1, 17 do
    local s = string.format('%.' .. k .. 'g', x)
    if tonumber(s) == x then return s end
  end
  return string.format('%.17g', x)
end

-- The message text of a fired alert; side: the index's, "above" or "below".
local function text(typ, side, tnum, pnum, pct, ref, d, w)
  if w then
    local up = typ == 'percent_up'
    return string.format(window_format, ticker, up and 'up' or 'down', pct, span(w),
      up and 'low' or 'high', money(tonumber(ref), d), money(pnum, d))
  end
  if pct then
    return string.format(percent_format, ticker, typ == 'percent_up' and 'up' or 'down',
      pct, money(tonumber(ref), d), money(pnum, d))
  end
  return string.format(text_format, ticker, side, typed(tnum, d), money(pnum, d))
end

-- A repeating alert's firing, once more: its fire count and cooldown end in
-- its row, out of index k into the re-arm set of the other side. Returns the
-- JSON members that name the firing.
local function refire(id, row, rep, k, tnum, ts)
  local rearm = k == 2 and 6 or 5 -- the re-arm set of the other side
  rep.fires = rep.fires + 1
  rep.cool_until = now + rep.cooldown
  rep.fired_ts = string.match(ts, '^[%d.]+$') -- nil: no tick is then too old to re-arm it
  redis.call('HSET', KEYS[1], id, with_repeat(row, rep))
  redis.call('ZADD', KEYS[rearm], tnum, id)
  return ',"repeat":"every","cooldown_s":' .. rep.cooldown .. ',"firing":' .. rep.fires
end

-- k: the index's position in KEYS (2 above, 3 below), or nil for a
-- window's index (already left by the caller: win_fired); side its name;
-- win: the window's extreme (text) the ids fired against, or nil. A window
-- alert never repeats (the webapp refuses window_s with repeat every).
local function fire(k, ids, side, price, pnum, ts, d, win)
  local rows = redis.call('HMGET', KEYS[1], unpack(ids))
  if k then redis.call('ZREM', KEYS[k], unpack(ids)) end
  for i, id in ipairs(ids) do
    local user, thr, tnum, exp, note, cond, ch, rep = parse(rows[i])
    local typ, members, pct, ref, w
    if user then typ, members, pct, ref, w = condition(cond) end
    if typ and exp > 0 and exp <= now then
      redis.call('HDEL', KEYS[1], id)
      push(id, user, expired_json(id, user, thr, tnum, cond, exp, note, d))
    elseif typ then
      if w and win then
        ref = win
        thr = shortest(tonumber(win) * win_ratio(typ == 'percent_up' and 'up' or 'down', pct))
        members = members .. ',"reference_price":' .. jnum(win)
      end
      local msg = text(typ, side, tnum, pnum, pct, ref, d, win and w)
      local firing = ''
      if rep and k then
        firing = refire(id, rows[i], rep, k, tnum, ts)
      else
        redis.call('HDEL', KEYS[1], id)
      end
      push(id, user, '{"alert_id":' .. jstr(id) .. ',"user_id":' .. jstr(user) ..
        ',"ticker":"' .. ticker .. '","price":' .. price .. ',"threshold":' ..
        jnum(thr) .. ',' .. members .. firing .. ',"timestamp":' .. ts ..
        ',"message":"' .. msg .. '"' .. jnote(note) .. jchannels(ch) .. '}')
    else
      redis.call('HDEL', KEYS[1], id)
    end
  end
  n = n + #ids
end

-- Moves the ids of a re-arm set (KEYS[r]) a tick (timestamp tick_ts)
-- crossed back: into their index when their cooldown is over, else into
-- alert_cool until it is. A tick older than the one that fired an alert
-- leaves it where it is: that is a tick read again (an evaluator that died
-- before committing its offsets is followed by one that reads its ticks
-- again), not the price going back. Returns how many were left.
local function rearm(r, ids, tick_ts)
  local kept = 0
  for _, id in ipairs(ids) do
    local user, _, tnum, _, _, cond, _, rep = parse(redis.call('HGET', KEYS[1], id))
    if user and rep and rep.fired_tnum and tick_ts and tick_ts < rep.fired_tnum then
      kept = kept + 1
    else
      redis.call('ZREM', KEYS[r], id)
      if user and rep then
        if rep.cool_until <= now then
          local k = side_of(cond)
          redis.call('ZADD', KEYS[k], tnum, id)
        else
          redis.call('ZADD', KEYS[7], rep.cool_until, id)
        end
      end
    end
  end
  return kept
end

-- Moves the alerts whose cooldown is over from alert_cool into their index.
local function cooled()
  local ids
  repeat
    ids = redis.call('ZRANGEBYSCORE', KEYS[7], '-inf', now, 'LIMIT', 0, REARM_BATCH)
    if #ids > 0 then redis.call('ZREM', KEYS[7], unpack(ids)) end
    for _, id in ipairs(ids) do
      local user, _, tnum, _, _, cond = parse(redis.call('HGET', KEYS[1], id))
      if user then
        local k = side_of(cond)
        redis.call('ZADD', KEYS[k], tnum, id)
      end
    end
  until #ids < REARM_BATCH
end

-- The sweep's expiry: each id still armed here (in its index, or a repeating
-- one waiting in a re-arm or the cooldown set) and past its expiry.
local function expire(ids)
  for id in string.gmatch(ids, '(%S+)') do
    local user, thr, tnum, exp, note, cond = parse(redis.call('HGET', KEYS[1], id))
    if user and exp > 0 and exp <= now and condition(cond) then
      redis.call('HDEL', KEYS[1], id)
      for _, k in ipairs({2, 3, 5, 6, 7}) do redis.call('ZREM', KEYS[k], id) end
      win_unarm(id, cond)
      push(id, user, expired_json(id, user, thr, tnum, cond, exp, note, 2))
    end
  end
end

-- The ids of set k a tick at price crosses: above-side sets (the index
-- above, rearm_above) when level < price, the others when level > price.
local function crossed(k, price, limit, offset)
  if k == 2 or k == 5 then
    return redis.call('ZRANGEBYSCORE', KEYS[k], '-inf', '(' .. price, 'LIMIT', offset or 0, limit)
  end
  return redis.call('ZRANGEBYSCORE', KEYS[k], '(' .. price, '+inf', 'LIMIT', offset or 0, limit)
end

if ARGV[8] then expire(ARGV[8]) end

-- The cooldowns over by now, once: now is one for the whole call, and what
-- a tick puts in alert_cool ends after it.
if string.find(ARGV[4], '%S') then cooled() end

local done = 0
for price, ts, dec in string.gmatch(ARGV[4], '(%S+) (%S+) (%S+) ') do
  if n >= max then break end
  local pnum = tonumber(price)
  local d = tonumber(dec)
  if not d or d < 0 or d > 8 then d = 2 end
  local ids = crossed(2, price, max - n)
  if #ids > 0 then fire(2, ids, 'above', price, pnum, ts, d) end
  if n < max then
    ids = crossed(3, price, max - n)
    if #ids > 0 then fire(3, ids, 'below', price, pnum, ts, d) end
  end
  local tnum = tonumber(ts)
  for _, w in ipairs(win_list()) do
    local lo, hi = win_tick(w, pnum, tnum, ts .. ' ' .. price)
    if n < max then
      local up, down = win_crossed(w, pnum, lo, hi, max - n)
      if #up > 0 then
        win_fired(w, 'up', up)
        fire(nil, up, 'above', price, pnum, ts, d, string.match(lo, ' (%S+)$'))
      end
      if #down > 0 then
        win_fired(w, 'down', down)
        fire(nil, down, 'below', price, pnum, ts, d, string.match(hi, ' (%S+)$'))
      end
    end
  end
  if n >= max then break end
  for _, r in ipairs({5, 6}) do
    local kept = 0 -- left in the set by this tick: the next page starts after them
    repeat
      ids = crossed(r, price, REARM_BATCH, kept)
      if #ids > 0 then kept = kept + rearm(r, ids, tnum) end
    until #ids < REARM_BATCH
  end
  done = done + 1
end
out[1] = done
return out
