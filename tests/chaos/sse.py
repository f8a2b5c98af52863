"""Many SSE alert-stream clients on one thread (selectors, non-blocking
sockets), each behaving like a browser's EventSource: it reconnects after
the stream ends, sending Last-Event-ID (the last `id:` it saw, an opaque
string), and records every alert it receives (alert_id, event id, arrival
time). A client may also drop its own connection a fixed time after each
open (a flaky network) and then wait the server's `retry:` like a browser.
Handles plain and chunked bodies.
"""
import json
import random
import selectors
import socket
import threading
import time

HOST = "127.0.0.1"


class SseClient:
    def __init__(self, pool, cid, port, cookie, user, resume=True, drop_every=None,
                 label=""):
        self.pool = pool
        self.cid = cid
        self.port = port
        self.cookie = cookie
        self.user = user
        self.resume = resume
        # Seconds after each 200 at which the client closes the socket itself
        # (None: never); it then reconnects after the server's retry: delay.
        self.drop_every = drop_every
        self.label = label
        self.sock = None
        self.last_id = None  # EventSource's "last event ID string"
        self.retry_ms = None  # the last retry: the server sent
        self.events = []  # (alert_id, event id, arrival time, payload dict)
        self.connects = 0
        self.opened = 0  # streams that answered 200
        self.opens = []  # (time of the 200, Last-Event-ID sent or None)
        self.self_drops = 0  # connections the client closed itself
        self.statuses = []
        self.refusals = []  # (status, start of the body) of every non-200 answer
        self.state = "idle"
        self.next_connect = 0.0
        self.open_at = 0.0  # monotonic time of the current stream's 200
        self.sent_id = None
        self.kick = False  # reconnect_now() asked for an immediate reconnect
        self.closed = False
        self._reset()

    def _reset(self):
        self.inbuf = b""
        self.headers_done = False
        self.chunked = False
        self.chunk_left = 0
        self.body = b""
        self.ev_lines = []

    def request_bytes(self):
        h = [f"GET /api/stream-alerts HTTP/1.1", f"Host: {HOST}:{self.port}",
             f"Cookie: user_id={self.cookie}", "Accept: text/event-stream",
             "Cache-Control: no-cache"]
        # EventSource sends the header only for a non-empty last event id.
        self.sent_id = self.last_id if self.resume and self.last_id else None
        if self.sent_id is not None:
            h.append(f"Last-Event-ID: {self.sent_id}")
        return ("\r\n".join(h) + "\r\n\r\n").encode()

    # -- parsing
    def feed(self, data):
        self.inbuf += data
        if not self.headers_done:
            i = self.inbuf.find(b"\r\n\r\n")
            if i < 0:
                return
            head = self.inbuf[:i].decode(errors="replace").split("\r\n")
            self.inbuf = self.inbuf[i + 4:]
            self.headers_done = True
            try:
                status = int(head[0].split()[1])
            except (IndexError, ValueError):
                status = -1
            self.statuses.append(status)
            for line in head[1:]:
                k, _, v = line.partition(":")
                if k.strip().lower() == "transfer-encoding" and "chunked" in v.lower():
                    self.chunked = True
            if status != 200:
                self.refusals.append((status, self.inbuf[:120].decode(errors="replace")))
                self.state = "bad_status"
                return
            self.opened += 1
            self.open_at = time.monotonic()
            self.opens.append((time.time(), self.sent_id))
        if self.chunked:
            self._dechunk()
        else:
            self.body += self.inbuf
            self.inbuf = b""
        self._parse_events()

    def _dechunk(self):
        while True:
            if self.chunk_left > 0:
                take = self.inbuf[:self.chunk_left]
                self.body += take
                self.inbuf = self.inbuf[len(take):]
                self.chunk_left -= len(take)
                if self.chunk_left > 0:
                    return
                self.chunk_left = -2  # CRLF after the chunk
            if self.chunk_left == -2:
                if len(self.inbuf) < 2:
                    return
                self.inbuf = self.inbuf[2:]
                self.chunk_left = 0
            i = self.inbuf.find(b"\r\n")
            if i < 0:
                return
            try:
                n = int(self.inbuf[:i].split(b";")[0], 16)
            except ValueError:
                n = 0
            self.inbuf = self.inbuf[i + 2:]
            if n == 0:
                self.state = "ended"
                return
            self.chunk_left = n

    def _parse_events(self):
        while True:
            i = self.body.find(b"\n")
            if i < 0:
                return
            line = self.body[:i].rstrip(b"\r").decode(errors="replace")
            self.body = self.body[i + 1:]
            if line == "":
                self._dispatch()
            elif line.startswith("retry:"):
                v = line[7:] if line.startswith("retry: ") else line[6:]
                if v.isascii() and v.isdigit():  # the spec ignores anything but ASCII digits
                    self.retry_ms = int(v)
            elif not line.startswith(":"):
                self.ev_lines.append(line)

    def _dispatch(self):
        data = []
        ev_id = None
        ev_type = "message"
        for line in self.ev_lines:
            k, _, v = line.partition(":")
            v = v[1:] if v.startswith(" ") else v
            if k == "id" and "\0" not in v:
                ev_id = v
            elif k == "data":
                data.append(v)
            elif k == "event":
                ev_type = v or "message"
        self.ev_lines = []
        if ev_id is not None:
            self.last_id = ev_id
        if not data or ev_type != "message":
            return
        try:
            p = json.loads("\n".join(data))
        except ValueError:
            self.pool.bad_events += 1
            return
        if isinstance(p, dict) and "alert_id" in p:
            # The id as EventSource reports it (MessageEvent.lastEventId).
            self.events.append((p["alert_id"], self.last_id, time.time(), p))
            if p.get("user_id") != self.user:
                self.pool.foreign_events.append((self.cid, p))


