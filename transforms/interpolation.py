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

from typing import Iterator, Sequence

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
    left, right = neighbour_weights(positions, kinds, t)
    weights = np.zeros((n_keys, len(t)))
    cols = np.arange(len(t))
    weights[left, cols] = 1.0 - right
    has_right = left < n_keys - 1
    weights[left[has_right] + 1, cols[has_right]] = right[has_right]
    segment = np.searchsorted(positions, t, side="right") - 1
    inside = (segment >= 0) & (segment < n_keys - 1)
    cubic = np.flatnonzero(inside)[np.asarray(kinds, dtype=object)[segment[inside]] == "cubic"]
    if len(cubic):
        from scipy.interpolate import (
            CubicSpline,  # a cubic key is rare; scipy.interpolate takes 0.8 s to import
        )

        basis = CubicSpline(positions, np.eye(n_keys), bc_type="not-a-knot", axis=0)(t[cubic])
        weights[:, cubic] = basis.T
    return weights


def neighbour_weights(positions: np.ndarray, kinds: Sequence[str], t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame, the key on its left (the first key before the keys, the last after them) and the weight of the key
    on its right (0 outside the keys); the left key weighs ``1 - weight``. Cubic segments are left to
    :func:`blend_weights` (a spline weighs every key)."""
    n_keys = len(positions)
    if len(kinds) != n_keys:
        raise ValueError("one interpolation kind per key is needed")
    unknown = set(kinds) - set(INTERPOLATIONS)
    if unknown:
        raise ValueError(f"unknown interpolation {sorted(unknown)}; choose from {', '.join(INTERPOLATIONS)}")
    segment = np.searchsorted(positions, t, side="right") - 1
    left = np.clip(segment, 0, n_keys - 1)
    right = np.zeros(len(t))
    inside = np.flatnonzero((segment >= 0) & (segment < n_keys - 1))
    if len(inside):
        seg = segment[inside]
        kind = np.asarray(kinds, dtype=object)[seg]
        u = (t[inside] - positions[seg]) / (positions[seg + 1] - positions[seg])
        for name, ease in _EASINGS.items():
            sel = kind == name
            if np.any(sel):
                right[inside[sel]] = ease(u[sel])
    return left, right


def key_weights(positions: np.ndarray, kinds: Sequence[str], t: np.ndarray) -> Iterator[tuple[np.ndarray,
                                                                                                 np.ndarray]]:
    """For each key, the frames (indexes into ``t``, which must increase) where its weight is not 0, and those
    weights: :func:`blend_weights`'s numbers without its keys-by-frames matrix, so that a schedule with a key on
    every frame stays cheap (a spline still needs the matrix: every key weighs on every frame)."""
    if "cubic" in kinds[:-1]:
        for w in blend_weights(positions, kinds, t):
            used = np.flatnonzero(w != 0)
            yield used, w[used]
        return
    left, right = neighbour_weights(positions, kinds, t)
    bounds = np.searchsorted(left, np.arange(len(positions) + 1))  # frames whose left key is k: bounds[k]:bounds[k+1]
    for k in range(len(positions)):
        before = np.arange(bounds[k - 1], bounds[k]) if k else np.zeros(0, dtype=np.int64)
        own = np.arange(bounds[k], bounds[k + 1])
        used = np.r_[before, own]
        w = np.r_[right[before], 1.0 - right[own]]
        keep = w != 0
        yield used[keep], w[keep]
