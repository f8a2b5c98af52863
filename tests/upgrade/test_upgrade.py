#!/usr/bin/env python3
"""Upgrades keep data: a Redis written by v1 (fixture-v1.json, made by
make_fixture.py from the v1 binaries) works with the binaries under test.

The test Redis (TEST_REDIS_HOST/PORT) is emptied (FLUSHALL, and again at the
end) and the fixture restored exactly (stream ids, list order, TTLs); two
webapp replicas are started at the same moment (a migration at start must be
safe when replicas race), then a consumer, on topics new to this run. Checks,
through the HTTP API and Kafka only (never the keys a new version writes):
  a. every fixture alert is listed for its user, same fields, nothing extra;
  b. the history is all there, newest first, on both replicas;
  c. alerts v1 claimed but never published (its outbox) reach the alerts topic
     once each, and are once in the history and once on the user's streams
     that v1's browsers resume (Last-Event-ID: the seq they had seen, just
     before the outbox alert: v1 wrote the history at claim time, so a fresh
     stream of either version starts after it and the page shows it as
     history);
  d. a stream resumed with a v1 numeric Last-Event-ID N replays exactly the
     history entries after seq N, once each, in order (N mid-history; 0: all;
     the newest: none);
  g. an Idempotency-Key of the fixture returns its alert and stores nothing;
  e. every active alert still fires once: once on the topic, once on its
     user's stream, then gone from the list and once in the history;
  f. after a restart of everything (started together again) the history is
     unchanged: same entries, same order, same event ids, nothing twice.
Fields a new version adds (e.g. "event_id") are not required: alert_ids are
compared. SSE ids of v1 entries may be "N" (v1) or "0-N" (a stream id).
Ports: from TEST_HTTP_PORT + 500 up. Logs: a temporary folder, printed on
failure, removed on success.

usage: test_upgrade.py WEBAPP CONSUMER KAFKA_ADMIN [FIXTURE]   (exit 77: skipped)
"""
import json
import os
import secrets
import shutil
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
from testkit import free_port, mint_cookie, request, wait_until  # noqa: E402
import upgradekit as uk  # noqa: E402

HIGH, LOW = 1e7, 0.01  # above every threshold of the fixture, below every one
QUIET_S = 2.0  # how long a stream is watched for a duplicate after what it awaited


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(77)


if len(sys.argv) not in (4, 5):
    print(__doc__)
    sys.exit(2)
WEBAPP, CONSUMER, KAFKA_ADMIN = sys.argv[1:4]
FIXTURE = sys.argv[4] if len(sys.argv) == 5 else os.path.join(HERE, "fixture-v1.json")
BOOT = os.environ.get("TEST_KAFKA_BOOTSTRAP")
REDIS_HOST = os.environ.get("TEST_REDIS_HOST")
REDIS_PORT = os.environ.get("TEST_REDIS_PORT")
if not BOOT or not REDIS_HOST or not REDIS_PORT:
    skip("TEST_KAFKA_BOOTSTRAP / TEST_REDIS_HOST / TEST_REDIS_PORT not set")

FX = json.load(open(FIXTURE, encoding="utf-8"))
SECRET = FX["cookie_secret"]
USERS = {u["user_id"]: u for u in FX["users"]}
COOKIE = {u: mint_cookie(u, SECRET) for u in USERS}
OUTBOX = {o["alert_id"]: o for o in FX["outbox"]}
ACTIVE = {a["alert_id"]: dict(a, user_id=u) for u, x in USERS.items() for a in x["alerts"]}
LEGACY = {h["alert_id"]: dict(h, user_id=u) for u, x in USERS.items() for h in x["history"]}

UNIQ = f"{os.getpid()}{int(time.time() * 1000) % 10**8}"
TOPIC_P = f"upgrade-it-{UNIQ}-prices"
TOPIC_A = f"upgrade-it-{UNIQ}-alerts"
GROUP = f"upgrade-it-{UNIQ}-evaluators"
LOGDIR = tempfile.mkdtemp(prefix="upgrade-it-")


