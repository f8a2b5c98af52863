"""docker-compose.yml for real: every image built from Debian 12 alone,
the whole stack started by `docker-compose up -d` (the conftest's `stack`,
with the test override: the host's network, 127.0.0.1, ports at
COMPOSE_TEST_PORT_OFFSET) and checked through its containerised nginx: the
dashboard in a browser, an alert that fires once on its user's stream and
once in the notifier container's log, both evaluators in their group, a
webapp restarted without losing a request, a cookie secret nobody chose
and nobody can guess, Locust, the ports a user gets, no bridge network ever,
and `docker-compose down -v` leaving nothing behind.
"""
import os
import re
import subprocess
import threading
import time
import uuid

import composekit
from composekit import ROOT, testkit

EVALUATORS = "alert-evaluators"  # common/contract.h, the consumers' group


def cookie_of(resp):
    for v in resp.all("Set-Cookie"):
        m = re.match(r"user_id=([^;]+)", v)
        if m:
            return m.group(1)
    return None


def new_user(stack):
    r = testkit.request("GET", stack.ports["nginx"], "/")
    assert r.status == 200, f"GET / through nginx: {r.status}"
    cookie = cookie_of(r)
    assert cookie, "GET / set no user_id cookie"
    return cookie, r.header("X-Served-By")


def prices(stack):
    r = testkit.request("GET", stack.ports["nginx"], "/api/tickers")
    assert r.status == 200, f"tickers: {r.status}"
    return {t["ticker"]: t["price"] for t in r.json()["tickers"] if t.get("price")}


def test_images_build_from_debian_alone(stack, check):
    """Every FROM of the Dockerfile is debian:12, debian:12-slim or one of its
    own stages; every service `up` starts is built from it; and the engine
    holds no image from anywhere else (nothing was pulled)."""
    text = open(os.path.join(ROOT, "Dockerfile")).read()
    stages = set()
    for base, name in re.findall(r"^FROM (\S+) AS (\S+)", text, re.M):
        check(base in ("debian:12", "debian:12-slim") or base in stages,
              f"stage {name} is FROM {base}")
        stages.add(name)
    check(not re.search(r"^FROM (?!\S+ AS )", text, re.M), "a FROM without a stage name")
    check(not re.search(r"COPY --from=(?!(" + "|".join(stages) + r")\b)", text),
          "COPY --from an image that is not a stage")
    cfg = composekit.base_config()
    for name in stack.services:
        svc = cfg["services"][name]
        check("build" in svc and svc["build"].get("target") in stages,
              f"{name} is not built from the Dockerfile: {svc.get('build')} {svc.get('image')}")
    repos = set(composekit.docker("images", "--format", "{{.Repository}}").split())
    foreign = {r for r in repos if r not in ("debian", "<none>")
               and not r.startswith("stock-alerts/")}
    check(not foreign, f"images not built here: {sorted(foreign)}")
    print(f"images: {sorted(repos)}; built in {stack.build_s:.0f}s, up in {stack.up_s:.0f}s")


def test_every_service_runs_healthy(stack, check):
    """The one-shot jobs ended 0; every other service runs, healthy where it
    has a health check; all of them on the host's network, no bridge."""
    cs = stack.compose.containers()
    by_service = {}
    for c in cs:
        by_service.setdefault(c["Service"], []).append(c)
    for name in stack.services:
        mine = by_service.get(name, [])
        check(mine, f"{name}: no container")
        for c in mine:
            if name.endswith("-init"):
                check(c["State"] == "exited" and c["ExitCode"] == 0, f"{c['Name']}: {c}")
            else:
                check(c["State"] == "running", f"{c['Name']}: {c['State']}")
                check(c["Health"] in (None, "healthy"), f"{c['Name']}: health {c['Health']}")
    check(len(by_service.get("consumer", [])) == 2, "two consumer replicas")
    for c in cs:
        mode = composekit.docker("inspect", "-f", "{{.HostConfig.NetworkMode}}", c["Name"]).strip()
        check(mode == "host", f"{c['Name']} network mode {mode}")
    check(composekit.networks() == stack.networks_before,
          f"networks now {composekit.networks()}, before {stack.networks_before}")
    # On the host's network the file's published ports bind nothing: the
    # user's ports (80, 9092, ...) are never taken by this run.
    for c in cs:
        bound = composekit.docker("inspect", "-f", "{{json .NetworkSettings.Ports}}",
                                  c["Name"]).strip()
        check(bound in ("{}", "null"), f"{c['Name']} binds {bound}")


