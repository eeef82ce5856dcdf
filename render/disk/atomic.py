"""Atomic file writes: a reader sees the old file or the whole new one, never a partial write."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

from render.disk.faults import fault_point

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_open(path: Path, mode: str = "wb") -> Iterator[IO]:
    """Open a temp file beside ``path``; on success fsync it and rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give them the usual permissions
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        _rename(Path(tmp), path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def rename_into_place(tmp: Path, path: Path) -> Path:
    """Give a finished file written under a temporary name beside ``path`` (by ffmpeg, a download) its final name:
    its bytes are flushed to disk (fsync) first, so ``path`` never names a partial file, even after a power cut."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    _rename(Path(tmp), Path(path))
    return Path(path)


def _rename(tmp: Path, path: Path) -> None:
    fault_point(f"write:{path.name}")
    os.replace(tmp, path)
