#!/usr/bin/env python3
"""End-to-end: a repeating alert ("repeat":"every" with "cooldown_s",
issue 18), through nginx, with the test stack's evaluator, webapps and
notifier, driven by ticks published to stock-prices:

- set above 150, repeating every 60 s (the least cooldown): a tick at 200
  fires it (firing 1); the price staying above fires nothing more; back
  below within the cooldown, then above again, fires nothing until the
  cooldown ends, then once (firing 2): the price was still above;
- the open alert stream gets each firing once, in order, with
  "repeat":"every","cooldown_s":60 and its "firing"; the notifier delivers
  each once (its log), and the firing published again to `alerts` is
  suppressed as a duplicate, not delivered a second time;
- get-alerts still lists the alert, with repeat, cooldown_s and fired 2;
  the history holds both firings; a delete removes it and a crossing after
  that fires nothing.

Takes a little over a minute: the cooldown is real (Redis' clock).
"""
import json
import os
import re
import secrets
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import e2elib as e  # noqa: E402

if __name__ == "__main__":  # before pytest is imported: testkit.pytest_main finds one
    sys.exit(e.testkit.pytest_main(__file__, sys.argv[1:]))

import pytest  # noqa: E402

pytestmark = pytest.mark.usefixtures("e2e_stack")  # skipped without the test stack
TICKER = "E2ER" + secrets.token_hex(3).upper()
COOLDOWN = 60


def tick(price):
    e.publish("stock-prices", TICKER, e.tick_json(TICKER, price))


def notifier_log():
    return open(os.path.join(e.STATE, "log", "notifier.log")).read()


def delivered(aid, firing):
    """The notifier's "alert delivered" lines of one firing."""
    return re.findall(rf"alert delivered alert_id={aid} .*firing={firing}\b", notifier_log())


def wait_for(cond, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.3)
    return False


def firings(events, aid):
    """The firings of aid among a stream's events, in arrival order."""
    return [obj.get("firing") for _, _, obj in events
            if isinstance(obj, dict) and obj.get("alert_id") == aid]


def tick_until_fired(stream, aid, price, timeout):
    """Ticks at price every second until a firing of aid arrives on stream
    (or timeout): the evaluator may join its group after the first tick, and
    more ticks on the same side fire a repeating alert no more. Returns every
    event read."""
    got = []
    deadline = time.time() + timeout
    while time.time() < deadline and not firings(got, aid):
        tick(price)
        ev = stream.take(1.0)
        while ev is not None:
            got.append(ev)
            ev = stream.take(0.2)
    return got


@pytest.fixture(scope="module")
def ticker(e2e_stack):
    if not e.make_known(TICKER):
        pytest.fail(f"{TICKER} never reached the webapps")
    return TICKER


def test_repeating_alert_fires_each_firing_once(ticker):
    cookie, _ = e.new_user()
    user = cookie.split(".")[0]
    stream = e.Stream("/api/stream-alerts", cookie=cookie)
    assert stream.connected.wait(10), "alert stream did not open"
    body = {"ticker": TICKER, "threshold": 150, "type": "above", "repeat": "every",
            "cooldown_s": COOLDOWN}
    r = e.request("POST", "/api/set-alert", cookie=cookie, body=body)
    assert r.status == 200, f"set-alert: {r.status} {r.body!r}"
    aid = r.json()["alert_id"]

    events = tick_until_fired(stream, aid, 200.0, 60)
    fired_at = time.time()
    assert firings(events, aid) == [1], f"first firing: {events!r}"
    first = [o for _, _, o in events if o.get("alert_id") == aid][0]
    assert first["repeat"] == "every" and first["cooldown_s"] == COOLDOWN, first
    assert wait_for(lambda: delivered(aid, 1), 30), "the notifier did not deliver firing 1"

    # above, then back below and above again within the cooldown: nothing
    for p in (210.0, 220.0, 100.0, 210.0):
        tick(p)
        time.sleep(0.5)
    time.sleep(3)
    quiet = stream.drain()
    assert firings(quiet, aid) == [], f"fired within the cooldown: {quiet!r}"

    # the cooldown ends with the price above: firing 2 at the next tick
    time.sleep(max(0.0, fired_at + COOLDOWN + 1 - time.time()))
    events = tick_until_fired(stream, aid, 230.0, 30)
    assert firings(events, aid) == [2], f"second firing: {events!r}"
    assert wait_for(lambda: delivered(aid, 2), 30), "the notifier did not deliver firing 2"
    tick(240.0)  # still above: no third firing
    time.sleep(3)
    assert firings(stream.drain(), aid) == [], "fired again without going back below"

    # firing 2 published again (a republish after a crash): suppressed
    payloads = [v for _, v in e.topic_times("alerts", user)
                if json.loads(v)["alert_id"] == aid and json.loads(v).get("firing") == 2]
    assert len(payloads) == 1, f"firing 2 on the alerts topic {len(payloads)} times"
    e.publish("alerts", user, payloads[0])
    assert wait_for(lambda: re.search(rf"duplicate suppressed alert_id={aid} .*firing=2\b",
                                      notifier_log()), 30), "the republish was not suppressed"
    time.sleep(2)
    assert len(delivered(aid, 1)) == 1 and len(delivered(aid, 2)) == 1, "a firing delivered twice"
    assert firings(stream.drain(), aid) == [], "the stream took a firing twice"
    stream.close()

    listed = [a for a in e.request("GET", "/api/get-alerts", cookie=cookie).json()["alerts"]
              if a["alert_id"] == aid]
    assert len(listed) == 1, "the repeating alert left the list"
    assert (listed[0]["repeat"], listed[0]["cooldown_s"], listed[0]["fired"]) == \
        ("every", COOLDOWN, 2), listed[0]
    hist = e.request("GET", "/api/alert-history", cookie=cookie)
    assert hist.status == 200, hist.status
    mine = [a.get("firing") for a in hist.json()["alerts"] if a.get("alert_id") == aid]
    assert sorted(mine) == [1, 2], f"history: {mine!r}"

    assert e.request("DELETE", f"/api/delete-alert/{aid}", cookie=cookie).status == 200
    tick(100.0)
    tick(250.0)
    time.sleep(3)
    assert [a for a in e.request("GET", "/api/get-alerts", cookie=cookie).json()["alerts"]
            if a["alert_id"] == aid] == []
    assert len(delivered(aid, 3)) == 0, "fired after its delete"
