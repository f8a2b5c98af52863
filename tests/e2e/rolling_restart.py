#!/usr/bin/env python3
"""End-to-end: `./stack restart webapp` under load loses nothing.

Several users call the API continuously through nginx (set, list, delete
alerts, tickers, history) and each holds a price stream and an alert stream
that reconnects like a browser's EventSource (after `retry:`, with
Last-Event-ID). Alerts fire all along: each user keeps setting alerts below
the live price (type above), which the simulated feed fires on its next
tick. Meanwhile the replicas are restarted one at a time. Then:

- not one API request failed (no retry on the client side: nginx must
  move a request away from a stopping replica by itself);
- every stream was ended by its replica and reconnected (every attempt got
  200) and is live again;
- every alert that fired reached its user over the alert stream, once,
  those that fired during the restart included (through Last-Event-ID);
- no request was carried out twice (nginx retries a set-alert that a
  stopping replica closed unanswered: it must have done nothing there).
"""
import os
import random
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import e2elib as e  # noqa: E402

if __name__ == "__main__":  # before pytest is imported: testkit.pytest_main finds one
    sys.exit(e.testkit.pytest_main(__file__, sys.argv[1:]))

import pytest  # noqa: E402

pytestmark = pytest.mark.usefixtures("e2e_stack")  # skipped without the test stack
USERS = 4
FIRE_EVERY_S = 0.5     # two firing alerts per user per second: < 100 kept in history
AFTER_RESTART_S = 5.0  # load that goes on once the last replica is back


class User:
    def __init__(self, prices):
        self.cookie, _ = e.new_user()
        self.prices = prices
        self.fire_ids = []      # alerts set to fire at once
        self.calls = 0
        self.failures = []      # (time, method, path, what)
        self.alerts = e.Stream("/api/stream-alerts", cookie=self.cookie, name="alerts")
        self.ticks = e.Stream("/api/stream-prices", cookie=self.cookie, name="prices")
        self.delivered = []     # (arrival, alert_id, event) of every alert received

    def call(self, method, path, body=None, want=(200,)):
        self.calls += 1
        try:
            r = e.request(method, path, cookie=self.cookie, body=body)
        except Exception as ex:  # transport errors are failures too
            self.failures.append((time.time(), method, path, repr(ex)))
            return None
        if r.status not in want:
            self.failures.append((time.time(), method, path, f"{r.status} {r.body[:120]!r}"))
            return None
        return r

    def work(self, stop):
        next_fire = time.monotonic()
        while not stop.is_set():
            ticker = random.choice(list(self.prices))
            price = self.prices[ticker]
            if time.monotonic() >= next_fire:
                next_fire += FIRE_EVERY_S
                r = self.call("POST", "/api/set-alert",
                              {"ticker": ticker, "threshold": round(price * 0.5, 2),
                               "type": "above"})
                if r is not None:
                    self.fire_ids.append(r.json()["alert_id"])
            r = self.call("POST", "/api/set-alert",
                          {"ticker": ticker, "threshold": round(price * 0.01, 4),
                           "type": "below"})
            if r is not None:
                self.call("DELETE", f"/api/delete-alert/{r.json()['alert_id']}")
            self.call("GET", "/api/get-alerts")
            self.call("GET", "/api/tickers")
            self.call("GET", "/api/alert-history")
            time.sleep(0.15)

    def collect(self):
        for arrival, ev_id, obj in self.alerts.drain():
            if isinstance(obj, dict) and "alert_id" in obj:
                self.delivered.append((arrival, obj["alert_id"], obj))

    def history(self):
        r = e.request("GET", "/api/alert-history", cookie=self.cookie)
        assert r.status == 200, f"alert-history: {r.status}"
        return r.json()["alerts"]

    def active(self):
        r = e.request("GET", "/api/get-alerts", cookie=self.cookie)
        assert r.status == 200, f"get-alerts: {r.status}"
        return {a["alert_id"] for a in r.json()["alerts"]}


def replica_pids():
    out = {}
    for i in range(len(e.WEBAPP_PORTS)):
        try:
            out[i] = open(os.path.join(e.STATE, "run", f"webapp-{i}.pid")).read().strip()
        except OSError:
            out[i] = None
    return out


