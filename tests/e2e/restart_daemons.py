#!/usr/bin/env python3
"""End-to-end: `./stack restart producer|consumer|notifier` loses nothing:
Kafka keeps what a stopped daemon has not read yet.

- consumer: a tick that crosses an alert's threshold is published while the
  consumer is down; after the restart the alert fires and reaches the
  user's stream;
- notifier: an alert fires while the notifier is down; after the restart
  the notifier delivers it (its log names the alert);
- producer: every tick a stopped producer counted as published is in the
  topic (nothing left in its queue at exit), and ticks flow again;
- nginx: `restart nginx` is a reload: API calls under way all succeed, the
  old workers' streams are closed within worker_shutdown_timeout and
  reconnect.
"""
import datetime
import subprocess
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
TICKER = "E2E" + secrets.token_hex(4).upper()


def pid_of(name):
    try:
        return int(open(os.path.join(e.STATE, "run", f"{name}.pid")).read().strip())
    except (OSError, ValueError):
        return None


def alive(pid):
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def restart_and_act(check, name, act):
    """Runs `./stack restart name`; calls act() as soon as the old process
    is gone (before the new one runs). Returns whether act ran in that gap."""
    old = pid_of(name)
    check(old is not None and alive(old), f"{name} is not running before the restart")
    result = {}
    t = threading.Thread(target=lambda: result.update(out=e.stack("restart", name)))
    t.start()
    in_gap = False
    deadline = time.time() + 60
    while time.time() < deadline and alive(old):
        time.sleep(0.005)
    if not alive(old):
        new = pid_of(name)
        in_gap = new is None or new == old or not alive(new)
        act()
    t.join(120)
    rc, out = result.get("out", (-1, "no result"))
    print("    | " + out.strip().replace("\n", "\n    | "))
    check(rc == 0, f"./stack restart {name} exited {rc}")
    new = pid_of(name)
    check(new is not None and new != old and alive(new), f"{name} was not replaced")
    return in_gap


def tick(price):
    e.publish("stock-prices", TICKER, e.tick_json(TICKER, price))


def wait_known():
    """Both replicas list TICKER once it is in the universe (announced as a
    producer does) and has ticked."""
    assert e.make_known(TICKER), f"{TICKER} never reached the webapps"


def set_alert(cookie, threshold):
    r = e.request("POST", "/api/set-alert", cookie=cookie,
                  body={"ticker": TICKER, "threshold": threshold, "type": "above"})
    assert r.status == 200, f"set-alert: {r.status} {r.body!r}"
    return r.json()["alert_id"]


