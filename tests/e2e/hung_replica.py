#!/usr/bin/env python3
"""End-to-end: a hung replica (SIGSTOP: its connections stay open, nothing
answers) does not hold its sticky users (before: 20 s on every request).

One replica is stopped; for users whose cookie hashes to it, through nginx:
- GET /api/get-alerts, POST /api/set-alert and DELETE /api/delete-alert/...
  each answer 200 within 3 s, served by another replica, right after the
  stop and again once nginx tries the stopped replica anew (after its
  fail_timeout): a short API read timeout moves the request on, and passive
  health keeps the others away from it meanwhile;
- a set-alert retried after a timeout is stored once (X-Request-Id), while
  the replica is stopped and after it resumes and works off the requests it
  had queued; a deleted alert stays deleted;
- once resumed, the replica gets its users back.
The replica gets SIGCONT in every case (finally, atexit, SIGTERM).
"""
import atexit
import http.client
import os
import signal
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import e2elib as e  # noqa: E402

if __name__ == "__main__":  # before pytest is imported: testkit.pytest_main finds one
    sys.exit(e.testkit.pytest_main(__file__, sys.argv[1:]))

import pytest  # noqa: E402

pytestmark = pytest.mark.usefixtures("e2e_stack")  # skipped without the test stack
LIMIT_S = 3.0     # the bound on an API answer with a hung replica
USERS = 2         # sticky to the stopped replica
ROUNDS = 3        # each first with another kind of call
TIMEOUT_S = 12    # client-side: today's config waits 30 s; enough to show it


def resume(pid):
    try:
        os.kill(pid, signal.SIGCONT)
    except OSError:
        pass


def sticky_users(replica, n):
    """n fresh users whose requests nginx sends to `replica`."""
    out = []
    for _ in range(200):
        cookie, _ = e.new_user()
        r = e.request("GET", "/api/get-alerts", cookie=cookie)
        if r.status == 200 and r.header("X-Served-By") == replica:
            out.append(cookie)
            if len(out) == n:
                return out
    raise AssertionError(f"no {n} users sticky to replica {replica} in 200 visitors")


def timed(rows, label, method, path, cookie, body=None):
    """One call; records (label, status, seconds, replica). Returns the answer or None."""
    t0 = time.monotonic()
    try:
        r = e.request(method, path, cookie=cookie, body=body, timeout=TIMEOUT_S)
    except (OSError, http.client.HTTPException) as ex:
        rows.append((label, repr(ex)[:60], time.monotonic() - t0, None))
        return None
    rows.append((label, r.status, time.monotonic() - t0, r.header("X-Served-By")))
    return r


def listed(cookie):
    """The user's alert ids, or what went wrong."""
    try:
        r = e.request("GET", "/api/get-alerts", cookie=cookie, timeout=TIMEOUT_S)
    except (OSError, http.client.HTTPException) as ex:
        return repr(ex)
    if r.status != 200:
        return f"get-alerts {r.status}"
    return sorted(a["alert_id"] for a in r.json()["alerts"])


def report(rows):
    for label, status, secs, by in rows:
        print(f"    {label:16} {status!s:>4} {secs * 1000:7.0f} ms  by replica {by}")


def test_hung_replica(check):
    """a hung replica: its users' API calls fail over within 3 s, stored once"""
    victim = 0
    name = str(victim)
    pid = e.replica_pid(victim)
    assert pid, f"no pid for webapp-{victim} in {e.STATE}/run"
    try:
        fail_timeout = e.nginx_setting(r"server \S+ max_fails=\d+ fail_timeout=(\d+)s")
    except AssertionError:
        fail_timeout = 10  # today's config marks nothing down: any pause will do
    price = e.live_prices()["AAPL"]
    below = {"ticker": "AAPL", "threshold": round(price / 100, 2), "type": "below"}
    users = sticky_users(name, USERS)
    # One alert per user and round to delete while the replica is stopped.
    doomed = {u: [] for u in users}
    for u in users:
        for _ in range(ROUNDS):
            r = e.request("POST", "/api/set-alert", cookie=u, body=below)
            assert r.status == 200, f"set-alert before the stop: {r.status}"
            doomed[u].append(r.json()["alert_id"])

    rows, kept = [], {u: [] for u in users}
    atexit.register(resume, pid)
    signal.signal(signal.SIGTERM, lambda *_: (resume(pid), sys.exit(143)))
    os.kill(pid, signal.SIGSTOP)
    print(f"    webapp-{victim} (pid {pid}) stopped; {USERS} of its users call the API",
          flush=True)
    try:
        # The first call of a round finds the replica in the hash and waits
        # for nginx's timeout; the others find it left out. Each round
        # starts with another kind of call, after fail_timeout, when nginx
        # tries the replica again.
        calls = ["get-alerts", "set-alert", "delete"]
        for rnd in range(ROUNDS):
            if rnd:
                time.sleep(fail_timeout + 1.5)  # nginx counts whole seconds
            order = calls[rnd:] + calls[:rnd]
            for u in users:
                for kind in order:
                    label = f"r{rnd + 1} {kind}"
                    if kind == "get-alerts":
                        timed(rows, label, "GET", "/api/get-alerts", u)
                    elif kind == "set-alert":
                        r = timed(rows, label, "POST", "/api/set-alert", u, below)
                        if r is not None and r.status == 200:
                            kept[u].append(r.json()["alert_id"])
                    else:
                        timed(rows, label, "DELETE", f"/api/delete-alert/{doomed[u][rnd]}", u)
        for u in users:
            got = listed(u)
            check(got == sorted(kept[u]),
                  f"while stopped, a user lists {got}, want exactly {sorted(kept[u])}")
    finally:
        resume(pid)
        report(rows)
    for label, status, secs, by in rows:
        check(status == 200, f"{label}: {status} after {secs:.1f}s")
        check(secs <= LIMIT_S, f"{label}: {secs:.1f}s > {LIMIT_S:.0f}s with a hung replica")
        check(by != name, f"{label} answered by the stopped replica")
    worst = max(s for _, _, s, _ in rows)
    print(f"    slowest answer {worst * 1000:.0f} ms (the bound: {LIMIT_S:.0f} s)")
    # Each kind of call went to the hung replica once and was retried after
    # nginx's timeout (else "stored once" above proved nothing for it).
    per_round = len(rows) // ROUNDS
    for rnd in range(ROUNDS):
        label, _, secs, _ = rows[rnd * per_round]
        check(secs >= 1.0, f"{label} was not sent to the hung replica first ({secs:.2f}s): "
              "the retry after a timeout went untested")

    # Resumed, the replica works off what it had queued: the set-alerts nginx
    # timed out on find their X-Request-Id stored and add nothing.
    time.sleep(2)
    for u in users:
        got = listed(u)
        check(got == sorted(kept[u]),
              f"after SIGCONT, a user lists {got}, want exactly {sorted(kept[u])}")
    back = e.testkit.wait_until(
        lambda: e.request("GET", "/api/get-alerts", cookie=users[0]).header("X-Served-By") == name,
        fail_timeout + 10)
    check(back, f"webapp-{victim} did not get its users back after SIGCONT")
    for u in users:
        for aid in kept[u]:
            e.request("DELETE", f"/api/delete-alert/{aid}", cookie=u)



