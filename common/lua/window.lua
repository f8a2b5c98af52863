-- window: the rolling windows of percent alerts with "window_s" (issue 18),
-- prepended to arm.lua, claim.lua and disarm.lua when they are embedded
-- (common/CMakeLists.txt), so the three share one copy.
--
-- The keys of a ticker's windows are built here from the hash tag of KEYS[1]
-- (ticker_alerts:{T}): they are in the slot of the declared keys, which a
-- Redis Cluster serves on the same node, and which windows exist is data
-- (alert_windows:{T}), not known to the caller. slot_key is the one place a
-- key name is built in Lua (tests/common/test_lua_keys.py allows only it).
--   alert_windows:{T}         hash w -> number of armed alerts with window w
--   alert_idx:{T}:w<w>:up     sorted set id -> 1 + p/100 (fires when
--                             price / min_w >= score)
--   alert_idx:{T}:w<w>:down   sorted set id -> 1 - p/100 (fires when
--                             price / max_w <= score)
--   alert_win:{T}:<w>:min     list "time price", monotonic deque: prices
--                             rising from the front, the front the lowest of
--                             the last w seconds (tick timestamps)
--   alert_win:{T}:<w>:max     the same, falling: the front the highest
-- A window's history starts when its first alert is armed (seeded with the
-- reference price the webapp read, stamped with Redis' clock) and ends when
-- its last alert leaves (every key of the window deleted).
local win_tag = string.match(KEYS[1], '{[^}]*}')

local function slot_key(name, suffix)
  return name .. ':' .. win_tag .. suffix
end

-- A cond's window: w (number), its direction ('up' or 'down'), p (text);
-- nil for a cond without one.
local function win_of(cond)
  local typ, pct, w = string.match(cond or '', '^percent_(%a+):([^:]+):w(%d+)$')
  if (typ == 'up' or typ == 'down') and tonumber(pct) then return tonumber(w), typ, pct end
  return nil
end

-- The index score of a windowed alert: the ratio price / extreme at which
-- it fires.
local function win_ratio(dir, pct)
  if dir == 'up' then return 1 + tonumber(pct) / 100 end
  return 1 - tonumber(pct) / 100
end

-- Drops one armed alert from window w's count; the window's keys go with
-- its last alert.
local function win_release(w, k)
  local left = redis.call('HINCRBY', slot_key('alert_windows', ''), w, -k)
  if left <= 0 then
    redis.call('HDEL', slot_key('alert_windows', ''), w)
    redis.call('DEL', slot_key('alert_idx', ':w' .. w .. ':up'),
      slot_key('alert_idx', ':w' .. w .. ':down'), slot_key('alert_win', ':' .. w .. ':min'),
      slot_key('alert_win', ':' .. w .. ':max'))
  end
end

