#!/usr/bin/env python3
"""End-to-end: nginx limits each client address, so one client with many
cookies cannot do what every cookie alone may (before: one client stored
26,363 alerts in 15 s over 361 cookies and opened 15,373 price streams).

From one address (FLOOD_ADDR, 127.0.0.1), all at once:
- cookie mints: GET / without a cookie, as fast as it goes;
- set-alert over 30 cookies, none of them over its own per-user limit;
- streams of both kinds over the same cookies, past the per-address cap;
each is refused with nginx's 429 (JSON, no replica involved) beyond its
limit, and what passed stays within burst + rate x elapsed (streams: the
cap exactly). Meanwhile a real user on another address (PROBE_ADDR,
127.0.0.2) visits for the first time, reloads the page, sets alerts and
opens streams: every answer 200. A returning visitor of the flooding
address (a valid-looking cookie) still gets the page, and once the flood
stops the address is served again.

Linux routes all of 127/8 to lo, so the two addresses reach nginx on
127.0.0.1 as two clients.
"""
import http.client
import os
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
FLOOD_S = 4.0       # how long the mint and write floods last
COOKIES = 30        # the flood's cookies (minted elsewhere: it has plenty)
THREADS = 4         # per flood


def setting(pattern, fallback):
    """A limit of the rendered nginx.conf; today's config has none, and the
    flood then runs against the fallback, to show it is not refused."""
    try:
        return e.nginx_setting(pattern)
    except AssertionError:
        print(f"    no {pattern!r} in the rendered nginx.conf: flooding anyway")
        return fallback


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.status = {}
        self.errors = []
        self.bad_429 = []

    def add(self, r):
        with self.lock:
            self.status[r.status] = self.status.get(r.status, 0) + 1
            if r.status == 429 and len(self.bad_429) < 3:
                body = r.json()
                if not (isinstance(body, dict) and "error" in body) or r.header("X-Served-By"):
                    self.bad_429.append((r.body[:80], r.header("X-Served-By")))

    def error(self, ex):
        with self.lock:
            self.errors.append(repr(ex))

    def sent(self):
        return sum(self.status.values())


def flood_mints(stop, tally):
    while not stop.is_set():
        try:
            r = e.request("GET", "/", source=e.FLOOD_ADDR)
        except (OSError, http.client.HTTPException) as ex:
            tally.error(ex)
            continue
        tally.add(r)
        if r.status == 429 and e.cookie_of(r):
            tally.bad_429.append(("a refused visit set a cookie", None))


def flood_writes(stop, tally, cookies, ticker, threshold, created, k):
    i = k
    while not stop.is_set():
        cookie = cookies[i % len(cookies)]
        i += THREADS
        try:
            r = e.request("POST", "/api/set-alert", cookie=cookie, source=e.FLOOD_ADDR,
                          body={"ticker": ticker, "threshold": threshold, "type": "below"})
        except (OSError, http.client.HTTPException) as ex:
            tally.error(ex)
            continue
        tally.add(r)
        if r.status == 200:
            with tally.lock:
                created.append((cookie, r.json()["alert_id"]))


def open_stream(path, cookie, source):
    """(connection, status, served by); the connection stays open on 200."""
    c = e.connection(cookie=cookie, source=source, timeout=10)
    c.request("GET", path, headers={"Cookie": f"user_id={cookie}",
                                     "Accept": "text/event-stream"})
    r = c.getresponse()
    if r.status != 200:
        body = r.read()
        c.close()
        return None, r.status, body, r.getheader("X-Served-By")
    return c, r, b"", r.getheader("X-Served-By")


def close_all(conns):
    for c in conns:
        try:
            c.sock.shutdown(2)
        except (OSError, AttributeError):
            pass
        c.close()


