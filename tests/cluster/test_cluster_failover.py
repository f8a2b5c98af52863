#!/usr/bin/env python3
"""Failover on the production topology (the `cluster` fixture of conftest.py,
shared with test_cluster_topology.py), under a storm of alerts through nginx.
Each test gives USERS users an open alert stream each (through nginx, resumed
with Last-Event-ID when it drops, as EventSource does) and creates alerts for
them continuously: most fire at the next tick (`above` 0.000001 on the
producers' assets), one in QUIET_EVERY never does (`above` 1e9). A client
retries a failed set-alert with the same Idempotency-Key until it is answered
200, so each intended alert is stored once. Then, for every test: every alert
acknowledged with 200 that fires reaches its user's stream exactly once and the
notifiers' log exactly once; nothing else arrives at either; the users' lists
hold exactly the quiet alerts and their histories exactly the fired ones; no
daemon was restarted (their pids are those of the start).

- Redis master SIGKILLed during the storm (the master owning most of the
  users' and tickers' keys): the replica is promoted by Redis Cluster itself;
  set-alert for keys of the killed master's slots answers 200 again within
  API_BACK_S of the kill, and no request fails later than that (those that
  fail in between are 5xx). The node is started again and the cluster is whole
  (3 masters, each with a replica) before the next test.
- Kafka broker SIGKILLed during the storm (the leader of most partitions of
  the contract's topics), started again ~10 s later: it rejoins every ISR; the
  same API bound.
- Rolling restart of the three brokers (`./stack restart kafka-N`, each once
  every partition's ISR is back to 3) under a load loop of set-alert,
  get-alerts and alert-history: not one request fails.

The figures (failover time, API gap, requests, alerts counted) are printed.
Scale: CLUSTER_TEST_SCALE (1: 10 users x 30 alerts per test, what
`./stack test cluster` runs; e.g. 3: 30 users x 90 alerts, storms 3 times as
long). Run by `./stack test cluster` (python3 tests/cluster), or alone:
python3 tests/cluster/test_cluster_failover.py (the topology comes up for it).
"""
import http.client
import json
import os
import random
import secrets
import socket
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
sys.path.insert(0, HERE)
import testkit  # noqa: E402

if __name__ == "__main__":  # before pytest is imported: testkit.pytest_main finds one
    sys.exit(testkit.pytest_main(__file__, sys.argv[1:]))

from clusterkit import (ROOT, isr_short, metadata, redis, redis_cluster_full,  # noqa: E402
                        redis_cluster_info, redis_cluster_nodes, slot_owner)


def _scale():
    text = os.environ.get("CLUSTER_TEST_SCALE", "1")
    try:
        v = float(text)
    except ValueError:
        v = 0
    if not 0 < v <= 10:
        raise SystemExit(f"CLUSTER_TEST_SCALE={text!r}: want a number in (0, 10]")
    return v


SCALE = _scale()
USERS = max(2, round(10 * SCALE))
# At most 90: a user holds at most 100 active alerts (MAX_ALERTS_PER_USER) and
# keeps 100 in its history.
PER_USER = max(6, min(90, round(30 * SCALE)))
STORM_S = 12 * SCALE       # the creates of one storm spread over this long
ROLLING_S = 75             # the creates of the rolling restart's load: about its length
QUIET_EVERY = 6            # one alert in 6 never fires
API_BACK_S = 10            # set-alert answers 200 again within this of a kill
DELIVERY_S = 120           # every acknowledged alert delivered within this of the storm's end
ISR_S = 120                # a broker started again is in every ISR within this
FIRES, QUIET = 0.000001, 1e9


class User:
    def __init__(self, secret):
        self.id = secrets.token_hex(16)
        self.cookie = testkit.mint_cookie(self.id, secret)


def assets():
    out = subprocess.run([os.path.join(ROOT, "build", "producer", "producer"),
                          "--list-assets"], capture_output=True, text=True, check=True).stdout
    return [line.split("\t")[0] for line in out.splitlines() if line.strip()]