def ports(n):
    """n ports: from TEST_HTTP_PORT + 500 up (the range the stack gives this
    run), or any free ones without it."""
    base = int(os.environ.get("TEST_HTTP_PORT", "0") or 0)
    out = []
    for _ in range(n):
        out.append(uk.pick_port(base + 500, set(out)) if base > 1024 else free_port())
    return out


*WEB_PORTS, CONS_PORT = ports(3)

# ---------------------------------------------------------------- the runner

FAILED = []
DAEMONS = []


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def run(name, fn):
    t0 = time.monotonic()
    try:
        fn()
        print(f"ok   {name} ({time.monotonic() - t0:.1f}s)", flush=True)
        return True
    except Exception as e:  # noqa: BLE001 - report every failure and go on
        FAILED.append(name)
        print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
        return False


def env_of(extra):
    env = dict(os.environ)
    env.update({"KAFKA_BOOTSTRAP_SERVERS": BOOT, "REDIS_HOST": REDIS_HOST,
                "REDIS_PORT": REDIS_PORT, "LISTEN_HOST": uk.HOST, "TOPIC_PRICES": TOPIC_P,
                "TOPIC_ALERTS": TOPIC_A, "LOG_LEVEL": "info"})
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
    check(r.status == 200, f"{method} {path} on :{port}: {r.status} {r.body[:200]!r}")
    return r.json()


def alerts_of(user, port):
    return api("GET", "/api/get-alerts", user, port)["alerts"]


def history_of(user, port):
    """The user's history as alert_ids, newest first."""
    h = api("GET", "/api/alert-history", user, port)
    check(isinstance(h, dict) and set(h) == {"alerts"}, f"history shape: {str(h)[:200]}")
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
    check(counts is not None, f"never on the alerts topic: {sorted(ids - set(topic_counts()))}")
    return counts


def sse_id_ok(eid, seq):
    """A v1 entry's SSE id: its seq (v1), or the stream id "0-seq"."""
    return eid in (str(seq), f"0-{seq}")


# ---------------------------------------------------------------- the steps

def t_restore():
    r = uk.Redis(REDIS_HOST, REDIS_PORT)
    try:
        t0 = time.monotonic()
        uk.restore_keys(r, FX["keys"])
        diffs = uk.compare_dumps(FX["keys"], uk.dump_keys(r),
                                 int((time.monotonic() - t0) * 1000) + 1000)
    finally:
        r.close()
    check(not diffs, "restored Redis differs from the fixture: " + "; ".join(diffs[:5]))
    newest = max(int(o["outbox_id"].split("-")[0]) for o in FX["outbox"])
    check(newest < time.time() * 1000, f"the fixture's outbox ids are in this clock's future "
          f"(made {FX['made_at']}): the sweeper would not see them as old")


def t_warm_up():
    """Each replica reads the alerts topic from its end once assigned: publish
    until a warm-up alert reaches a stream on each."""
    user = secrets.token_hex(16)
    COOKIE[user] = mint_cookie(user, SECRET)
    streams = [uk.Sse(p, "/api/stream-alerts", COOKIE[user]) for p in WEB_PORTS]
    try:
        check(all(s.status == 200 for s in streams), "warm-up streams")
        for s in streams:
            def seen(s=s):
                uk.produce(BOOT, TOPIC_A, [(user, json.dumps({
                    "alert_id": f"warmup-{secrets.token_hex(4)}", "user_id": user,
                    "ticker": "AAPL", "price": 2.0, "threshold": 1.0, "type": "above",
                    "timestamp": time.time(), "message": "warm-up"}))])
                return s.collect(lambda g: g, 1.0, 0)
            check(wait_until(seen, 60, 0), "no alert ever reached a replica's stream")
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


def t_alerts_listed():
    for port in WEB_PORTS:
        for u, x in USERS.items():
            got = alerts_of(u, port)
            want = x["alerts"]
            check(len(got) == len(want) and all(same_alert(g, w) for g, w in zip(got, want)),
                  f"user {u[:8]} on :{port}: listed {got}, fixture {want}")


