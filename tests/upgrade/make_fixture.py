#!/usr/bin/env python3
"""Writes tests/upgrade/fixture-v<N>.json: a Redis as version N of the store
leaves it (v1: the histories as lists with a store-wide seq; v2: per-user
history streams, untagged alert keys), made the way users make it, for
test_upgrade.py to upgrade.

It builds nothing. Given the binaries of that version (a build/ tree of the
commit the fixture is for) and a private Kafka, it starts its own empty
redis-server, that webapp and consumer, and:
  - 10 users (cookies minted with a fixed COOKIE_SECRET) set alerts through
    POST /api/set-alert on AAPL, MSFT, NVDA, TSLA, BTC-USD, ETH-USD, GC=F, SI=F:
    above and below, odd thresholds (0.1, 178.52, 2500.125, 70000.01, ...);
    some with an Idempotency-Key (posted twice: one alert);
  - ticks published to the prices topic make the consumer fire some of them
    (published to the alerts topic, acknowledged: they are left in the user's
    history only), one user's alerts all;
  - then a second consumer, in its own group and publishing to a topic that
    does not exist, claims the three NVDA alerts priced to fire and is killed
    (SIGKILL) before anything acknowledged them: they stay in alerts_outbox;
  - every key is dumped (type-aware, stream ids, PTTL) with what the test must
    know: the cookie secret, each user's alerts and history as the v1 API
    lists them (with each entry's position: v1's seq, v2's event_id), the
    outbox's alert ids, the idempotency keys.

usage: TEST_KAFKA_BOOTSTRAP=host:port make_fixture.py [--version N] [--build DIR]
           [--out FILE] [--commit SHA]
  --version  1 (default) or 2: what the binaries are
  --build    their build tree (default: build/ of this checkout)
  --out      default tests/upgrade/fixture-v<N>.json
  --commit   the commit they were built from (default: this checkout's)
Ports: from TEST_HTTP_PORT + 600 up (or --port-base); topics are new per run.
The fixture records the commit of the code built (the newest one outside
tests/) and the last one that changed the store (common/alert_store.[ch]) up
to it.

v2's fixture was made from the commit before schema 3, built in a copy of
it (git archive), with --version 2 --build <copy>/build --commit <sha>.

To make it again from a checkout of v1, with this checkout's private ports:
  CI=true ./stack build
  STACK_TEST_MODE=1 ./stack restart kafka      # the private Kafka alone
  TEST_KAFKA_BOOTSTRAP=127.0.0.1:$TEST_KAFKA_PORT tests/upgrade/make_fixture.py
  STACK_TEST_MODE=1 ./stack down
"""
import argparse
import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
sys.path.insert(0, HERE)
from testkit import mint_cookie, request, wait_until  # noqa: E402
import upgradekit as uk  # noqa: E402

SECRET = "upgrade-fixture-v1-cookie-secret-0123456789abcdef"
USERS = [hashlib.sha256(f"stock-alerts upgrade fixture v1 user {i}".encode()).hexdigest()[:32]
         for i in range(10)]

# Ticks of the generation: (high, low) per ticker fires the "fire" alerts
# below and none of the "active" ones; NVDA at 150 fires the "strand" ones.
GEN_TICKS = {"AAPL": (170, 160), "BTC-USD": (70000, 65000), "GC=F": (2400, 2300)}
STRAND_TICK = ("NVDA", 150)
WARM_TICKER = "HG=F"  # no alert is ever set on it

