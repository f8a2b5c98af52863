#!/usr/bin/env python3
"""The production topology of stack.services, as `./stack up --cluster` runs
it, at a port offset in a state folder of its own (reduced scale: topics of
3 partitions):

- three brokers in the metadata; every topic of the contract with 3 replicas,
  3 in sync, and min.insync.replicas=2 of its own;
- the Redis Cluster ok: every slot covered, 3 masters with one replica each,
  AOF on and the table's cluster-node-timeout on every node;
- every daemon instance healthy (the notifiers' Redis heartbeat routed to its
  key's node), the two producers sharing the assets;
- alerts through nginx: stored, listed, deleted; fired ones reach the user's
  open stream once each, with positions, and are in the history;
- the dashboard in Debian's chromium (tests/browser/dashboard.test.mjs);
- a broker killed (SIGKILL, the leader of a probe topic): a message is still
  written with acks=all (2 replicas in sync are enough) and read back; the
  broker started again rejoins every ISR;
- `./stack down` (no flag: the topology `up --cluster` remembered) leaves no
  process of the stack alive and no port of the topology listening.

CLUSTER_TEST_PORT_OFFSET (10000: Redis 17001-17006, their cluster bus 17101-17106, Kafka
19092-19097, webapps 18001-18003, nginx 18080: below the ephemeral ports and the
other suites' ranges) moves it. The topology is the `cluster` fixture of
conftest.py, started once for this module and test_cluster_failover.py. Run by
`./stack test cluster` (python3 tests/cluster: both modules), or alone:
python3 tests/cluster/test_cluster_topology.py (binaries from build/).
"""
import os
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
sys.path.insert(0, HERE)
import testkit  # noqa: E402

if __name__ == "__main__":  # before pytest is imported: testkit.pytest_main finds one
    sys.exit(testkit.pytest_main(__file__, sys.argv[1:]))

from clusterkit import (PARTITIONS, ROOT, alive, health, healthy_within, listening,  # noqa: E402
                        metadata, redis)


def test_brokers_and_replicated_topics(cluster, check):
    meta = metadata(cluster.bootstrap())
    check(sorted(b["id"] for b in meta["brokers"]) == [1, 2, 3],
          f"brokers in the metadata: {meta['brokers']}")
    contract = subprocess.run([os.path.join(ROOT, "build", "tools", "kafka-admin"), "topics"],
                              capture_output=True, text=True, check=True).stdout.split()
    check(len(contract) >= 2, f"contract topics: {contract}")
    topics = {t["topic"]: t for t in meta["topics"]}
    for name in contract + [t for t in topics if t == "__consumer_offsets"]:
        if not check(name in topics, f"topic {name} missing"):
            continue
        parts = topics[name]["partitions"]
        if name in contract:
            check(len(parts) == PARTITIONS, f"{name}: {len(parts)} partitions")
        for p in parts:
            check(len(p["replicas"]) == 3, f"{name}/{p['partition']}: replicas {p['replicas']}")
            check(len(p["isrs"]) == 3, f"{name}/{p['partition']}: ISR {p['isrs']}")
    configs = testkit.kafka_topic_configs(cluster.bootstrap().split(",")[0], contract)
    for name in contract:
        value, source = configs[name].get("min.insync.replicas", (None, None))
        check((value, source) == ("2", 1),
              f"{name}: min.insync.replicas {value} (source {source}), want its own 2")


def test_redis_cluster(cluster, check):
    ports = [cluster.ports[n][0] for n in cluster.named("redis-node")]
    check(len(ports) == 6, f"redis nodes: {ports}")
    info = dict(line.split(":", 1) for line in redis(ports[0], "cluster", "info").split()
                if ":" in line)
    check(info.get("cluster_state") == "ok", f"cluster_state {info.get('cluster_state')}")
    check(info.get("cluster_slots_ok") == "16384", f"slots ok: {info.get('cluster_slots_ok')}")
    check(info.get("cluster_known_nodes") == "6", f"known nodes {info.get('cluster_known_nodes')}")
    masters, replicas = {}, []
    for line in redis(ports[0], "cluster", "nodes").splitlines():
        f = line.split()
        if "master" in f[2]:
            masters[f[0]] = f[8:]  # its slot ranges
        else:
            replicas.append(f[3])  # the master it replicates
    check(len(masters) == 3 and all(masters.values()), f"masters with slots: {masters}")
    check(sorted(replicas) == sorted(masters), f"one replica per master: {replicas}")
    for port in ports:
        check(redis(port, "config", "get", "appendonly").split() == ["appendonly", "yes"],
              f"redis :{port}: AOF off")
        check(redis(port, "config", "get", "cluster-node-timeout").split()[-1] == "2000",
              f"redis :{port}: cluster-node-timeout")


