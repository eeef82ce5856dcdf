"""One HTTP download, used for weight files and for images given as URLs: streamed to a ``.part`` file beside the
target, refused past a size limit, abandoned after a per-read timeout or an overall deadline, resumed with an HTTP
Range request where asked, checked by the caller's ``verify`` and only then renamed to the target (fsync, replace).

Whatever goes wrong on the way (a malformed URL, DNS, TLS, a refused or reset connection, an HTTP error status, a
redirect loop, a malformed answer, a body cut short, a server that drips bytes past the deadline, a full disk) is a
``UrlFetchError`` naming the URL with a one-line reason; no other exception of the HTTP stack gets out.
"""
from __future__ import annotations

import functools
import http.client
import logging
import os
import re
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from tqdm import tqdm

from render.disk.atomic import rename_into_place
from render.user_error import UserError

log = logging.getLogger(__name__)

USER_AGENT = "disco-anim/0.1 (+urllib)"
READ_CHUNK = 1 << 20
PART_SUFFIX = ".part"
SCHEMES = ("http", "https")
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)")
# connections that dropped mid-transfer: worth resuming while each attempt still gets more bytes
_RETRYABLE = (TimeoutError, ConnectionError, http.client.IncompleteRead)


class UrlFetchError(UserError, RuntimeError):
    """A URL that could not be fetched: says which, and why in one line (offline, refused, too large, too slow)."""

    def __init__(self, url: str, reason: str):
        self.url, self.reason = url, reason
        super().__init__(f"{url}: {reason}")


class IncompleteTransfer(ConnectionError):
    """The server closed the connection before the whole body arrived."""


class _TooLarge(Exception):
    pass


class _DeadlinePassed(Exception):
    pass


class _RangeMismatch(ValueError):
    pass


# everything the HTTP stack, a malformed URL or the disk can raise on the way (URLError, socket.timeout, SSLError,
# ConnectionError are OSErrors; InvalidURL, RemoteDisconnected, IncompleteRead, LineTooLong are HTTPExceptions;
# UnicodeError from a host IDNA cannot encode is a ValueError; a timeout too large for the socket overflows)
_FAILURES = (OSError, ValueError, OverflowError, http.client.HTTPException, _TooLarge, _DeadlinePassed)


def part_path(target: Path, resume: bool = True) -> Path:
    """Where ``target`` is written while it downloads: ``<target>.part`` (resumable), or a name of this process's
    own when the download starts over each time (two runs fetching one URL at once never share a file)."""
    return target.with_name(target.name + PART_SUFFIX + ("" if resume else str(os.getpid())))


def size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def fetch_file(url: str, target: Path, *, timeout: float, deadline: float | None = None,
               max_bytes: int | None = None, resume: bool = False, retries: int = 0,
               expected_size: int | None = None, verify: Callable[[Path], object] | None = None,
               progress: str | None = None) -> Path:
    """Download ``url`` to ``target`` and return ``target``; raises UrlFetchError.

    ``timeout`` bounds the connection and each read, ``deadline`` (seconds, optional) the whole download, redirects
    included. ``max_bytes`` refuses a larger body. With ``resume`` an existing ``<target>.part`` is continued with an
    HTTP Range request and kept after a failure (the next call goes on from there); a connection that drops is
    resumed up to ``retries`` times while it still makes progress. ``verify(part)`` runs on the finished file
    before it gets its name: whatever it raises is raised as it is, and the part is deleted. ``progress`` is the
    name on a progress bar (none when None).
    """
    part, watch = part_path(target, resume), None
    try:
        _check_url(url)
        _check_seconds(url, timeout, deadline)
        watch = _Watch(deadline)
        target.parent.mkdir(parents=True, exist_ok=True)
        _fetch_resuming(url, part, _Transfer(timeout, max_bytes, resume, expected_size, progress, watch), retries)
    except BaseException as exc:
        if not resume or not size_of(part):
            part.unlink(missing_ok=True)
        if isinstance(exc, _FAILURES):
            late = watch is not None and watch.passed()  # past the deadline, a shut socket fails in any way
            raise UrlFetchError(url, reason(_DeadlinePassed() if late else exc, timeout, deadline)) from exc
        raise
    finally:
        if watch is not None:
            watch.stop()
    try:
        if verify is not None:
            verify(part)
        return rename_into_place(part, target)
    except BaseException as exc:
        part.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise UrlFetchError(url, f"cannot be saved as {target} ({_one_line(exc)})") from exc
        raise


