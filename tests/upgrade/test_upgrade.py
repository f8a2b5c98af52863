#!/usr/bin/env python3
"""Upgrades keep data: a Redis written by an earlier version (fixture-v1.json:
v1, histories as lists with a store-wide seq; fixture-v2.json: v2, per-user
history streams and the untagged alert keys of schema 2; both made by
make_fixture.py from that version's binaries) works with the binaries under
test. "v1" below is the fixture's version; its positions are v1's seq
numbers or v2's event ids.

The test Redis (TEST_REDIS_HOST/PORT) is emptied (FLUSHALL, and again at the
end) and the fixture restored exactly (stream ids, list order, TTLs); two
webapp replicas are started at the same moment (a migration at start must be
safe when replicas race), then a consumer, on topics new to this run. Checks,
through the HTTP API and Kafka only (never the keys a new version writes):
  a. every fixture alert is listed for its user, same fields, nothing extra;
  b. the history is all there, newest first, on both replicas;
  c. alerts v1 claimed but never published (its outbox) reach the alerts topic
     once each, and are once in the history and once on the user's streams
     that v1's browsers resume (Last-Event-ID: the position they had seen,
     just before the outbox alert: v1 wrote the history at claim time, so a
     fresh stream of either version starts after it and the page shows it as
     history);
  d. a stream resumed with a v1 Last-Event-ID N (v1: a number; v2: an event
     id) replays exactly the history entries after N, once each, in order (N
     mid-history; the start: all; the newest: none);
  g. an Idempotency-Key of the fixture returns its alert and stores nothing;
  e. every active alert still fires once: once on the topic, once on its
     user's stream, then gone from the list and once in the history;
  f. after a restart of everything (started together again) the history is
     unchanged: same entries, same order, same event ids, nothing twice.
Fields a new version adds (e.g. "event_id") are not required: alert_ids are
compared. SSE ids of v1 entries may be "N" (v1) or "0-N" (a stream id).
Ports: from TEST_HTTP_PORT + 500 up. Logs: a temporary folder, printed on
failure, removed on success. The tests run in file order, each on what the
ones before left.

usage: pytest test_upgrade.py [--bin webapp=PATH --bin consumer=PATH
           --bin kafka-admin=PATH]   (default: the binaries of build/;
           UPGRADE_FIXTURE=FILE: another fixture than fixture-v1.json)
       test_upgrade.py WEBAPP CONSUMER KAFKA_ADMIN [FIXTURE [PYTEST ARGS]]
"""
import json
import os
import secrets
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import testkit  # noqa: E402
from testkit import asset_record, free_port, mint_cookie, request, wait_until  # noqa: E402
import upgradekit as uk  # noqa: E402

if __name__ == "__main__":  # before pytest is imported: testkit.pytest_main finds one
    # The former command line: WEBAPP CONSUMER KAFKA_ADMIN [FIXTURE [pytest arguments]].
    args = sys.argv[1:]
    if len(args) >= 3 and not args[0].startswith("-"):
        if len(args) >= 4 and not args[3].startswith("-"):
            os.environ["UPGRADE_FIXTURE"] = args.pop(3)
        args = [f"--bin=webapp={args[0]}", f"--bin=consumer={args[1]}",
                f"--bin=kafka-admin={args[2]}", *args[3:]]
    sys.exit(testkit.pytest_main(__file__, args))

import pytest  # noqa: E402

HIGH, LOW = 1e7, 0.01  # above every threshold of the fixture, below every one
QUIET_S = 2.0  # how long a stream is watched for a duplicate after what it awaited

# The binaries under test, the test servers and the log folder: set by the
# setup fixture.
WEBAPP = CONSUMER = KAFKA_ADMIN = None
BOOT = REDIS_HOST = REDIS_PORT = None
LOGDIR = None
FIXTURE = os.environ.get("UPGRADE_FIXTURE") or os.path.join(HERE, "fixture-v1.json")

