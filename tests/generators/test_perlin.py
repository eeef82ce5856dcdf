"""DD's Perlin init: the separable evaluation equals the direct gradient-noise formula; output is deterministic."""
from __future__ import annotations

import numpy as np
import torch

from render.generators.perlin import octave_terms, perlin_image


def direct_gradient_noise(rows, cols, cells, g_r, g_c):
    """DD's per-pixel formula: corners' fade weights times gradient . offset, summed over the four corners."""
    out = np.zeros((rows, cols))
    fade = lambda u: 3 * u**2 - 2 * u**3  # noqa: E731
    for r in range(rows):
        pr = r * cells / rows
        ir, ur = min(int(np.floor(pr)), cells - 1), pr - min(int(np.floor(pr)), cells - 1)
        for c in range(cols):
            pc = c * cells / cols
            ic, uc = min(int(np.floor(pc)), cells - 1), pc - min(int(np.floor(pc)), cells - 1)
            total = 0.0
            for dr in (0, 1):
                for dc in (0, 1):
                    wr = fade(ur) if dr else 1 - fade(ur)
                    wc = fade(uc) if dc else 1 - fade(uc)
                    total += wr * wc * (g_r[ir + dr, ic + dc] * (ur - dr) + g_c[ir + dr, ic + dc] * (uc - dc))
            out[r, c] = total
    return out


def test_separable_octave_equals_direct_formula():
    rows, cols, cells = 12, 20, 4
    left, right = octave_terms(rows, cols, cells, torch.Generator().manual_seed(7))
    g_r, g_c = torch.randn(2, cells + 1, cells + 1, generator=torch.Generator().manual_seed(7)).double().numpy()
    np.testing.assert_allclose((left @ right).numpy(), direct_gradient_noise(rows, cols, cells, g_r, g_c), atol=1e-5)


def test_perlin_image_is_deterministic_and_in_range():
    a = perlin_image(64, 96, "mixed", seed=3)
    b = perlin_image(64, 96, "mixed", seed=3)
    c = perlin_image(64, 96, "mixed", seed=4)
    assert a.shape == (1, 3, 64, 96) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() <= 1
    # autocontrast stretches each layer to the full range, so the average spans most of [0,1]
    assert a.max() - a.min() > 0.5


def test_perlin_modes():
    gray = perlin_image(64, 64, "gray", seed=1)
    assert torch.equal(gray[:, 0], gray[:, 1]) and torch.equal(gray[:, 1], gray[:, 2])
    color = perlin_image(64, 64, "color", seed=1)
    assert (color[:, 0] - color[:, 1]).abs().mean() > 0.02
