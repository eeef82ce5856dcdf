"""Every schedule and prompt schedule evaluated over every frame (with the song's features as variables), or, before
the song is analysed, parsed only."""
from __future__ import annotations

import numpy as np

from audio.analysis import VARIABLES as AUDIO_VARIABLES
from render.config.issues import ConfigIssue
from render.config.schema import Config, schedule_fields
from render.config.settings import setting_value
from transforms.keyframes import VALUE_NAMES, ScheduleError, parse_schedule
from transforms.prompts import PromptSchedule, evaluate_prompt_schedule

SCHEDULE_FIX = 'write keys as "frame: (value)", e.g. "0: (1.0), 10: (1.05)"; see README "Schedules"'


def evaluate_schedules(cfg: Config, n_frames: int, fps: float, issues: list[ConfigIssue],
                       variables: dict | None = None) -> dict[str, np.ndarray]:
    """Every schedule over every frame; ``variables`` (the song's features) may appear in value expressions."""
    out = {}
    interpolation = cfg.animation.interp_spline.value
    names = VALUE_NAMES | frozenset(variables or ())
    for path, _ in schedule_fields():
        text = setting_value(cfg, path)
        try:
            out[path] = parse_schedule(text, interpolation, names=names).evaluate(n_frames, fps, variables)
        except ScheduleError as exc:
            issues.append(ConfigIssue(path, text, str(exc), SCHEDULE_FIX))
    return out


def parse_schedules(cfg: Config, issues: list[ConfigIssue]) -> None:
    """Every schedule's syntax and names, for a run whose frame values wait for the song (its variables allowed)."""
    interpolation = cfg.animation.interp_spline.value
    for path, _ in schedule_fields():
        text = setting_value(cfg, path)
        try:
            parse_schedule(text, interpolation, names=VALUE_NAMES | frozenset(AUDIO_VARIABLES))
        except ScheduleError as exc:
            issues.append(ConfigIssue(path, text, str(exc), SCHEDULE_FIX))


def evaluate_prompts(prompts, setting: str, n_frames: int, fps: float, issues: list[ConfigIssue],
                     beat_clock: np.ndarray | None = None, fade: tuple = (0, "linear")) -> PromptSchedule:
    """A prompt schedule over every frame; an empty one (with the problem recorded) when it cannot be made."""
    try:
        return evaluate_prompt_schedule(prompts, n_frames, fps, setting=setting, beat_clock=beat_clock,
                                        fade=fade[0], fade_curve=fade[1])
    except ScheduleError as exc:
        if exc.setting == "prompt_blend":
            if not any(i.setting == "prompt_blend" for i in issues):
                issues.append(ConfigIssue("prompt_blend", fade[0], exc.reason, "give frames (24), seconds (2s) or "
                                          "beats of the song (4b), or 0 for hard switches"))
            return PromptSchedule(frames=((),) * n_frames, change_frames=())
        issues.append(ConfigIssue(exc.setting or setting, dict(prompts or {}), exc.reason,
                                  f'write {setting} as {{frame: ["text:weight", ...]}}, e.g. {{0: ["a lighthouse:2", '
                                  f'"yellow"]}}'))
        return PromptSchedule(frames=((),) * n_frames, change_frames=())