FX = json.load(open(FIXTURE, encoding="utf-8"))
VERSION = FX.get("version", 1)
SECRET = FX["cookie_secret"]
USERS = {u["user_id"]: u for u in FX["users"]}
COOKIE = {u: mint_cookie(u, SECRET) for u in USERS}
OUTBOX = {o["alert_id"]: o for o in FX["outbox"]}
ACTIVE = {a["alert_id"]: dict(a, user_id=u) for u, x in USERS.items() for a in x["alerts"]}
LEGACY = {h["alert_id"]: dict(h, user_id=u) for u, x in USERS.items() for h in x["history"]}

UNIQ = f"{os.getpid()}{int(time.time() * 1000) % 10**8}"
TOPIC_P = f"upgrade-it-{UNIQ}-prices"
TOPIC_A = f"upgrade-it-{UNIQ}-alerts"
TOPIC_S = f"upgrade-it-{UNIQ}-assets"  # the asset universe the replicas read
GROUP = f"upgrade-it-{UNIQ}-evaluators"


def ports(n):
    """n ports: from TEST_HTTP_PORT + 500 up (the range the stack gives this
    run), or any free ones without it."""
    base = int(os.environ.get("TEST_HTTP_PORT", "0") or 0)
    out = []
    for _ in range(n):
        out.append(uk.pick_port(base + 500, set(out)) if base > 1024 else free_port())
    return out


*WEB_PORTS, CONS_PORT = ports(3)
DAEMONS = []


def env_of(extra):
    env = dict(os.environ)
    env.update({"KAFKA_BOOTSTRAP_SERVERS": BOOT, "REDIS_HOST": REDIS_HOST,
                "REDIS_PORT": REDIS_PORT, "LISTEN_HOST": uk.HOST, "TOPIC_PRICES": TOPIC_P,
                "TOPIC_ALERTS": TOPIC_A, "TOPIC_ASSETS": TOPIC_S, "LOG_LEVEL": "info"})
    env.update(extra)
    return env


def start_all(with_consumer):
    """Both replicas (and the consumer) started back to back, before any of
    them is waited for: their migrations at start run at the same moment."""
    started = []
    for i, port in enumerate(WEB_PORTS):
        started.append((uk.Daemon(f"webapp{i}", [WEBAPP], env_of({
            "WEBAPP_PORT": str(port), "COOKIE_SECRET": SECRET, "WEBAPP_THREADS": "2",
            "WEBAPP_INSTANCE": str(i), "SSE_HEARTBEAT_MS": "1000"}),
            os.path.join(LOGDIR, f"webapp{i}.log")), port))
    if with_consumer:
        started.append((start_consumer_proc(), CONS_PORT))
    DAEMONS.extend(d for d, _ in started)
    for d, port in started:
        uk.wait_healthy(d, port, "/health")
    return [d for d, _ in started]


def start_consumer_proc():
    # The sweeper republishes what is older than OUTBOX_REDELIVER_MS: v1's
    # leftovers at once.
    return uk.Daemon("consumer", [CONSUMER], env_of({
        "METRICS_PORT": str(CONS_PORT), "CONSUMER_GROUP": GROUP,
        "OUTBOX_REDELIVER_MS": "500", "OUTBOX_SWEEP_MS": "100"}),
        os.path.join(LOGDIR, "consumer.log"))


def start_consumer():
    d = start_consumer_proc()
    DAEMONS.append(d)
    uk.wait_healthy(d, CONS_PORT, "/health")
    return d


def api(method, path, user, port, body=None, headers=None):
    r = request(method, port, path, body=body, cookie=COOKIE[user], headers=headers)
    assert r.status == 200, f"{method} {path} on :{port}: {r.status} {r.body[:200]!r}"
    return r.json()


def alerts_of(user, port):
    return api("GET", "/api/get-alerts", user, port)["alerts"]