def test_dashboard_in_a_browser(stack, check, tmp_path):
    """The dashboard test of tests/browser (Debian's chromium, headless)
    through the containerised nginx (and the containerised Kafka, where it
    announces and ticks test assets): the whole dashboard, issue 17's points."""
    rc, out = testkit.run_dashboard_test(stack.url(), tmp_path,
                                         f"127.0.0.1:{stack.ports['kafka-host']}")
    print(out)
    check(rc == 0, f"dashboard.test.mjs exit {rc}")


def test_alert_fires_once_on_the_stream_and_in_the_notifier_log(stack, check):
    """An alert set through nginx's API just below the live price (type
    above) fires: once on its user's alert stream, once in the notifier
    container's log, and it is gone from the user's alerts."""
    cookie, _ = new_user(stack)
    live = testkit.wait_until(lambda: prices(stack), 30)
    assert live, "no prices through nginx"
    ticker = "AAPL" if "AAPL" in live else sorted(live)[0]
    stream = testkit.SseClient(stack.ports["nginx"], "/api/stream-alerts", cookie=cookie)
    try:
        assert stream.status == 200, f"stream-alerts: {stream.status}"
        r = testkit.request("POST", stack.ports["nginx"], "/api/set-alert", cookie=cookie,
                            body={"ticker": ticker, "threshold": round(live[ticker] * 0.5, 2),
                                  "type": "above"})
        assert r.status == 200, f"set-alert: {r.status} {r.body[:200]!r}"
        alert_id = r.json()["alert_id"]
        events = stream.collect(lambda evs: any(e.get("alert_id") == alert_id for _, e in evs),
                                timeout=30, quiet=5)
    finally:
        stream.close()
    got = [e for _, e in events if e.get("alert_id") == alert_id]
    check(len(got) == 1, f"alert {alert_id} on the stream {len(got)} times")
    if got:
        check(got[0].get("ticker") == ticker and got[0].get("type") == "above", f"{got[0]}")
    times = testkit.wait_until(
        lambda: composekit.notified(stack.compose.logs("notifier")).get(alert_id), 30)
    time.sleep(3)
    times = composekit.notified(stack.compose.logs("notifier")).get(alert_id, 0)
    check(times == 1, f"alert {alert_id} in the notifier's log {times} times")
    r = testkit.request("GET", stack.ports["nginx"], "/api/get-alerts", cookie=cookie)
    check(r.status == 200 and all(a["alert_id"] != alert_id for a in r.json()["alerts"]),
          "the fired alert is still listed")


def test_both_evaluators_are_in_their_group(stack, check):
    """Both consumer replicas are members of the evaluators' group, as the
    broker sees it."""
    server = f"127.0.0.1:{stack.ports['kafka-host']}"
    state, members = None, []

    def two():
        nonlocal state, members
        state, members = testkit.kafka_group_members(server, EVALUATORS)
        return state == "Stable" and len(members) == 2
    check(testkit.wait_until(two, 60, step=1), f"group {EVALUATORS}: {state} {members}")


