"""Parseq manifests (rewbs/sd-parseq's output) in this schema: the rendered per-frame values reproduced exactly.

A manifest's ``rendered_frames`` hold one object per frame with only the fields the author managed, each with
``<field>_delta`` (the change from the previous frame; for zoom ``1 + change``) and ``<field>_pc`` companions, plus
``deforum_prompt`` (``positive --neg negative``) and the seed. The camera fields are per-frame motion here, as in
Deforum with ``parseq_use_deltas`` (its default): their ``_delta`` values become the schedules; ``fov`` stays
absolute. Each schedule has one key per frame (keys inside straight runs left out: exact under linear interpolation,
``per_frame.py``). The run has as many frames as the manifest renders; a longer run holds the last values.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from render.interop.deforum_prompts import deforum_prompt
from render.interop.detect import FORMAT_NAMES, PARSEQ
from render.interop.per_frame import per_frame_schedule
from render.interop.report import ImportReport
from render.interop.source import (
    ImportContext,
    Imported,
    ImportProblem,
    command_line_mode,
    real_number,
    whole_number,
)

MOTION = ("angle", "zoom", "translation_x", "translation_y", "translation_z", "rotation_3d_x", "rotation_3d_y",
          "rotation_3d_z")
THREE_D = ("translation_z", "rotation_3d_x", "rotation_3d_y", "rotation_3d_z", "fov")
CONSTANTS = {"near": "animation.near_plane", "far": "animation.far_plane"}
EDITOR = ("meta", "prompts", "managedFields", "displayedFields", "keyframes", "timeSeries", "keyframeLock",
          "reverseRender", "rendered_frames_meta")
SD_FIELDS = ("strength", "noise", "scale", "contrast", "subseed", "subseed_strength", "sampler_schedule",
             "steps_schedule", "antiblur_kernel", "antiblur_sigma", "antiblur_amount", "antiblur_threshold",
             "perspective_flip_theta", "perspective_flip_phi", "perspective_flip_gamma", "perspective_flip_fv",
             "hybrid_comp_alpha", "hybrid_comp_mask_blend_alpha", "hybrid_comp_mask_contrast",
             "hybrid_comp_mask_auto_contrast_cutoff_high", "hybrid_comp_mask_auto_contrast_cutoff_low",
             "hybrid_flow_factor", "checkpoint", "clipskip", "noise_multiplier")
FIX = "export the manifest again from Parseq"


def import_parseq(data: dict, path: Path, context: ImportContext = ImportContext()) -> Imported:
    """Map a Parseq manifest (already read) to this renderer's settings."""
    out = Imported(ImportReport(str(path), FORMAT_NAMES[PARSEQ]))
    frames = _frames(data["rendered_frames"])
    n_frames = len(data["rendered_frames"])
    fields = set(data["rendered_frames"][0])
    out.set("animation.max_frames", n_frames, "rendered_frames", "one frame per rendered frame, as Deforum")
    out.set("animation.interp_spline", "linear", "rendered_frames", "the keys are every frame's value")
    out.report.note(f"the schedules hold the manifest's {n_frames} frames; a longer run (animation.max_frames) holds "
                    "the last frame's values")
    mode = _mode(fields, context, out)
    done = {"frame", "deforum_prompt", "seed"}
    for name in MOTION:
        source = f"{name}_delta" if f"{name}_delta" in fields else name
        if source in fields:
            done.update((name, f"{name}_delta"))
            how = "per-frame motion from the _delta values (Deforum's parseq_use_deltas)" if source != name else (
                "no _delta values: the values are taken as per-frame motion")
            out.set(f"animation.{name}", _schedule(frames, source), source, how)
    if "fov" in fields:
        done.update(("fov", "fov_delta"))
        out.set("animation.fov", _schedule(frames, "fov"), "fov", "absolute, per frame")
    for name, setting in CONSTANTS.items():
        if name in fields:
            done.update((name, f"{name}_delta"))
            values = [v for _, v in _series(frames, name)]
            setter = out.set if min(values) == max(values) else out.approximate
            setter(setting, values[0], name, "" if min(values) == max(values) else "frame 0's value (near and far do "
                   "not change the warp here, as in DD)")
    _seed(frames, fields, out)
    _prompts(frames, fields, n_frames, out)
    _options(data.get("options") or {}, mode, out)
    for name in sorted(fields - done):
        base = name[:-6] if name.endswith("_delta") else name[:-3] if name.endswith("_pc") else name
        if name.endswith("_pc") and base in fields:
            out.report.drop(name, "percent of the field's largest value, for Parseq's display")
        elif name.endswith("_delta") and base in fields and base not in SD_FIELDS:
            out.report.drop(name, f"the change per frame of {base}; the values themselves are used")
        elif base in SD_FIELDS or base.startswith(("prompt_weight_", "guided_", "cn_")):
            out.report.drop(name, "Stable Diffusion's (Deforum's) field; CLIP-guided diffusion has no counterpart")
        else:
            out.report.unknown_key(f"rendered_frames: {name}")
    for key in data:
        if key in EDITOR:
            out.report.drop(key, "Parseq's editor state; the rendered values are what the frames get")
        elif key not in ("rendered_frames", "options"):
            out.report.unknown_key(key)
    return out


