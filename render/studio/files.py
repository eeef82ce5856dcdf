"""A job's files, served only from inside its run dir under the studio's home: no ``..``, no absolute path, no NUL,
no symlink that leads out."""
from __future__ import annotations

from pathlib import Path, PurePosixPath

HIDDEN = (".lock", ".hydra")  # the renderer's own: not served


class OutsideRunDir(ValueError):
    """The path names something outside the run dir (the API's 403), or is malformed (400)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def resolve_file(run_dir: Path, relative: str) -> Path:
    """The file ``relative`` names inside ``run_dir``; raises :class:`OutsideRunDir`, or FileNotFoundError."""
    if not relative or "\x00" in relative or "\\" in relative:
        raise OutsideRunDir("a file path must be a relative path without NUL bytes or backslashes", 400)
    parts = PurePosixPath(relative).parts
    if PurePosixPath(relative).is_absolute() or ".." in parts or parts[0] in HIDDEN:
        raise OutsideRunDir("a file path must stay inside the run folder (no '..', no absolute path)", 400)
    root = Path(run_dir).resolve(strict=True)
    target = (root / relative).resolve()
    if not target.is_relative_to(root):
        raise OutsideRunDir("the path leads out of the run folder", 403)
    if not target.is_file():
        raise FileNotFoundError(relative)
    return target


def list_files(run_dir: Path) -> list[dict]:
    """Every file a job's run dir serves, with its size (symlinks out of it left out)."""
    root = Path(run_dir).resolve()
    if not root.is_dir():
        return []
    out = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if relative.split("/")[0] in HIDDEN or not path.is_file():
            continue
        if not path.resolve().is_relative_to(root):
            continue
        out.append({"path": relative, "bytes": path.stat().st_size})
    return out
