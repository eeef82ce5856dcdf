"""Depth held still over time with the known camera: the previous frame's depth moved by the camera step, a robust
scale and shift fit to it, a blend where the two agree, and the depth-flicker measure.

A monocular estimator sees each frame alone: its relative depth comes with a scale and shift of its own every frame,
and noise. The renderer knows the exact camera step between frames, so the depth of frame ``t - 1`` can be moved into
frame ``t``'s view (``move_depth``: the 3D mode's own warp, ``transforms.camera3d.grid3d``, applied to the points'
depth in the new camera, ``(P R + T)_z``) and used as a prediction of frame ``t``'s depth. ``DepthStabilizer`` then

1. fits ``scale * raw + shift`` to the prediction over the pixels visible in both (``robust_affine``: a soft-L1
   least-squares fit, SciPy's, then a plain fit on the pixels within ``OUTLIER_SIGMAS`` robust standard deviations),
2. blends the aligned depth toward the prediction by ``strength`` where they agree (residual within
   ``AGREE_SIGMAS`` robust standard deviations, fading out to twice that): new content, disocclusions and pixels
   that left the frame keep the estimate,
3. keeps the result's global scale and shift a ``strength`` mix of the prediction's and the estimate's, so the scale
   is held from frame to frame without being anchored to the first frame for ever (the prediction keeps depth
   shrinking as the camera flies in while the estimator keeps seeing the scene at its usual range: a full alignment
   would drive all depth to zero; the mix settles ``strength / (1 - strength)`` steps' worth of approach nearer).

``depth_flicker`` is the measure in ``run.json``: the mean absolute difference between a frame's depth, aligned (scale
and shift) to the previous depth moved by the camera, and that prediction, over the pixels visible in both, in
percent of the prediction's mean. A still camera over a still scene scores 0 whatever the estimator's per-frame scale.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import least_squares

from transforms.camera3d import TRANSLATION_SCALE, euler_xyz_matrix, grid3d

MAX_FIT_SAMPLES = 20_000  # pixels the fit uses (every k-th valid pixel): enough for two parameters
MIN_FIT_FRACTION = 0.02  # fewer valid pixels than this share of the frame: no fit (the camera turned away)
OUTLIER_SIGMAS = 2.5
AGREE_SIGMAS = 3.0
MAD_TO_SIGMA = 1.4826  # a normal distribution's standard deviation per median absolute deviation
MIN_DEPTH = 0.01  # the smallest depth returned (the 3D warp divides by depth; MiDaS' floor)


@dataclass(frozen=True)
class AffineFit:
    scale: float
    shift: float
    sigma: float  # robust standard deviation of the inliers' residuals


def camera_z(depth: torch.Tensor, translation: Sequence[float], rotation_deg: Sequence[float]) -> torch.Tensor:
    """The depth of every pixel's point in the new camera, ``(P R + T)_z`` with ``P = (x, y, depth)`` on DD's
    ``[-1, 1]`` grid and the camera of ``transforms.camera3d`` (float64, ``(1,1,H,W)``)."""
    _, _, h, w = depth.shape
    f64 = dict(dtype=torch.float64, device=depth.device)
    ys, xs = torch.meshgrid(torch.linspace(-1.0, 1.0, h, **f64), torch.linspace(-1.0, 1.0, w, **f64), indexing="ij")
    rot = euler_xyz_matrix(rotation_deg, dtype=torch.float64, device=depth.device)
    tz = -float(translation[2]) * TRANSLATION_SCALE
    return (xs * rot[0, 2] + ys * rot[1, 2] + depth[0, 0].double() * rot[2, 2] + tz)[None, None]


def move_depth(depth: torch.Tensor, translation: Sequence[float], rotation_deg: Sequence[float],
               fov: float = 40.0, near: float = 200.0, far: float = 10000.0) -> torch.Tensor:
    """``(1,1,H,W)`` depth of a frame as the next frame's camera sees it, moved with the 3D mode's own warp of that
    step (the same sampling grid as the image); NaN where the point came from outside the frame or went behind the
    camera. Bilinear, float32."""
    depth = depth.float()
    grid = grid3d(depth, translation, rotation_deg, fov, near, far)  # float32, as the image's
    z = camera_z(depth, translation, rotation_deg).float()
    moved = F.grid_sample(z, grid, mode="bilinear", padding_mode="border", align_corners=False)
    inside = F.grid_sample(torch.ones_like(z), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    visible = (inside > 1 - 1e-6) & (moved > 0)
    return torch.where(visible, moved, torch.full_like(moved, math.nan)).float()


def robust_affine(xs: np.ndarray, ys: np.ndarray, min_points: int = 16) -> AffineFit | None:
    """``ys ~ scale * xs + shift`` (1-D float64 samples), outliers rejected (module docstring); None with too few
    points. A constant ``xs`` gets scale 1 and the median offset."""
    if xs.size < min_points:
        return None
    if xs.std() <= 1e-9 * (np.abs(xs).mean() + 1e-12):
        shift = float(np.median(ys - xs))
        r = ys - xs - shift
        return AffineFit(1.0, shift, MAD_TO_SIGMA * float(np.median(np.abs(r))))
    scale, shift = np.polyfit(xs, ys, 1)
    r = ys - (scale * xs + shift)
    f_scale = max(MAD_TO_SIGMA * float(np.median(np.abs(r - np.median(r)))), 1e-9 * (np.abs(ys).mean() + 1e-12))
    design = np.stack([xs, np.ones_like(xs)], axis=1)
    scale, shift = least_squares(lambda p: design @ p - ys, [scale, shift], jac=lambda p: design, loss="soft_l1",
                                 f_scale=f_scale).x
    r = ys - (scale * xs + shift)
    sigma = MAD_TO_SIGMA * float(np.median(np.abs(r)))
    inliers = np.abs(r) <= OUTLIER_SIGMAS * max(sigma, f_scale * 1e-3)
    if inliers.sum() >= min_points and np.ptp(xs[inliers]) > 0:
        scale, shift = np.polyfit(xs[inliers], ys[inliers], 1)
        sigma = MAD_TO_SIGMA * float(np.median(np.abs(ys[inliers] - (scale * xs[inliers] + shift))))
    return AffineFit(float(scale), float(shift), sigma)


def _fit_to(depth: torch.Tensor, prediction: torch.Tensor) -> tuple[AffineFit | None, torch.Tensor]:
    """The fit of ``depth`` to ``prediction`` on every k-th pixel visible in both (at most ``MAX_FIT_SAMPLES``),
    and the visibility mask; no fit when less than ``MIN_FIT_FRACTION`` of the frame is visible."""
    visible = torch.isfinite(prediction)
    step = max(1, math.ceil(visible.numel() / MAX_FIT_SAMPLES))
    x, y = depth.reshape(-1)[::step], prediction.reshape(-1)[::step]
    keep = torch.isfinite(y)
    if keep.sum().item() < MIN_FIT_FRACTION * keep.numel():
        return None, visible
    xs, ys = x[keep].double().cpu().numpy(), y[keep].double().cpu().numpy()
    return robust_affine(xs, ys), visible


def depth_flicker(depth: torch.Tensor, prediction: torch.Tensor) -> float | None:
    """Frame-to-frame change of aligned depth (module docstring), in percent; None when too little of the frame is
    visible in both or the fit fails."""
    fit, visible = _fit_to(depth, prediction)
    if fit is None:
        return None
    target = prediction[visible]
    aligned = fit.scale * depth[visible].float() + fit.shift
    return 100.0 * (aligned - target).abs().mean().item() / target.abs().mean().item()


@dataclass(frozen=True)
class DepthStabilizer:
    """``strength`` in [0, 1]: the prediction's weight where it agrees with the estimate, and its share of the
    global scale and shift (module docstring); 0 gives the estimate back."""

    strength: float = 0.7

    def __post_init__(self):
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"depth.stabilize_strength must be in [0, 1], got {self.strength}")

    def __call__(self, depth: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
        """A frame's ``(1,1,H,W)`` depth held to ``prediction`` (``move_depth`` of the previous frame's result)."""
        if self.strength == 0:
            return depth
        fit, visible = _fit_to(depth, prediction)
        if fit is None or fit.scale <= 0:
            return depth
        aligned = fit.scale * depth + fit.shift
        target = torch.where(visible, prediction, aligned)
        tolerance = AGREE_SIGMAS * max(fit.sigma, 1e-3 * target[visible].abs().mean().item())
        agreement = (2.0 - (aligned - target).abs() / tolerance).clamp(0.0, 1.0)
        blended = torch.lerp(aligned, target, self.strength * agreement)
        held = torch.lerp((blended - fit.shift) / fit.scale, blended, self.strength)
        return held.clamp_min(MIN_DEPTH).to(depth.dtype)