def history_of(user, port):
    """The user's history as alert_ids, newest first."""
    h = api("GET", "/api/alert-history", user, port)
    assert isinstance(h, dict) and set(h) == {"alerts"}, f"history shape: {str(h)[:200]}"
    return [x["alert_id"] for x in h["alerts"]]


def legacy_ids(user):
    return [h["alert_id"] for h in USERS[user]["history"]]


def topic_counts():
    return uk.count_by_alert_id(uk.topic_messages(BOOT, TOPIC_A))


def wait_on_topic(ids, timeout=60):
    """Topic counts once every id of ids was published (or raises)."""
    ids = set(ids)

    def all_there():
        c = topic_counts()
        return c if ids <= set(c) else None
    counts = wait_until(all_there, timeout, 0.5)
    assert counts is not None, f"never on the alerts topic: {sorted(ids - set(topic_counts()))}"
    return counts


# Positions as the fixture's version gave them: v1 a seq (SSE id "N", or the
# stream id "0-N" the migration gave it), v2 an event id "<ms>-<n>".
START = {"seq": 0} if VERSION == 1 else {"event_id": "0-0"}


def pos_of(x):
    """The order of a fixture entry (or START) in its user's history."""
    if VERSION == 1:
        return (0, x["seq"])
    ms, n = x["event_id"].split("-")
    return (int(ms), int(n))


def token(x):
    """The Last-Event-ID a browser of that version held after entry x."""
    return x["seq"] if VERSION == 1 else x["event_id"]


def sse_id_ok(eid, x):
    """A fixture entry's SSE id now: v1's seq or "0-seq"; v2's event id."""
    if VERSION == 1:
        return eid in (str(x["seq"]), f"0-{x['seq']}")
    return eid == x["event_id"]


# ---------------------------------------------------------------- the steps

def restore():
    """the fixture is restored exactly"""
    r = uk.Redis(REDIS_HOST, REDIS_PORT)
    try:
        t0 = time.monotonic()
        uk.restore_keys(r, FX["keys"])
        diffs = uk.compare_dumps(FX["keys"], uk.dump_keys(r),
                                 int((time.monotonic() - t0) * 1000) + 1000)
    finally:
        r.close()
    assert not diffs, "restored Redis differs from the fixture: " + "; ".join(diffs[:5])
    newest = max(int(o["outbox_id"].split("-")[0]) for o in FX["outbox"])
    assert newest < time.time() * 1000, (
        f"the fixture's outbox ids are in this clock's future "
        f"(made {FX['made_at']}): the sweeper would not see them as old")


def test_warm_up(replicas):
    """warm-up: both replicas read the alerts topic.

    Each replica reads the alerts topic from its end once assigned: publish
    until a warm-up alert reaches a stream on each."""
    user = secrets.token_hex(16)
    COOKIE[user] = mint_cookie(user, SECRET)
    streams = [uk.Sse(p, "/api/stream-alerts", COOKIE[user]) for p in WEB_PORTS]
    try:
        assert all(s.status == 200 for s in streams), "warm-up streams"
        for s in streams:
            def seen(s=s):
                uk.produce(BOOT, TOPIC_A, [(user, json.dumps({
                    "alert_id": f"warmup-{secrets.token_hex(4)}", "user_id": user,
                    "ticker": "AAPL", "price": 2.0, "threshold": 1.0, "type": "above",
                    "timestamp": time.time(), "message": "warm-up"}))])
                return s.collect(lambda g: g, 1.0, 0)
            assert wait_until(seen, 60, 0), "no alert ever reached a replica's stream"
    finally:
        for s in streams:
            s.close()


def same_alert(got, want):
    """The fields v1 listed. Its JSON carried 15 significant digits, the
    store keeps more: a created_at may now be listed closer to what is
    stored (1796174642.831131 for v1's 1796174642.83113), within v1's
    rounding."""
    keys = ("alert_id", "ticker", "threshold", "type")
    return ({k: got.get(k) for k in keys} == {k: want[k] for k in keys} and
            isinstance(got.get("created_at"), (int, float)) and
            abs(got["created_at"] - want["created_at"]) <= abs(want["created_at"]) * 1e-14)