# ---------------------------------------------------------------- the users' streams

class Stream:
    """A user's alert stream through nginx, kept open as EventSource keeps
    it: when it ends or is refused, opened again 1 s later with
    Last-Event-ID the last id it got. Every alert event is kept, over every
    connection: events (alert_id, position, payload's user_id)."""

    def __init__(self, port, user):
        self.port, self.user = port, user
        self.events = []
        self.statuses = []      # of every open
        self.drops = 0          # connections that ended while wanted
        self.last_id = None
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.conn = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def opened(self):
        with self.lock:
            return 200 in self.statuses

    def alert_ids(self):
        with self.lock:
            return [a for a, _, _ in self.events]

    def _run(self):
        while not self.stopping.is_set():
            try:
                self._once()
            except (OSError, http.client.HTTPException, ValueError):
                pass
            if self.stopping.is_set():
                break
            self.drops += 1
            self.stopping.wait(1.0)

    def _once(self):
        h = {"Accept": "text/event-stream", "Cookie": f"user_id={self.user.cookie}"}
        if self.last_id is not None:
            h["Last-Event-ID"] = self.last_id
        # Heartbeats come every few seconds: a read waiting 60 s is a dead stream.
        conn = http.client.HTTPConnection(testkit.HOST, self.port, timeout=60)
        self.conn = conn
        try:
            conn.request("GET", "/api/stream-alerts", headers=h)
            resp = conn.getresponse()
            with self.lock:
                self.statuses.append(resp.status)
            if resp.status != 200:
                resp.read()
                return
            parser = testkit.SseParser()
            while not self.stopping.is_set():
                line = resp.readline()
                if not line:
                    return
                ev = parser.line(line.decode().rstrip("\r\n"))
                if ev is None:
                    continue
                if ev["id"] is not None:
                    self.last_id = ev["id"]
                if ev["data"] is None or ev["event"] != "message":
                    continue
                obj = json.loads(ev["data"])
                with self.lock:
                    self.events.append((obj.get("alert_id"), ev["id"], obj.get("user_id")))
        finally:
            conn.close()

    def close(self):
        self.stopping.set()
        conn = self.conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.thread.join(5)


# ---------------------------------------------------------------- the storm

