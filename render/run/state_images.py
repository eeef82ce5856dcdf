"""How a frame state keeps the mode's images (render/run/checkpoint.py), from the cheapest: a reference to the frame
PNG in ``frames/`` whose decoded pixels it is (the frame itself; a wrapper's frame 0), verified by the sha256 of those
pixels when read; else a lossless PNG of its difference from the state's own frame (turbo's chains: close to the
frame); else, with no frame PNG beside the state, nothing here (the caller stores it as a raw blob)."""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

FRAME_KEY, DELTA_KEY = "__frame__", "__delta__"  # a reference to frames/{n}.png; a PNG of the difference from it
DELTA_PNG_LEVEL = 6  # zlib level of the difference PNGs: 9 saves ~2% for twice the time


class FrameMissing(Exception):
    """The frame PNG an image refers to is not there (``path``)."""

    def __init__(self, path: Path):
        super().__init__(str(path))
        self.path = path


class FrameChanged(Exception):
    """The frame PNG an image refers to does not decode to the pixels it had (``path``, ``problem``)."""

    def __init__(self, path: Path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = path, problem


@dataclass(frozen=True)
class FramePixels:
    pixels: np.ndarray  # (H, W, 3) uint8, as decoded from the PNG
    digest: str


def pixels_digest(pixels: np.ndarray) -> str:
    """sha256 of an (H, W, C) uint8 image: its shape, then its bytes."""
    header = ",".join(map(str, pixels.shape)).encode() + b"\n"
    return hashlib.sha256(header + np.ascontiguousarray(pixels).tobytes()).hexdigest()


def is_frame_image(value: Any) -> bool:
    """A (1, 3, H, W) uint8 tensor: what the modes carry (render/modes/base.py ``to_u8``)."""
    return isinstance(value, torch.Tensor) and value.dtype == torch.uint8 and value.ndim == 4 and \
        tuple(value.shape[:2]) == (1, 3)


class FrameFolder:
    """The ``frames/`` PNGs state images refer to, decoded on demand; frame 0 (every wrapper's) and the last other
    frame asked for are kept decoded, nothing more."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._kept: dict[int, tuple[tuple[int, int], FramePixels]] = {}

    def path(self, frame: int) -> Path:
        return self.folder / f"{int(frame):05d}.png"

    def get(self, frame: int) -> FramePixels | None:
        """Frame ``frame``'s decoded pixels and their digest; None when its PNG is not there."""
        path = self.path(frame)
        try:
            stat = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        key = (stat.st_mtime_ns, stat.st_size)
        kept = self._kept.get(frame)
        if kept is not None and kept[0] == key:
            return kept[1]
        try:
            with Image.open(path) as img:
                pixels = np.asarray(img.convert("RGB"), dtype=np.uint8)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            raise FrameChanged(path, f"cannot be decoded ({exc})") from None
        found = FramePixels(pixels, pixels_digest(pixels))
        self._kept = {f: v for f, v in self._kept.items() if f == 0}
        self._kept[frame] = (key, found)
        return found


def encode(image: torch.Tensor, frame: int, frames: FrameFolder) -> dict | None:
    """The stored form of a state image of ``frame``: a reference to the frame PNG (its own, or frame 0) it equals,
    or a PNG of its difference from its own frame's; None when that frame has no PNG of the image's size."""
    pixels = image[0].permute(1, 2, 0).contiguous().cpu().numpy()
    digest = pixels_digest(pixels)
    own = frames.get(frame)
    for candidate, found in ((frame, own), (0, frames.get(0) if frame != 0 else None)):
        if found is not None and found.digest == digest:
            return {FRAME_KEY: candidate, "sha256": digest}
    if own is None or own.pixels.shape != pixels.shape:
        return None
    buffer = io.BytesIO()
    Image.fromarray(pixels - own.pixels).save(buffer, format="PNG", compress_level=DELTA_PNG_LEVEL)  # mod 256
    return {DELTA_KEY: torch.frombuffer(bytearray(buffer.getvalue()), dtype=torch.uint8), FRAME_KEY: frame,
            "sha256": digest}


def decode(node: dict, frames: FrameFolder) -> torch.Tensor:
    """The image a stored form stands for, bit-exact; raises :class:`FrameMissing` or :class:`FrameChanged`."""
    path = frames.path(node[FRAME_KEY])
    found = frames.get(node[FRAME_KEY])
    if found is None:
        raise FrameMissing(path)
    pixels = found.pixels
    if DELTA_KEY in node:
        with Image.open(io.BytesIO(node[DELTA_KEY].numpy().tobytes())) as img:
            pixels = pixels + np.asarray(img, dtype=np.uint8)  # mod 256
    if pixels_digest(pixels) != node["sha256"]:
        raise FrameChanged(path, "its pixels differ from the frame's when its state was saved")
    return torch.from_numpy(pixels.transpose(2, 0, 1)[None].copy())  # a copy: the decoded frame is kept


def referenced_frames(node: Any) -> set[int]:
    """The frames the stored images in ``node`` (a state's mode dict) refer to."""
    if isinstance(node, dict):
        if FRAME_KEY in node:
            return {int(node[FRAME_KEY])}
        return set().union(*(referenced_frames(v) for v in node.values())) if node else set()
    return set()
