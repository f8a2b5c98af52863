#!/usr/bin/env python3
"""Users for the wrk API benchmark (standard library only).

  api_users.py cookies URL N OUT   GET / N times (keep-alive), one user_id
                                   cookie value per line into OUT
  api_users.py cleanup REDIS_HOST REDIS_PORT COOKIES
                                   deletes every alert of those users from
                                   the alert store (keys of common/alert_store.h),
                                   prints how many
"""
import http.client
import socket
import sys
import urllib.parse

CLEANUP_LUA = """
-- the bench's own Redis (one instance): crosses the users' and tickers' slots
local n = 0
for _, u in ipairs(ARGV) do
  local key = 'user_alerts:{' .. u .. '}'
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    local id, t = all[i], string.match(all[i + 1], '^(%S+)')
    if t then
      redis.call('ZREM', 'alert_idx:{' .. t .. '}:above', id)
      redis.call('ZREM', 'alert_idx:{' .. t .. '}:below', id)
      redis.call('HDEL', 'ticker_alerts:{' .. t .. '}', id)
    end
    n = n + 1
  end
  redis.call('DEL', key)
end
return n
"""


def cookies(url, n, out):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=10)
    values = []
    while len(values) < n:
        conn.request("GET", "/")
        r = conn.getresponse()
        r.read()
        for k, v in r.getheaders():
            if k.lower() == "set-cookie" and v.startswith("user_id="):
                values.append(v.split(";", 1)[0][len("user_id="):])
        if r.status != 200:
            raise SystemExit(f"GET / answered {r.status}")
    with open(out, "w", encoding="ascii") as f:
        f.write("\n".join(values) + "\n")


def resp_command(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def resp_read(f):
    line = f.readline()
    if line[:1] == b":":
        return int(line[1:])
    if line[:1] == b"-":
        raise SystemExit("redis: " + line[1:].decode().strip())
    raise SystemExit(f"redis: unexpected reply {line!r}")


def cleanup(host, port, path):
    with open(path, encoding="ascii") as f:
        users = [line.strip().split(".", 1)[0] for line in f if line.strip()]
    s = socket.create_connection((host, int(port)), timeout=30)
    f = s.makefile("rb")
    total = 0
    for i in range(0, len(users), 200):
        s.sendall(resp_command("EVAL", CLEANUP_LUA, 0, *users[i:i + 200]))
        total += resp_read(f)
    s.close()
    print(f"deleted {total} alerts of {len(users)} bench users")


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "cookies":
        cookies(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif len(sys.argv) == 5 and sys.argv[1] == "cleanup":
        cleanup(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
