#!/usr/bin/env python3
"""Integration tests for the producer daemon: the real binary against a local
HTTP server answering in Yahoo Finance's chart shape, and the test Kafka
(TEST_KAFKA_BOOTSTRAP; skipped without it, or without kcat, except config).
Each run uses its own topics.

usage: pytest producer_it.py[::test_SCENARIO] [--bin producer=PATH]
       producer_it.py PRODUCER_BINARY SCENARIO [PYTEST ARGS]
Scenarios: config, sim_all_assets, yahoo_answers, yahoo_rate_limit,
auto_switch, sharding, replay. PRODUCER_IT_VERBOSE=1 prints the producers'
logs also when a scenario passes."""

import http.server
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import testkit  # noqa: E402
from testkit import free_port  # noqa: E402

if __name__ == "__main__":  # before pytest is imported: testkit.pytest_main finds one
    # The former command line: PRODUCER SCENARIO [pytest arguments].
    sys.exit(testkit.scenario_main(__file__, ["producer"], sys.argv[1:]))

import pytest  # noqa: E402

DEFAULTS = ["AAPL", "GOOGL", "MSFT", "AMZN", "NVDA", "TSLA", "META", "BTC-USD",
            "ETH-USD", "SOL-USD", "GC=F", "SI=F", "CL=F", "NG=F", "HG=F"]
FIELDS = ("ticker", "price", "timestamp", "company", "display_name", "source")


def unique(prefix):
    return "%s-%d-%d" % (prefix, os.getpid(), int(time.time() * 1000))


# ------------------------------------------------------------------ Yahoo server

def chart(symbol, price, market_time=None, name=None, extra=None):
    meta = {"currency": "USD", "symbol": symbol, "exchangeName": "NMS",
            "regularMarketTime": market_time or int(time.time()),
            "regularMarketPrice": price}
    if name:
        meta["shortName"] = name
    if extra:
        meta.update(extra)
    return {"chart": {"result": [{"meta": meta, "timestamp": [int(time.time())],
                                  "indicators": {"quote": [{"close": [price]}]}}],
                      "error": None}}


class YahooState:
    """What the fake Yahoo answers, and what it saw."""

    def __init__(self, behaviour):
        self.behaviour = behaviour  # fn(state, symbol) -> (status, headers, body, delay)
        self.lock = threading.Lock()
        self.requests = []  # (mono time, symbol, path, user agent, client port)
        self.counter = {}
        self.down = False

    def record(self, symbol, path, ua, port):
        with self.lock:
            self.requests.append((time.monotonic(), symbol, path, ua, port))
            self.counter[symbol] = self.counter.get(symbol, 0) + 1
            return self.counter[symbol]


class YahooHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is visible

    def log_message(self, *args):
        pass

    def do_GET(self):
        st = self.server.state
        if st.down:
            self.close_connection = True
            return
        url = urllib.parse.urlsplit(self.path)
        prefix = "/v8/finance/chart/"
        if not url.path.startswith(prefix):
            self.send_error(404)
            return
        symbol = urllib.parse.unquote(url.path[len(prefix):])
        n = st.record(symbol, self.path, self.headers.get("User-Agent", ""),
                      self.client_address[1])
        status, headers, body, delay = st.behaviour(st, symbol, n)
        if delay:
            time.sleep(delay)
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass


class YahooServer:
    def __init__(self, state, port=0):
        self.state = state
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), YahooHandler)
        self.httpd.daemon_threads = True
        self.httpd.state = state
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def stop(self):
        self.state.down = True
        self.httpd.shutdown()
        self.httpd.server_close()


# ------------------------------------------------------------------ producer + Kafka

