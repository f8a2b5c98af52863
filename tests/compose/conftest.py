"""The compose suite's one stack: docker-compose.yml built and started once
per pytest session (the `stack` fixture) as its own project, with the test
override of composekit (the host's network, 127.0.0.1, ports at
COMPOSE_TEST_PORT_OFFSET), and COOKIE_SECRET unset, as a user starts it.
`test_down_leaves_nothing` runs last and takes it down; the fixture makes sure
of it after a failure too (keeping the logs).
"""
import os
import shutil
import sys
import tempfile
import time

import pytest
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import composekit  # noqa: E402


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: item.name == "test_down_leaves_nothing")


class Stack:
    def __init__(self, compose, ports, services, networks_before, build_s, up_s):
        self.compose, self.ports, self.services = compose, ports, services
        self.networks_before = networks_before
        self.build_s, self.up_s = build_s, up_s
        self.down = False

    def url(self, port_name="nginx"):
        return f"http://127.0.0.1:{self.ports[port_name]}"


@pytest.fixture(scope="session")
def stack(request):
    base = tempfile.mkdtemp(prefix="compose-test-")
    ports = composekit.test_ports()
    busy = [f"{n}:{p}" for n, p in ports.items() if composekit.testkit.port_open(p)]
    if busy:
        pytest.exit(f"ports of the compose test in use: {busy} (COMPOSE_TEST_PORT_OFFSET)",
                    returncode=1)
    override, services = composekit.test_override(ports)
    path = os.path.join(base, "docker-compose.test.yml")
    with open(path, "w") as f:
        yaml.safe_dump(override, f, sort_keys=False)
    compose = composekit.Compose(path)
    compose.run("down", "-v", "--remove-orphans", quiet=True)  # an interrupted run's leftovers
    before = composekit.networks()
    failed_before = request.session.testsfailed
    t0 = time.monotonic()
    rc, _ = compose.run("build", timeout=3600, quiet=True)
    build_s = time.monotonic() - t0
    print(f"images built in {build_s:.0f}s")
    s = None
    try:
        assert rc == 0, compose.run("build", timeout=3600)[1][-3000:]
        t0 = time.monotonic()
        rc, out = compose.run("up", "-d", timeout=900)
        up_s = time.monotonic() - t0
        print(f"stack up in {up_s:.0f}s")
        assert rc == 0, "docker-compose up -d failed"
        s = Stack(compose, ports, services, before, build_s, up_s)
        yield s
    finally:
        if request.session.testsfailed > failed_before:
            kept = base + "-logs"
            os.makedirs(kept, exist_ok=True)
            for svc in services:
                with open(os.path.join(kept, f"{svc}.log"), "w") as f:
                    f.write(compose.logs(svc))
            print(f"the stack's logs kept in {kept}")
        if s is None or not s.down:
            compose.run("down", "-v", "--remove-orphans", timeout=300)
        shutil.rmtree(base, ignore_errors=True)
