"""Disco Diffusion v5.x settings files (``<batch>(<n>)_settings.txt``, DD's ``save_settings``) in this schema.

Every key DD v5.2 to v5.7 writes is mapped or dropped with its reason (the README's table of DD settings is the
map); keys of forks that are not known are reported by name. DD's file holds no animation mode: it comes from the
command line (``animation.mode=3d``), a fork's own ``animation_mode`` key, or DD's default ``None`` (stills).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

import numpy as np

from render.config.model_defaults import (
    DD_CUTS,
    PIXEL_ART_MODELS,
    PULPSCIFI_MODELS,
    WATERCOLOR_MODELS,
)
from render.guidance.cut_schedules import CutScheduleError, parse_cut_schedule
from render.interop.dd_keyframes import INTERPOLATIONS, dd_schedule
from render.interop.detect import DISCO, FORMAT_NAMES
from render.interop.paths import existing_file
from render.interop.report import ImportReport
from render.interop.source import (
    ImportContext,
    Imported,
    ImportProblem,
    command_line_mode,
    flag,
    real_number,
    whole_number,
)
from render.models import registry

MODES = {"none": "none", "2d": "2d", "3d": "3d", "video input": "video_input", "video_input": "video_input"}
SCHEDULES = ("angle", "zoom", "translation_x", "translation_y", "translation_z", "rotation_3d_x", "rotation_3d_y",
             "rotation_3d_z", "fov")
NUMBER, COUNT, BOOL, TEXT = real_number, whole_number, flag, lambda v, k: str(v)
# DD key -> (setting, reader)
DIRECT: dict[str, tuple[str, Callable[[Any, str], Any]]] = {
    **{k: (f"model.{k}", NUMBER) for k in ("clip_guidance_scale", "tv_scale", "range_scale", "sat_scale",
                                           "init_scale", "frames_scale", "clamp_max", "rand_mag", "eta")},
    **{k: (f"model.{k}", COUNT) for k in ("cutn_batches", "skip_steps", "steps")},
    **{k: (f"model.{k}", BOOL) for k in ("skip_augs", "clamp_grad", "clip_denoised", "fuzzy_prompt",
                                         "use_secondary_model", "use_horizontal_symmetry", "use_vertical_symmetry")},
    "diffusion_sampling_mode": ("model.diffusion_sampling_mode", lambda v, k: str(v).strip().lower()),
    "seed": ("seed", COUNT), "width": ("width", COUNT), "height": ("height", COUNT),
    "perlin_init": ("perlin_init", BOOL), "perlin_mode": ("perlin_mode", lambda v, k: str(v).strip().lower()),
    **{k: (f"animation.{k}", NUMBER) for k in ("near_plane", "far_plane", "video_init_flow_blend", "vr_eye_angle",
                                               "vr_ipd")},
    **{k: (f"animation.{k}", BOOL) for k in ("video_init_seed_continuity", "video_init_flow_warp",
                                             "video_init_check_consistency")},
    **{k: (f"animation.{k}", COUNT) for k in ("extract_nth_frame", "turbo_preroll", "video_init_steps",
                                              "video_init_cutn_batches", "video_init_skip_steps")},
    **{k: (f"animation.{k}", NUMBER) for k in ("video_init_clip_guidance_scale", "video_init_tv_scale",
                                               "video_init_range_scale", "video_init_sat_scale",
                                               "video_init_frames_scale")},
    "padding_mode": ("animation.padding_mode", lambda v, k: str(v).strip().lower()),
    "sampling_mode": ("animation.sampling_mode", lambda v, k: str(v).strip().lower()),
    "video_init_path": ("animation.video_init_path", TEXT),
}
PERCENT = ("frames_skip_steps", "video_init_frames_skip_steps")
DROPPED = {
    "randomize_class": "a no-op for DD's unconditional models",
    "diffusion_steps": "DD derives it from steps",
    "key_frames": "every schedule here accepts keys; a bare value is a constant",
    "cutn": "DD's old cut count, replaced by the cut schedules",
    "rotation_per_frame": "DD's old 2D rotation, replaced by angle",
    "zoom_per_frame": "DD's old 2D zoom, replaced by zoom",
    "display_rate": "output.progress_every writes progress.png every K steps",
    "n_batches": "only stills use it; give n_batches=N with animation.mode=none",
    "batch_size": "DD hard-coded 1",
    "intermediates_in_subfolder": "partials always go to partials/",
    "resume_run": "resume=<run dir> continues a run here",
    "check_model_SHA": "every download is checked against its sha256",
    "useCPU": "device=cpu",
}
OPENAI_CLIPS = {"ViTB32": "ViT-B-32", "ViTB16": "ViT-B-16", "ViTL14": "ViT-L-14", "ViTL14_336px": "ViT-L-14-336",
                "RN101": "RN101", "RN50": "RN50", "RN50x4": "RN50x4", "RN50x16": "RN50x16", "RN50x64": "RN50x64"}
OPEN_CLIPS = {"ViTB32_laion2b_e16": "ViT-B-32:laion2b_e16", "ViTB32_laion400m_e31": "ViT-B-32:laion400m_e31",
              "ViTB32_laion400m_32": "ViT-B-32:laion400m_e32",
              "ViTB32quickgelu_laion400m_e31": "ViT-B-32-quickgelu:laion400m_e31",
              "ViTB32quickgelu_laion400m_e32": "ViT-B-32-quickgelu:laion400m_e32",
              "ViTB16_laion400m_e31": "ViT-B-16:laion400m_e31", "ViTB16_laion400m_e32": "ViT-B-16:laion400m_e32",
              "RN50_yffcc15m": "RN50:yfcc15m", "RN50_cc12m": "RN50:cc12m",
              "RN50_quickgelu_yfcc15m": "RN50-quickgelu:yfcc15m", "RN50_quickgelu_cc12m": "RN50-quickgelu:cc12m",
              "RN101_yfcc15m": "RN101:yfcc15m", "RN101_quickgelu_yfcc15m": "RN101-quickgelu:yfcc15m"}
CLIP_KEYS = {**{k: f"{v}:openai" for k, v in OPENAI_CLIPS.items()}, **OPEN_CLIPS}
DEPTH_MODELS = {"dpt_large": "auto", "dpt_hybrid": "dpt_hybrid", "dpt_hybrid_nyu": "dpt_hybrid_nyu",
                "midas_v21": "midas_v21", "midas_v21_small": "midas_small"}
CUT_KEYS = ("cut_overview", "cut_innercut", "cut_ic_pow", "cut_icgray_p")
BLEND_MODES = {"optical flow": "optical_flow", "optical_flow": "optical_flow", "linear": "linear", "none": "none"}
DD_MAX_FRAMES = 10000
BATCH_FILE = re.compile(r"^(?P<name>.+?)(?:\((?P<n>\d+)\)|-(?P<m>\d+))_settings(?:\.txt|\.json)?$")


def import_disco(data: dict, path: Path, context: ImportContext = ImportContext()) -> Imported:
    """Map a DD settings file (already read) to this renderer's settings."""
    out = Imported(ImportReport(str(path), FORMAT_NAMES[DISCO]))
    done: set[str] = set()
    mode = _mode(data, context, out, done)
    n_frames = _frames(data, mode, context, out, done)
    _direct(data, mode, out, done)
    _schedules(data, n_frames, out, done)
    _prompts(data, path, out, done)
    _clips(data, out, done)
    _cuts(data, out, done)
    _models(data, path, out, done)
    _batch_name(path, out)
    for key in data:
        if key in DROPPED:
            out.report.drop(key, DROPPED[key])
        elif key not in done:
            out.report.unknown_key(key)
    return out


