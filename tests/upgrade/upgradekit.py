"""What the upgrade fixture's generator (make_fixture.py) and the upgrade test
(test_upgrade.py) share, python3 standard library only:

  Redis              a small binary-safe RESP2 client: enough to dump and restore
                     every key exactly, without redis-cli's text quoting
  dump_keys(r)       every key of a Redis, type-aware, with its PTTL
  restore_keys(r, d) FLUSHALL, then the keys of a dump, byte for byte, TTLs included
  compare_dumps      what differs between a dump and a restored copy
  Sse                an SSE reader on its own thread (named events skipped)
  Daemon             a process started with its log in a file, stopped by its own pid
  produce, tick, topic_messages, count_by_alert_id, metric, wait_healthy,
  run_checked, pick_port
"""
import http.client
import json
import signal
import socket
import subprocess
import threading
import time

from testkit import HOST, SseParser  # tests/lib, on the path of every user of this module


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


# ---------------------------------------------------------------- processes

def port_free(port):
    s = socket.socket()
    try:
        s.bind((HOST, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def pick_port(base, taken=()):
    """The first port from base up that can be bound and is not in taken."""
    for port in range(base, base + 500):
        if port not in taken and port_free(port):
            return port
    raise RuntimeError(f"no free port in {base}..{base + 499}")


class Daemon:
    """A binary started with env, its output appended to logpath."""

    def __init__(self, name, argv, env, logpath):
        self.name = name
        self.logpath = logpath
        self.log = open(logpath, "ab")
        self.proc = subprocess.Popen(argv, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=20):
        """SIGTERM, then SIGKILL after timeout; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.log.close()


def run_checked(argv, timeout=120):
    """Runs argv to completion; raises with its output when it fails."""
    p = subprocess.run(argv, capture_output=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {p.returncode}: "
                           f"{(p.stdout + p.stderr).decode(errors='replace')[-500:]}")


def http_get(port, path, cookie=None, timeout=10):
    """(status, body bytes) of one GET; (0, b"") when nothing answers."""
    h = {"Cookie": f"user_id={cookie}"} if cookie else {}
    c = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        c.request("GET", path, headers=h)
        r = c.getresponse()
        return r.status, r.read()
    except (OSError, http.client.HTTPException):
        return 0, b""
    finally:
        c.close()


def wait_healthy(daemon, port, path, timeout=60):
    """Waits until GET path on port answers 200; raises if the process exits
    or the time runs out."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not daemon.alive():
            raise RuntimeError(f"{daemon.name} exited with {daemon.proc.returncode} "
                               f"(log {daemon.logpath})")
        if http_get(port, path, timeout=2)[0] == 200:
            return
        time.sleep(0.1)
    raise RuntimeError(f"{daemon.name} not healthy on :{port} within {timeout}s")


def metric(port, name):
    """The value of an unlabelled Prometheus metric, or None."""
    status, body = http_get(port, "/metrics", timeout=2)
    if status != 200:
        return None
    for line in body.decode(errors="replace").splitlines():
        k, _, v = line.rpartition(" ")
        if k == name:
            return float(v)
    return None


# ---------------------------------------------------------------- Kafka

def produce(boot, topic, lines):
    """lines: (key, value) pairs, published through one kcat."""
    p = subprocess.run(["kcat", "-b", boot, "-P", "-t", topic, "-K", "\t"],
                       input="".join(f"{k}\t{v}\n" for k, v in lines).encode(),
                       capture_output=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"kcat -P {topic}: {p.stderr.decode(errors='replace')[-300:]}")


def tick(ticker, price):
    return (ticker, json.dumps({"ticker": ticker, "price": price, "timestamp": time.time(),
                                "company": f"{ticker} (upgrade test)", "display_name": ticker,
                                "source": "sim"}))


def topic_messages(boot, topic):
    """Every message of topic from the beginning, JSON-decoded (others skipped)."""
    p = subprocess.run(["kcat", "-C", "-b", boot, "-t", topic, "-o", "beginning", "-e", "-q",
                        "-f", "%s\\n"], capture_output=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"kcat -C {topic}: {p.stderr.decode(errors='replace')[-300:]}")
    out = []
    for line in p.stdout.decode(errors="replace").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def count_by_alert_id(messages):
    counts = {}
    for m in messages:
        if isinstance(m, dict) and isinstance(m.get("alert_id"), str):
            counts[m["alert_id"]] = counts.get(m["alert_id"], 0) + 1
    return counts


# ---------------------------------------------------------------- SSE

class Sse:
    """An alert or price stream read on its own thread, as a browser's
    EventSource would: every event with data is kept, in order, as (id,
    decoded JSON); named events (heartbeat) and comments are skipped."""

    def __init__(self, port, path, cookie=None, last_event_id=None, timeout=30):
        self.conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
        h = {"Accept": "text/event-stream"}
        if cookie is not None:
            h["Cookie"] = f"user_id={cookie}"
        if last_event_id is not None:
            h["Last-Event-ID"] = str(last_event_id)
        self.conn.request("GET", path, headers=h)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.cond = threading.Condition()
        self.got = []
        self.ended = False
        if self.status == 200:
            threading.Thread(target=self._run, daemon=True).start()
        else:
            self.body = self.resp.read()
            self.ended = True

    def _add(self, ev):
        with self.cond:
            self.got.append(ev)
            self.cond.notify_all()

    def _run(self):
        parser = SseParser()
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    break
                ev = parser.line(line.decode().rstrip("\r\n"))
                if ev is None or ev["data"] is None or ev["event"] != "message":
                    continue
                try:
                    self._add((ev["id"], json.loads(ev["data"])))
                except ValueError:
                    self._add((ev["id"], {"_unparsed": ev["data"]}))
        except (OSError, http.client.HTTPException, ValueError, AttributeError):
            pass
        with self.cond:
            self.ended = True
            self.cond.notify_all()

    def events(self):
        """The events so far: a list of (id, obj)."""
        with self.cond:
            return list(self.got)

    def alert_ids(self):
        return [e.get("alert_id") for _, e in self.events()]

    def wait_for(self, pred, timeout):
        """Waits until pred(events) holds (True) or the stream ends or the time
        runs out (False)."""
        end = time.monotonic() + timeout
        with self.cond:
            while not pred(self.got):
                left = end - time.monotonic()
                if left <= 0 or self.ended:
                    return False
                self.cond.wait(left)
            return True

    def collect(self, until, timeout, quiet):
        """Events once until(events) holds and quiet more seconds have passed
        (to see duplicates); at most timeout seconds before that."""
        if self.wait_for(until, timeout):
            time.sleep(quiet)
        return self.events()

    def close(self):
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        except (OSError, AttributeError):
            pass
        self.conn.close()
