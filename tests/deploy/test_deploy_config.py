#!/usr/bin/env python3
"""Static validation of the deployment files (no Docker engine needed;
./stack compose-test runs them for real):

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
  with a read timeout of at least twice the heartbeat, short API timeouts,
  passive health with a fallback to every replica, POST retried on errors
  and timeouts (X-Request-Id makes it idempotent), upstream keep-alive
  shorter than the webapp's idle timeout, per-address limits that skip
  returning visitors, /metrics not proxied, the security headers on every
  answer) and honours the NGINX_* knobs;
- the rendered nginx.conf, run in front of a throw-away upstream, forwards
  an 8 KB Cookie header whole and answers a 12 KB one 431 itself;
- compose has the services the deployment needs (ports, replicas, health
  conditions), distinct replica names, and only NGINX_* knobs render-nginx
  reads; every image has a HEALTHCHECK and runs as a non-root user;
- docker-compose.yml and the Dockerfile match stack.services, the table
  ./stack runs the native stack from: every daemon of the `dev` topology has
  a Dockerfile target (its binary, health check and port) and compose
  services of that target (as many replicas at least, on that port), and
  nothing else is built; Redis, Kafka and nginx are there on the table's
  ports with the table's kind of health check, each built from the
  Dockerfile target of its kind; every image is built from debian:12 or
  debian:12-slim, but Kafdrop's, which stays in the `ui` profile; the
  webapps have no default cookie secret;
- docker-compose.cluster.yml over docker-compose.yml is the table's `cluster`
  topology (./stack up --cluster): its brokers in one quorum with topics of
  three replicas and min.insync.replicas=2, its Redis nodes in cluster mode
  joined once, its daemons as many as the table runs, each told of every
  broker and node.

usage: test_deploy_config.py REPO_ROOT BUILD_DIR
"""
import http.client
import http.server
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

ROOT, BUILD = sys.argv[1], sys.argv[2]
DAEMONS = ["producer", "consumer", "notifier", "webapp"]
# The Dockerfile's targets besides the daemons': the servers (by their kind in
# stack.services), the one-shot jobs' tools, Locust, and build stages.
SERVER_TARGETS = {"redis": "redis", "kafka": "kafka", "nginx": "nginx"}
OTHER_TARGETS = {"build", "runtime", "tools", "kafka-jars", "locust"}


CLUSTER_COMPOSE = "docker-compose.cluster.yml"


USER_PORTS = "docker-compose.override.yml"  # read with docker-compose.yml unless -f


def compose_config(*overlays):
    """The normalised YAML that `docker-compose config` prints (anchors resolved),
    of docker-compose.yml and its override of published ports (what a user's
    plain `docker-compose up` reads) with the given files laid over it."""
    files = ["-f", os.path.join(ROOT, "docker-compose.yml"), "-f", os.path.join(ROOT, USER_PORTS)]
    for f in overlays:
        files += ["-f", os.path.join(ROOT, f)]
    return subprocess.run(["docker-compose", *files, "config"], capture_output=True, text=True,
                          check=True).stdout


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