def test_alerts_listed(replicas):
    """a. every v1 alert is listed, same fields, nothing extra"""
    for port in WEB_PORTS:
        for u, x in USERS.items():
            got = alerts_of(u, port)
            want = x["alerts"]
            assert len(got) == len(want) and all(same_alert(g, w) for g, w in zip(got, want)), (
                f"user {u[:8]} on :{port}: listed {got}, fixture {want}")


def history_kept():
    for port in WEB_PORTS:
        for u in USERS:
            got = history_of(u, port)
            assert got == legacy_ids(u), (
                f"user {u[:8]} on :{port}: history {got}, "
                f"fixture {legacy_ids(u)}")


def test_history_kept(replicas):
    """b. the v1 history is there, newest first, on both replicas"""
    history_kept()


OUTBOX_STREAMS = []


def test_open_outbox_streams(replicas):
    """streams open for the users with v1 outbox alerts"""
    for o in FX["outbox"]:
        # the browser of v1 had seen everything of this user before the claim
        first = min((x for x in FX["outbox"] if x["user_id"] == o["user_id"]), key=pos_of)
        seen = ({"seq": first["seq"] - 1} if VERSION == 1 else
                {"event_id": first["prev_event_id"]})
        for port in WEB_PORTS:
            s = uk.Sse(port, "/api/stream-alerts", COOKIE[o["user_id"]],
                       last_event_id=token(seen))
            assert s.status == 200, f"stream status {s.status}"
            OUTBOX_STREAMS.append((o["user_id"], port, s, seen))


def ids_of(events):
    return {e.get("alert_id") for _, e in events}


def outbox_stream_wants(user, seen):
    """What a stream resumed after position seen must get: the user's outbox
    alerts and every history entry after seen (v1 wrote both at claim time)."""
    return ({a for a, o in OUTBOX.items() if o["user_id"] == user} |
            {h["alert_id"] for h in USERS[user]["history"] if pos_of(h) > pos_of(seen)})


def test_consumer_starts(replicas):
    """the consumer starts on v1 data"""
    start_consumer()


def test_outbox_delivered(replicas):
    """c. v1 outbox alerts: on the topic, on the streams, in the history, once"""
    wait_on_topic(OUTBOX)
    for user, port, s, seen in OUTBOX_STREAMS:
        want = outbox_stream_wants(user, seen)
        s.wait_for(lambda g, want=want: want <= ids_of(g), 30)
    time.sleep(QUIET_S)  # a second delivery or a second republish would come now
    for user, port, s, seen in OUTBOX_STREAMS:
        want = outbox_stream_wants(user, seen)
        ids = s.alert_ids()
        s.close()
        assert sorted(ids) == sorted(want), (
            f"user {user[:8]} on :{port}: the stream got {ids}, "
            f"wanted {sorted(want)} once each")
    counts = topic_counts()
    assert all(counts.get(a) == 1 for a in OUTBOX), (
        "outbox alerts on the topic: "
        f"{ {a: counts.get(a) for a in OUTBOX} }")
    leaked = {a: n for a, n in counts.items() if a in LEGACY and a not in OUTBOX}
    assert not leaked, f"acknowledged v1 alerts published again: {leaked}"
    for o in FX["outbox"]:
        for port in WEB_PORTS:
            h = history_of(o["user_id"], port)
            assert h.count(o["alert_id"]) == 1, (
                f"outbox alert {o['alert_id']} is "
                f"{h.count(o['alert_id'])} times in the history on :{port}")


def test_history_unchanged_with_consumer(replicas):
    """b. (again, consumer running) the v1 history is unchanged"""
    history_kept()