# (user, ticker, threshold, type, fate, Idempotency-Key)
PLAN = [
    (0, "AAPL", 178.52, "above", "active", None),
    (0, "AAPL", 165.5, "above", "fire", None),
    (0, "BTC-USD", 66000.5, "below", "fire", None),
    (0, "NVDA", 140.5, "above", "strand", None),
    (0, "MSFT", 0.1, "below", "active", None),
    (0, "AAPL", 150, "above", "fire", None),
    (0, "GC=F", 2380, "below", "fire", None),
    (1, "AAPL", 0.1, "below", "active", "fixture-u1-a"),
    (1, "GC=F", 2350, "above", "fire", None),
    (1, "AAPL", 120, "above", "fire", None),
    (1, "BTC-USD", 1000000, "above", "active", None),
    (2, "BTC-USD", 70000.01, "above", "active", "fixture-u2-a"),
    (2, "BTC-USD", 69000, "above", "fire", None),
    (2, "GC=F", 2399, "below", "fire", None),
    (2, "NVDA", 141, "above", "strand", None),
    (2, "GC=F", 2500.125, "above", "active", None),
    (3, "GC=F", 2299.9, "below", "active", None),
    (3, "AAPL", 168.25, "below", "fire", "fixture-u3-fired"),
    (3, "MSFT", 412.3, "above", "active", None),
    (3, "NVDA", 180.25, "above", "active", None),
    (4, "MSFT", 333.33, "below", "active", "fixture-shared-key"),
    (4, "AAPL", 250, "above", "active", None),
    (4, "BTC-USD", 0.5, "below", "active", None),
    (5, "NVDA", 139.99, "above", "strand", None),
    (5, "NVDA", 100.01, "below", "active", None),
    (5, "AAPL", 150.75, "below", "active", None),
    (5, "AAPL", 175, "below", "fire", None),
    (5, "GC=F", 2350.5, "above", "fire", None),
    (6, "AAPL", 130, "above", "fire", None),
    (6, "BTC-USD", 69999.99, "above", "fire", None),
    (6, "GC=F", 2399.5, "below", "fire", None),
    (7, "TSLA", 420.69, "above", "active", None),
    (7, "TSLA", 0.1, "below", "active", None),
    (7, "ETH-USD", 3141.59, "above", "active", None),
    (8, "AAPL", 178.52, "above", "active", None),
    (8, "BTC-USD", 64999.99, "below", "active", None),
    (8, "BTC-USD", 66000, "below", "fire", None),
    (9, "GC=F", 2500.125, "above", "active", "fixture-shared-key"),
    (9, "MSFT", 412.3, "above", "active", None),
    (9, "SI=F", 31.4159, "below", "active", None),
]


def fires(ticker, thr, typ, price):
    return thr < price if typ == "above" else thr > price


def check_plan():
    """The plan's prices do what its fates say, so the fixture is what it claims."""
    for _, ticker, thr, typ, fate, _ in PLAN:
        gen = any(fires(ticker, thr, typ, p) for p in GEN_TICKS.get(ticker, ()))
        strand = ticker == STRAND_TICK[0] and fires(ticker, thr, typ, STRAND_TICK[1])
        want = {"active": (False, False), "fire": (True, False), "strand": (False, True)}[fate]
        if (gen, strand) != want:
            raise SystemExit(f"plan error: {ticker} {typ} {thr} is not '{fate}'")


def die(msg):
    print(f"make_fixture: {msg}", file=sys.stderr)
    sys.exit(1)


