"""``POST /api/plan``: a config's per-frame schedule values and prompt mix without rendering.

The pure planner's draft gives them for most configs. A config whose values wait on its inputs (a song's features,
the source video's length, a glTF camera) has those resolved by the renderer's own functions (the song through its
cached analysis, on this machine's device), so the values are the run's; the answer says what was resolved."""
from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Any

from render.config.assets import resolve_assets
from render.config.issues import ConfigErrors
from render.config.plan import RenderPlan
from render.config.planner import plan_run
from render.config.schema import Config, schedule_fields
from render.studio.checks import JobRefused, draft_plan
from render.studio.models import AudioOut, MixOut, PlanOut, PromptOut, ScheduleField


def _needs_inputs(settings: Config) -> bool:
    return bool(settings.audio.path) or settings.animation.mode.value == "video_input" or \
        bool(settings.animation.camera_path)


def resolved_plan(settings: Config, draft: RenderPlan) -> tuple[RenderPlan, list[str]]:
    """The plan with the song, the source video and the camera resolved as the run resolves them."""
    try:
        plan = plan_run(settings, resolve_assets(draft, settings, inputs_only=True))
    except ConfigErrors as exc:
        raise JobRefused(exc.problems()) from None
    assets = plan.assets
    names = [name for name, value in (("song", assets.audio), ("source video", assets.video),
                                      ("camera path", assets.camera_path)) if value]
    return plan, names


def run_plan(settings: Config, resolve: bool = True) -> tuple[RenderPlan, list[str]]:
    """The plan the run would render (its inputs resolved when ``resolve``), and what was resolved."""
    draft = draft_plan(settings)
    if resolve and _needs_inputs(settings):
        return resolved_plan(settings, draft)
    return draft, []


def plan_values(settings: Config, resolve: bool = True, song_url=None) -> PlanOut:
    """The answer of ``POST /api/plan``; ``song_url(path)`` is where the page may play the song (None: nowhere)."""
    plan, resolved = run_plan(settings, resolve)
    if resolved:
        note = (f"the values are the run's: {', '.join(resolved)} resolved as the renderer resolves them (the song "
                f"through its own cached analysis)")
    elif _needs_inputs(settings):
        note = "a draft: the song, source video or camera were not resolved (song=false), so their values are missing"
    else:
        note = "the values are the run's: the settings alone decide them"
    return PlanOut(n_frames=plan.n_frames or None, width=plan.width, height=plan.height, fps=plan.fps,
                   seed=settings.seed, schedules={k: [float(x) for x in v] for k, v in plan.schedules.items()},
                   prompts=[_mix(plan, f) for f in range(plan.n_frames)], resolved=resolved, note=note,
                   warnings=list(plan.warnings), mode=settings.animation.mode.value, settings=flat_settings(settings),
                   audio=_audio(settings, plan, song_url))


def schedule_settings() -> list[ScheduleField]:
    """Every schedule setting with the modes that use it, its help and its default."""
    return [ScheduleField(setting=path, modes=list(f.metadata.get("modes", ())), help=f.metadata.get("help", ""),
                          default=str(f.default)) for path, f in schedule_fields()]


def flat_settings(settings: Any, prefix: str = "") -> dict[str, Any]:
    """The typed settings as ``{"animation.zoom": "0: (1)", ...}``, JSON-ready (enums by value, prompt keys as
    text), for editors to start from."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(settings):
        value, name = getattr(settings, f.name), f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            out.update(flat_settings(value, f"{name}."))
        elif isinstance(value, Enum):
            out[name] = value.value
        elif isinstance(value, dict):
            out[name] = {str(k): v for k, v in value.items()}
        else:
            out[name] = value
    return out


def _audio(settings: Config, plan: RenderPlan, song_url) -> AudioOut | None:
    """The song's analysis as the run sees it (per frame), with where the page may play it."""
    features = plan.audio
    if features is None:
        return None
    url, note = song_url(settings.audio.path) if song_url is not None else (None, "the song is not served")
    return AudioOut(fps=features.fps, n_frames=features.n_frames, duration=features.duration, bpm=features.bpm,
                    offset=settings.audio.offset, beat_frames=[int(f) for f in features.beat_frames],
                    b=[float(x) for x in features.b], rms=[round(float(x), 4) for x in features.rms],
                    onset=[round(float(x), 4) for x in features.onset], url=url, note=note)


def _mix(plan: RenderPlan, frame: int) -> list[MixOut]:
    return [MixOut(text=[PromptOut(text=p.text, weight=p.weight) for p in mix.text],
                   images=[PromptOut(text=p.text, weight=p.weight) for p in mix.images], weight=mix.weight)
            for mix in plan.prompt_mix(frame)]