class Probe:
    """A real user on PROBE_ADDR: a first visit, a price stream and an alert
    stream held as a page holds them, then page reloads and set-alerts over
    and over; every answer must be 200 and the price stream must stay live."""

    def __init__(self, ticker, threshold):
        self.ticker, self.threshold = ticker, threshold
        self.results = []   # (what, status or error, seconds)
        self.alerts = []
        self.cookie = None
        self.streams = []

    def step(self, what, fn):
        t0 = time.monotonic()
        try:
            status = fn()
        except (OSError, http.client.HTTPException, ValueError) as ex:
            status = repr(ex)
        self.results.append((what, status, time.monotonic() - t0))

    def first_visit(self):
        r = e.request("GET", "/", source=e.PROBE_ADDR)
        self.cookie = e.cookie_of(r)
        return r.status if self.cookie else f"{r.status} without a cookie"

    def page(self):
        return e.request("GET", "/", cookie=self.cookie, source=e.PROBE_ADDR).status

    def set_alert(self):
        r = e.request("POST", "/api/set-alert", cookie=self.cookie, source=e.PROBE_ADDR,
                      body={"ticker": self.ticker, "threshold": self.threshold, "type": "below"})
        if r.status == 200:
            self.alerts.append(r.json()["alert_id"])
        return r.status

    def open_streams(self):
        self.streams = [e.Stream(p, cookie=self.cookie, source=e.PROBE_ADDR, reconnect=False,
                                 name=p) for p in ("/api/stream-prices", "/api/stream-alerts")]
        for s in self.streams:
            s.connected.wait(10)
        bad = [f"{s.name}: {s.failures}" for s in self.streams if not s.live]
        return 200 if not bad else "; ".join(bad)

    def run(self, stop):
        self.step("first visit", self.first_visit)
        if self.cookie is None:
            return
        self.step("streams", self.open_streams)
        while not stop.is_set():
            self.step("page", self.page)
            self.step("set-alert", self.set_alert)
            time.sleep(0.1)

    def close(self):
        for s in self.streams:
            s.close()


