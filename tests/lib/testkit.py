"""Helpers shared by the Python test suites (the webapp contract, notifier,
producer and upgrade tests, the end-to-end tests and the chaos harness):
python3 standard library only, so scripts without pytest (the chaos harness,
the upgrade fixture's generator) use them too. The pytest fixtures built on
them are in tests/conftest.py.

  mint_cookie(user, secret)  a user_id cookie signed the way the webapp signs it
  request(method, port, path, ...)
                             one HTTP request on a fresh connection -> Resp
  prepare(body, cookie, headers, raw)
                             the headers and bytes request() would send
  wait_until, free_port, port_open, port_free, pick_port
  SseParser                  EventSource's reading of an event stream, a line at a time
  SseClient                  one event stream read on its own thread
  Daemon, wait_healthy, http_get, metric, run_checked
                             a binary under test: started with env, log in a file
  kafka_produce, kafka_messages, count_by_alert_id
                             the test Kafka through kcat
  redis_ping, kafka_ping, services_from_env
                             are the test servers there (TEST_* variables)?
  kafka_topic_configs(server, topics), kafka_group_members(server, group)
                             a topic's configuration, a group's members, as one broker
                             describes them (kafka_request: one request, its KafkaReply)
  run_dashboard_test(base_url, artifacts, kafka)
                             tests/browser/dashboard.test.mjs against a stack's nginx
  pytest_main(path, args)    a suite file run as a script: pytest on that file
"""
import hashlib
import hmac
import http.client
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import weakref

HOST = "127.0.0.1"
COOKIE_LABEL = b"stock-alerts user_id v1:"


def mint_cookie(user, secret):
    mac = hmac.new(secret.encode(), COOKIE_LABEL + user.encode(), hashlib.sha256).hexdigest()
    return f"{user}.{mac}"


def wait_until(pred, timeout, step=0.2):
    """Polls pred() until it returns a truthy value (returned) or timeout (None)."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= end:
            return None
        time.sleep(step)


def free_port(host=HOST):
    s = socket.socket()
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def port_open(port, host=HOST):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def port_free(port, host=HOST):
    """Whether port can be bound on host now."""
    s = socket.socket()
    try:
        s.bind((host, port))
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


class Resp:
    """An HTTP answer. status 0 is used by callers for a transport error."""

    def __init__(self, status, headers, body, elapsed=0.0):
        self.status = status
        self.headers = headers
        self.body = body
        self.elapsed = elapsed

    def json(self):
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def header(self, name):
        vals = self.all(name)
        return vals[0] if vals else None


def prepare(body=None, cookie=None, headers=None, raw=None):
    """(headers, raw bytes) of a request: body is sent as JSON unless raw is given."""
    h = dict(headers or {})
    if cookie is not None:
        h["Cookie"] = f"user_id={cookie}"
    if raw is None and body is not None:
        raw = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    return h, raw


def request(method, port, path, body=None, cookie=None, headers=None, raw=None, timeout=10,
            host=HOST, chunked=False):
    """One request on a fresh connection (no retry, so every failure counts).
    Raises OSError / http.client.HTTPException on transport errors."""
    h, raw = prepare(body, cookie, headers, raw)
    t0 = time.monotonic()
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        if chunked:
            c.request(method, path, body=iter([raw]), headers=h, encode_chunked=True)
        else:
            c.request(method, path, body=raw, headers=h)
        r = c.getresponse()
        data = r.read()
        return Resp(r.status, r.getheaders(), data, time.monotonic() - t0)
    finally:
        c.close()


class SseParser:
    """What EventSource makes of an event stream, fed one line at a time
    (without its line break). line() returns the event a blank line ends, as
    a dict: "id" (the id field, or None), "event" (its type, "message" when
    unnamed), "data" (the data lines joined, None when there were none),
    "retry" (ms, or None), "comments" (the comment lines); else None.
    Callers keep an event's id even without data, as a browser does."""

    def __init__(self):
        self._new()

    def _new(self):
        self.cur = {"id": None, "event": "message", "data": None, "retry": None, "comments": []}
        self._data = []

    def line(self, line):
        if line == "":
            ev = self.cur
            if self._data:
                ev["data"] = "\n".join(self._data)
            self._new()
            return ev if (ev["data"] is not None or ev["id"] is not None or ev["comments"] or
                          ev["retry"] is not None) else None
        if line.startswith(":"):
            self.cur["comments"].append(line[1:].strip())
            return None
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            self._data.append(value)
        elif field == "id":
            self.cur["id"] = value
        elif field == "event":
            self.cur["event"] = value or "message"
        elif field == "retry" and value.isdigit():
            self.cur["retry"] = int(value)
        return None