class Storm:
    """Creates PER_USER alerts for each user through nginx, spread over
    spread_s seconds by `workers` threads, each alert with an Idempotency-Key
    of its own, sent again (same key) after any failure until answered 200
    (or give_up_s passed). With reads, each create is followed by get-alerts
    and alert-history of its user, and once every alert is created the reads
    go on until stop(). Every request is recorded: attempts
    (start, end, what, status, user, ticker) with status 0 for no answer."""

    def __init__(self, port, users, tickers, spread_s, reads=False, workers=5, give_up_s=90):
        self.port, self.users, self.tickers, self.reads = port, users, tickers, reads
        self.spread_s = spread_s
        self.give_up_s = give_up_s
        self.lock = threading.Lock()
        self.attempts = []
        self.acked = {}          # alert_id -> (user, ticker, fires)
        self.unacked = []        # intended alerts given up on
        self.replays = 0         # a retry answered with an id already acknowledged
        self.stopping = threading.Event()
        specs = [(u, random.choice(tickers), k % QUIET_EVERY != QUIET_EVERY - 1)
                 for k in range(PER_USER) for u in users]
        self.total = len(specs)
        self.t0 = time.monotonic()
        self.threads = [threading.Thread(target=self._work, args=(specs[w::workers], workers),
                                         daemon=True) for w in range(workers)]
        for t in self.threads:
            t.start()

    def _call(self, what, method, path, user, ticker=None, body=None, headers=None):
        t0 = time.monotonic()
        try:
            r = testkit.request(method, self.port, path, body=body, cookie=user.cookie,
                                headers=headers, timeout=30)
        except (OSError, http.client.HTTPException):
            r = testkit.Resp(0, [], b"")
        with self.lock:
            self.attempts.append((t0, time.monotonic(), what, r.status, user, ticker))
        return r

    def _create(self, user, ticker, fires):
        key = secrets.token_hex(16)
        body = {"ticker": ticker, "threshold": FIRES if fires else QUIET, "type": "above"}
        end = time.monotonic() + self.give_up_s
        while time.monotonic() < end:
            r = self._call("set-alert", "POST", "/api/set-alert", user, ticker, body,
                           {"Idempotency-Key": key})
            aid = (r.json() or {}).get("alert_id") if r.status == 200 else None
            if aid:
                with self.lock:
                    if aid in self.acked:
                        self.replays += 1
                    self.acked[aid] = (user, ticker, fires, time.monotonic())
                return
            time.sleep(0.2)
        with self.lock:
            self.unacked.append((user.id, ticker, fires, key))

    def _work(self, specs, workers):
        step = self.spread_s * workers / max(1, self.total)
        for k, (user, ticker, fires) in enumerate(specs):
            if self.stopping.is_set():
                return
            ahead = self.t0 + k * step - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
            self._create(user, ticker, fires)
            if self.reads:
                self._read(user)
        users = sorted({u.id: u for u, _, _ in specs}.values(), key=lambda u: u.id)
        while self.reads and users and not self.stopping.is_set():
            for u in users:
                self._read(u)
            time.sleep(0.2)

    def _read(self, user):
        self._call("get-alerts", "GET", "/api/get-alerts", user)
        self._call("alert-history", "GET", "/api/alert-history", user)

    def created(self):
        with self.lock:
            return len(self.acked) + len(self.unacked)

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(self.give_up_s + 40)

    def wait_created(self, timeout):
        """Whether every intended alert was answered or given up on within timeout."""
        return bool(testkit.wait_until(lambda: self.created() >= self.total, timeout, step=0.5))

    def failures(self):
        with self.lock:
            return [a for a in self.attempts if a[3] != 200]

    def summary(self):
        with self.lock:
            n = len(self.attempts)
            by = {}
            for a in self.attempts:
                by[(a[2], a[3])] = by.get((a[2], a[3]), 0) + 1
        return f"{n} requests: " + ", ".join(f"{w} {s or 'no answer'}: {c}"
                                             for (w, s), c in sorted(by.items()))


# ---------------------------------------------------------------- one test's frame