def seconds(block, directive):
    """The value in seconds of the first `directive Ns|m|h;` in block."""
    m = re.search(rf"{directive} (\d+)([smh]);", block)
    assert m, f"no {directive} in {block[:200]!r}"
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def get(port, path, headers):
    """(status, lower-case header names, body) of one GET on a fresh connection."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path, headers=headers)
        r = c.getresponse()
        return r.status, [k.lower() for k, _ in r.getheaders()], r.read()
    finally:
        c.close()


def read(path):
    with open(path) as f:
        return f.read()


def services_table():
    """stack.services (the format is at its top): service name -> {"run",
    "ports" (ints), "cport" (a container's port), "replicas" (None or N, the
    count of every topology without an exception of its own), "replicas_in"
    ({topology: N}, those exceptions), "health",
    "topologies", "env" ({topology: {VAR: VALUE}})}, in file order."""
    table, env_lines = {}, []
    for line in read(os.path.join(ROOT, "stack.services")).splitlines():
        f = line.split("#", 1)[0].split()
        if not f:
            continue
        if f[0] == "service":
            name, run, ports, replicas, health, topologies = f[1:7]
            first, _, cport = ports.split(",")[0].partition("/")
            nums = [int(first)] + [int(p) for p in ports.split(",")[1:]]
            table[name] = {"run": run, "ports": nums, "cport": int(cport or first),
                           "replicas": (None if replicas.split(",")[0] == "-"
                                        else int(replicas.split(",")[0])),
                           "replicas_in": {t: int(n) for t, _, n in
                                           (r.partition(":") for r in replicas.split(",")[1:])},
                           "health": health, "topologies": [t.split(":")[0] for t in
                                                             topologies.split(",")],
                           "env": {}}
        elif f[0] == "env":
            env_lines.append(f[1:])
    for who, topo, *entries in env_lines:
        for name, svc in table.items():
            whom = who.split(",")
            if name in whom or ("daemons" in whom and svc["run"].startswith("build/")):
                for e in entries:
                    var, _, value = e.partition("=")
                    svc["env"].setdefault(topo, {})[var.rstrip("?")] = value
    return table


def port_var(svc):
    """The variable that carries a daemon's port ({port} in its env lines)."""
    for topo in ("all", "dev"):
        for var, value in svc["env"].get(topo, {}).items():
            if value == "{port}":
                return var
    return None


def compose_replicas(block):
    m = re.search(r"^    deploy:\n(?:^      .*\n)*?^      replicas: (\d+)", block, re.M)
    return int(m.group(1)) if m else 1


def compose_healthcheck(block):
    """The words of a compose service's healthcheck test, joined by spaces."""
    m = re.search(r"^    healthcheck:\n((?:^      .*\n)*)", block, re.M)
    return re.sub(r"\s*\n\s*-?\s*", " ", m.group(1)) if m else ""