class SseClient:
    """An event stream (GET path on HOST:port) read on its own thread, as a
    browser's EventSource reads it. Every event SseParser returns is kept in
    arrival order; two ways to read them:

      next_data, data_within, wait_comment
          consume events in order: the next one with data, decoded (with
          its id as "_id"), or the next comment
      events, alert_ids, wait_for, collect
          look at every data event so far as (id, decoded object; an
          undecodable one as {"_unparsed": data}), without consuming

    status is the answer's status; when it is not 200, body holds the answer
    and nothing is read. ended is set when the stream ends; clean_end tells
    whether the server ended it properly (its final chunk) rather than the
    connection failing."""

    def __init__(self, port, path, cookie=None, headers=None, last_event_id=None, timeout=30):
        self.conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
        h = {"Accept": "text/event-stream"}
        h.update(headers or {})
        if cookie is not None:
            h["Cookie"] = f"user_id={cookie}"
        if last_event_id is not None:
            h["Last-Event-ID"] = str(last_event_id)
        self.conn.request("GET", path, headers=h)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.cond = threading.Condition()
        self._all = []       # every event, in order
        self._pos = 0        # what next_data / wait_comment consumed
        self._end_told = False
        self.ended = threading.Event()
        self.clean_end = False
        if self.status == 200:
            threading.Thread(target=self._run, daemon=True).start()
        else:
            self.body = self.resp.read()
            self.ended.set()

    def _run(self):
        parser = SseParser()
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    self.clean_end = True
                    break
                ev = parser.line(line.decode().rstrip("\r\n"))
                if ev is not None:
                    with self.cond:
                        self._all.append(ev)
                        self.cond.notify_all()
        except (OSError, http.client.HTTPException, ValueError, AttributeError):
            pass
        with self.cond:
            self.ended.set()
            self.cond.notify_all()

    def _next(self, deadline):
        """The next unconsumed event; None at the deadline, and once when
        the stream has ended and every event was consumed (after that, None
        at the deadline: a reader polling until then does not spin)."""
        with self.cond:
            while True:
                if deadline - time.time() <= 0:
                    return None
                if self._pos < len(self._all):
                    self._pos += 1
                    return self._all[self._pos - 1]
                if self.ended.is_set() and not self._end_told:
                    self._end_told = True
                    return None
                self.cond.wait(deadline - time.time())

    def next_data(self, timeout):
        """The next event with data (JSON-decoded, with its id), or None."""
        deadline = time.time() + timeout
        while True:
            ev = self._next(deadline)
            if ev is None:
                return None
            if ev["data"] and ev["event"] == "message":
                obj = json.loads(ev["data"])
                if isinstance(obj, dict) and ev["id"] is not None:
                    obj["_id"] = ev["id"]
                return obj

    def data_within(self, seconds):
        """Every next_data() of the coming seconds."""
        got = []
        end = time.time() + seconds
        while time.time() < end:
            d = self.next_data(end - time.time())
            if d is not None:
                got.append(d)
        return got

    def wait_comment(self, text, timeout):
        """Whether a comment line `: text` comes within timeout."""
        deadline = time.time() + timeout
        while True:
            ev = self._next(deadline)
            if ev is None:
                return False
            if text in ev["comments"]:
                return True

    def events(self):
        """The data events so far (named ones such as heartbeats left out):
        a list of (id, obj)."""
        with self.cond:
            evs = list(self._all)
        out = []
        for ev in evs:
            if ev["data"] is None or ev["event"] != "message":
                continue
            try:
                out.append((ev["id"], json.loads(ev["data"])))
            except ValueError:
                out.append((ev["id"], {"_unparsed": ev["data"]}))
        return out

    def alert_ids(self):
        return [e.get("alert_id") for _, e in self.events()]

    def wait_for(self, pred, timeout):
        """Waits until pred(events()) holds (True), or the stream ends or the
        time runs out (False)."""
        end = time.monotonic() + timeout
        with self.cond:
            while not pred(self.events()):
                left = end - time.monotonic()
                if left <= 0 or self.ended.is_set():
                    return False
                self.cond.wait(left)
            return True

    def collect(self, until, timeout, quiet):
        """events() once until(events) holds and quiet more seconds have
        passed (to see duplicates); at most timeout seconds before that."""
        if self.wait_for(until, timeout):
            time.sleep(quiet)
        return self.events()

    def close(self):
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        except (OSError, AttributeError):
            pass
        self.conn.close()


