"""Per-frame state checkpoints: what a resumed or branched run needs to start at any frame exactly.

After each finished frame the loop writes ``state/{frame:05d}.state``: the frame index, the animation mode's carried
state (the previous frame(s) it warps from, turbo chains), the RNG states of torch, numpy and python, the base seed and
a hash of the output-relevant config. The file is a magic line, the sha256 of the payload and the payload
(``torch.save`` of tensors and plain values only, so it loads with ``weights_only=True``), written atomically.

Every frame's state is kept (``output.keep_states`` may keep only the newest N), so a run can be branched at any
frame; so it must take little disk (render/run/state_images.py): an image of the mode that is a frame on disk (the
frame itself, a wrapper's frame 0) is a reference to its PNG, verified by the sha256 of its pixels when read (a PNG
changed since is named, never used); turbo's chain images are PNGs of their difference from the frame. An image with
no frame PNG beside it goes to ``state/blobs/<sha256>.u8`` once, as every state of earlier versions (format 1) did;
those still load. A corrupt or truncated newest state (a blob by its name, a state whose frame PNG is gone) is
detected and the one before it is used.
"""
from __future__ import annotations

import hashlib
import io
import logging
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from render.disk.atomic import atomic_open
from render.run.run_dir import FRAMES_DIR
from render.run.state_images import (
    FRAME_KEY,
    FrameChanged,
    FrameFolder,
    FrameMissing,
    decode,
    encode,
    is_frame_image,
    referenced_frames,
)
from render.user_error import UserError

log = logging.getLogger(__name__)
MAGIC = b"DISCO-ANIM-STATE 2\n"  # 2: images may refer to frames/ (state_images.py)
READABLE = (b"DISCO-ANIM-STATE 1\n", MAGIC)
BLOB_MAGIC = b"DISCO-ANIM-BLOB 1 "
BLOB_KEY = "__blob__"
BLOB_MIN_BYTES = 1 << 16  # smaller tensors (the RNG states) stay inside the state file
BLOBS = "blobs"


class CheckpointError(UserError, RuntimeError):
    pass


class FramePngMissing(CheckpointError):
    """A frame PNG a state refers to is gone: that state cannot be used (the frame is rendered again)."""


class FramePngChanged(CheckpointError):
    """A frame PNG a state refers to no longer holds the pixels it had: never used, never skipped silently."""


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
    """The ``state/`` folder of a run; ``keep``: how many of the newest states to keep (None: all)."""

    def __init__(self, folder: Path, keep: int | None = None):
        self.folder = Path(folder)
        self.keep = keep
        self._frames = FrameFolder(self.folder.parent / FRAMES_DIR)

    def path(self, frame: int) -> Path:
        return self.folder / f"{frame:05d}.state"

    def save(self, state: FrameState) -> Path:
        values = dict(state.__dict__, mode=self._store_images(state.mode, state.frame))
        payload = io.BytesIO()
        torch.save(values, payload)
        data = payload.getvalue()
        path = self.path(state.frame)
        with atomic_open(path) as fh:
            fh.write(MAGIC + hashlib.sha256(data).hexdigest().encode() + b"\n" + data)
        if self.keep is not None and len(self.files()) > self.keep:
            for old in self.files()[:-self.keep]:
                old.unlink(missing_ok=True)
            self.collect_blobs()
        return path

    def _store_images(self, node: Any, frame: int) -> Any:
        """``node`` with every image of the mode stored as cheaply as it can be (see the module's docstring)."""
        if isinstance(node, dict):
            return {k: self._store_images(v, frame) for k, v in node.items()}
        if is_frame_image(node):
            stored = encode(node, frame, self._frames)
            if stored is not None:
                return stored
        if isinstance(node, torch.Tensor) and node.dtype == torch.uint8 and node.numel() >= BLOB_MIN_BYTES:
            return {BLOB_KEY: self._store_blob(node)}
        return node

    def _store_blob(self, node: torch.Tensor) -> str:
        """Write a raw image to ``blobs/`` once per content; its name."""
        data = node.contiguous().cpu().numpy().tobytes()
        shape = ",".join(map(str, node.shape)).encode()
        name = hashlib.sha256(shape + b"\n" + data).hexdigest()
        path = self.folder / BLOBS / f"{name}.u8"
        if not path.is_file():
            with atomic_open(path) as fh:
                fh.write(BLOB_MAGIC + shape + b"\n" + data)
        return name

    def latest_frame(self) -> int:
        """The frame of the newest state file by name (not read), -1 when there is none."""
        files = self.files()
        return int(files[-1].stem) if files else -1

    def files(self) -> list[Path]:
        """The state files, oldest frame first."""
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.glob("*.state") if p.stem.isdigit())

    def frames(self) -> list[int]:
        return [int(p.stem) for p in self.files()]

    def latest(self, before: int | None = None) -> FrameState | None:
        """The newest intact state (of a frame before ``before``, when given); a corrupt newer file is reported and
        skipped. None when there is none."""
        problems, gone = [], []
        files = self.files()
        if before is not None:
            files = [p for p in files if int(p.stem) < before]
            if not files:
                return None
        for path in reversed(files):
            try:
                return self.read(path)
            except FramePngChanged:
                raise
            except CheckpointError as exc:
                (gone if isinstance(exc, FramePngMissing) else problems).append(str(exc))
                log.warning("%s; trying the one before", exc)
        if problems:
            listed = "\n  ".join(problems + gone)
            raise CheckpointError(f"no intact state file in {self.folder}:\n  {listed}")
        return None  # none, or every one refers to a frame PNG that is gone: those frames are rendered again

    @staticmethod
    def read(path: Path) -> FrameState:
        path = Path(path)
        values = _read_payload(path)
        try:
            values["mode"] = _load_images(values["mode"], path, FrameFolder(path.parent.parent / FRAMES_DIR))
            return FrameState(**values)
        except CheckpointError:
            raise
        except Exception as exc:  # an intact checksum of unreadable content: a foreign or older format
            raise CheckpointError(f"{path} cannot be read ({type(exc).__name__}: {exc})") from None

    def blobs_of(self, path: Path) -> set[str]:
        """The blob names a state file refers to (its payload only; the blobs are not read)."""
        return set(_blob_names(_read_payload(path).get("mode", {})))

    def frames_of(self, path: Path) -> set[int]:
        """The frames whose PNGs a state file's images refer to (its payload only; the PNGs are not read)."""
        return referenced_frames(_read_payload(path).get("mode", {}))

    def collect_blobs(self) -> None:
        """Delete the blobs no state refers to (an unreadable state keeps every blob)."""
        folder = self.folder / BLOBS
        if not folder.is_dir():
            return
        used: set[str] = set()
        for path in self.files():
            try:
                used |= self.blobs_of(path)
            except CheckpointError:
                return
        for blob in folder.glob("*.u8"):
            if blob.stem not in used:
                blob.unlink(missing_ok=True)

    def remove_from(self, frame: int, destination: Path | None) -> list[int]:
        """Take the states of ``frame`` and later out of the run: moved to ``destination`` (a ``state/`` folder of
        their own, with the blobs they need) or deleted when it is None. Returns their frames."""
        moved = [p for p in self.files() if int(p.stem) >= frame]
        for path in moved:
            if destination is not None:
                (destination / BLOBS).mkdir(parents=True, exist_ok=True)
                try:
                    names = self.blobs_of(path)
                except CheckpointError:
                    names = set()
                for name in names:
                    link_or_copy(self.folder / BLOBS / f"{name}.u8", destination / BLOBS / f"{name}.u8")
                shutil.move(str(path), destination / path.name)
            else:
                path.unlink()
        if moved:
            self.collect_blobs()
        return [int(p.stem) for p in moved]


