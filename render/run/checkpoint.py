"""Per-frame state checkpoints: what a resumed run needs to continue exactly where it stopped.

After each finished frame the loop writes ``state/{frame:05d}.state``: the frame index, the animation mode's carried
state (the previous frame(s) it warps from, turbo chains), the RNG states of torch, numpy and python, the base seed and
a hash of the output-relevant config. The file is a magic line, the sha256 of the payload and the payload
(``torch.save`` of tensors and plain values only, so it loads with ``weights_only=True``), written atomically. The last
two are kept: a corrupt or truncated newest file is detected by its checksum and the one before it is used.
"""
from __future__ import annotations

import hashlib
import io
import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from render.disk.atomic import atomic_open

log = logging.getLogger(__name__)
MAGIC = b"DISCO-ANIM-STATE 1\n"
KEEP = 2


class CheckpointError(RuntimeError):
    pass


@dataclass
class FrameState:
    frame: int  # the last frame that is finished (its PNG and this state are on disk)
    seed: int
    config_hash: str
    mode: dict[str, Any]
    rng: dict[str, Any]


def rng_state() -> dict[str, Any]:
    """torch, numpy and python RNG states as tensors and plain values (loadable with ``weights_only=True``)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": {"version": version, "internal": torch.tensor(internal, dtype=torch.int64), "gauss": gauss},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["internal"]), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class Checkpoints:
    """The ``state/`` folder of a run."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def path(self, frame: int) -> Path:
        return self.folder / f"{frame:05d}.state"

    def save(self, state: FrameState) -> Path:
        payload = io.BytesIO()
        torch.save(state.__dict__, payload)
        data = payload.getvalue()
        path = self.path(state.frame)
        with atomic_open(path) as fh:
            fh.write(MAGIC + hashlib.sha256(data).hexdigest().encode() + b"\n" + data)
        for old in self._files()[:-KEEP]:
            old.unlink(missing_ok=True)
        return path

    def latest_frame(self) -> int:
        """The frame of the newest state file by name (not read), -1 when there is none."""
        files = self._files()
        return int(files[-1].stem) if files and files[-1].stem.isdigit() else -1

    def _files(self) -> list[Path]:
        return sorted(self.folder.glob("*.state")) if self.folder.is_dir() else []

    def latest(self, before: int | None = None) -> FrameState | None:
        """The newest intact state (of a frame before ``before``, when given); a corrupt newer file is reported and
        skipped. None when there is none."""
        problems = []
        files = self._files()
        if before is not None:
            files = [p for p in files if p.stem.isdigit() and int(p.stem) < before]
            if not files:
                return None
        for path in reversed(files):
            try:
                return self.read(path)
            except CheckpointError as exc:
                problems.append(str(exc))
                log.warning("%s; trying the one before", exc)
        if problems:
            raise CheckpointError("no intact state file in " + str(self.folder) + ":\n  " + "\n  ".join(problems))
        return None

    @staticmethod
    def read(path: Path) -> FrameState:
        raw = Path(path).read_bytes()
        if not raw.startswith(MAGIC):
            raise CheckpointError(f"{path} is not a state file (or is truncated)")
        digest, _, data = raw[len(MAGIC):].partition(b"\n")
        if hashlib.sha256(data).hexdigest().encode() != digest:
            raise CheckpointError(f"{path} is corrupt or truncated (checksum mismatch)")
        try:
            values = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
            return FrameState(**values)
        except Exception as exc:  # an intact checksum of unreadable content: a foreign or older format
            raise CheckpointError(f"{path} cannot be read ({type(exc).__name__}: {exc})") from None