# ---------------------------------------------------------------- processes

_DAEMONS = weakref.WeakSet()


class Daemon:
    """A binary started with env, its output appended to logpath. Every
    Daemon still running when the test session ends is killed
    (kill_leftovers), so a failed test leaves no process behind."""

    def __init__(self, name, argv, env, logpath):
        self.name = name
        self.logpath = logpath
        self.log = open(logpath, "ab")
        self.proc = subprocess.Popen(argv, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        _DAEMONS.add(self)

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


def kill_leftovers():
    """Kills every Daemon of this process that still runs (only those: each
    by its own pid)."""
    for d in list(_DAEMONS):
        d.kill()


def run_checked(argv, timeout=120):
    """Runs argv to completion; raises with its output when it fails."""
    p = subprocess.run(argv, capture_output=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {p.returncode}: "
                           f"{(p.stdout + p.stderr).decode(errors='replace')[-500:]}")


def http_get(port, path, cookie=None, timeout=10, host=HOST):
    """(status, body bytes) of one GET; (0, b"") when nothing answers."""
    h = {"Cookie": f"user_id={cookie}"} if cookie else {}
    c = http.client.HTTPConnection(host, port, timeout=timeout)
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

ASSETS_TOPIC = "stock-assets"  # CONTRACT_TOPIC_ASSETS (common/contract.h)


def asset_record(ticker, source="replay", interval_ms=1000, valid_ms=3600000, company=None,
                 published_at=None):
    """(key, value) of the asset topic putting ticker in the webapps'
    universe for valid_ms, as a producer announces it
    (docs/asset-universe.md): what a test that publishes its own ticks for
    a made-up ticker announces first. (ticker, None) is not a record: use
    asset_tombstone to take one out."""
    return (ticker, json.dumps({
        "ticker": ticker, "company": company or f"{ticker} test asset", "display_name": ticker,
        "source": source, "interval_ms": interval_ms, "valid_ms": valid_ms,
        "published_at": time.time() if published_at is None else published_at},
        separators=(",", ":")))


def asset_tombstone(boot, topic, ticker, timeout=30):
    """Takes ticker out of the universe: a record with a null value."""
    subprocess.run(["kcat", "-b", boot, "-P", "-t", topic, "-K", "\t", "-Z"],
                   input=f"{ticker}\t\n".encode(), check=True, timeout=timeout)


def kafka_produce(boot, topic, lines, per_second=None, chunk=1000, timeout=60):
    """lines: (key, value) pairs, published in order through one kcat; with
    per_second, at about that many messages a second (chunk at a time).
    Raises RuntimeError when kcat fails or takes more than timeout seconds
    to finish once its input is closed."""
    with tempfile.TemporaryFile() as err:  # a file: kcat never blocks on it
        p = subprocess.Popen(["kcat", "-b", boot, "-P", "-t", topic, "-K", "\t"],
                             stdin=subprocess.PIPE, stderr=err)
        t0 = time.time()
        try:
            for i in range(0, len(lines), chunk):
                p.stdin.write("".join(f"{k}\t{v}\n" for k, v in lines[i:i + chunk]).encode())
                p.stdin.flush()
                ahead = t0 + (i + chunk) / per_second - time.time() if per_second else 0
                if ahead > 0:
                    time.sleep(ahead)
            p.stdin.close()
            rc = p.wait(timeout=timeout)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        if rc != 0:
            err.seek(0)
            raise RuntimeError(f"kcat -P {topic}: exit {rc}: "
                               f"{err.read().decode(errors='replace')[-300:]}")


def kafka_messages(boot, topic, fmt="%s\\n"):
    """The text kcat prints for every message of topic from the beginning,
    one line each in fmt (kcat -f). Raises RuntimeError when kcat fails."""
    p = subprocess.run(["kcat", "-C", "-b", boot, "-t", topic, "-o", "beginning", "-e", "-q",
                        "-f", fmt], capture_output=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"kcat -C {topic}: {p.stderr.decode(errors='replace')[-300:]}")
    return p.stdout.decode(errors="replace").splitlines()


def count_by_alert_id(messages):
    """{alert_id: how often} of the decoded messages that carry one."""
    counts = {}
    for m in messages:
        if isinstance(m, dict) and isinstance(m.get("alert_id"), str):
            counts[m["alert_id"]] = counts.get(m["alert_id"], 0) + 1
    return counts


# ---------------------------------------------------------------- the test servers

def services_from_env(env=None):
    """(Kafka bootstrap, Redis host, Redis port) from TEST_KAFKA_BOOTSTRAP,
    TEST_REDIS_HOST and TEST_REDIS_PORT (what `./stack test` exports); each
    None when unset or empty."""
    env = os.environ if env is None else env
    return (env.get("TEST_KAFKA_BOOTSTRAP") or None, env.get("TEST_REDIS_HOST") or None,
            env.get("TEST_REDIS_PORT") or None)


def redis_ping(host, port, timeout=2):
    """None when a Redis at host:port answers PING, else what went wrong."""
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            reply = s.recv(64)
    except (OSError, ValueError) as e:
        return f"no Redis at {host}:{port}: {e}"
    if not reply.startswith(b"+PONG"):
        return f"{host}:{port} answered PING with {reply[:40]!r}"
    return None


def _recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed by the peer")
        data += chunk
    return data


def kafka_ping(bootstrap, timeout=3):
    """None when a broker of bootstrap ("host:port,...") answers a Kafka
    ApiVersions request, else what went wrong with each."""
    errors = []
    for server in bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=timeout) as s:
                client = b"stock-alerts-tests"
                # ApiVersions (key 18) v0, correlation id 7; a broker that
                # no longer takes v0 still answers, with error 35.
                body = struct.pack(">hhih", 18, 0, 7, len(client)) + client
                s.sendall(struct.pack(">i", len(body)) + body)
                size = struct.unpack(">i", _recv_exact(s, 4))[0]
                corr, err = struct.unpack(">ih", _recv_exact(s, size)[:6])
        except (OSError, ValueError, struct.error) as e:
            errors.append(f"{server}: {e}")
            continue
        if corr == 7 and err in (0, 35):
            return None
        errors.append(f"{server}: not a Kafka answer (correlation {corr}, error {err})")
    return f"no Kafka broker answers at {bootstrap}: " + "; ".join(errors)


