"""Deforum's keyframe strings read by Deforum's rules and written in this renderer's schedule language.

Deforum (``animation_key_frames.py``) keeps keys below ``max_frames`` (later ones are ignored), resolves keys that are
expressions of ``max_f`` with ``int()``, and fills the frames in two ways: a number key is blended linearly toward
the next key's value at that key's frame, while an expression key is evaluated on every frame from its key until the
next key (no blend). The schedule written here gives the same value on every frame: number keys as they are, an
expression key with ``step`` (it holds until the next key), and where a number key blends into an expression key,
that key's value is the expression at its own frame on the frames before it (``where(t < key, ...)``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from render.interop.numexpr_language import TranslationError, translate, uses_frame
from render.interop.source import ImportProblem, number_text
from transforms.keyframes import ScheduleError, resolve_key

NUMBER = re.compile(r"^(?=.)([+-]?([0-9]*)(\.([0-9]+))?)$")  # Deforum's check_is_number
SCHEDULE_FIX = 'write keys as "frame: (value)" with numbers or numexpr expressions of t, max_f and s'


@dataclass
class DeforumSchedule:
    text: str
    notes: list[str] = field(default_factory=list)


def _sanitize(text: str) -> str:
    return text.replace("'", "").replace('"', "").replace("(", "").replace(")", "")


def _split(text: str, key: str) -> list[tuple[str, str]]:
    """``key: value`` pieces at top-level commas (Deforum split at every comma, so its own files never have commas
    inside a value)."""
    pieces, depth, start = [], 0, 0
    for i, ch in enumerate(text + ","):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            piece = text[start:i].strip()
            start = i + 1
            if not piece:
                continue
            frame, colon, value = piece.partition(":")
            if not colon or not frame.strip() or not value.strip():
                raise ImportProblem(key, text, f"{piece!r} is not 'frame: (value)'", SCHEDULE_FIX)
            pieces.append((frame.strip(), value.strip()))
    if depth != 0:
        raise ImportProblem(key, text, "unbalanced parentheses", SCHEDULE_FIX)
    return pieces


def _frame(frame: str, key: str, text: str, n_frames: int, seed: int | None) -> int:
    clean = _sanitize(frame).strip()
    if NUMBER.match(clean):
        return int(float(clean))
    try:
        expression = translate(frame.strip().strip("'\""), seed)
    except TranslationError as exc:
        raise ImportProblem(key, text, f"key {frame}: {exc.reason}", SCHEDULE_FIX) from None
    try:
        return int(resolve_key(expression, {"max_f": float(n_frames - 1), "fps": 1.0}))
    except ScheduleError as exc:
        raise ImportProblem(key, text, f"key {frame}: {exc.reason}", SCHEDULE_FIX) from None


def deforum_schedule(value: object, key: str, n_frames: int, seed: int | None) -> DeforumSchedule:
    """The schedule that gives Deforum's per-frame values over ``n_frames`` frames (``seed`` is Deforum's ``s``)."""
    text = str(value)
    if ":" not in text and NUMBER.match(text.strip()):  # a plain number (the Colab's fov, near_plane, far_plane)
        text = f"0: ({text})"
    keys: dict[int, str] = {}
    notes = []
    for frame_text, value_text in _split(text, key):
        frame = _frame(frame_text, key, text, n_frames, seed)
        if not 0 <= frame < n_frames:
            notes.append(f"key {frame_text} (frame {frame}) is outside frames 0..{n_frames - 1}: Deforum ignored it")
            continue
        keys[frame] = value_text
    if not keys:
        raise ImportProblem(key, text, f"has no key inside frames 0..{n_frames - 1}", SCHEDULE_FIX)
    pieces, previous_is_number = [], True
    for frame, value_text in sorted(keys.items()):
        clean = _sanitize(value_text)
        if NUMBER.match(clean):
            pieces.append(f"{frame}: ({number_text(float(clean))})")
            previous_is_number = True
            continue
        try:
            expression = translate(value_text, seed)
            at_key = translate(value_text, seed, frame=frame)
        except TranslationError as exc:
            raise ImportProblem(key, text, f"key {frame}: {exc.reason}", SCHEDULE_FIX) from None
        if previous_is_number and frame > 0 and uses_frame(expression):
            expression = f"where(t < {frame}, {at_key}, {expression})"
        pieces.append(f"{frame}: ({expression}) step")
        previous_is_number = False
    return DeforumSchedule(", ".join(pieces), notes)