def test_per_address_limits(check):
    """per-address limits: a flood from one address, a user next door served"""
    mint_rate = setting(r"zone=cookie_mints:\S+ rate=(\d+)r/m", 30)
    mint_burst = setting(r"zone=cookie_mints burst=(\d+)", 20)
    w_rate = setting(r"zone=addr_writes:\S+ rate=(\d+)r/s", 20)
    w_burst = setting(r"zone=addr_writes burst=(\d+)", 100)
    cap = setting(r"limit_conn addr_streams (\d+);", 64)
    per_user = e.nginx_setting(r"limit_conn user_streams (\d+);")
    print(f"    limits per address: {mint_rate} cookies/min (burst {mint_burst}), "
          f"{w_rate} writes/s (burst {w_burst}), {cap} streams")
    price = e.live_prices()["AAPL"]
    threshold = round(price / 100, 2)  # below at 1% of the price: never fires
    cookies = [e.new_user()[0] for _ in range(COOKIES)]  # each from an address of its own
    # Streams over the cookies, each under its per-user cap.
    n_streams = cap + 20
    check(n_streams <= COOKIES * per_user, "not enough cookies for the stream flood")

    mints, writes, created = Tally(), Tally(), []
    probe = Probe("AAPL", threshold)
    held, stream_status, stream_429 = [], {}, []
    stop = threading.Event()
    try:
        # Streams first, held through the other floods.
        t_s = time.monotonic()
        for i in range(n_streams):
            path = "/api/stream-alerts" if i % 2 else "/api/stream-prices"
            try:
                c, r, body, by = open_stream(path, cookies[i % COOKIES], e.FLOOD_ADDR)
            except (OSError, http.client.HTTPException) as ex:
                stream_status[repr(ex)] = stream_status.get(repr(ex), 0) + 1
                continue
            status = 200 if c is not None else r
            stream_status[status] = stream_status.get(status, 0) + 1
            if c is not None:
                held.append(c)
            elif status == 429 and len(stream_429) < 3:
                stream_429.append((body[:80], by))
        print(f"    {n_streams} streams from {e.FLOOD_ADDR} in {time.monotonic() - t_s:.1f}s: "
              f"{stream_status}")

        threads = [threading.Thread(target=probe.run, args=(stop,))]
        threads += [threading.Thread(target=flood_mints, args=(stop, mints))
                    for _ in range(THREADS)]
        threads += [threading.Thread(target=flood_writes,
                                     args=(stop, writes, cookies, "AAPL", threshold, created, k))
                    for k in range(THREADS)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        time.sleep(FLOOD_S)
        stop.set()
        for t in threads:
            t.join(30)
        elapsed = time.monotonic() - t0

        # Returning visitors of the flooding address are not counted as mints.
        r = e.request("GET", "/", cookie=cookies[0], source=e.FLOOD_ADDR)
        check(r.status == 200 and not e.cookie_of(r),
              f"a returning visitor of the flooding address got {r.status}")
        ticks = len(probe.streams[0].drain()) if probe.streams else 0
        live = [s.name for s in probe.streams if s.live]
    finally:
        stop.set()
        close_all(held)
        probe.close()

    mint_bound = mint_burst + mint_rate / 60 * elapsed + 2
    write_bound = w_burst + w_rate * elapsed + 5
    print(f"    cookie mints: {mints.sent()} in {elapsed:.1f}s: {mints.status} "
          f"(allowed at most {mint_bound:.0f}){'; errors ' + str(mints.errors[:2]) if mints.errors else ''}")
    print(f"    set-alert over {COOKIES} cookies: {writes.sent()} in {elapsed:.1f}s: {writes.status} "
          f"(allowed at most {write_bound:.0f})"
          f"{'; errors ' + str(writes.errors[:2]) if writes.errors else ''}")
    check(mints.status.get(429, 0) > 0, f"a flood of {mints.sent()} cookie mints from one "
          f"address was never refused: {mints.status}")
    check(mints.status.get(200, 0) <= mint_bound,
          f"{mints.status.get(200, 0)} cookies minted, over {mint_bound:.0f}")
    check(writes.status.get(429, 0) > 0, f"a flood of {writes.sent()} set-alerts from one "
          f"address over {COOKIES} cookies was never refused: {writes.status}")
    check(writes.status.get(200, 0) <= write_bound,
          f"{writes.status.get(200, 0)} alerts stored, over {write_bound:.0f}")
    check(writes.sent() > write_bound, f"only {writes.sent()} set-alerts sent: not a flood")
    check(set(mints.status) <= {200, 429} and set(writes.status) <= {200, 429},
          f"answers besides 200 and 429: mints {mints.status}, writes {writes.status}")
    check(not mints.errors and not writes.errors,
          f"transport errors: {mints.errors[:2]} {writes.errors[:2]}")
    check(stream_status.get(200, 0) == cap and stream_status.get(429, 0) == n_streams - cap,
          f"{n_streams} streams from one address: {stream_status}, want {cap} x 200 and "
          f"{n_streams - cap} x 429")
    check(not mints.bad_429 and not writes.bad_429 and
          all(by is None and b"error" in body for body, by in stream_429),
          f"429s not nginx's JSON: {mints.bad_429} {writes.bad_429} {stream_429}")

    # The user next door.
    by_what = {}
    for what, status, secs in probe.results:
        by_what.setdefault(what, []).append((status, secs))
    for what, got in by_what.items():
        statuses = [s for s, _ in got]
        secs = [t for _, t in got]
        print(f"    {e.PROBE_ADDR} {what}: {len(got)} x, statuses {sorted(set(map(str, statuses)))}, "
              f"max {max(secs) * 1000:.0f} ms")
        check(all(s == 200 for s in statuses), f"the other address's {what}: {statuses}")
    print(f"    {e.PROBE_ADDR} held {live} through the flood, {ticks} price events")
    check(len(live) == 2 and ticks > 0,
          f"the other address's streams: live {live}, {ticks} price events during the flood")
    check(len(by_what.get("set-alert", [])) >= 3,
          f"the probe ran only {len(by_what.get('set-alert', []))} rounds during the flood")

    # Once the flood stops, the address is served again: a write as soon as
    # the bucket lets one through (1/rate), a stream once nginx has seen the
    # flood's streams close.
    def write_again():
        r = e.request("POST", "/api/set-alert", cookie=cookies[0], source=e.FLOOD_ADDR,
                      body={"ticker": "AAPL", "threshold": threshold, "type": "below"})
        if r.status == 200:
            created.append((cookies[0], r.json()["alert_id"]))
        return r.status == 200
    check(e.testkit.wait_until(write_again, 2 / w_rate + 3, step=0.1),
          "after the flood, a set-alert from its address is still refused")

    def stream_again():
        c, _, _, _ = open_stream("/api/stream-prices", cookies[1], e.FLOOD_ADDR)
        if c is not None:
            close_all([c])
        return c is not None
    check(e.testkit.wait_until(stream_again, 5, step=0.2),
          "after the flood, a stream from its address is still refused")
    got = e.testkit.wait_until(
        lambda: e.request("GET", "/", source=e.FLOOD_ADDR).status == 200, 60 / mint_rate + 5)
    check(got, "after the flood, its address never got a new cookie again")

    for cookie, aid in created:
        e.request("DELETE", f"/api/delete-alert/{aid}", cookie=cookie)
    for aid in probe.alerts:
        e.request("DELETE", f"/api/delete-alert/{aid}", cookie=probe.cookie)



