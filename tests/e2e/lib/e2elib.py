"""Shared helpers of the end-to-end tests (python3 stdlib only; the pytest
fixtures they use, e2e_stack and check, are in tests/conftest.py).

They run against the test stack that `./stack test` starts, which exports:
  E2E_BASE_URL      nginx, e.g. http://127.0.0.1:28080
  E2E_STATE         the test stack's state folder (conf/, log/, run/)
  E2E_WEBAPP_PORTS  the webapp replicas' ports, space-separated
  E2E_STACK         the stack script; with STACK_TEST_MODE=1 it acts on this stack
  TEST_KAFKA_BOOTSTRAP  the test Kafka
Every test makes its own users (fresh cookies from GET /), so tests never
see each other's alerts.

Source addresses: nginx limits each client address (cookie mints, writes,
streams), and Linux routes all of 127/8 to lo. So each simulated user
connects from an address of its own, derived from its cookie (a visitor
without one from a random one): the tests model separate households, and
the per-address limits bind only where a test means them to, by passing
source= (tests/e2e/limits_per_address.py floods from FLOOD_ADDR while a
user on PROBE_ADDR is served).
"""
import hashlib
import http.client
import json
import os
import queue
import random
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lib"))
import testkit  # noqa: E402

TIMEOUT = 15  # seconds for one API request: generous on a loaded 2-core machine


def nginx_address():
    """(host, port) of E2E_BASE_URL, or (None, None) when it is not set (the
    tests are then skipped: the e2e_stack fixture of tests/conftest.py)."""
    if not os.environ.get("E2E_BASE_URL"):
        return None, None
    u = urllib.parse.urlsplit(os.environ["E2E_BASE_URL"])
    return u.hostname, u.port or 80


HOST, PORT = nginx_address()
STATE = os.environ.get("E2E_STATE", "")
WEBAPP_PORTS = [int(p) for p in os.environ.get("E2E_WEBAPP_PORTS", "").split()]
KAFKA = os.environ.get("TEST_KAFKA_BOOTSTRAP", "127.0.0.1:29092")
STACK = os.environ.get("E2E_STACK") or os.path.join(
    os.environ.get("STACK_ROOT", os.path.join(os.path.dirname(__file__), "../../..")), "stack")


FLOOD_ADDR = "127.0.0.1"  # the address a test floods from (and chromium's)
PROBE_ADDR = "127.0.0.2"  # a real user next to the flood


def source_for(cookie=None):
    """The client address of a user: 127.100-199.x.y from the cookie, the
    same for every request of that user; a random one without a cookie (a
    first visit). None when nginx is not on a 127/8 address."""
    if not (HOST or "").startswith("127."):
        return None
    if cookie:
        h = hashlib.sha256(cookie.encode()).digest()
    else:
        h = random.randbytes(3)
    return f"127.{100 + h[0] % 100}.{h[1]}.{1 + h[2] % 254}"


def connection(port=None, cookie=None, source=None, timeout=TIMEOUT):
    """An HTTPConnection to nginx (or a replica's port) from the user's
    address (source, else source_for(cookie))."""
    src = source or source_for(cookie)
    return http.client.HTTPConnection(HOST, port or PORT, timeout=timeout,
                                      source_address=(src, 0) if src else None)


def request(method, path, cookie=None, body=None, headers=None, port=None, raw=None,
            source=None, timeout=TIMEOUT):
    """One request on a fresh connection to nginx (or a replica's port), from
    the user's address (see connection()); no client-side retry, so every
    failure counts. Raises OSError / HTTPException on transport errors."""
    h, raw = testkit.prepare(body, cookie or None, headers, raw)
    t0 = time.monotonic()
    c = connection(port, cookie, source, timeout)
    try:
        c.request(method, path, body=raw, headers=h)
        r = c.getresponse()
        data = r.read()
        return testkit.Resp(r.status, r.getheaders(), data, time.monotonic() - t0)
    finally:
        c.close()


def cookie_of(resp):
    """The user_id cookie an answer sets, or None."""
    for v in resp.all("Set-Cookie"):
        m = re.match(r"user_id=([^;]+)", v)
        if m:
            return m.group(1)
    return None