class Producer:
    def __init__(self, binary, env, logdir):
        self.metrics_port = free_port()
        full = dict(os.environ)
        full.update({"KAFKA_BOOTSTRAP_SERVERS": os.environ.get("TEST_KAFKA_BOOTSTRAP", ""),
                     "METRICS_PORT": str(self.metrics_port), "TOPIC_PARTITIONS": "1",
                     "LOG_LEVEL": "info"})
        full.update(env)
        # Its assets are announced next to its ticks, never into the shared universe.
        full.setdefault("TOPIC_ASSETS", full.get("TOPIC_PRICES", "producer-it") + "-assets")
        self.log_path = os.path.join(logdir, "producer-%d.log" % free_port())
        self.log = open(self.log_path, "w")
        self.started = time.time()
        self.proc = subprocess.Popen([binary], env=full, stdout=self.log, stderr=self.log)

    def get(self, path):
        url = "http://127.0.0.1:%d%s" % (self.metrics_port, path)
        for _ in range(50):
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    return r.status, r.read().decode()
            except urllib.error.HTTPError as e:
                return e.code, e.read().decode()
            except OSError:
                time.sleep(0.1)
        pytest.fail("no answer on " + url)

    def stop(self):
        t = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail("producer did not stop within 15 s of SIGTERM")
        took = time.monotonic() - t
        self.log.close()
        assert took < 10, "producer took %.1f s to stop" % took
        assert rc == 0, "producer exited with %d; log:\n%s" % (rc, self.logtext()[-3000:])

    def logtext(self):
        with open(self.log_path) as f:
            return f.read()