class SsePool:
    """Runs clients on a background thread. reconnect_delay: seconds (a
    (min, max) range) between a stream's end and the next attempt."""

    def __init__(self, reconnect_delay=(1.0, 1.0)):
        self.sel = selectors.DefaultSelector()
        self.clients = []
        self.lock = threading.Lock()
        self.reconnect_delay = reconnect_delay
        self.bad_events = 0
        self.foreign_events = []
        self.stop_flag = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.rpipe, self.wpipe = socket.socketpair()
        self.rpipe.setblocking(False)
        self.sel.register(self.rpipe, selectors.EVENT_READ, None)
        self.thread.start()

    def add(self, port, cookie, user, resume=True, last_id=None, drop_every=None, label=""):
        with self.lock:
            c = SseClient(self, len(self.clients), port, cookie, user, resume, drop_every,
                          label)
            c.last_id = last_id
            c.next_connect = 0.0
            self.clients.append(c)
        self.wpipe.send(b"x")
        return c

    def open_count(self):
        with self.lock:
            return sum(1 for c in self.clients if c.state == "open" and c.headers_done and
                       c.statuses and c.statuses[-1] == 200)

    def _connect(self, c):
        c._reset()
        c.kick = False
        c.connects += 1
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect((HOST, c.port))
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            self._schedule(c)
            return
        c.sock = s
        c.state = "connecting"
        c.outbuf = c.request_bytes()
        self.sel.register(s, selectors.EVENT_WRITE, c)

    def _schedule(self, c):
        lo, hi = self.reconnect_delay
        c.state = "waiting"
        if c.kick:
            c.next_connect = 0.0
        elif c.drop_every is not None and c.retry_ms is not None:
            # A flaky-network client is a browser: it waits the server's retry:.
            c.next_connect = time.monotonic() + c.retry_ms / 1000.0
        else:
            c.next_connect = time.monotonic() + random.uniform(lo, hi)

    def _drop(self, c):
        if c.sock is not None:
            try:
                self.sel.unregister(c.sock)
            except (KeyError, ValueError):
                pass
            c.sock.close()
            c.sock = None
        if c.closed:
            c.state = "closed"
        else:
            self._schedule(c)

    def _io(self, c, mask):
        if c.state == "connecting" and mask & selectors.EVENT_WRITE:
            err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self._drop(c)
                return
            try:
                n = c.sock.send(c.outbuf)
            except OSError:
                self._drop(c)
                return
            c.outbuf = c.outbuf[n:]
            if not c.outbuf:
                c.state = "open"
                self.sel.modify(c.sock, selectors.EVENT_READ, c)
            return
        if mask & selectors.EVENT_READ:
            try:
                data = c.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:
                self._drop(c)
                return
            c.feed(data)
            if c.state in ("bad_status", "ended"):
                self._drop(c)

    def _run(self):
        while not self.stop_flag:
            now = time.monotonic()
            with self.lock:
                todo = [c for c in self.clients
                        if c.state in ("idle", "waiting") and not c.closed and
                        (c.next_connect <= now or c.kick)]
                # Streams whose time is up (flaky network) or asked to reconnect now.
                cut = [c for c in self.clients
                       if c.sock is not None and c.state == "open" and c.headers_done and
                       c.statuses and c.statuses[-1] == 200 and
                       (c.kick or (c.drop_every is not None and
                                   now - c.open_at >= c.drop_every))]
                flaky = any(c.drop_every is not None for c in self.clients)
            for c in cut:
                if not c.kick:
                    c.self_drops += 1
                self._drop(c)
            for c in todo:
                self._connect(c)
            for key, mask in self.sel.select(0.01 if flaky else 0.1):
                if key.data is None:
                    try:
                        self.rpipe.recv(4096)
                    except BlockingIOError:
                        pass
                    continue
                self._io(key.data, mask)
            with self.lock:
                closing = [c for c in self.clients if c.closed and c.sock is not None]
            for c in closing:
                self._drop(c)

    def reconnect_now(self, c):
        """Makes c drop its stream and reconnect at once (with Last-Event-ID)."""
        with self.lock:
            c.kick = True
        self.wpipe.send(b"x")

    def close_client(self, c):
        c.closed = True
        self.wpipe.send(b"x")

    def close(self):
        with self.lock:
            for c in self.clients:
                c.closed = True
        self.wpipe.send(b"x")
        time.sleep(0.3)
        self.stop_flag = True
        self.thread.join(5)
        for c in self.clients:
            if c.sock is not None:
                c.sock.close()