def test_webapp_restart_loses_no_request(stack, check):
    """`docker-compose restart webapp-2` while users call the API through
    nginx: not one request fails, and webapp-2 serves again after."""
    # Users stick to a replica by their cookie: 8 of them, 3 on webapp-2 at
    # least. Their writes (16 a second) stay under nginx's per-address rate
    # (20 a second): they all come from 127.0.0.1.
    on = {}
    for _ in range(16):
        cookie, _ = new_user(stack)
        r = testkit.request("GET", stack.ports["nginx"], "/api/get-alerts", cookie=cookie)
        on.setdefault(r.header("X-Served-By"), []).append(cookie)
        if len(on.get("webapp-2", [])) >= 3 and sum(map(len, on.values())) >= 8:
            break
    users = on.get("webapp-2", [])[:3]
    users += [c for name, cs in on.items() if name != "webapp-2" for c in cs][:8 - len(users)]
    print(f"users per replica: { {k: len(v) for k, v in on.items()} }")
    check(len(on.get("webapp-2", [])) >= 1, "no user on webapp-2")
    stop = threading.Event()
    calls, failures, served = [0], [], set()
    live = prices(stack)
    ticker = sorted(live)[0]

    def work(cookie):
        while not stop.is_set():
            calls[0] += 2
            try:
                r = testkit.request("GET", stack.ports["nginx"], "/api/get-alerts", cookie=cookie)
                if r.status != 200:
                    failures.append(f"get-alerts {r.status}")
                served.add(r.header("X-Served-By"))
                r = testkit.request("POST", stack.ports["nginx"], "/api/set-alert", cookie=cookie,
                                    body={"ticker": ticker, "threshold": 0.000001,
                                          "type": "below"},
                                    headers={"X-Request-Id": uuid.uuid4().hex})
                if r.status != 200:
                    failures.append(f"set-alert {r.status} {r.body[:100]!r}")
                else:
                    testkit.request("DELETE", stack.ports["nginx"],
                                    f"/api/delete-alert/{r.json()['alert_id']}", cookie=cookie)
            except OSError as ex:
                failures.append(repr(ex))
            time.sleep(1.0)

    threads = [threading.Thread(target=work, args=(u,), daemon=True) for u in users]
    for t in threads:
        t.start()
    time.sleep(3)
    rc, _ = stack.compose.run("restart", "webapp-2", timeout=120)
    check(rc == 0, "docker-compose restart webapp-2")
    back = testkit.wait_until(
        lambda: testkit.http_get(stack.ports["webapp-2"], "/health")[0] == 200, 60)
    check(back, "webapp-2 healthy again")
    served.clear()
    time.sleep(8)
    stop.set()
    for t in threads:
        t.join(15)
    print(f"{calls[0]} requests through nginx around the restart, {len(failures)} failed; "
          f"served after by {sorted(s for s in served if s)}")
    check(not failures, f"requests failed: {failures[:10]}")
    check("webapp-2" in served, f"webapp-2 serves again: {served}")


def test_cookie_secret_drawn_once_shared_and_never_a_placeholder(stack, check):
    """COOKIE_SECRET unset: secret-init drew one secret into the volume; a
    cookie issued by one replica is valid on every replica; a cookie signed
    with compose's former placeholder is not; the webapp refuses to start
    with that placeholder, or with a short or patterned secret."""
    out = stack.compose.run("logs", "--no-color", "secret-init", quiet=True)[1]
    check("drew a new secret" in out, f"secret-init: {out[-300:]}")
    cookie, _ = new_user(stack)
    for i in (1, 2, 3):
        r = testkit.request("GET", stack.ports[f"webapp-{i}"], "/api/get-alerts", cookie=cookie)
        check(r.status == 200, f"webapp-{i} refuses the cookie: {r.status}")
    placeholder = "change-me-to-64-random-hex-characters-shared-by-all-replicas"
    forged = testkit.mint_cookie(uuid.uuid4().hex, placeholder)
    r = testkit.request("GET", stack.ports["nginx"], "/api/get-alerts", cookie=forged)
    check(r.status == 400, f"a cookie signed with the placeholder: {r.status}")
    for secret, why in ((placeholder, "placeholder"), ("x" * 64, "different characters"),
                        ("0123456789abcdef" * 4, "repeated"), ("tooshort", "shorter")):
        # The service's image, as compose runs it (`docker-compose run` links
        # its dependencies, which the host's network does not allow).
        p = subprocess.run(["docker", "run", "--rm", "--network", "host",
                            "-e", f"COOKIE_SECRET={secret}", "-e", "LISTEN_HOST=127.0.0.1",
                            "stock-alerts/webapp"], capture_output=True, text=True, timeout=120)
        rc, out = p.returncode, p.stdout + p.stderr
        check(rc != 0 and why in out and secret not in out,
              f"webapp-1 with COOKIE_SECRET {why}: exit {rc}: {out[-300:]}")