def new_user(source=None):
    """A fresh visitor: GET / without a cookie (from source, else a random
    address). Returns (cookie value, replica)."""
    r = request("GET", "/", source=source)
    assert r.status == 200, f"GET / answered {r.status}"
    cookie = cookie_of(r)
    assert cookie, "GET / set no user_id cookie"
    return cookie, r.header("X-Served-By")


def tickers():
    """{ticker: price} of the assets that have a price."""
    r = request("GET", "/api/tickers")
    assert r.status == 200, f"tickers: {r.status}"
    out = {}
    for t in r.json()["tickers"]:
        if t.get("price"):
            out[t["ticker"]] = float(t["price"])
    return out


def live_prices(want=("AAPL",), at_least=5, timeout=20):
    """tickers() once the simulated feed has priced `want` and at least
    `at_least` assets: a replica started a moment ago knows no price until
    each asset's next tick."""
    deadline = time.time() + timeout
    while True:
        got = {t: p for t, p in tickers().items() if not t.startswith(("E2E", "SYN"))}
        if (all(t in got for t in want) and len(got) >= at_least) or time.time() > deadline:
            return got
        time.sleep(0.3)


def replica_pid(i):
    """The pid of the test stack's webapp-i (from its pidfile), or None."""
    try:
        with open(os.path.join(STATE, "run", f"webapp-{i}.pid")) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def nginx_setting(pattern):
    """A number from the rendered nginx.conf of the test stack (group 1)."""
    text = open(os.path.join(STATE, "conf", "nginx.conf")).read()
    m = re.search(pattern, text)
    assert m, f"{pattern!r} not in the rendered nginx.conf"
    return int(m.group(1))


