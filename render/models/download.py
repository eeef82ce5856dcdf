"""Download model files: resumable, with fallback URLs, verified before the file gets its final name.

A download goes to ``<filename>.part`` (resumed with an HTTP Range request when it exists), is checked against the
registry's sha256 and only then renamed to ``<filename>``, so a file under its final name is always complete.
"""
from __future__ import annotations

import http.client
import logging
import os
import re
from pathlib import Path
from typing import Iterable
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from tqdm import tqdm

from render.models import registry
from render.models.registry import (
    PRESET_FILES,
    ChecksumMismatch,
    MissingModelFiles,
    ModelFile,
    check_digest,
    find,
    resolve,
    resolve_models_dir,
    verify,
    vouched_file,
    write_sidecar,
)

log = logging.getLogger(__name__)

USER_AGENT = "disco-anim/0.1 (+urllib)"
TIMEOUT_S = 60.0  # per connect and per read, not for the whole file
RETRIES = 3  # resumed attempts per URL after a connection that dropped mid-transfer
READ_CHUNK = 1 << 20
PART_SUFFIX = ".part"
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_RETRYABLE = (TimeoutError, ConnectionError, http.client.IncompleteRead)


class DownloadError(RuntimeError):
    """Every URL of a file failed; the message lists each URL and why."""

    def __init__(self, file: ModelFile, target: Path, failures: list[tuple[str, str]]):
        self.file, self.target, self.failures = file, target, failures
        self.summary = "\n".join(f"{url}: {why}" for url, why in failures) or "the registry lists no URL"
        part = part_path(target)
        kept = (f"\n{size_of(part)} bytes are kept in {part}; running the download again resumes there."
                if size_of(part) else "")
        tried = "\n".join(f"  - {line}" for line in self.summary.splitlines())
        super().__init__(f"could not download {file.key!r} ({file.filename}) to {target}; "
                         f"tried {len(failures)} URL{'s' if len(failures) != 1 else ''}:\n{tried}{kept}")


class IncompleteTransfer(ConnectionError):
    """The server closed the connection before the whole body arrived."""


def part_path(target: Path) -> Path:
    return target.with_name(target.name + PART_SUFFIX)


def size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _reason(exc: BaseException, timeout: float) -> str:
    """One line saying why a URL failed."""
    if isinstance(exc, HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, URLError):
        if isinstance(exc.reason, TimeoutError):
            return f"timed out after {timeout:g} s"
        return f"cannot connect: {exc.reason}"
    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout:g} s without data"
    if isinstance(exc, ChecksumMismatch):
        return f"sha256 mismatch: got {exc.actual}, expected {exc.file.sha256 or exc.file.sha256_prefix}; deleted"
    return f"{type(exc).__name__}: {exc}" if not isinstance(exc, IncompleteTransfer) else str(exc)


# ---------------------------------------------------------------------------------------------------------------
# One HTTP request


def _body_start(response, offset: int) -> tuple[int, int | None]:
    """Where the response body starts in the file and the file's total size (None when unknown)."""
    length = response.headers.get("Content-Length")
    length = int(length) if length and length.isdigit() else None
    if response.status != 206:
        if offset:
            log.info("the server ignored the Range request; downloading from the start")
        return 0, length
    match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
    if not match or int(match[1]) != offset:
        raise ValueError(f"asked for bytes {offset}- but the server sent Content-Range "
                         f"{response.headers.get('Content-Range')!r}")
    total = int(match[3]) if match[3] != "*" else (offset + length if length is not None else None)
    return offset, total


def _copy_body(response, part: Path, start: int, total: int | None, name: str, progress: bool) -> None:
    """Write the body at ``start`` of ``part`` (truncating anything after it) with a progress bar."""
    received = 0
    with open(part, "ab" if start else "wb") as out, \
            tqdm(total=total, initial=start, desc=name, unit="B", unit_scale=True, unit_divisor=1024,
                 disable=not progress, leave=False, dynamic_ncols=True) as bar:
        while chunk := response.read(READ_CHUNK):
            out.write(chunk)
            received += len(chunk)
            bar.update(len(chunk))
        out.flush()
        os.fsync(out.fileno())
    if total is not None and start + received < total:
        raise IncompleteTransfer(f"connection closed after {start + received} of {total} bytes")


def _unsatisfiable_range(exc: HTTPError, part: Path, offset: int) -> bool:
    """After HTTP 416: True when ``part`` already holds the whole file, else it is deleted (start over)."""
    match = re.match(r"bytes\s+\*/(\d+)", exc.headers.get("Content-Range", "") if exc.headers else "")
    if match and int(match[1]) == offset:
        return True
    part.unlink(missing_ok=True)
    return False


def _fetch_once(url: str, part: Path, file: ModelFile, progress: bool, timeout: float) -> None:
    """One request: resume ``part`` from its size (or restart it when the server sends the whole file)."""
    offset = size_of(part)
    if file.size is not None and offset >= file.size:
        if offset == file.size:
            return  # complete: the hash decides
        part.unlink()
        offset = 0
    headers = {"User-Agent": USER_AGENT, **({"Range": f"bytes={offset}-"} if offset else {})}
    try:
        response = urlopen(Request(url, headers=headers), timeout=timeout)
    except HTTPError as exc:
        if exc.code != 416 or not offset:
            raise
        if not _unsatisfiable_range(exc, part, offset):
            _fetch_once(url, part, file, progress, timeout)
        return
    with response:
        start, total = _body_start(response, offset)
        _copy_body(response, part, start, total, file.filename, progress)


