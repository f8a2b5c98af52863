#!/usr/bin/env python3
"""End-to-end: a user's e-mail address and its double opt-in, through nginx,
with the test stack's notifier mailing a real SMTP server (aiosmtpd,
tests/lib/smtp_sink.py) on loopback.

- PUT /api/settings stores the address unconfirmed; exactly one
  confirmation mail arrives, to that address, from NOTIFIER_SMTP_FROM, with
  a link; following it (through nginx) confirms the address; the link works
  once; setting the confirmed address again mails nothing;
- a bad address, an unknown field, a form body and a cross-site PUT are
  refused (400 naming the field, 415, 403); null removes the address;
- at most 3 confirmation mails per user and hour (429 after);
- the SMTP server down when the address is set, up a few seconds later: the
  mail arrives once, after the notifier's retries.

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
JSON = {"Content-Type": "application/json"}


class SmtpSink:
    """The SMTP server process and the mails it wrote."""

    def __init__(self, python, port):
        self.python, self.port = python, port
        self.dir = tempfile.mkdtemp(prefix="smtp-sink-")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([self.python, SINK, "127.0.0.1", str(self.port), self.dir],
                                     stdout=subprocess.DEVNULL)
        deadline = time.time() + 15
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


def put_settings(cookie, body, headers=None):
    return e.request("PUT", "/api/settings", cookie=cookie, body=body,
                     headers=dict(JSON, **(headers or {})))


def fresh_address():
    return f"trader-{secrets.token_hex(6)}@example.test"


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
