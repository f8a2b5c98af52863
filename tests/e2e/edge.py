#!/usr/bin/env python3
"""End-to-end: nginx in front of the webapp replicas.

- stickiness: one cookie always reaches one replica (X-Served-By), streams
  included; new visitors spread over every replica;
- unbuffered SSE: a tick published to Kafka reaches a price stream through
  nginx within 100 ms (median), and nginx adds next to nothing to the direct
  path;
- limits: 413 over the body limit, 429 for a per-user flood of
  state-changing calls while another user is served, 429 past the per-user
  stream cap;
- gzip for HTML, JS and JSON (never for streams); the security headers once
  on every answer, nginx's own included;
- a set-alert retried on another replica (nginx's retry after a replica
  died before answering) is stored once, by X-Request-Id;
- /metrics is not served through nginx (404, however the path is spelled);
- Cookie headers up to 8 KB pass (2.6, 4, 7.9 and 8 KB: the user is
  recognised, streams open); above, a clean 431 with the JSON error shape
  (the webapp's up to nginx's header buffer of 10 KB, nginx's own beyond);
- Last-Event-ID through nginx: a position past the end (an 18-digit number
  used to silence a stream) resumes from the oldest kept history, a
  5,000-character one is a clean 400 (not a 502);
- `./stack peek TOPIC` prints the topic readably.

The per-address limits and a hung replica have their own files
(limits_per_address.py, hung_replica.py).
"""
import gzip
import http.client
import json
import os
import re
import secrets
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
REPLICAS = {str(i) for i in range(len(e.WEBAPP_PORTS))}


def test_security_headers(check):
    """security headers, once, on every answer"""
    big = b"x" * (64 * 1024)
    answers = {
        "GET / (HTML)": e.request("GET", "/"),
        "GET /api/tickers (JSON)": e.request("GET", "/api/tickers"),
        "GET /api/get-alerts without cookie (webapp 400)": e.request("GET", "/api/get-alerts"),
        "POST 64 KiB (nginx 413)": e.request("POST", "/api/set-alert", raw=big,
                                             headers={"Content-Type": "application/json"}),
    }
    for what, r in answers.items():
        csp = r.all("Content-Security-Policy")
        check(len(csp) == 1, f"{what}: {len(csp)} CSP headers")
        if csp:
            check("default-src 'self'" in csp[0] and "frame-ancestors 'none'" in csp[0],
                  f"{what}: CSP {csp[0]!r} does not restrict to this origin")
        check(r.all("X-Content-Type-Options") == ["nosniff"],
              f"{what}: X-Content-Type-Options {r.all('X-Content-Type-Options')}")
        check(len(r.all("Referrer-Policy")) == 1, f"{what}: Referrer-Policy "
              f"{r.all('Referrer-Policy')}")
        check(r.header("Server") == "nginx", f"{what}: Server {r.header('Server')!r} "
              "(server_tokens should hide the version)")


def test_gzip(check):
    """gzip for HTML, JS, JSON; none for streams"""
    for path, kind in (("/", "HTML"), ("/static/app.js", "JS"), ("/openapi.json", "JSON"),
                       ("/api/tickers", "JSON")):
        plain = e.request("GET", path)
        z = e.request("GET", path, headers={"Accept-Encoding": "gzip"})
        check(z.status == 200, f"{path}: {z.status}")
        check(z.header("Content-Encoding") == "gzip",
              f"{kind} {path} not gzipped (Content-Encoding {z.header('Content-Encoding')})")
        check("Accept-Encoding" in (z.header("Vary") or ""), f"{path}: no Vary")
        if z.header("Content-Encoding") == "gzip":
            body = gzip.decompress(z.body)
            if path != "/api/tickers":  # prices move between the two requests
                check(body == plain.body, f"{path}: gzipped body differs")
            check(len(z.body) < len(body), f"{path}: gzip did not shrink it")
            print(f"    {path}: {len(body)} -> {len(z.body)} bytes")
    # A stream is never compressed: gzip would hold events back.
    c = http.client.HTTPConnection(e.HOST, e.PORT, timeout=10)
    c.request("GET", "/api/stream-prices", headers={"Accept-Encoding": "gzip"})
    r = c.getresponse()
    check(r.status == 200 and r.getheader("Content-Encoding") is None,
          f"stream-prices: {r.status}, Content-Encoding {r.getheader('Content-Encoding')}")
    c.close()


