"""The studio's settings: where its home is, what it binds to, its token, how many jobs run at once and where."""
from __future__ import annotations

import ipaddress
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path

EXECUTORS = ("local", "submitit-local", "slurm")
DEFAULT_HOME = Path("outputs/studio")
DEFAULT_PORT = 8765
MAX_BODY = 1 << 20  # bytes of a request body (a config's YAML text is far smaller)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class StudioConfig:
    """``slots``: one entry per job that may run at once, the ``CUDA_VISIBLE_DEVICES`` it gets (None: the
    server's own); an empty tuple holds the queue without running it."""

    home: Path
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    token: str | None = None
    slots: tuple[str | None, ...] = (None,)
    executor: str = "local"
    max_body: int = MAX_BODY
    python: str = field(default_factory=lambda: sys.executable)
    max_attempts: int = 3  # deaths in a row without a finished frame (SIGKILL, out of memory) before a job fails
    poll_s: float = 0.2  # how often running jobs are looked at
    media: tuple[Path, ...] = ()  # folders whose songs the page may play, beside the home and the working folder

    def __post_init__(self):
        object.__setattr__(self, "home", Path(self.home).expanduser().resolve())
        if self.executor not in EXECUTORS:
            raise ValueError(f"executor {self.executor!r}: one of {', '.join(EXECUTORS)}")

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def queue_path(self) -> Path:
        return self.home / "queue.sqlite"

    @property
    def media_roots(self) -> list[Path]:
        """Where songs may be served from: the home, the folder the server started in, and ``media``."""
        return [self.home, Path.cwd(), *(Path(m).expanduser() for m in self.media)]

    @property
    def path_roots(self) -> list[Path] | None:
        """Where a job's files may be, when the server listens beyond loopback (None: anywhere, as on the CLI)."""
        return None if is_loopback(self.host) else self.media_roots

    def with_token(self) -> "StudioConfig":
        """A bind beyond loopback needs a token: one is generated when none was given."""
        if self.token or is_loopback(self.host):
            return self
        return StudioConfig(**{**self.__dict__, "token": secrets.token_urlsafe(24)})
