"""Prompt schedules: ``{0: ["a lighthouse:2", "yellow"], 100: ["a storm"]}``.

Keys use the schedule language's key syntax (frame numbers, ``2.5s``, expressions of ``max_f`` and ``fps``). The
prompts of a key hold from that key until the next one, switching on one frame (Disco Diffusion's behaviour) unless the
key fades in (``"100 fade 24"``, or a default span: see ``transforms.prompt_fades``); frames before the first key use the
first key's prompts.

Each prompt is ``"text:weight"``; the weight is what follows the last colon (for ``http(s)://`` image prompts, the
last colon after the scheme) and defaults to 1. Where that suffix is not a number, the colon is part of the text
(DD raised a ValueError there). The weight is removed from the text before it reaches CLIP (DD tokenised the
suffix too: one of its quirks).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from transforms.keyframes import MAX_VALUE, ScheduleError, resolve_key
from transforms.prompt_fades import FADE_CURVES, fade_length, fade_weights, split_fade

WEIGHT_SUM_EPSILON = 1e-3


@dataclass(frozen=True)
class Prompt:
    text: str
    weight: float = 1.0


def parse_prompt(prompt: str) -> Prompt:
    """Split ``"text:weight"`` into a :class:`Prompt`."""
    if not isinstance(prompt, str):
        raise ScheduleError(f"a prompt must be a string, got {prompt!r}")
    head, colon, tail = prompt.rpartition(":")
    if not colon or head in ("http", "https"):
        return Prompt(prompt.strip(), 1.0)
    try:
        weight = float(tail)
    except ValueError:
        return Prompt(prompt.strip(), 1.0)
    if not (np.isfinite(weight) and abs(weight) <= MAX_VALUE):  # beyond, the weights' sum overflows
        raise ScheduleError(f"prompt weight must be a finite number within ±{MAX_VALUE:g}, got {tail.strip()!r}",
                            text=prompt)
    return Prompt(head.strip(), weight)


@dataclass(frozen=True)
class PromptSet:
    prompts: tuple[Prompt, ...]
    weight: float  # its share of the guidance (the sets of a frame sum to 1)
    since: int  # the frame it came into force (its targets are seeded by it)


@dataclass(frozen=True)
class PromptSchedule:
    """Per-frame prompt lists, ``frames[f]`` being a tuple of :class:`Prompt` (the key in force), and during a fade
    the weight of that key against the previous one."""

    frames: tuple[tuple[Prompt, ...], ...]
    change_frames: tuple[int, ...]  # frames at which the prompt list changes (for plots and embedding caches)
    blend: tuple[float, ...] = ()  # per frame, the weight of frames[f] (1 outside fades); empty: no fades

    def at(self, frame: int) -> tuple[Prompt, ...]:
        return self.frames[min(frame, len(self.frames) - 1)]

    def weight_at(self, frame: int) -> float:
        return self.blend[min(frame, len(self.blend) - 1)] if self.blend else 1.0

    def sets_at(self, frame: int) -> tuple[PromptSet, ...]:
        """What frame ``frame`` targets: the key in force, and during its fade the previous key's prompts."""
        frame = min(frame, len(self.frames) - 1)
        since = max((c for c in self.change_frames if c <= frame), default=0)
        u = self.weight_at(frame)
        current = PromptSet(self.frames[frame], u, since)
        if u >= 1.0 or since == 0:
            return (dataclasses.replace(current, weight=1.0),)
        before = max((c for c in self.change_frames if c < since), default=0)
        return PromptSet(self.frames[since - 1], 1.0 - u, before), current

    def fade_spans(self) -> list[tuple[int, int]]:
        """``(first, last)`` frames of each fade (frames where two prompt sets are blended)."""
        fading = np.flatnonzero(np.asarray(self.blend) < 1.0) if self.blend else np.zeros(0, int)
        if not len(fading):
            return []
        breaks = np.flatnonzero(np.diff(fading) > 1)
        starts, ends = np.r_[fading[0], fading[breaks + 1]], np.r_[fading[breaks], fading[-1]]
        return [(int(a), int(b)) for a, b in zip(starts, ends)]


def evaluate_prompt_schedule(prompts: Mapping[Any, Sequence[str]] | None, n_frames: int,
                             fps: float = 12.0, *, setting: str = "text_prompts",
                             beat_clock: np.ndarray | None = None, fade: object = 0,
                             fade_curve: str = "linear") -> PromptSchedule:
    """Resolve a prompt dict to one prompt list per frame; raises :class:`ScheduleError` naming the key.
    ``beat_clock`` (the song's ``b`` per frame) lets keys be written in beats, e.g. ``32b``. ``fade`` and
    ``fade_curve`` are the span and curve of keys that do not give their own (``prompt_blend``)."""
    prompts = dict(prompts or {})
    if not prompts:
        return PromptSchedule(frames=((),) * n_frames, change_frames=())
    env = {"max_f": float(n_frames - 1), "fps": float(fps), "b": beat_clock}
    if fade_curve not in FADE_CURVES:
        raise ScheduleError(f"unknown fade curve {fade_curve!r}; choose from {', '.join(FADE_CURVES)}",
                            setting="prompt_blend_interpolation")
    keyed = []
    for key, items in prompts.items():
        label = str(key)
        where = f"{setting}[{label}]"
        if isinstance(items, str):
            items = [items]
        try:
            label, span, curve = split_fade(label)
            position = resolve_key(label, env)
            length = _fade_length(fade if span is None else span, position, env, span is None)
            parsed = tuple(parse_prompt(p) for p in items)
        except ScheduleError as exc:
            if exc.setting == "prompt_blend":
                raise
            raise ScheduleError(exc.reason, setting=where, text=exc.text) from None
        if not all(p.text for p in parsed):
            raise ScheduleError("a prompt is empty", setting=where, text=str(list(items)))
        if parsed and abs(sum(p.weight for p in parsed)) < WEIGHT_SUM_EPSILON:
            raise ScheduleError("the prompt weights sum to zero; give at least one prompt a weight that does not "
                                "cancel the others", setting=where, text=str(list(items)))
        keyed.append((position, parsed, (length, curve or fade_curve)))
    keyed.sort(key=lambda kv: kv[0])
    positions = np.array([p for p, _, _ in keyed])
    index = np.clip(np.searchsorted(positions, np.arange(n_frames), side="right") - 1, 0, None)
    frames = tuple(keyed[i][1] for i in index)
    changes = tuple(int(f) for f in np.flatnonzero(np.diff(index)) + 1)
    weights = fade_weights(index, [k[2] for k in keyed])
    blend = tuple(float(w) for w in weights) if np.any(weights < 1.0) else ()
    return PromptSchedule(frames=frames, change_frames=changes, blend=blend)


def _fade_length(span: object, position: float, env: dict, default: bool) -> float:
    """The fade's length in frames; an error in the default span names ``prompt_blend``."""
    try:
        return fade_length(span, position, env)
    except ScheduleError as exc:
        if default:
            raise ScheduleError(exc.reason, setting="prompt_blend", text=exc.text) from None
        raise
