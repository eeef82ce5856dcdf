"""Disco Diffusion's keyframe strings read by DD's own rules and written in this renderer's schedule language.

DD finds keys with the regex ``(\\d+):\\s*\\((.*?)\\)`` (so ``"10 : (1)"`` silently loses its key and a value ends at
the first ``)``), holds numbers only, and interpolates with pandas over the frames. Where DD's result differs from
the same text read here, the schedule is rewritten so that every frame gets DD's value: a key DD could not see is
left out, and keys past the last frame, which DD squeezed into the frames that exist, become DD's value on the last
frame (README "Where this differs from Disco Diffusion").
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from render.interop.source import ImportProblem, number_text

DD_KEY = re.compile(r"((?P<frame>[0-9]+):[\s]*[\(](?P<param>[\S\s]*?)[\)])")
INTERPOLATIONS = {"linear": "linear", "quadratic": "cubic", "cubic": "cubic"}


@dataclass
class DDSchedule:
    text: str
    notes: list[str] = field(default_factory=list)  # where DD's reading differs from this renderer's


def dd_keyframes(value: object, key: str) -> dict[int, float]:
    """DD's ``parse_key_frames``: ``{frame: value}`` in the order DD stores them (a repeated frame keeps its first
    place and takes its last value); a bare number is key 0, as DD's caller retries with ``"0: (value)"``."""
    text = str(value)
    frames = {int(m.group("frame")): m.group("param") for m in DD_KEY.finditer(text)}
    if not frames and text.strip():
        frames = {0: text}
    if not frames:
        raise ImportProblem(key, value, "holds no keyframes", 'write keys as "frame: (value)", e.g. "0: (1.0)"')
    out = {}
    for frame, param in frames.items():
        try:
            out[frame] = float(param)
        except ValueError:
            raise ImportProblem(key, value, f"key {frame}: {param!r} is not a number (DD's keyframes hold numbers; "
                                "DD stopped with a ValueError)", "write a number in each key's parentheses") from None
    return out


def dd_schedule(value: object, key: str, n_frames: int) -> DDSchedule:
    """The schedule that gives DD's per-frame values over ``n_frames`` frames."""
    keys = dd_keyframes(value, key)
    notes = []
    if re.search(r"[0-9]+\s+:", str(value)):
        notes.append("a key written with a space before its colon is not a key to DD (it was left out)")
    inside = {f: v for f, v in keys.items() if f < n_frames}
    past = [(f, v) for f, v in keys.items() if f >= n_frames]
    if past:
        if not inside:
            inside[0] = past[0][1]
        inside[n_frames - 1] = past[-1][1]
        notes.append(f"key{'s' if len(past) > 1 else ''} {', '.join(str(f) for f, _ in past)} past the last frame "
                     f"({n_frames - 1}): DD squeezed the ramp, so the last frame takes {past[-1][1]:g} as in DD")
    text = ", ".join(f"{f}: ({number_text(v)})" for f, v in sorted(inside.items()))
    return DDSchedule(text, notes)
