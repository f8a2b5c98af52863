#!/usr/bin/env python3
"""A real SMTP server for the tests (aiosmtpd, from PyPI: scripts/test puts
it into a venv and exports TEST_SMTP_PYTHON). Every mail it accepts is
written to DIR as <n>.eml (the message as received) and <n>.json
({"mail_from", "rcpt_tos", "tls", "auth_user"}: whether the session had
switched to TLS, and who logged in, or null), the .json last, so a reader
that sees it sees both whole. An alert mail (one with
X-Stock-Alerts-Alert-Id) to an address starting with "reject-" is refused
with 554 and not written: a permanent failure, for the dead-letter test.

Options, as a real submission server has them:
  --starttls  offers STARTTLS and refuses every other command before it
              (530); its certificate, for 127.0.0.1 and localhost, is
              signed by a CA made for the run with the openssl CLI: both
              go to DIR/tls/, the CA's as DIR/tls/ca.pem (written before
              the server listens)
  --auth      AUTH PLAIN and LOGIN for the one user and password in
              $SMTP_SINK_AUTH ("user:password"; the environment, never the
              command line); MAIL before a successful AUTH is refused with
              530, a wrong password with 535; with --starttls AUTH is
              neither offered nor accepted before the switch to TLS

usage: TEST_SMTP_PYTHON smtp_sink.py [--starttls] [--auth] HOST PORT DIR
       (runs until SIGTERM)
"""
import argparse
import json
import os
import signal
import ssl
import subprocess
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, folder):
        self.folder = folder
        self.n = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        content = envelope.original_content or envelope.content
        if (any(r.startswith("reject-") for r in envelope.rcpt_tos)
                and b"\r\nX-Stock-Alerts-Alert-Id:" in content):
            return "554 5.7.1 refused by the test sink"
        with self.lock:
            self.n += 1
            base = os.path.join(self.folder, f"{os.getpid()}-{self.n:06d}")
        with open(base + ".eml", "wb") as f:
            f.write(content)
        user = session.auth_data.login.decode() if session.authenticated else None
        with open(base + ".json.tmp", "w") as f:
            json.dump({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
                       "tls": session.ssl is not None, "auth_user": user}, f)
        os.rename(base + ".json.tmp", base + ".json")
        return "250 OK"


def make_certificates(folder):
    """A CA and a server certificate it signs (127.0.0.1, localhost) into
    folder; returns (server certificate, key). The CA is folder/ca.pem."""
    os.makedirs(folder, exist_ok=True)
    p = {n: os.path.join(folder, n) for n in
         ("ca.pem", "ca.key", "server.pem", "server.key", "server.csr", "ext.cnf")}
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    with open(p["ext.cnf"], "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    for cmd in (
        ["req", "-x509", *ec, "-keyout", p["ca.key"], "-out", p["ca.pem"], "-days", "2",
         "-subj", "/CN=stock-alerts test CA"],
        ["req", *ec, "-keyout", p["server.key"], "-out", p["server.csr"],
         "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", p["server.csr"], "-CA", p["ca.pem"], "-CAkey", p["ca.key"],
         "-CAcreateserial", "-out", p["server.pem"], "-days", "2", "-extfile", p["ext.cnf"]],
    ):
        subprocess.run(["openssl", *cmd], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    return p["server.pem"], p["server.key"]


def authenticator_for(spec):
    """The authenticator of one user:password: anything else is refused (535)."""
    user, _, password = spec.partition(":")
    want = LoginPassword(user.encode(), password.encode())

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data == want
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)
    return authenticate


def main():
    ap = argparse.ArgumentParser(description="the tests' SMTP server")
    ap.add_argument("--starttls", action="store_true")
    ap.add_argument("--auth", action="store_true")
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("dir")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    kw = {}
    if a.starttls:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(*make_certificates(os.path.join(a.dir, "tls")))
        kw.update(tls_context=ctx, require_starttls=True)
    if a.auth:
        kw.update(auth_required=True, auth_require_tls=a.starttls,
                  authenticator=authenticator_for(os.environ["SMTP_SINK_AUTH"]))
    ctl = Controller(Sink(a.dir), hostname=a.host, port=a.port, **kw)
    ctl.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"smtp sink on {a.host}:{a.port}", flush=True)
    while not stop.wait(0.2):
        pass
    ctl.stop()


if __name__ == "__main__":
    main()