class Run:
    """A test's users with their streams and its storm, and the checks they
    all end with."""

    def __init__(self, cluster, check, name):
        self.cluster, self.check, self.name = cluster, check, name
        self.port = cluster.ports["nginx"][0]
        self.users = [User(cluster.env["COOKIE_SECRET"]) for _ in range(USERS)]
        self.tickers = assets()
        self.streams = []
        self.storm = None
        self.notified_before = set(cluster.notified())
        self.t_kill = None

    def open_streams(self):
        self.streams = [Stream(self.port, u) for u in self.users]
        ok = testkit.wait_until(lambda: all(s.opened() for s in self.streams), 30)
        assert ok, (f"streams not open within 30s: "
                    f"{[s.statuses for s in self.streams if not s.opened()]}")

    def start_storm(self, spread_s=STORM_S, reads=False):
        self.storm = Storm(self.port, self.users, self.tickers, spread_s, reads=reads)
        return self.storm

    def close(self):
        if self.storm is not None:
            self.storm.stop()
        for s in self.streams:
            s.close()

    def api_after(self, t_kill, t_dead, victim_keys):
        """The API around a kill sent at t_kill (`./stack kill` returned at
        t_dead: the process is gone): every failed request is 5xx or
        unanswered and started within API_BACK_S of the kill, and a
        set-alert of a key of victim_keys (users' ids, tickers) sent after
        t_dead is answered 200 within API_BACK_S of the kill. Returns the
        seconds to that 200 (None: none)."""
        check, storm = self.check, self.storm
        fails = storm.failures()
        bad = [(round(a[0] - t_kill, 2), a[2], a[3]) for a in fails
               if not (a[3] == 0 or 500 <= a[3] <= 599)]
        check(not bad, f"{self.name}: requests failed with other than 5xx: {bad[:10]}")
        late = [(round(a[0] - t_kill, 2), a[2], a[3]) for a in fails
                if a[0] - t_kill > API_BACK_S or a[0] < t_kill]
        check(not late, f"{self.name}: requests failed outside the {API_BACK_S}s after the "
                        f"kill (s after the kill, what, status): {late[:10]}")
        with storm.lock:
            after = sorted(a[1] for a in storm.attempts
                           if a[2] == "set-alert" and a[3] == 200 and a[0] >= t_dead and
                           (a[4].id in victim_keys or a[5] in victim_keys))
        gap = after[0] - t_kill if after else None
        check(gap is not None and gap <= API_BACK_S,
              f"{self.name}: the first set-alert of the killed node's keys answered 200 "
              f"{'never' if gap is None else f'{gap:.1f}s'} after the kill "
              f"(bound {API_BACK_S}s)")
        last_fail = max((a[1] for a in fails), default=None)
        print(f"{self.name}: API: {len(fails)} requests failed "
              f"({sorted({a[3] for a in fails})}), the last one answered "
              f"{'-' if last_fail is None else f'{last_fail - t_kill:.1f}s'} after the kill; "
              f"first 200 for the killed node's keys "
              f"{'never' if gap is None else f'{gap:.1f}s'} after the kill")
        return gap

    def report_missing(self, ids):
        """Where the store has each alert of ids, printed: the evidence of a
        loss (acknowledged when, relative to the kill; which keys hold it)."""
        port = next(p for n, p in redis_ports(self.cluster).items())
        for aid in sorted(ids, key=lambda a: self.storm.acked[a][3]):
            u, ticker, fires, t_ack = self.storm.acked[aid]
            t = self.t_kill

            def rc(*args):
                return redis(port, "-c", *args).strip() or "-"
            print(f"  missing {aid} ({'fires' if fires else 'quiet'}, user {u.id[:8]}, "
                  f"{ticker}): acknowledged "
                  f"{'-' if t is None else f'{t_ack - t:+.2f}s'} from the kill; "
                  f"user_alerts {rc('hget', f'user_alerts:{{{u.id}}}', aid)!r}, "
                  f"ticker_alerts {rc('hget', f'ticker_alerts:{{{ticker}}}', aid)!r}, "
                  f"index {rc('zscore', f'alert_idx:{{{ticker}}}:above', aid)!r}, "
                  f"outbox entries {rc('xlen', f'alerts_outbox:{{{ticker}}}')}")

    def expected(self):
        """{user id: set of fired alert ids}, {user id: set of quiet alert ids}."""
        fired = {u.id: set() for u in self.users}
        quiet = {u.id: set() for u in self.users}
        for aid, (u, _, fires, _) in self.storm.acked.items():
            (fired if fires else quiet)[u.id].add(aid)
        return fired, quiet

    def verify_delivery(self):
        """Every fired alert once at its user's stream and at the notifiers,
        nothing else; lists and histories exact; no daemon restarted."""
        check, storm, cluster = self.check, self.storm, self.cluster
        check(not storm.unacked, f"{self.name}: {len(storm.unacked)} alerts never answered 200 "
                                 f"in {storm.give_up_s}s, e.g. {storm.unacked[:3]}")
        fired, quiet = self.expected()
        all_fired = set().union(*fired.values())
        all_quiet = set().union(*quiet.values())
        by_user = {s.user.id: s for s in self.streams}

        def done():
            note = cluster.notified()
            return (all(fired[u] <= set(by_user[u].alert_ids()) for u in fired) and
                    all(note.get(a, 0) >= 1 for a in all_fired))
        t0 = time.monotonic()
        complete = testkit.wait_until(done, DELIVERY_S, step=0.5)
        waited = time.monotonic() - t0
        # Late duplicates (a republished outbox entry, a replay) would come now.
        time.sleep(3)
        lost = dup = foreign = 0
        unexpected = []
        for u in self.users:
            s = by_user[u.id]
            ids = s.alert_ids()
            counts = {a: ids.count(a) for a in set(ids)}
            lost += sum(1 for a in fired[u.id] if a not in counts)
            dup += sum(1 for a in fired[u.id] if counts.get(a, 0) > 1)
            unexpected += [a for a in counts if a not in fired[u.id]]
            with s.lock:
                foreign += sum(1 for _, _, uid in s.events if uid != u.id)
        note = cluster.notified()
        n_lost = sum(1 for a in all_fired if note.get(a, 0) == 0)
        n_dup = sum(1 for a in all_fired if note.get(a, 0) > 1)
        n_unexpected = sorted(set(note) - self.notified_before - all_fired)
        drops = sum(s.drops for s in self.streams)
        refused = [st for s in self.streams for st in s.statuses if st != 200]
        print(f"{self.name}: {len(storm.acked)} alerts acknowledged ({len(all_fired)} firing, "
              f"{len(all_quiet)} quiet; {storm.replays} retries answered with the id of an "
              f"earlier answer) for {USERS} users; {storm.summary()}; "
              f"{'all delivered' if complete else 'NOT all delivered'} {waited:.1f}s after "
              f"the storm; streams: {lost} lost, {dup} duplicated, {len(unexpected)} unexpected, "
              f"{foreign} of another user ({drops} reconnections, opens refused {refused}); "
              f"notifiers: {n_lost} lost, {n_dup} duplicated, {len(n_unexpected)} unexpected")
        check(lost == 0 and dup == 0,
              f"{self.name}: streams: {lost} fired alerts lost, {dup} duplicated")
        check(not unexpected, f"{self.name}: streams got alerts not fired for their user: "
                              f"{unexpected[:10]}")
        check(foreign == 0, f"{self.name}: {foreign} events of another user on a stream")
        check(n_lost == 0 and n_dup == 0,
              f"{self.name}: notifiers: {n_lost} fired alerts lost, {n_dup} duplicated")
        check(not n_unexpected, f"{self.name}: notifiers logged alerts not acknowledged by "
                                f"this test: {n_unexpected[:10]}")
        # Stored once: the lists hold exactly the quiet alerts, the histories
        # exactly the fired ones.
        bad_lists, bad_hist, unlisted = [], [], set()
        for u in self.users:
            r = testkit.request("GET", self.port, "/api/get-alerts", cookie=u.cookie)
            listed = sorted(a["alert_id"] for a in (r.json() or {}).get("alerts", []))
            if r.status != 200 or listed != sorted(quiet[u.id]):
                bad_lists.append((u.id, r.status, len(listed), len(quiet[u.id])))
                unlisted |= quiet[u.id] - set(listed)
            r = testkit.request("GET", self.port, "/api/alert-history", cookie=u.cookie)
            hist = sorted(a.get("alert_id") for a in (r.json() or {}).get("alerts", []))
            if r.status != 200 or hist != sorted(fired[u.id]):
                bad_hist.append((u.id, r.status, len(hist), len(fired[u.id])))
        check(not bad_lists, f"{self.name}: lists not exactly the quiet alerts "
                             f"(user, status, listed, quiet): {bad_lists}")
        check(not bad_hist, f"{self.name}: histories not exactly the fired alerts "
                            f"(user, status, in history, fired): {bad_hist}")
        missing = {a for u in self.users for a in fired[u.id]
                   if a not in by_user[u.id].alert_ids() or note.get(a, 0) == 0}
        missing |= unlisted
        self.report_missing(missing)
        restarted = cluster.daemons_restarted()
        check(not restarted, f"{self.name}: daemons restarted or gone (pid then, now): "
                             f"{restarted}")


