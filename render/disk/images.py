"""Image files: read and resized as DD does, written as PNGs atomically, and checked before use (a regular file,
a pixel limit, a full decode within a timeout). Their 8-bit conversion is ``render.disk.quantize``'s."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as DecodeTimeout
from pathlib import Path

import numpy as np
from PIL import Image

from render.disk.atomic import atomic_open

MAX_IMAGE_PIXELS = 64_000_000  # an init or prompt image beyond 8000x8000 is a decompression bomb or a mistake
IMAGE_TIMEOUT_S = 30.0


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


def file_problem(path: Path) -> str | None:
    """Why ``path`` is not a regular file, or None (a stat, nothing read)."""
    if not path.exists():
        return "file not found"
    if not path.is_file():
        return "is not a regular file (a folder, FIFO or device)"
    return None


def image_problem(path: Path) -> str | None:
    """Why ``path`` cannot be used as an image, or None: it must be a regular file that decodes fully within
    :data:`IMAGE_TIMEOUT_S` seconds and has at most :data:`MAX_IMAGE_PIXELS` pixels."""
    problem = file_problem(path)
    if problem:
        return problem
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