def _kstr(b):
    return struct.pack(">h", len(b)) + b


class KafkaReply:
    """A Kafka response body read in order: take(fmt) a struct field,
    string() a nullable string, blob() skips nullable bytes."""

    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.data, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return v

    def string(self):
        n = self.take(">h")
        if n < 0:
            return None
        self.pos += n
        return self.data[self.pos - n:self.pos].decode(errors="replace")

    def blob(self):
        n = self.take(">i")
        self.pos += max(n, 0)


def kafka_request(server, api_key, version, corr, payload, timeout=5):
    """Sends one request (header with client id "stock-alerts-tests", then
    payload) to the broker at server ("host:port"); its response as a
    KafkaReply past the correlation id."""
    host, _, port = server.rpartition(":")
    body = struct.pack(">hhi", api_key, version, corr) + _kstr(b"stock-alerts-tests") + payload
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(struct.pack(">i", len(body)) + body)
        r = KafkaReply(_recv_exact(s, struct.unpack(">i", _recv_exact(s, 4))[0]))
    r.take(">i")  # correlation id
    return r


def kafka_topic_configs(server, topics, timeout=5):
    """{topic: {name: (value, source)}} as the broker at server ("host:port")
    describes the topics (DescribeConfigs v1; source 1 is a topic's own
    setting, 4 and 5 the broker's, 3 a dynamic broker default). Raises
    RuntimeError naming the topic when the broker answers with an error."""
    body = struct.pack(">i", len(topics))
    for t in topics:
        body += struct.pack(">b", 2) + _kstr(t.encode()) + struct.pack(">i", -1)
    body += struct.pack(">?", False)
    r = kafka_request(server, 32, 1, 11, body, timeout)
    r.take(">i")  # throttle time
    out = {}
    for _ in range(r.take(">i")):
        err, msg, _, name = r.take(">h"), r.string(), r.take(">b"), r.string()
        if err:
            raise RuntimeError(f"DescribeConfigs {name}: error {err} {msg or ''}")
        cfg = out[name] = {}
        for _ in range(r.take(">i")):
            key, value, _, source, _ = (r.string(), r.string(), r.take(">?"), r.take(">b"),
                                        r.take(">?"))
            for _ in range(r.take(">i")):  # synonyms (none asked for)
                r.string(), r.string(), r.take(">b")
            cfg[key] = (value, source)
    return out


