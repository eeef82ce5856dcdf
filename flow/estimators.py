"""Optical flow estimators: OpenCV's DIS and Farneback here, RAFT in ``flow.raft``.

An estimator is called as ``estimator(a, b)`` with two uint8 RGB frames of the same shape (H, W, 3) and
returns ``flow_ab``: float32 (H, W, 2) in pixels on a's grid, ``[..., 0] = dx``, ``[..., 1] = dy``, such that
``a(p) ~= b(p + flow_ab(p))`` (where each pixel of a moved to in b). Consequently
``flow.warp.warp_with_flow(b, flow_ab) ~= a``.

``forward_backward(estimator, a, b)`` returns ``(flow_ab, flow_ba)``: the forward flow (a -> b) and the backward
flow (b -> a). The renderer warps the previous output (frame a) onto the current frame b with the backward flow,
and checks it against the forward flow (``flow.consistency``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np

from flow.warp import check_pair

DIS_PRESETS = {  # name -> (OpenCV preset, overrides: finest scale, patch stride, variational refinement iterations)
    "ultrafast": (cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, None),
    "fast": (cv2.DISOPTICAL_FLOW_PRESET_FAST, None),
    "medium": (cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, None),
    "fine": (cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, (0, 2, 10)),
}


@runtime_checkable
class FlowEstimator(Protocol):
    """``estimator(a, b) -> flow_ab``; ``name`` identifies the backend and its settings (a cache key part)."""

    name: str

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray: ...


def to_gray(image: np.ndarray) -> np.ndarray:
    """uint8 RGB (H, W, 3) -> uint8 luma (H, W), contiguous (what OpenCV's flow functions take)."""
    return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))


@dataclass(frozen=True)
class DisFlow:
    """OpenCV's Dense Inverse Search flow (Kroeger et al. 2016) on luma; fast on CPU.

    ``preset`` is one of OpenCV's "ultrafast", "fast", "medium", or "fine": "medium" refined down to full
    resolution (finest scale 0, patch stride 2, 10 variational refinement iterations), about 1.5x medium's time
    and markedly sharper motion boundaries, hence cleaner occlusion masks. A new DIS object is made per call, so
    one instance may be shared between threads.
    """

    preset: str = "medium"

    def __post_init__(self):
        if self.preset not in DIS_PRESETS:
            raise ValueError(f"DIS preset must be one of {', '.join(DIS_PRESETS)}, got {self.preset!r}")

    @property
    def name(self) -> str:
        return f"dis-{self.preset}"

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        check_pair(a, b)
        preset, overrides = DIS_PRESETS[self.preset]
        dis = cv2.DISOpticalFlow_create(preset)
        if overrides is not None:
            finest_scale, patch_stride, refinement_iterations = overrides
            dis.setFinestScale(finest_scale)
            dis.setPatchStride(patch_stride)
            dis.setVariationalRefinementIterations(refinement_iterations)
        return dis.calc(to_gray(a), to_gray(b), None).astype(np.float32, copy=False)


@dataclass(frozen=True)
class FarnebackFlow:
    """OpenCV's Farneback polynomial-expansion flow on luma (``cv2.calcOpticalFlowFarneback`` parameters)."""

    pyr_scale: float = 0.5
    levels: int = 5
    winsize: int = 15
    iterations: int = 3
    poly_n: int = 5
    poly_sigma: float = 1.2
    gaussian_window: bool = False

    @property
    def name(self) -> str:
        return (f"farneback-p{self.pyr_scale}-l{self.levels}-w{self.winsize}-i{self.iterations}"
                f"-n{self.poly_n}-s{self.poly_sigma}{'-g' if self.gaussian_window else ''}")

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        check_pair(a, b)
        flags = cv2.OPTFLOW_FARNEBACK_GAUSSIAN if self.gaussian_window else 0
        flow = cv2.calcOpticalFlowFarneback(to_gray(a), to_gray(b), None, self.pyr_scale, self.levels,
                                            self.winsize, self.iterations, self.poly_n, self.poly_sigma, flags)
        return flow.astype(np.float32, copy=False)


def forward_backward(estimator: FlowEstimator, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(flow_ab, flow_ba)``: forward (a -> b, on a's grid) and backward (b -> a, on b's grid) flow.

    Estimators with a ``pair(a, b)`` method (RAFT batches both directions) are asked once.
    """
    pair = getattr(estimator, "pair", None)
    if callable(pair):
        return pair(a, b)
    return estimator(a, b), estimator(b, a)


def create_estimator(backend: str, **options: Any) -> FlowEstimator:
    """An estimator by name: "dis" / "dis-<preset>" (ultrafast, fast, medium, fine), "farneback", "raft" /
    "raft-large" / "raft-small" (underscores work too: "raft_large").

    ``options`` go to the constructor (e.g. ``device=``, ``path=`` for RAFT; ``preset=`` for "dis").
    """
    name = backend.strip().lower().replace("_", "-")
    if name == "dis" or name.startswith("dis-"):
        return DisFlow(**({"preset": name[4:]} if name != "dis" else {}), **options)
    if name == "farneback":
        return FarnebackFlow(**options)
    if name in ("raft", "raft-large", "raft-small"):
        from flow.raft import RaftFlow

        return RaftFlow(**({"variant": name[5:]} if name != "raft" else {}), **options)
    raise ValueError(f"unknown flow backend {backend!r}; use dis, dis-fine, dis-medium, dis-fast, dis-ultrafast, "
                     f"farneback, raft-large or raft-small")
