"""Branching a run: ``resume=<dir> resume_from=N <changes>`` keeps frames 0..N-1 and renders N onwards anew.

The new frames start from frame N-1's saved state (the mode's images, the RNG states), so they are exactly what a
fresh run with the new settings would make, when those settings give frames before N what the old ones gave. Any
setting may change except the frame size and the animation mode (the kept frames and states have them). The frames,
states and per-frame images it replaces go to ``retained/<time>/`` with the old config, pins and record (DD's
``retain_overwritten_frames``), or are deleted with ``resume_retain=false``.

A branch is a transaction. Everything it needs is checked before anything moves (the state and its images, frame 0
for a wrapper that needs it, the sizes, the new plan). Then ``branch.json`` (the journal) lists every move, the old
config, pins and record are copied aside, and the files move one by one; the new config, pins and record are
written; the journal is marked committed and removed (and, without ``resume_retain``, the set-aside files deleted).
A stop at any point (SIGKILL, a full disk) leaves a journal that the next ``resume=`` of the run reads first: before
the commit it moves every file back and restores the old config, pins and record (the run is as it was, and the same
branch can be run again); after it, it finishes the commit.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from render.config.pins import PINS_FILE
from render.disk.atomic import atomic_open
from render.disk.faults import fault_point
from render.run.checkpoint import BLOBS, Checkpoints, link_or_copy
from render.run.resume import STATE_DIR, ResumeError

RETAINED = "retained"
JOURNAL = "branch.json"
NOT_PER_FRAME = {STATE_DIR, RETAINED, ".hydra"}
REMADE = (".mp4", ".gif")  # the videos and previews, made again at the end
KEPT_ASIDE = ("config.yaml", "run.json", f"{STATE_DIR}/{PINS_FILE}")  # copied aside: restored if the branch fails


@dataclass(frozen=True)
class SetAside:
    """A branch in progress: where the replaced files went and its journal."""

    root: Path
    destination: Path
    retain: bool

    @property
    def journal(self) -> Path:
        return self.root / JOURNAL


def set_aside(root: Path, frame: int, retain: bool, checkpoints: Checkpoints) -> SetAside:
    """Move frame ``frame`` and later out of the run (frames, per-frame images, states; the videos) into
    ``retained/<time>/``, journalled; :func:`commit` ends the branch once the new config and record are written."""
    destination = _new_folder(root / RETAINED)
    states = [p for p in checkpoints.files() if int(p.stem) >= frame]
    moves = [(p, destination / p.relative_to(root)) for p in _replaced_files(root, frame) + states]
    aside = SetAside(root, destination, retain)
    _write_journal(aside, "moving", moves)
    for name in KEPT_ASIDE:  # whole or absent (atomic), so that an undo never restores half a file
        if (root / name).is_file():
            with atomic_open(destination / name) as fh:
                fh.write((root / name).read_bytes())
    for step, (source, target) in enumerate(moves):
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.suffix == ".state":  # a state set aside keeps the images it refers to (hard links)
            for name in checkpoints.blobs_of(source):
                (target.parent / BLOBS).mkdir(parents=True, exist_ok=True)
                link_or_copy(checkpoints.folder / BLOBS / f"{name}.u8", target.parent / BLOBS / f"{name}.u8")
        os.replace(source, target)
        fault_point(f"branch:{step}")
    return aside


def commit(aside: SetAside, checkpoints: Checkpoints) -> Path | None:
    """The new config, pins and record are written: the branch is done. Returns where the replaced files are kept
    (None: deleted, ``resume_retain=false``)."""
    _write_journal(aside, "committed", [])
    fault_point("branch:commit")
    return _finish(aside, checkpoints)


def _finish(aside: SetAside, checkpoints: Checkpoints) -> Path | None:
    if not aside.retain:
        shutil.rmtree(aside.destination, ignore_errors=True)
        _remove_if_empty(aside.root / RETAINED)
    checkpoints.collect_blobs()
    aside.journal.unlink(missing_ok=True)
    return aside.destination if aside.retain else None


def recover(root: Path) -> str | None:
    """Finish or undo a branch that stopped part way (its journal is there); returns what was done, or None."""
    root, checkpoints = Path(root), Checkpoints(Path(root) / STATE_DIR)
    path = root / JOURNAL
    if not path.is_file():
        return None
    try:
        journal = json.loads(path.read_text(encoding="utf-8"))
        aside = SetAside(root, root / journal["destination"], bool(journal["retain"]))
        moves = [(root / a, root / b) for a, b in journal["moves"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ResumeError(f"{path} (a branch that stopped part way) cannot be read ({exc})\n    fix: move the files "
                          f"under {root / RETAINED} back by hand, delete {path}, and resume again") from None
    if journal.get("status") == "committed":
        _finish(aside, checkpoints)
        return "finished the branch that stopped after it was written"
    for source, target in reversed(moves):
        if target.exists() and not source.exists():
            source.parent.mkdir(parents=True, exist_ok=True)
            os.replace(target, source)
    for name in KEPT_ASIDE:
        if (aside.destination / name).is_file():
            with atomic_open(root / name) as fh:
                fh.write((aside.destination / name).read_bytes())
    shutil.rmtree(aside.destination, ignore_errors=True)
    _remove_if_empty(root / RETAINED)
    path.unlink(missing_ok=True)
    return "undid the branch that stopped part way: the run is as it was before it"


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:  # absent, or it keeps earlier branches' frames
        pass


def _write_journal(aside: SetAside, status: str, moves: list[tuple[Path, Path]]) -> None:
    entry = {"status": status, "destination": str(aside.destination.relative_to(aside.root)), "retain": aside.retain,
             "moves": [[str(a.relative_to(aside.root)), str(b.relative_to(aside.root))] for a, b in moves]}
    with atomic_open(aside.journal, "w") as fh:
        json.dump(entry, fh, indent=1)


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
