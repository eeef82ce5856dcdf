"""Disco Diffusion's Perlin-noise init image.

DD sums gradient-noise octaves with amplitudes ``0.5 * 1.5**-i`` on a square field: 12 octaves from a 1x1 cell grid
plus 8 octaves from a 4x4 grid, each autocontrasted (per channel) after being resized to the frame; ``mixed`` takes
the first in colour and the second in gray, and the init is their average. DD builds the field at 4096² pixels
whatever the frame size and then resizes it to the frame; here the same continuous field is sampled at the frame's
pixels directly, skipping octaves finer than two pixels (the resize averaged them away; their amplitude is < 2%).
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageOps

from render.disk.quantize import truncate_to_u8, u8_array_to_float


def _fade(t: torch.Tensor) -> torch.Tensor:
    return 3 * t**2 - 2 * t**3


def _axis_weights(n_pixels: int, cells: int) -> tuple[torch.Tensor, ...]:
    """Per pixel along one axis: its cell, the fade weights of the cell's two corners, and those times the offset."""
    position = torch.arange(n_pixels, dtype=torch.float32) * (cells / n_pixels)
    cell = position.floor().long().clamp(max=cells - 1)
    u = position - cell
    a1 = _fade(u)
    a0 = 1 - a1
    return cell, a0, a1, a0 * u, a1 * (u - 1)


def _row_matrix(n_pixels: int, cells: int, w0: torch.Tensor, w1: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
    """Dense ``(n_pixels, cells+1)`` matrix with ``w0`` at each pixel's cell corner and ``w1`` at the next one."""
    m = torch.zeros(n_pixels, cells + 1)
    rows = torch.arange(n_pixels)
    m[rows, cell] = w0
    m[rows, cell + 1] = w1
    return m


def octave_terms(rows: int, cols: int, cells: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """One octave of DD's gradient noise on a ``cells x cells`` grid, sampled at ``rows x cols`` pixels, as a
    product ``L @ R`` with ``L`` of shape ``(rows, 2(cells+1))`` and ``R`` of shape ``(2(cells+1), cols)``.

    The noise is ``sum_corners fade_r * fade_c * (g_r * dr + g_c * dc)``: per-axis weights times the gradient grid,
    so a whole field of octaves is a single matrix product.
    """
    g_r, g_c = torch.randn(2, cells + 1, cells + 1, generator=generator)
    ri, ra0, ra1, rb0, rb1 = _axis_weights(rows, cells)
    ci, ca0, ca1, cb0, cb1 = _axis_weights(cols, cells)
    left = torch.cat([_row_matrix(rows, cells, rb0, rb1, ri), _row_matrix(rows, cells, ra0, ra1, ri)], dim=1)
    right = torch.cat([g_r[:, ci] * ca0 + g_r[:, ci + 1] * ca1, g_c[:, ci] * cb0 + g_c[:, ci + 1] * cb1], dim=0)
    return left, right


def octave_field(amplitudes: list[float], base_cells: int, rows: int, cols: int, channels: int,
                 generator: torch.Generator) -> torch.Tensor:
    """``(channels, rows, cols)`` sum of octaves around 0.5; octave i has ``base_cells * 2**i`` cells per side.

    Octaves with cells smaller than two pixels are skipped: DD's final resize averages them away.
    """
    out = torch.full((channels, rows, cols), 0.5)
    for c in range(channels):
        lefts, rights = [], []
        for i, amp in enumerate(amplitudes):
            cells = base_cells * 2**i
            if cells * 2 > min(rows, cols):
                break
            left, right = octave_terms(rows, cols, cells, generator)
            lefts.append(left * amp)
            rights.append(right)
        if lefts:
            out[c] += torch.cat(lefts, dim=1) @ torch.cat(rights, dim=0)
    return out


def _autocontrasted(field: torch.Tensor) -> torch.Tensor:
    """Truncate to 8 bits, autocontrast per channel (PIL, as DD), back to a (3,H,W) float in [0,1]."""
    u8 = truncate_to_u8(field).permute(1, 2, 0).numpy()
    img = Image.fromarray(u8[..., 0] if u8.shape[2] == 1 else u8).convert("RGB")
    arr = u8_array_to_float(np.asarray(ImageOps.autocontrast(img)), np.float32)
    return torch.from_numpy(arr).permute(2, 0, 1)


def perlin_image(height: int, width: int, mode: str = "mixed", seed: int = 0) -> torch.Tensor:
    """DD's perlin init as a ``(1,3,H,W)`` float tensor in [0,1]; ``mode`` is mixed, color or gray."""
    if mode not in ("mixed", "color", "gray"):
        raise ValueError(f"perlin_mode must be mixed, color or gray, got {mode!r}")
    generator = torch.Generator().manual_seed(int(seed))
    coarse_channels = 1 if mode == "gray" else 3
    fine_channels = 3 if mode == "color" else 1
    coarse = octave_field([1.5**-i * 0.5 for i in range(12)], 1, height, width, coarse_channels, generator)
    fine = octave_field([1.5**-i * 0.5 for i in range(8)], 4, height, width, fine_channels, generator)
    image = (_autocontrasted(coarse) + _autocontrasted(fine)) / 2
    return image[None]
