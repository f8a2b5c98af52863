-- email_recipient: where the notifier mails a fired alert of the email
-- channel, in the user's slot: the confirmed address, within the user's
-- rate of alert mails. Counted once per alert (a retry of the same alert
-- is not a new mail), in a window that starts with its first mail.
-- KEYS user_email:{<user>} email_sent:{<user>}
-- ARGV alert id, max mails per window, window (s)
-- -> {'ok', addr} | {'none'} (no address) | {'unconfirmed'} | {'limited'}
local cur = redis.call('HMGET', KEYS[1], 'addr', 'confirmed')
if not cur[1] then return {'none'} end
if cur[2] ~= '1' then return {'unconfirmed'} end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 then
  if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[2]) then return {'limited'} end
  redis.call('SADD', KEYS[2], ARGV[1])
  if redis.call('TTL', KEYS[2]) < 0 then redis.call('EXPIRE', KEYS[2], tonumber(ARGV[3])) end
end
return {'ok', cur[1]}
