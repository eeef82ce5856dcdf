"""Checks of the settings that watch a frame form (``output.progress_every``, ``output.intermediate_saves``) and
of seamless loops (``animation.loop``): each problem is reported through ``add(setting, value, problem, fix)``."""
from __future__ import annotations

from typing import Any, Callable

from render.config.limits import MAX_STEPS
from render.config.schema import Config

Add = Callable[[str, Any, str, str], None]
LOOP_MODES = ("2d", "3d")


def _whole(value: Any) -> int | None:
    """``value`` as an int when it is a whole number (not a bool), else None."""
    if isinstance(value, bool):
        return None
    try:
        return int(value) if float(value) == int(float(value)) else None
    except (TypeError, ValueError, OverflowError):  # junk, NaN, infinity, more digits than a float holds
        return None


def check_step_images(cfg: Config, steps: int, add: Add) -> None:
    """``progress_every`` a non-negative whole number; ``intermediate_saves`` a count or a list of steps below
    ``steps`` (the model's steps: a frame never runs more); neither beyond :data:`MAX_STEPS`."""
    out = cfg.output
    every = _whole(out.progress_every)
    if every is None or not 0 <= every <= MAX_STEPS:
        add("output.progress_every", out.progress_every, f"must be a whole number of sampler steps, 0 to {MAX_STEPS}",
            "use e.g. output.progress_every=10 (DD's display_rate is 20), or 0 for no progress.png")
    spec = out.intermediate_saves
    if isinstance(spec, (list, tuple)) or hasattr(spec, "__iter__") and not isinstance(spec, str):
        values = [_whole(s) for s in spec]
        bad = [s for s, v in zip(spec, values) if v is None or not 0 <= v < steps]
        if bad:
            add("output.intermediate_saves", list(spec), f"steps {bad} are not whole numbers in 0..{steps - 1} "
                f"(model.steps={steps}; step 0 is the first step a frame runs)",
                "list steps a frame reaches, e.g. output.intermediate_saves=[10,50]")
        return
    count = _whole(spec)
    if count is None or not 0 <= count <= MAX_STEPS:
        add("output.intermediate_saves", spec, f"must be a count of evenly spaced saves (0 to {MAX_STEPS}) or a list "
            "of steps",
            "use e.g. output.intermediate_saves=4 or output.intermediate_saves=[10,50]")


def check_loop(cfg: Config, n_frames: int, add: Add) -> None:
    """A loop needs a 2D or 3D camera, at least two frames, and ``loop_frames`` in 1..max_frames-1."""
    anim = cfg.animation
    if not anim.loop:
        return
    if anim.mode.value not in LOOP_MODES:
        add("animation.loop", True, f"needs animation.mode=2d or 3d (it is {anim.mode.value})",
            "use animation=2d_zoom or animation=3d_zoom, or animation.loop=false")
    frames = _whole(anim.loop_frames)
    if frames is None or not 1 <= frames < n_frames:
        add("animation.loop_frames", anim.loop_frames, f"must be a whole number of frames in 1..{n_frames - 1} "
            f"(the run has {n_frames} frames; frame 0 is the loop's target)",
            f"use e.g. animation.loop_frames={max(1, min(24, n_frames // 4))}")
    for name, fix in (("loop_init_blend", "use 1.0 (the last init is frame 0 one camera step earlier) to 0 (off)"),
                      ("loop_scale", "use 1.0 (as strong as the prompts on the last frame), or 0 for no CLIP pull")):
        value = getattr(anim, name)
        upper = 1.0 if name == "loop_init_blend" else float("inf")
        if not (isinstance(value, (int, float)) and 0.0 <= value <= upper):
            add(f"animation.{name}", value, f"must be between 0 and {upper:g}", fix)
