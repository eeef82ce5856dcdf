"""Branching a run: ``resume=<dir> resume_from=N <changes>`` keeps frames 0..N-1 and renders N onwards anew.

The new frames start from frame N-1's saved state (the mode's images, the RNG states), so they are exactly what a
fresh run with the new settings would make, when those settings give frames before N what the old ones gave. Any
setting may change except the frame size and the animation mode (the kept frames and states have them). The frames,
states and per-frame images it replaces go to ``retained/<time>/`` with the old config and record (DD's
``retain_overwritten_frames``), or are deleted with ``resume_retain=false``.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

from render.run.checkpoint import Checkpoints
from render.run.resume import STATE_DIR, ResumeError

RETAINED = "retained"
NOT_PER_FRAME = {STATE_DIR, RETAINED, ".hydra"}
REMADE = (".mp4", ".gif")  # the videos and previews, made again at the end


def set_aside(root: Path, frame: int, retain: bool, checkpoints: Checkpoints) -> Path | None:
    """Take frame ``frame`` and later out of the run (frames, per-frame images, states; the videos): moved to
    ``retained/<time>/`` with the config and record they were made with, or deleted. Returns that folder."""
    destination = _new_folder(root / RETAINED) if retain else None
    for path in _replaced_files(root, frame):
        if destination is None:
            path.unlink()
            continue
        target = destination / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), target)
    checkpoints.remove_from(frame, None if destination is None else destination / STATE_DIR)
    if destination is not None:
        for name in ("config.yaml", "run.json"):
            if (root / name).is_file():
                shutil.copy2(root / name, destination / name)
    return destination


def _replaced_files(root: Path, frame: int) -> list[Path]:
    """Files named by a frame number (``frames/00012.png``, ``vr/00012_l.png``, ``partials/00012_005.png``) of
    ``frame`` or later, and the videos and previews at the top."""
    found = [p for p in root.iterdir() if p.is_file() and p.suffix in REMADE]
    for folder in root.iterdir():
        if not folder.is_dir() or folder.name in NOT_PER_FRAME:
            continue
        for path in folder.rglob("*"):
            digits = path.name[:5]
            if path.is_file() and digits.isdigit() and int(digits) >= frame:
                found.append(path)
    return sorted(found)


def _new_folder(parent: Path) -> Path:
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    for n in range(1000):
        path = parent / (stamp if n == 0 else f"{stamp}_{n}")
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
    raise ResumeError(f"{parent}: cannot make a folder for the retained frames")
