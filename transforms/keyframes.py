"""The keyframe schedule language.

A schedule is either a bare expression (``"1.05"``, ``"1 + 0.02*sin(2*pi*s)"``) or a comma-separated list of keys in
Disco Diffusion's syntax, ``"0: (1.0), 10: (1.05)"``:

- a **key** is a frame number (``10``), a time in seconds (``2.5s``), a beat of the song (``16b``: where the beat
  clock ``b`` of ``audio.path`` reaches 16), or an expression of ``max_f`` (the last frame index) and ``fps``
  (``max_f/2``);
- its **value** in parentheses is an expression of ``t`` (frame), ``s`` (seconds, ``t/fps``), ``max_f``, ``fps``
  and any per-frame variables the caller provides, evaluated for all frames at once (see ``transforms.expressions``);
- an optional **interpolation** name after the value (``0: (1.0) ease_in, 24: (1.2)``) applies to the segment that
  starts at that key; a name before the first key sets the schedule's default (``"cubic 0:(0), 12:(1), 24:(0)"``).

Semantics follow Disco Diffusion's ``parse_key_frames`` + ``get_inbetweens`` for every string it accepts, with two
deliberate fixes: a space before the colon is accepted (DD silently dropped that key), and a key beyond the last frame
does not compress the ramp (the timeline is evaluated as if it went on, then cut).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from transforms.expressions import Expression, ExpressionError, parse_expression
from transforms.interpolation import INTERPOLATIONS, key_weights

KEY_NAMES = frozenset({"max_f", "fps"})
VALUE_NAMES = frozenset({"t", "s", "max_f", "fps"})
MAX_SCHEDULE_LENGTH = 4_000_000  # a value per frame of 100000 frames (an imported Parseq manifest)
_SECONDS_KEY = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*s\s*$")
_PLAIN_KEY = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*$")
_BEAT_KEY = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*b\s*$")
_DEFAULT_PREFIX = re.compile(r"^\s*([A-Za-z_]+)\s+(.*)$", re.S)
_TRAILING_INTERP = re.compile(r"^(.*?)\s+([A-Za-z_]+)\s*$", re.S)


class ScheduleError(ValueError):
    """A schedule that cannot be parsed or evaluated. ``str()`` names the setting, key, frame and position."""

    def __init__(self, reason: str, *, setting: str | None = None, text: str | None = None,
                 key: str | None = None, frame: int | None = None, position: int | None = None):
        self.reason, self.setting, self.text = reason, setting, text
        self.key, self.frame, self.position = key, frame, position
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.key is not None:
            where.append(f"key {self.key}")
        if self.frame is not None:
            where.append(f"frame {self.frame}")
        elif self.position is not None:
            where.append(f"char {self.position}")
        head = f"{self.setting}: " if self.setting else ""
        head += f"{', '.join(where)}: " if where else ""
        tail = f' in "{self.text}"' if self.text is not None else ""
        return f"{head}{self.reason}{tail}"


@dataclass(frozen=True)
class Keyframe:
    key: str  # the key as written, e.g. "10", "2.5s", "max_f/2"
    value: Expression
    interpolation: str | None  # the segment starting here; None means the schedule's default
    offset: int  # character offset of the key in the schedule text


@dataclass(frozen=True)
class Schedule:
    text: str
    keyframes: tuple[Keyframe, ...]
    interpolation: str = "linear"

    @property
    def is_constant(self) -> bool:
        names = set().union(*(k.value.names for k in self.keyframes))
        return len(self.keyframes) == 1 and not names & {"t", "s"}

    def evaluate(self, n_frames: int, fps: float = 12.0,
                 variables: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        """Values for frames ``0..n_frames-1`` as a float64 array; raises :class:`ScheduleError`."""
        if n_frames < 1:
            raise ScheduleError(f"the number of frames must be at least 1, got {n_frames}")
        if not fps > 0:
            raise ScheduleError(f"fps must be positive, got {fps}")
        t = np.arange(n_frames, dtype=np.float64)
        env = {"t": t, "s": t / fps, "max_f": float(n_frames - 1), "fps": float(fps), **(variables or {})}
        keys = self._resolve_keys(env)
        positions = np.array([p for p, _ in keys])
        kinds = [k.interpolation or self.interpolation for _, k in keys]
        _check_positions(keys, kinds)
        out = np.zeros(n_frames)
        with np.errstate(all="ignore"):
            weights = list(key_weights(positions, kinds, t))
        for (_, key), (used, w) in zip(keys, weights):
            if len(used) == 0:
                continue
            sub = {name: (v[used] if np.ndim(v) else v) for name, v in env.items()} if key.value.names else {}
            try:  # a number needs one evaluation (a key per frame of an imported manifest: thousands of them)
                values = key.value.evaluate(sub, used) if key.value.names else key.value.evaluate({}, used[:1])
            except ExpressionError as exc:
                raise self._error(exc, key) from None
            with np.errstate(all="ignore"):
                out[used] += w * values
        _check_values(out)
        return out

    def _resolve_keys(self, env: Mapping) -> list[tuple[float, Keyframe]]:
        """Key positions in frames, sorted; a later duplicate replaces an earlier one (as in DD's dict)."""
        by_position: dict[float, Keyframe] = {}
        for key in self.keyframes:
            position = resolve_key(key.key, env, offset=key.offset)
            by_position.pop(position, None)
            by_position[position] = key
        return sorted(by_position.items())

    def _error(self, exc: ExpressionError, key: Keyframe) -> ScheduleError:
        bare = len(self.keyframes) == 1 and key.key == ""
        return ScheduleError(exc.reason, text=key.value.text.strip(), key=None if bare else key.key,
                             frame=exc.frame, position=None if exc.position is None else exc.position)


MAX_VALUE = 1e15  # beyond, a camera value or a zoom is no longer a picture (and float32 warps overflow)
MAX_KEY = 1e9  # frames: about 1.3 years at 24 fps


def _check_positions(keys: list[tuple[float, "Keyframe"]], kinds: list[str]) -> None:
    """Key positions must be finite frames; splines need keys at least a frame apart (closer keys make the spline
    overshoot to astronomic values between them)."""
    for position, key in keys:
        if not (np.isfinite(position) and abs(position) <= MAX_KEY):
            raise ScheduleError(f"the key's frame {position:g} is not a finite frame within ±{MAX_KEY:g}",
                                key=key.key)
    if "cubic" in kinds and len(keys) > 2:
        gaps = np.diff([p for p, _ in keys])
        if np.any(gaps < 1.0):
            i = int(np.argmin(gaps))
            raise ScheduleError(f"keys {keys[i][1].key or 0} and {keys[i + 1][1].key} are {gaps[i]:g} frames apart; "
                                f"cubic needs keys at least one frame apart (merge them, or use linear)",
                                key=keys[i + 1][1].key)


def _check_values(out: np.ndarray) -> None:
    """NaN, infinite or astronomic values are errors, naming the first frame that has one."""
    bad = ~np.isfinite(out) | (np.abs(out) > MAX_VALUE)
    if np.any(bad):
        frame = int(np.argmax(bad))
        raise ScheduleError(f"the value is {out[frame]:g} (NaN, infinite or beyond ±{MAX_VALUE:g}); give finite "
                            f"values of a sensible size", frame=frame)


def resolve_key(key: str, env: Mapping, *, offset: int = 0) -> float:
    """The frame position of a key: ``10``, ``2.5s``, ``16b`` (beat 16 of the song: needs the beat clock ``b`` in
    ``env``) or an expression of ``max_f`` and ``fps`` (from ``env``)."""
    if key == "":
        return 0.0
    seconds = _SECONDS_KEY.match(key)
    if seconds:
        return float(seconds.group(1)) * env["fps"]
    beats = _BEAT_KEY.match(key)
    if beats:
        return _beat_position(float(beats.group(1)), env.get("b"), key, offset)
    plain = _PLAIN_KEY.match(key)
    if plain:
        return float(plain.group(1))
    try:
        expr = parse_expression(key, KEY_NAMES)
        value = expr.evaluate({k: env[k] for k in KEY_NAMES}, np.zeros(1))
    except ExpressionError as exc:
        raise ScheduleError(f"key is not a frame number, a time like 2.5s, a beat like 16b or an expression of "
                            f"max_f and fps ({exc.reason})", key=key, position=offset) from None
    return float(value[0])


def _beat_position(beat: float, clock, key: str, offset: int) -> float:
    """The (fractional) frame where the beat clock reaches ``beat``; beyond the song it goes on at its tempo."""
    clock = None if clock is None else np.asarray(clock, dtype=np.float64)
    if clock is None or clock.ndim != 1 or clock.size < 2 or not np.all(np.diff(clock) > 0):
        reason = ("a key in beats needs a song with a steady beat (audio.path; no beats were detected)"
                  if clock is not None else "a key in beats needs a song: set audio.path")
        raise ScheduleError(reason, key=key, position=offset)
    frames = np.arange(clock.size, dtype=np.float64)
    if beat > clock[-1]:
        return float(frames[-1] + (beat - clock[-1]) / (clock[-1] - clock[-2]))
    if beat < clock[0]:
        return float((beat - clock[0]) / (clock[1] - clock[0]))
    return float(np.interp(beat, clock, frames))


def parse_schedule(text: str, interpolation: str = "linear", *,
                   names: frozenset[str] = VALUE_NAMES) -> Schedule:
    """Parse a schedule string. ``names`` are the variables value expressions may use."""
    if not isinstance(text, str):
        text = str(text)
    if len(text) > MAX_SCHEDULE_LENGTH:
        raise ScheduleError(f"schedule is longer than {MAX_SCHEDULE_LENGTH} characters")
    if interpolation not in INTERPOLATIONS:
        raise ScheduleError(f"unknown interpolation {interpolation!r}; choose from {', '.join(INTERPOLATIONS)}")
    pieces = _split_top_level(text)
    if not any(_top_level_colon(piece) >= 0 for piece, _ in pieces):
        return Schedule(text, (Keyframe("", _expression(text, 0, names, None), None, 0),), interpolation)
    keyframes = []
    for i, (piece, offset) in enumerate(pieces):
        if not piece.strip():
            continue  # tolerate empty pieces and a trailing comma, as DD's regex scan does
        if i == 0:
            interpolation, piece, offset = _default_prefix(piece, offset, interpolation)
        keyframes.append(_parse_keyframe(piece, offset, names))
    if not keyframes:
        raise ScheduleError("no keyframes", text=text, position=0)
    return Schedule(text, tuple(keyframes), interpolation)


def evaluate_schedule(text: str, n_frames: int, fps: float = 12.0, *, interpolation: str = "linear",
                      variables: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
    """Evaluate a schedule string over ``n_frames`` frames (float64, shape ``(n_frames,)``).

    ``variables`` are extra per-frame arrays (length ``n_frames``) or scalars usable in value expressions.
    Raises :class:`ScheduleError`, and nothing else, for any bad input.
    """
    names = VALUE_NAMES | frozenset(variables or ())
    return parse_schedule(text, interpolation, names=names).evaluate(n_frames, fps, variables)


def _expression(text: str, offset: int, names: frozenset[str], key: str | None) -> Expression:
    try:
        return parse_expression(text, names)
    except ExpressionError as exc:
        position = offset + (exc.position or 0)
        raise ScheduleError(exc.reason, text=text.strip(), key=key, position=position) from None


def _split_top_level(text: str) -> list[tuple[str, int]]:
    """Split at commas outside parentheses; returns (piece, offset) pairs."""
    pieces, open_at, start = [], [], 0
    for i, ch in enumerate(text):
        if ch == "(":
            open_at.append(i)
        elif ch == ")":
            if not open_at:
                raise ScheduleError("unbalanced ')'", text=text, position=i)
            open_at.pop()
        elif ch == "," and not open_at:
            pieces.append((text[start:i], start))
            start = i + 1
    if open_at:
        raise ScheduleError("unclosed '('", text=text, position=open_at[0])
    pieces.append((text[start:], start))
    return pieces


def _default_prefix(piece: str, offset: int, default: str) -> tuple[str, str, int]:
    key_part = piece.split(":", 1)[0]
    match = _DEFAULT_PREFIX.match(key_part)
    if match and match.group(1) in INTERPOLATIONS:
        consumed = match.start(2)
        return match.group(1), piece[consumed:], offset + consumed
    if match and (_PLAIN_KEY.match(match.group(2)) or _SECONDS_KEY.match(match.group(2))):
        raise ScheduleError(f"unknown interpolation {match.group(1)!r}; choose from {', '.join(INTERPOLATIONS)}",
                            text=piece.strip(), position=offset + match.start(1))
    return default, piece, offset


def _parse_keyframe(piece: str, offset: int, names: frozenset[str]) -> Keyframe:
    colon = _top_level_colon(piece)
    if colon < 0:
        raise ScheduleError("expected 'key: (value)'", text=piece.strip(), position=offset)
    key = piece[:colon].strip()
    if not key:
        raise ScheduleError("missing key before ':'", text=piece.strip(), position=offset + colon)
    rest, rest_offset = piece[colon + 1:], offset + colon + 1
    try:
        value_text, interpolation = _split_value(rest)
    except ScheduleError as exc:
        raise ScheduleError(exc.reason, key=key, text=exc.text, position=rest_offset) from None
    if not value_text.strip():
        raise ScheduleError("missing value after ':'", key=key, text=piece.strip(), position=rest_offset)
    inner = _unwrap_parentheses(value_text)
    if inner is not None and not inner.strip():
        raise ScheduleError("missing value inside '( )'", key=key, text=piece.strip(), position=rest_offset)
    value_offset = rest_offset + (rest.index("(") + 1 if inner is not None else 0)
    expr = _expression(inner if inner is not None else value_text, value_offset, names, key)
    return Keyframe(key=key, value=expr, interpolation=interpolation, offset=offset + len(piece) - len(piece.lstrip()))


def _top_level_colon(piece: str) -> int:
    depth = 0
    for i, ch in enumerate(piece):
        depth += ch == "("
        depth -= ch == ")"
        if ch == ":" and depth == 0:
            return i
    return -1


def _split_value(rest: str) -> tuple[str, str | None]:
    """Separate a trailing interpolation name from the value text."""
    match = _TRAILING_INTERP.match(rest)
    if match and match.group(1).strip():
        if match.group(2) in INTERPOLATIONS:
            return match.group(1), match.group(2)
        if _unwrap_parentheses(match.group(1)) is not None:
            raise ScheduleError(f"unknown interpolation {match.group(2)!r} after the value; choose from "
                                f"{', '.join(INTERPOLATIONS)}", text=rest.strip())
    return rest, None


def _unwrap_parentheses(value_text: str) -> str | None:
    """The inside of ``( ... )`` when the parentheses enclose the whole value, else None."""
    stripped = value_text.strip()
    if not stripped.startswith("("):
        return None
    depth = 0
    for i, ch in enumerate(stripped):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0:
            return stripped[1:i] if i == len(stripped) - 1 else None
    return None


__all__ = ["ScheduleError", "Schedule", "Keyframe", "parse_schedule", "evaluate_schedule", "resolve_key"]
