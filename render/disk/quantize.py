"""8-bit quantisation in one place, under names that say how: truncating (Disco Diffusion's ``ToPILImage``, what
frames on disk get) or rounding (states, blends, inits DD writes as 8-bit images), and back to floats in [0, 1].

Inside the renderer a frame is a float32 tensor ``(1, 3, H, W)`` in [0, 1]; as an image it is ``(H, W, 3)`` uint8.
The warps add DD's ``1/512 - 1e-4`` bias before truncating so that the truncation rounds
(``transforms.camera3d.EIGHT_BIT_BIAS``). The frame the next one is warped from is the 8-bit frame on disk, so a run
resumed from its PNG continues exactly.
"""
from __future__ import annotations

import numpy as np
import torch

# ---------------------------------------------------------------------------------------------------------------
# Tensors


def truncate_to_u8(x: torch.Tensor) -> torch.Tensor:
    """Floats in [0, 1] -> uint8 levels, clamped and truncated (``ToPILImage``: ``mul(255).byte()``)."""
    return x.clamp(0, 1).mul(255).to(torch.uint8)


def round_to_u8(x: torch.Tensor) -> torch.Tensor:
    """Floats in [0, 1] -> the nearest uint8 level (ties to even), clamped."""
    return x.mul(255).round().clamp(0, 255).to(torch.uint8)


def u8_to_float(x: torch.Tensor, device: torch.device | str | None = None) -> torch.Tensor:
    """uint8 levels -> float32 ``k / 255`` (on ``device`` when given)."""
    return (x if device is None else x.to(device)).float().div(255)


def truncate_to_levels(x: torch.Tensor) -> torch.Tensor:
    """``x`` as the 8-bit image DD would write and read back (truncated), as float32."""
    return u8_to_float(truncate_to_u8(x))


def round_to_levels(x: torch.Tensor) -> torch.Tensor:
    """``x`` on the nearest 8-bit levels (as ``cv2.addWeighted`` on 8-bit frames rounds), as float32."""
    return u8_to_float(round_to_u8(x))


def to_stored_u8(frame: torch.Tensor | None) -> torch.Tensor | None:
    """A frame of ``k/255`` values as a state keeps it: uint8 on the CPU (rounded, so it is exact); None stays None."""
    return None if frame is None else round_to_u8(frame).cpu()


def from_stored_u8(frame: torch.Tensor | None, device: torch.device | str) -> torch.Tensor | None:
    """The float32 frame of a stored uint8 one, on ``device``; None stays None."""
    return None if frame is None else u8_to_float(frame, device)


# ---------------------------------------------------------------------------------------------------------------
# Frames and images


def frame_to_image(frame: torch.Tensor) -> np.ndarray:
    """``(1,3,H,W)`` float in [0,1] -> ``(H,W,3)`` uint8, truncating like ``ToPILImage`` (what a frame PNG holds)."""
    if frame.ndim != 4 or frame.shape[:2] != (1, 3):
        raise ValueError(f"expected a (1,3,H,W) frame, got {tuple(frame.shape)}")
    return truncate_to_u8(frame.detach()[0].float()).permute(1, 2, 0).cpu().numpy()


def image_to_frame(image: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """``(H,W,3)`` uint8 -> ``(1,3,H,W)`` float32 in [0,1]."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H,W,3) uint8 image, got {image.dtype} {image.shape}")
    return u8_to_float(torch.from_numpy(np.ascontiguousarray(image)).to(device).permute(2, 0, 1)[None])


# ---------------------------------------------------------------------------------------------------------------
# Arrays


def round_array_to_u8(x: np.ndarray, scale: float = 255.0) -> np.ndarray:
    """``x * scale`` to the nearest uint8 level (ties to even), clipped to 0..255: ``scale=255`` for values in
    [0, 1], ``scale=1`` for values already on the 0..255 scale."""
    return np.clip(np.rint(x * scale), 0, 255).astype(np.uint8)


def u8_array_to_float(image: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """uint8 levels -> ``k / 255`` as ``dtype``."""
    return image.astype(dtype) / 255
