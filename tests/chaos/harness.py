"""Chaos harness: the private stock-alerts stack of the chaos suite (Redis
with AOF, the KRaft broker, the daemons, two webapp replicas and nginx),
started by ./stack in the `chaos` topology of stack.services (its ports, its
state folder), plus the instruments the scenarios count with: a tick feeder,
an HTTP client, a webhook receiver, an SMTP server and the notifier log.

Python standard library only. Every process started here is stopped at exit.
"""
import ctypes
import email
import email.parser
import email.policy
import hashlib
import hmac
import http.client as httpc
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import testkit  # noqa: E402
from testkit import HOST, Resp, mint_cookie, port_open, prepare, request, wait_until  # noqa: E402,F401,E501


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STACK_SCRIPT = os.path.join(ROOT, "stack")

# Variables of the caller that would change how the chaos daemons are
# configured: the chaos topology of stack.services says what they get.
_DROPPED_PREFIXES = ("TOPIC_", "NOTIFIER_", "CONSUMER_", "GROUP_", "SSE_", "WEBAPP_")
_DROPPED = ("COOKIE_SECRET", "STACK_TEST_MODE", "STACK_TOPOLOGY", "KAFKA_LOG_LEVEL")


def stack_env(state=None, extra=None):
    """The environment of ./stack for the chaos stack: the caller's, less what
    would change the daemons' configuration, on the chaos topology
    (CHAOS_PORT_OFFSET moves its ports), in the state folder given."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(_DROPPED_PREFIXES) and k not in _DROPPED}
    env.update({"STACK_TOPOLOGY": "chaos", "KAFKA_PARTITIONS": "6",
                "STACK_HEALTH_TIMEOUT": "90"})
    if state:
        env["STACK_CHAOS_STATE"] = state
    env.update(extra or {})
    return env


def stack_ports():
    """({name: first port}, names ./stack starts in `up`), from `./stack ports`
    on the chaos topology; Kafka's controller port as "kafka-controller"."""
    r = subprocess.run([STACK_SCRIPT, "ports"], env=stack_env(), capture_output=True, text=True,
                       timeout=60)
    if r.returncode != 0:
        raise SystemExit(f"./stack ports (chaos topology) failed: {r.stderr.strip()}")
    ports, base = {}, []
    for line in r.stdout.splitlines():
        name, plist, *kind = line.split()
        nums = [int(x) for x in plist.split(",")]
        ports[name] = nums[0]
        if name == "kafka":
            ports["kafka-controller"] = nums[1]
        if not kind:
            base.append(name)
    return ports, base


# Ports of the chaos stack and of the harness's own processes (the extern
# services of stack.services): chaos topology, +22000 and CHAOS_PORT_OFFSET.
PORTS, BASE_SERVICES = stack_ports()


# The members of the group alert-evaluators (consumer-c only once a scenario
# started it: Stack.add_third_evaluator).
EVALUATORS = ("consumer-a", "consumer-b", "consumer-c")


class ChaosError(Exception):
    """A setup step failed (not a scenario verdict)."""


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------- HTTP

def http(method, port, path, body=None, cookie=None, headers=None, timeout=10, raw=None):
    """One request on a fresh connection. Returns Resp; status 0 on a
    connection error or timeout (body holds the reason)."""
    t0 = time.monotonic()
    try:
        return request(method, port, path, body=body, cookie=cookie, headers=headers, raw=raw,
                       timeout=timeout)
    except (OSError, httpc.HTTPException) as e:
        return Resp(0, [], str(e).encode(), time.monotonic() - t0)


class Client:
    """A keep-alive HTTP client for many requests to one port (one thread)."""

    def __init__(self, port, timeout=10):
        self.port = port
        self.timeout = timeout
        self.conn = None

    def request(self, method, path, body=None, cookie=None, headers=None, raw=None):
        h, raw = prepare(body, cookie, headers, raw)
        for attempt in range(2):
            if self.conn is None:
                self.conn = httpc.HTTPConnection(HOST, self.port, timeout=self.timeout)
            t0 = time.monotonic()
            try:
                self.conn.request(method, path, body=raw, headers=h)
                r = self.conn.getresponse()
                data = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.close()
                return Resp(r.status, r.getheaders(), data, time.monotonic() - t0)
            except (OSError, httpc.HTTPException) as e:
                self.close()
                if attempt == 1:
                    return Resp(0, [], str(e).encode(), time.monotonic() - t0)
        return Resp(0, [], b"unreachable", 0)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# ---------------------------------------------------------------- processes

