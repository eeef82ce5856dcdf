"""2D animation warp, matching Disco Diffusion v5.7's cv2-based 2D mode.

DD builds ``M = R @ T`` (translate first, then rotate/scale about the
centre ``(W//2, H//2)``) and calls ``cv2.warpPerspective(img, M, (W, H),
flags=INTER_LINEAR, borderMode=BORDER_WRAP)``.  ``M`` maps source pixel
coordinates (pixel centres at integers) to destination coordinates, so
each output pixel samples the source bilinearly at ``M^-1 (x, y, 1)``,
with every neighbour index wrapped modulo W/H.

Axis conventions (screen coordinates, y pointing down):

- ``+translation_x`` moves content right, ``+translation_y`` moves it down
  (in pixels; note the 3D mode's x sign is the opposite, see camera3d);
- ``+angle`` rotates content counter-clockwise on screen, in degrees;
- ``zoom > 1`` magnifies about the centre.

The 8-bit convention of the project is truncation (like DD's
``ToPILImage``); ``warp2d`` adds ``bias`` (default ``EIGHT_BIT_BIAS``) so
that a later truncation rounds, and clamps to [0, 1].  With ``bias=0`` it
reproduces cv2's float result (cv2 quantises coordinates to 1/32 px; this
implementation does not).
"""

from __future__ import annotations

import numpy as np
import torch

from transforms.camera3d import EIGHT_BIT_BIAS
from transforms.camera_poses import dd_affine_matrix

__all__ = ["dd_affine_matrix", "warp2d", "EIGHT_BIT_BIAS"]


def _bilinear_wrap(image: torch.Tensor, sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    """Bilinear sample of ``image`` (B,C,H,W) at float64 pixel coords (H,W), BORDER_WRAP."""
    b, c, h, w = image.shape
    x0f, y0f = torch.floor(sx), torch.floor(sy)
    fx = (sx - x0f).to(image.dtype)
    fy = (sy - y0f).to(image.dtype)
    x0 = torch.remainder(x0f.long(), w)
    y0 = torch.remainder(y0f.long(), h)
    x1 = torch.remainder(x0 + 1, w)
    y1 = torch.remainder(y0 + 1, h)
    flat = image.reshape(b, c, h * w)

    def tap(yi: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
        return flat[:, :, (yi * w + xi).reshape(-1)].reshape(b, c, h, w)

    top = tap(y0, x0) * (1 - fx) + tap(y0, x1) * fx
    bottom = tap(y1, x0) * (1 - fx) + tap(y1, x1) * fx
    return top * (1 - fy) + bottom * fy


def warp2d(image: torch.Tensor, angle: float, zoom: float, translation_x: float,
           translation_y: float, *, bias: float = EIGHT_BIT_BIAS) -> torch.Tensor:
    """Warp a (B,3,H,W) batch like DD's 2D mode; scalar parameters apply to the whole batch."""
    if image.ndim != 4:
        raise ValueError(f"image must be (B,C,H,W), got shape {tuple(image.shape)}")
    if zoom == 0:
        raise ValueError("zoom must be non-zero (the matrix would be singular)")
    _, _, h, w = image.shape
    forward = dd_affine_matrix(w, h, angle, zoom, translation_x, translation_y)
    inv = torch.as_tensor(np.linalg.inv(forward), dtype=torch.float64, device=image.device)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64, device=image.device),
                            torch.arange(w, dtype=torch.float64, device=image.device),
                            indexing="ij")
    hom = torch.stack((xs, ys, torch.ones_like(xs)), dim=-1) @ inv.T
    sx = hom[..., 0] / hom[..., 2]
    sy = hom[..., 1] / hom[..., 2]
    # Bilinear weights sum to 1, so adding the bias after sampling equals adding it before.
    return (_bilinear_wrap(image, sx, sy) + bias).clamp(0.0, 1.0)