def replay_user():
    """The user with the longest history among those with an outbox alert."""
    cands = [u for u in USERS if any(o["user_id"] == u for o in FX["outbox"])]
    return max(cands, key=lambda u: len(USERS[u]["history"]))


def replays(user, cases):
    """What streams resumed at once replay: cases are (port, Last-Event-ID,
    alert_ids expected); returns a list of [(SSE id, alert_id)] per case."""
    streams = []
    try:
        for port, last_id, _ in cases:
            s = uk.Sse(port, "/api/stream-alerts", COOKIE[user], last_event_id=last_id)
            streams.append(s)
            assert s.status == 200, f"stream with Last-Event-ID {last_id}: {s.status}"
        for s, (_, _, want) in zip(streams, cases):
            s.wait_for(lambda g, want=set(want): want <= ids_of(g), 20)
        time.sleep(QUIET_S)  # anything more, or twice, would come now
        return [[(eid, e.get("alert_id")) for eid, e in s.events()] for s in streams]
    finally:
        for s in streams:
            s.close()


def test_resume_numeric(replicas):
    """d. a v1 Last-Event-ID (seq or event id) resumes exactly after it"""
    user = replay_user()
    hist = USERS[user]["history"]  # newest first
    assert len(hist) >= 3, "the fixture needs a user with three history entries"
    entry_of = {h["alert_id"]: h for h in hist}
    mine_outbox = {a for a, o in OUTBOX.items() if o["user_id"] == user}
    cases = []
    for at in (hist[-2], START, hist[0]):  # mid-history, everything, nothing
        want = [h["alert_id"] for h in reversed(hist) if pos_of(h) > pos_of(at)]  # oldest first
        cases.extend((port, token(at), want) for port in WEB_PORTS)
    for (port, n, want), got in zip(cases, replays(user, cases)):
        ids = [a for _, a in got]
        where = f"Last-Event-ID {n} on :{port}"
        assert len(ids) == len(set(ids)), f"{where}: replayed twice: {got}"
        assert set(want) <= set(ids) <= set(want) | mine_outbox, (
            f"{where}: replayed {ids}, wanted {want}")
        plain = [a for a in ids if a not in mine_outbox]
        assert plain == [a for a in want if a not in mine_outbox], (
            f"{where}: order {plain}, wanted oldest first")
        for eid, a in got:
            # an outbox alert may have entered the history again when published
            ok = bool(eid) if a in mine_outbox else sse_id_ok(eid, entry_of[a])
            assert ok, f"{where}: {a} (at {token(entry_of[a])}) has id {eid!r}"


def test_idempotency_replay(replicas):
    """g. a v1 Idempotency-Key returns its alert, stores nothing"""
    assert any(i["active"] for i in FX["idempotency"]), "the fixture has no live idempotency key"
    before = {u: alerts_of(u, WEB_PORTS[0]) for u in USERS}
    for n, i in enumerate(FX["idempotency"]):
        port = WEB_PORTS[n % len(WEB_PORTS)]
        r = api("POST", "/api/set-alert", i["user_id"], port, body=i["request"],
                headers={"Idempotency-Key": i["key"]})
        assert r.get("alert_id") == i["alert_id"], (
            f"Idempotency-Key {i['key']} of "
            f"{i['user_id'][:8]}: got {r}, stored {i['alert_id']}")
    for u in USERS:
        assert alerts_of(u, WEB_PORTS[1]) == before[u], f"user {u[:8]}: a replay stored something"
        assert history_of(u, WEB_PORTS[1]) == legacy_ids(u), f"user {u[:8]}: history changed"


