"""What the upgrade fixture's generator (make_fixture.py) and the upgrade test
(test_upgrade.py) share, python3 standard library only:

  Redis              a small binary-safe RESP2 client: enough to dump and restore
                     every key exactly, without redis-cli's text quoting
  dump_keys(r)       every key of a Redis, type-aware, with its PTTL
  restore_keys(r, d) FLUSHALL, then the keys of a dump, byte for byte, TTLs included
  compare_dumps      what differs between a dump and a restored copy
  produce, tick, topic_messages
                     the test Kafka, as both callers use it
and, from tests/lib/testkit.py (re-exported for both callers): Sse (testkit's
SseClient), Daemon, count_by_alert_id, metric, wait_healthy, run_checked,
pick_port.
"""
import json
import socket
import time

# tests/lib, on the path of every user of this module
from testkit import HOST, SseClient, kafka_messages, kafka_produce  # noqa: F401
from testkit import (Daemon, count_by_alert_id, http_get, metric, pick_port,  # noqa: F401
                     port_free, run_checked, wait_healthy)

Sse = SseClient  # an alert or price stream; events() leaves named events out


# ---------------------------------------------------------------- Redis

class RedisError(Exception):
    pass


class Redis:
    """One connection; call() sends a command and returns its reply: str for
    status replies, bytes for bulk strings, int, None, or a list of those.
    Raises RedisError for an error reply, OSError when the connection fails."""

    def __init__(self, host, port, timeout=10):
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.rf = self.sock.makefile("rb")

    def close(self):
        self.rf.close()
        self.sock.close()

    def call(self, *args):
        parts = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, str):
                a = a.encode()
            elif isinstance(a, int):
                a = str(a).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(parts))
        return self._read()

    def text(self, *args):
        """call() with bulk strings decoded (UTF-8), lists decoded recursively."""
        return _decode(self.call(*args))

    def _read(self):
        line = self.rf.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionError("redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.rf.read(n + 2)
            if len(data) != n + 2:
                raise ConnectionError("redis closed the connection")
            return data[:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RedisError(f"unexpected reply {line[:40]!r}")


def _decode(v):
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, list):
        return [_decode(x) for x in v]
    return v


def _pairs(flat):
    return [[flat[i], flat[i + 1]] for i in range(0, len(flat), 2)]


def dump_keys(r):
    """Every key of the database, sorted by name: a list of
    {"key", "type", "value", "pttl"} (pttl -1: no expiry). Values: string ->
    str; hash -> {field: value}; set -> sorted members; zset -> [[member,
    score text]] by rank; list -> items in order; stream -> {"entries": [[id,
    [field, value, ...]]], "last_id", "entries_added", "max_deleted_id"}.
    Raises RedisError for a type it cannot restore (or a stream with
    consumer groups)."""
    keys, cursor = set(), "0"
    while True:
        cursor, batch = r.text("SCAN", cursor, "COUNT", "1000")
        keys.update(batch)
        if cursor == "0":
            break
    out = []
    for k in sorted(keys):
        t = r.text("TYPE", k)
        if t == "string":
            v = r.text("GET", k)
        elif t == "hash":
            v = dict(_pairs(r.text("HGETALL", k)))  # field order kept
        elif t == "set":
            v = sorted(r.text("SMEMBERS", k))
        elif t == "zset":
            v = _pairs(r.text("ZRANGE", k, "0", "-1", "WITHSCORES"))
        elif t == "list":
            v = r.text("LRANGE", k, "0", "-1")
        elif t == "stream":
            info = dict(_pairs(r.text("XINFO", "STREAM", k)))
            if r.text("XINFO", "GROUPS", k):
                raise RedisError(f"{k}: streams with consumer groups are not dumped")
            v = {"entries": r.text("XRANGE", k, "-", "+"), "last_id": info["last-generated-id"],
                 "entries_added": info.get("entries-added"),
                 "max_deleted_id": info.get("max-deleted-entry-id")}
        else:
            raise RedisError(f"{k}: type {t} is not dumped")
        if k == "":
            raise RedisError("an empty key name")
        out.append({"key": k, "type": t, "value": v, "pttl": r.call("PTTL", k)})
    return out


def restore_keys(r, dump):
    """Empties the database (FLUSHALL) and writes every key of dump as it was:
    lists pushed in order, zsets with the same score text, streams entry by
    entry with their ids and their last id, TTLs set to what was left of
    them when the dump was taken."""
    r.call("FLUSHALL")
    for e in dump:
        k, t, v = e["key"], e["type"], e["value"]
        if t == "string":
            r.call("SET", k, v)
        elif t == "hash":
            r.call("HSET", k, *[x for kv in v.items() for x in kv])
        elif t == "set":
            r.call("SADD", k, *v)
        elif t == "zset":
            r.call("ZADD", k, *[x for m, s in v for x in (s, m)])
        elif t == "list":
            r.call("RPUSH", k, *v)
        elif t == "stream":
            for eid, fields in v["entries"]:
                r.call("XADD", k, eid, *fields)
            if not v["entries"]:  # an empty stream exists: make it, then empty it
                r.call("XADD", k, v["last_id"], "x", "x")
                r.call("XDEL", k, v["last_id"])
            if v.get("entries_added") is not None:
                r.call("XSETID", k, v["last_id"], "ENTRIESADDED", v["entries_added"],
                       "MAXDELETEDID", v["max_deleted_id"])
            else:
                r.call("XSETID", k, v["last_id"])
        else:
            raise RedisError(f"{k}: type {t} cannot be restored")
        if e["pttl"] > 0:
            r.call("PEXPIRE", k, e["pttl"])


def compare_dumps(want, got, ttl_slack_ms):
    """Differences (strings) between two dumps: same keys, types and values;
    a key that expired keeps expiring, with at most what it had left and no
    more than ttl_slack_ms less."""
    diffs = []
    w = {e["key"]: e for e in want}
    g = {e["key"]: e for e in got}
    for k in sorted(set(w) - set(g)):
        diffs.append(f"missing key {k}")
    for k in sorted(set(g) - set(w)):
        diffs.append(f"extra key {k}")
    for k in sorted(set(w) & set(g)):
        a, b = w[k], g[k]
        if a["type"] != b["type"] or a["value"] != b["value"]:
            diffs.append(f"{k}: {a['type']} {str(a['value'])[:200]} != "
                         f"{b['type']} {str(b['value'])[:200]}")
        if (a["pttl"] > 0) != (b["pttl"] > 0) or not (
                a["pttl"] - ttl_slack_ms <= b["pttl"] <= a["pttl"]):
            diffs.append(f"{k}: pttl {b['pttl']} for {a['pttl']}")
    return diffs


# ---------------------------------------------------------------- Kafka

def produce(boot, topic, lines):
    """lines: (key, value) pairs, published through one kcat."""
    kafka_produce(boot, topic, lines)


def tick(ticker, price):
    return (ticker, json.dumps({"ticker": ticker, "price": price, "timestamp": time.time(),
                                "company": f"{ticker} (upgrade test)", "display_name": ticker,
                                "source": "sim"}))


def topic_messages(boot, topic):
    """Every message of topic from the beginning, JSON-decoded (others skipped)."""
    out = []
    for line in kafka_messages(boot, topic):
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out