def kafka_group_members(server, group, timeout=5):
    """(state, [client ids]) of a consumer group as the broker at server
    ("host:port", the group's coordinator: a single broker is) describes it
    (DescribeGroups v1). Raises RuntimeError on an error code."""
    r = kafka_request(server, 15, 1, 21, struct.pack(">i", 1) + _kstr(group.encode()), timeout)
    r.take(">i")  # throttle time (v1)
    assert r.take(">i") == 1
    err, _, state, _, _ = r.take(">h"), r.string(), r.string(), r.string(), r.string()
    if err:
        raise RuntimeError(f"DescribeGroups {group}: error {err}")
    members = []
    for _ in range(r.take(">i")):
        _, client_id, _ = r.string(), r.string(), r.string()
        r.blob()
        r.blob()
        members.append(client_id)
    return state, members


def run_dashboard_test(base_url, artifacts, kafka):
    """Runs tests/browser/dashboard.test.mjs (Debian's chromium, headless;
    playwright-core installed first) against base_url, screenshots into
    artifacts, test assets announced and ticked on the Kafka at kafka
    ("host:port,..."); (exit status, output tail)."""
    browser = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "browser")
    subprocess.run([os.path.join(browser, "install.sh")], check=True, timeout=600)
    env = dict(os.environ, E2E_BASE_URL=base_url, E2E_ARTIFACTS=str(artifacts),
               TEST_KAFKA_BOOTSTRAP=kafka)
    p = subprocess.run(["node", os.path.join(browser, "dashboard.test.mjs")],
                       env=env, capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout[-3000:] + p.stderr[-2000:]


# ---------------------------------------------------------------- running a suite

# Interpreters tried when the one running a suite has no pytest (a pyenv
# python3 first on PATH, say): Debian's, which python3-pytest serves.
PYTEST_FALLBACKS = ("/usr/bin/python3",)


def scenario_main(path, bins, argv):
    """pytest_main for a suite that keeps its former command line: BIN...
    SCENARIO [pytest arguments], one BIN per name of bins (each becomes
    --bin=NAME=PATH), SCENARIO the test_<SCENARIO> to run. Any other
    command line is pytest's."""
    args, n = list(argv), len(bins)
    if len(args) > n and not args[0].startswith("-"):
        path = f"{path}::test_{args[n]}"
        args = [f"--bin={b}={a}" for b, a in zip(bins, args[:n])] + args[n + 1:]
    return pytest_main(path, args)


def pytest_main(path, args=()):
    """pytest on the suite file path with args; returns its exit status. For
    `if __name__ == "__main__": sys.exit(testkit.pytest_main(__file__, ...))`
    in a suite that is also run as a script. Without pytest here, runs it
    with an interpreter that has it (this process is replaced)."""
    try:
        import pytest
    except ImportError:
        for py in PYTEST_FALLBACKS:
            if (os.path.realpath(py) != os.path.realpath(sys.executable) and
                    subprocess.run([py, "-c", "import pytest"],
                                   capture_output=True).returncode == 0):
                os.execv(py, [py, "-m", "pytest", path, *args])
        print(f"{path}: pytest is not installed (Debian: python3-pytest; ./stack install)",
              file=sys.stderr)
        return 2
    return pytest.main([path, *args])
