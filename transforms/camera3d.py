"""3D animation warp, matching Disco Diffusion v5.7 (``do_3d_step`` +
``transform_image_3d``, non-spherical branch), with the camera maths done
in plain torch instead of pytorch3d.

Geometry: world points are ``x = linspace(-1, 1, W)``, ``y = linspace(-1,
1, H)`` (y pointing down) and ``z = depth``.  The old camera has R=I, T=0;
the new one has ``R = Rx @ Ry @ Rz`` (pytorch3d ``euler_angles_to_matrix``,
"XYZ") and ``T = (-tx/200, +ty/200, -tz/200)``.  Camera coordinates are
row vectors, ``X_cam = P @ R + T`` (pytorch3d convention).  The FoV
perspective projection (aspect 1) gives ``ndc_xy = X_cam.xy / X_cam.z /
tan(fov/2)``; near/far only change NDC z and so have no effect on the
warp.  The sampling grid is ``affine_grid(I) - (ndc_new - ndc_old)``: a
backward lookup using the depth at the *output* pixel, not a true
reprojection.

Sign conventions (effect on the image content, y down on screen):

==================  ==========================================
setting             effect
==================  ==========================================
+translation_z      zoom in (camera moves forward)
+translation_x      shifts content LEFT (camera moves right);
                    the opposite of the 2D mode, kept from DD
+translation_y      shifts content down (as in 2D)
+rotation_3d_x      shifts content down
+rotation_3d_y      shifts content left
+rotation_3d_z      rotates content counter-clockwise
==================  ==========================================

The 8-bit convention of the project is truncation (like DD's
``ToPILImage``); DD adds ``EIGHT_BIT_BIAS`` before sampling so that the
truncation rounds instead of darkening, then clamps to [0, 1].
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

from transforms.camera_poses import TRANSLATION_SCALE, euler_xyz

__all__ = ["EIGHT_BIT_BIAS", "TRANSLATION_SCALE", "euler_xyz_matrix", "ndc_offsets",
           "grid3d", "warp3d", "fisheye_grid", "warp3d_vr_eye"]

EIGHT_BIT_BIAS = 1 / 512 - 1e-4
PADDING_MODES = ("zeros", "border", "reflection")
SAMPLING_MODES = ("bilinear", "nearest", "bicubic")


def euler_xyz_matrix(rotation_deg: Sequence[float], *, dtype: torch.dtype = torch.float32,
                     device: torch.device | str | None = None) -> torch.Tensor:
    """``Rx @ Ry @ Rz`` for angles in degrees, as pytorch3d's ``euler_angles_to_matrix(.., "XYZ")``."""
    return torch.as_tensor(euler_xyz(rotation_deg)).to(dtype=dtype, device=device)


def _check_camera(fov: float, near: float, far: float) -> None:
    if not 0.0 < fov < 180.0:
        raise ValueError(f"fov must be in (0, 180) degrees, got {fov}")
    if not near > 0.0:
        raise ValueError(f"near must be > 0, got {near}")
    if not far > near:
        raise ValueError(f"far must be > near ({near}), got {far}")


def ndc_offsets(points: torch.Tensor, translation: Sequence[float], rotation_deg: Sequence[float],
                fov: float = 40.0, near: float = 200.0, far: float = 10000.0) -> torch.Tensor:
    """NDC xy offset ``ndc_new - ndc_old`` of world points (..., 3), computed in float64."""
    _check_camera(fov, near, far)
    pts = points.to(torch.float64)
    tx, ty, tz = (float(t) for t in translation)
    rot = euler_xyz_matrix(rotation_deg, dtype=torch.float64, device=pts.device)
    trans = torch.tensor([-tx * TRANSLATION_SCALE, ty * TRANSLATION_SCALE,
                          -tz * TRANSLATION_SCALE], dtype=torch.float64, device=pts.device)
    scale = 1.0 / math.tan(math.radians(fov) / 2.0)

    def project(cam: torch.Tensor) -> torch.Tensor:
        return scale * cam[..., :2] / cam[..., 2:3]

    return project(pts @ rot + trans) - project(pts)


def _depth_bhw(depth: torch.Tensor) -> torch.Tensor:
    depth = torch.as_tensor(depth)
    if depth.ndim == 2:
        return depth.unsqueeze(0)
    if depth.ndim == 3:
        return depth
    if depth.ndim == 4 and depth.shape[1] == 1:
        return depth[:, 0]
    raise ValueError(f"depth must be (H,W), (B,H,W) or (B,1,H,W), got shape {tuple(depth.shape)}")


