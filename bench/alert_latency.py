#!/usr/bin/env python3
"""End-to-end alert latency: a tick published -> the user's SSE alert stream
receives the alert, through nginx, the consumer and a webapp replica.

One user (cookie from GET /) keeps /api/stream-alerts open. For each sample
it sets an `above` alert just below the current price of a ticker of its
own, publishes a tick at that price to the price topic (tools/tick-pipe,
one process kept open, linger 0) and waits for the alert on the stream:
latency = receipt - the moment the tick was written to tick-pipe.

    alert_latency.py --url http://127.0.0.1:8080 --kafka 127.0.0.1:9092 [--samples 300]

Prints p50/p99/max and a last line "RESULT key=value..." for scripts/bench.
Exit status: 0, or 1 when no sample arrived. Standard library only.
"""
import argparse
import http.client
import json
import random
import string
import subprocess
import sys
import threading
import time
import urllib.parse


def percentile(sorted_vals, q):
    if not sorted_vals:
        return 0.0
    i = min(len(sorted_vals) - 1, max(0, int(round(q * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[i]


class AlertStream(threading.Thread):
    """Reads the SSE alert stream; records the receipt time of each alert_id."""

    def __init__(self, host, port, cookie):
        super().__init__(daemon=True)
        self.conn = http.client.HTTPConnection(host, port, timeout=60)
        self.conn.request("GET", "/api/stream-alerts",
                          headers={"Cookie": cookie, "Accept": "text/event-stream"})
        self.resp = self.conn.getresponse()
        if self.resp.status != 200:
            raise RuntimeError(f"stream-alerts: HTTP {self.resp.status}")
        self.cond = threading.Condition()
        self.seen = {}

    def run(self):
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    return
                now = time.time()
                if line.startswith(b"data:"):
                    try:
                        msg = json.loads(line[5:])
                    except ValueError:
                        continue
                    with self.cond:
                        self.seen[msg.get("alert_id")] = now
                        self.cond.notify_all()
        except OSError:
            return

    def wait_for(self, alert_id, timeout):
        deadline = time.time() + timeout
        with self.cond:
            while alert_id not in self.seen:
                left = deadline - time.time()
                if left <= 0:
                    return None
                self.cond.wait(left)
            return self.seen.pop(alert_id)


class Api:
    def __init__(self, host, port):
        self.conn = http.client.HTTPConnection(host, port, timeout=10)
        self.cookie = ""

    def call(self, method, path, body=None):
        headers = {"Cookie": self.cookie} if self.cookie else {}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=headers)
        r = self.conn.getresponse()
        text = r.read()
        return r, text

    def login(self):
        r, _ = self.call("GET", "/")
        for k, v in r.getheaders():
            if k.lower() == "set-cookie" and v.startswith("user_id="):
                self.cookie = v.split(";", 1)[0]
        if not self.cookie:
            raise RuntimeError("GET / gave no user_id cookie")


class Ticks:
    """One tick-pipe producer kept open (kcat -P buffers its input); a line
    on its stdin is one tick."""

    def __init__(self, tick_pipe, kafka, topic):
        self.topic = topic
        self.proc = subprocess.Popen([tick_pipe, kafka, topic], stdin=subprocess.PIPE)

    def publish(self, ticker, price):
        tick = {"ticker": ticker, "price": price, "timestamp": time.time(),
                "company": "Latency bench", "display_name": ticker, "source": "sim"}
        line = f"{ticker}\t{json.dumps(tick, separators=(',', ':'))}\n".encode()
        t0 = time.time()
        self.proc.stdin.write(line)
        self.proc.stdin.flush()
        return t0

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def announce(kafka, topic, ticker):
    """Puts the bench's ticker in the webapps' universe as a producer
    announces its assets (docs/asset-universe.md), for an hour."""
    rec = {"ticker": ticker, "company": "Latency bench", "display_name": ticker,
           "source": "sim", "interval_ms": 1000, "valid_ms": 3600000, "published_at": time.time()}
    subprocess.run(["kcat", "-b", kafka, "-P", "-t", topic, "-K", "\t"],
                   input=f"{ticker}\t{json.dumps(rec)}\n".encode(), check=True, timeout=30)


def wait_known(api, ticker, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        _, text = api.call("GET", "/api/tickers")
        try:
            if any(t.get("ticker") == ticker for t in json.loads(text)["tickers"]):
                return True
        except (ValueError, KeyError, TypeError):
            pass
        time.sleep(0.2)
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--kafka", default="127.0.0.1:9092")
    ap.add_argument("--topic", default="stock-prices")
    ap.add_argument("--assets-topic", default="stock-assets")
    ap.add_argument("--tick-pipe", default="build/tools/tick-pipe",
                    help="the tick-pipe binary (tools/tick-pipe.c)")
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--pause-ms", type=int, default=60,
                    help="between samples: nginx allows 20 set-alert/s per user")
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--label", default="alert-e2e")
    a = ap.parse_args()
    u = urllib.parse.urlsplit(a.url)
    host, port = u.hostname, u.port or 80

    api = Api(host, port)
    api.login()
    ticker = "ZZL" + "".join(random.choice(string.ascii_uppercase) for _ in range(5))
    announce(a.kafka, a.assets_topic, ticker)
    ticks = Ticks(a.tick_pipe, a.kafka, a.topic)
    price = 100.0
    ticks.publish(ticker, price)
    if not wait_known(api, ticker):
        print(f"the webapp never saw ticker {ticker} on {a.topic}", file=sys.stderr)
        return 1
    stream = AlertStream(host, port, api.cookie)
    stream.start()
    time.sleep(0.5)

    lat, lost, errors = [], 0, 0
    for i in range(a.samples):
        price = round(100.0 + (i % 50) * 0.5, 2)
        r, text = api.call("POST", "/api/set-alert",
                           {"ticker": ticker, "threshold": price - 0.25, "type": "above"})
        if r.status != 200:
            errors += 1
            time.sleep(0.5)
            continue
        alert_id = json.loads(text)["alert_id"]
        t0 = ticks.publish(ticker, price)
        t1 = stream.wait_for(alert_id, a.timeout)
        if t1 is None:
            lost += 1
            api.call("DELETE", f"/api/delete-alert/{alert_id}")
        else:
            lat.append((t1 - t0) * 1000.0)
        time.sleep(a.pause_ms / 1000.0)
    ticks.close()

    lat.sort()
    p50, p99 = percentile(lat, 0.50), percentile(lat, 0.99)
    mx = lat[-1] if lat else 0.0
    print(f"== {a.label}: {len(lat)} alerts received of {a.samples} "
          f"({lost} timed out after {a.timeout:.0f} s, {errors} set-alert errors), ticker {ticker}")
    print(f"latency (tick published -> alert on the SSE stream via {a.url}): "
          f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {mx:.2f} ms")
    print(f"RESULT label={a.label} samples={a.samples} received={len(lat)} lost={lost} "
          f"errors={errors} p50_ms={p50:.2f} p99_ms={p99:.2f} max_ms={mx:.2f}")
    return 0 if lat else 1


if __name__ == "__main__":
    sys.exit(main())
