#!/usr/bin/env python3
"""Integration scenarios of the notifier against the test Kafka and Redis,
with a webhook receiver on loopback.

usage: pytest notifier_it.py[::test_SCENARIO] [--bin notifier=PATH
           --bin kafka-admin=PATH]   (default: the binaries of build/)
       notifier_it.py NOTIFIER_BINARY KAFKA_ADMIN_BINARY SCENARIO [PYTEST ARGS]

Scenarios: signature retry dead_letter hang duplicate sigkill.
Needs TEST_KAFKA_BOOTSTRAP, TEST_REDIS_HOST, TEST_REDIS_PORT (skipped
without them). Every run uses its own topics, consumer group and alert ids,
so it does not depend on what other tests left behind.
"""
import hashlib
import hmac
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import testkit  # noqa: E402
from testkit import free_port  # noqa: E402

if __name__ == "__main__":  # before pytest is imported: testkit.pytest_main finds one
    # The former command line: NOTIFIER KAFKA_ADMIN SCENARIO [pytest arguments].
    sys.exit(testkit.scenario_main(__file__, ["notifier", "kafka-admin"], sys.argv[1:]))

import pytest  # noqa: E402

HEADER_PREFIX = "X-Stock-Alerts-"


def verify_signature(secret, timestamp, body, header):
    """The receiver-side recipe documented in docs/notifier.md."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest("sha256=" + mac.hexdigest(), header or "")


def wait_for(pred, timeout, what, step=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(step)
    pytest.fail("timed out waiting for " + what)


# ---------------------------------------------------------------- receiver


class Receiver:
    """A webhook endpoint. behave(alert_id, nth) -> ("ok"|"status"|"hang",
    value): the nth request (1-based) for that alert_id is answered 200,
    with the given status, or hangs value seconds and closes unanswered."""

    def __init__(self, behave=None, delay=0.0):
        self.behave = behave or (lambda aid, n: ("ok", 200))
        self.delay = delay
        self.lock = threading.Lock()
        self.requests = []  # dicts: alert_id, headers, body, status, t
        self.seen = {}
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                aid = self.headers.get(HEADER_PREFIX + "Alert-Id", "")
                with outer.lock:
                    outer.seen[aid] = outer.seen.get(aid, 0) + 1
                    nth = outer.seen[aid]
                kind, value = outer.behave(aid, nth)
                if outer.delay:
                    time.sleep(outer.delay)
                if kind == "hang":
                    time.sleep(value)
                    outer.record(aid, self.headers, body, "hang")
                    self.close_connection = True
                    return
                status = 200 if kind == "ok" else value
                # Counted when answered, as a real receiver commits its work.
                outer.record(aid, self.headers, body, status)
                payload = b"{}"
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def record(self, aid, headers, body, status):
        with self.lock:
            self.requests.append(
                {"alert_id": aid, "headers": dict(headers.items()), "body": body,
                 "status": status, "t": time.time()})

    def delivered(self):
        """alert_id -> list of 2xx requests."""
        out = {}
        with self.lock:
            for r in self.requests:
                if r["status"] == 200:
                    out.setdefault(r["alert_id"], []).append(r)
        return out

    def attempts(self, aid):
        with self.lock:
            return [r for r in self.requests if r["alert_id"] == aid]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------- harness


class Harness:
    """One scenario's notifier: its own topics, group and alert ids; its
    logs in logdir."""

    def __init__(self, notifier, admin, name, services, logdir):
        self.notifier = notifier
        self.admin = admin
        self.bootstrap = services.kafka
        self.redis = (services.redis_host, int(services.redis_port))
        self.run = "n%s" % uuid.uuid4().hex[:12]
        self.topic = "it-notifier-%s-%s" % (name, self.run)
        self.dlq = self.topic + "-dlq"
        self.group = "it-notifier-%s" % self.run
        self.proc = None
        self.metrics_port = 0
        self.logdir = logdir
        self.logs = []
        subprocess.run([admin, "create-topics", "--bootstrap", self.bootstrap,
                        "--partitions", "3", self.topic, self.dlq], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)

    def alert(self, i, **kw):
        a = {"alert_id": "%s-%d" % (self.run, i), "user_id": "u%s%d" % (self.run, i % 7),
             "ticker": "AAPL", "price": 181.5, "threshold": 180.0, "type": "above",
             "timestamp": time.time(), "message": "AAPL is above $180.00 (Current: $181.50)",
             "seq": i + 1}
        a.update(kw)
        return a

    def publish(self, records):
        """records: (key, text) pairs, produced in order."""
        data = "".join("%s:%s\n" % (k, v) for k, v in records).encode()
        subprocess.run(["kcat", "-b", self.bootstrap, "-P", "-t", self.topic, "-K:"],
                       input=data, check=True, timeout=60)

    def publish_alerts(self, alerts):
        self.publish([(a["user_id"], json.dumps(a)) for a in alerts])

    def dlq_records(self):
        r = subprocess.run(["kcat", "-b", self.bootstrap, "-C", "-t", self.dlq, "-o",
                            "beginning", "-e", "-q", "-J"], capture_output=True, timeout=60)
        out = []
        for line in r.stdout.decode().splitlines():
            msg = json.loads(line)
            if msg.get("payload"):
                out.append(json.loads(msg["payload"]))
        return out

    def start(self, webhook_url=None, **extra):
        self.metrics_port = free_port()
        env = dict(os.environ)
        env.update({
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap, "REDIS_HOST": self.redis[0],
            "REDIS_PORT": str(self.redis[1]), "METRICS_PORT": str(self.metrics_port),
            "TOPIC_ALERTS": self.topic, "TOPIC_DLQ": self.dlq, "NOTIFIER_GROUP": self.group,
            "NOTIFIER_OFFSET_RESET": "earliest", "NOTIFIER_RETRY_BASE_MS": "100",
            "NOTIFIER_RETRY_MAX_MS": "1000", "LOG_LEVEL": "info"})
        env.pop("NOTIFIER_WEBHOOK_URL", None)
        env.pop("NOTIFIER_WEBHOOK_SECRET", None)
        if webhook_url:
            env["NOTIFIER_WEBHOOK_URL"] = webhook_url
        env.update({k: str(v) for k, v in extra.items()})
        path = os.path.join(self.logdir, "notifier-%s-%d.log" % (self.run, len(self.logs)))
        self.logs.append(path)
        self.proc = subprocess.Popen([self.notifier], env=env, stdout=subprocess.DEVNULL,
                                     stderr=open(path, "wb"))
        wait_for(lambda: self.get("/health") is not None, 20, "notifier /health")

    def log_text(self):
        text = ""
        for p in self.logs:
            with open(p, "rb") as f:
                text += f.read().decode(errors="replace")
        return text

    def get(self, path):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.metrics_port, path),
                                        timeout=2) as r:
                return r.read().decode()
        except OSError:
            return None

    def metric(self, name):
        text = self.get("/metrics") or ""
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    def stop(self):
        """SIGTERM; the daemon must exit 0 within 10 s (and, under ASan,
        without leaks, which would change the exit code)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=12)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail("notifier did not stop within 12 s of SIGTERM")
        assert rc == 0, "notifier exited %d; log in %s" % (rc, self.logs[-1])
        self.proc = None

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None

    def cleanup(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()


def redis_get(host_port, key):
    """GET over a raw socket (RESP), so no client library is needed."""
    with socket.create_connection(host_port, timeout=5) as s:
        k = key.encode()
        s.sendall(b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(k), k))
        data = b""
        while b"\r\n" not in data:
            data += s.recv(4096)
        head, rest = data.split(b"\r\n", 1)
        if head == b"$-1":
            return None
        n = int(head[1:])
        while len(rest) < n + 2:
            rest += s.recv(4096)
        return rest[:n].decode()


