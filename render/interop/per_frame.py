"""Values given per frame (a Parseq manifest's, a camera path's, a run's) as an exact schedule of keys.

One key per frame reproduces the values exactly under linear interpolation; keys inside a straight run (a constant
or a linear ramp) are left out, since the keys around them give the same values. Numbers are written with Python's
shortest round-trip form, so the schedule evaluates to the very floats it was made from (up to the rounding of the
linear blend, far below 1e-9).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from render.interop.source import number_text

STRAIGHT = 1e-12  # relative: a key this close to the line through its neighbours is on it


def straight_keys(frames: Sequence[float], values: Sequence[float]) -> list[int]:
    """Indexes of the keys to keep: the ends and every key off the line through its neighbours, plus any key that
    the kept ones miss by more than the tolerance (a slow curve can pass every three-key test)."""
    x, y = np.asarray(frames, dtype=np.float64), np.asarray(values, dtype=np.float64)
    if len(x) <= 2:
        return list(range(len(x)))
    scale = STRAIGHT * np.maximum(1.0, np.abs(y))
    between = y[:-2] + (y[2:] - y[:-2]) * (x[1:-1] - x[:-2]) / (x[2:] - x[:-2])
    keep = np.r_[True, np.abs(between - y[1:-1]) > scale[1:-1], True]
    while True:
        missed = np.abs(np.interp(x, x[keep], y[keep]) - y) > scale
        if not np.any(missed & ~keep):
            return [int(i) for i in np.flatnonzero(keep)]
        keep |= missed


def per_frame_schedule(frames: Sequence[int], values: Sequence[float]) -> str:
    """``"0: (v0), 7: (v7), ..."``: a schedule (linear) through every ``(frame, value)``."""
    order = np.argsort(np.asarray(frames), kind="stable")
    x = [int(frames[i]) for i in order]
    y = [float(values[i]) for i in order]
    return ", ".join(f"{x[i]}: ({number_text(y[i])})" for i in straight_keys(x, y))
