"""Helpers shared by the Python test suites (the webapp contract test, the
end-to-end tests and the chaos harness): python3 standard library only.

  mint_cookie(user, secret)  a user_id cookie signed the way the webapp signs it
  request(method, port, path, ...)
                             one HTTP request on a fresh connection -> Resp
  prepare(body, cookie, headers, raw)
                             the headers and bytes request() would send
  wait_until, free_port, port_open
  SseParser                  EventSource's reading of an event stream, a line at a time
"""
import hashlib
import hmac
import http.client
import json
import socket
import time

HOST = "127.0.0.1"
COOKIE_LABEL = b"stock-alerts user_id v1:"


def mint_cookie(user, secret):
    mac = hmac.new(secret.encode(), COOKIE_LABEL + user.encode(), hashlib.sha256).hexdigest()
    return f"{user}.{mac}"


def wait_until(pred, timeout, step=0.2):
    """Polls pred() until it returns a truthy value (returned) or timeout (None)."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= end:
            return None
        time.sleep(step)


def free_port(host=HOST):
    s = socket.socket()
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def port_open(port, host=HOST):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class Resp:
    """An HTTP answer. status 0 is used by callers for a transport error."""

    def __init__(self, status, headers, body, elapsed=0.0):
        self.status = status
        self.headers = headers
        self.body = body
        self.elapsed = elapsed

    def json(self):
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def header(self, name):
        vals = self.all(name)
        return vals[0] if vals else None


def prepare(body=None, cookie=None, headers=None, raw=None):
    """(headers, raw bytes) of a request: body is sent as JSON unless raw is given."""
    h = dict(headers or {})
    if cookie is not None:
        h["Cookie"] = f"user_id={cookie}"
    if raw is None and body is not None:
        raw = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    return h, raw


def request(method, port, path, body=None, cookie=None, headers=None, raw=None, timeout=10,
            host=HOST, chunked=False):
    """One request on a fresh connection (no retry, so every failure counts).
    Raises OSError / http.client.HTTPException on transport errors."""
    h, raw = prepare(body, cookie, headers, raw)
    t0 = time.monotonic()
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        if chunked:
            c.request(method, path, body=iter([raw]), headers=h, encode_chunked=True)
        else:
            c.request(method, path, body=raw, headers=h)
        r = c.getresponse()
        data = r.read()
        return Resp(r.status, r.getheaders(), data, time.monotonic() - t0)
    finally:
        c.close()


class SseParser:
    """What EventSource makes of an event stream, fed one line at a time
    (without its line break). line() returns the event a blank line ends, as
    a dict: "id" (the id field, or None), "event" (its type, "message" when
    unnamed), "data" (the data lines joined, None when there were none),
    "retry" (ms, or None), "comments" (the comment lines); else None.
    Callers keep an event's id even without data, as a browser does."""

    def __init__(self):
        self._new()

    def _new(self):
        self.cur = {"id": None, "event": "message", "data": None, "retry": None, "comments": []}
        self._data = []

    def line(self, line):
        if line == "":
            ev = self.cur
            if self._data:
                ev["data"] = "\n".join(self._data)
            self._new()
            return ev if (ev["data"] is not None or ev["id"] is not None or ev["comments"] or
                          ev["retry"] is not None) else None
        if line.startswith(":"):
            self.cur["comments"].append(line[1:].strip())
            return None
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            self._data.append(value)
        elif field == "id":
            self.cur["id"] = value
        elif field == "event":
            self.cur["event"] = value or "message"
        elif field == "retry" and value.isdigit():
            self.cur["retry"] = int(value)
        return None
