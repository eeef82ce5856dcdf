"""A run's schedules and prompts out to Parseq (a manifest) or Deforum (a settings file), per frame and exact.

The run's own config is planned again (as a camera preview: no model is needed) and every camera schedule the mode
uses is written frame by frame: Parseq's ``rendered_frames`` get the absolute value (the sum of the per-frame moves,
Parseq's meaning) with the per-frame move as ``<field>_delta`` (what Deforum reads); Deforum's schedules get a key per
frame where the value leaves a straight line. Prompts go out as Deforum's composable ``text :weight AND ...`` per
change (negative weights as negative AND weights). What neither format can hold is listed in the report.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from render.config.plan import RenderPlan
from render.config.planner import plan_and_resolve
from render.config.schema import Config, schedule_fields
from render.config.settings import to_settings
from render.interop.per_frame import straight_keys
from render.interop.report import ImportReport
from render.run.resume import read_saved_config

PARSEQ_FIELDS = {"angle": "angle", "zoom": "zoom", "translation_x": "translation_x", "translation_y": "translation_y",
                 "translation_z": "translation_z", "rotation_3d_x": "rotation_3d_x", "rotation_3d_y": "rotation_3d_y",
                 "rotation_3d_z": "rotation_3d_z", "fov": "fov"}
ABSOLUTE = ("fov",)  # not a per-frame move
DEFORUM_MODES = {"2d": "2D", "3d": "3D", "video_input": "Video Input", "none": "2D"}
COLOURS = {"none": "None", "lab": "LAB", "hsv": "HSV", "rgb": "RGB"}
NOT_EXPORTED = ("model.* (the diffusion model, CLIPs, guidance scales and cut schedules: Stable Diffusion tools have "
                "none of them)", "depth.* (the depth model)", "animation.loop (seamless loops)",
                "prompt fades are written per frame as weighted prompts")


def plan_run_dir(run_dir: Path) -> tuple[Config, RenderPlan]:
    """The run's settings and plan, from its ``config.yaml`` (as a preview: no weight file is needed)."""
    saved = read_saved_config(Path(run_dir))
    cfg = OmegaConf.merge(OmegaConf.structured(Config), saved)
    for key, value in (("generator", "preview"), ("resume", None), ("resume_from", None), ("import_settings", None)):
        OmegaConf.update(cfg, key, value, force_add=True)
    settings = to_settings(cfg)
    return settings, plan_and_resolve(settings)


def mode_fields(settings: Config) -> list[str]:
    """The schedules (names without ``animation.``) the run's mode moves the camera with."""
    mode = settings.animation.mode.value
    return [path.split(".", 1)[1] for path, f in schedule_fields()
            if mode in f.metadata.get("modes", ()) and path.split(".", 1)[1] in PARSEQ_FIELDS]


def absolute(name: str, values: np.ndarray) -> np.ndarray:
    """Parseq's absolute value of a per-frame move: frame 0's move, then each frame's added (zoom: its change
    ``move - 1`` added)."""
    if name in ABSOLUTE:
        return values.copy()
    steps = values - 1.0 if name == "zoom" else values
    return np.cumsum(np.r_[values[:1], steps[1:]])


def composable_prompt(plan: RenderPlan, frame: int) -> str:
    """Deforum's ``"text :w AND text :w"``: every prompt of the frame's mix with its share of the guidance."""
    parts = []
    for mix in plan.prompt_mix(frame):
        total = abs(sum(p.weight for p in mix.text)) or 1.0
        parts += [f"{p.text} :{_plain(mix.weight * p.weight / total)}" for p in mix.text]
    return " AND ".join(parts)


