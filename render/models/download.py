"""Download model files: resumable, with fallback URLs, verified before the file gets its final name.

A download goes to ``<filename>.part`` (resumed with an HTTP Range request when it exists), is checked against the
registry's sha256 and only then renamed to ``<filename>``, so a file under its final name is always complete. The
transfer itself is ``render.models.http_fetch``'s.
"""
from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Iterable

from render.models import registry
from render.models.http_fetch import UrlFetchError, fetch_file, part_path, size_of
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
from render.user_error import UserError

log = logging.getLogger(__name__)

TIMEOUT_S = 60.0  # per connect and per read, not for the whole file
RETRIES = 3  # resumed attempts per URL after a connection that dropped mid-transfer


class DownloadError(UserError, RuntimeError):
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


def _reason(exc: UrlFetchError | ChecksumMismatch) -> str:
    """One line saying why a URL failed."""
    if isinstance(exc, ChecksumMismatch):
        return f"sha256 mismatch: got {exc.actual}, expected {exc.file.sha256 or exc.file.sha256_prefix}; deleted"
    return exc.reason


def _check_part(part: Path, file: ModelFile) -> str:
    """The sha256 of the finished ``part``; raises ChecksumMismatch when it is not the registry's file."""
    if file.size is not None and size_of(part) != file.size:
        raise ChecksumMismatch(part, file, f"(not hashed: {size_of(part)} bytes, expected {file.size})")
    digest = registry.sha256_file(part)
    if not registry.has_hash(file):
        log.warning("%s: no sha256 is known for %r; the download is not verified (sha256 %s)", part, file.key, digest)
    check_digest(part, file, digest)
    return digest


def _download_from(url: str, target: Path, file: ModelFile, progress: bool, timeout: float, retries: int,
                   deadline: float | None) -> str:
    """Fetch ``url`` to ``target``, checked before it gets its name, and return its sha256; a resumed file that
    fails the check is fetched once more whole."""
    resumed = size_of(part_path(target)) > 0
    log.info("downloading %s from %s%s", file.filename, url,
             f" (resuming at byte {size_of(part_path(target))})" if resumed else "")
    digests: list[str] = []
    fetch = functools.partial(fetch_file, url, target, timeout=timeout, deadline=deadline, resume=True,
                              retries=retries, expected_size=file.size, progress=file.filename if progress else None,
                              verify=lambda part: digests.append(_check_part(part, file)))
    try:
        fetch()
    except ChecksumMismatch:
        if not resumed:
            raise
        log.warning("%s: the resumed file does not verify; downloading it again from the start", url)
        fetch()
    return digests[-1]


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
             timeout: float = TIMEOUT_S, retries: int = RETRIES, deadline: float | None = None) -> Path:
    """Download ``file`` into the models folder (no-op when it is there and verifies); returns its path.

    Tries ``file.urls`` in order, each within ``timeout`` seconds per read and ``deadline`` seconds in all (none by
    default: a checkpoint of gigabytes takes what it takes); raises DownloadError listing every URL and why it
    failed. A file without a published sha256 is checked against its prefix and against the copy first used here, if
    one was recorded (ChangedModelFile), or against the digest pinned for it (``vouched_file``).
    """
    target = resolve_models_dir(models_dir) / file.filename
    file = vouched_file(file, target)
    if _present_and_valid(target, file):
        return target
    failures: list[tuple[str, str]] = []
    for url in file.urls:
        try:
            digest = _download_from(url, target, file, progress, timeout, retries, deadline)
        except (UrlFetchError, ChecksumMismatch) as exc:
            failures.append((url, _reason(exc)))
            log.warning("%s: %s", url, failures[-1][1])
            continue
        write_sidecar(target, digest)
        log.info("saved %s", target)
        return target
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
