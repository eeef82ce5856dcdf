"""A frame as it forms: ``progress.png`` every K sampler steps and ``partials/`` at chosen steps (DD's
``display_rate`` and ``intermediate_saves``), encoded and written off the sampling thread.

The image is the step's predicted clean image (the model's ``pred_xstart``, what DD shows), truncated to 8 bits as
the frames are. Steps are counted as DD's ``j``: 0 is the first step the frame runs (after its skipped steps).
"""
from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Sequence

import numpy as np
import torch

from render.disk.quantize import frame_to_image

log = logging.getLogger(__name__)
PROGRESS_NAME = "progress.png"
PARTIALS_DIR = "partials"

SaveImage = Callable[[str, np.ndarray], object]  # (path relative to the run dir, HxWx3 uint8) -> anything


def partial_steps(spec: int | Sequence[int], n_steps: int) -> frozenset[int]:
    """The steps (of ``n_steps``) a frame keeps a partial image at: a count N gives N steps spaced as DD spaces
    them (``max(1, (n_steps-1) // (N+1))`` apart, the first one step-spacing in), a list gives those steps."""
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        if spec <= 0:
            return frozenset()
        spacing = max(1, (n_steps - 1) // (int(spec) + 1))
        return frozenset(range(spacing, n_steps, spacing)[: int(spec)])
    return frozenset(int(s) for s in spec if 0 <= int(s) < n_steps)


def partial_name(frame: int, step: int) -> str:
    return f"{PARTIALS_DIR}/{frame:05d}_{step:03d}.png"


class StepImages:
    """The generator's step hook: ``(frame, step, n_steps, pred_xstart in [-1, 1]) -> None``.

    Only the 8-bit conversion runs on the caller's thread; PNG encoding and the atomic write run on one worker
    thread, in order (so the last ``progress.png`` is the last one asked for). A failed write is logged, never
    raised: progress images must not stop a run. ``close()`` waits for the writes. ``on_saved(path, frame, step)``
    runs after each write (the run's events)."""

    def __init__(self, save: SaveImage, progress_every: int = 0, intermediate_saves: int | Sequence[int] = 0, *,
                 on_saved: Callable[[str, int, int], object] | None = None):
        self.save, self.every, self.spec = save, int(progress_every or 0), intermediate_saves or 0
        self.on_saved = on_saved
        self._steps: dict[int, frozenset[int]] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[Future] = []

    @property
    def active(self) -> bool:
        return self.every > 0 or bool(partial_steps(self.spec, 1 << 20))

    def wanted(self, step: int, n_steps: int) -> list[str] | None:
        """What ``step`` writes, as names for frame ``{frame}`` (None: nothing)."""
        if n_steps not in self._steps:
            self._steps[n_steps] = partial_steps(self.spec, n_steps)
        names = []
        if self.every and (step % self.every == 0 or step == n_steps - 1):
            names.append(PROGRESS_NAME)
        if step in self._steps[n_steps]:
            names.append(PARTIALS_DIR)
        return names or None

    def __call__(self, frame: int, step: int, n_steps: int, pred_xstart: torch.Tensor) -> None:
        names = self.wanted(step, n_steps)
        if names is None:
            return
        image = frame_to_image(pred_xstart.add(1).div(2))
        paths = [partial_name(frame, step) if name == PARTIALS_DIR else name for name in names]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="step-images")
        self._pending = [f for f in self._pending if not f.done()]
        self._pending.append(self._pool.submit(self._write_and_tell, paths, image, frame, step))

    def _write_and_tell(self, paths: list[str], image: np.ndarray, frame: int, step: int) -> None:
        written = self._write(paths, image)
        if self.on_saved is not None:
            for path in written or ():
                self.on_saved(path, frame, step)

    def _write(self, paths: list[str], image: np.ndarray) -> list[str]:
        written = []
        for path in paths:
            try:
                self.save(path, image)
                written.append(path)
            except Exception as exc:  # noqa: BLE001
                log.warning("could not write %s: %s", path, exc)
        return written

    def flush(self) -> None:
        """Wait until every image asked for is on disk."""
        for future in self._pending:
            future.result()
        self._pending = []

    def close(self) -> None:
        self.flush()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
