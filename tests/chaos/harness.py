"""Chaos harness: a private stock-alerts stack (Redis with AOF, a KRaft Kafka
broker, the daemons, two webapp replicas and nginx) started the way ./stack
starts it, on ports of its own, plus the instruments the scenarios count
with: a tick feeder, an HTTP client, a webhook receiver and the notifier log.

Python standard library only. Every process started here is killed at exit.
"""
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
from testkit import HOST, Resp, mint_cookie, port_open, prepare, request, wait_until  # noqa: E402,F401,E501

DEFAULT_TICKERS = "AAPL,GOOGL,MSFT,AMZN,NVDA,TSLA,META,BTC-USD,ETH-USD,SOL-USD,GC=F,SI=F,CL=F,NG=F,HG=F"

# Ports of the chaos stack (CHAOS_PORT_OFFSET moves them all).
_OFF = int(os.environ.get("CHAOS_PORT_OFFSET", "0"))
PORTS = {
    "redis": 31379 + _OFF,
    "redis-disk": 31380 + _OFF,
    "kafka": 31092 + _OFF,
    "kafka-controller": 31093 + _OFF,
    "webapp-0": 31001 + _OFF,
    "webapp-1": 31002 + _OFF,
    "webapp-asan": 31011 + _OFF,
    "webapp-disk": 31021 + _OFF,
    "nginx": 31080 + _OFF,
    "producer": 31101 + _OFF,
    "consumer-a": 31102 + _OFF,
    "notifier": 31103 + _OFF,
    "consumer-b": 31104 + _OFF,
    "consumer-c": 31105 + _OFF,
    "consumer-bh": 31106 + _OFF,
    "producer-asan": 31111 + _OFF,
    "consumer-asan": 31112 + _OFF,
    "notifier-asan": 31113 + _OFF,
    "webhook": 31200 + _OFF,
}


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