-- Removes id (its record's cond) from its window's index: 1 when it was
-- there (and then counted out of its window), else 0.
local function win_unarm(id, cond)
  local w, dir = win_of(cond)
  if not w then return 0 end
  local n = redis.call('ZREM', slot_key('alert_idx', ':w' .. w .. ':' .. dir), id)
  if n > 0 then win_release(w, n) end
  return n
end

-- Arms id in its window's index (idempotent: counted once). A new window
-- is refused when the ticker has max of them already: then the windows in
-- use, sorted, as "w w ..."; else nil.
local function win_arm(id, cond, seed, max, now)
  local w, dir, pct = win_of(cond)
  local idx = ':w' .. w .. ':' .. dir
  if redis.call('ZSCORE', slot_key('alert_idx', idx), id) then return nil end
  if redis.call('HEXISTS', slot_key('alert_windows', ''), w) == 0 and
      redis.call('HLEN', slot_key('alert_windows', '')) >= max then
    local ws = redis.call('HKEYS', slot_key('alert_windows', ''))
    table.sort(ws, function(a, b) return tonumber(a) < tonumber(b) end)
    return table.concat(ws, ' ')
  end
  if redis.call('HINCRBY', slot_key('alert_windows', ''), w, 1) == 1 then
    local entry = now .. ' ' .. seed
    redis.call('DEL', slot_key('alert_win', ':' .. w .. ':min'),
      slot_key('alert_win', ':' .. w .. ':max'))
    redis.call('RPUSH', slot_key('alert_win', ':' .. w .. ':min'), entry)
    redis.call('RPUSH', slot_key('alert_win', ':' .. w .. ':max'), entry)
  end
  redis.call('ZADD', slot_key('alert_idx', idx), string.format('%.17g', win_ratio(dir, pct)), id)
  return nil
end

-- The price of a deque entry "time price".
local function win_price(e)
  return tonumber(string.match(e, ' (%S+)$'))
end

-- The time of a deque entry.
local function win_time(e)
  return tonumber(string.match(e, '^(%S+)'))
end

-- One tick (price, time: numbers; entry: "time price") into window w's
-- deques: from the back drop what the tick makes irrelevant, push it, from
-- the front drop what is older than w seconds. Amortised O(1): every entry
-- is pushed once and popped at most once. A tick older than the newest
-- entry (read again after an evaluator crash, or stamped before the window
-- began) is left out: it would pop newer entries. Returns the front entries
-- of the min and the max deque (the window's low and high, the tick
-- included).
local function win_tick(w, pnum, tnum, entry)
  local kmin = ':' .. w .. ':min'
  local kmax = ':' .. w .. ':max'
  local back = redis.call('LINDEX', slot_key('alert_win', kmin), -1)
  if back and win_time(back) > tnum then
    return redis.call('LINDEX', slot_key('alert_win', kmin), 0),
      redis.call('LINDEX', slot_key('alert_win', kmax), 0)
  end
  while back and win_price(back) >= pnum do
    redis.call('RPOP', slot_key('alert_win', kmin))
    back = redis.call('LINDEX', slot_key('alert_win', kmin), -1)
  end
  redis.call('RPUSH', slot_key('alert_win', kmin), entry)
  back = redis.call('LINDEX', slot_key('alert_win', kmax), -1)
  while back and win_price(back) <= pnum do
    redis.call('RPOP', slot_key('alert_win', kmax))
    back = redis.call('LINDEX', slot_key('alert_win', kmax), -1)
  end
  redis.call('RPUSH', slot_key('alert_win', kmax), entry)
  local lo = redis.call('LINDEX', slot_key('alert_win', kmin), 0)
  while win_time(lo) < tnum - w do
    redis.call('LPOP', slot_key('alert_win', kmin))
    lo = redis.call('LINDEX', slot_key('alert_win', kmin), 0)
  end
  local hi = redis.call('LINDEX', slot_key('alert_win', kmax), 0)
  while win_time(hi) < tnum - w do
    redis.call('LPOP', slot_key('alert_win', kmax))
    hi = redis.call('LINDEX', slot_key('alert_win', kmax), 0)
  end
  return lo, hi
end

-- The windows in use on this ticker (at most the cap), as numbers.
local function win_list()
  local ws = redis.call('HKEYS', slot_key('alert_windows', ''))
  for i = 1, #ws do ws[i] = tonumber(ws[i]) end
  return ws
end

-- The alerts of window w that the tick fires, at most lim: ids of the up
-- index (price / low >= ratio) and of the down index (price / high <=
-- ratio).
local function win_crossed(w, pnum, lo, hi, lim)
  local up = redis.call('ZRANGEBYSCORE', slot_key('alert_idx', ':w' .. w .. ':up'), '-inf',
    string.format('%.17g', pnum / win_price(lo)), 'LIMIT', 0, lim)
  local down = {}
  if #up < lim then
    down = redis.call('ZRANGEBYSCORE', slot_key('alert_idx', ':w' .. w .. ':down'),
      string.format('%.17g', pnum / win_price(hi)), '+inf', 'LIMIT', 0, lim - #up)
  end
  return up, down
end

-- Takes fired ids out of window w's index (dir 'up' or 'down') and count.
local function win_fired(w, dir, ids)
  local n = redis.call('ZREM', slot_key('alert_idx', ':w' .. w .. ':' .. dir), unpack(ids))
  if n > 0 then win_release(w, n) end
end
