#!/usr/bin/env python3
"""End-to-end: e-mail, through nginx, with the test stack's notifier
mailing a real SMTP server (aiosmtpd, tests/lib/smtp_sink.py) on loopback.

The address and its double opt-in:
- PUT /api/settings stores the address unconfirmed; exactly one
  confirmation mail arrives, to that address, from NOTIFIER_SMTP_FROM, with
  a link; following it (through nginx) confirms the address; the link works
  once; setting the confirmed address again mails nothing;
- a bad address, an unknown field, a form body and a cross-site PUT are
  refused (400 naming the field, 415, 403); null removes the address;
- at most 3 confirmation mails per user and hour (429 after);
- the SMTP server down when the address is set, up a few seconds later: the
  mail arrives once, after the notifier's retries.
The email channel of an alert:
- an alert with channels ["browser","email"] fired by a crossing tick: one
  mail with the ticker, condition, price and note (a note holding CR LF and
  a header cannot add one), and the alert still reaches the open page;
- the same alert message published again to `alerts`: no second mail;
- an unconfirmed address gets the confirmation mail and nothing else;
- the default channel (browser) mails nothing;
- the SMTP server down when the alert fires, up a few seconds later: the
  mail arrives once;
- the SMTP server refusing the alert mail for good (554): no retry, a
  dead-letter record on alerts-dlq with "sink":"email".
TLS and AUTH (a notifier of the test's own, the stack's stopped meanwhile):
- a server with STARTTLS (a CA made for the run, NOTIFIER_SMTP_CA_FILE) and
  AUTH: the alert mail arrives over TLS from the configured user;
- a wrong password: the 535 is permanent: one attempt, a dead-letter
  record, no mail; the failure is logged;
- NOTIFIER_SMTP_TLS=required and a server that offers no STARTTLS: no mail
  in clear text, retried, then dead-lettered;
- no NOTIFIER_SMTP_CA_FILE (the system store does not know the run's CA):
  the certificate does not verify, nothing is sent; dead-lettered;
- neither password is in any log line.

Needs TEST_SMTP_PYTHON (a python with aiosmtpd: scripts/test makes it) and
TEST_SMTP_PORT (the test topology's smtp port); skipped without them.
"""
import email
import email.policy
import glob
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import e2elib as e  # noqa: E402

if __name__ == "__main__":  # before pytest is imported: testkit.pytest_main finds one
    sys.exit(e.testkit.pytest_main(__file__, sys.argv[1:]))

import pytest  # noqa: E402

pytestmark = pytest.mark.usefixtures("e2e_stack")  # skipped without the test stack
SINK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib", "smtp_sink.py")
FROM = "alerts@stock-alerts.test"  # the test topology's NOTIFIER_SMTP_FROM (stack.services)
TICKER = "E2EM" + secrets.token_hex(3).upper()
JSON = {"Content-Type": "application/json"}