def t_history_kept():
    for port in WEB_PORTS:
        for u in USERS:
            got = history_of(u, port)
            check(got == legacy_ids(u), f"user {u[:8]} on :{port}: history {got}, "
                  f"fixture {legacy_ids(u)}")


OUTBOX_STREAMS = []


def t_open_outbox_streams():
    for o in FX["outbox"]:
        # the browser of v1 had seen everything of this user before the claim
        seen = min(x["seq"] for x in FX["outbox"] if x["user_id"] == o["user_id"]) - 1
        for port in WEB_PORTS:
            s = uk.Sse(port, "/api/stream-alerts", COOKIE[o["user_id"]], last_event_id=seen)
            check(s.status == 200, f"stream status {s.status}")
            OUTBOX_STREAMS.append((o["user_id"], port, s, seen))


def ids_of(events):
    return {e.get("alert_id") for _, e in events}


def outbox_stream_wants(user, seen):
    """What a stream resumed after seq seen must get: the user's outbox alerts
    and every history entry after seen (v1 wrote both at claim time)."""
    return ({a for a, o in OUTBOX.items() if o["user_id"] == user} |
            {h["alert_id"] for h in USERS[user]["history"] if h["seq"] > seen})


def t_outbox_delivered():
    wait_on_topic(OUTBOX)
    for user, port, s, seen in OUTBOX_STREAMS:
        want = outbox_stream_wants(user, seen)
        s.wait_for(lambda g, want=want: want <= ids_of(g), 30)
    time.sleep(QUIET_S)  # a second delivery or a second republish would come now
    for user, port, s, seen in OUTBOX_STREAMS:
        want = outbox_stream_wants(user, seen)
        ids = s.alert_ids()
        s.close()
        check(sorted(ids) == sorted(want), f"user {user[:8]} on :{port}: the stream got {ids}, "
              f"wanted {sorted(want)} once each")
    counts = topic_counts()
    check(all(counts.get(a) == 1 for a in OUTBOX), "outbox alerts on the topic: "
          f"{ {a: counts.get(a) for a in OUTBOX} }")
    leaked = {a: n for a, n in counts.items() if a in LEGACY and a not in OUTBOX}
    check(not leaked, f"acknowledged v1 alerts published again: {leaked}")
    for o in FX["outbox"]:
        for port in WEB_PORTS:
            h = history_of(o["user_id"], port)
            check(h.count(o["alert_id"]) == 1, f"outbox alert {o['alert_id']} is "
                  f"{h.count(o['alert_id'])} times in the history on :{port}")


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
            check(s.status == 200, f"stream with Last-Event-ID {last_id}: {s.status}")
        for s, (_, _, want) in zip(streams, cases):
            s.wait_for(lambda g, want=set(want): want <= ids_of(g), 20)
        time.sleep(QUIET_S)  # anything more, or twice, would come now
        return [[(eid, e.get("alert_id")) for eid, e in s.events()] for s in streams]
    finally:
        for s in streams:
            s.close()


def t_resume_numeric():
    user = replay_user()
    hist = USERS[user]["history"]  # newest first
    check(len(hist) >= 3, "the fixture needs a user with three history entries")
    seq_of = {h["alert_id"]: h["seq"] for h in hist}
    mine_outbox = {a for a, o in OUTBOX.items() if o["user_id"] == user}
    cases = []
    for n in (hist[-2]["seq"], 0, hist[0]["seq"]):  # mid-history, everything, nothing
        want = [h["alert_id"] for h in reversed(hist) if h["seq"] > n]  # oldest first
        cases.extend((port, n, want) for port in WEB_PORTS)
    for (port, n, want), got in zip(cases, replays(user, cases)):
        ids = [a for _, a in got]
        where = f"Last-Event-ID {n} on :{port}"
        check(len(ids) == len(set(ids)), f"{where}: replayed twice: {got}")
        check(set(want) <= set(ids) <= set(want) | mine_outbox,
              f"{where}: replayed {ids}, wanted {want}")
        plain = [a for a in ids if a not in mine_outbox]
        check(plain == [a for a in want if a not in mine_outbox],
              f"{where}: order {plain}, wanted oldest first")
        for eid, a in got:
            # an outbox alert may have entered the history again when published
            ok = bool(eid) if a in mine_outbox else sse_id_ok(eid, seq_of[a])
            check(ok, f"{where}: {a} (seq {seq_of[a]}) has id {eid!r}")