def test_every_alert_fires_once(replicas):
    """e. every v1 alert fires once: topic, stream, history"""
    users = [u for u in USERS if USERS[u]["alerts"]]
    streams = {}
    try:
        for n, u in enumerate(users):
            s = uk.Sse(WEB_PORTS[n % 2], "/api/stream-alerts", COOKIE[u])
            assert s.status == 200, f"stream status {s.status}"
            streams[u] = s
        tickers = sorted({a["ticker"] for a in ACTIVE.values()})

        def all_fired():
            # Sent again until claimed: a claimed alert is gone, it cannot fire twice.
            uk.produce(BOOT, TOPIC_P, [uk.tick(t, p) for t in tickers for p in (HIGH, LOW)])
            return wait_until(lambda: all(not alerts_of(u, WEB_PORTS[0]) for u in users), 2, 0.2)
        assert wait_until(all_fired, 90, 0), (
            "active alerts left: " + str(
            {u[:8]: [a["alert_id"] for a in alerts_of(u, WEB_PORTS[0])] for u in users}))
        wait_on_topic(ACTIVE)
        for u in users:
            want = {a["alert_id"] for a in USERS[u]["alerts"]}
            streams[u].wait_for(lambda g, want=want: want <= ids_of(g), 30)
        time.sleep(QUIET_S)  # a second delivery would come now
        for u in users:
            want = {a["alert_id"] for a in USERS[u]["alerts"]}
            got = streams[u].events()
            ids = [e.get("alert_id") for _, e in got]
            assert sorted(ids) == sorted(want), (
                f"user {u[:8]}: the stream got {ids}, wanted "
                f"{sorted(want)} once each")
            for _, e in got:
                a = ACTIVE[e["alert_id"]]
                assert ((e.get("user_id"), e.get("ticker"), e.get("threshold"), e.get("type")) ==
                        (u, a["ticker"], a["threshold"], a["type"])), f"fired as {e}, set as {a}"
        counts = topic_counts()
        assert all(counts.get(a) == 1 for a in ACTIVE), (
            f"on the topic: { {a: counts.get(a) for a in ACTIVE if counts.get(a) != 1} }")
        for port in WEB_PORTS:
            for u in USERS:
                assert alerts_of(u, port) == [], f"user {u[:8]} still has alerts on :{port}"
                h = history_of(u, port)
                fired = {a["alert_id"] for a in USERS[u]["alerts"]}
                k = len(fired)
                assert sorted(h[:k]) == sorted(fired) and h[k:] == legacy_ids(u), (
                    f"user {u[:8]} on :{port}: history {h}, wanted {sorted(fired)} "
                    f"then {legacy_ids(u)}")
    finally:
        for s in streams.values():
            s.close()


def snapshot():
    """Everything the restart must keep: each history on each replica, and
    what a resumed stream replays (ids included)."""
    user = replay_user()
    hist = USERS[user]["history"]
    everything = history_of(user, WEB_PORTS[0])
    snap = {"history": {(u, p): history_of(u, p) for u in USERS for p in WEB_PORTS},
            "replay": replays(user, [(p, token(hist[-2]), everything[:-2]) for p in WEB_PORTS])}
    return snap


def test_restart_keeps_history(replicas):
    """f. a restart (all together) changes no history"""
    before = snapshot()
    for u in USERS:
        assert before["history"][(u, WEB_PORTS[0])] == before["history"][(u, WEB_PORTS[1])], (
            f"user {u[:8]}: the replicas list different histories")
        h = before["history"][(u, WEB_PORTS[0])]
        assert len(h) == len(set(h)), f"user {u[:8]}: an entry twice in {h}"
    for d in list(DAEMONS):
        if d.alive():
            rc = d.stop()
            assert rc == 0, f"{d.name} exited {rc} on SIGTERM"
    start_all(with_consumer=True)
    after = snapshot()
    for k, h in before["history"].items():
        assert after["history"][k] == h, (
            f"user {k[0][:8]} on :{k[1]} after the restart: "
            f"{after['history'][k]}, before: {h}")
    assert after["replay"] == before["replay"], (
        f"replay after the restart "
        f"{after['replay']}, before: {before['replay']}")
    for u in USERS:
        assert alerts_of(u, WEB_PORTS[0]) == [], f"user {u[:8]} has alerts again"


