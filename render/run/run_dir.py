"""The run directory (Hydra's output dir): where a run's frames, video, config and plots go."""
from __future__ import annotations

import errno
import shlex
import shutil
from pathlib import Path

import numpy as np

from render.disk.atomic import atomic_open
from render.disk.images import save_png_atomic
from render.user_error import UserError

FRAMES_DIR = "frames"


class RunDir:
    """Paths inside one run's directory, and atomic writes into it."""

    def __init__(self, root: Path, batch_name: str):
        self.root = Path(root)
        self.batch_name = batch_name
        self.frames_dir = self.root / FRAMES_DIR
        self.video_path = self.root / f"{batch_name}.mp4"
        self.config_path = self.root / "config.yaml"
        self.schedules_plot = self.root / "schedules.png"

    def create(self) -> "RunDir":
        self.frames_dir.mkdir(parents=True, exist_ok=True)
        return self

    def frame_path(self, frame: int) -> Path:
        return self.frames_dir / f"{frame:05d}.png"

    def save_frame(self, frame: int, image: np.ndarray) -> Path:
        path = self.frame_path(frame)
        save_png_atomic(image, path)
        return path

    def save_extra(self, name: str, image: np.ndarray) -> Path:
        """An extra image of a frame under the run directory, e.g. ``vr/00005_l.png`` or ``depth/00005.png``."""
        path = self.root / name
        save_png_atomic(image, path)
        return path

    def write_text(self, path: Path, text: str) -> None:
        with atomic_open(path, "w") as fh:
            fh.write(text)


class DiskFull(UserError, OSError):
    """The disk filled up while the run wrote ``path``; every finished frame before it is intact."""

    def __init__(self, path: Path | str | None, need_bytes: int, free_bytes: int, run_dir: Path, done: int):
        self.path, self.need_bytes, self.free_bytes, self.run_dir = path, need_bytes, free_bytes, Path(run_dir)
        super().__init__(errno.ENOSPC, f"{path or run_dir}: no space left on device after frame {done}")
        self.message = (
            f"{path or run_dir}: the disk is full (no space left on device); frames up to {done} and their states "
            f"are intact.\n    need: about {_gb(need_bytes)} for the rest of the run, {_gb(free_bytes)} free on "
            f"{self.run_dir}\n    fix: free at least {_gb(max(need_bytes - free_bytes, 0) or need_bytes)}, then "
            f"continue with:\n  python main.py resume={shlex.quote(str(self.run_dir))}")

    def __str__(self) -> str:
        return self.message


def _gb(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def free_bytes(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 0