# ---------------------------------------------------------------- scenarios


def test_signature(h):
    """Signed POSTs verify with the documented recipe and not with a wrong
    secret; the log sink writes one structured line per notification;
    malformed messages land in the DLQ and are counted."""
    secret = "s3cr3t-" + h.run
    rx = Receiver()
    h.start(rx.url, NOTIFIER_WEBHOOK_SECRET=secret)
    alerts = [h.alert(i) for i in range(3)]
    h.publish_alerts(alerts)
    h.publish([("bad", "this is not json"), ("bad", json.dumps({"alert_id": "x"}))])
    wait_for(lambda: len(rx.delivered()) == 3, 60, "3 deliveries")
    now = time.time()
    for a in alerts:
        reqs = rx.delivered()[a["alert_id"]]
        assert len(reqs) == 1, "one delivery of %s" % a["alert_id"]
        r = reqs[0]
        hd = {k.lower(): v for k, v in r["headers"].items()}
        assert hd.get("content-type") == "application/json", "content type"
        ts = hd.get("x-stock-alerts-timestamp")
        sig = hd.get("x-stock-alerts-signature")
        assert ts is not None and abs(int(ts) - now) < 300, "timestamp header"
        assert verify_signature(secret, ts, r["body"], sig), "signature verifies"
        assert not verify_signature(secret + "x", ts, r["body"], sig), (
            "wrong secret must not verify")
        assert not verify_signature(secret, str(int(ts) + 1), r["body"], sig), (
            "other timestamp must not verify")
        assert json.loads(r["body"]) == a, "body is the alert JSON"
    wait_for(lambda: len(h.dlq_records()) == 2, 30, "2 malformed in the DLQ")
    dlq = h.dlq_records()
    assert all(d["reason"] == "malformed" and d["error"] for d in dlq), "malformed records"
    assert (sorted(d["original"] for d in dlq) ==
            sorted(["this is not json", json.dumps({"alert_id": "x"})])), "DLQ keeps original"
    wait_for(lambda: h.metric("notifier_malformed_total") == 2, 10, "malformed metric")
    assert h.metric("notifier_delivered_total") == 3, "delivered metric"
    assert h.metric("notifier_webhook_latency_seconds_count") >= 3, "latency histogram"
    assert h.get("/health") is not None and '"status":"ok"' in h.get("/health"), "health ok"
    h.stop()
    log = h.log_text()
    assert secret not in log, "the secret must never be logged"
    for a in alerts:
        line = [ln for ln in log.splitlines()
                if "notification" in ln and "alert_id=%s " % a["alert_id"] in ln]
        assert len(line) == 1, "one log line for %s" % a["alert_id"]
        for part in ("user=" + a["user_id"], "ticker=AAPL", "type=above", "threshold=180",
                     "price=181.5", 'message="AAPL is above'):
            assert part in line[0], "log line has %s: %s" % (part, line[0])
    rx.stop()