def test_stickiness(check):
    """stickiness: a cookie keeps its replica; visitors spread"""
    visitors = [e.new_user() for _ in range(24)]
    first = {by for _, by in visitors}
    print(f"    cookie-less visitors served by replicas {sorted(first)}")
    check(first == REPLICAS, f"new visitors reached only {sorted(first)} of {sorted(REPLICAS)}")
    homes = {}
    for cookie, _ in visitors:
        seen = set()
        for path in ("/api/get-alerts", "/api/tickers", "/", "/api/alert-history") * 2:
            r = e.request("GET", path, cookie=cookie)
            check(r.status == 200, f"{path}: {r.status}")
            seen.add(r.header("X-Served-By"))
        s = e.Stream("/api/stream-alerts", cookie=cookie, reconnect=False)
        s.connected.wait(10)
        seen.update(s.served_by)
        s.close()
        check(len(seen) == 1, f"one cookie reached several replicas: {sorted(seen)}")
        homes[cookie] = seen.pop() if len(seen) == 1 else None
    spread = {h for h in homes.values() if h is not None}
    counts = {r: sum(1 for h in homes.values() if h == r) for r in sorted(REPLICAS)}
    print(f"    users per replica: {counts}")
    check(spread == REPLICAS, f"users stuck to {sorted(spread)} only")


def test_body_limit(check):
    """body limit: 413 from nginx and from the webapp"""
    hdr = {"Content-Type": "application/json"}
    cookie, _ = e.new_user()
    r = e.request("POST", "/api/set-alert", cookie=cookie, raw=b" " * (64 * 1024), headers=hdr)
    check(r.status == 413, f"64 KiB body: {r.status}")
    check(r.header("X-Served-By") is None, "64 KiB body reached a replica (nginx should stop it)")
    check("error" in r.json(), f"nginx 413 body {r.body!r} is not the API's JSON error")
    # Under nginx's limit but over the webapp's: the webapp answers.
    r = e.request("POST", "/api/set-alert", cookie=cookie, raw=b" " * 6000, headers=hdr)
    check(r.status == 413 and r.header("X-Served-By") in REPLICAS,
          f"6000-byte body: {r.status} from {r.header('X-Served-By')}")


def test_rate_limit(check):
    """per-user rate limit on state-changing calls"""
    rate = e.nginx_setting(r"zone=api_writes:\S+ rate=(\d+)r/s")
    burst = e.nginx_setting(r"zone=api_writes burst=(\d+)")
    flooder, _ = e.new_user()
    other, _ = e.new_user()
    price = e.live_prices()["AAPL"]
    stats = {"sent": 0, "429": 0, "other": {}, "errors": 0}
    lock = threading.Lock()
    stop = threading.Event()

    def flood():
        while not stop.is_set():
            path = f"/api/delete-alert/{secrets.token_hex(16)}"
            try:
                r = e.request("DELETE", path, cookie=flooder)
            except (OSError, http.client.HTTPException):
                with lock:
                    stats["errors"] += 1
                continue
            with lock:
                stats["sent"] += 1
                if r.status == 429:
                    stats["429"] += 1
                    if stats["429"] == 1:
                        check("error" in r.json(), f"429 body {r.body!r} is not JSON")
                        check(r.header("X-Served-By") is None, "429 came from a replica")
                else:
                    stats["other"][r.status] = stats["other"].get(r.status, 0) + 1
                # Long enough for the other user to be served meanwhile.
                if (stats["429"] >= 20 and time.monotonic() - t0 >= 2) or stats["sent"] >= 5000:
                    stop.set()
            if rate <= 25:
                time.sleep(0.02)  # ~200/s in all: far over the limit, few sockets

    t0 = time.monotonic()
    threads = [threading.Thread(target=flood) for _ in range(4)]
    for t in threads:
        t.start()
    served, ids = [], []
    while not stop.is_set() and time.monotonic() - t0 < 60:
        r = e.request("POST", "/api/set-alert", cookie=other,
                      body={"ticker": "AAPL", "threshold": round(price / 100, 2),
                            "type": "below"})
        served.append(r.status)
        if r.status == 200:
            ids.append(r.json()["alert_id"])
        time.sleep(0.1)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    passed = sum(stats["other"].values())
    print(f"    flood: {stats['sent']} sent in {elapsed:.1f}s, {stats['429']} x 429, "
          f"passed {stats['other']}; other user: {len(served)} calls, statuses "
          f"{sorted(set(served))} (rate {rate}/s, burst {burst})")
    check(stats["429"] > 0, "a flood of deletes never got 429")
    check(set(stats["other"]) <= {404}, f"flood answers besides 429: {stats['other']}")
    check(passed <= burst + rate * elapsed + 5,
          f"{passed} passed in {elapsed:.1f}s, over burst {burst} + {rate}/s")
    check(stats["errors"] == 0, f"{stats['errors']} transport errors during the flood")
    check(served and set(served) == {200}, f"the other user got {sorted(set(served))}")
    # The flooder is served again once the bucket refills.
    time.sleep(2.0 / rate + 1)
    r = e.request("DELETE", f"/api/delete-alert/{secrets.token_hex(16)}", cookie=flooder)
    check(r.status == 404, f"after the flood the user still gets {r.status}")
    for i in ids:
        e.request("DELETE", f"/api/delete-alert/{i}", cookie=other)