def test_locust_runs_against_the_stack(stack, check):
    """The Locust image: its web UI answers (the service `up` started), and
    a short headless run of the project's users through nginx gets prices."""
    status, _ = testkit.http_get(stack.ports["locust"], "/")
    check(status == 200, f"Locust UI: {status}")
    p = subprocess.run(["docker", "run", "--rm", "--network", "host", "stock-alerts/locust",
                        "-f", "/mnt/locust/locustfile.py", "--headless", "-u", "3", "-r", "3",
                        "-t", "12s", "--host", stack.url(), "--only-summary"],
                       capture_output=True, text=True, timeout=180)
    rc, out = p.returncode, p.stdout + p.stderr
    print(out[-1500:])
    m = re.search(r"stream events received: prices=(\d+)", out)
    check(m and int(m.group(1)) > 0, "Locust's users received no price")
    check(rc == 0, f"locust exit {rc}")


def test_users_ports(stack, check):
    """As the original's README: dashboard :80, Kafdrop :9000 (profile ui),
    Locust :8089; Kafka 9092 and Redis 6379 on the host's loopback only."""
    cfg = composekit.base_config(composekit.USER_PORTS)["services"]

    def published(name):
        """(host address or None, published port, container port) of each."""
        out = []
        for p in cfg[name].get("ports", []):
            if isinstance(p, str):  # "127.0.0.1:9092:9094/tcp"
                parts = p.split("/")[0].split(":")
                ip = parts[0] if len(parts) == 3 else None
                out.append((ip, int(parts[-2]), int(parts[-1])))
            else:
                out.append((p.get("host_ip"), int(p["published"]), int(p["target"])))
        return out
    check(published("nginx") == [(None, 80, 80)], f"nginx {published('nginx')}")
    check(published("kafdrop") == [(None, 9000, 9000)], f"kafdrop {published('kafdrop')}")
    check(cfg["kafdrop"].get("profiles") == ["ui"], "kafdrop outside the ui profile")
    check(published("locust") == [(None, 8089, 8089)], f"locust {published('locust')}")
    check(published("redis") == [("127.0.0.1", 6379, 6379)], f"redis {published('redis')}")
    check(published("kafka") == [("127.0.0.1", 9092, 9094)], f"kafka {published('kafka')}")
    env = cfg["kafka"]["environment"]
    check("HOST://127.0.0.1:9092" in env["KAFKA_ADVERTISED_LISTENERS"] and
          "HOST://0.0.0.0:9094" in env["KAFKA_LISTENERS"],
          "Kafka's HOST listener advertises the published address")
    # The same listener in the test, reached from here: metadata names it.
    out = subprocess.run(["kcat", "-b", f"127.0.0.1:{stack.ports['kafka-host']}", "-L", "-t",
                          "alerts"], capture_output=True, text=True, timeout=30).stdout
    check(f"127.0.0.1:{stack.ports['kafka-host']}" in out, f"kcat -L: {out[:300]}")


def test_down_leaves_nothing(stack, check):
    """`docker-compose down -v`: no container, volume or network of the
    project is left, and the engine's networks are the ones it had before."""
    rc, _ = stack.compose.run("down", "-v", timeout=300)
    stack.down = rc == 0
    check(rc == 0, "docker-compose down -v")
    left = composekit.project_leftovers()
    check(not any(left.values()), f"left behind: {left}")
    check(composekit.networks() == stack.networks_before,
          f"networks {composekit.networks()}, before {stack.networks_before}")
