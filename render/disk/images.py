"""Frames as tensors and as 8-bit images.

Inside the renderer a frame is a float32 tensor ``(1, 3, H, W)`` in [0, 1]. It becomes 8-bit by truncation, exactly
as Disco Diffusion's ``ToPILImage`` does; the warps add DD's ``1/512 - 1e-4`` bias beforehand so that the truncation
rounds (see ``transforms.camera3d.EIGHT_BIT_BIAS``). The frame the next one is warped from is the 8-bit frame on disk,
so a run resumed from its PNG continues exactly.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as DecodeTimeout
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from render.disk.atomic import atomic_open

MAX_IMAGE_PIXELS = 64_000_000  # an init or prompt image beyond 8000x8000 is a decompression bomb or a mistake
IMAGE_TIMEOUT_S = 30.0


def to_uint8(frame: torch.Tensor) -> np.ndarray:
    """``(1,3,H,W)`` float in [0,1] -> ``(H,W,3)`` uint8, truncating like ``ToPILImage``."""
    if frame.ndim != 4 or frame.shape[:2] != (1, 3):
        raise ValueError(f"expected a (1,3,H,W) frame, got {tuple(frame.shape)}")
    x = frame.detach()[0].float().clamp(0, 1).mul(255).to(torch.uint8)
    return x.permute(1, 2, 0).cpu().numpy()


def from_uint8(image: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """``(H,W,3)`` uint8 -> ``(1,3,H,W)`` float32 in [0,1]."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H,W,3) uint8 image, got {image.dtype} {image.shape}")
    return torch.from_numpy(np.ascontiguousarray(image)).to(device).permute(2, 0, 1)[None].float().div(255)


def load_image(path: str | os.PathLike, width: int, height: int) -> np.ndarray:
    """Read an image as RGB and resize it to ``width``x``height`` with Lanczos (as DD does for init images)."""
    with Image.open(path) as img:
        img = img.convert("RGB")
        if img.size != (width, height):
            img = img.resize((width, height), Image.Resampling.LANCZOS)
        return np.asarray(img, dtype=np.uint8).copy()


def save_png_atomic(image: np.ndarray, path: Path) -> None:
    """Write a PNG so that ``path`` either does not exist or holds the whole image."""
    with atomic_open(path) as fh:
        Image.fromarray(image).save(fh, format="PNG")


def image_problem(path: Path) -> str | None:
    """Why ``path`` cannot be used as an image, or None: it must be a regular file that decodes fully within
    :data:`IMAGE_TIMEOUT_S` seconds and has at most :data:`MAX_IMAGE_PIXELS` pixels."""
    if not path.exists():
        return "file not found"
    if not path.is_file():
        return "is not a regular file (a folder, FIFO or device)"
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(_decode_problem, path).result(timeout=IMAGE_TIMEOUT_S)
    except DecodeTimeout:
        return f"took more than {IMAGE_TIMEOUT_S:g} s to decode"
    finally:
        pool.shutdown(wait=False)


def _decode_problem(path: Path) -> str | None:
    try:
        with Image.open(path) as img:
            w, h = img.size
            if w * h > MAX_IMAGE_PIXELS:
                return f"is {w}x{h} pixels, more than the limit of {MAX_IMAGE_PIXELS} (a decompression bomb?)"
            img.load()  # the whole data stream: a corrupt PNG fails here, not after the models are loaded
    except Image.DecompressionBombError as exc:
        return f"is too large to decode safely ({exc})"
    except (OSError, ValueError, SyntaxError, EOFError, Image.UnidentifiedImageError) as exc:
        return f"cannot be read as an image ({exc})"
    return None