def open_stream(path, cookie):
    c = e.connection(cookie=cookie, timeout=10)
    c.request("GET", path, headers={"Cookie": f"user_id={cookie}",
                                     "Accept": "text/event-stream"})
    return c, c.getresponse()


def test_stream_cap(check):
    """per-user cap of concurrent streams"""
    cap = e.nginx_setting(r"limit_conn user_streams (\d+);")
    user, _ = e.new_user()
    other, _ = e.new_user()
    held = []
    try:
        for i in range(cap):
            path = "/api/stream-alerts" if i == 0 else "/api/stream-prices"
            c, r = open_stream(path, user)
            held.append(c)
            check(r.status == 200, f"stream {i + 1} of {cap}: {r.status}")
        c, r = open_stream("/api/stream-prices", user)
        body = r.read() if r.status != 200 else b""
        check(r.status == 429, f"stream {cap + 1} for one user: {r.status}, want 429")
        check(r.getheader("X-Served-By") is None, "stream cap answered by a replica, not nginx")
        check(b"error" in body, f"429 body {body!r}")
        c.close()
        c, r = open_stream("/api/stream-alerts", other)
        check(r.status == 200, f"another user's stream: {r.status}")
        held.append(c)
    finally:
        for c in held:
            try:
                c.sock.shutdown(2)
            except OSError:
                pass
            c.close()
    # Closed streams free their slots.
    deadline = time.time() + 10
    while time.time() < deadline:
        c, r = open_stream("/api/stream-prices", user)
        status = r.status
        c.close()
        if status == 200:
            break
        time.sleep(0.2)
    check(status == 200, f"after closing, the user still gets {status}")


def test_sse_latency(check):
    """SSE through nginx: published -> client within 100 ms"""
    ticker = "E2E" + secrets.token_hex(4).upper()
    via_nginx = e.Stream("/api/stream-prices", name="nginx")
    direct = e.Stream("/api/stream-prices", port=e.WEBAPP_PORTS[0], name="direct")
    for s in (via_nginx, direct):
        check(s.connected.wait(10) and s.live, f"{s.name} price stream did not open")
    # Warm-up: the ticker joins the universe, its first tick reaches every replica.
    e.announce(ticker)
    e.publish("stock-prices", ticker, e.tick_json(ticker, 1.0))
    time.sleep(1.0)
    for i in range(1, 21):
        e.publish("stock-prices", ticker, e.tick_json(ticker, 100.0 + i))
        time.sleep(0.05)
    time.sleep(1.5)
    sent = {}
    for ts, value in e.topic_times("stock-prices", ticker):
        sent[json.loads(value)["price"]] = ts
    sent.pop(1.0, None)
    check(len(sent) == 20, f"{len(sent)} of 20 ticks found in Kafka")
    lat = {}
    for s in (via_nginx, direct):
        got = {}
        for arrival, _, obj in s.drain():
            if isinstance(obj, dict) and obj.get("ticker") == ticker and obj["price"] in sent:
                got.setdefault(obj["price"], arrival - sent[obj["price"]])
        s.close()
        lat[s.name] = got
        check(len(got) == len(sent), f"{s.name}: {len(got)} of {len(sent)} ticks arrived")
    n = sorted(lat["nginx"].values())
    if not n:
        return
    med, p90, mx = e.statistics.median(n), e.percentile(n, 90), max(n)
    print(f"    publish -> client through nginx: median {e.ms(med)}, p90 {e.ms(p90)}, "
          f"max {e.ms(mx)} ({len(n)} ticks)")
    check(med <= 0.100, f"median publish-to-client latency {e.ms(med)} > 100 ms")
    check(p90 <= 0.250, f"p90 latency {e.ms(p90)} > 250 ms")
    check(mx <= 1.0, f"max latency {e.ms(mx)} > 1 s: something buffers")
    both = [lat["nginx"][p] - lat["direct"][p] for p in lat["nginx"] if p in lat["direct"]]
    if both:
        extra = e.statistics.median(both)
        print(f"    nginx adds a median {e.ms(extra)} over the direct stream")
        check(extra <= 0.030, f"nginx adds {e.ms(extra)} (median) to each event")


