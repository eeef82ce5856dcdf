"""Blend weights between keyframes.

A schedule's value at frame ``t`` is ``sum_k W[k, t] * v_k(t)``, where ``v_k`` is key ``k``'s value (a constant or an
expression of ``t``) and ``W`` comes from :func:`blend_weights`. The interpolation named on a key governs the segment
that starts at that key. Before the first key the first value holds, after the last key the last value holds
(Disco Diffusion's behaviour; no extrapolation).

Kinds (``u`` is the position inside a segment, 0 at its first key and 1 at the next):

- ``linear``: ``u`` (Disco Diffusion's only kind in practice)
- ``step``: hold the key's value until the next key
- ``cubic``: a not-a-knot cubic spline through all keys (with 3 keys a parabola, with 2 a line)
- ``ease_in``: ``u**3``; ``ease_out``: ``1 - (1-u)**3``;
  ``ease_in_out``: ``4u**3`` for u < 1/2, else ``1 - (2-2u)**3 / 2``
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

INTERPOLATIONS = ("linear", "step", "cubic", "ease_in", "ease_out", "ease_in_out")

_EASINGS = {
    "linear": lambda u: u,
    "step": lambda u: np.zeros_like(u),
    "ease_in": lambda u: u**3,
    "ease_out": lambda u: 1.0 - (1.0 - u) ** 3,
    "ease_in_out": lambda u: np.where(u < 0.5, 4.0 * u**3, 1.0 - (2.0 - 2.0 * u) ** 3 / 2.0),
}


def blend_weights(positions: np.ndarray, kinds: Sequence[str], t: np.ndarray) -> np.ndarray:
    """Weights ``W`` of shape ``(len(positions), len(t))``; each column sums to 1.

    ``positions`` must be strictly increasing; ``kinds[k]`` is the interpolation of the segment starting at key k
    (the last entry is unused).
    """
    positions = np.asarray(positions, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    n_keys = len(positions)
    if len(kinds) != n_keys:
        raise ValueError("one interpolation kind per key is needed")
    unknown = set(kinds) - set(INTERPOLATIONS)
    if unknown:
        raise ValueError(f"unknown interpolation {sorted(unknown)}; choose from {', '.join(INTERPOLATIONS)}")
    weights = np.zeros((n_keys, len(t)))
    segment = np.searchsorted(positions, t, side="right") - 1
    weights[0, segment < 0] = 1.0
    weights[n_keys - 1, segment >= n_keys - 1] = 1.0
    inside = (segment >= 0) & (segment < n_keys - 1)
    if not np.any(inside):
        return weights
    cols = np.flatnonzero(inside)
    seg = segment[cols]
    kind = np.asarray(kinds, dtype=object)[seg]
    left, right = positions[seg], positions[seg + 1]
    u = (t[cols] - left) / (right - left)
    for name, ease in _EASINGS.items():
        sel = kind == name
        if np.any(sel):
            w = ease(u[sel])
            weights[seg[sel], cols[sel]] = 1.0 - w
            weights[seg[sel] + 1, cols[sel]] = w
    sel = kind == "cubic"
    if np.any(sel):
        from scipy.interpolate import (
            CubicSpline,  # a cubic key is rare; scipy.interpolate takes 0.8 s to import
        )

        basis = CubicSpline(positions, np.eye(n_keys), bc_type="not-a-knot", axis=0)(t[cols[sel]])
        weights[:, cols[sel]] = basis.T
    return weights
