"""Prompt cross-fades: a prompt key fading in over a span instead of switching on one frame.

A key may carry its fade: ``"100 fade 24"`` (the prompts of frame 100 fade in over 24 frames), ``"10s fade 2s"``,
``"32b fade 4b"`` (spans in seconds or beats, as keys are written), with an optional curve after it, as a schedule's
key names its interpolation: ``"100 fade 24 ease_in_out"``. The words need no quoting on Hydra's command line
(``'text_prompts={0: [a forest], 100 fade 24: [a city]}'``). Keys without one take the run's default
(``prompt_blend``; 0: a hard switch, DD's behaviour).

Over a fade of length ``L`` starting on frame ``c`` (the first frame the key is in force), frame ``f`` targets the
previous key's prompts with weight ``1 - u`` and the new key's with ``u``, ``u = curve((f - c + 1) / L)`` clipped to 1:
``L <= 1`` is a hard switch, ``L = 2`` gives 1/2 on frame ``c`` and 1 from ``c + 1`` on. A fade never runs past the next
key: it is shortened to end on the frame before it.
"""
from __future__ import annotations

import re
from typing import Mapping

import numpy as np

from transforms.interpolation import blend_weights
from transforms.keyframes import MAX_KEY, ScheduleError, resolve_key

FADE_CURVES = ("linear", "ease_in", "ease_out", "ease_in_out")
_FADE_WORD = re.compile(r"\bfade\b")
_FADE = re.compile(r"^(?P<key>.*?)\s+fade\s+(?P<span>\S+)(?:\s+(?P<curve>[A-Za-z_]+))?\s*$", re.S)
_FRAMES = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*$")
_SECONDS = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*s\s*$")
_BEATS = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*b\s*$")


def split_fade(label: str) -> tuple[str, str | None, str | None]:
    """``"100 fade 24 ease_in"`` -> ``("100", "24", "ease_in")``; a key without a fade -> ``(key, None, None)``."""
    if not _FADE_WORD.search(label):
        return label, None, None
    match = _FADE.match(label)
    if not match or not match.group("key").strip():
        raise ScheduleError("a fading key is written 'key fade span', e.g. '100 fade 24', '10s fade 2s' or '32b fade "
                            f"4b', optionally followed by a curve ({', '.join(FADE_CURVES)})", key=label)
    curve = match.group("curve")
    if curve is not None and curve not in FADE_CURVES:
        raise ScheduleError(f"unknown fade curve {curve!r}; choose from {', '.join(FADE_CURVES)}", key=label)
    return match.group("key").strip(), match.group("span"), curve


def fade_length(span: object, start: float, env: Mapping) -> float:
    """A span in frames from a key at frame ``start``: ``24`` frames, ``2s`` seconds (times ``fps``) or ``4b`` beats
    of the song (to where its beat clock ``b`` is 4 beats past the key's); at most :data:`MAX_KEY` frames."""
    try:
        length = _span_frames(span, start, env)
    except OverflowError:  # an integer span with more digits than a float holds
        length = float("inf")
    if not (np.isfinite(length) and length <= MAX_KEY):
        raise ScheduleError(f"a fade span is at most {MAX_KEY:g} frames (of seconds or beats as long)", text=str(span))
    return length


def _span_frames(span: object, start: float, env: Mapping) -> float:
    text = str(span).strip()
    if isinstance(span, (int, float)) and not isinstance(span, bool):
        text = repr(float(span)) if span >= 0 else text
    if _FRAMES.match(text):
        return float(text)
    seconds = _SECONDS.match(text)
    if seconds:
        return float(seconds.group(1)) * float(env["fps"])
    beats = _BEATS.match(text)
    if beats:
        clock = env.get("b")
        if clock is None:
            raise ScheduleError("a span in beats needs a song: set audio.path", text=text)
        clock = np.asarray(clock, dtype=np.float64)
        at_key = float(np.interp(start, np.arange(clock.size), clock))
        end = resolve_key(f"{at_key + float(beats.group(1))!r}b", env)
        return max(0.0, end - start)
    raise ScheduleError("a fade span is a number of frames (24), seconds (2s) or beats (4b), 0 or more", text=text)


def fade_weights(index: np.ndarray, fades: list[tuple[float, str]]) -> np.ndarray:
    """Per frame, the weight of the key in force (1 outside fades). ``index[f]`` is the key in force on frame f
    (non-decreasing), ``fades[k]`` key k's ``(length, curve)``."""
    n = len(index)
    weights = np.ones(n)
    changes = np.flatnonzero(np.diff(index)) + 1
    for i, c in enumerate(changes):
        length, curve = fades[index[c]]
        end = changes[i + 1] if i + 1 < len(changes) else n
        if i + 1 < len(changes):
            length = min(length, float(end - c))  # the run's end does not shorten a fade, the next key does
        if length <= 1:
            continue
        t = np.arange(c, end, dtype=np.float64)
        w = blend_weights(np.array([c - 1.0, c - 1.0 + length]), [curve, curve], t)[1]
        weights[c:end] = np.where(t >= c - 1.0 + length, 1.0, w)
    return weights
