"""The pytest fixtures every Python suite shares: the webapp contract test,
the notifier, producer and upgrade integration tests and the end-to-end
tests. The helpers behind them (HTTP, cookies, SSE, processes, Kafka) are in
lib/testkit.py, which scripts without pytest use too.

Fixtures:
  services     the test Redis and Kafka of TEST_REDIS_HOST/PORT and
               TEST_KAFKA_BOOTSTRAP (skipped when unset, one session-ending
               failure when set and not answering)
  kafka        the same for a suite that needs Kafka only
  bins         bins("webapp") -> the binary under test (--bin NAME=PATH, else
               the build tree of --build-dir)
  logdir       a temporary folder per module for the daemons' logs: removed
               when every test of the module passed, else kept and the tail
               of each log printed
  daemons      daemons(name, argv, env) -> a testkit.Daemon logging to logdir;
               whatever still runs is killed at the end of the module
  mint         mint(user, secret) -> a signed user_id cookie
  uniq         a string unique to this run, for topics, groups and tickers
  e2e_stack    the test stack of `./stack test` (E2E_BASE_URL, ...; skipped
               when unset)
  check        check(cond, what) -> cond: a soft check; the test goes on and
               fails at its end with every failed check listed (the
               end-to-end tests report all they measured)

Options: --bin NAME=PATH (repeatable), --build-dir DIR, --skipped-exit N (the
exit status when every test was skipped: ctest registers the integration
suites with SKIP_RETURN_CODE 77).
"""
import os
import shutil
import sys
import tempfile
import time

import pytest

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "lib"))
import testkit  # noqa: E402

# Not pytest suites: run by their own scripts (deploy: ctest runs it with
# the repository and build paths; chaos: ./stack chaos) or libraries.
collect_ignore = ["deploy", "chaos", "browser", "e2e/lib", "upgrade/make_fixture.py"]

# Where each binary is in a build tree, for runs without --bin.
BUILD_LAYOUT = {
    "webapp": "webapp/webapp",
    "consumer": "consumer/consumer",
    "notifier": "notifier/notifier",
    "producer": "producer/producer",
    "kafka-admin": "tools/kafka-admin",
    "webapp_claim": "tests/webapp/webapp_claim",
}


def pytest_addoption(parser):
    g = parser.getgroup("stock-alerts")
    g.addoption("--bin", action="append", default=[], metavar="NAME=PATH",
                help="a binary under test: " + ", ".join(BUILD_LAYOUT) + " (default: in the "
                "build tree of --build-dir)")
    g.addoption("--build-dir", metavar="DIR",
                default=os.environ.get("SA_BUILD_DIR") or os.path.join(ROOT, "build"),
                help="build tree of the binaries not given by --bin ($SA_BUILD_DIR, else build/)")
    g.addoption("--skipped-exit", type=int, default=0, metavar="N",
                help="exit status when tests ran and every one was skipped (ctest: 77)")


# ---------------------------------------------------------------- collection

def pytest_collect_file(file_path, parent):
    """The end-to-end files keep the names the stack runs them by (edge.py,
    ...): collected as test modules when pytest is given their folder."""
    if (file_path.suffix == ".py" and file_path.parent.name == "e2e"
            and file_path.parent.parent == parent.session.config.rootpath
            and not parent.session.isinitpath(file_path)):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


def pytest_sessionfinish(session, exitstatus):
    """--skipped-exit: every test skipped is a skip, not a pass, for ctest."""
    want = session.config.getoption("--skipped-exit")
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if not want or exitstatus != 0 or reporter is None:
        return
    stats = reporter.stats
    ran = [k for k in ("passed", "failed", "error") if stats.get(k)]
    if stats.get("skipped") and not ran:
        session.exitstatus = want


# ---------------------------------------------------------------- soft checks

class SoftChecks:
    """check(cond, what): records a failed check and goes on; returns cond."""

    def __init__(self):
        self.failed = []

    def __call__(self, cond, what):
        if not cond:
            self.failed.append(what)
            print(f"    FAIL: {what}", flush=True)
        return cond