def _mode(data: dict, context: ImportContext, out: Imported, done: set) -> str:
    done.add("animation_mode")
    if command_line_mode(context, out.report) is not None:
        return context.mode
    if "animation_mode" in data:
        mode = MODES.get(str(data["animation_mode"]).strip().lower())
        if mode is None:
            raise ImportProblem("animation_mode", data["animation_mode"], "is not one of DD's modes",
                                "use None, 2D, 3D or Video Input")
        out.set("animation.mode", mode, "animation_mode")
        return mode
    out.approximate("animation.mode", "none", "(no key)", "DD's file holds no animation mode; DD's default None "
                    "(stills) is used: give animation.mode=2d, 3d or video_input for an animation")
    return "none"


def _frames(data: dict, mode: str, context: ImportContext, out: Imported, done: set) -> int:
    done.add("max_frames")
    frames = whole_number(data.get("max_frames", DD_MAX_FRAMES), "max_frames")
    if mode == "none":
        if "max_frames" in data:
            out.report.drop("max_frames", "DD's stills (animation mode None) ignore it")
        return context.max_frames or 1
    if "max_frames" in data:
        out.set("animation.max_frames", frames, "max_frames")
    return context.max_frames or frames


def _direct(data: dict, mode: str, out: Imported, done: set) -> None:
    for key, (setting, read) in DIRECT.items():
        if key in data and data[key] is not None:
            out.set(setting, read(data[key], key), key)
            done.add(key)
    for key in PERCENT:
        if data.get(key) is not None:
            value = str(data[key]).strip()
            if not re.fullmatch(r"\d+(\.\d*)?%?", value):
                raise ImportProblem(key, data[key], "is not a share of the steps", "write a percentage, e.g. 60%")
            out.set(("model." if key == "frames_skip_steps" else "animation.") + key, value, key)
            done.add(key)
    if data.get("video_init_blend_mode") is not None:
        blend = BLEND_MODES.get(str(data["video_init_blend_mode"]).strip().lower())
        if blend is None:
            raise ImportProblem("video_init_blend_mode", data["video_init_blend_mode"], "is not one of DD's blend "
                                "modes", "use None, linear or optical flow")
        out.set("animation.video_init_blend_mode", blend, "video_init_blend_mode")
        done.add("video_init_blend_mode")
    for key in ("turbo_mode", "vr_mode"):
        if key in data:
            done.add(key)
            on = flag(data[key], key)
            if on and mode != "3d":
                out.approximate(f"animation.{key}", False, key, f"DD turned it off outside 3D (mode {mode})")
            else:
                out.set(f"animation.{key}", on, key)
    if "turbo_steps" in data:
        done.add("turbo_steps")
        out.set("animation.turbo_steps", whole_number(data["turbo_steps"], "turbo_steps"), "turbo_steps",
                "DD wrote it as a string")
    if "init_image" in data:
        done.add("init_image")
        _image_setting(data["init_image"], "init_image", out)


