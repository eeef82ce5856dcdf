"""On-disk cache of forward/backward flow per frame pair, so a sweep over one video computes flow once.

Layout: ``<root>/<slug>-<digest>/pair_<index:06d>.npz`` holding ``fwd`` and ``bwd`` (float32 (H, W, 2), the
``flow.estimators`` convention), with ``key.json`` beside them describing the key. The folder name is derived
from the whole key (video content sha256, frame size, backend name with its settings, nth), so changing any of
them computes new flow. Files are written atomically (``render.disk.atomic.atomic_open``): concurrent renders may
both compute a pair, and a reader never sees a partial file.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from flow.warp import check_flow
from render.disk.atomic import atomic_open

log = logging.getLogger(__name__)

FlowPair = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class FlowKey:
    """What a cached flow depends on. ``size`` is (width, height); ``backend`` is the estimator's ``name``."""

    video_sha256: str
    size: tuple[int, int]
    backend: str
    nth: int = 1

    def __post_init__(self):
        object.__setattr__(self, "size", (int(self.size[0]), int(self.size[1])))
        if not re.fullmatch(r"[0-9a-f]{64}", self.video_sha256):
            raise ValueError(f"video_sha256 must be 64 lowercase hex digits, got {self.video_sha256!r}")
        if not self.backend or self.nth < 1 or min(self.size) < 1:
            raise ValueError(f"invalid flow cache key {self}")

    @classmethod
    def for_video(cls, video_sha256: str, size: tuple[int, int], estimator, nth: int = 1) -> "FlowKey":
        """The key of flow from ``estimator`` (its ``name``) over a video of this content
        (``flow.extract.content_sha256``)."""
        return cls(video_sha256, tuple(size), estimator.name, nth)

    def folder_name(self) -> str:
        """``<video hash prefix>-<W>x<H>-n<nth>-<backend>-<digest of the whole key>``, file-system safe."""
        backend = re.sub(r"[^A-Za-z0-9._-]+", "_", self.backend)[:60]
        digest = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]
        return f"{self.video_sha256[:12]}-{self.size[0]}x{self.size[1]}-n{self.nth}-{backend}-{digest}"


class FlowCache:
    """Forward/backward flow of frame pairs under ``root``; see the module docstring."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(os.path.expanduser(root))

    def folder(self, key: FlowKey) -> Path:
        return self.root / key.folder_name()

    def path(self, key: FlowKey, index: int) -> Path:
        """The file of pair ``index`` (extracted frames index and index + 1)."""
        if index < 0:
            raise ValueError(f"pair index must be >= 0, got {index}")
        return self.folder(key) / f"pair_{index:06d}.npz"

    def get(self, key: FlowKey, index: int) -> FlowPair | None:
        """The cached ``(fwd, bwd)`` of pair ``index``, or None when absent or unreadable (logged)."""
        path = self.path(key, index)
        if not path.is_file():
            return None
        try:
            with np.load(path) as data:
                pair = data["fwd"], data["bwd"]
            _check_pair(pair, key)
            return pair
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            log.warning("ignoring unreadable cached flow %s: %s", path, exc)
            return None

    def put(self, key: FlowKey, index: int, fwd: np.ndarray, bwd: np.ndarray) -> Path:
        """Store ``(fwd, bwd)`` for pair ``index`` atomically; returns the file."""
        pair = check_flow(fwd), check_flow(bwd)
        _check_pair(pair, key)
        self._write_key(key)
        buffer = io.BytesIO()
        np.savez(buffer, fwd=pair[0], bwd=pair[1])  # uncompressed: noise-like floats barely compress
        path = self.path(key, index)
        with atomic_open(path, "wb") as fh:
            fh.write(buffer.getvalue())
        return path

    def get_or_compute(self, key: FlowKey, index: int, compute: Callable[[], FlowPair]) -> FlowPair:
        """The cached pair, or ``compute()`` (returning ``(fwd, bwd)``), stored, then returned."""
        cached = self.get(key, index)
        if cached is not None:
            return cached
        fwd, bwd = compute()
        self.put(key, index, fwd, bwd)
        return check_flow(fwd), check_flow(bwd)

    def _write_key(self, key: FlowKey) -> None:
        path = self.folder(key) / "key.json"
        if not path.is_file():
            with atomic_open(path, "w") as fh:
                json.dump(asdict(key), fh, indent=2)


def _check_pair(pair: FlowPair, key: FlowKey) -> None:
    width, height = key.size
    for flow in pair:
        if flow.shape != (height, width, 2):
            raise ValueError(f"flow shape {flow.shape} does not match the key's size {width}x{height}")
