"""The cluster suite's one topology: `./stack up --cluster` once per pytest
session (the `cluster` fixture), shared by test_cluster_topology.py and
test_cluster_failover.py, brought down at the session's end. The topology's
checks run first, the failover tests next, `test_down_leaves_nothing` last.
"""
import os
import secrets
import shutil
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clusterkit  # noqa: E402

# Every simulated user of the suite connects from 127.0.0.1: nginx's
# per-address limits (a real client address holds a few users) are lifted, as
# in the chaos topology; the per-user ones stay. The cookie secret is the
# suite's, so that it mints its users' cookies (GET / mints 30 a minute).
# A JVM starting on a loaded CI machine (2 cores shared by 3 brokers, 6 Redis
# nodes and 10 daemons) can take more than the default 60 s to answer: the
# suite waits up to 240 s for every service it starts or restarts.
EXTRA_ENV = {"NGINX_ADDR_API_RATE": "1000000", "NGINX_ADDR_API_BURST": "1000000",
             "NGINX_STREAMS_PER_ADDR": "65535", "COOKIE_SECRET": secrets.token_hex(32),
             "STACK_HEALTH_TIMEOUT": "240"}

ORDER = ("test_cluster_topology.py", "test_cluster_failover.py")


def pytest_collection_modifyitems(items):
    """The topology's checks on the fresh topology, then the failover tests,
    then the test that brings it down."""
    def key(item):
        name = os.path.basename(str(item.path))
        last = item.name == "test_down_leaves_nothing"
        return (last, ORDER.index(name) if name in ORDER else len(ORDER))
    items.sort(key=key)


@pytest.fixture(scope="session")
def cluster(request):
    base = tempfile.mkdtemp(prefix="cluster-topology-")
    failed_before = request.session.testsfailed
    c = clusterkit.Cluster(base, EXTRA_ENV)
    t0 = time.monotonic()
    rc, out = c.stack("up", "--cluster")
    print(f"cluster up in {time.monotonic() - t0:.0f}s")
    try:
        assert rc == 0, "./stack up --cluster failed"
        c.read_ports()
        c.record_pids()
        yield c
    finally:
        c.stack("down")
        if request.session.testsfailed > failed_before:
            kept = base + "-logs"
            shutil.copytree(os.path.join(c.state, "log"), kept, dirs_exist_ok=True)
            print(f"the topology's logs kept in {kept}")
        shutil.rmtree(base, ignore_errors=True)
