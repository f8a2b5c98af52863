"""Locust users for stock-alerts, as the original meant them and more.

Each user opens the dashboard (which issues the signed user_id cookie), keeps
a price stream and an alert stream open while counting their events, sets
alerts with thresholds near the live price, lists them and deletes some.

    locust -f locust/locustfile.py --host http://localhost:8080
"""
import json
import random
import threading

import gevent
from locust import HttpUser, between, events, task

STREAM_SECONDS = 15  # each stream is held this long, then reopened


class Counters:
    lock = threading.Lock()
    price_events = 0
    alert_events = 0

    @classmethod
    def add(cls, kind, n):
        with cls.lock:
            if kind == "price":
                cls.price_events += n
            else:
                cls.alert_events += n


@events.quitting.add_listener
def _report(environment, **_kwargs):
    print(f"stream events received: prices={Counters.price_events} alerts={Counters.alert_events}")


class DashboardUser(HttpUser):
    wait_time = between(1, 3)

    def on_start(self):
        self.prices = {}
        self.alert_ids = []
        self.client.get("/", name="/ (dashboard)")
        self.refresh_tickers()
        self.streams = [gevent.spawn(self.hold_stream, "/api/stream-prices", "price"),
                        gevent.spawn(self.hold_stream, "/api/stream-alerts", "alert")]

    def on_stop(self):
        for g in self.streams:
            g.kill(block=False)

    def refresh_tickers(self):
        with self.client.get("/api/tickers", name="/api/tickers", catch_response=True) as r:
            try:
                for t in r.json()["tickers"]:
                    if t.get("price"):
                        self.prices[t["ticker"]] = float(t["price"])
                r.success()
            except (ValueError, KeyError, TypeError) as exc:
                r.failure(f"bad /api/tickers body: {exc}")

    def hold_stream(self, path, kind):
        """Opens an SSE stream, counts `data:` events, reopens it periodically."""
        while True:
            try:
                with self.client.get(path, name=path, stream=True, timeout=STREAM_SECONDS + 20,
                                     catch_response=True) as r:
                    if r.status_code != 200:
                        r.failure(f"status {r.status_code}")
                        gevent.sleep(1)
                        continue
                    deadline = gevent.get_hub().loop.now() + STREAM_SECONDS
                    named = False  # in a named event (a heartbeat): not a price
                    for line in r.iter_lines(decode_unicode=True):
                        if not line:
                            named = False
                        elif line.startswith("event:"):
                            named = line[6:].strip() not in ("", "message")
                        elif line.startswith("data:") and not named:
                            Counters.add(kind, 1)
                            if kind == "price":
                                try:
                                    msg = json.loads(line[5:])
                                    self.prices[msg["ticker"]] = float(msg["price"])
                                except (ValueError, KeyError):
                                    r.failure("malformed price event")
                                    break
                        if gevent.get_hub().loop.now() > deadline:
                            break
                    r.success()
            except Exception:  # a reconnect is what a browser would do
                gevent.sleep(1)

    @task(3)
    def set_alert(self):
        if not self.prices:
            self.refresh_tickers()
            return
        ticker = random.choice(list(self.prices))
        price = self.prices[ticker]
        kind = random.choice(["above", "below"])
        # Near the live price, so some of them fire during the run.
        offset = price * random.uniform(0.0002, 0.003)
        threshold = round(price + offset if kind == "above" else price - offset, 4)
        with self.client.post("/api/set-alert", name="/api/set-alert", catch_response=True,
                              json={"ticker": ticker, "threshold": threshold, "type": kind}) as r:
            if r.status_code == 200 and "alert_id" in r.json():
                self.alert_ids.append(r.json()["alert_id"])
                r.success()
            elif r.status_code == 409:
                r.success()  # "Too many active alerts": the per-user cap is a correct answer
                self.alert_ids = self.alert_ids[-50:]
            else:
                r.failure(f"status {r.status_code}: {r.text[:200]}")

    @task(2)
    def get_alerts(self):
        with self.client.get("/api/get-alerts", name="/api/get-alerts", catch_response=True) as r:
            try:
                self.alert_ids = [a["alert_id"] for a in r.json()["alerts"]]
                r.success()
            except (ValueError, KeyError, TypeError) as exc:
                r.failure(f"bad body: {exc}")

    @task(1)
    def delete_alert(self):
        if not self.alert_ids:
            return
        alert_id = self.alert_ids.pop(random.randrange(len(self.alert_ids)))
        with self.client.delete(f"/api/delete-alert/{alert_id}", name="/api/delete-alert/[id]",
                                catch_response=True) as r:
            # 404: it fired (and was removed) in the meantime: correct.
            if r.status_code in (200, 404):
                r.success()
            else:
                r.failure(f"status {r.status_code}")
