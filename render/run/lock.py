"""The run-dir lock: one process renders a run folder at a time (``.lock`` holds the holder's pid; a lock left by a
dead process is taken over)."""
from __future__ import annotations

import fcntl
import os
import shlex
from pathlib import Path

from render.user_error import UserError

LOCK_NAME = ".lock"


class RunLocked(UserError, RuntimeError):
    """Another live process is rendering this run folder."""

    def __init__(self, run_dir: Path, pid: int | None):
        self.run_dir, self.pid = Path(run_dir), pid
        holder = f"process {pid}" if pid else "another process"
        super().__init__(f"{self.run_dir}: {holder} is rendering this run folder (lock {self.run_dir / LOCK_NAME})\n"
                         f"    fix: wait for it to finish or stop it (kill {pid or '<pid>'}), then continue with "
                         f"python main.py resume={shlex.quote(str(self.run_dir))}; or start a new run elsewhere")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def _holder(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


def live_holder(run_dir: Path) -> int | None:
    """The pid of the live process that holds ``run_dir``'s lock on this machine, or None (no lock, or one left by a
    dead process); read without taking the lock, so a renderer starting meanwhile is never refused."""
    pid = _holder(Path(run_dir) / LOCK_NAME)
    return pid if pid is not None and _alive(pid) else None


class RunLock:
    """``with RunLock(run_dir):`` holds the folder's lock (an flock on ``.lock``, which names this pid)."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            pid = _holder(self.path)
            raise RunLocked(self.path.parent, pid) from None
        # flock is free: the file is ours, even if it names a pid (a dead holder, or a live one on a filesystem
        # without flock, which the pid check below still refuses)
        pid = _holder(self.path)
        if pid not in (None, os.getpid()) and _alive(pid) and not _flock_works(self.path):
            os.close(fd)
            raise RunLocked(self.path.parent, pid)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            if _holder(self.path) == os.getpid():
                self.path.unlink(missing_ok=True)
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _flock_works(path: Path) -> bool:
    """Whether a second flock on ``path`` is refused while we hold one (not so on some network filesystems)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False