class Gen:
    def __init__(self, args):
        self.args = args
        self.boot = os.environ.get("TEST_KAFKA_BOOTSTRAP") or die("TEST_KAFKA_BOOTSTRAP not set")
        base = args.port_base or int(os.environ.get("TEST_HTTP_PORT", "0")) + 600
        if base < 1024:
            die("no port base: set TEST_HTTP_PORT or --port-base")
        self.ports = {}
        for name in ("redis", "webapp", "consumer", "stranded"):
            self.ports[name] = uk.pick_port(base, set(self.ports.values()))
        uniq = f"{os.getpid()}-{int(time.time())}"
        self.topic_prices = f"upgrade-fixture-{uniq}-prices"
        self.topic_alerts = f"upgrade-fixture-{uniq}-alerts"
        self.topic_nowhere = f"upgrade-fixture-{uniq}-never-created"
        self.tmp = tempfile.mkdtemp(prefix="upgrade-fixture-")
        self.procs = []
        self.cookies = {u: mint_cookie(u, SECRET) for u in USERS}
        self.ids = {}  # plan index -> alert_id

    # -- processes
    def env(self, extra):
        env = dict(os.environ)
        env.update({"KAFKA_BOOTSTRAP_SERVERS": self.boot, "REDIS_HOST": uk.HOST,
                    "REDIS_PORT": str(self.ports["redis"]), "LISTEN_HOST": uk.HOST,
                    "TOPIC_PRICES": self.topic_prices, "TOPIC_ALERTS": self.topic_alerts,
                    "LOG_LEVEL": "info"})
        env.update(extra)
        return env

    def start(self, name, binary, extra):
        d = uk.Daemon(name, [binary], self.env(extra), os.path.join(self.tmp, f"{name}.log"))
        self.procs.append(d)
        return d

    def start_redis(self):
        d = uk.Daemon("redis", ["redis-server", "--port", str(self.ports["redis"]), "--bind",
                                uk.HOST, "--save", "", "--appendonly", "no", "--dir", self.tmp],
                      dict(os.environ), os.path.join(self.tmp, "redis.log"))
        self.procs.append(d)

        def up():
            try:
                r = uk.Redis(uk.HOST, self.ports["redis"], timeout=1)
            except OSError:
                return None
            return r
        self.r = wait_until(up, 10, 0.05) or die("redis-server did not start")
        if self.r.call("DBSIZE") != 0:
            die("the private Redis is not empty")

    def cleanup(self):
        for d in reversed(self.procs):
            d.kill()
        if not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- users
    def api(self, method, path, user, body=None, headers=None):
        r = request(method, self.ports["webapp"], path, body=body, cookie=self.cookies[user],
                    headers=headers)
        if r.status != 200:
            die(f"{method} {path}: {r.status} {r.body[:200]!r}")
        return r.json()

    def set_alerts(self):
        for i, (u, ticker, thr, typ, _, key) in enumerate(PLAN):
            body = {"ticker": ticker, "threshold": thr, "type": typ}
            h = {"Idempotency-Key": key} if key else None
            aid = self.api("POST", "/api/set-alert", USERS[u], body, h)["alert_id"]
            if key:  # a client's retry: the same alert, nothing stored twice
                again = self.api("POST", "/api/set-alert", USERS[u], body, h)["alert_id"]
                if again != aid:
                    die(f"Idempotency-Key {key} gave {again} after {aid}")
            self.ids[i] = aid
        for u in USERS:
            n = len(self.api("GET", "/api/get-alerts", u)["alerts"])
            want = sum(1 for p in PLAN if USERS[p[0]] == u)
            if n != want:
                die(f"user {u} has {n} alerts, planned {want}")

    def active_ids(self, user):
        return {a["alert_id"] for a in self.api("GET", "/api/get-alerts", user)["alerts"]}

    def history_ids(self, user):
        return [h["alert_id"] for h in self.api("GET", "/api/alert-history", user)["alerts"]]

    def gone(self, idxs):
        """True when every alert of idxs left its user's alerts for the history."""
        for i in idxs:
            u = USERS[PLAN[i][0]]
            if self.ids[i] in self.active_ids(u) or self.ids[i] not in self.history_ids(u):
                return False
        return True

    # -- firing
    def warm_up(self, port):
        """The consumer reads from the end of the partitions once assigned: tick
        an alert-free ticker until it counts one processed."""
        def seen():
            uk.produce(self.boot, self.topic_prices, [uk.tick(WARM_TICKER, 4.5)])
            return (uk.metric(port, "consumer_ticks_processed_total") or 0) > 0
        wait_until(seen, 60, 1.0) or die("the consumer never processed a tick")

    def fire_generation(self):
        """Fires the 'fire' alerts ticker by ticker (sequential seqs across
        users); a tick is sent again until its alerts are claimed, which is
        harmless: a claimed alert is gone and cannot fire twice."""
        for ticker, prices in GEN_TICKS.items():
            idxs = [i for i, p in enumerate(PLAN) if p[1] == ticker and p[4] == "fire"]

            def fired():
                uk.produce(self.boot, self.topic_prices, [uk.tick(ticker, p) for p in prices])
                return wait_until(lambda: self.gone(idxs), 3, 0.2)
            wait_until(fired, 60, 0) or die(f"the {ticker} alerts did not fire")
        wait_until(lambda: self.r.call("XLEN", "alerts_outbox") == 0, 30) or die(
            "the fired alerts were never acknowledged by Kafka")
        want = {self.ids[i] for i, p in enumerate(PLAN) if p[4] == "fire"}

        def published():
            counts = uk.count_by_alert_id(uk.topic_messages(self.boot, self.topic_alerts))
            return set(counts) >= want and counts
        counts = wait_until(published, 30, 0.5) or die("fired alerts missing on the alerts topic")
        dups = {a: n for a, n in counts.items() if n != 1}
        if dups or set(counts) != want:
            die(f"alerts topic: duplicates {dups}, extra {set(counts) - want}")

    def strand(self):
        """A consumer that claims and never publishes: its topic does not exist
        (auto-creation is off), and it is killed before anything is acknowledged."""
        d = self.start("consumer-stranded", self.args.consumer, {
            "METRICS_PORT": str(self.ports["stranded"]),
            "CONSUMER_GROUP": f"{self.topic_prices}-stranded",
            "TOPIC_ALERTS": self.topic_nowhere, "OUTBOX_REDELIVER_MS": "3600000"})
        wait_until(lambda: uk.metric(self.ports["stranded"], "consumer_ticks_processed_total")
                   is not None, 30) or die("the stranding consumer has no metrics")
        self.warm_up(self.ports["stranded"])
        idxs = [i for i, p in enumerate(PLAN) if p[4] == "strand"]
        ticker, price = STRAND_TICK

        def claimed():
            uk.produce(self.boot, self.topic_prices, [uk.tick(ticker, price)])
            return wait_until(lambda: (uk.metric(self.ports["stranded"],
                                                 "consumer_alerts_fired_total") or 0)
                              >= len(idxs), 3, 0.1)
        wait_until(claimed, 60, 0) or die("the stranding consumer claimed nothing")
        d.kill()  # SIGKILL: no shutdown path runs
        entries = self.r.text("XRANGE", "alerts_outbox", "-", "+")
        got = {json.loads(dict(uk._pairs(f))["payload"])["alert_id"] for _, f in entries}
        if got != {self.ids[i] for i in idxs}:
            die(f"outbox holds {got}, wanted the {len(idxs)} stranded alerts")
        if not self.gone(idxs):
            die("a stranded alert is not in its user's history")

    # -- the fixture
    def position(self, alert):
        """Where an alert sits in its user's history, as the version said it:
        v1 its seq; v2 its event_id (and, in the outbox, the one before)."""
        if self.args.version == 1:
            return {"seq": alert["seq"]}
        out = {"event_id": alert["event_id"]}
        if "prev_event_id" in alert:
            out["prev_event_id"] = alert["prev_event_id"]
        return out

    def expectations(self):
        users = []
        for u in USERS:
            alerts = self.api("GET", "/api/get-alerts", u)["alerts"]
            hist = self.api("GET", "/api/alert-history", u)["alerts"]
            users.append({"user_id": u, "alerts": alerts,
                          "history": [dict({"alert_id": h["alert_id"], "ticker": h["ticker"],
                                            "type": h["type"], "threshold": h["threshold"]},
                                           **self.position(h)) for h in hist]})
        outbox = []
        for eid, f in self.r.text("XRANGE", "alerts_outbox", "-", "+"):
            p = json.loads(dict(uk._pairs(f))["payload"])
            outbox.append(dict({"outbox_id": eid, "alert_id": p["alert_id"],
                                "user_id": p["user_id"]}, **self.position(p)))
        idem = []
        for i, (u, ticker, thr, typ, fate, key) in enumerate(PLAN):
            if key:
                idem.append({"user_id": USERS[u], "key": key, "alert_id": self.ids[i],
                             "request": {"ticker": ticker, "threshold": thr, "type": typ},
                             "active": fate == "active"})
        return users, outbox, idem

    def run(self):
        check_plan()
        self.start_redis()
        uk.run_checked([self.args.kafka_admin, "create-topics", "--bootstrap", self.boot,
                        "--partitions", "3", self.topic_prices, self.topic_alerts])
        web = self.start("webapp", self.args.webapp, {
            "WEBAPP_PORT": str(self.ports["webapp"]), "COOKIE_SECRET": SECRET,
            "WEBAPP_THREADS": "2"})
        uk.wait_healthy(web, self.ports["webapp"], "/health")
        cons = self.start("consumer", self.args.consumer, {
            "METRICS_PORT": str(self.ports["consumer"]),
            "CONSUMER_GROUP": f"{self.topic_prices}-evaluators",
            "OUTBOX_REDELIVER_MS": "3600000"})  # never sweeps what the stranded one leaves
        uk.wait_healthy(cons, self.ports["consumer"], "/health")
        self.set_alerts()
        self.warm_up(self.ports["consumer"])
        self.fire_generation()
        if cons.stop() != 0:
            die("the consumer did not stop cleanly")
        self.strand()
        users, outbox, idem = self.expectations()
        if web.stop() != 0:
            die("the webapp did not stop cleanly")
        keys = uk.dump_keys(self.r)
        info = dict(line.split(":", 1) for line in self.r.text("INFO", "server").splitlines()
                    if ":" in line)
        fixture = {
            "about": f"Redis keys written by stock-alerts v{self.args.version} "
                     "(make_fixture.py); loaded and upgraded by test_upgrade.py",
            "format": 1,
            "version": self.args.version,
            "source_commit": self.args.commit,
            "store_commit": self.args.store_commit,
            "made_at": datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds"),
            "redis_version": info.get("redis_version", "").strip(),
            "cookie_secret": SECRET,
            "users": users,
            "outbox": outbox,
            "idempotency": idem,
            "keys": keys,
        }
        with open(self.args.out, "w", encoding="utf-8") as f:
            json.dump(fixture, f, indent=1, ensure_ascii=False)
            f.write("\n")
        nh = sum(len(u["history"]) for u in users)
        na = sum(len(u["alerts"]) for u in users)
        print(f"wrote {self.args.out}: {len(keys)} keys, {na} active alerts, {nh} history "
              f"entries, {len(outbox)} in the outbox, {len(idem)} idempotency keys, "
              f"{os.path.getsize(self.args.out)} bytes")