def reason(exc: BaseException, timeout: float, deadline: float | None = None) -> str:
    """One line saying why a download failed."""
    if isinstance(exc, urllib.error.HTTPError):
        if "infinite loop" in str(exc.reason) or "maximum redirection" in str(exc.reason):
            return f"HTTP {exc.code}: redirects in a loop, or more than 10 of them"
        return f"HTTP {exc.code} {_one_line(exc.reason)}"
    if isinstance(exc, _DeadlinePassed):
        return f"took longer than {deadline:g} s for the whole download (the server is too slow); gave up"
    if isinstance(exc, urllib.error.URLError):
        if isinstance(exc.reason, TimeoutError):
            return f"timed out after {timeout:g} s"
        return f"cannot connect (offline, or the host is unreachable): {_one_line(exc.reason)}"
    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout:g} s without data"
    if isinstance(exc, (IncompleteTransfer, _TooLarge, _RangeMismatch)):
        return _one_line(exc)
    if isinstance(exc, http.client.IncompleteRead):
        return f"connection closed after {len(exc.partial)} bytes of a chunk"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    if isinstance(exc, ConnectionError):
        return f"connection lost: {_one_line(exc)}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {_one_line(exc)}"
    if isinstance(exc, (http.client.InvalidURL, ValueError, OverflowError)):
        return f"is not a valid URL ({_one_line(exc)})"
    if isinstance(exc, http.client.HTTPException):
        return f"the server's answer is not valid HTTP ({type(exc).__name__}: {_one_line(exc)})"
    return f"{type(exc).__name__}: {_one_line(exc)}"


def _one_line(value) -> str:
    return " ".join(str(value).split()) or type(value).__name__


def _check_seconds(url: str, timeout: float, deadline: float | None) -> None:
    for name, value in (("timeout", timeout), ("deadline", deadline)):
        if value is not None and not 0 < value <= threading.TIMEOUT_MAX:  # NaN fails too
            raise UrlFetchError(url, f"the {name} must be a positive number of seconds, not {value!r}")