def test_daemons_healthy(cluster, check):
    names = [n for n in cluster.ports
             if re.fullmatch(r"(producers|consumers|webapp)-\d+|nginx", n)]
    check(len(names) == 2 + 3 + 3 + 1, f"daemon instances: {names}")
    for name in sorted(names):
        status, body = healthy_within(cluster.ports[name][0])
        check(status == 200, f"{name}: /health {status} {body}")
    # The producers share the assets: each its part, together all of them.
    assets = subprocess.run([os.path.join(ROOT, "build", "producer", "producer"),
                             "--list-assets"], capture_output=True, text=True, check=True)
    want = len(assets.stdout.splitlines())
    got = [health(cluster.ports[n][0])[1].get("assets") for n in cluster.named("producers")]
    check(sum(a or 0 for a in got) == want and all(got), f"assets per producer {got}, "
                                                          f"want {want} in all")


def test_notifiers(cluster, check):
    names = cluster.named("notifiers")
    check(len(names) == 2, f"notifier instances: {names}")
    for name in names:
        status, body = healthy_within(cluster.ports[name][0])
        check(status == 200 and body.get("redis") is True,
              f"{name}: /health {status} {body}")


def test_alerts_end_to_end(cluster, check):
    """Through nginx on the cluster: an alert that cannot fire is stored,
    listed and deleted; one that fires at the next tick reaches the user's
    open stream once, with its position, leaves the list and is in the
    history (the claim on the ticker's node, the delivery on the user's)."""
    port = cluster.ports["nginx"][0]
    r = testkit.request("GET", port, "/")
    cookie = next((m.group(1) for v in r.all("Set-Cookie")
                   for m in [re.match(r"user_id=([^;]+)", v)] if m), None)
    if not check(cookie, "GET / set no cookie"):
        return
    r = testkit.request("POST", port, "/api/set-alert", cookie=cookie,
                        body={"ticker": "AAPL", "threshold": 1e9, "type": "above"})
    if not check(r.status == 200, f"set-alert {r.status} {r.body[:300]!r}"):
        return
    quiet = r.json()["alert_id"]
    listed = testkit.request("GET", port, "/api/get-alerts", cookie=cookie).json()["alerts"]
    check([a["alert_id"] for a in listed] == [quiet], f"listed: {listed}")
    r = testkit.request("DELETE", port, f"/api/delete-alert/{quiet}", cookie=cookie)
    check(r.status == 200, f"delete-alert {r.status} {r.body[:200]!r}")
    stream = testkit.SseClient(port, "/api/stream-alerts", cookie=cookie)
    try:
        check(stream.status == 200, f"stream-alerts {stream.status}")
        fired = []
        for ticker in ("AAPL", "BTC-USD"):
            r = testkit.request("POST", port, "/api/set-alert", cookie=cookie,
                                body={"ticker": ticker, "threshold": 0.000001, "type": "above"})
            if check(r.status == 200, f"set-alert {ticker}: {r.status} {r.body[:300]!r}"):
                fired.append(r.json()["alert_id"])
        got = stream.collect(lambda evs: set(fired) <= {e.get("alert_id") for _, e in evs},
                             timeout=30, quiet=2)
        ids = [e.get("alert_id") for _, e in got]
        check(sorted(ids) == sorted(fired), f"the stream got {ids}, expected {fired} once each")
        check(all(i and "-" in i for i, _ in got), f"positions: {[i for i, _ in got]}")
    finally:
        stream.close()
    listed = testkit.request("GET", port, "/api/get-alerts", cookie=cookie).json()["alerts"]
    check(listed == [], f"fired or deleted alerts still listed: {listed}")
    hist = testkit.request("GET", port, "/api/alert-history", cookie=cookie).json()
    check(sorted(h.get("alert_id") for h in hist["alerts"]) == sorted(fired),
          f"history: {hist}")

    def notified():
        text = "".join(open(os.path.join(cluster.state, "log", f), errors="replace").read()
                       for f in os.listdir(os.path.join(cluster.state, "log"))
                       if f.startswith("notifiers-"))
        return re.findall(r"notification sink=log alert_id=(\S+)", text)
    testkit.wait_until(lambda: set(fired) <= set(notified()), 20)
    got = [i for i in notified() if i in fired]
    check(sorted(got) == sorted(fired), f"the notifiers logged {got}, expected {fired} once each")


