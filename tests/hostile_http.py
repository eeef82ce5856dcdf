"""Hostile inputs for the download tests: a loopback HTTP server (127.0.0.1 only) that misbehaves on purpose, and
generated malformed URLs.

``GET /<route>/<name>`` serves ``files[name]`` (HTTP 404 when there is none, or on route ``missing``) the way the
route says: ``ok`` (with Content-Length), ``unsized`` (without), ``range`` (honours ``Range``), ``norange`` (ignores
it), ``truncate`` (announces the length, sends half and closes), ``truncate-once`` (a third the first time, then as
``range``), ``corrupt`` (the first byte flipped), ``redirect`` (302 to ``range``), ``slow`` (the headers, then the
body after ``SLOW_S`` seconds), ``drip`` (the body one byte per ``DRIP_S`` seconds), ``drip-headers`` (the header lines one byte per ``DRIP_S``),
``silent`` (answers nothing for ``SILENT_S`` seconds), ``status-<code>``, ``reset`` (closes with a TCP reset before
answering), ``loop`` (redirects to itself), ``huge`` (announces a terabyte), ``long-header`` (a header line past
http.client's limit), ``bad-status`` (not an HTTP status line), ``close`` (closes without a word).
"""
from __future__ import annotations

import re
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from hypothesis import strategies as st

DRIP_S = 0.2
SLOW_S = 1.0
SILENT_S = 3.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients that give up on the slow routes are the point


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: closing it ends a truncated body

    def log_message(self, *args):
        pass

    def do_GET(self):
        route, _, name = self.path.lstrip("/").partition("/")
        record = {"route": route, "name": name, "range": self.headers.get("Range"), "sent": 0}
        self.server.requests.append(record)
        body = self.server.files.get(name)
        if route.startswith("status-"):
            return self._send(int(route[7:]), b"no", record)
        if body is None or route == "missing":
            return self._send(404, b"not found", record)
        getattr(self, "_" + route.replace("-", "_"))(body, record)

    def _send(self, status, body, record, headers=(), length=None, send=None):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        out = body if send is None else body[:send]
        self.wfile.write(out)
        record["sent"] += len(out)

    def _ok(self, body, record):
        self._send(200, body, record)

    def _unsized(self, body, record):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)

    def _range(self, body, record):
        match = re.fullmatch(r"bytes=(\d+)-", record["range"] or "")
        if not match:
            return self._send(200, body, record)
        start = int(match[1])
        if start >= len(body):
            return self._send(416, b"", record, [("Content-Range", f"bytes */{len(body)}")])
        self._send(206, body[start:], record, [("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")])

    def _norange(self, body, record):
        self._send(200, body, record)

    def _truncate(self, body, record):
        self._send(200, body, record, send=len(body) // 2)

    def _truncate_once(self, body, record):
        if sum((r["route"], r["name"]) == (record["route"], record["name"]) for r in self.server.requests) == 1:
            return self._send(200, body, record, send=len(body) // 3)
        self._range(body, record)

    def _corrupt(self, body, record):
        self._send(200, bytes([body[0] ^ 0xFF]) + body[1:], record)

    def _redirect(self, body, record):
        self.send_response(302)
        self.send_header("Location", f"/range/{record['name']}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _slow(self, body, record):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.flush()
        time.sleep(SLOW_S)
        self.wfile.write(body)

    def _drip(self, body, record):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self._drip_bytes(body)

    def _drip_headers(self, body, record):
        self._drip_bytes(b"HTTP/1.0 200 OK\r\nX-Slow: " + b"x" * 1000 + b"\r\n\r\n" + body)

    def _drip_bytes(self, data):
        for i in range(len(data)):
            self.wfile.write(data[i:i + 1])
            self.wfile.flush()
            time.sleep(DRIP_S)

    def _silent(self, body, record):
        time.sleep(SILENT_S)

    def _reset(self, body, record):
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()  # SO_LINGER 0: the client sees ECONNRESET

    def _close(self, body, record):
        self.connection.shutdown(socket.SHUT_RDWR)

    def _loop(self, body, record):
        self.send_response(302)
        self.send_header("Location", self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _huge(self, body, record):
        self._send(200, body, record, length=10**12)

    def _long_header(self, body, record):
        self.wfile.write(b"HTTP/1.0 200 OK\r\nX-Long: " + b"x" * 70_000 + b"\r\n\r\n")

    def _bad_status(self, body, record):
        self.wfile.write(b"SPDY/9 banana\r\n\r\n")


class HostileServer:
    """The running server: ``files`` to serve, ``requests`` it got, ``url(route, name)``."""

    def __init__(self, files: dict[str, bytes], default_name: str = "file"):
        self.default_name = default_name
        self._srv = _Server(("127.0.0.1", 0), _Handler)
        self._srv.files, self._srv.requests = files, []
        self.files, self.requests = self._srv.files, self._srv.requests
        self._thread = threading.Thread(target=self._srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()

    def url(self, route: str, name: str | None = None) -> str:
        return f"http://127.0.0.1:{self._srv.server_address[1]}/{route}/{name or self.default_name}"

    def close(self) -> None:
        self._srv.shutdown()
        self._srv.server_close()


# Malformed URLs, generated: brackets, spaces and control characters, non-ASCII hosts (valid and not for IDNA),
# labels too long, empty hosts, ports out of range or not numbers. Name lookups are refused (no network).
HOSTS = st.one_of(
    st.sampled_from(["[::1", "[::1]]", "[zz::1]", "[]", "a b", "", "..", "a..b", "-", "a" * 64, "\x00", "a\tb",
                     "xn--", "@", "a@b@c", "127.0.0.1:80:80", "é" * 300]),
    st.text(st.characters(min_codepoint=0x80, max_codepoint=0x2FFF), min_size=1, max_size=12),
    st.text(" \t\r\n\x00\x7f[]@#%?:", min_size=1, max_size=5),
)
PORTS = st.one_of(st.just(""), st.integers(65536, 10**12).map(lambda p: f":{p}"),
                  st.integers(-10**6, -1).map(lambda p: f":{p}"), st.text("ab:-+ 0", min_size=1, max_size=4).map(
                      lambda p: f":{p}"))
PATHS = st.one_of(st.just("/x.png"), st.text(max_size=12).map(lambda t: "/" + t))
MALFORMED_URLS = st.builds(lambda scheme, host, port, path: f"{scheme}{host}{port}{path}",
                           st.sampled_from(["http://", "https://", "HTTP://"]), HOSTS, PORTS, PATHS)


def no_dns(host, *args, **kwargs):
    raise socket.gaierror(socket.EAI_NONAME, f"Name or service not known (the test allows no lookup of {host!r})")