def _check_url(url: str) -> None:
    """A ValueError for what is wrong before any connection: the scheme, no host, a port out of range."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES:
        raise ValueError(f"only http:// and https:// URLs are fetched, not {parts.scheme or 'a URL without a scheme'}")
    if not parts.hostname:
        raise ValueError("it names no host")
    parts.port  # noqa: B018 (raises ValueError for a port out of range or not a number)


# ---------------------------------------------------------------------------------------------------------------
# The deadline: a timer shuts every socket of the download, so no read (of a header line or the body) outlives it


class _Watch:
    def __init__(self, seconds: float | None):
        self.end = None if seconds is None else time.monotonic() + seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = None
        if seconds is not None:
            self._timer = threading.Timer(max(seconds, 0.0), self._expire)
            self._timer.daemon = True
            self._timer.start()

    def register(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def read_timeout(self, timeout: float) -> float:
        """``timeout``, or less when the deadline is closer; raises _DeadlinePassed after it."""
        self.check()
        return timeout if self.end is None else min(timeout, max(self.end - time.monotonic(), 1e-3))

    def passed(self) -> bool:
        return self.expired or (self.end is not None and time.monotonic() >= self.end)

    def check(self) -> None:
        if self.passed():
            raise _DeadlinePassed()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)  # wakes a blocked recv at once (close() would not)
    except OSError:
        pass


def _watched(base: type[http.client.HTTPConnection]):
    class Watched(base):
        def __init__(self, *args, watch: _Watch, **kwargs):
            super().__init__(*args, **kwargs)
            create = self._create_connection

            def create_and_watch(*a, **kw):
                sock = create(*a, **kw)
                watch.register(sock)
                return sock
            self._create_connection = create_and_watch
    return Watched


_WatchedHTTP = _watched(http.client.HTTPConnection)
_WatchedHTTPS = _watched(http.client.HTTPSConnection)


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, watch: _Watch):
        super().__init__()
        self.watch = watch

    def http_open(self, req):
        return self.do_open(functools.partial(_WatchedHTTP, watch=self.watch), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, watch: _Watch):
        super().__init__()
        self.watch = watch

    def https_open(self, req):
        return self.do_open(functools.partial(_WatchedHTTPS, watch=self.watch), req, context=self._context)


# ---------------------------------------------------------------------------------------------------------------
# The transfer


class _Transfer:
    def __init__(self, timeout, max_bytes, resume, expected_size, progress, watch: _Watch):
        self.timeout, self.max_bytes, self.resume = timeout, max_bytes, resume
        self.expected_size, self.progress, self.watch = expected_size, progress, watch
        self.opener = urllib.request.build_opener(_HTTPHandler(watch), _HTTPSHandler(watch))


def _fetch_resuming(url: str, part: Path, t: _Transfer, retries: int) -> None:
    """One request, resumed up to ``retries`` times while dropped connections still make progress."""
    for attempt in range(retries + 1):
        before = size_of(part)
        try:
            return _fetch_once(url, part, t)
        except _RETRYABLE as exc:
            t.watch.check()
            if not t.resume or size_of(part) <= before or attempt == retries:
                raise
            log.warning("%s: %s; resuming at byte %d (retry %d of %d)",
                        url, reason(exc, t.timeout), size_of(part), attempt + 1, retries)


def _fetch_once(url: str, part: Path, t: _Transfer) -> None:
    """One request: continue ``part`` from its size (or restart it when the server sends the whole file)."""
    offset = size_of(part) if t.resume else 0
    if t.expected_size is not None and offset >= t.expected_size:
        if offset == t.expected_size:
            return  # complete: the caller's check decides
        part.unlink()
        offset = 0
    headers = {"User-Agent": USER_AGENT, **({"Range": f"bytes={offset}-"} if offset else {})}
    try:
        response = t.opener.open(urllib.request.Request(url, headers=headers), timeout=t.watch.read_timeout(t.timeout))
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code != 416 or not offset:
            raise
        if not _unsatisfiable_range(exc, part, offset):
            _fetch_once(url, part, t)
        return
    with response:
        start, total = _body_start(response, offset)
        if t.max_bytes is not None and total is not None and total > t.max_bytes:
            raise _TooLarge(f"is {total / 1e6:.1f} MB, larger than the {t.max_bytes / 1e6:g} MB limit")
        _copy_body(response, part, start, total, t)


def _body_start(response, offset: int) -> tuple[int, int | None]:
    """Where the response body starts in the file and the file's total size (None when unknown)."""
    length = response.headers.get("Content-Length")
    length = int(length) if length and length.strip().isdigit() else None
    if response.status != 206:
        if offset:
            log.info("the server ignored the Range request; downloading from the start")
        return 0, length
    match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
    if not match or int(match[1]) != offset:
        raise _RangeMismatch(f"asked for bytes {offset}- but the server sent Content-Range "
                             f"{response.headers.get('Content-Range')!r}")
    total = int(match[3]) if match[3] != "*" else (offset + length if length is not None else None)
    return offset, total


def _copy_body(response, part: Path, start: int, total: int | None, t: _Transfer) -> None:
    """Write the body at ``start`` of ``part`` (truncating anything after it), within the size limit and deadline."""
    size = start
    with open(part, "ab" if start else "wb") as out, \
            tqdm(total=total, initial=start, desc=t.progress, unit="B", unit_scale=True, unit_divisor=1024,
                 disable=t.progress is None, leave=False, dynamic_ncols=True) as bar:
        while chunk := response.read1(READ_CHUNK):  # read1: returns what has arrived, so the deadline is seen
            size += len(chunk)
            if t.max_bytes is not None and size > t.max_bytes:
                raise _TooLarge(f"is larger than the {t.max_bytes / 1e6:g} MB limit")
            out.write(chunk)
            bar.update(len(chunk))
            t.watch.check()
        t.watch.check()  # a socket shut at the deadline reads as the end of the body
    if total is not None and size < total:
        raise IncompleteTransfer(f"connection closed after {size} of {total} bytes")


def _unsatisfiable_range(exc: urllib.error.HTTPError, part: Path, offset: int) -> bool:
    """After HTTP 416: True when ``part`` already holds the whole file, else it is deleted (start over)."""
    match = _UNSATISFIED_RANGE.match(exc.headers.get("Content-Range", "") if exc.headers else "")
    if match and int(match[1]) == offset:
        return True
    part.unlink(missing_ok=True)
    return False