def parseq_manifest(settings: Config, plan: RenderPlan, report: ImportReport) -> dict:
    fields = mode_fields(settings)
    values = {name: plan.schedules[f"animation.{name}"] for name in fields}
    absolutes = {name: absolute(name, v) for name, v in values.items()}
    frames = []
    for f in range(plan.n_frames):
        row: dict = {"frame": f}
        for name in fields:
            delta = values[name][f] if name not in ABSOLUTE else (absolutes[name][f] - absolutes[name][f - 1] if f
                                                                  else absolutes[name][0])
            peak = float(np.max(np.abs(absolutes[name]))) or 1.0
            row.update({name: float(absolutes[name][f]), f"{name}_delta": float(delta),
                        f"{name}_pc": float(absolutes[name][f] / peak * 100)})
        row.update({"deforum_prompt": composable_prompt(plan, f), "seed": plan.frame_seed(f)})
        frames.append(row)
    for name in fields:
        report.map(f"animation.{name}", name, "absolute value per frame, the per-frame move as _delta")
    report.map("text_prompts", "deforum_prompt", "every frame's prompts as 'text :weight AND ...'")
    report.map("seed", "seed", "every frame's seed")
    meta = {name: {"max": float(np.max(np.abs(a))), "min": float(np.min(a)), "isFlat": bool(np.ptp(a) == 0)}
            for name, a in absolutes.items()}
    return {"meta": {"generated_by": "disco-anim", "generated_at": time.strftime("%a, %d %b %Y %H:%M:%S GMT",
                                                                              time.gmtime())},
            "options": {"input_fps": plan.fps, "output_fps": plan.fps, "bpm": round(plan.audio.bpm, 3) if
                        plan.audio is not None else 120, "cadence": _cadence(settings)},
            "managedFields": fields, "displayedFields": fields,
            "keyframes": [{"frame": f, **{name: frames[f][name] for name in fields}} for f in range(plan.n_frames)],
            "rendered_frames": frames, "rendered_frames_meta": meta}


def deforum_settings(settings: Config, plan: RenderPlan, report: ImportReport) -> dict:
    anim = settings.animation
    out = {"W": plan.width, "H": plan.height, "seed": plan.seed, "seed_behavior": "iter",
           "batch_name": settings.batch_name, "animation_mode": DEFORUM_MODES[anim.mode.value],
           "max_frames": plan.n_frames, "border": "wrap"}
    if anim.mode.value == "none":
        report.approximate("animation.mode", "animation_mode", "none: Deforum has no independent-frames mode; 2D")
    for name in PARSEQ_FIELDS:
        key = "fov_schedule" if name == "fov" else name
        out[key] = deforum_keys(plan.schedules[f"animation.{name}"])
        report.map(f"animation.{name}", key, "a key per frame where the value leaves a straight line")
    out["near_schedule"], out["far_schedule"] = f"0: ({_plain(anim.near_plane)})", f"0: ({_plain(anim.far_plane)})"
    out.update({"diffusion_cadence": _cadence(settings), "color_coherence": COLOURS[settings.color_coherence.value],
                "padding_mode": anim.padding_mode.value, "sampling_mode": anim.sampling_mode.value,
                "use_depth_warping": settings.depth.name.value != "flat", "fps": plan.fps,
                "prompts": deforum_prompts(plan), "positive_prompts": "", "negative_prompts": "",
                "animation_prompts_positive": "", "animation_prompts_negative": ""})
    if plan.video is not None:
        out.update({"video_init_path": str(plan.video.path), "extract_nth_frame": plan.video.nth})
    if settings.audio.path:
        out.update({"add_soundtrack": "File", "soundtrack_path": str(settings.audio.path)})
        report.approximate("audio.path", "soundtrack_path", "muxed in; the song's schedule variables are already "
                           "evaluated into the values")
    report.map("text_prompts", "prompts", "a key wherever the frame's prompts change, 'text :weight AND ...'")
    return out


def deforum_keys(values: np.ndarray) -> str:
    """Deforum's keyframe string through every frame's value (plain decimals: Deforum blends only those)."""
    keep = straight_keys(np.arange(len(values)), values)
    return ", ".join(f"{i}:({_plain(values[i])})" for i in keep)


def deforum_prompts(plan: RenderPlan) -> dict[str, str]:
    prompts, last = {}, None
    for f in range(plan.n_frames):
        text = composable_prompt(plan, f)
        if text != last:
            prompts[str(f)], last = text, text
    return prompts


def _cadence(settings: Config) -> int:
    anim = settings.animation
    return anim.turbo_steps if anim.turbo_mode and anim.mode.value == "3d" else 1


def _plain(value: float) -> str:
    return np.format_float_positional(float(value), unique=True, trim="-")


def export_run(run_dir: Path, to: str, out_path: Path | None = None) -> tuple[Path, ImportReport]:
    """Write the run's Parseq manifest or Deforum settings file (default: into the run dir); returns its path and
    the report of what went where."""
    settings, plan = plan_run_dir(run_dir)
    report = ImportReport(str(run_dir), f"disco-anim run exported to {to}")
    for item in NOT_EXPORTED:
        report.drop(item, f"{to} cannot hold it")
    if to == "parseq":
        data, default = parseq_manifest(settings, plan, report), f"{settings.batch_name}_parseq.json"
    else:
        data, default = deforum_settings(settings, plan, report), f"{settings.batch_name}_deforum_settings.txt"
    path = Path(out_path) if out_path else Path(run_dir) / default
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    return path, report