def test_published_once_in_all(replicas):
    """published once in all: outbox and active alerts, nothing acknowledged.

    After every start, the topic holds each outbox and each active alert
    once, and no alert v1 had already published. A restarted sweeper acts
    within OUTBOX_REDELIVER_MS + OUTBOX_SWEEP_MS: watched for 3 s."""
    time.sleep(3)
    counts = topic_counts()
    bad = {a: counts.get(a, 0) for a in list(OUTBOX) + list(ACTIVE) if counts.get(a) != 1}
    bad.update({a: n for a, n in counts.items() if a in LEGACY and a not in OUTBOX})
    assert not bad, f"published counts off: {bad}"


def test_daemons_stop_cleanly(replicas):
    """every daemon exits 0 on SIGTERM"""
    bad = []
    for d in DAEMONS:
        if d.alive():
            rc = d.stop()
            if rc != 0:
                bad.append(f"{d.name} exited {rc} on SIGTERM")
    assert not bad, "; ".join(bad)


def test_logs_clean(replicas):
    """the daemons' logs, once they have exited: no sanitizer report, no secret"""
    for d in DAEMONS:
        d.kill()
    bad = []
    for name in sorted(os.listdir(LOGDIR)):
        text = open(os.path.join(LOGDIR, name), encoding="utf-8", errors="replace").read()
        if "ERROR: AddressSanitizer" in text or "LeakSanitizer" in text or \
                "runtime error:" in text:
            bad.append(f"sanitizer report in {name}")
        if SECRET in text:
            bad.append(f"the cookie secret appears in {name}")
    assert not bad, "; ".join(bad)


def empty_redis():
    """The tests after this one share the Redis: leave nothing of the fixture
    (an outbox entry left by a failure would be republished by their consumers)."""
    try:
        r = uk.Redis(REDIS_HOST, REDIS_PORT)
        r.call("FLUSHALL")
        r.close()
    except (OSError, uk.RedisError) as e:
        print(f"could not empty the test Redis: {e}")


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module", autouse=True)
def setup(services, bins, logdir):
    """The binaries under test, the test servers, this run's topics."""
    global WEBAPP, CONSUMER, KAFKA_ADMIN, BOOT, REDIS_HOST, REDIS_PORT, LOGDIR
    WEBAPP, CONSUMER, KAFKA_ADMIN = bins("webapp"), bins("consumer"), bins("kafka-admin")
    BOOT, REDIS_HOST, REDIS_PORT = services.kafka, services.redis_host, services.redis_port
    LOGDIR = logdir
    print(f"fixture {os.path.basename(FIXTURE)}: v{VERSION} commit {FX['source_commit'][:12]}, "
          f"{len(FX['keys'])} keys, {len(ACTIVE)} active alerts, {len(LEGACY)} history "
          f"entries, {len(OUTBOX)} in the outbox; logs in {LOGDIR}", flush=True)
    uk.run_checked([KAFKA_ADMIN, "create-topics", "--bootstrap", BOOT, "--partitions", "3",
                    TOPIC_P, TOPIC_A, TOPIC_S])
    # The fixture's tickers are in the universe, as the producers announce them.
    tickers = {a["ticker"] for a in ACTIVE.values()}
    tickers |= {json.loads(i["request"])["ticker"] if isinstance(i["request"], str)
                else i["request"]["ticker"] for i in FX["idempotency"]}
    uk.produce(BOOT, TOPIC_S, [asset_record(t, source="sim") for t in sorted(tickers)])


@pytest.fixture(scope="module")
def replicas():
    """The test Redis holding exactly what v1 left, and two replicas started
    together on it: what every test builds on (when this fails, nothing
    runs). Afterwards every daemon is killed and the Redis emptied."""
    try:
        restore()
        yield start_all(with_consumer=False)
    finally:
        for d in DAEMONS:
            d.kill()
        for _, _, s, _ in OUTBOX_STREAMS:
            s.close()
        empty_redis()

