#!/usr/bin/env python3
"""Static validation of the deployment files (no Docker engine runs here):

- nginx.conf renders (scripts/render-nginx) and passes `nginx -t`, for the
  native upstreams and for docker-compose's;
- docker-compose.yml passes `docker-compose config -q`;
- every environment variable compose sets on a daemon is one that daemon
  reads (its `--help` table);
- every upstream nginx names in compose is a compose service, on the port
  that service's webapp listens on;
- the Dockerfile's build stage installs every -dev package the CMake build
  needs (those of scripts/packages.txt);
- the rendered nginx.conf keeps the edge's invariants (unbuffered streams
  with a read timeout above the heartbeat, upstream keep-alive shorter than
  the webapp's idle timeout, POST retried on connection errors only, the
  security headers on every answer) and honours the NGINX_* knobs;
- compose has the services the issue lists (ports, replicas, health
  conditions), distinct replica names, and only NGINX_* knobs render-nginx
  reads; every image has a HEALTHCHECK and runs as a non-root user.

usage: test_deploy_config.py REPO_ROOT BUILD_DIR
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT, BUILD = sys.argv[1], sys.argv[2]
DAEMONS = ["producer", "consumer", "notifier", "webapp"]


def compose_config():
    """The normalised YAML that `docker-compose config` prints (anchors resolved)."""
    return subprocess.run(["docker-compose", "-f", os.path.join(ROOT, "docker-compose.yml"),
                           "config"], capture_output=True, text=True, check=True).stdout


def parse_compose_services(text):
    """Service -> {"env": dict, "target": build target}, from `docker-compose config`."""
    services = {}
    for name, block in service_blocks(text).items():
        svc = services[name] = {"env": {}, "target": None}
        section = None
        for line in block.splitlines():
            m = re.match(r"^    (\S[^:]*):", line)
            if m:
                section = m.group(1)
                continue
            if section == "environment":
                m = re.match(r"^      (\w+):\s*(.*)$", line)
                if m:
                    svc["env"][m.group(1)] = m.group(2).strip().strip("'\"")
            elif section == "build":
                m = re.match(r"^      target:\s*(\S+)", line)
                if m:
                    svc["target"] = m.group(1)
    return services


def service_blocks(text):
    """`docker-compose config` output split into service name -> its YAML text."""
    blocks, cur, in_services = {}, None, False
    for line in text.splitlines():
        if line.startswith("services:"):
            in_services = True
            continue
        if in_services and re.match(r"^\S", line):
            in_services = False
        if not in_services:
            continue
        m = re.match(r"^  (\S[^:]*):\s*$", line)
        if m:
            cur = m.group(1)
            blocks[cur] = ""
        elif cur:
            blocks[cur] += line + "\n"
    return blocks


def read(path):
    with open(path) as f:
        return f.read()


def daemon_vars(name):
    binary = os.path.join(BUILD, name, name)
    if not os.access(binary, os.X_OK):
        return None
    out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10).stdout
    return set(re.findall(r"^\s+([A-Z][A-Z0-9_]+)\s", out, re.M))


class DeployConfig(unittest.TestCase):
    def render(self, upstreams, listen, **extra):
        tmp = tempfile.mkdtemp()
        out = os.path.join(tmp, "nginx.conf")
        env = dict(os.environ, NGINX_UPSTREAMS=upstreams, NGINX_LISTEN=listen,
                   NGINX_RUNTIME_DIR=tmp, NGINX_ERROR_LOG=os.path.join(tmp, "error.log"))
        env.update(extra)
        subprocess.run(["sh", os.path.join(ROOT, "scripts/render-nginx"),
                        os.path.join(ROOT, "nginx.conf"), out], env=env, check=True)
        return out, tmp

    def test_nginx_config_renders_and_passes_nginx_t(self):
        for upstreams, listen in (("127.0.0.1:8001 127.0.0.1:8002", "127.0.0.1:18080"),
                                  ("webapp-1:8000 webapp-2:8000 webapp-3:8000", "18081")):
            conf, tmp = self.render(upstreams, listen)
            if "webapp-1" in upstreams:
                # compose's service names do not resolve here: check syntax with
                # the same servers mapped to loopback.
                text = read(conf).replace("webapp-1", "127.0.0.1").replace(
                    "webapp-2", "127.0.0.2").replace("webapp-3", "127.0.0.3")
                with open(conf, "w") as f:
                    f.write(text)
            r = subprocess.run(["nginx", "-t", "-c", conf], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            text = read(conf)
            self.assertIn("hash $sticky_key consistent", text)
            self.assertIn("proxy_buffering off", text)
            shutil.rmtree(tmp)

    def test_render_refuses_bad_values(self):
        env = dict(os.environ, NGINX_UPSTREAMS="127.0.0.1:1", NGINX_API_RATE="ten")
        r = subprocess.run(["sh", os.path.join(ROOT, "scripts/render-nginx"),
                            os.path.join(ROOT, "nginx.conf"), "/tmp/never-written.conf"],
                           env=env, capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("NGINX_API_RATE", r.stderr)
        self.assertFalse(os.path.exists("/tmp/never-written.conf"))

    def test_compose_is_valid(self):
        r = subprocess.run(["docker-compose", "-f", os.path.join(ROOT, "docker-compose.yml"),
                            "config", "-q"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_compose_env_vars_are_read_by_the_daemons(self):
        services = parse_compose_services(compose_config())
        checked = 0
        for name, svc in services.items():
            if svc["target"] not in DAEMONS:
                continue
            known = daemon_vars(svc["target"])
            if known is None:
                continue  # daemon not built in this tree
            unknown = set(svc["env"]) - known
            self.assertEqual(unknown, set(), f"{name} sets variables its daemon does not read")
            checked += 1
        self.assertGreater(checked, 0, "no daemon could be checked")

    def test_nginx_upstreams_exist_in_compose(self):
        services = parse_compose_services(compose_config())
        ups = services["nginx"]["env"]["NGINX_UPSTREAMS"].split()
        self.assertGreaterEqual(len(ups), 3)
        for u in ups:
            host, port = u.rsplit(":", 1)
            self.assertIn(host, services, f"nginx upstream {host} is not a compose service")
            self.assertEqual(services[host]["target"], "webapp")
            self.assertEqual(services[host]["env"].get("WEBAPP_PORT"), port)

    def test_dockerfile_build_stage_has_the_dev_packages(self):
        pkgs = [p.strip() for p in read(os.path.join(ROOT, "scripts/packages.txt")).splitlines()
                if p.strip() and not p.startswith("#")]
        needed = {p for p in pkgs if p.endswith("-dev") and not p.startswith("libclang")}
        needed |= {"cmake", "pkg-config", "build-essential"}
        text = read(os.path.join(ROOT, "Dockerfile"))
        build = text.split("FROM debian:12-slim")[0]
        missing = {p for p in needed if not re.search(r"\b" + re.escape(p) + r"\b", build)}
        self.assertEqual(missing, set(), "Dockerfile build stage lacks packages")


    def rendered(self, **env):
        conf, tmp = self.render("127.0.0.1:8001 127.0.0.1:8002", "127.0.0.1:18082", **env)
        text = read(conf)
        shutil.rmtree(tmp)
        return text

    def test_nginx_knobs_are_rendered(self):
        text = self.rendered(NGINX_API_RATE="7", NGINX_API_BURST="9",
                             NGINX_STREAMS_PER_USER="3")
        self.assertRegex(text, r"zone=api_writes:\S+ rate=7r/s;")
        self.assertIn("burst=9 nodelay", text)
        self.assertIn("limit_conn user_streams 3;", text)

    def test_nginx_edge_invariants(self):
        text = self.rendered()
        locs = dict(re.findall(r"location ([^{]+?) \{(.*?)\n        \}", text, re.S))
        stream = locs["~ ^/api/stream-"]
        self.assertIn("proxy_buffering off;", stream)
        self.assertIn("gzip off;", stream)
        self.assertIn("limit_conn user_streams", stream)
        m = re.search(r"proxy_read_timeout (\d+)([smh]);", stream)
        secs = int(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)]
        self.assertGreater(secs, 15, "stream read timeout not above the 15 s heartbeat")
        writes = locs["~ ^/api/(set-alert|delete-alert/)"]
        self.assertIn("limit_req zone=api_writes", writes)
        # POST is retried on a connection error only, never after a timeout.
        self.assertRegex(writes, r"proxy_next_upstream error non_idempotent;")
        self.assertEqual(text.count("non_idempotent"), 1)
        # nginx drops idle upstream connections before the webapp does.
        keep = int(re.search(r"keepalive_timeout (\d+)s;\n    \}", text).group(1))
        out = subprocess.run([os.path.join(BUILD, "webapp", "webapp"), "--help"],
                             capture_output=True, text=True).stdout \
            if os.access(os.path.join(BUILD, "webapp", "webapp"), os.X_OK) else ""
        m = re.search(r"WEBAPP_CONN_TIMEOUT_S\s+(\d+)", out)
        self.assertLess(keep, int(m.group(1)) if m else 60)
        for h in ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy"):
            self.assertRegex(text, rf"add_header {h} .* always;")
            self.assertIn(f"proxy_hide_header {h};", text)
        for t in ("text/javascript", "application/json", "text/css"):
            self.assertRegex(text, rf"gzip_types [^;]*{re.escape(t)}")
        self.assertRegex(text, r"listen \S+ reuseport;")
        conns = int(re.search(r"worker_connections (\d+);", text).group(1))
        workers = int(re.search(r"worker_processes (\d+);", text).group(1))
        self.assertGreaterEqual(conns * workers, 2 * 10000, "not sized for 10,000 streams")

    def test_compose_nginx_knobs_are_read_by_render_nginx(self):
        services = parse_compose_services(compose_config())
        known = set(re.findall(r"\bNGINX_[A-Z_]+", read(os.path.join(ROOT,
                                                                      "scripts/render-nginx"))))
        used = set(services["nginx"]["env"])
        self.assertEqual(used - known, set(), "nginx sets knobs render-nginx does not read")

    def test_compose_has_the_services_of_the_issue(self):
        text = compose_config()
        blocks = service_blocks(text)
        services = parse_compose_services(text)
        for name in ("kafka", "redis", "producer", "consumer", "notifier", "webapp-1",
                     "webapp-2", "webapp-3", "nginx", "kafdrop", "locust"):
            self.assertIn(name, blocks)
        self.assertIn("image: apache/kafka", blocks["kafka"])
        self.assertIn("image: redis:7", blocks["redis"])
        self.assertIn("appendonly", blocks["redis"])
        self.assertRegex(blocks["redis"], r"redis-data:/data")
        self.assertRegex(blocks["consumer"], r"replicas: 2")
        self.assertRegex(blocks["nginx"], r"published: 80\n\s+target: 80")
        self.assertRegex(blocks["kafdrop"], r"published: 9000")
        self.assertIn("image: obsidiandynamics/kafdrop", blocks["kafdrop"])
        self.assertEqual(services["kafdrop"]["env"].get("KAFKA_BROKERCONNECT"), "kafka:9092")
        self.assertRegex(blocks["locust"], r"published: 8089")
        self.assertIn("locust/locustfile.py", blocks["locust"])
        names = [services[f"webapp-{i}"]["env"].get("WEBAPP_INSTANCE") for i in (1, 2, 3)]
        self.assertEqual(len(set(names)), 3, f"replica names {names}")
        for name in ("producer", "consumer", "notifier", "webapp-1", "nginx"):
            self.assertIn("condition: service_healthy", blocks[name], name)
        # A replica gets the time its drain needs before SIGKILL.
        self.assertRegex(blocks["webapp-1"], r"stop_grace_period: 15s")

    def test_dockerfile_images_are_healthchecked_and_unprivileged(self):
        text = read(os.path.join(ROOT, "Dockerfile"))
        stages = re.split(r"^FROM ", text, flags=re.M)[1:]
        by_name = {re.match(r"\S+ AS (\S+)", st).group(1): st for st in stages}
        self.assertIn("build", by_name)
        self.assertRegex(by_name["runtime"], r"\nUSER (?!root)\w+")
        for d in DAEMONS:
            self.assertIn(d, by_name, f"no Dockerfile target {d}")
            self.assertIn("HEALTHCHECK", by_name[d], f"target {d} has no HEALTHCHECK")
            self.assertRegex(by_name[d], r"^runtime", f"target {d} is not on the slim runtime")
            self.assertNotIn("-dev", by_name[d])


if __name__ == "__main__":
    if shutil.which("docker-compose") is None or shutil.which("nginx") is None:
        print("docker-compose or nginx missing: run ./stack install")
        sys.exit(1)
    unittest.main(argv=sys.argv[:1], verbosity=2)
