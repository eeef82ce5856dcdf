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
from dataclasses import dataclass
from pathlib import Path

from render.config.plan import RenderPlan
from render.run.checkpoint import Checkpoints, FrameState
from render.run.resume import STATE_DIR, ResumeError, changed_keys, output_relevant

RETAINED = "retained"
NOT_PER_FRAME = {STATE_DIR, RETAINED, ".hydra"}
REMADE = (".mp4", ".gif")  # the videos and previews, made again at the end


@dataclass(frozen=True)
class Branch:
    frame: int  # the first frame rendered anew
    changed: list[str]  # the settings that differ from the run's (output-relevant ones)
    retain: bool


def branch_state(checkpoints: Checkpoints, frame: int, finished: int) -> FrameState | None:
    """Frame ``frame - 1``'s state (None for a branch at frame 0); named errors for a frame that cannot be one."""
    if frame < 0:
        raise ResumeError(f"resume_from={frame}: a branch starts at a frame number, 0 or more\n    fix: "
                          f"resume_from=<frame>, at most {finished + 1} (the frame after the last finished one)")
    if frame > finished + 1:
        raise ResumeError(f"resume_from={frame} is past the run's last finished frame ({finished})\n    fix: "
                          f"branch at frame {finished + 1} or earlier, or resume without resume_from to continue")
    if frame == 0:
        return None
    path = checkpoints.path(frame - 1)
    if not path.is_file():
        starts = [0] + [f + 1 for f in checkpoints.frames() if f + 1 <= finished + 1]
        raise ResumeError(f"resume_from={frame}: the state of frame {frame - 1} was not kept (output.keep_states "
                          f"keeps only the newest states)\n    fix: branch at one of the frames "
                          f"{', '.join(map(str, starts))}; keep output.keep_states=null in runs you will branch")
    return checkpoints.read(path)


def branch_of(frame: int, saved: dict, current: dict, retain: bool) -> Branch:
    return Branch(frame, changed_keys(output_relevant(saved), output_relevant(current)), retain)


def check_branch_plan(old: RenderPlan, new: RenderPlan, saved: dict, current: dict, branch: Branch) -> None:
    """A branch keeps the frame size and the mode, and leaves a frame to render."""
    mode = tuple(getattr(m, "value", m) for m in (saved.get("animation", {}).get("mode"),
                                                    current.get("animation", {}).get("mode")))
    if mode[0] != mode[1]:
        raise ResumeError(f"resume_from={branch.frame}: animation.mode {mode[0]} -> {mode[1]}; the frames kept "
                          f"and their states are of the {mode[0]} mode\n    fix: keep animation.mode={mode[0]}, or "
                          f"start a new run")
    if (old.width, old.height) != (new.width, new.height):
        raise ResumeError(f"resume_from={branch.frame}: the frame size {old.width}x{old.height} -> "
                          f"{new.width}x{new.height}; the frames kept are {old.width}x{old.height}\n    fix: keep "
                          f"width={old.width} height={old.height}, or start a new run (output.upscale enlarges "
                          f"the video)")
    if branch.frame >= new.n_frames:
        raise ResumeError(f"resume_from={branch.frame}: the run has {new.n_frames} frames, so nothing is left to "
                          f"render from there\n    fix: branch at a frame below {new.n_frames}, or give more "
                          f"frames (animation.max_frames)")


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
