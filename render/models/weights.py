"""Reading a weight file: any file that cannot be read as weights (empty, truncated, garbage, a folder) becomes a
:class:`WeightFileError` that names the file, what is wrong and how to fetch it again."""
from __future__ import annotations

import shlex
import warnings
from pathlib import Path
from typing import Any

import torch

from render.models.registry import REGISTRY
from render.user_error import UserError


class WeightFileError(UserError, RuntimeError):
    """A weight file on disk that cannot be used; the message says how to get a good copy."""

    def __init__(self, path: Path, problem: str):
        self.path, self.problem = Path(path), problem
        super().__init__(f"{self.path}: {problem}\n    fix: {refetch_hint(self.path)}")


def refetch_hint(path: Path) -> str:
    """How to replace ``path`` with a good copy: delete it and download it again (by its registry key)."""
    path = Path(path)
    keys = [f.key for f in REGISTRY.values() if f.filename == path.name]
    fetch = (f"python -m render.models {shlex.quote(keys[0])} --models-dir {shlex.quote(str(path.parent))}"
             if keys else "python -m render.models --list (to find its key), then python -m render.models <key>")
    return f"the file is corrupt, truncated or not this model; delete it and fetch it again: " \
           f"rm {shlex.quote(str(path))} && {fetch}"


def load_weights(path: Path, *, mmap: bool = True) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU (memory-mapped when the file allows it)."""
    path = Path(path)
    if not path.is_file():
        raise WeightFileError(path, "not found" if not path.exists() else "is not a regular file")
    if path.stat().st_size == 0:
        raise WeightFileError(path, "is empty (0 bytes; an interrupted download?)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
            except RuntimeError as exc:  # a legacy (pre-zip) torch.save file cannot be memory-mapped
                if not mmap or ("mmap" not in str(exc) and "zip" not in str(exc)):
                    raise
                return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch reports unreadable files with many exception types
        raise WeightFileError(path, f"cannot be read as a weight file ({load_failure(exc)})") from None


def load_failure(exc: BaseException) -> str:
    """A short reason for a failed load (torch's unpickling message suggests an unsafe retry: not repeated)."""
    text = str(exc).strip()
    if "weights_only" in text or "invalid load key" in text:
        return "not a PyTorch weight file, or damaged"
    if "zip archive" in text or "central directory" in text or "failed finding" in text:
        return "the archive is truncated or damaged"
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first[:300]}" if first else type(exc).__name__


def check_state_dict(path: Path, state: Any) -> dict:
    """``state`` loaded from ``path`` must be a mapping of tensors (a state dict)."""
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightFileError(path, f"holds no state dict of tensors (got {type(state).__name__})")
    return state