def delivered(stream, alert_id, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = stream.take(deadline - time.time())
        if got is None:
            return False
        obj = got[2]
        if isinstance(obj, dict) and obj.get("alert_id") == alert_id:
            return True
    return False


def test_consumer(check):
    """consumer restart: a tick published while it is down still fires"""
    cookie, _ = e.new_user()
    stream = e.Stream("/api/stream-alerts", cookie=cookie)
    check(stream.connected.wait(10), "alert stream did not open")
    # First an alert fires through the running consumer: it has joined the
    # group and claims this ticker's partition, and 1.5 s later its offsets
    # are committed (auto commit, 1 s). A consumer stopped before its
    # group's first commit leaves a brand-new group, whose next member
    # starts at the newest offset (auto.offset.reset=latest) and never sees
    # the tick of the gap: that is the first deploy, not a restart.
    warm = set_alert(cookie, 120.0)
    fired = False
    for _ in range(15):  # ticks before the group's first assignment are skipped
        tick(130.0)
        if delivered(stream, warm, 2):
            fired = True
            break
    check(fired, "the consumer never fired an alert before its restart")
    time.sleep(1.5)
    aid = set_alert(cookie, 150.0)
    in_gap = restart_and_act(check, "consumer", lambda: tick(200.0))
    print(f"    crossing tick published {'while the consumer was down' if in_gap else 'late'}")
    check(in_gap, "the tick was not published while the consumer was down")
    check(delivered(stream, aid, 30), "the alert never reached the user after the restart")
    stream.close()


def test_notifier(check):
    """notifier restart: an alert fired while it is down is delivered"""
    cookie, _ = e.new_user()
    aid = set_alert(cookie, 250.0)
    log = os.path.join(e.STATE, "log", "notifier.log")
    in_gap = restart_and_act(check, "notifier", lambda: tick(300.0))
    check(in_gap, "the alert did not fire while the notifier was down")
    deadline = time.time() + 30
    found = False
    while time.time() < deadline and not found:
        found = re.search(rf"alert delivered alert_id={aid}\b", open(log).read()) is not None
        time.sleep(0.3)
    check(found, f"the notifier never delivered alert {aid} after its restart")
    # Fired while it was down: the new instance delivered it.
    text = open(log).read()
    last_start = text.rfind(" starting: ")
    check(text.find(f"alert_id={aid}", last_start) > last_start,
          "the alert was delivered before the restart, not by the new notifier")


def log_time(line):
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z", line)
    return datetime.datetime.fromisoformat(m.group(1)).replace(
        tzinfo=datetime.timezone.utc).timestamp() if m else None


def test_producer(check):
    """producer restart: nothing left unpublished, ticks flow again"""
    log = os.path.join(e.STATE, "log", "producer.log")
    restart_and_act(check, "producer", lambda: None)
    text = open(log).read()
    published = [int(n) for n in re.findall(r"producer stopping published=(\d+)", text)]
    starts = [log_time(ln) for ln in text.splitlines() if " producer starting " in ln]
    check(published and starts, "no 'producer stopping' line in the producer's log")
    if not (published and starts):
        return
    tail = text[text.rfind("producer stopping"):]
    check("kafka undelivered at shutdown" not in tail.split("starting:")[0],
          "the stopped producer left messages undelivered")
    # Every tick published by the stopped instances (all before the newest
    # start) is in the topic.
    new_start = starts[-1]
    out = subprocess.run(["kcat", "-C", "-q", "-e", "-b", e.KAFKA, "-t", "stock-prices",
                            "-o", "beginning", "-f", "%T\t%s\n"], capture_output=True,
                           check=True, timeout=120).stdout.decode()
    count = 0
    for line in out.splitlines():
        ts, _, value = line.partition("\t")
        if int(ts) / 1000 < new_start and '"source":"sim"' in value:
            count += 1
    print(f"    stopped producers published {sum(published)} ticks; {count} sim ticks "
          f"in the topic before the new one started")
    check(count >= sum(published), f"ticks lost: {sum(published) - count}")
    # And the new one publishes.
    s = e.Stream("/api/stream-prices")
    s.connected.wait(10)
    seen = set()
    deadline = time.time() + 10
    new_start_wall = time.time()
    while time.time() < deadline and len(seen) < 5:
        got = s.take(deadline - time.time())
        if got and isinstance(got[2], dict) and got[2].get("source") == "sim" \
                and got[2].get("timestamp", 0) >= new_start_wall - 1:
            seen.add(got[2]["ticker"])
    s.close()
    check(len(seen) >= 5, f"after the restart only {len(seen)} assets tick")


def test_nginx(check):
    """nginx restart is a reload: no failed call, streams come back"""
    cookie, _ = e.new_user()
    stream = e.Stream("/api/stream-prices", cookie=cookie)
    check(stream.connected.wait(10), "price stream did not open")
    stop = threading.Event()
    calls, failures = [0], []

    def load():
        while not stop.is_set():
            calls[0] += 1
            try:
                r = e.request("GET", "/api/get-alerts", cookie=cookie)
                if r.status != 200:
                    failures.append(r.status)
            except Exception as ex:  # transport errors count
                failures.append(repr(ex))
            time.sleep(0.01)

    workers = [threading.Thread(target=load) for _ in range(3)]
    for w in workers:
        w.start()
    time.sleep(1)
    rc, out = e.stack("restart", "nginx")
    print("    | " + out.strip().replace("\n", "\n    | "))
    check(rc == 0, f"./stack restart nginx exited {rc}")
    # The old workers close what they still hold after worker_shutdown_timeout.
    deadline = time.time() + 30
    while time.time() < deadline and not (stream.ends >= 1 and stream.live):
        time.sleep(0.2)
    stop.set()
    for w in workers:
        w.join(30)
    print(f"    {calls[0]} API calls during the reload, {len(failures)} failed; stream ended "
          f"{stream.ends}x, live again: {stream.live}")
    check(not failures, f"API calls failed during the reload: {failures[:5]}")
    check(stream.ends >= 1 and stream.live and not stream.failures,
          f"the stream did not come back (ends {stream.ends}, failures {stream.failures[:3]})")
    stream.close()


def test_sigterm_with_kafka_down(check):
    """Kafka down: SIGTERM still ends every daemon cleanly (exit 0, its
    'stopped' line) within the stack's 15 s grace; then all come back. A
    group member's close waits for the coordinator up to session.timeout.ms
    (10 s) for its last commit: the consumer and notifier take about that."""
    daemons = ["producer", "consumer", "notifier", "webapp-0"]
    rc, out = e.stack("stop", "kafka")
    check(rc == 0, f"./stack stop kafka exited {rc}: {out[-300:]}")
    time.sleep(2)  # the daemons notice: their connections fail
    try:
        for name in daemons:
            log = os.path.join(e.STATE, "log", f"{name}.log")
            pid = pid_of(name)
            t0 = time.time()
            rc, out = e.stack("stop", name)
            took = time.time() - t0
            tail = open(log, errors="replace").read()[-4000:] if os.path.exists(log) else ""
            print(f"    {name}: stopped in {took:.1f}s with Kafka down")
            check(rc == 0 and pid is not None and not alive(pid), f"{name} did not stop: {out}")
            check(took < 14, f"{name} took {took:.1f}s to stop with Kafka down (SIGKILL at 15)")
            check("SIGKILL" not in out, f"{name} needed SIGKILL: {out}")
            check(re.search(r" (stopped|stopping)", tail) is not None,
                  f"{name}: no stop line at the end of its log")
    finally:
        rc, out = e.stack("start", "kafka", *daemons)
        print("    | " + out.strip().replace("\n", "\n    | "))
    check(rc == 0, f"./stack start after the outage exited {rc}")
    wait_known()


@pytest.fixture(scope="module", autouse=True)
def known_ticker(e2e_stack):
    """TICKER is known to both replicas before the tests set alerts on it."""
    wait_known()