def _frames(items: Any) -> dict[int, dict]:
    """The rendered frames by frame number (a repeated frame: the later one wins, as in Deforum)."""
    if not items or not all(isinstance(i, dict) for i in items):
        raise ImportProblem("rendered_frames", type(items).__name__, "must be a list with one object per frame", FIX)
    frames = {}
    for i, item in enumerate(items):
        if "frame" not in item:
            raise ImportProblem(f"rendered_frames[{i}]", item, "has no frame number", FIX)
        frames[whole_number(item["frame"], f"rendered_frames[{i}].frame")] = item
    if min(frames) < 0:
        raise ImportProblem("rendered_frames", min(frames), "a frame number is negative", FIX)
    return dict(sorted(frames.items()))


def _series(frames: dict[int, dict], field: str) -> list[tuple[int, float]]:
    series = []
    for frame, item in frames.items():
        if field not in item:
            continue  # Deforum fills a missing frame from its neighbours; so do the schedule's keys
        series.append((frame, real_number(item[field], f"rendered_frames[frame {frame}].{field}")))
    return series


def _schedule(frames: dict[int, dict], field: str) -> str:
    series = _series(frames, field)
    return per_frame_schedule([f for f, _ in series], [v for _, v in series])


def _mode(fields: set, context: ImportContext, out: Imported) -> str:
    if command_line_mode(context, out.report) is not None:
        return context.mode
    mode = "3d" if any(f in fields for f in THREE_D) else "2d"
    out.approximate("animation.mode", mode, "(fields)", "a manifest holds no mode: 3d when it manages a 3D field "
                    "(translation_z, rotation_3d_*, fov), else 2d; give animation.mode=... to choose")
    return mode


def _seed(frames: dict[int, dict], fields: set, out: Imported) -> None:
    if "seed" not in fields:
        return
    seeds = _series(frames, "seed")
    first = int(seeds[0][1]) % 2**32
    steps = all(int(v) == first + f - seeds[0][0] for f, v in seeds)
    (out.set if steps else out.approximate)("seed", first, "seed", "" if steps else "frame 0's seed; the seed "
                                             "steps by one per frame here")


def _prompts(frames: dict[int, dict], fields: set, n_frames: int, out: Imported) -> None:
    if "deforum_prompt" not in fields:
        out.report.note("the manifest holds no prompts: text_prompts come from the config")
        return
    prompts, last = {}, None
    for frame, item in frames.items():
        text = item.get("deforum_prompt")
        if text is None or text == last:
            continue
        parsed = deforum_prompt(str(text), f"rendered_frames[frame {frame}].deforum_prompt", frame, n_frames, None)
        for note in parsed.notes:
            out.report.note(f"deforum_prompt at frame {frame}: {note}")
        prompts[frame], last = parsed.prompts, text
    out.set("text_prompts", prompts, "deforum_prompt", "a key wherever the prompt changes; --neg parts become "
            "negative-weight prompts, A :w AND B :w parts weighted prompts")


def _options(options: dict, mode: str, out: Imported) -> None:
    fps = options.get("output_fps") or options.get("input_fps")
    if fps:
        out.set("output.fps", real_number(fps, "options.output_fps"), "options.output_fps" if options.get(
            "output_fps") else "options.input_fps")
    cadence = options.get("cadence")
    if cadence not in (None, "", 1, "1"):
        steps = whole_number(cadence, "options.cadence")
        if steps > 1 and mode == "3d":
            out.approximate("animation.turbo_mode", True, "options.cadence", "cadence becomes DD's turbo")
            out.approximate("animation.turbo_steps", steps, "options.cadence", "every n-th frame diffused")
            out.approximate("animation.turbo_preroll", 1, "options.cadence", "turbo starts after frame 0")
        elif steps > 1:
            out.report.drop("options.cadence", f"{steps}: turbo works in 3D only here (DD's)")
    if options.get("bpm"):
        out.report.drop("options.bpm", "beats here come from the song (audio.path); Parseq's values are already "
                        "per frame")
    for key in options:
        if key not in ("output_fps", "input_fps", "cadence", "bpm"):
            out.report.drop(f"options.{key}", "Parseq's editor option")