def _fetch(url: str, part: Path, file: ModelFile, progress: bool, timeout: float, retries: int) -> None:
    """``_fetch_once``, resumed up to ``retries`` times while dropped connections still make progress."""
    for attempt in range(retries + 1):
        before = size_of(part)
        try:
            return _fetch_once(url, part, file, progress, timeout)
        except _RETRYABLE as exc:
            if size_of(part) <= before or attempt == retries:
                raise
            log.warning("%s: %s; resuming at byte %d (retry %d of %d)",
                        url, _reason(exc, timeout), size_of(part), attempt + 1, retries)


# ---------------------------------------------------------------------------------------------------------------
# One file


def _check_part(part: Path, file: ModelFile) -> str:
    """The sha256 of the finished ``part``; raises ChecksumMismatch when it is not the registry's file."""
    if file.size is not None and size_of(part) != file.size:
        raise ChecksumMismatch(part, file, f"(not hashed: {size_of(part)} bytes, expected {file.size})")
    digest = registry.sha256_file(part)
    if not registry.has_hash(file):
        log.warning("%s: no sha256 is known for %r; the download is not verified (sha256 %s)", part, file.key, digest)
    check_digest(part, file, digest)
    return digest


def _download_from(url: str, part: Path, file: ModelFile, progress: bool, timeout: float, retries: int) -> str:
    """Fetch ``url`` into ``part`` and check it; a resumed file that fails the check is fetched once more whole."""
    resumed = size_of(part) > 0
    log.info("downloading %s from %s%s", file.filename, url, f" (resuming at byte {size_of(part)})" if resumed else "")
    _fetch(url, part, file, progress, timeout, retries)
    try:
        return _check_part(part, file)
    except ChecksumMismatch:
        part.unlink(missing_ok=True)
        if not resumed:
            raise
        log.warning("%s: the resumed file does not verify; downloading it again from the start", url)
    _fetch(url, part, file, progress, timeout, retries)
    try:
        return _check_part(part, file)
    except ChecksumMismatch:
        part.unlink(missing_ok=True)
        raise


def _present_and_valid(target: Path, file: ModelFile) -> bool:
    if not target.is_file():
        return False
    try:
        verify(target, file)
        return True
    except ChecksumMismatch as exc:
        log.warning("%s\nDownloading it again.", exc)
        return False


def download(file: ModelFile, models_dir: str | os.PathLike | None = None, *, progress: bool = True,
             timeout: float = TIMEOUT_S, retries: int = RETRIES) -> Path:
    """Download ``file`` into the models folder (no-op when it is there and verifies); returns its path.

    Tries ``file.urls`` in order; raises DownloadError listing every URL and why it failed. A file without a
    published sha256 is checked against its prefix and against the copy first used here, if one was recorded
    (ChangedModelFile), or against the digest pinned for it (``vouched_file``).
    """
    target = resolve_models_dir(models_dir) / file.filename
    file = vouched_file(file, target)
    if _present_and_valid(target, file):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(target)
    failures: list[tuple[str, str]] = []
    for url in file.urls:
        try:
            digest = _download_from(url, part, file, progress, timeout, retries)
        except (OSError, ValueError, http.client.HTTPException, ChecksumMismatch) as exc:
            failures.append((url, _reason(exc, timeout)))
            log.warning("%s: %s", url, failures[-1][1])
            continue
        os.replace(part, target)
        write_sidecar(target, digest)
        log.info("saved %s", target)
        return target
    if part.is_file() and not size_of(part):
        part.unlink()
    raise DownloadError(file, target, failures)


def _present_file(file: ModelFile, models_dir: Path, allow_download: bool) -> Path | None:
    """The verified path of ``file`` or None when it must be downloaded (absent, or corrupt and downloading is on)."""
    path = find(file, models_dir)
    if path is None:
        return None
    try:
        verify(path, file)
    except ChecksumMismatch as exc:
        if not allow_download:
            raise
        log.warning("%s\nDownloading it again.", exc)
        return None
    return path


def ensure(files: Iterable[str | ModelFile], models_dir: str | os.PathLike | None = None, *,
           allow_download: bool = False, progress: bool = True) -> dict[str, Path]:
    """Paths of the named files (keys, aliases, presets), verified; download missing ones when allowed.

    Raises MissingModelFiles listing every file that is still missing, and how to get it.
    """
    folder = resolve_models_dir(models_dir)
    found: dict[str, Path] = {}
    missing: list[ModelFile] = []
    # a pinned digest that is not a sha256 stops everything before any byte is fetched (UnverifiedModelFile)
    for file in [vouched_file(f, folder / f.filename) for f in resolve(files)]:
        path = _present_file(file, folder, allow_download)
        if path is None:
            missing.append(file)
        else:
            found[file.key] = path
    if missing and not allow_download:
        raise MissingModelFiles(missing, folder)
    reasons: dict[str, str] = {}
    for file in missing:
        try:
            found[file.key] = download(file, folder, progress=progress)
        except DownloadError as exc:
            reasons[file.key] = exc.summary
    if reasons:
        raise MissingModelFiles([f for f in missing if f.key in reasons], folder, reasons)
    return found


def download_preset(name: str, models_dir: str | os.PathLike | None = None, progress: bool = True) -> dict[str, Path]:
    """Download every file of ``PRESET_FILES[name]`` that is missing; returns key -> path."""
    if name not in PRESET_FILES:
        raise KeyError(f"unknown model preset {name!r}; presets: {', '.join(PRESET_FILES)}")
    return ensure(PRESET_FILES[name], models_dir, allow_download=True, progress=progress)
