"""Alert workloads for the chaos scenarios: users with signed cookies,
alerts created through the webapp API, price ramps that fire them, and the
exactly-once count of every alert at the users' SSE streams, the notifier's
log and the webhook receiver (the mails of the e-mail channel: scenarios.py).
"""
import secrets
import threading
import time

from harness import Client, mint_cookie, notifier_log_counts, wait_until


class User:
    def __init__(self, secret):
        self.id = secrets.token_hex(16)
        self.cookie = mint_cookie(self.id, secret)
        self.clients = []  # SseClient objects of this user
        self.email = None  # the user's address, once a scenario confirmed one


class Alert:
    __slots__ = ("id", "user", "ticker", "threshold", "type", "acked_at", "repeating",
                 "channels")

    def __init__(self, aid, user, ticker, threshold, typ, acked_at, repeating=False,
                 channels=("browser",)):
        self.id = aid
        self.user = user
        self.ticker = ticker
        self.threshold = threshold
        self.type = typ
        self.acked_at = acked_at
        self.repeating = repeating  # "repeat":"every": stays listed when it fires
        self.channels = tuple(channels)  # as set ("browser", the default, when not named)


def make_users(n, secret):
    return [User(secret) for _ in range(n)]


def alert_body(ticker, threshold, typ):
    """The set-alert body of a spec. above / below / crosses take the
    threshold; percent_up takes the percent that puts its level at the
    threshold from a reference price of 100 (the scenarios that use it tick
    100 first: REFERENCE_PRICE), so first_cross holds for every type."""
    if typ == "percent_up":
        return {"ticker": ticker, "type": typ,
                "percent": round((threshold - REFERENCE_PRICE) / REFERENCE_PRICE * 100, 6)}
    return {"ticker": ticker, "threshold": threshold, "type": typ}


REFERENCE_PRICE = 100.0