def grid3d(depth: torch.Tensor, translation: Sequence[float], rotation_deg: Sequence[float],
           fov: float = 40.0, near: float = 200.0, far: float = 10000.0) -> torch.Tensor:
    """``grid_sample`` grid (B,H,W,2) (align_corners=False) for DD's 3D camera move.

    Computed in float64 and returned in the depth's floating dtype (float32 otherwise).
    """
    z = _depth_bhw(depth)
    out_dtype = z.dtype if z.is_floating_point() else torch.float32
    b, h, w = z.shape
    f64 = dict(dtype=torch.float64, device=z.device)
    ys, xs = torch.meshgrid(torch.linspace(-1.0, 1.0, h, **f64),
                            torch.linspace(-1.0, 1.0, w, **f64), indexing="ij")
    pts = torch.stack((xs.expand(b, h, w), ys.expand(b, h, w), z.to(torch.float64)), dim=-1)
    offset = ndc_offsets(pts, translation, rotation_deg, fov, near, far)
    identity = torch.eye(2, 3, **f64).expand(b, 2, 3)
    base = F.affine_grid(identity, [b, 1, h, w], align_corners=False)
    return (base - offset).to(out_dtype)


def warp3d(image: torch.Tensor, depth: torch.Tensor, translation: Sequence[float],
           rotation_deg: Sequence[float], fov: float = 40.0, near: float = 200.0,
           far: float = 10000.0, padding_mode: str = "border", sampling_mode: str = "bicubic",
           *, bias: float = EIGHT_BIT_BIAS) -> torch.Tensor:
    """Warp a (B,3,H,W) batch like DD's 3D mode; a depth batch of 1 broadcasts."""
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
    if sampling_mode not in SAMPLING_MODES:
        raise ValueError(f"sampling_mode must be one of {SAMPLING_MODES}, got {sampling_mode!r}")
    if image.ndim != 4:
        raise ValueError(f"image must be (B,C,H,W), got shape {tuple(image.shape)}")
    b, _, h, w = image.shape
    grid = grid3d(torch.as_tensor(depth).to(image.device), translation, rotation_deg,
                  fov, near, far).to(image.dtype)
    if grid.shape[1:3] != (h, w):
        raise ValueError(f"depth size {tuple(grid.shape[1:3])} does not match image size {(h, w)}")
    if grid.shape[0] == 1 and b > 1:
        grid = grid.expand(b, h, w, 2)
    elif grid.shape[0] != b:
        raise ValueError(f"depth batch {grid.shape[0]} does not match image batch {b}")
    return F.grid_sample(image + bias, grid, mode=sampling_mode, padding_mode=padding_mode,
                         align_corners=False).clamp(0.0, 1.0)


def fisheye_grid(height: int, width: int, magnitude: float = -0.4, *, dtype=torch.float32,
                 device=None) -> torch.Tensor:
    """DD's VR lens: each point of an ``align_corners=True`` grid moves by ``(c - g)*|c - g|*magnitude`` from the
    centre ``c = 0``; negative magnitudes pull the edges in (a fisheye)."""
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, height, dtype=dtype, device=device),
                            torch.linspace(-1, 1, width, dtype=dtype, device=device), indexing="ij")
    grid = torch.stack([xs, ys], dim=-1)
    d = -grid
    return (grid + d * d.square().sum(-1, keepdim=True).sqrt() * magnitude)[None]


def warp3d_vr_eye(image: torch.Tensor, depth: torch.Tensor, translation: Sequence[float],
                  rotation_deg: Sequence[float], fov: float = 40.0, near: float = 200.0, far: float = 10000.0,
                  padding_mode: str = "border", sampling_mode: str = "bicubic", *, magnitude: float = -0.4,
                  bias: float = EIGHT_BIT_BIAS) -> torch.Tensor:
    """DD's VR eye view (``spherical=True``): the camera warp sampled with ``align_corners=True``, then the fisheye
    lens (bilinear, zeros outside), clamped to [0, 1]."""
    b, _, h, w = image.shape
    grid = grid3d(torch.as_tensor(depth).to(image.device), translation, rotation_deg, fov, near, far)
    stage = F.grid_sample(image + bias, grid.to(image.dtype).expand(b, h, w, 2), mode=sampling_mode,
                          padding_mode=padding_mode, align_corners=True)
    lens = fisheye_grid(h, w, magnitude, dtype=image.dtype, device=image.device).expand(b, h, w, 2)
    return F.grid_sample(stage, lens, align_corners=True).clamp(0.0, 1.0)