def _read_payload(path: Path) -> dict[str, Any]:
    raw = path.read_bytes()
    magic = next((m for m in READABLE if raw.startswith(m)), None)
    if magic is None:
        raise CheckpointError(f"{path} is not a state file (or is truncated)")
    digest, _, data = raw[len(magic):].partition(b"\n")
    if hashlib.sha256(data).hexdigest().encode() != digest:
        raise CheckpointError(f"{path} is corrupt or truncated (checksum mismatch)")
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - an intact checksum of unreadable content: a foreign format
        raise CheckpointError(f"{path} cannot be read ({type(exc).__name__}: {exc})") from None


def _blob_names(node: Any) -> list[str]:
    if isinstance(node, dict):
        if BLOB_KEY in node:
            return [node[BLOB_KEY]]
        return [name for value in node.values() for name in _blob_names(value)]
    return []


def _load_images(node: Any, state: Path, frames: FrameFolder) -> Any:
    """``node`` with every stored image of a state restored: from the frame PNGs it refers to, or its blob."""
    if not isinstance(node, dict):
        return node
    if FRAME_KEY in node:
        return _frame_image(node, state, frames)
    if BLOB_KEY in node:
        return _load_blob(state.parent / BLOBS / f"{node[BLOB_KEY]}.u8", node[BLOB_KEY])
    return {k: _load_images(v, state, frames) for k, v in node.items()}


def _frame_image(node: dict, state: Path, frames: FrameFolder):
    try:
        return decode(node, frames)
    except FrameMissing as exc:
        raise FramePngMissing(f"{exc.path}, the frame {state.name} refers to, is missing") from None
    except FrameChanged as exc:
        frame = int(node[FRAME_KEY])
        raise FramePngChanged(f"{exc.path} changed since {state} was saved ({exc.problem}), so the run cannot "
                              f"continue exactly from it\n    fix: restore the PNG; or delete it, and it is rendered "
                              f"again (with every frame after it); or branch before it: resume_from={frame}"
                              ) from None


def _load_blob(path: Path, name: str):
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"{path}, an image of the state, is missing") from None
    header, _, data = raw.partition(b"\n")
    if not header.startswith(BLOB_MAGIC) or hashlib.sha256(header[len(BLOB_MAGIC):] + b"\n" + data).hexdigest() \
            != name:
        raise CheckpointError(f"{path} is corrupt or truncated (checksum mismatch)")
    shape = tuple(int(n) for n in header[len(BLOB_MAGIC):].split(b","))
    return torch.frombuffer(bytearray(data), dtype=torch.uint8).reshape(shape)


def link_or_copy(source: Path, target: Path) -> None:
    if target.exists():
        return
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