def become_subreaper():
    """Makes this process the reaper of its orphaned descendants, so that the
    daemons ./stack starts (and leaves) are its children: it sees how each one
    ended (waitpid), as when it started them itself."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
            raise OSError(ctypes.get_errno(), "prctl")
    except (OSError, AttributeError) as e:
        log(f"warning: not a subreaper ({e}): exit codes of the stack's processes are unknown")


def _running(pid):
    """True when pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


class Service:
    """A process of the chaos stack that ./stack runs: started by `./stack
    start`, signalled through the pid of its pidfile. The same API as Proc, so
    scenarios kill, stop and restart either alike."""

    def __init__(self, stack, name):
        self.stack = stack
        self.name = name
        self.logfile = stack.logpath(name)
        self.pidfile = os.path.join(stack.state, "run", f"{name}.pid")
        self.starts = 0
        self.expected_down = False  # set while a scenario kills it on purpose
        self._pid = None
        self.returncode = None  # how the last process ended (negative: signal)

    def adopt(self):
        """Takes the process ./stack started (up) as this service's."""
        self._pid = self._read_pid()
        self.returncode = None
        self.starts += 1
        return self

    def _read_pid(self):
        try:
            with open(self.pidfile) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def start(self):
        """`./stack start --no-wait NAME`: returns once the process runs (not
        yet healthy). A failure shows in alive() and in the log."""
        r = self.stack.ctl("start", "--no-wait", self.name, check=False)
        if r.returncode != 0:
            log(f"./stack start {self.name} failed: {r.stdout.strip()[-500:]}")
        return self.adopt()

    @property
    def pid(self):
        return self._pid

    def _reap(self, block=False):
        if self._pid is None or self.returncode is not None:
            return
        try:
            pid, status = os.waitpid(self._pid, 0 if block else os.WNOHANG)
        except ChildProcessError:  # not ours (no subreaper): /proc tells
            if block:
                wait_until(lambda: not _running(self._pid), 10, 0.02)
            if not _running(self._pid):
                self.returncode = -1
            return
        if pid:
            self.returncode = os.waitstatus_to_exitcode(status)

    def poll(self):
        """None while it runs (or never ran), else its exit code."""
        self._reap()
        return self.returncode

    def alive(self):
        self._reap()
        return self._pid is not None and self.returncode is None

    def exited(self):
        """True when it ran and has ended."""
        return self.poll() is not None

    def signal(self, sig):
        if self.alive():
            os.kill(self._pid, sig)

    def kill9(self):
        """SIGKILL (a crash) and reap."""
        if self.alive():
            os.kill(self._pid, signal.SIGKILL)
            self._reap(block=True)

    def stop(self, timeout=15):
        """`./stack stop NAME` (SIGTERM, SIGKILL after 15 s; a stopped process
        is continued first). Returns the exit code (None if not running)."""
        if not self.alive():
            return None
        os.kill(self._pid, signal.SIGCONT)
        self.stack.ctl("stop", self.name, check=False)
        self._reap(block=True)
        return self.returncode

    def check_exit(self):
        """True while running."""
        return self.alive()


