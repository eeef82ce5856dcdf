"""The run directory (Hydra's output dir): where a run's frames, video, config and plots go."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from render.disk.atomic import atomic_open
from render.disk.images import save_png_atomic


class RunDir:
    """Paths inside one run's directory, and atomic writes into it."""

    def __init__(self, root: Path, batch_name: str):
        self.root = Path(root)
        self.batch_name = batch_name
        self.frames_dir = self.root / "frames"
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