def t_idempotency_replay():
    check(any(i["active"] for i in FX["idempotency"]), "the fixture has no live idempotency key")
    before = {u: alerts_of(u, WEB_PORTS[0]) for u in USERS}
    for n, i in enumerate(FX["idempotency"]):
        port = WEB_PORTS[n % len(WEB_PORTS)]
        r = api("POST", "/api/set-alert", i["user_id"], port, body=i["request"],
                headers={"Idempotency-Key": i["key"]})
        check(r.get("alert_id") == i["alert_id"], f"Idempotency-Key {i['key']} of "
              f"{i['user_id'][:8]}: got {r}, stored {i['alert_id']}")
    for u in USERS:
        check(alerts_of(u, WEB_PORTS[1]) == before[u], f"user {u[:8]}: a replay stored something")
        check(history_of(u, WEB_PORTS[1]) == legacy_ids(u), f"user {u[:8]}: history changed")


def t_every_alert_fires_once():
    users = [u for u in USERS if USERS[u]["alerts"]]
    streams = {}
    try:
        for n, u in enumerate(users):
            s = uk.Sse(WEB_PORTS[n % 2], "/api/stream-alerts", COOKIE[u])
            check(s.status == 200, f"stream status {s.status}")
            streams[u] = s
        tickers = sorted({a["ticker"] for a in ACTIVE.values()})

        def all_fired():
            # Sent again until claimed: a claimed alert is gone, it cannot fire twice.
            uk.produce(BOOT, TOPIC_P, [uk.tick(t, p) for t in tickers for p in (HIGH, LOW)])
            return wait_until(lambda: all(not alerts_of(u, WEB_PORTS[0]) for u in users), 2, 0.2)
        check(wait_until(all_fired, 90, 0), "active alerts left: " + str(
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
            check(sorted(ids) == sorted(want), f"user {u[:8]}: the stream got {ids}, wanted "
                  f"{sorted(want)} once each")
            for _, e in got:
                a = ACTIVE[e["alert_id"]]
                check((e.get("user_id"), e.get("ticker"), e.get("threshold"), e.get("type")) ==
                      (u, a["ticker"], a["threshold"], a["type"]), f"fired as {e}, set as {a}")
        counts = topic_counts()
        check(all(counts.get(a) == 1 for a in ACTIVE),
              f"on the topic: { {a: counts.get(a) for a in ACTIVE if counts.get(a) != 1} }")
        for port in WEB_PORTS:
            for u in USERS:
                check(alerts_of(u, port) == [], f"user {u[:8]} still has alerts on :{port}")
                h = history_of(u, port)
                fired = {a["alert_id"] for a in USERS[u]["alerts"]}
                k = len(fired)
                check(sorted(h[:k]) == sorted(fired) and h[k:] == legacy_ids(u),
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
            "replay": replays(user, [(p, hist[-2]["seq"], everything[:-2]) for p in WEB_PORTS])}
    return snap


def t_restart_keeps_history(state):
    before = snapshot()
    for u in USERS:
        check(before["history"][(u, WEB_PORTS[0])] == before["history"][(u, WEB_PORTS[1])],
              f"user {u[:8]}: the replicas list different histories")
        h = before["history"][(u, WEB_PORTS[0])]
        check(len(h) == len(set(h)), f"user {u[:8]}: an entry twice in {h}")
    for d in list(DAEMONS):
        if d.alive():
            rc = d.stop()
            check(rc == 0, f"{d.name} exited {rc} on SIGTERM")
    state["daemons"] = start_all(with_consumer=True)
    after = snapshot()
    for k, h in before["history"].items():
        check(after["history"][k] == h, f"user {k[0][:8]} on :{k[1]} after the restart: "
              f"{after['history'][k]}, before: {h}")
    check(after["replay"] == before["replay"], f"replay after the restart "
          f"{after['replay']}, before: {before['replay']}")
    for u in USERS:
        check(alerts_of(u, WEB_PORTS[0]) == [], f"user {u[:8]} has alerts again")


def t_published_once_in_all():
    """After every start, the topic holds each outbox and each active alert
    once, and no alert v1 had already published. A restarted sweeper acts
    within OUTBOX_REDELIVER_MS + OUTBOX_SWEEP_MS: watched for 3 s."""
    time.sleep(3)
    counts = topic_counts()
    bad = {a: counts.get(a, 0) for a in list(OUTBOX) + list(ACTIVE) if counts.get(a) != 1}
    bad.update({a: n for a, n in counts.items() if a in LEGACY and a not in OUTBOX})
    check(not bad, f"published counts off: {bad}")


def check_logs():
    bad = []
    for name in sorted(os.listdir(LOGDIR)):
        text = open(os.path.join(LOGDIR, name), encoding="utf-8", errors="replace").read()
        if "ERROR: AddressSanitizer" in text or "LeakSanitizer" in text or \
                "runtime error:" in text:
            bad.append(f"sanitizer report in {name}")
        if SECRET in text:
            bad.append(f"the cookie secret appears in {name}")
        if bad or FAILED:
            print(f"---- {name} (last 8000 characters) ----\n{text[-8000:]}")
    FAILED.extend(bad)


def empty_redis():
    """The tests after this one share the Redis: leave nothing of the fixture
    (an outbox entry left by a failure would be republished by their consumers)."""
    try:
        r = uk.Redis(REDIS_HOST, REDIS_PORT)
        r.call("FLUSHALL")
        r.close()
    except (OSError, uk.RedisError) as e:
        print(f"could not empty the test Redis: {e}")


def main():
    print(f"fixture {os.path.basename(FIXTURE)}: v1 commit {FX['source_commit'][:12]}, "
          f"{len(FX['keys'])} keys, {len(ACTIVE)} active alerts, {len(LEGACY)} history "
          f"entries, {len(OUTBOX)} in the outbox; logs in {LOGDIR}", flush=True)
    uk.run_checked([KAFKA_ADMIN, "create-topics", "--bootstrap", BOOT, "--partitions", "3",
                    TOPIC_P, TOPIC_A])
    state = {}
    try:
        if not run("the fixture is restored exactly", t_restore):
            raise SystemExit(1)
        run("two replicas start together on v1 data", lambda: state.update(
            daemons=start_all(with_consumer=False)))
        if not state.get("daemons"):
            raise SystemExit(1)
        run("warm-up: both replicas read the alerts topic", t_warm_up)
        run("a. every v1 alert is listed, same fields, nothing extra", t_alerts_listed)
        run("b. the v1 history is there, newest first, on both replicas", t_history_kept)
        run("streams open for the users with v1 outbox alerts", t_open_outbox_streams)
        run("the consumer starts on v1 data", start_consumer)
        run("c. v1 outbox alerts: on the topic, on the streams, in the history, once",
            t_outbox_delivered)
        run("b. (again, consumer running) the v1 history is unchanged", t_history_kept)
        run("d. a v1 numeric Last-Event-ID resumes exactly after it", t_resume_numeric)
        run("g. a v1 Idempotency-Key returns its alert, stores nothing", t_idempotency_replay)
        run("e. every v1 alert fires once: topic, stream, history", t_every_alert_fires_once)
        run("f. a restart (all together) changes no history", lambda: t_restart_keeps_history(
            state))
        run("published once in all: outbox and active alerts, nothing acknowledged",
            t_published_once_in_all)
        for d in DAEMONS:
            if d.alive():
                rc = d.stop()
                if rc != 0:
                    FAILED.append(f"{d.name} exited {rc} on SIGTERM")
    finally:
        for d in DAEMONS:
            d.kill()
        for _, _, s, _ in OUTBOX_STREAMS:
            s.close()
        check_logs()
        empty_redis()
    if FAILED:
        print(f"FAILED: {', '.join(FAILED)}")
        sys.exit(1)
    shutil.rmtree(LOGDIR, ignore_errors=True)
    print("upgrade from v1: all checks passed")


if __name__ == "__main__":
    main()