@pytest.fixture
def check(request):
    soft = SoftChecks()
    request.node.sa_soft_checks = soft
    return soft


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A test whose soft checks failed fails, with every failed check listed."""
    outcome = yield
    rep = outcome.get_result()
    soft = getattr(item, "sa_soft_checks", None)
    if rep.when != "call" or soft is None or not soft.failed:
        return
    text = f"{len(soft.failed)} check(s) failed:\n" + "\n".join(f"  - {f}" for f in soft.failed)
    if rep.passed:
        rep.outcome = "failed"
        rep.longrepr = text
    else:
        rep.sections.append(("soft checks", text))


# ---------------------------------------------------------------- the test servers

_SERVICE_PROBLEM = {}


def _require(what, probe):
    """Fails the session once, clearly, when a configured server does not answer."""
    if what not in _SERVICE_PROBLEM:
        _SERVICE_PROBLEM[what] = probe()
    if _SERVICE_PROBLEM[what]:
        pytest.exit(f"{_SERVICE_PROBLEM[what]} (the TEST_* variables name it: is it running?)",
                    returncode=1)


class Services:
    """The test servers: kafka (bootstrap), redis_host, redis_port (a string)."""

    def __init__(self, kafka, redis_host, redis_port):
        self.kafka, self.redis_host, self.redis_port = kafka, redis_host, redis_port


@pytest.fixture(scope="session")
def services():
    boot, host, port = testkit.services_from_env()
    if not (boot and host and port):
        pytest.skip("TEST_KAFKA_BOOTSTRAP / TEST_REDIS_HOST / TEST_REDIS_PORT not set")
    _require("redis", lambda: testkit.redis_ping(host, port))
    _require("kafka", lambda: testkit.kafka_ping(boot))
    return Services(boot, host, port)


@pytest.fixture(scope="session")
def kafka():
    boot, _, _ = testkit.services_from_env()
    if not boot:
        pytest.skip("TEST_KAFKA_BOOTSTRAP is not set")
    _require("kafka", lambda: testkit.kafka_ping(boot))
    return boot


# ---------------------------------------------------------------- binaries

@pytest.fixture(scope="session")
def bins(request):
    given = {}
    for spec in request.config.getoption("--bin"):
        name, sep, path = spec.partition("=")
        if not sep or not path:
            raise pytest.UsageError(f"--bin {spec!r}: want NAME=PATH")
        given[name] = path
    build = request.config.getoption("--build-dir")

    def lookup(name):
        path = given.get(name) or os.path.join(build, BUILD_LAYOUT.get(name, name))
        if not os.access(path, os.X_OK):
            pytest.fail(f"no {name} binary at {path}: build it (./stack build) or pass "
                        f"--bin {name}=PATH", pytrace=False)
        return path
    return lookup


# ---------------------------------------------------------------- processes and logs

def _module_failed(request, before):
    return request.session.testsfailed > before


@pytest.fixture(scope="module")
def logdir(request):
    name = request.module.__name__.rpartition(".")[2]
    path = tempfile.mkdtemp(prefix=f"{name}-")
    before = request.session.testsfailed
    yield path
    if not _module_failed(request, before):
        shutil.rmtree(path, ignore_errors=True)
        return
    for folder, _, files in sorted(os.walk(path)):
        for f in sorted(files):
            if f.endswith(".log"):
                name = os.path.relpath(os.path.join(folder, f), path)
                with open(os.path.join(folder, f), encoding="utf-8", errors="replace") as lf:
                    print(f"---- {name} (last 8000 characters) ----\n{lf.read()[-8000:]}")
    print(f"logs kept in {path}")


@pytest.fixture(scope="module")
def daemons(logdir):
    started = []

    def start(name, argv, env, logname=None):
        d = testkit.Daemon(name, argv, env, os.path.join(logdir, logname or f"{name}.log"))
        started.append(d)
        return d
    yield start
    for d in started:
        d.kill()


@pytest.fixture(scope="session", autouse=True)
def _no_leftover_processes():
    yield
    testkit.kill_leftovers()


# ---------------------------------------------------------------- small things

@pytest.fixture(scope="session")
def mint():
    return testkit.mint_cookie


@pytest.fixture(scope="session")
def uniq():
    return f"{os.getpid()}{int(time.time() * 1000) % 10**8}"


# ---------------------------------------------------------------- end to end

@pytest.fixture(scope="session")
def e2e_stack():
    """The test stack's coordinates (E2E_BASE_URL, E2E_STATE, E2E_WEBAPP_PORTS,
    E2E_STACK as `./stack test` exports them); skipped without them."""
    if not os.environ.get("E2E_BASE_URL"):
        pytest.skip("E2E_BASE_URL not set (run by ./stack test)")
    return os.environ["E2E_BASE_URL"]

