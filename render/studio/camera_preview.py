"""``POST /api/preview``: the camera preview of a config (``generator=camera``'s frames, drawn with NumPy in the
server's own process, off its event loop), as JPEG frames under ``<home>/previews/<id>/``.

The id is a hash of everything the frames depend on (mode, values per frame, sizes, frame 0's picture), so editing
back and forth finds the frames already drawn; a call draws the frames of ``[start, start + count)`` not yet there.
One preview is drawn at a time (the others wait), on as many threads as the machine has cores; the oldest previews
beyond :data:`KEEP` are removed."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from render.config.plan import RenderPlan
from render.config.schema import Config
from render.generators.camera_scene import CameraScene, reference_picture
from render.studio.models import PreviewOut

PREVIEWS = "previews"
KEEP = 24  # previews kept on disk
VERSION = "camera-scene-1"  # bump when the drawing changes
_DRAWING = threading.Lock()


def preview_size(plan: RenderPlan, width: int) -> tuple[int, int]:
    """The preview's size: ``width`` and the run's aspect, both even (the scene is drawn at any size)."""
    width = int(width)
    height = max(2, round(width * plan.height / plan.width / 2) * 2)
    return width - width % 2, height


def preview_id(settings: Config, plan: RenderPlan, size: tuple[int, int], picture: np.ndarray | None) -> str:
    digest = hashlib.sha256(json.dumps([VERSION, settings.animation.mode.value, plan.n_frames, plan.width,
                                        plan.height, list(size)]).encode())
    for name in sorted(plan.schedules):
        digest.update(name.encode() + np.asarray(plan.schedules[name], dtype=np.float64).tobytes())
    if picture is not None:
        digest.update(picture.tobytes())
    return digest.hexdigest()[:40]


def frame_name(n: int) -> str:
    return f"{n:05d}.jpg"


def draw_preview(home: Path, settings: Config, plan: RenderPlan, width: int, start: int, count: int) -> PreviewOut:
    """The preview's frames ``[start, start + count)`` on disk (drawn when missing) and where to get them."""
    size = preview_size(plan, width)
    picture = reference_picture(settings, plan)
    key = preview_id(settings, plan, size, picture)
    folder = Path(home) / PREVIEWS / key
    start = min(start, max(plan.n_frames - 1, 0))
    wanted = [n for n in range(start, min(start + count, plan.n_frames)) if not (folder / frame_name(n)).is_file()]
    began = time.perf_counter()
    if wanted:
        with _DRAWING:
            folder.mkdir(parents=True, exist_ok=True)
            scene = CameraScene(settings.animation.mode.value, plan.schedules, plan.n_frames, (plan.width,
                                plan.height), size, picture)
            with ThreadPoolExecutor(max(1, os.cpu_count() or 1)) as pool:
                list(pool.map(lambda n: _write_frame(scene, n, folder), wanted))
        prune(Path(home) / PREVIEWS, keep=KEEP)
    os.utime(folder)  # the newest used is the last pruned
    return PreviewOut(id=key, n_frames=plan.n_frames, fps=plan.fps, width=size[0], height=size[1], start=start,
                      count=min(count, plan.n_frames - start), frames=f"/api/previews/{key}/{{n}}.jpg",
                      seconds=round(time.perf_counter() - began, 3) if wanted else 0.0,
                      picture="init_image" if picture is not None else "test card")


def _write_frame(scene: CameraScene, n: int, folder: Path) -> None:
    """A frame's JPEG, renamed into place whole (a cache: no fsync)."""
    temporary = folder / f".{frame_name(n)}.tmp"
    Image.fromarray(scene.frame(n)).save(temporary, format="JPEG", quality=88)
    os.replace(temporary, folder / frame_name(n))


def prune(root: Path, keep: int) -> None:
    """All but the ``keep`` previews used last removed."""
    folders = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in folders[keep:]:
        shutil.rmtree(old, ignore_errors=True)


def preview_file(home: Path, key: str, name: str) -> Path | None:
    """A preview's frame by its id and name (``00012.jpg``); None when there is no such file or the names are not
    a preview's."""
    if not (len(key) == 40 and all(c in "0123456789abcdef" for c in key)):
        return None
    stem = name.removesuffix(".jpg")
    if not (name.endswith(".jpg") and stem.isdigit() and len(stem) <= 6):
        return None
    path = Path(home) / PREVIEWS / key / frame_name(int(stem))
    return path if path.is_file() else None