class Proc:
    """One process of the stack: started in its own session, logs appended."""

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

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

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
        self.kafka_cmd = None
        self.partitions = 6
        for d in ("log", "run", "data", "conf"):
            os.makedirs(os.path.join(state, d), exist_ok=True)
        self.webhook = None
        self.feeder = None

    # -- paths
    def logpath(self, name):
        return os.path.join(self.state, "log", f"{name}.log")

    def binary(self, name, asan=False):
        return os.path.join(self.build_asan if asan else self.build, name, name)

    # -- Redis (scripts/redis-ctl: AOF appendfsync everysec, 127.0.0.1)
    def redis_ctl(self, cmd):
        r = subprocess.run([os.path.join(self.root, "scripts", "redis-ctl"), cmd,
                            str(PORTS["redis"]), self.state], capture_output=True, text=True,
                           timeout=60)
        if r.returncode != 0:
            raise ChaosError(f"redis-ctl {cmd}: {r.stderr.strip()}")
        return r.stdout

    def redis_pid(self):
        try:
            return int(self.redis_ctl("status").strip())
        except (ChaosError, ValueError):
            return None

    def redis_cli(self, *args, port=None):
        r = subprocess.run(["redis-cli", "-h", HOST, "-p", str(port or PORTS["redis"]), *args],
                           capture_output=True, text=True, timeout=10)
        return r.stdout.strip()

    # -- Kafka (the same single-node KRaft configuration as ./stack)
    def kafka_libs(self):
        pom = open(os.path.join(self.root, "kafka", "pom.xml")).read()
        m = re.search(r"<kafka.version>(.*)</kafka.version>", pom)
        if not m:
            raise ChaosError("no <kafka.version> in kafka/pom.xml")
        cache = os.environ.get("STACK_CACHE", os.path.join(os.environ.get("HOME", "/root"),
                                                           ".cache", "stock-alerts"))
        libs = os.path.join(cache, f"kafka-{m.group(1)}", "libs")
        if not os.path.exists(os.path.join(libs, ".complete")):
            raise ChaosError(f"Kafka jars missing in {libs}: run ./stack install")
        return libs

    def write_kafka_config(self):
        conf = os.path.join(self.state, "conf")
        data = os.path.join(self.state, "data", "kafka")
        os.makedirs(data, exist_ok=True)
        props = os.path.join(conf, "kafka.properties")
        with open(props, "w") as f:
            f.write(f"""# Generated by tests/chaos: the ./stack broker on the chaos ports.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{PORTS['kafka-controller']}
listeners=PLAINTEXT://127.0.0.1:{PORTS['kafka']},CONTROLLER://127.0.0.1:{PORTS['kafka-controller']}
advertised.listeners=PLAINTEXT://127.0.0.1:{PORTS['kafka']}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data}
num.partitions={self.partitions}
default.replication.factor=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
""")
        log4j = os.path.join(conf, "kafka-log4j2.yaml")
        with open(log4j, "w") as f:
            f.write("Configuration:\n  Appenders:\n    Console:\n      name: STDOUT\n"
                    "      PatternLayout:\n        pattern: \"[%d] %p %m (%c)%n\"\n"
                    "  Loggers:\n    Root:\n      level: WARN\n      AppenderRef:\n"
                    "        - ref: STDOUT\n")
        return props, log4j, data

    def start_kafka(self):
        libs = self.kafka_libs()
        props, log4j, data = self.write_kafka_config()
        cp = os.path.join(libs, "*")
        if not os.path.exists(os.path.join(data, "meta.properties")):
            cid = subprocess.run(["java", "-cp", cp, "kafka.tools.StorageTool", "random-uuid"],
                                 capture_output=True, text=True, check=True).stdout.strip()
            subprocess.run(["java", "-cp", cp, "kafka.tools.StorageTool", "format", "-t", cid,
                            "-c", props], capture_output=True, check=True)
        heap = os.environ.get("KAFKA_HEAP_OPTS", "-Xms256m -Xmx512m").split()
        argv = ["java", *heap, "-XX:+UseG1GC", "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={log4j}",
                f"-Dkafka.logs.dir={os.path.join(self.state, 'log')}", "-cp", cp,
                "kafka.Kafka", props]
        p = Proc("kafka", argv, dict(os.environ), self.logpath("kafka"))
        self.procs["kafka"] = p
        p.start()
        if not wait_until(lambda: self.kafka_ready() or not p.alive(), 90, 0.5) or not p.alive():
            raise ChaosError("kafka did not become ready; see " + self.logpath("kafka"))

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

    # -- daemons
    def daemon_env(self, extra=None, redis_port=None):
        env = dict(os.environ)
        for k in list(env):
            if k.startswith(("TOPIC_", "NOTIFIER_", "CONSUMER_", "GROUP_", "SSE_", "WEBAPP_")):
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
        e = {"WEBAPP_PORT": str(port), "WEBAPP_INSTANCE": str(instance),
             "COOKIE_SECRET": self.cookie_secret, "METRICS_PORT": "0",
             "TICKERS": ",".join([DEFAULT_TICKERS] + self.tickers), "SSE_RETRY_MS": "1000"}
        e.update(extra or {})
        return e

    def consumer_extra(self, name, instance_id):
        return {"METRICS_PORT": str(PORTS[name]), "GROUP_INSTANCE_ID": instance_id}

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
        self.add_daemon("consumer-c", "consumer", self.consumer_extra("consumer-c", "chaos-eval-c"))
        self.start_and_wait("consumer-c")
        if not self.wait_flowing():
            raise ChaosError("consumer-c joined but the evaluators do not all read ticks")

    def define_services(self):
        """The stack's processes (not started)."""
        self.add_daemon("producer", "producer", {
            "METRICS_PORT": str(PORTS["producer"]), "PRICE_SOURCE": "sim",
            "PRICE_INTERVAL_MS": "500"})
        self.add_daemon("consumer-a", "consumer", self.consumer_extra("consumer-a", "chaos-eval-a"))
        self.add_daemon("consumer-b", "consumer", self.consumer_extra("consumer-b", "chaos-eval-b"))
        self.add_daemon("notifier", "notifier", {
            "METRICS_PORT": str(PORTS["notifier"]),
            "NOTIFIER_WEBHOOK_URL": f"http://{HOST}:{PORTS['webhook']}/hook",
            "NOTIFIER_WEBHOOK_SECRET": self.webhook_secret,
            "NOTIFIER_WEBHOOK_CONCURRENCY": "16"})
        for i in (0, 1):
            name = f"webapp-{i}"
            self.add_daemon(name, "webapp", self.webapp_extra(PORTS[name], i))

    def start_nginx(self):
        conf = os.path.join(self.state, "conf", "nginx.conf")
        rundir = os.path.join(self.state, "run", "nginx")
        env = dict(os.environ)
        env.update({"NGINX_UPSTREAMS": f"{HOST}:{PORTS['webapp-0']} {HOST}:{PORTS['webapp-1']}",
                    "NGINX_LISTEN": f"{HOST}:{PORTS['nginx']}", "NGINX_DAEMON": "off",
                    "NGINX_RUNTIME_DIR": rundir, "NGINX_ERROR_LOG": "stderr",
                    "NGINX_ACCESS_LOG": "off",
                    # Every simulated user connects from 127.0.0.1: the
                    # per-address limits (tests/e2e/limits_per_address.py
                    # proves them) are lifted, the per-user ones stay.
                    "NGINX_STREAMS_PER_ADDR": "65535", "NGINX_ADDR_API_RATE": "1000000",
                    "NGINX_ADDR_API_BURST": "1000000", "NGINX_COOKIES_PER_MIN": "100000000",
                    "NGINX_COOKIE_BURST": "1000000"})
        subprocess.run([os.path.join(self.root, "scripts", "render-nginx"),
                        os.path.join(self.root, "nginx.conf"), conf], env=env, check=True)
        p = Proc("nginx", ["nginx", "-c", conf], dict(os.environ), self.logpath("nginx"))
        self.procs["nginx"] = p
        p.start()
        if not wait_until(lambda: http("GET", PORTS["nginx"], "/health", timeout=2).status == 200,
                          30):
            raise ChaosError("nginx did not become healthy; see " + self.logpath("nginx"))

    def up(self, tickers):
        self.tickers = tickers
        for name, port in PORTS.items():
            if port_open(port):
                raise ChaosError(f"port {port} (chaos {name}) is in use: another chaos run?")
        log(f"state {self.state}")
        build_tickpipe(self.state)
        self.webhook = WebhookReceiver(PORTS["webhook"], self.webhook_secret)
        self.redis_ctl("start")
        log("redis up (AOF everysec); starting kafka")
        t0 = time.monotonic()
        self.start_kafka()
        log(f"kafka up in {time.monotonic() - t0:.1f}s")
        self.create_topics("stock-prices", "alerts", "alerts-dlq")
        self.define_services()
        for name in ("producer", "consumer-a", "consumer-b", "notifier", "webapp-0", "webapp-1"):
            self.start_and_wait(name)
        self.start_nginx()
        self.feeder = TickFeeder(self.bootstrap(), "stock-prices", self.logpath("feeder"))
        if not self.wait_flowing():
            raise ChaosError("the evaluators or webapps never read a tick")
        log("stack up")

    def down(self):
        if self.feeder:
            self.feeder.close()
        for name in list(self.procs)[::-1]:
            if name == "kafka":
                continue
            self.procs[name].stop(10)
        if "kafka" in self.procs:
            self.procs["kafka"].stop(20)
        try:
            self.redis_ctl("stop")
        except ChaosError:
            pass
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
        """For --keep: the pids, so that `chaos.py --down` stops them later."""
        with open(os.path.join(self.state, "run", "chaos.pids"), "w") as f:
            for name, p in self.procs.items():
                if p.alive():
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


def notifier_log_counts(path, ids=None):
    """{alert_id: 'alert delivered' log lines} over the whole log."""
    out = {}
    with open(path, "rb") as f:
        for m in DELIVERED_RE.finditer(f.read()):
            a = m.group(1).decode()
            if ids is None or a in ids:
                out[a] = out.get(a, 0) + 1
    return out