def test_retry(h):
    """500 (or 429) then 200: delivered exactly once, after one retry."""
    rx = Receiver(lambda aid, n: ("ok", 200) if n > 1 else
                  ("status", 429 if aid.endswith("-0") else 500))
    h.start(rx.url)
    alerts = [h.alert(i) for i in range(5)]
    h.publish_alerts(alerts)
    wait_for(lambda: len(rx.delivered()) == 5, 60, "5 deliveries")
    time.sleep(1.0)  # nothing more may arrive
    for a in alerts:
        att = rx.attempts(a["alert_id"])
        assert ([r["status"] for r in att] == [429 if a["alert_id"].endswith("-0") else 500,
                                               200]), ("statuses of %s: %s" % (
                a["alert_id"], [r["status"] for r in att]))
        assert att[1]["headers"].get("X-Stock-Alerts-Attempt") == "2", "attempt header"
    assert h.metric("notifier_retried_total") == 5, "retried metric"
    assert h.metric("notifier_delivered_total") == 5, "delivered metric"
    assert h.metric("notifier_dead_lettered_total") == 0, "nothing dead-lettered"
    h.stop()
    for a in alerts:
        assert redis_get(h.redis, "notified:" + a["alert_id"]) == "done", "recorded done"
    rx.stop()


def test_dead_letter(h):
    """Always 500: after NOTIFIER_MAX_ATTEMPTS the alert is in the DLQ with
    the last error, and the notifier moves on."""
    state = {"fail": True}
    rx = Receiver(lambda aid, n: ("status", 500) if state["fail"] else ("ok", 200))
    h.start(rx.url, NOTIFIER_MAX_ATTEMPTS=3)
    alerts = [h.alert(i) for i in range(2)]
    h.publish_alerts(alerts)
    wait_for(lambda: len(h.dlq_records()) == 2, 60, "2 alerts in the DLQ", step=0.5)
    for d in h.dlq_records():
        assert d["reason"] == "undeliverable" and d["sink"] == "webhook", "DLQ record kind"
        assert d["attempts"] == 3 and d["error"] == "http status 500", "DLQ attempts/error"
        assert json.loads(d["original"])["alert_id"] == d["alert_id"], "DLQ original"
        assert len(rx.attempts(d["alert_id"])) == 3, "3 attempts at the receiver"
    assert h.metric("notifier_dead_lettered_total") == 2, "dead-lettered metric"
    state["fail"] = False
    later = h.alert(9)
    h.publish_alerts([later])
    wait_for(lambda: later["alert_id"] in rx.delivered(), 30, "the next alert delivered")
    assert not rx.delivered().get(alerts[0]["alert_id"]), "dead-lettered not redelivered"
    h.stop()
    rx.stop()