def last_commit(*paths, rev="HEAD"):
    """The newest commit up to rev that changed paths (git pathspecs), or
    "unknown"."""
    out = subprocess.run(["git", "-C", ROOT, "log", "-1", "--format=%H", rev, "--", *paths],
                         capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--version", type=int, choices=(1, 2), default=1)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--commit", default=None, help="source commit recorded (default: git)")
    ap.add_argument("--port-base", type=int, default=0)
    ap.add_argument("--keep", action="store_true", help="keep the logs folder")
    args = ap.parse_args()
    if args.out is None:
        args.out = os.path.join(HERE, f"fixture-v{args.version}.json")
    args.webapp = os.path.join(args.build, "webapp", "webapp")
    args.consumer = os.path.join(args.build, "consumer", "consumer")
    args.kafka_admin = os.path.join(args.build, "tools", "kafka-admin")
    for b in (args.webapp, args.consumer, args.kafka_admin):
        if not os.access(b, os.X_OK):
            die(f"{b} is not built")
    if shutil.which("redis-server") is None or shutil.which("kcat") is None:
        die("redis-server and kcat are needed")
    if args.commit is None:
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", ".",
                                ":(exclude)tests"], capture_output=True, text=True).stdout
        if dirty.strip():
            die("code outside tests/ has uncommitted changes: the build is no commit "
                "(commit them, or name what it is with --commit)")
        args.commit = last_commit(".", ":(exclude)tests")
    args.store_commit = last_commit("common/alert_store.c", "common/alert_store.h",
                                    rev=args.commit)
    g = Gen(args)
    try:
        g.run()
    except BaseException:
        args.keep = True
        print(f"make_fixture: failed; logs in {g.tmp}", file=sys.stderr)
        raise
    finally:
        g.cleanup()


if __name__ == "__main__":
    main()