def _image_setting(value: Any, key: str, out: Imported) -> None:
    if value in (None, "", "None", "none"):
        out.set("init_image", None, key)
        return
    found = existing_file(str(value), Path(out.report.source).parent, allow_url=True)
    if found is None:
        out.report.drop(key, f"{value} is not found here (DD's path on another machine?): give init_image=<path>")
        return
    out.set("init_image", found, key)


def _schedules(data: dict, n_frames: int, out: Imported, done: set) -> None:
    spline = str(data.get("interp_spline", "Linear")).strip().lower()
    if "interp_spline" in data:
        done.add("interp_spline")
        if spline not in INTERPOLATIONS:
            raise ImportProblem("interp_spline", data["interp_spline"], "is not one of DD's interpolations",
                                "use Linear (DD's only advised one), Quadratic or Cubic")
        how = "" if spline == "linear" else ("a not-a-knot spline through the keys; DD's pandas spline also ran "
                                             "through the first and last frame")
        (out.set if spline == "linear" else out.approximate)("animation.interp_spline", INTERPOLATIONS[spline],
                                                            "interp_spline", how)
    for key in SCHEDULES:
        if key not in data:
            continue
        done.add(key)
        if data[key] is None:
            out.report.drop(key, "null in the file: this renderer's default (or the config's) is used")
            continue
        schedule = dd_schedule(data[key], key, n_frames)
        if schedule.notes:
            out.approximate(f"animation.{key}", schedule.text, key, "; ".join(schedule.notes))
        else:
            out.set(f"animation.{key}", schedule.text, key)


def _prompts(data: dict, path: Path, out: Imported, done: set) -> None:
    for key in ("text_prompts", "image_prompts"):
        if key not in data:
            continue
        done.add(key)
        value = data[key] or {}
        if not isinstance(value, dict):
            raise ImportProblem(key, value, "is not a mapping of frames to prompt lists",
                                'write {"0": ["a lighthouse:2", "yellow"]}')
        prompts = {}
        for frame, items in value.items():
            items = [items] if isinstance(items, str) else list(items or [])
            if key == "image_prompts":
                items = _image_prompts(items, path, out)
            if items:
                prompts[int(frame) if str(frame).strip().isdigit() else str(frame)] = [str(p) for p in items]
        out.set(key, prompts, key, "DD's format: frame keys with 'text:weight' lists")