def consume(topic):
    """Every message on topic as (kafka ts ms, key, payload dict)."""
    boot = os.environ["TEST_KAFKA_BOOTSTRAP"]
    out = subprocess.run(["kcat", "-b", boot, "-C", "-t", topic, "-o", "beginning", "-e",
                          "-J", "-q"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, "kcat failed: " + out.stderr[-500:]
    msgs = []
    for line in out.stdout.splitlines():
        m = json.loads(line)
        msgs.append((m["ts"], m["key"], json.loads(m["payload"])))
    msgs.sort(key=lambda x: x[0])
    return msgs


def check_contract(msgs):
    """No bad price ever: every message is complete, finite and positive."""
    for ts, key, p in msgs:
        for f in FIELDS:
            assert f in p, "message without %s: %r" % (f, p)
        assert key == p["ticker"], "key %r != ticker %r" % (key, p["ticker"])
        price = p["price"]
        assert isinstance(price, (int, float)) and math.isfinite(price) and price > 0, (
            "bad price published: %r" % p)
        assert p["timestamp"] > 1.6e9, "bad timestamp: %r" % p
        assert p["source"] in ("yahoo", "sim", "replay"), "bad source: %r" % p


# ------------------------------------------------------------------ scenarios

def test_config(binary, tmp):
    """Bad settings exit 2 with one line naming the variable; --help lists them."""
    out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, "--help exit %d" % out.returncode
    for var in ("TICKERS", "PRICE_SOURCE", "PRICE_INTERVAL_MS", "YAHOO_BASE_URL",
                "SIM_SEED", "PRODUCER_INSTANCES", "REPLAY_FILE", "SIM_SYNTHETIC_TICKERS"):
        assert var in out.stdout, "--help does not list " + var
    # --list-assets: the default assets, tab-separated, for tools that need the list.
    out = subprocess.run([binary, "--list-assets"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, "--list-assets exit %d" % out.returncode
    rows = [l.split("\t") for l in out.stdout.splitlines()]
    assert [r[0] for r in rows] == DEFAULTS, "--list-assets: %r" % out.stdout
    assert all(len(r) == 5 and float(r[3]) > 0 for r in rows), "--list-assets: %r" % rows
    bad = [({"PRICE_SOURCE": "bloomberg"}, "PRICE_SOURCE"),
           ({"PRICE_INTERVAL_MS": "0"}, "PRICE_INTERVAL_MS"),
           ({"PRICE_INTERVAL_MS": "10x"}, "PRICE_INTERVAL_MS"),
           ({"TICKERS": "AAPL,NOT VALID"}, "NOT VALID"),
           ({"PRODUCER_INSTANCE": "2", "PRODUCER_INSTANCES": "2"}, "PRODUCER_INSTANCE"),
           ({"YAHOO_BASE_URL": "ftp://x"}, "YAHOO_BASE_URL"),
           ({"SIM_SEED": "-1"}, "SIM_SEED"),
           ({"PRICE_SOURCE": "replay"}, "REPLAY_FILE"),
           ({"PRICE_SOURCE": "yahoo", "SIM_SYNTHETIC_TICKERS": "5"}, "SIM_SYNTHETIC_TICKERS"),
           ({"PRICE_SOURCE": "replay", "REPLAY_FILE": "/nonexistent.csv"}, "nonexistent"),
           ({"SIM_VOLATILITY": "AAPL=lots"}, "AAPL=lots")]
    for env, word in bad:
        full = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1", METRICS_PORT="0")
        full.update(env)
        out = subprocess.run([binary], env=full, capture_output=True, text=True, timeout=10)
        assert out.returncode == 2, "%r: exit %d, want 2" % (env, out.returncode)
        lines = [l for l in out.stderr.splitlines() if "bad configuration" in l]
        assert len(lines) == 1, "%r: want one 'bad configuration' line: %r" % (env, out.stderr)
        assert word in lines[0], "%r: log line does not name %s: %s" % (env, word, lines[0])
    # Kafka unreachable: the producer keeps running, answers /health, stops cleanly.
    p = Producer(binary, {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:%d" % free_port(),
                          "PRICE_SOURCE": "sim", "TOPIC_PARTITIONS": "6"}, tmp)
    time.sleep(2)
    status, body = p.get("/health")
    assert status == 200 and json.loads(body)["source"] == "sim", "health %d %s" % (status, body)
    assert p.proc.poll() is None, "producer died without Kafka"
    p.stop()
    assert "topic not ensured" in p.logtext(), "no log line about the missing topic"


def test_sim_all_assets(binary, tmp, kcat):
    """Every default asset appears on the topic within 3 s in sim mode."""
    topic = unique("it-prod-sim")
    p = Producer(binary, {"PRICE_SOURCE": "sim", "TOPIC_PRICES": topic}, tmp)
    t0 = p.started * 1000
    try:
        time.sleep(3.5)
        status, body = p.get("/health")
        assert status == 200, "health %d %s" % (status, body)
        h = json.loads(body)
        assert h["source"] == "sim" and h["mode"] == "sim" and h["assets"] == 15, (
            "health says %r" % h)
        status, metrics = p.get("/metrics")
        assert status == 200 and 'producer_source{source="sim"} 1' in metrics, (
            "metrics: " + metrics[:400])
        assert ("producer_published_total" in metrics and "producer_dropped_bad_prices_total 0"
                in metrics), "metrics lack counters: " + metrics[:600]
    finally:
        p.stop()
    msgs = consume(topic)
    check_contract(msgs)
    first = {}
    for ts, key, m in msgs:
        first.setdefault(key, ts)
        assert m["source"] == "sim", "source %r" % m["source"]
    for t in DEFAULTS:
        assert t in first, "%s never published" % t
        assert first[t] - t0 <= 3000, "%s first seen after %.0f ms" % (t, first[t] - t0)
    names = {m["ticker"]: m["display_name"] for _, _, m in msgs}
    assert names["GC=F"] == "Gold" and names["CL=F"] == "Crude Oil", "names: %r" % names
    # prices move
    aapl = [m["price"] for _, _, m in msgs if m["ticker"] == "BTC-USD"]
    assert len(set(aapl)) > 1, "BTC-USD price never moved: %r" % aapl


def yahoo_cases(st, symbol, n):
    now = int(time.time())
    if symbol in ("AAPL", "GC=F"):
        return 200, {}, chart(symbol, 100 + n * 0.25 + (symbol == "GC=F") * 2000), 0
    if symbol == "ZETA":
        return 200, {}, chart(symbol, 12.5 + n, name="Zeta Corp"), 0
    if symbol == "MSFT":  # market closed: same price, old market time
        return 200, {}, chart(symbol, 420.5, market_time=now - 3 * 86400,
                              extra={"currentTradingPeriod": {"regular": {"end": now - 86400}}}), 0
    if symbol == "NOMETA":
        return 200, {}, {"chart": {"result": [{"timestamp": [now]}], "error": None}}, 0
    if symbol == "NULLP":
        return 200, {}, chart(symbol, None), 0
    if symbol == "NEGP":
        return 200, {}, chart(symbol, -12.0), 0
    if symbol == "ZEROP":
        return 200, {}, chart(symbol, 0), 0
    if symbol == "STRP":
        return 200, {}, chart(symbol, "123.4"), 0
    if symbol == "CHERR":
        return 404, {}, {"chart": {"result": None, "error": {
            "code": "Not Found", "description": "No data found, symbol may be delisted"}}}, 0
    if symbol == "TRUNC":
        return 200, {}, json.dumps(chart(symbol, 55.5)).encode()[:60], 0
    if symbol == "SLOW":
        return 200, {}, chart(symbol, 77.0), 1.5
    if symbol == "E500":
        return 500, {}, b"<html>oops</html>", 0
    return 404, {}, {"chart": {"result": None, "error": {"code": "Not Found"}}}, 0


def test_yahoo_answers(binary, tmp, kcat):
    """Each kind of Yahoo answer: good ones published, bad ones dropped, no crash."""
    st = YahooState(yahoo_cases)
    srv = YahooServer(st)
    topic = unique("it-prod-yahoo")
    good = ["AAPL", "MSFT", "GC=F", "ZETA"]
    bad = ["NOMETA", "NULLP", "NEGP", "ZEROP", "STRP", "CHERR", "TRUNC", "SLOW", "E500"]
    p = Producer(binary, {"PRICE_SOURCE": "yahoo", "TOPIC_PRICES": topic,
                          "TICKERS": ",".join(good + bad), "PRICE_INTERVAL_MS": "400",
                          "YAHOO_BASE_URL": srv.url, "YAHOO_TIMEOUT_MS": "500",
                          "YAHOO_CONNECT_TIMEOUT_MS": "400", "YAHOO_BACKOFF_BASE_MS": "20",
                          "YAHOO_BACKOFF_MAX_MS": "100", "YAHOO_MAX_PARALLEL": "4"}, tmp)
    try:
        time.sleep(4)
        status, body = p.get("/health")
        h = json.loads(body)
        assert status == 200 and h["source"] == "yahoo", "health %r" % h
        assert h.get("last_yahoo_error"), "no last_yahoo_error in %r" % h
        status, metrics = p.get("/metrics")
        dropped = [l for l in metrics.splitlines()
                   if l.startswith("producer_dropped_bad_prices_total ")]
        assert dropped and int(dropped[0].split()[1]) >= 7, "dropped: %r" % dropped
    finally:
        p.stop()
        srv.stop()
    msgs = consume(topic)
    check_contract(msgs)
    seen = {}
    for _, key, m in msgs:
        seen.setdefault(key, []).append(m)
        assert m["source"] == "yahoo", "source %r" % m
    for t in good:
        assert len(seen.get(t, [])) >= 3, "%s published %d times" % (t, len(seen.get(t, [])))
    for t in bad:
        assert t not in seen, "%s should never be published: %r" % (t, seen.get(t))
    assert {m["price"] for m in seen["MSFT"]} == {420.5}, "market closed price changed"
    assert len({m["price"] for m in seen["AAPL"]}) > 1, "AAPL price never changed"
    assert seen["ZETA"][0]["company"] == "Zeta Corp", "shortName not used: %r" % seen["ZETA"][0]
    assert seen["AAPL"][0]["company"] == "Apple Inc.", "shipped name lost"
    # what the server saw
    syms = {r[1] for r in st.requests}
    assert set(good + bad) <= syms, "not requested: %r" % (set(good + bad) - syms)
    paths = [r[2] for r in st.requests if r[1] == "GC=F"]
    assert paths[0] == "/v8/finance/chart/GC%3DF?interval=1m&range=1d", "path %r" % paths[0]
    assert all(r[3].startswith("Mozilla/5.0") for r in st.requests), "not a browser UA"
    conns = {r[4] for r in st.requests}
    assert len(conns) * 2 < len(st.requests), (
        "connections not reused: %d connections for %d requests" % (len(conns), len(st.requests)))
    log = p.logtext()
    assert "AddressSanitizer" not in log and "runtime error" not in log, "sanitizer report"
    want = {"NOMETA": "parse=shape", "NULLP": "parse=price", "NEGP": "parse=price",
            "ZEROP": "parse=price", "STRP": "parse=price", "CHERR": "parse=chart_error",
            "TRUNC": "parse=json", "SLOW": "status=timeout", "E500": "http=500"}
    for sym, word in want.items():
        lines = [l for l in log.splitlines()
                 if "yahoo request failed" in l and "symbol=%s " % sym in l]
        assert lines and word in lines[0], "%s: no failure line with %s: %r" % (sym, word, lines)


def test_yahoo_rate_limit(binary, tmp, kcat):
    """429 with Retry-After: the next request waits; the rps ceiling holds."""
    def behaviour(st, symbol, n):
        if len(st.requests) == 1:
            return 429, {"Retry-After": "2"}, {"finance": {"error": "Too Many Requests"}}, 0
        return 200, {}, chart(symbol, 50 + n), 0

    st = YahooState(behaviour)
    srv = YahooServer(st)
    topic = unique("it-prod-429")
    p = Producer(binary, {"PRICE_SOURCE": "yahoo", "TOPIC_PRICES": topic,
                          "TICKERS": "AAPL,MSFT,NVDA", "PRICE_INTERVAL_MS": "100",
                          "YAHOO_BASE_URL": srv.url, "YAHOO_MAX_RPS": "4",
                          "YAHOO_BACKOFF_BASE_MS": "100"}, tmp)
    try:
        time.sleep(6)
        _, metrics = p.get("/metrics")
        assert "producer_yahoo_rate_limited_total 1" in metrics, "429 not counted"
    finally:
        p.stop()
        srv.stop()
    req = st.requests
    assert len(req) >= 3, "too few requests: %d" % len(req)
    gap = req[1][0] - req[0][0]
    assert gap >= 1.9, "request after 429 came %.2f s later, want >= 2 (Retry-After)" % gap
    # ceiling: 4 rps, while 3 symbols every 100 ms would be 30 rps
    after = [r[0] for r in req[1:]]
    for i, t in enumerate(after):
        in_window = [u for u in after[i:] if u - t < 1.0]
        assert len(in_window) <= 5, "%d requests within 1 s (ceiling 4/s)" % len(in_window)
    rate = (len(after) - 1) / (after[-1] - after[0])
    assert rate <= 4.3, "request rate %.2f/s over the 4/s ceiling" % rate
    msgs = consume(topic)
    check_contract(msgs)
    assert len(msgs) >= 5, "only %d prices after the backoff" % len(msgs)
    assert "yahoo backoff" in p.logtext(), "no backoff log line"


def test_yahoo_backoff_per_symbol(binary, tmp, kcat):
    """One symbol answered 429 again and again (no Retry-After) backs off on
    its own, doubling, while the others' successes go on: they neither wait
    for it nor reset its count."""
    def behaviour(st, symbol, n):
        if symbol == "AAPL":
            return 429, {}, {"finance": {"error": "Too Many Requests"}}, 0
        return 200, {}, chart(symbol, 50 + n, extra={"chartPreviousClose": 49.5}), 0

    st = YahooState(behaviour)
    srv = YahooServer(st)
    topic = unique("it-prod-backoff")
    p = Producer(binary, {"PRICE_SOURCE": "yahoo", "TOPIC_PRICES": topic,
                          "TICKERS": "AAPL,MSFT,NVDA", "PRICE_INTERVAL_MS": "100",
                          "YAHOO_BASE_URL": srv.url, "YAHOO_MAX_RPS": "50",
                          "YAHOO_BACKOFF_BASE_MS": "100", "YAHOO_BACKOFF_MAX_MS": "60000"}, tmp)
    try:
        time.sleep(5)
    finally:
        p.stop()
        srv.stop()
    aapl = [r[0] for r in st.requests if r[1] == "AAPL"]
    others = [r[0] for r in st.requests if r[1] != "AAPL"]
    gaps = [b - a for a, b in zip(aapl, aapl[1:])]
    # 100, 200, 400, 800, 1600 ms (plus up to a 100 ms interval each): 5-6
    # requests in 5 s; a count reset by the others' successes gave ~35.
    assert 4 <= len(aapl) <= 7, "AAPL asked %d times in 5 s: %s" % (len(aapl), gaps)
    for i, (a, b) in enumerate(zip(gaps, gaps[1:])):
        assert b >= 1.6 * a, "backoff %d did not double: %.3f s then %.3f s" % (i, a, b)
    assert gaps[0] >= 0.09, "first backoff %.3f s, want >= 0.1" % gaps[0]
    assert len(others) >= 40, "the other symbols waited: %d requests" % len(others)
    lines = [l for l in p.logtext().splitlines() if "yahoo backoff" in l]
    assert lines and all("symbol=AAPL" in l for l in lines), lines[:3]
    assert "in_a_row=%d" % len(gaps) in lines[-1] or "in_a_row=%d" % len(aapl) in lines[-1], \
        lines[-1]
    # Yahoo's chartPreviousClose is the price messages' previous_close.
    msgs = [m for _, _, m in consume(topic) if m["ticker"] == "MSFT"]
    assert msgs and all(m.get("previous_close") == 49.5 for m in msgs), msgs[:2]


def test_sim_previous_close(binary, tmp, kcat):
    """The simulator's previous close: the start price on the first
    simulated day, then each day's last price (SIM_DAY_S); every tick says
    its asset's decimals (NG=F four, gold two) and is quoted with them."""
    topic = unique("it-prod-close")
    p = Producer(binary, {"PRICE_SOURCE": "sim", "TOPIC_PRICES": topic, "SIM_DAY_S": "2",
                          "PRICE_INTERVAL_MS": "100", "TICKERS": "NG=F,GC=F",
                          "SIM_VOL_SCALE": "20"}, tmp)
    try:
        time.sleep(6.5)
    finally:
        p.stop()
    raw = consume(topic)
    check_contract(raw)
    msgs = [m for _, _, m in raw]
    for t, dec in (("NG=F", 4), ("GC=F", 2)):
        ticks = [m for m in msgs if m["ticker"] == t]
        assert len(ticks) > 40, "%s: %d ticks" % (t, len(ticks))
        assert all(m.get("decimals") == dec for m in ticks), "%s decimals %r" % (t, ticks[0])
        assert all(round(m["price"], dec) == m["price"] for m in ticks), "%s not quoted" % t
        days = {}
        for m in ticks:
            days.setdefault(int(m["timestamp"] // 2), []).append(m)
        order = sorted(days)
        assert len(order) >= 3, "%s: %d simulated days" % (t, len(order))
        for d in order:
            closes = {m["previous_close"] for m in days[d]}
            assert len(closes) == 1, "%s day %d: previous closes %r" % (t, d, closes)
        for a, b in zip(order, order[1:]):
            if b == a + 1:
                assert days[b][0]["previous_close"] == days[a][-1]["price"], (
                    "%s: day %d's previous close %r, day %d ended at %r" % (
                        t, b, days[b][0]["previous_close"], a, days[a][-1]["price"]))


def test_auto_switch(binary, tmp, kcat):
    """auto: yahoo, then sim while the server is gone, then yahoo again."""
    st = YahooState(lambda st, s, n: (200, {}, chart(s, 1000 + n), 0))
    srv = YahooServer(st)
    port = srv.port
    topic = unique("it-prod-auto")
    p = Producer(binary, {"PRICE_SOURCE": "auto", "TOPIC_PRICES": topic,
                          "TICKERS": "AAPL,MSFT,ETH-USD", "PRICE_INTERVAL_MS": "250",
                          "YAHOO_BASE_URL": srv.url, "YAHOO_PROBE_INTERVAL_MS": "1000",
                          "YAHOO_FAILS_TO_SIM": "3", "YAHOO_CONNECT_TIMEOUT_MS": "300",
                          "YAHOO_TIMEOUT_MS": "600"}, tmp)
    try:
        time.sleep(2.5)
        down_at = time.time() * 1000
        srv.stop()
        time.sleep(3.5)
        _, body = p.get("/health")
        assert json.loads(body)["source"] == "sim", "not simulating while Yahoo is down: " + body
        srv = YahooServer(YahooState(lambda st, s, n: (200, {}, chart(s, 2000 + n), 0)), port)
        up_at = time.time() * 1000
        time.sleep(4)
        _, body = p.get("/health")
        assert json.loads(body)["source"] == "yahoo", "not back on Yahoo: " + body
    finally:
        p.stop()
        srv.stop()
    msgs = consume(topic)
    check_contract(msgs)
    before = [m for ts, _, m in msgs if ts < down_at]
    during = [m for ts, _, m in msgs if down_at + 1500 < ts < up_at]
    late = [m for ts, _, m in msgs if ts > up_at + 2500]
    assert before and all(m["source"] == "yahoo" for m in before), "phase 1 not all yahoo"
    assert during and all(m["source"] == "sim" for m in during), (
        "down phase: %r" % sorted({m["source"] for m in during}))
    assert {m["ticker"] for m in during} == {"AAPL", "MSFT", "ETH-USD"}, "sim misses assets"
    assert late and all(m["source"] == "yahoo" for m in late), "not back to yahoo at the end"
    assert all(m["price"] > 2000 for m in late), "late prices are not the new server's"
    # sim continues from the last real price rather than jumping to defaults
    sim_eth = [m["price"] for m in during if m["ticker"] == "ETH-USD"]
    assert all(900 < x < 1200 for x in sim_eth), "sim did not continue from Yahoo: %r" % sim_eth[:3]
    log = p.logtext()
    switches = [l for l in log.splitlines() if "price source switched" in l]
    assert len(switches) == 2 and "to=sim" in switches[0] and "to=yahoo" in switches[1], (
        "switch log lines: %r" % switches)


def test_sharding(binary, tmp, kcat):
    """PRODUCER_INSTANCE 0/2 and 1/2 publish disjoint halves covering the list."""
    topics = [unique("it-prod-shard0"), unique("it-prod-shard1")]
    procs = [Producer(binary, {"PRICE_SOURCE": "sim", "TOPIC_PRICES": topics[i],
                               "PRODUCER_INSTANCE": str(i), "PRODUCER_INSTANCES": "2",
                               "PRICE_INTERVAL_MS": "200"}, tmp) for i in range(2)]
    try:
        time.sleep(3)
    finally:
        for p in procs:
            p.stop()
    sets = []
    for t in topics:
        msgs = consume(t)
        check_contract(msgs)
        sets.append({k for _, k, _ in msgs})
    assert not (sets[0] & sets[1]), "both instances publish %r" % (sets[0] & sets[1])
    assert sets[0] | sets[1] == set(DEFAULTS), "union misses %r" % (set(DEFAULTS) - sets[0] - sets[1])
    assert abs(len(sets[0]) - len(sets[1])) <= 1, "unbalanced: %d/%d" % tuple(map(len, sets))


def test_assets_announced(binary, tmp, kcat):
    """Each instance announces its own share of the assets on the compacted
    asset topic (ticker, names, source, interval, validity): together, the
    configured list, and no asset twice (docs/asset-universe.md)."""
    topics = [unique("it-prod-ann0"), unique("it-prod-ann1")]
    procs = [Producer(binary, {"PRICE_SOURCE": "sim", "TOPIC_PRICES": topics[i],
                               "TOPIC_ASSETS": topics[0] + "-assets",
                               "PRODUCER_INSTANCE": str(i), "PRODUCER_INSTANCES": "2",
                               "PRICE_INTERVAL_MS": "250"}, tmp) for i in range(2)]
    try:
        time.sleep(3)
    finally:
        for p in procs:
            p.stop()
    recs = consume(topics[0] + "-assets")
    keys = [k for _, k, _ in recs]
    assert sorted(keys) == sorted(DEFAULTS), "announced %r" % keys
    now = time.time()
    for _, key, r in recs:
        assert r["ticker"] == key and r["source"] == "sim" and r["interval_ms"] == 250, r
        assert r["valid_ms"] >= 60000 and abs(r["published_at"] - now) < 30, r
    names = {r["ticker"]: r["display_name"] for _, _, r in recs}
    assert names["NG=F"] == "Natural Gas", names
    shards = [{m["ticker"] for _, _, m in consume(t)} for t in topics]
    owner = {k: i for i, s in enumerate(shards) for k in s}
    assert set(owner) == set(DEFAULTS), "ticks of %r" % owner
    server = os.environ["TEST_KAFKA_BOOTSTRAP"].split(",")[0]
    cfg = testkit.kafka_topic_configs(server, [topics[0] + "-assets"])[topics[0] + "-assets"]
    assert cfg["cleanup.policy"][0] == "compact", "asset topic not compacted: %r" % (
        cfg.get("cleanup.policy"),)


def test_replay(binary, tmp, kcat):
    """replay: rows in time order at the given speed; bad lines never published."""
    path = os.path.join(tmp, "prices.csv")
    with open(path, "w") as f:
        f.write("timestamp,ticker,price\n1700000000,AAPL,180.5\n1700000001,MSFT,-4\n"
                "1700000001,MSFT,420.25\nnot,a,row\n1700000002,GC=F,2400\n"
                "1700000003,AAPL,181\n1700000002,BTC-USD,nan\n")
    topic = unique("it-prod-replay")
    p = Producer(binary, {"PRICE_SOURCE": "replay", "TOPIC_PRICES": topic, "REPLAY_FILE": path,
                          "REPLAY_SPEED": "4", "REPLAY_LOOP": "false"}, tmp)
    try:
        time.sleep(2.5)
    finally:
        p.stop()
    msgs = consume(topic)
    check_contract(msgs)
    got = [(m["ticker"], m["price"], m["source"]) for _, _, m in msgs]
    assert (got == [("AAPL", 180.5, "replay"), ("MSFT", 420.25, "replay"),
                    ("GC=F", 2400, "replay"), ("AAPL", 181, "replay")]), "replayed %r" % got
    span = msgs[-1][0] - msgs[0][0]
    assert 600 <= span <= 1200, "3 s of data at speed 4 took %d ms" % span
    assert msgs[2][2]["display_name"] == "Gold", "names not from the table"


# ------------------------------------------------------------------ fixtures

@pytest.fixture
def binary(bins):
    return bins("producer")


@pytest.fixture
def kcat(kafka):
    """The test Kafka, read and written with kcat."""
    if shutil.which("kcat") is None:
        pytest.skip("kcat is not installed")
    return kafka


@pytest.fixture
def tmp(request, logdir):
    """The scenario's folder: its producers' logs, its files."""
    path = os.path.join(logdir, request.node.originalname)
    os.makedirs(path)
    yield path
    if os.environ.get("PRODUCER_IT_VERBOSE"):
        for f in sorted(os.listdir(path)):
            if f.endswith(".log"):
                with open(os.path.join(path, f)) as lf:
                    print("---- %s\n%s" % (f, lf.read()[-6000:]))

