"""``model.compile``: the networks of a guided step through ``torch.compile``, and whether this machine can."""
from __future__ import annotations

import importlib.util
import os
import shutil
from typing import TYPE_CHECKING, Callable, TypeVar

if TYPE_CHECKING:
    import torch

F = TypeVar("F", bound=Callable)


def compile_static(fn: F) -> F:
    """``torch.compile`` for fixed shapes (``dynamic=False``): one graph per cutout count and frame size, each
    compiled on first use. Guidance runs forward and backward through it; the random cutouts and augmentations
    stay outside (their sizes and parameters are drawn on the host)."""
    import torch

    return torch.compile(fn, dynamic=False)


def compile_unavailable(device: torch.device) -> str | None:
    """Why ``torch.compile`` cannot compile for ``device`` on this machine, or None: on CUDA it needs Triton, on a
    CPU a C++ compiler (``$CXX``, else ``c++``/``g++``/``clang++`` on the PATH)."""
    if device.type == "cuda":
        return None if importlib.util.find_spec("triton") else "torch.compile on CUDA needs Triton (pip install triton)"
    candidates = [os.environ.get("CXX", ""), "c++", "g++", "clang++"]
    if any(c and shutil.which(c) for c in candidates):
        return None
    return "torch.compile on a CPU needs a C++ compiler (none of $CXX, c++, g++, clang++ is on the PATH)"
