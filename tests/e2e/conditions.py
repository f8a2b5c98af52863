#!/usr/bin/env python3
"""End-to-end: percent alerts with a rolling window (issue 18), through
nginx, the producer's topic, the evaluator and the page's alert stream.

- first an above alert fires (the evaluator reads the ticker's partition);
- set-alert with "window_s" answers the reference price and the window,
  get-alerts lists the window; window_s with above is a 400 naming it;
- ticks published to stock-prices: a new low, then a price less than 5 %
  above it fire nothing; the next tick 5 % above the low fires the
  percent_up alert, which reaches the open page with window_s, the low as
  reference_price and the window's message; a percent_down alert fires
  against the window's high the same way.
"""
import os
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
TICKER = "E2EW" + secrets.token_hex(3).upper()


def tick(price):
    e.publish("stock-prices", TICKER, e.tick_json(TICKER, price))


def set_alert(cookie, body):
    return e.request("POST", "/api/set-alert", cookie=cookie, body={"ticker": TICKER, **body})


def fired_on(stream, timeout):
    """The alerts the stream delivers within timeout s: alert_id -> data."""
    got = {}
    deadline = time.time() + timeout
    while time.time() < deadline:
        ev = stream.take(deadline - time.time())
        if ev and isinstance(ev[2], dict) and "alert_id" in ev[2]:
            got[ev[2]["alert_id"]] = ev[2]
    return got


def evaluating(cookie, timeout=40):
    """Waits until the evaluator claims TICKER's ticks (an above alert fires:
    a tick published before the evaluator's partitions were assigned would
    be skipped) and both replicas' price is 101, the price the windows then
    start from."""
    r = set_alert(cookie, {"threshold": 100.5, "type": "above"})
    assert r.status == 200, f"set-alert: {r.status} {r.body!r}"
    aid = r.json()["alert_id"]
    stream = e.Stream("/api/stream-alerts", cookie=cookie)
    assert stream.connected.wait(10), "alert stream did not open"
    deadline = time.time() + timeout
    got = {}
    while aid not in got and time.time() < deadline:
        tick(101.0)
        got = fired_on(stream, 1)
    stream.close()
    assert aid in got, "the evaluator never claimed a tick"
    while time.time() < deadline and not all(
            any(t["ticker"] == TICKER and t["price"] == 101 for t in
                e.request("GET", "/api/tickers", port=p).json()["tickers"])
            for p in e.WEBAPP_PORTS):
        time.sleep(0.2)


def test_window_alerts_fire_against_the_window(e2e_stack):
    """a window alert fires at the first tick p % past the window's low
    (high), not before, and reaches the page with window_s and that low"""
    assert e.make_known(TICKER, price=100.0), f"{TICKER} never reached the webapps"
    cookie, _ = e.new_user()
    evaluating(cookie)
    r = set_alert(cookie, {"threshold": 5, "type": "above", "window_s": 300})
    assert r.status == 400 and "Field 'window_s'" in r.json()["error"], f"{r.status} {r.body!r}"
    r = set_alert(cookie, {"percent": 5, "type": "percent_up", "window_s": 300})
    assert r.status == 200, f"set-alert: {r.status} {r.body!r}"
    assert (r.json()["reference_price"], r.json()["window_s"]) == (101, 300), r.body
    up = r.json()["alert_id"]
    r = set_alert(cookie, {"percent": 10, "type": "percent_down", "window_s": 3600})
    assert r.status == 200, f"set-alert: {r.status} {r.body!r}"
    down = r.json()["alert_id"]
    listed = {a["alert_id"]: a for a in e.request("GET", "/api/get-alerts",
                                                 cookie=cookie).json()["alerts"]}
    assert listed[up]["window_s"] == 300 and listed[down]["window_s"] == 3600, str(listed)

    stream = e.Stream("/api/stream-alerts", cookie=cookie)
    assert stream.connected.wait(10), "alert stream did not open"
    tick(96.0)   # the window's low
    tick(100.7)  # 4.9 % above it
    assert fired_on(stream, 3) == {}, "fired before 5 % above the window's low"
    tick(100.9)  # 5.1 % above it
    got = fired_on(stream, 15)
    assert set(got) == {up}, f"stream: {got}"
    a = got[up]
    assert (a["type"], a["percent"], a["window_s"], a["reference_price"]) == (
        "percent_up", 5, 300, 96), str(a)
    assert a["message"] == f"{TICKER} is up 5% from its 5min low of $96.00 (Current: $100.90)"
    tick(91.0)   # 9.9 % below the 1 h high (101, when set)
    assert fired_on(stream, 3) == {}, "fired before 10 % below the window's high"
    tick(90.8)
    got = fired_on(stream, 15)
    stream.close()
    assert set(got) == {down}, f"stream: {got}"
    assert got[down]["reference_price"] == 101 and got[down]["window_s"] == 3600, str(got[down])
    assert "from its 1h high of $101.00" in got[down]["message"], got[down]["message"]
    assert e.request("GET", "/api/get-alerts", cookie=cookie).json()["alerts"] == []