def test_hang(h):
    """A receiver that hangs on one alert: that attempt times out and is
    retried, while the other alerts still go out meanwhile."""
    slow = h.alert(0)
    rx = Receiver(lambda aid, n: ("hang", 4.0) if aid == slow["alert_id"] and n == 1
                  else ("ok", 200))
    h.start(rx.url, NOTIFIER_WEBHOOK_TIMEOUT_MS=1000, NOTIFIER_WEBHOOK_CONCURRENCY=4)
    others = [h.alert(i) for i in range(1, 21)]
    h.publish_alerts([slow] + others)
    wait_for(lambda: slow["alert_id"] in rx.delivered(), 30, "the slow alert delivered")
    wait_for(lambda: len(rx.delivered()) == 21, 30, "all 21 delivered")
    done = rx.delivered()
    slow_ok = done[slow["alert_id"]]
    assert len(slow_ok) == 1, "slow alert delivered once"
    assert slow_ok[0]["headers"].get("X-Stock-Alerts-Attempt") == "2", "after one retry"
    latest_other = max(done[a["alert_id"]][0]["t"] for a in others)
    # The hung request is recorded when its 4 s are over.
    wait_for(lambda: any(r["status"] == "hang" for r in rx.attempts(slow["alert_id"])), 10,
             "the hung request to end")
    hang_start = [r["t"] for r in rx.attempts(slow["alert_id"]) if r["status"] == "hang"][0] - 4
    assert latest_other < hang_start + 2.0, (
        "others delivered %.2f s after the hang began" % (latest_other - hang_start))
    assert slow_ok[0]["t"] < hang_start + 4.0, "the slow alert was retried before the hang ended"
    assert all(len(done[a["alert_id"]]) == 1 for a in others), "others once each"
    assert "timed out" in h.log_text().lower() or "timeout" in h.log_text().lower(), (
        "timeout logged")
    h.stop()
    rx.stop()


def test_duplicate(h):
    """The same alert_id published twice (also across a restart) is
    delivered once."""
    rx = Receiver()
    h.start(rx.url)
    a, b = h.alert(0), h.alert(1)
    h.publish_alerts([a, a, b])
    wait_for(lambda: len(rx.delivered()) == 2, 60, "2 deliveries")
    wait_for(lambda: h.metric("notifier_duplicates_suppressed_total") == 1, 20,
             "duplicate suppressed")
    h.stop()
    # A republish after a restart: the state lives in Redis.
    h.publish_alerts([dict(a, timestamp=time.time())])
    h.start(rx.url)
    wait_for(lambda: h.metric("notifier_duplicates_suppressed_total") == 1, 60,
             "duplicate suppressed after restart")
    time.sleep(0.5)
    assert len(rx.delivered()[a["alert_id"]]) == 1, "alert delivered once in total"
    assert len(rx.delivered()[b["alert_id"]]) == 1, "other alert once"
    assert len(rx.requests) == 2, "no extra requests"
    h.stop()
    rx.stop()


def test_sigkill(h):
    """SIGKILL in the middle of a burst of 1,000 alerts, restart: every
    alert delivered, none twice — except, at most, the requests that were in
    flight at the kill, which come flagged X-Stock-Alerts-Possible-Duplicate
    (the residual window documented in docs/notifier.md)."""
    n, conc = 1000, 8
    rx = Receiver(delay=0.01)
    h.start(rx.url, NOTIFIER_WEBHOOK_CONCURRENCY=conc)
    alerts = [h.alert(i) for i in range(n)]
    h.publish_alerts(alerts)
    wait_for(lambda: len(rx.delivered()) >= 300, 120, "300 deliveries", step=0.005)
    h.kill()
    at_kill = len(rx.delivered())
    print("killed after %d deliveries" % at_kill, flush=True)
    assert at_kill < n, "the kill landed mid-burst"
    h.start(rx.url, NOTIFIER_WEBHOOK_CONCURRENCY=conc)
    wait_for(lambda: len(rx.delivered()) == n, 180, "all %d delivered" % n, step=0.2)
    wait_for(lambda: (h.metric("notifier_pending") or 0) == 0, 30, "notifier idle")
    time.sleep(1.0)
    done = rx.delivered()
    assert set(done) == {a["alert_id"] for a in alerts}, "every alert delivered"
    twice = {aid: reqs for aid, reqs in done.items() if len(reqs) > 1}
    for aid, reqs in twice.items():
        assert len(reqs) == 2, "%s delivered %d times" % (aid, len(reqs))
        assert reqs[1]["headers"].get("X-Stock-Alerts-Possible-Duplicate") == "1", (
            "an unflagged duplicate of %s" % aid)
    assert len(twice) <= conc, "%d duplicates, more than the %d in flight" % (len(twice), conc)
    # A receiver that de-duplicates on X-Stock-Alerts-Alert-Id (docs) sees
    # each alert exactly once; raw counts are reported for the record.
    print("delivered %d alerts; raw duplicates (in flight at the kill, flagged): %d; "
          "suppressed after restart: %s" % (len(done), len(twice),
                                            h.metric("notifier_duplicates_suppressed_total")),
          flush=True)
    h.stop()
    rx.stop()


# ---------------------------------------------------------------- fixtures

@pytest.fixture
def h(request, services, bins, logdir):
    """The scenario's harness; its notifier is killed if the test left it running."""
    name = request.node.originalname[len("test_"):].replace("_", "-")
    harness = Harness(bins("notifier"), bins("kafka-admin"), name, services, logdir)
    yield harness
    harness.cleanup()

