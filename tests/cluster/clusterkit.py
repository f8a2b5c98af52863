"""What the cluster suite's modules share: the running topology (Cluster: ./stack
with its environment, the instances' ports and pids) and the probes of its
parts (Redis Cluster nodes and slots, Kafka metadata and ISRs, /health, the
notifiers' logs). The fixture that starts it is in conftest.py next to this
file; python3 standard library only.
"""
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
import testkit  # noqa: E402

OFFSET = os.environ.get("CLUSTER_TEST_PORT_OFFSET", "10000")
PARTITIONS = 3
# The daemons of the topology: a test that kills a Redis node or a broker
# checks that none of these was restarted (their pids unchanged).
DAEMONS = r"(producers|consumers|notifiers|webapp)-\d+|nginx"


class Cluster:
    """The running topology: ./stack with its environment, its instances' ports."""

    def __init__(self, base, extra_env=None):
        self.base = base
        self.state = os.path.join(base, "cluster")
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("STACK_TOPOLOGY", "STACK_TEST_MODE", "STACK_CLUSTER_STATE",
                                 "NOTIFIERS_REPLICAS", "WEBAPP_REPLICAS")}
        self.env.update(STACK_STATE=base, CLUSTER_PORT_OFFSET=OFFSET, STACK_SKIP_BUILD="1",
                        PRICE_SOURCE="sim", KAFKA_PARTITIONS=str(PARTITIONS))
        self.env.update(extra_env or {})
        self.ports = {}
        self.pids = {}

    def stack(self, *args, timeout=600, **extra):
        """(exit status, output) of ./stack ARGS, its output echoed."""
        t0 = time.monotonic()
        p = subprocess.run([os.path.join(ROOT, "stack"), *args], env=dict(self.env, **extra),
                           capture_output=True, text=True, timeout=timeout)
        out = p.stdout + p.stderr
        print(f"$ ./stack {' '.join(args)}  (exit {p.returncode}, "
              f"{time.monotonic() - t0:.0f}s)\n    | " + out.strip().replace("\n", "\n    | "))
        return p.returncode, out

    def read_ports(self):
        rc, out = self.stack("ports")
        assert rc == 0, out
        for line in out.splitlines():
            name, ports = line.split()[:2]
            self.ports[name] = [int(p) for p in ports.split(",")]

    def named(self, prefix):
        return sorted(n for n in self.ports if re.fullmatch(rf"{prefix}(-\d+)?", n))

    def bootstrap(self):
        return ",".join(f"127.0.0.1:{self.ports[b][0]}" for b in self.named("kafka-[123]"))

    def current_pids(self):
        """{instance: pid} of the pidfiles now."""
        pids = {}
        run = os.path.join(self.state, "run")
        for f in os.listdir(run):
            if f.endswith(".pid"):
                with open(os.path.join(run, f)) as pf:
                    text = pf.read().strip()
                if text.isdigit():
                    pids[f[:-4]] = int(text)
        return pids

    def record_pids(self):
        self.pids = self.current_pids()

    def daemons_restarted(self):
        """The daemons (DAEMONS) whose pid is not the one recorded at the
        start, or that no longer run: {name: (then, now)}."""
        now = self.current_pids()
        return {n: (p, now.get(n)) for n, p in self.pids.items()
                if re.fullmatch(DAEMONS, n) and (now.get(n) != p or not alive(p))}

    def notified(self):
        """{alert_id: times} of the notifiers' log deliveries."""
        counts = {}
        log = os.path.join(self.state, "log")
        for f in os.listdir(log):
            if f.startswith("notifiers-"):
                with open(os.path.join(log, f), errors="replace") as lf:
                    for a in re.findall(r"notification sink=log alert_id=(\S+)", lf.read()):
                        counts[a] = counts.get(a, 0) + 1
        return counts


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def listening(ports):
    """The ports of ports that a socket listens on (ss: a connect could meet
    its own ephemeral port)."""
    out = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True, check=True).stdout
    open_ports = {int(m) for m in re.findall(r"^\S+\s+\d+\s+\d+\s+\S+:(\d+)\s", out, re.M)}
    return sorted(set(ports) & open_ports)


def redis(port, *args):
    p = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args],
                       capture_output=True, text=True, timeout=10)
    return p.stdout.replace("\r", "")


def redis_cluster_info(port):
    return dict(line.split(":", 1) for line in redis(port, "cluster", "info").split()
                if ":" in line)


def redis_cluster_nodes(port):
    """CLUSTER NODES as node port asks it: a list of dicts with id, port,
    flags (a set), master (the id a replica follows, else None), slots (the
    ranges, as text), connected (its link)."""
    nodes = []
    for line in redis(port, "cluster", "nodes").splitlines():
        f = line.split()
        if len(f) < 8:
            continue
        nodes.append({"id": f[0], "port": int(f[1].split("@")[0].rsplit(":", 1)[1]),
                      "flags": set(f[2].split(",")),
                      "master": None if f[3] == "-" else f[3], "slots": f[8:],
                      "connected": f[7] == "connected"})
    return nodes


def slot_owner(nodes, slot):
    """The port of the master that nodes (redis_cluster_nodes) say owns slot."""
    for n in nodes:
        if "master" not in n["flags"] or "fail" in n["flags"]:
            continue
        for r in n["slots"]:
            if r.startswith("["):  # a slot being migrated
                continue
            lo, _, hi = r.partition("-")
            if int(lo) <= slot <= int(hi or lo):
                return n["port"]
    return None


def redis_cluster_full(ports):
    """None when every node of ports answers, says cluster_state ok, and
    sees 3 masters with slots, each followed by one connected replica and
    none flagged failing; else what is not so."""
    for port in ports:
        state = redis_cluster_info(port).get("cluster_state")
        if state != "ok":
            return f"redis :{port}: cluster_state {state}"
    nodes = redis_cluster_nodes(ports[0])
    bad = [n for n in nodes if n["flags"] & {"fail", "fail?", "handshake", "noaddr"}
           or not n["connected"]]
    if bad:
        return f"nodes not well: {[(n['port'], sorted(n['flags'])) for n in bad]}"
    masters = {n["id"]: n for n in nodes if "master" in n["flags"] and n["slots"]}
    followers = sorted(n["master"] for n in nodes if "slave" in n["flags"])
    if len(masters) != 3 or followers != sorted(masters):
        return (f"masters {sorted(m['port'] for m in masters.values())}, replicas following "
                f"{followers}")
    return None


def metadata(boot):
    p = subprocess.run(["kcat", "-b", boot, "-L", "-J"], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def isr_short(boot, want=3):
    """The partitions (topic, partition, ISR) whose ISR is not want brokers,
    as the metadata says now."""
    return [(t["topic"], p["partition"], p["isrs"]) for t in metadata(boot)["topics"]
            for p in t["partitions"] if len(p["isrs"]) != want]


def healthy_within(port, seconds=30):
    """(status, body) of /health once it answers 200, or its last answer after
    seconds: a check of a broker can time out once on a machine this loaded."""
    last = [None]

    def ok():
        last[0] = health(port)
        return last[0][0] == 200
    testkit.wait_until(ok, seconds, step=1)
    return last[0]


def health(port):
    status, body = testkit.http_get(port, "/health", timeout=3)
    try:
        return status, json.loads(body or b"{}")
    except ValueError:
        return status, {}