def _image_prompts(items: list, path: Path, out: Imported) -> list[str]:
    """The image prompts whose files are found (as paths the run finds) or that are URLs; the others dropped."""
    kept = []
    for item in items:
        text = str(item)
        where, colon, weight = text.rpartition(":")
        weighted = bool(where) and re.fullmatch(r"\s*-?[\d.]+\s*", weight) and where not in ("http", "https")
        location = where if weighted else text
        found = existing_file(location, path.parent, allow_url=True)
        if found is None:
            out.report.drop(f"image_prompts: {text}", "the image is not found here: give image_prompts with its path")
        else:
            kept.append(f"{found}:{weight.strip()}" if weighted else found)
    return kept


def _clips(data: dict, out: Imported, done: set) -> None:
    present = [k for k in CLIP_KEYS if k in data]
    if not present:
        return
    done.update(present)
    chosen = [CLIP_KEYS[k] for k in present if flag(data[k], k)]
    if not chosen:
        out.report.drop(", ".join(present), "no CLIP model was on: this renderer's default CLIPs are used")
        return
    out.set("model.clip_models", chosen, ", ".join(present), "the CLIPs that were on (true), as open_clip ARCH:TAG")


def _cuts(data: dict, out: Imported, done: set) -> None:
    finetune = str(data.get("diffusion_model", "")) in (*PIXEL_ART_MODELS, *PULPSCIFI_MODELS, *WATERCOLOR_MODELS)
    for key, default in zip(CUT_KEYS, DD_CUTS):
        if data.get(key) is None:
            continue
        done.add(key)
        text = str(data[key]).strip()
        try:
            values = parse_cut_schedule(text, integer=key in ("cut_overview", "cut_innercut"))
        except CutScheduleError as exc:
            raise ImportProblem(key, data[key], str(exc), 'write DD\'s list syntax, e.g. "[12]*400+[4]*600"') from None
        if finetune:
            out.approximate(f"model.{key}", None, key, "DD replaced it with the finetune's own schedule; null "
                            "gives the same")
        elif np.array_equal(values, parse_cut_schedule(default, integer=key in ("cut_overview", "cut_innercut"))):
            out.set(f"model.{key}", None, key, "DD's default: null (the model's own) is the same")
        else:
            out.set(f"model.{key}", text, key)


def _models(data: dict, path: Path, out: Imported, done: set) -> None:
    name = data.get("diffusion_model")
    if name is not None:
        done.add("diffusion_model")
        if str(name) == "custom":
            out.report.drop("diffusion_model", "custom: DD's file holds neither the checkpoint's path nor its "
                            "model_config; give model.diffusion_model=custom model.custom_path=<file>")
        else:
            try:
                registry.lookup(str(name))
            except KeyError:
                raise ImportProblem("diffusion_model", name, "is not a diffusion model this renderer knows",
                                    "see python -m render.models --list") from None
            out.set("model.diffusion_model", str(name), "diffusion_model",
                    "model=auto uses it when its file is present, else the tiny model")
    depth = data.get("midas_depth_model")
    if depth is not None:
        done.add("midas_depth_model")
        if str(depth) not in DEPTH_MODELS:
            raise ImportProblem("midas_depth_model", depth, "is not one of DD's MiDaS models",
                                "use dpt_large, dpt_hybrid, dpt_hybrid_nyu, midas_v21 or midas_v21_small")
        out.set("depth.name", DEPTH_MODELS[str(depth)], "midas_depth_model",
                "auto is dpt_large when its file is present" if depth == "dpt_large" else "")
    if data.get("midas_weight") is not None:
        done.add("midas_weight")
        weight = real_number(data["midas_weight"], "midas_weight")
        if weight == 0.3:
            out.set("depth.midas_weight", None, "midas_weight", "DD's 0.3: null is 0.3 when AdaBins_nyu.pt is "
                    "present, else MiDaS alone")
        else:
            out.set("depth.midas_weight", weight, "midas_weight")
    if "transformation_percent" in data:
        done.add("transformation_percent")
        value = data["transformation_percent"]
        value = value if isinstance(value, list) else [value]
        out.set("model.transformation_percent", [real_number(v, "transformation_percent") for v in value],
                "transformation_percent")


def _batch_name(path: Path, out: Imported) -> None:
    match = BATCH_FILE.match(path.name)
    if match:
        out.set("batch_name", match.group("name"), "(file name)", "DD's file holds no batch_name; its name does")
