"""What the compose suite's tests share: docker-compose.yml run as its own
project (Compose: docker-compose with the test override, its ports), the
override itself (test_override: every service of the file on the host's
network, on 127.0.0.1 at COMPOSE_TEST_PORT_OFFSET, reaching the others by the
file's own names), and the probes (the notifier's log, a consumer group's
members). The fixture that builds and starts it is in conftest.py next to
this file; python3 standard library plus PyYAML (docker-compose's own).
"""
import json
import os
import re
import resource
import subprocess
import sys
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
import testkit  # noqa: E402,F401 (test_compose.py takes it from here)

# A project of its own: the suite never touches a user's compose stack.
PROJECT = os.environ.get("COMPOSE_TEST_PROJECT", "stock-alerts-composetest")
OFFSET = int(os.environ.get("COMPOSE_TEST_PORT_OFFSET", "6000"))
BASE = os.path.join(ROOT, "docker-compose.yml")
HARD_NOFILE = resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def dev_ports():
    """{instance: [ports]} of stack.services' dev topology (./stack ports),
    the ports the test's are offset from."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("STACK_", "TEST_", "CLUSTER_", "CHAOS_"))
           and k not in ("REDIS_PORT", "KAFKA_PORT", "KAFKA_CONTROLLER_PORT", "WEBAPP_REPLICAS")}
    env["STACK_STATE"] = "/nonexistent/compose-test"
    out = subprocess.run([os.path.join(ROOT, "stack"), "ports"], env=env, capture_output=True,
                         text=True, check=True).stdout
    return {line.split()[0]: [int(p) for p in line.split()[1].split(",")]
            for line in out.splitlines() if len(line.split()) >= 2}


def test_ports():
    """The suite's ports: stack.services' dev ports + OFFSET (nginx 14080,
    webapp-N 14000+N, Kafka 15092/15093 and its HOST listener 15094, Redis
    12379, producer and notifier metrics 15101/15103, Locust 14089)."""
    dev = dev_ports()
    webapp0 = dev["webapp-0"][0]
    p = {"nginx": dev["nginx"][0] + OFFSET, "kafka": dev["kafka"][0] + OFFSET,
         "kafka-controller": dev["kafka"][1] + OFFSET, "kafka-host": dev["kafka"][1] + 1 + OFFSET,
         "redis": dev["redis"][0] + OFFSET, "producer": dev["producer"][0] + OFFSET,
         "notifier": dev["notifier"][0] + OFFSET, "locust": 8089 + OFFSET}
    for i in (1, 2, 3):
        p[f"webapp-{i}"] = webapp0 + i - 1 + OFFSET
    return p


USER_PORTS = os.path.join(ROOT, "docker-compose.override.yml")


def base_config(*overlays):
    """docker-compose.yml (with overlays laid over it) as `docker-compose
    config` resolves it (a dict)."""
    files = [a for f in (BASE, *overlays) for a in ("-f", f)]
    out = subprocess.run(["docker-compose", *files, "config"], capture_output=True, text=True,
                         check=True).stdout
    return yaml.safe_load(out)


def _health(*cmd):
    return {"test": ["CMD", *cmd], "interval": "2s", "timeout": "5s", "retries": 60}


def test_override(ports):
    """The override: every service of docker-compose.yml on the host's
    network (its default network is the host's too, so none is ever
    created) with the compose names mapped to 127.0.0.1, listening on
    127.0.0.1 at ports, built on the host's network. The rest (images,
    commands, dependencies, volumes, the secret) is the file's own; its
    published ports (docker-compose.override.yml) are not read. Returns
    (override dict, the services `up` runs: those of no profile)."""
    base = base_config()
    every = sorted(base["services"])
    names = [n for n in every if not base["services"][n].get("profiles")]
    hosts = [f"{n}:127.0.0.1" for n in every]
    kafka = f"kafka:{ports['kafka']}"
    h = f"http://127.0.0.1:{{}}/health"
    services = {}
    for name in every:
        svc = base["services"][name]
        o = services[name] = {"network_mode": "host", "extra_hosts": hosts}
        if "build" in svc:
            o["build"] = {"context": svc["build"]["context"], "network": "host"}
        nofile = (svc.get("ulimits") or {}).get("nofile")
        if isinstance(nofile, dict) and nofile.get("hard", 0) > HARD_NOFILE:
            # A container cannot get more open files than dockerd has; a
            # machine whose root may not raise it (no CAP_SYS_RESOURCE) runs
            # the services with what it has (the webapp caps its connections).
            o["ulimits"] = {"nofile": {"soft": HARD_NOFILE, "hard": HARD_NOFILE}}
        env = svc.get("environment") or {}
        if "KAFKA_BOOTSTRAP_SERVERS" in env:
            o["environment"] = {"LISTEN_HOST": "127.0.0.1", "KAFKA_BOOTSTRAP_SERVERS": kafka,
                                "REDIS_PORT": str(ports["redis"]), "LOG_LEVEL": "info"}
        if name in ("producer", "notifier"):
            o["environment"]["METRICS_PORT"] = str(ports[name])
            o["healthcheck"] = _health("curl", "-fsS", h.format(ports[name]))
        if name == "producer":
            o["environment"]["PRICE_SOURCE"] = "sim"  # no route to Yahoo here
        if name == "consumer":
            # Two replicas of one service share one environment: on one
            # network they cannot share a metrics port, so it is off and
            # group membership is checked at the broker instead.
            o["environment"]["METRICS_PORT"] = "0"
            o["healthcheck"] = {"disable": True}
        if name.startswith("webapp-"):
            o["environment"]["WEBAPP_PORT"] = str(ports[name])
            o["healthcheck"] = _health("curl", "-fsS", h.format(ports[name]))
        if name == "kafka":
            o["environment"] = {
                "KAFKA_LISTENERS": f"PLAINTEXT://127.0.0.1:{ports['kafka']},"
                                   f"CONTROLLER://127.0.0.1:{ports['kafka-controller']},"
                                   f"HOST://127.0.0.1:{ports['kafka-host']}",
                "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://{kafka},"
                                              f"HOST://127.0.0.1:{ports['kafka-host']}",
                "KAFKA_CONTROLLER_QUORUM_VOTERS": f"1@kafka:{ports['kafka-controller']}",
                "KAFKA_NUM_PARTITIONS": "6"}
            o["healthcheck"] = _health("kafka-admin", "wait", "--bootstrap",
                                       f"127.0.0.1:{ports['kafka']}", "--timeout-ms", "3000")
        if name == "kafka-init":
            o["command"] = [kafka if a == "kafka:9092" else a for a in svc["command"]]
        if name == "redis":
            o["command"] = list(svc["command"]) + ["--bind", "127.0.0.1",
                                                   "--port", str(ports["redis"])]
            o["healthcheck"] = _health("redis-cli", "-p", str(ports["redis"]), "ping")
        if name == "nginx":
            ups = " ".join(f"{u.split(':')[0]}:{ports[u.split(':')[0]]}"
                           for u in env["NGINX_UPSTREAMS"].split())
            o["environment"] = {"NGINX_LISTEN": f"127.0.0.1:{ports['nginx']}",
                                "NGINX_UPSTREAMS": ups}
            o["healthcheck"] = _health("curl", "-fsS", "-o", "/dev/null",
                                       h.format(ports["nginx"]))
        if name == "locust":
            o["command"] = ["-f", "/mnt/locust/locustfile.py",
                            "--host", f"http://nginx:{ports['nginx']}",
                            "--web-host", "127.0.0.1", "--web-port", str(ports["locust"])]
    return {"version": base.get("version", "3.9"), "services": services,
            "networks": {"default": {"external": True, "name": "host"}}}, names


class Compose:
    """docker-compose on docker-compose.yml and the override, as PROJECT."""

    def __init__(self, override_path):
        self.files = ["-f", BASE, "-f", override_path]
        self.env = {k: v for k, v in os.environ.items() if k != "COOKIE_SECRET"}
        self.env.update(COMPOSE_PROJECT_NAME=PROJECT)

    def run(self, *args, timeout=600, check=False, quiet=False):
        """(exit status, output) of docker-compose ARGS; the output echoed
        unless quiet."""
        t0 = time.monotonic()
        p = subprocess.run(["docker-compose", "-p", PROJECT, *self.files, *args], env=self.env,
                           capture_output=True, text=True, timeout=timeout)
        out = p.stdout + p.stderr
        if not quiet:
            print(f"$ docker-compose {' '.join(args)}  (exit {p.returncode}, "
                  f"{time.monotonic() - t0:.0f}s)\n    | " +
                  out.strip()[-4000:].replace("\n", "\n    | "))
        if check and p.returncode != 0:
            raise RuntimeError(f"docker-compose {' '.join(args)}: exit {p.returncode}")
        return p.returncode, out

    def logs(self, service):
        return self.run("logs", "--no-color", service, quiet=True)[1]

    def containers(self):
        """[{Name, State, Health, Service, ExitCode}] of the project's containers,
        one-off ones included, from docker itself."""
        out = docker("ps", "-a", "--filter", f"label=com.docker.compose.project={PROJECT}",
                     "--format", "{{.ID}}")
        ids = out.split()
        if not ids:
            return []
        got = []
        for c in json.loads(docker("inspect", *ids)):
            st = c["State"]
            got.append({"Name": c["Name"].lstrip("/"), "State": st["Status"],
                        "Health": (st.get("Health") or {}).get("Status"),
                        "ExitCode": st["ExitCode"],
                        "Service": c["Config"]["Labels"].get("com.docker.compose.service")})
        return got


def docker(*args, timeout=120):
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout,
                          check=True).stdout


def networks():
    """The engine's networks, by name."""
    return sorted(docker("network", "ls", "--format", "{{.Name}}").split())


def project_leftovers():
    """What docker still holds of PROJECT: containers, volumes, networks."""
    label = f"label=com.docker.compose.project={PROJECT}"
    return {"containers": docker("ps", "-aq", "--filter", label).split(),
            "volumes": docker("volume", "ls", "-q", "--filter", label).split(),
            "networks": docker("network", "ls", "-q", "--filter", label).split()}


def notified(log_text):
    """{alert_id: times} of the notifier's log deliveries."""
    counts = {}
    for a in re.findall(r"notification sink=log alert_id=(\S+)", log_text):
        counts[a] = counts.get(a, 0) + 1
    return counts