class Proc:
    """One of the harness's own processes (the extern services of
    stack.services: ASan daemons, the black-hole evaluator, the full-disk
    webapp): started in its own session, logs appended."""

    def __init__(self, name, argv, env, logfile):
        self.name = name
        self.argv = argv
        self.env = env
        self.logfile = logfile
        self.popen = None
        self.starts = 0
        self.unexpected_exits = []  # (time, returncode)
        self.expected_down = False  # set while a scenario kills it on purpose

    def start(self):
        with open(self.logfile, "ab") as f:
            f.write(f"---- {time.strftime('%F %T')} chaos start: {' '.join(self.argv)}\n".encode())
            self.popen = subprocess.Popen(self.argv, env=self.env, stdin=subprocess.DEVNULL,
                                          stdout=f, stderr=subprocess.STDOUT,
                                          start_new_session=True)
        self.starts += 1
        return self

    @property
    def pid(self):
        return self.popen.pid if self.popen else None

    @property
    def returncode(self):
        return self.popen.returncode if self.popen else None

    def poll(self):
        return self.popen.poll() if self.popen else None

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def exited(self):
        return self.popen is not None and self.popen.poll() is not None

    def signal(self, sig):
        if self.alive():
            os.kill(self.popen.pid, sig)

    def kill9(self):
        """SIGKILL (a crash) and reap."""
        if self.alive():
            os.kill(self.popen.pid, signal.SIGKILL)
            self.popen.wait()

    def stop(self, timeout=15):
        """SIGTERM, SIGKILL after timeout. Returns the exit code (None if not running)."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            try:
                os.kill(self.popen.pid, signal.SIGCONT)
                os.kill(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        return self.popen.returncode

    def check_exit(self):
        """Records an exit nobody asked for; True while running."""
        if self.popen is not None and self.popen.poll() is not None:
            self.unexpected_exits.append((time.time(), self.popen.returncode))
            return False
        return True


class Stack:
    """The private stack. Nothing here decides pass/fail."""

    def __init__(self, root, state, quick):
        self.root = root
        self.state = state
        self.quick = quick
        self.build = os.path.join(root, "build")
        self.build_asan = os.path.join(root, "build-asan")
        self.procs = {}
        self.cookie_secret = secrets.token_hex(32)
        self.webhook_secret = "whsec-" + secrets.token_hex(24)
        self.tickers = []  # synthetic tickers the scenarios fire alerts on
        self.partitions = 6
        for d in ("log", "run", "data", "conf"):
            os.makedirs(os.path.join(state, d), exist_ok=True)
        self.webhook = None
        self.smtp = None  # MailSink; None when no python has aiosmtpd
        self.smtp_missing = None  # then why
        self.feeder = None
        self.env = stack_env(state)
        become_subreaper()

    # -- ./stack on the chaos topology
    def ctl(self, *args, check=True, show=False, timeout=300):
        """Runs ./stack ARGS for this stack. With show, its progress goes to
        the run's output; else it is returned (and shown on a failure)."""
        r = subprocess.run([STACK_SCRIPT, *args], env=self.env, stdin=subprocess.DEVNULL,
                           stdout=None if show else subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=timeout)
        if check and r.returncode != 0:
            out = "" if show else f": {(r.stdout or '').strip()[-1500:]}"
            raise ChaosError(f"./stack {' '.join(args)} exited {r.returncode}{out}")
        return r

    def write_secrets(self):
        """The secrets the chaos topology's {secret:...} references read: this
        run's, so the harness can mint cookies and check signatures."""
        d = os.path.join(self.state, "secret")
        os.makedirs(d, mode=0o700, exist_ok=True)
        for name, value in (("cookie_secret", self.cookie_secret),
                            ("notifier_webhook_secret", self.webhook_secret)):
            path = os.path.join(d, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(value)

    # -- paths
    def logpath(self, name):
        return os.path.join(self.state, "log", f"{name}.log")

    def binary(self, name, asan=False):
        return os.path.join(self.build_asan if asan else self.build, name, name)

    # -- Redis (scripts/redis-ctl through ./stack: AOF appendfsync everysec, 127.0.0.1)
    def redis_ctl(self, cmd):
        """start, stop or kill (SIGKILL, a crash) the stack's Redis."""
        p = self.procs["redis"]
        if cmd == "kill":
            p.kill9()
        elif cmd == "stop":
            p.stop()
        elif cmd == "start":
            self.ctl("start", "redis")
            p.adopt()
        else:
            raise ChaosError(f"redis_ctl: unknown command {cmd}")

    def redis_pid(self):
        p = self.procs.get("redis")
        return p.pid if p is not None and p.alive() else None

    def redis_cli(self, *args, port=None):
        r = subprocess.run(["redis-cli", "-h", HOST, "-p", str(port or PORTS["redis"]), *args],
                           capture_output=True, text=True, timeout=10)
        return r.stdout.strip()

    # -- Kafka (the broker of ./stack, from kafka/*.in)
    def restart_kafka(self):
        p = self.procs["kafka"]
        p.start()
        return wait_until(self.kafka_ready, 120, 0.25)

    def kafka_ready(self):
        r = subprocess.run(["kcat", "-b", f"{HOST}:{PORTS['kafka']}", "-L", "-m", "1"],
                           capture_output=True, timeout=15)
        return r.returncode == 0

    def kafka_admin(self):
        for d in (self.build, self.build_asan):
            p = os.path.join(d, "tools", "kafka-admin")
            if os.access(p, os.X_OK):
                return p
        raise ChaosError("tools/kafka-admin is not built")

    def create_topics(self, *topics):
        subprocess.run([self.kafka_admin(), "create-topics", "--bootstrap",
                        f"{HOST}:{PORTS['kafka']}", "--partitions", str(self.partitions),
                        *topics], check=True, capture_output=True, timeout=60)

    def bootstrap(self):
        return f"{HOST}:{PORTS['kafka']}"

    # -- the harness's own daemons (scenarios 6, 9, 15)
    def daemon_env(self, extra=None, redis_port=None):
        env = dict(os.environ)
        for k in list(env):
            if k.startswith(_DROPPED_PREFIXES):
                del env[k]
        env.update({
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap(),
            "REDIS_HOST": HOST,
            "REDIS_PORT": str(redis_port or PORTS["redis"]),
            "LOG_LEVEL": "info",
        })
        env.update(extra or {})
        return env

    def add_daemon(self, name, binary, extra, asan=False, redis_port=None):
        env = self.daemon_env(extra, redis_port)
        if asan:
            env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:exitcode=23"
            env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=0"
            env["LSAN_OPTIONS"] = "exitcode=23"
        p = Proc(name, [self.binary(binary, asan)], env, self.logpath(name))
        self.procs[name] = p
        return p

    def health_port(self, name):
        return PORTS[name]

    def healthy(self, name):
        r = http("GET", self.health_port(name), "/health", timeout=3)
        return r.status == 200

    def start_and_wait(self, name, timeout=60):
        p = self.procs[name]
        p.start()
        ok = wait_until(lambda: self.healthy(name) or not p.alive(), timeout, 0.2)
        if not ok or not p.alive():
            raise ChaosError(f"{name} did not become healthy; see {self.logpath(name)}")

    def webapp_extra(self, port, instance, extra=None):
        """The chaos webapps' environment (stack.services) for one of the
        harness's own webapps."""
        e = {"WEBAPP_PORT": str(port), "WEBAPP_INSTANCE": str(instance),
             "COOKIE_SECRET": self.cookie_secret, "METRICS_PORT": "0",
             "SSE_RETRY_MS": "1000"}
        e.update(extra or {})
        return e

    def announce_tickers(self):
        """Puts the scenarios' synthetic tickers in the webapps' universe for
        a day, as a producer announces its assets (docs/asset-universe.md);
        the chaos producer announces the default ones itself."""
        lines = [testkit.asset_record(t, source="sim", valid_ms=86400000) for t in self.tickers]
        if lines:
            testkit.kafka_produce(self.bootstrap(), testkit.ASSETS_TOPIC, lines)

    def evaluators(self):
        """The evaluators of the group alert-evaluators started so far."""
        return [n for n in EVALUATORS if n in self.procs]

    def add_third_evaluator(self):
        """Starts consumer-c (static member chaos-eval-c) in the group, as the
        scenarios that need three evaluators ask; it stays for the rest of
        the run (a static member leaving would stall its partitions for the
        session timeout). Waits until every evaluator reads fresh ticks."""
        if "consumer-c" in self.procs:
            return
        self.procs["consumer-c"] = Service(self, "consumer-c")
        self.start_and_wait("consumer-c")
        if not self.wait_flowing():
            raise ChaosError("consumer-c joined but the evaluators do not all read ticks")

    def up(self, tickers):
        self.tickers = tickers
        for name, port in PORTS.items():
            if port_open(port):
                raise ChaosError(f"port {port} (chaos {name}) is in use: another chaos run?")
        log(f"state {self.state}")
        build_tickpipe(self.state)
        self.webhook = WebhookReceiver(PORTS["webhook"], self.webhook_secret)
        self.start_smtp()
        self.write_secrets()
        self.env = stack_env(self.state)
        self.ctl("start", "redis", show=True)
        log("redis up (AOF everysec); starting kafka")
        t0 = time.monotonic()
        self.ctl("start", "kafka", show=True)
        log(f"kafka up in {time.monotonic() - t0:.1f}s")
        # The topics, the daemons, the webapps and nginx, as `./stack up`.
        self.ctl("start", show=True)
        self.announce_tickers()
        for name in BASE_SERVICES:
            self.procs[name] = Service(self, name).adopt()
        self.feeder = TickFeeder(self.bootstrap(), "stock-prices", self.logpath("feeder"))
        if not self.wait_flowing():
            raise ChaosError("the evaluators or webapps never read a tick")
        log("stack up")

    def start_smtp(self):
        """The SMTP server the notifier mails (NOTIFIER_SMTP_URL of the chaos
        topology), before the notifier starts. Without a python that has
        aiosmtpd there is none: the notifier's mails are refused and retried,
        and the scenarios that count mails say they did not."""
        python, why = smtp_python()
        if python is None:
            self.smtp_missing = why
            log(f"warning: no SMTP server, the e-mail channel is not tested: {why}")
            return
        self.smtp = MailSink(python, PORTS["smtp"], os.path.join(self.state, "smtp"),
                             self.logpath("smtp"))
        self.procs["smtp"] = self.smtp.proc
        self.smtp.start()
        log(f"smtp server up ({python})")

    def down(self):
        if self.feeder:
            self.feeder.close()
        for p in list(self.procs.values())[::-1]:
            if isinstance(p, Proc):
                p.stop(10)
            elif p.alive():
                p.signal(signal.SIGCONT)  # a scenario may have left it stopped
        try:
            self.ctl("down", show=True)
        except (ChaosError, subprocess.TimeoutExpired) as e:
            log(f"ERROR: {e}")
        for p in self.procs.values():
            p.poll()
        if self.webhook:
            self.webhook.close()

    def wait_flowing(self, timeout=60):
        """Waits until each evaluator owns partitions and processes fresh
        ticks and each webapp reads them (a consumer group starts from the
        end, so a message sent before it is assigned is never seen)."""
        names = self.evaluators()
        ports = (PORTS["webapp-0"], PORTS["webapp-1"])
        b = {n: self.metrics(n).get("consumer_ticks_processed_total", 0) for n in names}
        w = {p: self.metrics("", port=p).get("webapp_kafka_prices_total", 0) for p in ports}

        def ok():
            return all(self.metrics(n).get("consumer_ticks_processed_total", 0) > b[n]
                       for n in names) and \
                all(self.metrics("", port=p).get("webapp_kafka_prices_total", 0) > w[p]
                    for p in ports)
        return bool(wait_until(ok, timeout, 0.5))

    def save_pids(self):
        """For --keep: the pids of the harness's own processes, so that
        `chaos.py --down` stops them later (./stack down stops the rest)."""
        with open(os.path.join(self.state, "run", "chaos.pids"), "w") as f:
            for name, p in self.procs.items():
                if isinstance(p, Proc) and p.alive():
                    f.write(f"{name} {p.pid} {p.argv[0]}\n")

    def metrics(self, name, port=None):
        """The /metrics of a daemon as {name_with_labels: float}."""
        r = http("GET", port or PORTS[name], "/metrics", timeout=5)
        out = {}
        if r.status != 200:
            return out
        for line in r.body.decode(errors="replace").splitlines():
            if not line or line.startswith("#"):
                continue
            k, _, v = line.rpartition(" ")
            try:
                out[k] = float(v)
            except ValueError:
                pass
        return out

    def daemon_names(self):
        return [n for n in ("producer", *EVALUATORS, "notifier", "webapp-0", "webapp-1")
                if n in self.procs]


# ---------------------------------------------------------------- ticks

TICKPIPE = None  # path of the built tools/tick-pipe


def build_tickpipe(state):
    """Finds tools/tick-pipe, built with the daemons (kcat -P holds lines
    until 1 MB or EOF); the sanitizer build's if the normal one is missing."""
    global TICKPIPE
    del state  # the tool is built by CMake, not into the state folder
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for build in ("build", "build-asan"):
        path = os.path.join(root, build, "tools", "tick-pipe")
        if os.access(path, os.X_OK):
            TICKPIPE = path
            return
    raise ChaosError("tools/tick-pipe is not built: ./stack build")


class TickFeeder:
    """A long-lived line producer (tickpipe): one line = one tick."""

    def __init__(self, bootstrap, topic, logfile):
        self.lock = threading.Lock()
        self.logf = open(logfile, "ab")
        self.p = subprocess.Popen([TICKPIPE, bootstrap, topic],
                                  stdin=subprocess.PIPE, stdout=self.logf, stderr=self.logf,
                                  start_new_session=True)
        self.sent = 0

    def tick(self, ticker, price, ts=None):
        ts = time.time() if ts is None else ts
        v = json.dumps({"ticker": ticker, "price": price, "timestamp": ts,
                        "company": f"{ticker} Chaos", "display_name": ticker, "source": "sim"})
        self.raw(ticker, v)
        return ts

    def raw(self, key, value):
        line = f"{key}\t{value}\n".encode()
        with self.lock:
            self.p.stdin.write(line)
            self.p.stdin.flush()
            self.sent += 1

    def close(self):
        try:
            self.p.stdin.close()
            self.p.wait(15)
        except (OSError, subprocess.TimeoutExpired):
            self.p.kill()
        self.logf.close()


def kcat_produce(bootstrap, topic, pairs, sep=b"\x1f"):
    """Produces (key bytes, value bytes) pairs; values must not contain
    newline (kcat splits on it) nor sep."""
    data = b"".join(k + sep + v + b"\n" for k, v in pairs)
    subprocess.run(["kcat", "-b", bootstrap, "-P", "-t", topic, "-K", sep.decode(),
                    "-X", "message.max.bytes=3000000"],
                   input=data, check=True, capture_output=True, timeout=120)


def kcat_produce_file(bootstrap, topic, key, path):
    """Produces the whole file as one message (any bytes)."""
    subprocess.run(["kcat", "-b", bootstrap, "-P", "-t", topic, "-k", key,
                    "-X", "message.max.bytes=3000000", path],
                   check=True, capture_output=True, timeout=120)


# ---------------------------------------------------------------- notifier

class WebhookReceiver:
    """Loopback receiver of the notifier's webhook: counts each alert_id,
    checks the signature, and keeps every header and body for the secret scan."""

    def __init__(self, port, secret):
        self.secret = secret
        self.lock = threading.Lock()
        self.hits = {}  # alert_id -> list of (time, attempt, possible_dup)
        self.bad_sig = 0
        self.samples = []  # a few raw requests, for the secret scan
        recv = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                recv.record(self.headers, body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer((HOST, port), H)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def record(self, headers, body):
        ts = headers.get("X-Stock-Alerts-Timestamp", "")
        sig = headers.get("X-Stock-Alerts-Signature", "")
        mac = hmac.new(self.secret.encode(), ts.encode() + b"." + body, hashlib.sha256)
        ok = hmac.compare_digest("sha256=" + mac.hexdigest(), sig)
        aid = headers.get("X-Stock-Alerts-Alert-Id", "")
        with self.lock:
            if not ok:
                self.bad_sig += 1
            self.hits.setdefault(aid, []).append(
                (time.time(), headers.get("X-Stock-Alerts-Attempt"),
                 headers.get("X-Stock-Alerts-Possible-Duplicate") == "1"))
            if len(self.samples) < 50:
                self.samples.append(str(headers).encode() + body)

    def count(self, ids):
        """{alert_id: number of requests} for ids."""
        with self.lock:
            return {a: len(self.hits.get(a, ())) for a in ids}

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


DELIVERED_RE = re.compile(rb"alert delivered alert_id=([A-Za-z0-9_-]+)")
EMAIL_SKIPPED_RE = re.compile(rb"email skipped alert_id=([A-Za-z0-9_-]+) \S+ reason=(\w+)")


def notifier_log_counts(path, ids=None):
    """{alert_id: 'alert delivered' log lines} over the whole log."""
    out = {}
    with open(path, "rb") as f:
        for m in DELIVERED_RE.finditer(f.read()):
            a = m.group(1).decode()
            if ids is None or a in ids:
                out[a] = out.get(a, 0) + 1
    return out


def email_skipped(path, ids):
    """{reason: alerts of ids} of the notifier's 'email skipped' lines (no
    address, unconfirmed, over the hourly cap) over the whole log."""
    out = {}
    with open(path, "rb") as f:
        for m in EMAIL_SKIPPED_RE.finditer(f.read()):
            if m.group(1).decode() in ids:
                r = m.group(2).decode()
                out[r] = out.get(r, 0) + 1
    return out


# ---------------------------------------------------------------- e-mail

SMTP_SINK = os.path.join(ROOT, "tests", "lib", "smtp_sink.py")
# An alert mail's Message-ID: <alert.ALERT_ID[.FIRING]@domain> (notifier/sink_email.c).
MESSAGE_ID_RE = re.compile(r"<alert\.([A-Za-z0-9_-]+)(?:\.\d+)?@[^>]+>")
CONFIRM_LINK_RE = re.compile(r"(https?://\S+/api/confirm-email\?token=[A-Za-z0-9_.-]+)")


def smtp_python():
    """A python that has aiosmtpd: TEST_SMTP_PYTHON, else the venv that
    ensure_aiosmtpd (scripts/lib.sh, run by scripts/chaos) installs into the
    cache: (path, None), or (None, why there is none)."""
    cache = os.environ.get("STACK_CACHE") or os.path.join(os.environ.get("HOME") or "/root",
                                                          ".cache", "stock-alerts")
    tried = []
    for python in (os.environ.get("TEST_SMTP_PYTHON"),
                   os.path.join(cache, "venv-smtp", "bin", "python")):
        if not python or python in tried:
            continue
        tried.append(python)
        try:
            r = subprocess.run([python, "-c", "import aiosmtpd"], capture_output=True,
                               timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if r.returncode == 0:
            return python, None
    return None, (f"aiosmtpd is unavailable (tried {', '.join(tried)}; scripts/test e2e "
                  f"installs it into {cache}/venv-smtp, or set TEST_SMTP_PYTHON)")


class MailSink:
    """The chaos stack's SMTP server (tests/lib/smtp_sink.py, aiosmtpd on
    loopback) and the mails it wrote to folder, read as they arrive: alert
    mails by their X-Stock-Alerts-Alert-Id header, the others (confirmation
    mails) whole. Its process is one of the harness's own (Proc)."""

    def __init__(self, python, port, folder, logfile):
        self.port = port
        self.folder = folder
        os.makedirs(folder, exist_ok=True)
        self.proc = Proc("smtp", [python, SMTP_SINK, HOST, str(port), folder], dict(os.environ),
                         logfile)
        self.lock = threading.Lock()
        self.seen = set()  # .json files read
        self.alerts = {}  # alert_id -> [(recipients, the Message-ID names the alert)]
        self.others = []  # (recipients, message) of every other mail

    def start(self, timeout=30):
        self.proc.start()
        wait_until(lambda: port_open(self.port) or not self.proc.alive(), timeout, 0.1)
        if not self.proc.alive() or not port_open(self.port):
            raise ChaosError(f"the SMTP server did not listen on {self.port}; see "
                             f"{self.proc.logfile}")
        return self

    def scan(self):
        """Reads the mails written since the last call. The server writes a
        mail's .json after its .eml (renamed into place): a .json seen means
        both are whole."""
        headers = email.parser.BytesHeaderParser(policy=email.policy.default)
        with self.lock:
            for fn in sorted(os.listdir(self.folder)):
                if not fn.endswith(".json") or fn in self.seen:
                    continue
                self.seen.add(fn)
                with open(os.path.join(self.folder, fn)) as f:
                    rcpts = tuple(json.load(f)["rcpt_tos"])
                with open(os.path.join(self.folder, fn[:-len(".json")] + ".eml"), "rb") as f:
                    raw = f.read()
                h = headers.parsebytes(raw)
                aid = h["X-Stock-Alerts-Alert-Id"]
                if aid:
                    m = MESSAGE_ID_RE.fullmatch(str(h["Message-ID"] or "").strip())
                    self.alerts.setdefault(str(aid), []).append(
                        (rcpts, m is not None and m.group(1) == str(aid)))
                else:
                    self.others.append(
                        (rcpts, email.message_from_bytes(raw, policy=email.policy.default)))

    def alert_mails(self):
        """{alert_id: [(recipients, the Message-ID names the alert)]}: every
        alert mail received so far."""
        self.scan()
        with self.lock:
            return {a: list(v) for a, v in self.alerts.items()}

    def confirm_links(self):
        """{address: [confirmation links, oldest first]}: the links of the
        other mails received so far."""
        self.scan()
        out = {}
        with self.lock:
            for rcpts, msg in self.others:
                body = msg.get_body(("plain",))
                m = CONFIRM_LINK_RE.search(body.get_content() if body is not None else "")
                for r in rcpts if m else ():
                    out.setdefault(r, []).append(m.group(1))
        return out
