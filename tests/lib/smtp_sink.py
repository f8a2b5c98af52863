#!/usr/bin/env python3
"""A real SMTP server for the tests (aiosmtpd, from PyPI: scripts/test puts
it into a venv and exports TEST_SMTP_PYTHON). Every mail it accepts is
written to DIR as <n>.eml (the message as received) and <n>.json
({"mail_from", "rcpt_tos"}), the .json last, so a reader that sees it sees
both whole. An alert mail (one with X-Stock-Alerts-Alert-Id) to an address
starting with "reject-" is refused with 554 and not written: a permanent
failure, for the dead-letter test.

usage: TEST_SMTP_PYTHON smtp_sink.py HOST PORT DIR   (runs until SIGTERM)
"""
import json
import os
import signal
import sys
import threading

from aiosmtpd.controller import Controller


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
        with open(base + ".json.tmp", "w") as f:
            json.dump({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos}, f)
        os.rename(base + ".json.tmp", base + ".json")
        return "250 OK"


def main():
    host, port, folder = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    os.makedirs(folder, exist_ok=True)
    ctl = Controller(Sink(folder), hostname=host, port=port)
    ctl.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    print(f"smtp sink on {host}:{port}", flush=True)
    while not stop.wait(0.2):
        pass
    ctl.stop()


if __name__ == "__main__":
    main()
