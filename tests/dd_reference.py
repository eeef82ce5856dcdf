"""Disco Diffusion v5.7's keyframe parsing, re-stated as a test oracle (reference §2).

``parse_key_frames`` is a regex scan; ``get_inbetweens`` fills a pandas Series, pins the first and last valid values
to frames 0 and max_frames-1, and interpolates linearly. Values are cast to float before they go into the Series
(DD's own code raises a TypeError under pandas >= 3, reference §2).
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

DD_KEY_PATTERN = re.compile(r"((?P<frame>[0-9]+):[\s]*[\(](?P<param>[\S\s]*?)[\)])")


def dd_parse_key_frames(text: str) -> dict[int, str]:
    frames = {int(m.group("frame")): m.group("param") for m in DD_KEY_PATTERN.finditer(text)}
    if not frames and text:
        raise RuntimeError("Key Frame string not correctly formatted")
    return frames


def dd_get_inbetweens(key_frames: dict[int, str], max_frames: int) -> np.ndarray:
    series = pd.Series([np.nan] * max_frames)
    for frame, value in key_frames.items():
        series[frame] = float(value)
    series = series.astype(float)
    series[0] = series[series.first_valid_index()]
    series[max_frames - 1] = series[series.last_valid_index()]
    return series.interpolate(method="linear", limit_direction="both").to_numpy()


def dd_schedule(text: str, max_frames: int) -> np.ndarray:
    """What DD computes for a keyframe setting, including its bare-value fallback ``0: (value)``."""
    try:
        frames = dd_parse_key_frames(text)
    except RuntimeError:
        frames = dd_parse_key_frames(f"0: ({text})")
    return dd_get_inbetweens(frames, max_frames)