def stack(*args, timeout=300):
    """Runs the stack script against the test stack; returns (rc, output)."""
    env = dict(os.environ, STACK_TEST_MODE="1")
    p = subprocess.run([STACK, *args], env=env, capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout + p.stderr


def health_port(port):
    """200 when the service on port answers /health, else the status or 0."""
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        c.request("GET", "/health")
        status = c.getresponse().status
        c.close()
        return status
    except (OSError, http.client.HTTPException):
        return 0


def publish(topic, key, value):
    """Publishes one message with kcat (which sends what it reads from a pipe
    only at EOF, hence one process per message). Kafka's timestamp of the
    message (CreateTime, set by the producer as it sends) is the publish
    time; read it back with topic_times."""
    subprocess.run(["kcat", "-P", "-q", "-b", KAFKA, "-t", topic, "-K", "\t"],
                   input=f"{key}\t{value}\n".encode(), check=True, timeout=30)


def topic_times(topic, key, last=1000):
    """[(Kafka timestamp in seconds, value)] of key's messages among the last
    `last` of each partition."""
    out = subprocess.run(["kcat", "-C", "-q", "-e", "-b", KAFKA, "-t", topic, "-o", f"-{last}",
                          "-f", "%T\t%k\t%s\n"], capture_output=True, check=True,
                         timeout=60).stdout.decode()
    got = []
    for line in out.splitlines():
        parts = line.split("\t", 2)
        if len(parts) == 3 and parts[1] == key:
            got.append((int(parts[0]) / 1000, parts[2]))
    return got


def announce(*tickers, source="replay", interval_ms=1000, valid_ms=600000):
    """Puts made-up tickers in the webapps' asset universe (as a producer
    announces its assets) for ten minutes, for a test that then publishes
    their ticks: they leave the dashboard of the test stack after that."""
    for t in tickers:
        k, v = testkit.asset_record(t, source=source, interval_ms=interval_ms, valid_ms=valid_ms)
        publish(testkit.ASSETS_TOPIC, k, v)


def make_known(ticker, price=100.0, timeout=20):
    """Puts a made-up ticker in the universe (announce) with a first tick at
    price, and waits until every replica lists it: a set-alert on it is then
    accepted by whichever replica nginx picks. False on timeout."""
    announce(ticker)
    publish("stock-prices", ticker, tick_json(ticker, price))
    deadline = time.time() + timeout
    while time.time() < deadline:
        if all(request("GET", "/api/tickers", port=p).body.find(ticker.encode()) >= 0
               for p in WEBAPP_PORTS):
            return True
        time.sleep(0.2)
    return False


def tick_json(ticker, price):
    # "replay" is a source the webapp accepts and the dashboard shows as such.
    return json.dumps({"ticker": ticker, "price": price, "timestamp": time.time(),
                       "company": f"{ticker} test asset", "display_name": ticker,
                       "source": "replay"})


class Stream:
    """An EventSource-like SSE client on its own thread: it reconnects after
    `retry` ms when the server ends the stream, sending Last-Event-ID, as a
    browser does. Every data event is recorded with its arrival time;
    connection attempts that did not get 200 are recorded as failures."""

    def __init__(self, path, cookie=None, port=None, reconnect=True, name="", source=None):
        self.path, self.cookie, self.port = path, cookie, port
        self.source = source
        self.reconnect = reconnect
        self.name = name or path
        self.events = queue.Queue()  # (arrival, Unix time; id or None; data object)
        self.last_id = None
        self.retry_ms = 1000
        self.connects = 0        # 200 answers
        self.ends = 0            # streams the server ended (cleanly or not)
        self.failures = []       # (time, what) of attempts that did not get a stream
        self.served_by = []      # X-Served-By of each connection
        self.gaps = []           # (ended, reconnected) Unix times: the stream was down
        self._ended_at = None
        self.connected = threading.Event()
        self.live = False
        self._stop = False
        self._conn = None
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _open(self):
        c = connection(self.port, self.cookie, self.source, timeout=60)
        # As a browser: a stream that came back gzipped would not parse.
        h = {"Accept": "text/event-stream", "Accept-Encoding": "gzip, deflate"}
        if self.cookie:
            h["Cookie"] = f"user_id={self.cookie}"
        if self.last_id is not None:
            h["Last-Event-ID"] = self.last_id
        c.request("GET", self.path, headers=h)
        return c, c.getresponse()

    def _read(self, resp):
        parser = testkit.SseParser()
        while not self._stop:
            line = resp.readline()
            if not line:
                return
            ev = parser.line(line.decode().rstrip("\r\n"))
            if ev is None:
                continue
            if ev["data"] is not None and ev["event"] == "message":  # not a heartbeat
                try:
                    obj = json.loads(ev["data"])
                except ValueError:
                    obj = None
                self.events.put((time.time(), ev["id"], obj))
            if ev["id"] is not None:
                self.last_id = ev["id"]
            if ev["retry"] is not None:
                self.retry_ms = ev["retry"]

    def _run(self):
        while not self._stop:
            try:
                c, resp = self._open()
            except (OSError, http.client.HTTPException) as e:
                self.failures.append((time.time(), f"connect: {e!r}"))
                time.sleep(self.retry_ms / 1000)
                continue
            if resp.status != 200:
                self.failures.append((time.time(), f"status {resp.status}"))
                c.close()
                if not self.reconnect:
                    self.connected.set()
                    return
                time.sleep(self.retry_ms / 1000)
                continue
            with self._lock:
                self._conn = c
            self.connects += 1
            if self._ended_at is not None:
                self.gaps.append((self._ended_at, time.time()))
                self._ended_at = None
            self.served_by.append(resp.getheader("X-Served-By"))
            self.live = True
            self.connected.set()
            try:
                self._read(resp)
            except (OSError, http.client.HTTPException, ValueError):
                pass
            self.live = False
            c.close()
            if self._stop:
                return
            self.ends += 1
            self._ended_at = time.time()
            if not self.reconnect:
                return
            time.sleep(self.retry_ms / 1000)

    def take(self, timeout):
        """Next (arrival, id, obj) or None."""
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            return None

    def drain(self):
        out = []
        while True:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                return out

    def close(self):
        self._stop = True
        with self._lock:
            c = self._conn
        if c is not None and c.sock is not None:
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.thread.join(5)


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def ms(v):
    return f"{v * 1000:.1f} ms"


__all__ = ["request", "connection", "source_for", "cookie_of", "replica_pid", "FLOOD_ADDR",
           "PROBE_ADDR", "new_user", "tickers", "live_prices", "nginx_setting", "stack", "health_port",
           "publish", "announce", "topic_times", "tick_json", "Stream", "percentile", "ms", "statistics",
           "HOST", "PORT", "STATE", "WEBAPP_PORTS", "KAFKA", "STACK", "nginx_address", "testkit"]