def command_words(block):
    """The words of a compose service's command (a YAML list), as one string."""
    m = re.search(r"^    command:\n((?:^    -.*\n|^      .*\n)*)", block, re.M)
    if not m:
        return ""
    return " ".join(w.strip().strip("'\"") for w in re.findall(r"^    - (.*)$", m.group(1), re.M))


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
        tmp = tempfile.mkdtemp()
        out = os.path.join(tmp, "never-written.conf")
        for var, value in (("NGINX_API_RATE", "ten"), ("NGINX_API_RATE", "0"),
                           ("NGINX_COOKIES_PER_MIN", "-1"), ("NGINX_ADDR_API_RATE", "1.5"),
                           ("NGINX_STREAMS_PER_ADDR", "70000"), ("NGINX_STREAM_TIMEOUT", "0"),
                           ("NGINX_FAIL_TIMEOUT", "5s"), ("NGINX_COOKIE_BURST", "99999999999")):
            env = dict(os.environ, NGINX_UPSTREAMS="127.0.0.1:1", NGINX_RUNTIME_DIR=tmp,
                       **{var: value})
            r = subprocess.run(["sh", os.path.join(ROOT, "scripts/render-nginx"),
                                os.path.join(ROOT, "nginx.conf"), out],
                               env=env, capture_output=True, text=True)
            self.assertNotEqual(r.returncode, 0, f"{var}={value!r} accepted")
            self.assertIn(var, r.stderr)
            self.assertFalse(os.path.exists(out))
        shutil.rmtree(tmp)

    def test_compose_is_valid(self):
        for overlays in ([], [USER_PORTS], [USER_PORTS, CLUSTER_COMPOSE]):
            files = [a for f in ["docker-compose.yml", *overlays]
                     for a in ("-f", os.path.join(ROOT, f))]
            r = subprocess.run(["docker-compose", *files, "config", "-q"], capture_output=True,
                               text=True)
            self.assertEqual(r.returncode, 0, f"{overlays}: {r.stderr}")

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
                             NGINX_STREAMS_PER_USER="3", NGINX_COOKIES_PER_MIN="11",
                             NGINX_COOKIE_BURST="12", NGINX_ADDR_API_RATE="13",
                             NGINX_ADDR_API_BURST="14", NGINX_STREAMS_PER_ADDR="15",
                             NGINX_STREAM_TIMEOUT="41", NGINX_FAIL_TIMEOUT="6")
        self.assertRegex(text, r"zone=api_writes:\S+ rate=7r/s;")
        self.assertIn("limit_req zone=api_writes burst=9 nodelay", text)
        self.assertIn("limit_conn user_streams 3;", text)
        self.assertRegex(text, r"zone=cookie_mints:\S+ rate=11r/m;")
        self.assertEqual(text.count("limit_req zone=cookie_mints burst=12 nodelay;"), 2)
        self.assertRegex(text, r"zone=addr_writes:\S+ rate=13r/s;")
        self.assertIn("limit_req zone=addr_writes burst=14 nodelay;", text)
        self.assertIn("limit_conn addr_streams 15;", text)
        self.assertEqual(text.count("proxy_read_timeout 41s;"), 2)  # streams and their fallback
        self.assertEqual(len(re.findall(r"server \S+ max_fails=1 fail_timeout=6s;", text)), 2)

    def test_nginx_edge_invariants(self):
        text = self.rendered()
        locs = dict(re.findall(r"location ([^{]+?) \{(.*?)\n        \}", text, re.S))
        server = re.search(r"\n    server \{(.*)\n    \}", text, re.S).group(1)
        server_level = re.sub(r"location [^{]+\{.*?\n        \}", "", server, flags=re.S)
        stream = locs["~ ^/api/stream-"]
        self.assertIn("proxy_buffering off;", stream)
        self.assertIn("gzip off;", stream)
        self.assertIn("limit_conn user_streams", stream)
        self.assertIn("limit_conn addr_streams", stream)
        # A silent stream is dropped after twice the heartbeat: never an idle
        # one (a heartbeat comes every SSE_HEARTBEAT_MS), and a stream request
        # a hung replica took is moved on within that.
        heartbeat_ms = int(self.webapp_default("SSE_HEARTBEAT_MS") or 15000)
        self.assertGreaterEqual(seconds(stream, "proxy_read_timeout"), 2 * heartbeat_ms / 1000,
                                "stream read timeout under twice the heartbeat")
        self.assertLessEqual(seconds(stream, "proxy_read_timeout"), 4 * heartbeat_ms / 1000,
                             "a stream to a hung replica would wait too long")
        # Everything else is the API or a page: milliseconds of work, so a
        # replica silent for 2 s is hung and the request moves on (an API
        # call must fail over within 3 s).
        self.assertLessEqual(seconds(server_level, "proxy_read_timeout"), 2)
        self.assertLessEqual(seconds(server_level, "proxy_connect_timeout"), 1)
        self.assertRegex(server_level, r"proxy_next_upstream error timeout http_502 http_503;")
        writes = locs["~ ^/api/(set-alert|delete-alert/)"]
        self.assertIn("limit_req zone=api_writes", writes)
        self.assertIn("limit_req zone=addr_writes", writes)
        # POST is retried after errors and timeouts: X-Request-Id, the same
        # on every retry, makes the webapp store one alert per request.
        self.assertRegex(writes, r"proxy_next_upstream error timeout non_idempotent;")
        self.assertRegex(server_level, r"proxy_set_header X-Request-Id \$request_id;")
        self.assertEqual(text.count("non_idempotent"), 2)  # the writes and their fallback
        self.assertIn("proxy_next_upstream error timeout non_idempotent;",
                      locs["@all_replicas_write"])
        # Passive health, shared by the workers, honoured by the hash; and
        # when it leaves every replica out, a fallback that tries them all.
        ups = dict(re.findall(r"upstream (\w+) \{(.*?)\n    \}", text, re.S))
        healthy = re.findall(r"server (\S+) max_fails=(\d+) fail_timeout=(\d+)s;", ups["webapp"])
        self.assertEqual([h[0] for h in healthy], ["127.0.0.1:8001", "127.0.0.1:8002"])
        self.assertTrue(all(int(f) >= 1 for _, f, _ in healthy), healthy)
        self.assertIn("zone webapp", ups["webapp"])
        self.assertRegex(ups["webapp"], r"hash \$sticky_key consistent;")
        self.assertEqual(re.findall(r"server (\S+) max_fails=0;", ups["webapp_all"]),
                         [h[0] for h in healthy])
        self.assertRegex(server_level, r"error_page 502 = @all_replicas;")
        self.assertIn("error_page 502 = @all_replicas_stream;", stream)
        self.assertIn("error_page 502 = @all_replicas_write;", writes)
        for name in ("@all_replicas", "@all_replicas_stream", "@all_replicas_write"):
            self.assertIn("proxy_pass http://webapp_all;", locs[name])
        self.assertIn("proxy_buffering off;", locs["@all_replicas_stream"])
        self.assertEqual(seconds(locs["@all_replicas_stream"], "proxy_read_timeout"),
                         seconds(stream, "proxy_read_timeout"))
        # A location's own error_page replaces the server's: nginx's 413 and
        # 429 keep their JSON shape wherever a limit applies.
        for body in (stream, writes):
            self.assertIn("error_page 413 @too_large;", body)
            self.assertIn("error_page 429 @too_many;", body)
        # Per client address: cookie mints (a visit that carries a cookie of
        # the right shape has an empty key: not counted), writes, streams.
        for loc in ("= /", "= /index.html"):
            self.assertIn("limit_req zone=cookie_mints", locs[loc])
            self.assertIn("proxy_pass http://webapp;", locs[loc])
        self.assertRegex(text, r"limit_req_zone \$mint_addr zone=cookie_mints:")
        self.assertRegex(text, r"limit_req_zone \$binary_remote_addr zone=addr_writes:")
        self.assertRegex(text, r"limit_conn_zone \$binary_remote_addr zone=addr_streams:")
        m = re.search(r'map \$cookie_user_id \$mint_addr \{\s*"~([^"]+)" "";\s*'
                      r'default \$binary_remote_addr;\s*\}', text)
        self.assertTrue(m, "no map from a cookie of the right shape to an empty key")
        shape = re.compile(m.group(1))
        sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
        import testkit
        real = testkit.mint_cookie("0123456789abcdef0123456789abcdef", "s" * 32)
        self.assertTrue(shape.search(real), real)
        for junk in ("", "x", real[:-1], real + "0", real.upper(), "a" * 97):
            self.assertFalse(shape.search(junk), junk)
        # /metrics stays on the replicas' ports: nginx answers it itself.
        self.assertRegex(locs["= /metrics"], r"return 404 '\{\"error\"")
        self.assertNotIn("proxy_pass", locs["= /metrics"])
        # An 8 KB Cookie header line fits a header buffer; a 12 KB one does
        # not, and nginx's "header too large" (494) is a JSON 431.
        n, size = re.search(r"large_client_header_buffers (\d+) (\d+)k;", text).groups()
        self.assertGreaterEqual(int(size) * 1024, len("Cookie: ") + 8192 + 2)
        self.assertLess(int(size) * 1024, 12000)
        self.assertGreaterEqual(int(n) * int(size) * 1024, 16 * 1024)
        self.assertRegex(server_level, r"error_page 494 =431 @headers_too_large;")
        self.assertRegex(locs["@headers_too_large"], r"return 431 '\{\"error\"")
        # nginx drops idle upstream connections before the webapp does.
        keep = int(re.search(r"keepalive_timeout (\d+)s;\n    \}", text).group(1))
        m = self.webapp_default("WEBAPP_CONN_TIMEOUT_S")
        self.assertLess(keep, int(m) if m else 60)
        for h in ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy"):
            self.assertRegex(text, rf"add_header {h} .* always;")
            self.assertIn(f"proxy_hide_header {h};", text)
        for t in ("text/javascript", "application/json", "text/css"):
            self.assertRegex(text, rf"gzip_types [^;]*{re.escape(t)}")
        self.assertRegex(text, r"listen \S+ reuseport;")
        conns = int(re.search(r"worker_connections (\d+);", text).group(1))
        workers = int(re.search(r"worker_processes (\d+);", text).group(1))
        self.assertGreaterEqual(conns * workers, 2 * 10000, "not sized for 10,000 streams")

    def webapp_default(self, var):
        """The default of one of the webapp's variables, from its --help
        table; None when the webapp is not built."""
        binary = os.path.join(BUILD, "webapp", "webapp")
        if not os.access(binary, os.X_OK):
            return None
        out = subprocess.run([binary, "--help"], capture_output=True, text=True).stdout
        m = re.search(rf"{var}\s+(\d+)", out)
        return m.group(1) if m else None

    def test_nginx_forwards_8k_cookies_and_answers_431_beyond(self):
        """The rendered config, live, in front of a throw-away upstream that
        records the Cookie header it gets: 7.9 and 8 KB ones (with the
        ordinary headers of a browser) reach it whole; 12 and 20 KB ones get
        nginx's own 431, JSON, with the security headers, and never reach it;
        /metrics is answered by nginx."""
        seen = []

        class Upstream(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                seen.append(self.headers.get("Cookie", ""))
                body = b'{"alerts":[]}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        up = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
        threading.Thread(target=up.serve_forever, daemon=True).start()
        port = free_port()
        conf, tmp = self.render(f"127.0.0.1:{up.server_address[1]}", f"127.0.0.1:{port}",
                                NGINX_DAEMON="off")
        nginx = subprocess.Popen(["nginx", "-c", conf], stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while not port_open(port):
                self.assertLess(time.monotonic(), deadline, "nginx did not listen")
                time.sleep(0.05)
            browser = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36",
                       "Accept": "application/json", "Accept-Language": "en-GB,en;q=0.9",
                       "Accept-Encoding": "gzip, deflate, br", "Referer": f"http://x:{port}/"}
            for size in (7900, 8192):
                cookie = "user_id=" + "c" * (size - len("user_id="))
                status, headers, _ = get(port, "/api/get-alerts", dict(browser, Cookie=cookie))
                self.assertEqual(status, 200, f"{size}-byte Cookie header")
                self.assertEqual(seen[-1], cookie, f"{size}-byte Cookie header not forwarded whole")
            before = len(seen)
            for size in (12000, 20000):
                status, headers, body = get(port, "/api/get-alerts",
                                            {"Cookie": "user_id=" + "c" * size})
                self.assertEqual(status, 431, f"{size}-byte Cookie header")
                self.assertIn('"error"', body.decode())
                self.assertEqual(headers.count("content-security-policy"), 1)
            self.assertEqual(len(seen), before, "an oversized header reached the upstream")
            status, _, body = get(port, "/metrics", {})
            self.assertEqual((status, len(seen)), (404, before), "/metrics was proxied")
        finally:
            nginx.terminate()
            nginx.wait(10)
            up.shutdown()
            up.server_close()
            shutil.rmtree(tmp)

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
        self.assertIn("image: stock-alerts/kafka", blocks["kafka"])
        self.assertIn("image: stock-alerts/redis", blocks["redis"])
        self.assertIn("appendonly", blocks["redis"])
        self.assertRegex(blocks["redis"], r"redis-data:/data")
        self.assertRegex(blocks["consumer"], r"replicas: 2")
        self.assertRegex(blocks["nginx"], r"published: 80\n\s+target: 80")
        self.assertRegex(blocks["kafdrop"], r"published: 9000")
        self.assertIn("image: obsidiandynamics/kafdrop", blocks["kafdrop"])
        self.assertRegex(blocks["kafdrop"], r"profiles:\n\s+- ui\n")
        # Every other service is built here, from the Dockerfile.
        for name, svc in services.items():
            if name != "kafdrop":
                self.assertIsNotNone(svc["target"], f"{name} is not built from the Dockerfile")
        froms = re.findall(r"^FROM (\S+) AS (\S+)", read(os.path.join(ROOT, "Dockerfile")), re.M)
        stages = {n for _, n in froms}
        for base, name in froms:
            self.assertIn(base, {"debian:12", "debian:12-slim"} | stages, f"stage {name}")
        # Tools on the host reach Kafka and Redis on loopback only.
        self.assertIn("- 127.0.0.1:9092:9094/tcp", blocks["kafka"])
        self.assertIn("- 127.0.0.1:6379:6379/tcp", blocks["redis"])
        # No known cookie secret: the user's, else the one secret-init draws.
        for i in (1, 2, 3):
            env = services[f"webapp-{i}"]["env"]
            self.assertEqual(env.get("COOKIE_SECRET"), "", f"webapp-{i}: a default secret")
            self.assertTrue(env.get("COOKIE_SECRET_FILE"), f"webapp-{i}: no COOKIE_SECRET_FILE")
            self.assertIn("secret-init", blocks[f"webapp-{i}"])
        self.assertIn("cookie-secret", command_words(blocks["secret-init"]))
        self.assertEqual(services["kafdrop"]["env"].get("KAFKA_BROKERCONNECT"), "kafka:9092")
        self.assertRegex(blocks["locust"], r"published: 8089")
        self.assertIn("locust/locustfile.py", blocks["locust"])
        names = [services[f"webapp-{i}"]["env"].get("WEBAPP_INSTANCE") for i in (1, 2, 3)]
        self.assertEqual(len(set(names)), 3, f"replica names {names}")
        for name in ("producer", "consumer", "notifier", "webapp-1", "nginx"):
            self.assertIn("condition: service_healthy", blocks[name], name)
        # A replica gets the time its drain needs before SIGKILL.
        self.assertRegex(blocks["webapp-1"], r"stop_grace_period: 15s")

    def test_services_table_matches_compose_and_dockerfile(self):
        table = services_table()
        text = compose_config()
        blocks = service_blocks(text)
        compose = parse_compose_services(text)
        dockerfile = read(os.path.join(ROOT, "Dockerfile"))
        stages = {re.match(r"\S+ AS (\S+)", st).group(1): st
                  for st in re.split(r"^FROM ", dockerfile, flags=re.M)[1:]}
        native = {n: s for n, s in table.items() if "dev" in s["topologies"]}
        daemons = {n: s for n, s in native.items() if s["run"].startswith("build/")}
        self.assertGreaterEqual(len(daemons), 4, "stack.services lists no daemons")
        targets = {}
        for name, svc in daemons.items():
            path = svc["run"][len("build/"):]
            binary = path.rsplit("/", 1)[1]
            targets[binary] = name
            var, port = port_var(svc), svc["cport"]
            self.assertIsNotNone(var, f"{name}: no VAR={{port}} in stack.services")
            # The Dockerfile: a target running the binary, on the port, health-checked.
            self.assertIn(binary, stages, f"{name}: no Dockerfile target {binary}")
            stage = stages[binary]
            self.assertIn(f"/build/{path} /usr/local/bin/{binary}", stage, name)
            self.assertRegex(stage, rf'ENTRYPOINT \["/usr/local/bin/{binary}"\]', name)
            self.assertRegex(stage, rf"\bENV\b.*\b{var}={port}\b", f"{name}: {var} is not {port}")
            self.assertEqual(svc["health"], "http", name)
            self.assertRegex(stage, rf"HEALTHCHECK .*http://127\.0\.0\.1:{port}/health",
                             f"{name}: no health check on :{port}/health")
            # docker-compose: services of that target, replicas included, on the port.
            mine = [c for c, s in compose.items() if s["target"] == binary]
            self.assertTrue(mine, f"{name}: no docker-compose service builds target {binary}")
            for c in mine:
                self.assertRegex(c, rf"^{re.escape(name)}(-\d+)?$",
                                 f"compose service {c} runs {name}: name it {name} or {name}-N")
                self.assertEqual(compose[c]["env"].get(var, str(port)), str(port),
                                 f"compose {c}: {var}")
            count = sum(compose_replicas(blocks[c]) for c in mine)
            self.assertGreaterEqual(count, svc["replicas"] or 1,
                                    f"{name}: {count} compose replicas, stack.services runs "
                                    f"{svc['replicas']}")
        # Nothing is built that the table does not list.
        known = set(targets) | set(SERVER_TARGETS.values()) | OTHER_TARGETS
        for c, s in compose.items():
            if s["target"] is not None:
                self.assertIn(s["target"], known, f"compose {c} builds a daemon stack.services "
                                                  f"does not list")
        for st in stages:
            self.assertIn(st, known, f"Dockerfile target {st} is not in stack.services")
        # The servers and the edge, on the table's ports with its kind of check.
        kinds = {"redis": r"redis-cli ping", "kafka": r"kafka-admin wait",
                 "http": r"curl .*http://127\.0\.0\.1(:\d+)?/health"}
        for name, svc in native.items():
            run = svc["run"]
            if run.startswith("build/") or run == "extern":
                continue
            self.assertIn(name, blocks, f"{name} (stack.services) is not in docker-compose.yml")
            check = compose_healthcheck(blocks[name])
            self.assertRegex(check, kinds[svc["health"]], f"compose {name}: health check")
            env = compose[name]["env"]
            self.assertEqual(compose[name]["target"], SERVER_TARGETS[run.split(":")[0]],
                             f"compose {name}: built from the target of its kind")
            if run == "redis":
                for c, s in compose.items():
                    if s["target"] in targets:
                        self.assertEqual(s["env"].get("REDIS_PORT"), str(svc["cport"]), c)
            elif run == "kafka":
                listeners = env.get("KAFKA_LISTENERS", "")
                for port in svc["ports"]:
                    self.assertIn(f":{port}", listeners, "compose kafka listeners")
                for c, s in compose.items():
                    if s["target"] in targets:
                        self.assertRegex(s["env"].get("KAFKA_BOOTSTRAP_SERVERS", ""),
                                         rf":{svc['ports'][0]}$", c)
            elif run.startswith("nginx:"):
                up = table[run.split(":", 1)[1]]
                self.assertEqual(env.get("NGINX_LISTEN"), str(svc["cport"]), "compose nginx")
                m = re.search(r"http://127\.0\.0\.1(?::(\d+))?/health", check)
                self.assertEqual(int(m.group(1) or 80), svc["cport"], "compose nginx health")
                for u in env["NGINX_UPSTREAMS"].split():
                    host, port = u.rsplit(":", 1)
                    self.assertEqual(targets.get(compose[host]["target"]),
                                     run.split(":", 1)[1], f"nginx upstream {host}")
                    self.assertEqual(int(port), up["cport"], f"nginx upstream {u}")

    def test_cluster_compose_matches_the_cluster_topology(self):
        """docker-compose.cluster.yml over docker-compose.yml is the table's
        `cluster` topology: as many brokers in one quorum, Redis nodes in
        cluster mode joined once with a replica per master, and daemons of
        each kind as the table runs, every one told of every broker and
        Redis node, setting only variables it reads."""
        table = services_table()
        text = compose_config(CLUSTER_COMPOSE)
        blocks = service_blocks(text)
        compose = parse_compose_services(text)
        cluster = {n: s for n, s in table.items() if "cluster" in s["topologies"]}
        self.assertTrue(cluster, "stack.services has no cluster topology")
        brokers = sorted(c for c, b in blocks.items()
                         if compose[c]["target"] == "kafka" and "KAFKA_NODE_ID" in compose[c]["env"])
        want = sum(1 for s in cluster.values() if s["run"] == "kafka")
        self.assertEqual(len(brokers), want, f"brokers {brokers}")
        voters = {compose[b]["env"].get("KAFKA_CONTROLLER_QUORUM_VOTERS") for b in brokers}
        self.assertEqual(len(voters), 1, f"one quorum: {voters}")
        self.assertEqual(sorted(v.split("@")[1].split(":")[0] for v in voters.pop().split(",")),
                         brokers, "every broker a voter")
        self.assertEqual(len({compose[b]["env"]["KAFKA_NODE_ID"] for b in brokers}), want)
        for b in brokers:
            env = compose[b]["env"]
            self.assertEqual(env.get("KAFKA_ADVERTISED_LISTENERS", "").split(",")[0],
                             f"PLAINTEXT://{b}:9092")
            self.assertEqual(env.get("KAFKA_MIN_INSYNC_REPLICAS"), "2", b)
            self.assertEqual(env.get("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"), str(want), b)
        init = command_words(blocks["kafka-init"])
        self.assertIn(f"--replication-factor {want}", init)
        self.assertIn("--min-insync-replicas 2", init)
        self.assertIn(",".join(f"{b}:9092" for b in brokers), init)
        nodes = sorted(c for c, b in blocks.items() if "- --cluster-enabled" in b)
        want_nodes = sum(s["replicas"] or 1 for s in cluster.values()
                         if s["run"].startswith("redis"))
        self.assertEqual(len(nodes), want_nodes, f"redis cluster nodes {nodes}")
        for n in nodes:
            self.assertIn("appendonly", blocks[n], n)
            self.assertRegex(compose_healthcheck(blocks[n]), r"redis-cli ping", n)
        self.assertIn("--cluster-replicas 1", blocks["redis-cluster-init"])
        joined = re.search(r"for h in ([^;]+?);", re.sub(r"\s+", " ", blocks["redis-cluster-init"]))
        self.assertTrue(joined, "redis-cluster-init: no list of the nodes it joins")
        self.assertEqual(sorted(joined.group(1).split()), nodes, "the nodes joined")
        kafka_servers = sorted(f"{b}:9092" for b in brokers)
        redis_nodes = sorted(f"{n}:6379" for n in nodes)
        for name, svc in cluster.items():
            if not svc["run"].startswith("build/"):
                continue
            binary = svc["run"].rsplit("/", 1)[1]
            mine = [c for c, s in compose.items() if s["target"] == binary]
            count = sum(compose_replicas(blocks[c]) for c in mine)
            want = svc["replicas_in"].get("cluster", svc["replicas"] or 1)
            self.assertEqual(count, want, f"{name}: {count} compose replicas, the table runs {want}")
            known = daemon_vars(binary)
            for c in mine:
                env = compose[c]["env"]
                self.assertEqual(sorted(env.get("KAFKA_BOOTSTRAP_SERVERS", "").split(",")),
                                 kafka_servers, c)
                self.assertEqual(sorted(env.get("REDIS_CLUSTER_NODES", "").split(",")),
                                 redis_nodes, c)
                self.assertIn("redis-cluster-init", blocks[c], f"{c} starts before the cluster")
                if known is not None:
                    self.assertEqual(set(env) - known, set(), f"{c}: variables it does not read")
            if "PRODUCER_INSTANCES" in svc["env"].get("cluster", {}):
                got = sorted(compose[c]["env"].get("PRODUCER_INSTANCE") for c in mine)
                self.assertEqual(got, [str(i) for i in range(count)], f"{name}: instances")
                self.assertEqual({compose[c]["env"].get("PRODUCER_INSTANCES") for c in mine},
                                 {str(count)}, name)

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