def test_retry_once(check):
    """a POST retried on another replica is stored once.

    nginx retries a POST on another replica when the first one died
    before answering; its X-Request-Id makes that retry store nothing new."""
    cookie, _ = e.new_user()
    alert = {"ticker": "AAPL", "threshold": 1e9, "type": "above"}
    rid = {"X-Request-Id": secrets.token_hex(16)}
    ids = set()
    for port in e.WEBAPP_PORTS:  # the same request reaching every replica
        r = e.request("POST", "/api/set-alert", cookie=cookie, body=alert, headers=rid, port=port)
        check(r.status == 200, f"replica :{port}: {r.status} {r.body!r}")
        ids.add(r.json().get("alert_id"))
    check(len(ids) == 1, f"one request stored {len(ids)} alerts on {len(e.WEBAPP_PORTS)} replicas")
    # Through nginx each client request gets its own id (a client's header is
    # replaced), so two POSTs are two alerts.
    for _ in range(2):
        r = e.request("POST", "/api/set-alert", cookie=cookie, body=alert, headers=rid)
        check(r.status == 200, f"via nginx: {r.status}")
        ids.add(r.json().get("alert_id"))
    check(len(ids) == 3, f"two POSTs through nginx gave {len(ids) - 1} new alerts, not 2")
    r = e.request("GET", "/api/get-alerts", cookie=cookie)
    check(len(r.json()["alerts"]) == 3, f"stored: {r.body!r}")
    for i in ids:
        e.request("DELETE", f"/api/delete-alert/{i}", cookie=cookie)


def test_metrics_hidden(check):
    """/metrics is not served through nginx.

    The replicas' /metrics is for the machine they run on: nginx answers
    it 404 itself, in the API's error shape, however the path is spelled
    (nginx matches the normalised path: //, /./, /../, %-escapes)."""
    for path in ("/metrics", "/metrics?format=text", "//metrics", "/./metrics",
                 "/api/../metrics", "/%6Detrics"):
        r = e.request("GET", path)
        check(r.status == 404, f"GET {path} through nginx: {r.status}")
        check(r.header("X-Served-By") is None, f"GET {path} reached replica "
              f"{r.header('X-Served-By')}")
        check(isinstance(r.json(), dict) and "error" in r.json(),
              f"GET {path}: body {r.body[:60]!r} is not the API's JSON error")
        check(b"webapp_" not in r.body, f"GET {path}: metrics served through nginx")
    # On a replica's own port, from loopback, they are still there.
    r = e.request("GET", "/metrics", port=e.WEBAPP_PORTS[0], source=e.FLOOD_ADDR)
    check(r.status == 200 and b"webapp_" in r.body,
          f"/metrics on the replica's port: {r.status} {r.body[:60]!r}")


