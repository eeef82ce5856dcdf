"""Prompt schedules: ``{0: ["a lighthouse:2", "yellow"], 100: ["a storm"]}``.

Keys use the schedule language's key syntax (frame numbers, ``2.5s``, expressions of ``max_f`` and ``fps``). The
prompts of a key hold from that key until the next one, with no blending (Disco Diffusion's behaviour); frames before
the first key use the first key's prompts.

Each prompt is ``"text:weight"``; the weight is what follows the last colon (for ``http(s)://`` image prompts, the
last colon after the scheme) and defaults to 1. Where that suffix is not a number, the colon is part of the text
(DD raised a ValueError there). The weight is removed from the text before it reaches CLIP (DD tokenised the
suffix too: one of its quirks).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from transforms.keyframes import ScheduleError, resolve_key

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
    if not np.isfinite(weight):
        raise ScheduleError(f"prompt weight must be a finite number, got {tail.strip()!r}", text=prompt)
    return Prompt(head.strip(), weight)


@dataclass(frozen=True)
class PromptSchedule:
    """Per-frame prompt lists, ``frames[f]`` being a tuple of :class:`Prompt`."""

    frames: tuple[tuple[Prompt, ...], ...]
    change_frames: tuple[int, ...]  # frames at which the prompt list changes (for plots and embedding caches)

    def at(self, frame: int) -> tuple[Prompt, ...]:
        return self.frames[min(frame, len(self.frames) - 1)]


def evaluate_prompt_schedule(prompts: Mapping[Any, Sequence[str]] | None, n_frames: int,
                             fps: float = 12.0, *, setting: str = "text_prompts",
                             beat_clock: np.ndarray | None = None) -> PromptSchedule:
    """Resolve a prompt dict to one prompt list per frame; raises :class:`ScheduleError` naming the key.
    ``beat_clock`` (the song's ``b`` per frame) lets keys be written in beats, e.g. ``32b``."""
    prompts = dict(prompts or {})
    if not prompts:
        return PromptSchedule(frames=((),) * n_frames, change_frames=())
    env = {"max_f": float(n_frames - 1), "fps": float(fps), "b": beat_clock}
    keyed = []
    for key, items in prompts.items():
        label = str(key)
        where = f"{setting}[{label}]"
        if isinstance(items, str):
            items = [items]
        try:
            position = resolve_key(label, env)
            parsed = tuple(parse_prompt(p) for p in items)
        except ScheduleError as exc:
            raise ScheduleError(exc.reason, setting=where, text=exc.text) from None
        if not all(p.text for p in parsed):
            raise ScheduleError("a prompt is empty", setting=where, text=str(list(items)))
        if parsed and abs(sum(p.weight for p in parsed)) < WEIGHT_SUM_EPSILON:
            raise ScheduleError("the prompt weights sum to zero; give at least one prompt a weight that does not "
                                "cancel the others", setting=where, text=str(list(items)))
        keyed.append((position, parsed))
    keyed.sort(key=lambda kv: kv[0])
    positions = np.array([p for p, _ in keyed])
    index = np.clip(np.searchsorted(positions, np.arange(n_frames), side="right") - 1, 0, None)
    frames = tuple(keyed[i][1] for i in index)
    changes = tuple(int(f) for f in np.flatnonzero(np.diff(index)) + 1)
    return PromptSchedule(frames=frames, change_frames=changes)