# ---------------------------------------------------------------- Redis

def redis_ports(cluster):
    return {n: cluster.ports[n][0] for n in cluster.named("redis-node")}


def keyslot(port, key):
    return int(redis(port, "cluster", "keyslot", key).strip())


def wait_redis_full(cluster, what, timeout=90):
    ports = list(redis_ports(cluster).values())
    why = []

    def full():
        why[:] = [redis_cluster_full(ports)]
        return why[0] is None
    t0 = time.monotonic()
    ok = testkit.wait_until(full, timeout, step=0.5)
    print(f"redis cluster whole {time.monotonic() - t0:.1f}s after {what}")
    return ok, why[0]


def test_redis_master_killed_during_storm(cluster, check):
    """A Redis master SIGKILLed while alerts are created and fire: its
    replica is promoted, the API is back within API_BACK_S, every alert
    acknowledged is delivered once, and the node rejoins as a replica."""
    nodes_by_name = redis_ports(cluster)
    ok, why = wait_redis_full(cluster, "the test's start")
    assert ok, f"the Redis Cluster is not whole before the test: {why}"
    run = Run(cluster, check, "redis master killed")
    try:
        any_port = next(iter(nodes_by_name.values()))
        nodes = redis_cluster_nodes(any_port)
        owner = {}
        for u in run.users:
            owner[u.id] = slot_owner(nodes, keyslot(any_port, f"user_alerts:{{{u.id}}}"))
        for t in run.tickers:
            owner[t] = slot_owner(nodes, keyslot(any_port, f"ticker_alerts:{{{t}}}"))
        counts = {}
        for port in owner.values():
            counts[port] = counts.get(port, 0) + 1
        victim_port = max(counts, key=counts.get)
        victim = next(n for n, p in nodes_by_name.items() if p == victim_port)
        victim_id = next(n["id"] for n in nodes if n["port"] == victim_port)
        replica = next(n["port"] for n in nodes if n["master"] == victim_id)
        victim_keys = {k for k, p in owner.items() if p == victim_port}
        print(f"victim {victim} (:{victim_port}, replica :{replica}): master of "
              f"{sum(1 for u in run.users if u.id in victim_keys)} of {USERS} users and "
              f"{sum(1 for t in run.tickers if t in victim_keys)} of {len(run.tickers)} tickers")

        run.open_streams()
        storm = run.start_storm()
        assert testkit.wait_until(lambda: storm.created() >= storm.total // 4, STORM_S + 60), \
            "the storm did not get going"
        t_kill = run.t_kill = time.monotonic()
        rc, _ = cluster.stack("kill", victim, "KILL")
        t_dead = time.monotonic()
        check(rc == 0, f"./stack kill {victim} KILL")

        def promoted():
            me = next((n for n in redis_cluster_nodes(replica) if n["port"] == replica), None)
            return (me is not None and "master" in me["flags"] and
                    redis_cluster_info(replica).get("cluster_state") == "ok")
        check(testkit.wait_until(promoted, 30, step=0.1),
              f"replica :{replica} not promoted within 30s of the kill")
        failover_s = time.monotonic() - t_kill
        print(f"failover: replica :{replica} master and the cluster ok {failover_s:.1f}s "
              f"after the kill")
        check(storm.wait_created(STORM_S + storm.give_up_s + 30), "the storm did not end")
        run.api_after(t_kill, t_dead, victim_keys)

        t0 = time.monotonic()
        rc, _ = cluster.stack("start", victim)
        check(rc == 0, f"./stack start {victim}")
        ok, why = wait_redis_full(cluster, f"./stack start {victim}")
        check(ok, f"the cluster not whole within 90s of {victim}'s start: {why}")
        print(f"{victim} back as a replica: cluster whole {time.monotonic() - t0:.1f}s "
              f"after its start")
        run.verify_delivery()
    finally:
        run.close()


# ---------------------------------------------------------------- Kafka

def contract_topics():
    return subprocess.run([os.path.join(ROOT, "build", "tools", "kafka-admin"), "topics"],
                          capture_output=True, text=True, check=True).stdout.split()


def wait_isr_full(cluster, what):
    t0 = time.monotonic()
    short = []

    def full():
        short[:] = isr_short(cluster.bootstrap())
        return not short
    ok = testkit.wait_until(full, ISR_S, step=1)
    print(f"every ISR 3 brokers {time.monotonic() - t0:.1f}s after {what}")
    return ok, short


def test_broker_killed_during_storm(cluster, check):
    """A broker SIGKILLed while alerts are created and fire, started again
    ~10 s later: it rejoins every ISR, and every alert acknowledged is
    delivered once."""
    ok, short = wait_isr_full(cluster, "the test's start")
    assert ok, f"partitions not fully in sync before the test: {short}"
    topics = set(contract_topics())
    leads = {}
    for t in metadata(cluster.bootstrap())["topics"]:
        if t["topic"] in topics:
            for p in t["partitions"]:
                leads[p["leader"]] = leads.get(p["leader"], 0) + 1
    leader = max(leads, key=leads.get)
    victim = f"kafka-{leader}"
    print(f"victim {victim}: leader of {leads[leader]} partitions of {sorted(topics)}")
    run = Run(cluster, check, "broker killed")
    try:
        run.open_streams()
        storm = run.start_storm()
        assert testkit.wait_until(lambda: storm.created() >= storm.total // 4, STORM_S + 60), \
            "the storm did not get going"
        t_kill = run.t_kill = time.monotonic()
        rc, _ = cluster.stack("kill", victim, "KILL")
        t_dead = time.monotonic()
        check(rc == 0, f"./stack kill {victim} KILL")
        # The broker stays down ~10 s, as a crashed host restarting would.
        time.sleep(max(0.0, t_kill + 10 - time.monotonic()))
        rc, _ = cluster.stack("start", victim)
        check(rc == 0, f"./stack start {victim}")
        ok, short = wait_isr_full(cluster, f"./stack start {victim}")
        check(ok, f"{victim} not in every ISR within {ISR_S}s of its start: {short}")
        check(storm.wait_created(STORM_S + storm.give_up_s + 30), "the storm did not end")
        run.api_after(t_kill, t_dead, {u.id for u in run.users})
        run.verify_delivery()
    finally:
        run.close()


def test_rolling_broker_restart_under_load(cluster, check):
    """`./stack restart kafka-1`, then kafka-2, then kafka-3, each once every
    partition's ISR is 3 again, under a load of set-alert, get-alerts and
    alert-history: no request fails, every fired alert delivered once."""
    ok, short = wait_isr_full(cluster, "the test's start")
    assert ok, f"partitions not fully in sync before the test: {short}"
    run = Run(cluster, check, "rolling broker restart")
    try:
        run.open_streams()
        storm = run.start_storm(spread_s=ROLLING_S, reads=True)
        t0 = time.monotonic()
        for broker in cluster.named("kafka-[123]"):
            t = time.monotonic()
            rc, _ = cluster.stack("restart", broker)
            if not check(rc == 0, f"./stack restart {broker}"):
                break
            ok, short = wait_isr_full(cluster, f"./stack restart {broker}")
            print(f"{broker}: restarted and every ISR 3 again in {time.monotonic() - t:.1f}s")
            if not check(ok, f"{broker}: ISRs not 3 within {ISR_S}s: {short}"):
                break
        print(f"rolling restart of the brokers: {time.monotonic() - t0:.1f}s")
        check(storm.wait_created(ROLLING_S + storm.give_up_s + 30), "the creates did not end")
        storm.stop()
        fails = storm.failures()
        check(not fails, f"{len(fails)} requests failed during the rolling restart "
                         f"(s from its start, what, status): "
                         f"{[(round(a[0] - t0, 1), a[2], a[3]) for a in fails[:10]]}")
        run.verify_delivery()
    finally:
        run.close()