def cookie_header(user_cookie, size):
    """A Cookie header value of exactly `size` bytes: the user's cookie among
    junk ones, as a browser carrying many cookies sends it."""
    junk = [f"j{i:02}=" + "x" * 190 for i in range(max(0, (size - 150) // 200))]
    half = len(junk) // 2
    parts = junk[:half] + [f"user_id={user_cookie}"] + junk[half:]
    value = "; ".join(parts)
    pad = size - len(value) - len("; pad=")
    if pad >= 0:
        value += "; pad=" + "y" * pad
    assert len(value) == size, (len(value), size)
    return value


def test_big_cookies(check):
    """Cookie headers up to 8 KB pass; beyond, a clean 431.

    Cookie headers up to 8 KB work through nginx (an 8 KB one plus the
    ordinary headers fits nginx's header buffer); above 8192 bytes the
    webapp answers 431, and above nginx's buffer (10 KB) nginx does, both
    in the API's JSON error shape, with the security headers once."""
    cookie, _ = e.new_user()
    for size in (2600, 4096, 7900, 8192):
        h = {"Cookie": cookie_header(cookie, size), "Accept-Language": "en-GB,en;q=0.9",
             "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) stock-alerts-e2e"}
        r = e.request("GET", "/api/get-alerts", headers=h, source=e.source_for(cookie))
        check(r.status == 200 and isinstance(r.json(), dict) and "alerts" in r.json(),
              f"{size}-byte Cookie header: get-alerts {r.status} {r.body[:80]!r}")
        c = e.connection(cookie=cookie, timeout=10)
        try:
            c.request("GET", "/api/stream-alerts", headers=dict(h, Accept="text/event-stream"))
            resp = c.getresponse()
            check(resp.status == 200, f"{size}-byte Cookie header: stream {resp.status}")
        except (OSError, http.client.HTTPException) as ex:
            check(False, f"{size}-byte Cookie header: stream {ex!r}")
        finally:
            c.close()
        print(f"    {size}-byte Cookie header: get-alerts {r.status}")
    for size, who in ((8193, "webapp"), (9000, "webapp"), (12000, "nginx"), (20000, "nginx")):
        r = e.request("GET", "/api/get-alerts", headers={"Cookie": cookie_header(cookie, size)})
        print(f"    {size}-byte Cookie header: {r.status} from "
              f"{'replica ' + r.header('X-Served-By') if r.header('X-Served-By') else 'nginx'}")
        check(r.status == 431, f"{size}-byte Cookie header: {r.status}, want 431")
        check(isinstance(r.json(), dict) and "error" in r.json(),
              f"{size}-byte Cookie header: body {r.body[:80]!r} is not the JSON error")
        check(len(r.all("Content-Security-Policy")) == 1,
              f"{size}-byte Cookie header: {len(r.all('Content-Security-Policy'))} CSP headers")
        if who == "nginx":
            check(r.header("X-Served-By") is None,
                  f"{size}-byte Cookie header reached replica {r.header('X-Served-By')}")


def test_last_event_id(check):
    """hostile Last-Event-IDs: not silenced, 400 when malformed, never 502.

    Hostile resume tokens through nginx: the stream is not silenced and
    nothing is a 502."""
    cookie, _ = e.new_user()
    for lei, want in (("999999999999999999", 200), ("18446744073709551615-0", 200),
                      ("1" * 65, 400), ("9" * 5000, 400), ("x-1", 400)):
        c = e.connection(cookie=cookie, timeout=10)
        try:
            c.request("GET", "/api/stream-alerts",
                      headers={"Cookie": f"user_id={cookie}", "Accept": "text/event-stream",
                               "Last-Event-ID": lei})
            r = c.getresponse()
            status = r.status
            first = r.read1(4096) if status == 200 else r.read()
        finally:
            c.close()
        check(status == want, f"Last-Event-ID of {len(lei)} characters: {status}, want {want}")
        if want == 200:
            # an id to resume from comes at once: the stream is live
            check(b"id: " in first, f"Last-Event-ID {lei[:24]}: no id in {first[:120]!r}")
        else:
            check(b"error" in first, f"Last-Event-ID of {len(lei)} characters: body {first!r}")
        print(f"    Last-Event-ID of {len(lei)} characters: {status}")


def test_peek(check):
    """./stack peek"""
    rc, out = e.stack("peek", "stock-prices", "-n", "2", "-e", timeout=60)
    check(rc == 0, f"./stack peek exit {rc}: {out[-500:]}")
    lines = [ln for ln in out.splitlines()
             if re.match(r"^\d\d:\d\d:\d\d\.\d{3} p\d+@\d+\s+\S+\s+\{\"ticker\"", ln)]
    check(len(lines) >= 2, f"peek printed no readable ticks: {out[:500]!r}")
    if lines:
        print(f"    {lines[0][:110]}")