class SmtpSink:
    """The SMTP server process and the mails it wrote; options and env as
    smtp_sink.py takes them (--starttls, --auth and SMTP_SINK_AUTH)."""

    def __init__(self, python, port, options=(), env=None):
        self.python, self.port = python, port
        self.options, self.env = list(options), dict(env or {})
        self.dir = tempfile.mkdtemp(prefix="smtp-sink-")
        self.ca = os.path.join(self.dir, "tls", "ca.pem")  # with --starttls
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [self.python, SINK, *self.options, "127.0.0.1", str(self.port), self.dir],
            stdout=subprocess.DEVNULL, env=dict(os.environ, **self.env))
        deadline = time.time() + 30  # with --starttls, openssl makes the certificates first
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        pytest.fail(f"the SMTP sink did not listen on {self.port}")

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def mails(self, to):
        """[(envelope dict, parsed message)] of the mails to `to`, in arrival order."""
        out = []
        for meta in sorted(glob.glob(os.path.join(self.dir, "*.json"))):
            env = json.load(open(meta))
            if to in env["rcpt_tos"]:
                raw = open(meta[:-len(".json")] + ".eml", "rb").read()
                out.append((env, email.message_from_bytes(raw, policy=email.policy.default)))
        return out

    def wait_mails(self, to, n, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = self.mails(to)
            if len(got) >= n:
                return got
            time.sleep(0.2)
        return self.mails(to)


@pytest.fixture(scope="module")
def smtp():
    python, port = os.environ.get("TEST_SMTP_PYTHON"), os.environ.get("TEST_SMTP_PORT")
    if not python or not port:
        pytest.skip("TEST_SMTP_PYTHON / TEST_SMTP_PORT not set (scripts/test sets them)")
    s = SmtpSink(python, int(port))
    s.start()
    yield s
    s.stop()
    shutil.rmtree(s.dir, ignore_errors=True)


def put_settings(cookie, body, headers=None):
    return e.request("PUT", "/api/settings", cookie=cookie, body=body,
                     headers=dict(JSON, **(headers or {})))


def fresh_address(prefix="trader"):
    return f"{prefix}-{secrets.token_hex(6)}@example.test"


def confirm_link(msg):
    m = re.search(r"(http://\S+/api/confirm-email\?token=[A-Za-z0-9_.-]+)", msg.get_content())
    assert m, "no confirmation link in the mail"
    return m.group(1)


def follow(link):
    u = urllib.parse.urlsplit(link)
    return e.request("GET", f"{u.path}?{u.query}")


def settings(cookie):
    r = e.request("GET", "/api/settings", cookie=cookie)
    assert r.status == 200, r.body
    return r.json()


def test_double_opt_in(smtp):
    """one confirmation mail; the link confirms, once; nothing for a confirmed address"""
    cookie, _ = e.new_user()
    addr = fresh_address()
    assert settings(cookie) == {"email": None, "email_confirmed": False}
    r = put_settings(cookie, {"email": addr})
    assert r.status == 200, r.body
    assert r.json() == {"email": addr, "email_confirmed": False, "confirmation_sent": True}
    assert settings(cookie) == {"email": addr, "email_confirmed": False}
    mails = smtp.wait_mails(addr, 1)
    assert len(mails) == 1, "no confirmation mail arrived"
    env, msg = mails[0]
    assert env["mail_from"] == FROM and env["rcpt_tos"] == [addr]
    assert msg["To"].addresses[0].addr_spec == addr
    assert msg["From"].addresses[0].addr_spec == FROM
    assert "Confirm" in msg["Subject"]
    link = confirm_link(msg)
    assert e.stack("logs", "notifier", "-n", "200")[1].find(link.split("token=")[1]) < 0, \
        "the token is in the notifier's log"
    r = follow(link)
    assert r.status == 200 and b"confirmed" in r.body, (r.status, r.body)
    assert r.header("Content-Type").startswith("text/html")
    assert settings(cookie) == {"email": addr, "email_confirmed": True}
    r = follow(link)
    assert r.status == 400, "a link works once"
    r = put_settings(cookie, {"email": addr})
    assert r.status == 200 and r.json()["confirmation_sent"] is False
    assert r.json()["email_confirmed"] is True
    time.sleep(2)
    assert len(smtp.mails(addr)) == 1, "a second mail to a confirmed address"


def test_refused_and_removed(smtp, check):
    """400 naming the field, 415, 403, a forged link; null removes the address"""
    cookie, _ = e.new_user()
    for body, word in [({"email": "not an address"}, "email"),
                       ({"email": "a@b.example\r\nBcc: x@y.example"}, "email"),
                       ({"email": "x" * 300 + "@b.example"}, "email"),
                       ({"email": 42}, "email"),
                       ({"mail": "a@b.example"}, "mail"),
                       ({}, "email")]:
        r = put_settings(cookie, body)
        check(r.status == 400, f"{body!r}")
        check(word in (r.json() or {}).get("error", ""), f"{body!r}: {r.body!r}")
    r = e.request("PUT", "/api/settings", cookie=cookie, raw=b"email=a%40b.example",
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    check(r.status == 415, "form body")
    r = put_settings(cookie, {"email": fresh_address()},
                     headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
    check(r.status == 403, "cross-site PUT")
    r = e.request("PUT", "/api/settings", body={"email": fresh_address()}, headers=JSON)
    check(r.status == 400, "no cookie")
    r = e.request("GET", "/api/confirm-email?token=" + "u." + "0" * 64)
    check(r.status == 400, "forged link")
    r = e.request("GET", "/api/confirm-email")
    check(r.status == 400, "no token")
    addr = fresh_address()
    check(put_settings(cookie, {"email": addr}).status == 200, "set")
    r = put_settings(cookie, {"email": None})
    check(r.status == 200, "remove")
    check(settings(cookie) == {"email": None, "email_confirmed": False}, "removed")
    # the request was queued before the removal: its mail is skipped as
    # stale, or, when the notifier was quicker, its link no longer works
    time.sleep(2)
    for _, msg in smtp.mails(addr):
        check(follow(confirm_link(msg)).status == 400, "the link of a removed address")


def test_rate_limit(smtp):
    """3 confirmation mails per user and hour, then 429"""
    cookie, _ = e.new_user()
    for _ in range(3):
        assert put_settings(cookie, {"email": fresh_address()}).status == 200
    r = put_settings(cookie, {"email": fresh_address()})
    assert r.status == 429, r.body
    assert "per hour" in r.json()["error"]


def test_smtp_down_then_up(smtp):
    """the server down when the address is set: the mail arrives once, after retries"""
    cookie, _ = e.new_user()
    addr = fresh_address()
    smtp.stop()
    try:
        assert put_settings(cookie, {"email": addr}).status == 200
        time.sleep(2.5)  # a few refused attempts (retries every 0.2 .. 2 s in the test stack)
    finally:
        smtp.start()
    mails = smtp.wait_mails(addr, 1, timeout=30)
    assert len(mails) == 1, "the mail did not arrive after the server came back"
    time.sleep(3)
    assert len(smtp.mails(addr)) == 1, "the mail arrived twice"
    assert follow(confirm_link(mails[0][1])).status == 200
    assert settings(cookie)["email_confirmed"] is True


# ---------------------------------------------------------------- the email channel


def tick(price):
    e.publish("stock-prices", TICKER, e.tick_json(TICKER, price))


@pytest.fixture(scope="module")
def ticker(e2e_stack):
    """TICKER in the universe and priced on both replicas."""
    if not e.make_known(TICKER):
        pytest.fail(f"{TICKER} never reached the webapps")
    return TICKER


def confirmed_user(smtp, prefix="trader"):
    """A new user with a confirmed address: (cookie, user id, address)."""
    cookie, _ = e.new_user()
    addr = fresh_address(prefix)
    assert put_settings(cookie, {"email": addr}).status == 200
    mails = smtp.wait_mails(addr, 1)
    assert len(mails) == 1, "no confirmation mail"
    assert follow(confirm_link(mails[0][1])).status == 200
    assert settings(cookie)["email_confirmed"] is True
    return cookie, cookie.split(".")[0], addr


def set_alert(cookie, threshold, channels=None, note=None):
    body = {"ticker": TICKER, "threshold": threshold, "type": "above"}
    if channels is not None:
        body["channels"] = channels
    if note is not None:
        body["note"] = note
    r = e.request("POST", "/api/set-alert", cookie=cookie, body=body)
    assert r.status == 200, f"set-alert: {r.status} {r.body!r}"
    return r.json()["alert_id"]


def notifier_log():
    return open(os.path.join(e.STATE, "log", "notifier.log")).read()


def wait_log(pattern, timeout=30, log=notifier_log):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if re.search(pattern, log()):
            return True
        time.sleep(0.3)
    return False


def alert_mails(smtp, addr):
    return [m for _, m in smtp.mails(addr) if m["X-Stock-Alerts-Alert-Id"]]


def test_alert_mailed_once(smtp, ticker):
    """one mail per alert, with its content (the note only in the body, as
    text); the page gets it too; a redelivered message mails nothing more"""
    cookie, user, addr = confirmed_user(smtp)
    stream = e.Stream("/api/stream-alerts", cookie=cookie)
    assert stream.connected.wait(10), "alert stream did not open"
    note = "r\u00e9sum\u00e9 \U0001F680 <b>Bcc: stranger@example.test</b>"
    aid = set_alert(cookie, 150.0, ["browser", "email"], note)
    tick(200.0)
    deadline = time.time() + 30
    while time.time() < deadline and not alert_mails(smtp, addr):
        time.sleep(0.2)
    mails = alert_mails(smtp, addr)
    assert len(mails) == 1, f"{len(mails)} alert mails"
    m = mails[0]
    assert m["X-Stock-Alerts-Alert-Id"] == aid
    assert TICKER in m["Subject"] and "above" in m["Subject"], m["Subject"]
    assert m["Bcc"] is None, "the note added a header"
    body = m.get_content()
    for want in (TICKER, "Condition: above 150", "Price:     200", "r\u00e9sum\u00e9 \U0001F680"):
        assert want in body, f"{want!r} not in {body!r}"
    assert f"<alert.{aid}@stock-alerts.test>" == m["Message-ID"]
    got = None
    deadline = time.time() + 15
    while time.time() < deadline and got is None:
        ev = stream.take(deadline - time.time())
        if ev and isinstance(ev[2], dict) and ev[2].get("alert_id") == aid:
            got = ev[2]
    stream.close()
    assert got is not None and got.get("channels") == ["browser", "email"], str(got)
    # the alerts message again (a republish, a replay): suppressed, no mail
    payloads = [v for _, v in e.topic_times("alerts", user) if json.loads(v)["alert_id"] == aid]
    assert payloads, "the alert is not on the alerts topic"
    e.publish("alerts", user, payloads[0])
    assert wait_log(rf"duplicate suppressed alert_id={aid}\b"), "the republish was not suppressed"
    time.sleep(2)
    assert len(alert_mails(smtp, addr)) == 1, "mailed twice"


def test_unconfirmed_gets_no_alert_mail(smtp, ticker):
    """nothing but the confirmation mail goes to an unconfirmed address"""
    cookie, _ = e.new_user()
    addr = fresh_address()
    assert put_settings(cookie, {"email": addr}).status == 200
    aid = set_alert(cookie, 250.0, ["email", "browser"])
    tick(300.0)
    assert wait_log(rf"email skipped alert_id={aid} user_id=\S+ reason=unconfirmed"), \
        "no skip logged"
    assert wait_log(rf"alert delivered alert_id={aid}\b"), "the alert was not delivered"
    time.sleep(1)
    mails = smtp.mails(addr)
    assert len(mails) == 1 and "Confirm" in mails[0][1]["Subject"], [m["Subject"] for _, m in mails]


def test_browser_channel_mails_nothing(smtp, ticker):
    """the default channel: no mail, even with a confirmed address"""
    cookie, _, addr = confirmed_user(smtp)
    aid = set_alert(cookie, 350.0)
    tick(400.0)
    assert wait_log(rf"alert delivered alert_id={aid}\b"), "the alert was not delivered"
    time.sleep(1)
    assert alert_mails(smtp, addr) == []


def test_alert_mail_after_smtp_outage(smtp, ticker):
    """the SMTP server down when the alert fires: one mail once it is back"""
    cookie, _, addr = confirmed_user(smtp)
    aid = set_alert(cookie, 450.0, ["browser", "email"])
    smtp.stop()
    try:
        tick(500.0)
        assert wait_log(rf"delivery retry scheduled alert_id={aid} sink=email"), "no retry"
    finally:
        smtp.start()
    deadline = time.time() + 30
    while time.time() < deadline and not alert_mails(smtp, addr):
        time.sleep(0.2)
    assert [m["X-Stock-Alerts-Alert-Id"] for m in alert_mails(smtp, addr)] == [aid]
    assert wait_log(rf"alert delivered alert_id={aid}\b")
    time.sleep(2)
    assert len(alert_mails(smtp, addr)) == 1, "mailed twice"


def test_refused_mail_dead_lettered(smtp, ticker):
    """a 554 for the alert mail: permanent, one attempt, a DLQ record naming the email sink"""
    cookie, user, addr = confirmed_user(smtp, prefix="reject")
    aid = set_alert(cookie, 550.0, ["browser", "email"])
    tick(600.0)
    assert wait_log(rf"delivery failed alert_id={aid} sink=email attempts=1 permanent=1"), \
        "no permanent failure logged"
    assert_dead_lettered(user, aid)
    assert alert_mails(smtp, addr) == []


def assert_dead_lettered(user, aid):
    """One dead-letter record of aid on alerts-dlq, naming the email sink."""
    deadline = time.time() + 30
    records = []
    while time.time() < deadline and not records:
        records = [json.loads(v) for _, v in e.topic_times("alerts-dlq", user)]
        records = [r for r in records if r.get("alert_id") == aid]
        time.sleep(0.5)
    assert len(records) == 1, f"dead letters: {records}"
    assert records[0]["sink"] == "email" and records[0]["reason"] == "undeliverable", records[0]


# ---------------------------------------------------------------- TLS and AUTH
#
# Each test runs a notifier of its own (the build's binary on the test
# stack's Kafka, Redis and consumer group) with the SMTP settings it tests.
# The stack's notifier is stopped meanwhile: both would claim the same
# alerts (the claims are in Redis) and either could deliver one. It starts
# again after the module; the alerts' offsets are committed by then.

SMTP_USER = "stock-alerts-bot"
SMTP_PASSWORD = "pw-" + secrets.token_hex(12)  # of the run: any trace of it in a log is a leak
NOTIFIER = os.path.join(os.path.dirname(os.path.abspath(e.STACK)), "build", "notifier", "notifier")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OwnNotifier:
    """The notifier with the variables given (SMTP, attempts); its log in the stack's
    log folder, next to the stack's own (where a search for secrets looks)."""

    count = 0

    def __init__(self, **settings):
        OwnNotifier.count += 1
        self.log_path = os.path.join(e.STATE, "log",
                                     f"notifier-own-{os.getpid()}-{OwnNotifier.count}.log")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("NOTIFIER_") and k != "REDIS_CLUSTER_NODES"}
        env.update(KAFKA_BOOTSTRAP_SERVERS=e.KAFKA, REDIS_HOST="127.0.0.1",
                   REDIS_PORT=os.environ["TEST_REDIS_PORT"], METRICS_PORT="0",
                   NOTIFIER_SMTP_FROM=FROM, NOTIFIER_RETRY_BASE_MS="200",
                   NOTIFIER_RETRY_MAX_MS="1000", NOTIFIER_MAX_ATTEMPTS="3")
        env.update(settings)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([NOTIFIER], env=env, stdout=log,
                                         stderr=subprocess.STDOUT)

    def log(self):
        return open(self.log_path).read()

    def wait_log(self, pattern, timeout=45):
        return wait_log(pattern, timeout, log=self.log)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def tls_alerts(smtp, ticker):
    """{test: (user id, address, alert id, threshold)}: an email alert of a
    user confirmed through the stack's notifier, for each TLS test; then the
    stack's notifier stopped, until the module ends."""
    alerts = {}
    for name, threshold in (("delivered", 650.0), ("wrong_password", 750.0),
                            ("required", 850.0), ("unknown_ca", 950.0)):
        cookie, user, addr = confirmed_user(smtp)
        alerts[name] = (user, addr, set_alert(cookie, threshold, ["browser", "email"]),
                        threshold)
    rc, out = e.stack("stop", "notifier")
    assert rc == 0, out
    yield alerts
    rc, out = e.stack("start", "notifier")
    assert rc == 0, out


@pytest.fixture
def tls_smtp(smtp):
    """A server with STARTTLS (required before anything else) and AUTH of
    SMTP_USER / SMTP_PASSWORD, on a port the system picks."""
    s = SmtpSink(smtp.python, free_port(), ["--starttls", "--auth"],
                 {"SMTP_SINK_AUTH": f"{SMTP_USER}:{SMTP_PASSWORD}"})
    s.start()
    yield s
    s.stop()
    shutil.rmtree(s.dir, ignore_errors=True)


def assert_not_logged(*secrets_):
    """None of secrets_ (whole, first or last half) in any log of the stack's folder."""
    logdir = os.path.join(e.STATE, "log")
    for fn in sorted(os.listdir(logdir)):
        text = open(os.path.join(logdir, fn), "rb").read()
        for s in secrets_:
            for probe in (s, s[:len(s) // 2], s[len(s) // 2:]):
                assert probe.encode() not in text, f"a password in log/{fn}"


def test_starttls_auth_delivers(tls_alerts, tls_smtp):
    """STARTTLS verified against NOTIFIER_SMTP_CA_FILE, then AUTH: the alert
    mail arrives over TLS from SMTP_USER"""
    user, addr, aid, threshold = tls_alerts["delivered"]
    n = OwnNotifier(NOTIFIER_SMTP_URL=f"smtp://127.0.0.1:{tls_smtp.port}",
                    NOTIFIER_SMTP_CA_FILE=tls_smtp.ca, NOTIFIER_SMTP_USER=SMTP_USER,
                    NOTIFIER_SMTP_PASSWORD=SMTP_PASSWORD)
    try:
        tick(threshold + 50)
        mails = tls_smtp.wait_mails(addr, 1, timeout=60)
        assert len(mails) == 1, f"{len(mails)} mails; notifier log:\n{n.log()[-3000:]}"
        env, msg = mails[0]
        assert msg["X-Stock-Alerts-Alert-Id"] == aid
        assert env["tls"] is True, "the mail was not sent over TLS"
        assert env["auth_user"] == SMTP_USER, env
        assert n.wait_log(rf"alert delivered alert_id={aid}\b")
        assert re.search(r"email on smtp=\S+ tls=try ca=\S+ca\.pem ", n.log()), "no 'email on'"
        assert "smtp auth may go in clear" in n.log(), "no warning for AUTH with tls=try"
    finally:
        n.stop()
    assert_not_logged(SMTP_PASSWORD)


def test_wrong_password_dead_lettered(tls_alerts, tls_smtp):
    """a wrong password: 535 is permanent: one attempt, logged without the
    password, a dead-letter record, no mail"""
    user, addr, aid, threshold = tls_alerts["wrong_password"]
    wrong = "wrong-" + secrets.token_hex(12)
    n = OwnNotifier(NOTIFIER_SMTP_URL=f"smtp://127.0.0.1:{tls_smtp.port}",
                    NOTIFIER_SMTP_CA_FILE=tls_smtp.ca, NOTIFIER_SMTP_USER=SMTP_USER,
                    NOTIFIER_SMTP_PASSWORD=wrong)
    try:
        tick(threshold + 50)
        assert n.wait_log(rf"delivery failed alert_id={aid} sink=email attempts=1 permanent=1 "
                          r'error="[^"]*\(smtp 535\)"', timeout=60), \
            f"no permanent failure logged:\n{n.log()[-3000:]}"
        assert_dead_lettered(user, aid)
        assert tls_smtp.mails(addr) == []
    finally:
        n.stop()
    assert_not_logged(wrong, SMTP_PASSWORD)


def test_tls_required_sends_nothing_in_clear(smtp, tls_alerts):
    """NOTIFIER_SMTP_TLS=required and a server that offers no STARTTLS: no
    mail (nor AUTH) in clear text; retried, then dead-lettered"""
    user, addr, aid, threshold = tls_alerts["required"]
    n = OwnNotifier(NOTIFIER_SMTP_URL=f"smtp://127.0.0.1:{smtp.port}",
                    NOTIFIER_SMTP_TLS="required", NOTIFIER_SMTP_USER=SMTP_USER,
                    NOTIFIER_SMTP_PASSWORD=SMTP_PASSWORD, NOTIFIER_MAX_ATTEMPTS="2")
    try:
        tick(threshold + 50)
        assert n.wait_log(rf"delivery retry scheduled alert_id={aid} sink=email attempt=1 ",
                          timeout=60), f"no retry logged:\n{n.log()[-3000:]}"
        assert n.wait_log(rf"delivery failed alert_id={aid} sink=email attempts=2 permanent=0"), \
            f"no failure logged:\n{n.log()[-3000:]}"
        assert_dead_lettered(user, aid)
        assert alert_mails(smtp, addr) == [], "an alert mail in clear text"
        assert "tls=required" in n.log() and "smtp auth may go in clear" not in n.log()
    finally:
        n.stop()
    assert_not_logged(SMTP_PASSWORD)


def test_unknown_ca_sends_nothing(tls_alerts, tls_smtp):
    """the server's certificate from a CA the notifier was not given (the
    system store only): the handshake fails, nothing is sent (nor AUTH);
    retried, then dead-lettered"""
    user, addr, aid, threshold = tls_alerts["unknown_ca"]
    n = OwnNotifier(NOTIFIER_SMTP_URL=f"smtp://127.0.0.1:{tls_smtp.port}",
                    NOTIFIER_SMTP_USER=SMTP_USER, NOTIFIER_SMTP_PASSWORD=SMTP_PASSWORD,
                    NOTIFIER_MAX_ATTEMPTS="2")
    try:
        tick(threshold + 50)
        assert n.wait_log(rf"delivery failed alert_id={aid} sink=email attempts=2 permanent=0 "
                          r'error="[^"]*certificate', timeout=60), \
            f"no certificate failure logged:\n{n.log()[-3000:]}"
        assert_dead_lettered(user, aid)
        assert tls_smtp.mails(addr) == []
    finally:
        n.stop()
    assert_not_logged(SMTP_PASSWORD)