def create_alerts(ports, specs, threads=8):
    """specs: (user, ticker, threshold, type[, extra body fields]). Creates
    them through the API (spread over ports, keep-alive). Returns (alerts,
    failures) where failures is a list of (spec, status, body)."""
    alerts = []
    failures = []
    lock = threading.Lock()

    def work(part, port):
        c = Client(port)
        for (u, t, th, ty, *extra) in part:
            body = alert_body(t, th, ty)
            if extra:
                body.update(extra[0])
            # 503 = not stored, retry (a worker thread may still be
            # reconnecting to Redis after a fault), as a client would; 409
            # "No price known yet" (a crosses or percent alert on a webapp
            # that has not read the first tick yet) too.
            end = time.monotonic() + 15
            while True:
                r = c.request("POST", "/api/set-alert", body, cookie=u.cookie)
                if r.status not in (0, 409, 503) or time.monotonic() > end:
                    break
                time.sleep(0.2)
            j = r.json() if r.status == 200 else None
            with lock:
                if j and "alert_id" in j:
                    alerts.append(Alert(j["alert_id"], u, t, th, ty, time.time(),
                                        body.get("repeat") == "every",
                                        body.get("channels", ("browser",))))
                else:
                    failures.append(((u.id, t, th, ty), r.status, r.body[:200]))
        c.close()

    ts = [threading.Thread(target=work, args=(specs[i::threads], ports[i % len(ports)]))
          for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return alerts, failures


class Ramp:
    """Ticks every ticker each interval, the price going linearly from lo to
    hi over duration seconds, then holding at hi (still ticking) until
    stop(). Records every tick (time, price) to compute when an alert's
    threshold was first crossed."""

    def __init__(self, feeder, tickers, lo, hi, duration, interval=0.1):
        self.feeder = feeder
        self.tickers = list(tickers)
        self.lo, self.hi, self.duration, self.interval = lo, hi, duration, interval
        self.ticks = {t: [] for t in self.tickers}
        self.stop_flag = False
        self.errors = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.t0 = time.time()
        self.thread.start()
        return self

    def _run(self):
        nxt = time.monotonic()
        while not self.stop_flag:
            el = time.time() - self.t0
            p = self.lo + (self.hi - self.lo) * min(1.0, el / self.duration)
            p = round(p, 3)
            for t in self.tickers:
                try:
                    ts = self.feeder.tick(t, p)
                except OSError:
                    self.errors += 1
                    continue
                self.ticks[t].append((ts, p))
            nxt += self.interval
            d = nxt - time.monotonic()
            if d > 0:
                time.sleep(d)
            else:
                nxt = time.monotonic()

    def first_cross(self, a):
        for ts, p in self.ticks.get(a.ticker, ()):
            # crosses from below (the scenarios tick under every threshold
            # first) fires as above does; percent_up at its level or over
            if ((a.type in ("above", "crosses") and p > a.threshold)
                    or (a.type == "percent_up" and p >= a.threshold)
                    or (a.type == "below" and p < a.threshold)):
                return ts
        return None

    def stop(self):
        self.stop_flag = True
        self.thread.join(5)


def sse_counts(alerts):
    """For every alert: the minimum and maximum number of times one of its
    user's streams received it, and the first arrival time."""
    per_client = {}
    for a in alerts:
        for c in a.user.clients:
            if id(c) not in per_client:
                cnt = {}
                first = {}
                for (aid, _eid, t, _p) in list(c.events):
                    cnt[aid] = cnt.get(aid, 0) + 1
                    first.setdefault(aid, t)
                per_client[id(c)] = (cnt, first)
    out = {}
    for a in alerts:
        counts = [per_client[id(c)][0].get(a.id, 0) for c in a.user.clients]
        firsts = [per_client[id(c)][1][a.id] for c in a.user.clients
                  if a.id in per_client[id(c)][1]]
        out[a.id] = (min(counts) if counts else 0, max(counts) if counts else 0,
                     min(firsts) if firsts else None)
    return out


class Tally:
    """The exactly-once verdict for a set of alerts."""

    def __init__(self, alerts, stack, ramp=None):
        self.alerts = alerts
        self.stack = stack
        self.ramp = ramp
        self.ids = {a.id for a in alerts}

    def snapshot(self):
        s = sse_counts(self.alerts)
        log = notifier_log_counts(self.stack.logpath("notifier"), self.ids)
        hook = self.stack.webhook.count(self.ids)
        return s, log, hook

    def complete(self):
        s, log, hook = self.snapshot()
        return all(s[a][0] >= 1 and log.get(a, 0) >= 1 and hook.get(a, 0) >= 1 for a in self.ids)

    def wait(self, timeout, grace=3.0):
        """Waits until every alert was seen everywhere (or timeout), then
        grace seconds more for late duplicates. Returns the result dict."""
        done = wait_until(self.complete, timeout, 0.5)
        time.sleep(grace)
        return self.result(bool(done))

    def result(self, done=True):
        s, log, hook = self.snapshot()
        with self.stack.webhook.lock:
            flagged = sum(1 for a in self.ids for h in self.stack.webhook.hits.get(a, ())
                          if h[2])
        r = {
            "alerts": len(self.ids),
            "sse_missing": sum(1 for a in self.ids if s[a][0] == 0),
            "sse_dup": sum(1 for a in self.ids if s[a][1] > 1),
            "notifier_missing": sum(1 for a in self.ids if log.get(a, 0) == 0),
            "notifier_dup": sum(1 for a in self.ids if log.get(a, 0) > 1),
            "webhook_missing": sum(1 for a in self.ids if hook.get(a, 0) == 0),
            "webhook_dup": sum(1 for a in self.ids if hook.get(a, 0) > 1),
            "webhook_flagged_possible_dup": flagged,
            "complete_in_time": done,
        }
        if self.ramp is not None:
            lat = []
            for a in self.alerts:
                fc = self.ramp.first_cross(a)
                arr = s[a.id][2]
                if fc is not None and arr is not None:
                    lat.append(arr - fc)
            lat.sort()
            if lat:
                r["latency_max_s"] = round(lat[-1], 2)
                r["latency_p50_s"] = round(lat[len(lat) // 2], 2)
                r["latency_p99_s"] = round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 2)
        return r

    @staticmethod
    def exact(r):
        return all(r[k] == 0 for k in ("sse_missing", "sse_dup", "notifier_missing",
                                         "notifier_dup", "webhook_missing", "webhook_dup"))


def per_stream_counts(alerts, since=None):
    """Counts every (stream, alert of its user) pair: a stream must receive
    each alert of its user exactly once over all its reconnections. Streams
    are grouped by their label. since(client) -> bool may exclude a stream
    (e.g. opened after the alerts fired). Returns {label: {"streams",
    "pairs", "missing", "dup", "alerts_missing", "alerts_dup", "reconnects",
    "self_drops"}} where missing/dup count pairs and alerts_* count alerts
    that some stream of the label missed / received twice."""
    by_user = {}
    for a in alerts:
        by_user.setdefault(id(a.user), (a.user, []))[1].append(a)
    out = {}
    for user, mine in by_user.values():
        for c in user.clients:
            if since is not None and not since(c):
                continue
            r = out.setdefault(c.label, {"streams": 0, "pairs": 0, "missing": 0, "dup": 0,
                                         "alerts_missing": set(), "alerts_dup": set(),
                                         "reconnects": 0, "self_drops": 0})
            cnt = {}
            for (aid, _eid, _t, _p) in list(c.events):
                cnt[aid] = cnt.get(aid, 0) + 1
            r["streams"] += 1
            r["reconnects"] += max(0, c.opened - 1)
            r["self_drops"] += c.self_drops
            for a in mine:
                r["pairs"] += 1
                n = cnt.get(a.id, 0)
                if n == 0:
                    r["missing"] += 1
                    r["alerts_missing"].add(a.id)
                elif n > 1:
                    r["dup"] += 1
                    r["alerts_dup"].add(a.id)
    for r in out.values():
        r["alerts_missing"] = len(r["alerts_missing"])
        r["alerts_dup"] = len(r["alerts_dup"])
    return out