def test_rolling_restart(check):
    """rolling restart of the webapp under load"""
    prices = e.live_prices(want=(), at_least=5)
    if not check(len(prices) >= 5, f"only {len(prices)} live prices: is the producer running?"):
        return
    users = [User(prices) for _ in range(USERS)]
    for u in users:
        for s in (u.alerts, u.ticks):
            check(s.connected.wait(15) and s.live, f"{s.name} stream did not open")
    stop = threading.Event()
    workers = [threading.Thread(target=u.work, args=(stop,), daemon=True) for u in users]
    for w in workers:
        w.start()

    # Warm-up: every alert stream has had an alert (so it has an id to resume from).
    deadline = time.time() + 30
    while time.time() < deadline:
        for u in users:
            u.collect()
        if all(u.delivered for u in users):
            break
        time.sleep(0.2)
    check(all(u.delivered for u in users), "warm-up: not every user got an alert within 30 s")

    before = replica_pids()
    t0 = time.time()
    print(f"    restarting the webapp replicas under load ({USERS} users)", flush=True)
    rc, out = e.stack("restart", "webapp", timeout=300)
    t1 = time.time()
    print("    | " + out.strip().replace("\n", "\n    | "))
    check(rc == 0, f"./stack restart webapp exited {rc}")
    after = replica_pids()
    check(all(before[i] != after[i] and after[i] for i in before),
          f"not every replica was replaced: {before} -> {after}")
    print(f"    rolling restart took {t1 - t0:.1f}s", flush=True)
    time.sleep(AFTER_RESTART_S)
    stop.set()
    for w in workers:
        w.join(30)

    # Settle: every alert set to fire has fired and reached its stream.
    deadline = time.time() + 40
    while time.time() < deadline:
        if all(not (set(u.fire_ids) & u.active()) for u in users):
            break
        time.sleep(0.5)
    histories = {}
    deadline = time.time() + 20
    while time.time() < deadline:
        for u in users:
            u.collect()
            histories[u] = u.history()
        if all({h["alert_id"] for h in histories[u]} <= {a for _, a, _ in u.delivered}
               for u in users):
            break
        time.sleep(0.5)

    calls = sum(u.calls for u in users)
    failures = [f for u in users for f in u.failures]
    print(f"    {calls} API calls, {len(failures)} failed")
    for f in failures[:10]:
        print(f"      {time.strftime('%H:%M:%S', time.localtime(f[0]))} {f[1]} {f[2]}: {f[3]}")
    check(not failures, f"{len(failures)} of {calls} API requests failed")

    for u in users:
        for s in (u.alerts, u.ticks):
            check(s.ends >= 1, f"a {s.name} stream was never ended by its replica")
            check(s.live and s.connects >= 2,
                  f"a {s.name} stream is not back (connects {s.connects}, live {s.live})")
            check(not s.failures, f"{s.name} reconnects failed: {s.failures[:3]}")
        # Ticks flow on the reconnected price stream.
        got = u.ticks.take(5)
        check(got is not None, "no tick on a reconnected price stream")

    fired_total = during = 0
    for u in users:
        hist = histories.get(u) or u.history()
        fired = {h["alert_id"]: h for h in hist}
        got = [a for _, a, _ in u.delivered]
        missing = {h["alert_id"] for h in hist} - set(got)
        dups = len(got) - len(set(got))
        unfired = [a for a in u.fire_ids if a not in fired]
        fired_total += len(fired)
        # Fired while this user's alert stream was down: only the replay
        # (Last-Event-ID) can have brought those.
        during += sum(1 for h in hist
                      if any(a <= h["timestamp"] <= b for a, b in u.alerts.gaps))
        check(not unfired, f"{len(unfired)} alerts set to fire did not fire")
        # nginx retries a POST a stopping replica closed unanswered: it must
        # not have been stored there as well (no alert the client never saw).
        extra = set(fired) - set(u.fire_ids)
        check(not extra, f"{len(extra)} alerts fired that no answered set-alert created")
        left = u.active()
        check(not left, f"{len(left)} alerts left active (created twice, or not deleted)")
        check(not missing, f"alerts fired but never delivered to the user: {sorted(missing)}")
        check(dups == 0, f"{dups} alerts delivered twice")
        check(len(hist) < 100, "history is full: the test fired too many alerts per user")
    reconnects = sum(s.connects - 1 for u in users for s in (u.alerts, u.ticks))
    print(f"    {fired_total} alerts fired and delivered, {during} of them while their stream "
          f"was reconnecting; {reconnects} stream reconnects")
    check(during > 0, "no alert fired while a stream was down: the test proved nothing")
    for u in users:
        u.alerts.close()
        u.ticks.close()