def test_dashboard_in_a_browser(cluster, check, tmp_path):
    """The dashboard test of tests/browser (Debian's chromium, headless)
    against the cluster's nginx: every asset's price moves, an alert set in
    the page fires (banner, gone from the list), Delete removes one."""
    rc, out = testkit.run_dashboard_test(f"http://127.0.0.1:{cluster.ports['nginx'][0]}", tmp_path,
                                         cluster.bootstrap())
    print(out)
    check(rc == 0, f"dashboard.test.mjs exit {rc}")


def test_broker_killed_then_rejoins(cluster, check):
    boot = cluster.bootstrap()
    topic = f"cluster-probe-{os.getpid()}"
    testkit.run_checked([os.path.join(ROOT, "build", "tools", "kafka-admin"), "create-topics",
                         "--bootstrap", boot, "--partitions", "1", "--replication-factor", "3",
                         "--min-insync-replicas", "2", topic])
    leader = testkit.wait_until(
        lambda: next((p["leader"] for t in metadata(boot)["topics"] if t["topic"] == topic
                      for p in t["partitions"] if len(p["isrs"]) == 3), None), 30)
    assert leader, f"{topic} has no leader with 3 in sync"
    victim = f"kafka-{leader}"
    rc, _ = cluster.stack("kill", victim)
    check(rc == 0, f"./stack kill {victim}")
    t0 = time.monotonic()
    p = subprocess.run(["kcat", "-b", boot, "-P", "-t", topic, "-X", "acks=all",
                        "-X", "enable.idempotence=true", "-X", "message.timeout.ms=60000"],
                       input=f"written-without-{victim}\n", capture_output=True, text=True,
                       timeout=90)
    check(p.returncode == 0 and "delivery failed" not in p.stderr.lower(),
          f"acks=all produce without {victim}: exit {p.returncode} {p.stderr[-300:]}")
    print(f"acks=all write without {victim} delivered in {time.monotonic() - t0:.1f}s")
    got = testkit.kafka_messages(boot, topic)
    check(got == [f"written-without-{victim}"], f"read back: {got}")
    isr = [p["isrs"] for t in metadata(boot)["topics"] if t["topic"] == topic
           for p in t["partitions"]]
    check(isr and leader not in isr[0] and len(isr[0]) == 2, f"ISR without {victim}: {isr}")

    t0 = time.monotonic()
    # A broker restarted on a loaded 2-core machine replays its logs and
    # catches up for over a minute: a longer wait than a daemon's.
    rc, _ = cluster.stack("start", victim)
    check(rc == 0, f"./stack start {victim}")

    def all_in_sync():
        meta = metadata(boot)
        short = [(t["topic"], p["partition"], p["isrs"]) for t in meta["topics"]
                 for p in t["partitions"] if len(p["isrs"]) != 3]
        return not short or None
    check(testkit.wait_until(all_in_sync, 90, step=1),
          f"{victim} did not rejoin every ISR within 90s of its start")
    print(f"{victim} back in every ISR {time.monotonic() - t0:.1f}s after `./stack start`")


def test_down_leaves_nothing(cluster, check):
    rc, out = cluster.stack("status")
    check(rc == 0 and "kafka-1" in out, "./stack status (the remembered topology)")
    rc, out = cluster.stack("down")
    check(rc == 0, "./stack down")
    check(not os.path.exists(os.path.join(cluster.base, "topology")),
          "the remembered topology was not forgotten")
    left = {n: p for n, p in cluster.pids.items() if alive(p)}
    check(not left, f"still running after down: {left}")
    ports = [p for ps in cluster.ports.values() for p in ps]
    check(not listening(ports), f"still listening after down: {listening(ports)}")
