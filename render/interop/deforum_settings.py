"""Deforum settings files (the A1111 extension's and the Colab notebook's ``*_settings.txt``) in this schema.

The key set changed over the years (about 93 keys in late 2022 with ``fps`` in a separate ``*_video-settings.txt``,
which is read when it lies beside the file; 127-139 in early 2023; 250+ from mid 2023; ``width``/``height`` instead
of ``W``/``H`` in some variants; ``animation_prompts`` in the Colab's). Schedules are read by Deforum's rules
(``deforum_keyframes.py``), prompts by its prompt syntax (``deforum_prompts.py``); Stable-Diffusion-only keys (sampler,
CFG scale, ControlNet, LoRA, hybrid video, Wan, ...) are listed as dropped.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from render.interop.deforum_keyframes import deforum_schedule
from render.interop.deforum_prompts import deforum_prompt
from render.interop.detect import DEFORUM, FORMAT_NAMES, read_settings
from render.interop.numexpr_language import TranslationError, translate
from render.interop.paths import existing_file
from render.interop.report import ImportReport
from render.interop.source import (
    ImportContext,
    Imported,
    ImportProblem,
    command_line_mode,
    flag,
    number_text,
    real_number,
    whole_number,
)
from transforms.keyframes import evaluate_schedule

MODES = {"none": "none", "2d": "2d", "3d": "3d", "video input": "video_input"}
MOTION = ("angle", "zoom", "translation_x", "translation_y", "translation_z", "rotation_3d_x", "rotation_3d_y",
          "rotation_3d_z")
COLOURS = {"none": "none", "hsv": "hsv", "lab": "lab", "rgb": "rgb", "match frame 0 hsv": "hsv",
           "match frame 0 lab": "lab", "match frame 0 rgb": "rgb"}
SD = "Stable Diffusion's; CLIP-guided diffusion has no counterpart"
DROPPED = {
    **dict.fromkeys(("sampler", "steps", "scale", "cfg_scale_schedule", "ddim_eta", "ddim_eta_schedule",
                     "ancestral_eta_schedule", "pix2pix_img_cfg_scale", "pix2pix_img_cfg_scale_schedule",
                     "sampler_schedule", "steps_schedule", "checkpoint_schedule", "clipskip_schedule",
                     "noise_multiplier_schedule", "noise_schedule", "contrast_schedule", "subseed", "subseed_strength",
                     "subseed_schedule", "subseed_strength_schedule", "seed_resize_from_w", "seed_resize_from_h",
                     "seed_enable_extras", "sd_model_name", "sd_model_hash", "tiling", "restore_faces", "enable_hr",
                     "firstphase_width", "firstphase_height", "noise_type", "perlin_octaves", "perlin_persistence",
                     "amount_schedule", "kernel_schedule", "sigma_schedule", "threshold_schedule", "C", "f",
                     "precision", "dynamic_threshold", "static_threshold", "prompt_weighting",
                     "normalize_prompt_weights", "log_weighted_subprompts", "use_noise_mask", "mask_schedule",
                     "noise_mask_schedule", "strength_0_no_init", "reroll_blank_frames", "reroll_patience",
                     "pix2pix_img_cfg_scale_series", "n_samples", "seed_iter_N", "seed_schedule", "perlin_w",
                     "perlin_h", "seed_internal", "histogram_matching"), SD),
    **dict.fromkeys(("use_mask", "use_alpha_as_mask", "mask_file", "invert_mask", "mask_contrast_adjust",
                     "mask_brightness_adjust", "overlay_mask", "mask_overlay_blur", "fill", "full_res_mask",
                     "full_res_mask_padding", "use_mask_video", "video_mask_path", "mask_image", "noise_mask"),
                    "masks are Deforum's inpainting"),
    **dict.fromkeys(("optical_flow_cadence", "cadence_flow_factor_schedule", "optical_flow_redo_generation",
                     "redo_flow_factor_schedule", "diffusion_redo"), "Deforum's flow cadence and redo"),
    **dict.fromkeys(("aspect_ratio_schedule", "aspect_ratio_use_old_formula"), "the 3D camera here has DD's aspect "
                    "1 (x and y span the frame)"),
    **dict.fromkeys(("color_coherence_image_path", "color_coherence_video_every_N_frames", "color_force_grayscale",
                     "legacy_colormatch"), "colour coherence here matches frame 0 only"),
    **dict.fromkeys(("use_looper", "init_images", "image_strength_schedule", "blendFactorMax", "blendFactorSlope",
                     "tweening_frames_schedule", "color_correction_factor"), "Deforum's guided images"),
    **dict.fromkeys(("resume_from_timestring", "resume_timestring"), "resume=<run dir> continues a run here"),
    **dict.fromkeys(("show_info_on_ui", "deforum_git_commit_id", "outdir", "timestring", "prompt", "init_latent",
                     "init_sample", "init_c", "save_samples", "save_settings", "display_samples",
                     "save_sample_per_step", "show_sample_per_step", "n_batch", "make_grid", "grid_rows",
                     "filename_format", "delete_imgs", "delete_input_frames", "store_frames_in_ram",
                     "overwrite_extracted_frames", "frame_interpolation_keep_imgs", "frame_interpolation_use_upscaled",
                     "r_upscale_keep_imgs", "r_upscale_model", "frame_interpolation_slow_mo_enabled",
                     "frame_interpolation_slow_mo_amount", "use_manual_settings", "image_path", "mp4_path",
                     "ffmpeg_location", "render_steps", "path_name_modifier", "max_video_frames", "ffmpeg_mode",
                     "ffmpeg_outdir", "ffmpeg_crf", "ffmpeg_preset", "interpolate_key_frames",
                     "interpolate_x_frames", "parseq_non_schedule_overrides", "parseq_use_deltas",
                     "fetched_parseq_manifest_summary", "extract_from_frame", "extract_to_frame",
                     "hybrid_video_settings", "positive_prompts", "negative_prompts"),
                    "the notebook's or the extension's own bookkeeping (no effect on the frames here)"),
}
PREFIXES = {"cn_": "ControlNet is Stable Diffusion's", "controlnet": "ControlNet is Stable Diffusion's",
            "hybrid_": "Deforum's hybrid video", "wan_": "Wan video models are not CLIP-guided diffusion",
            "perspective_flip": "Deforum's 2D perspective flip", "flip_2d_perspective": "Deforum's 2D perspective flip",
            "enable_": "a Deforum scheduling switch", "shake": "Deforum's camera shake",
            "freeu": "Stable Diffusion's FreeU", "kohya": "Stable Diffusion's hires fix", "lora": SD,
            "loras": SD, "fluxflow": SD, "depth_warp_": "Deforum's depth warp options"}
VIDEO_SETTINGS = ("fps", "add_soundtrack", "soundtrack_path", "skip_video_for_run_all", "skip_video_creation",
                  "make_gif", "r_upscale_video", "r_upscale_factor", "frame_interpolation_engine",
                  "frame_interpolation_x_amount")


def import_deforum(data: dict, path: Path, context: ImportContext = ImportContext()) -> Imported:
    """Map a Deforum settings file (already read) to this renderer's settings."""
    out = Imported(ImportReport(str(path), FORMAT_NAMES[DEFORUM]))
    data = _with_video_settings(dict(data), path, out)
    done: set[str] = set()
    mode = _mode(data, context, out, done)
    n_frames = _frames(data, context, out, done)
    seed = _seed(data, context, out, done)
    _size(data, out, done)
    out.set("animation.interp_spline", "linear", "(Deforum's interpolation)", "Deforum blends keys linearly")
    _schedules(data, n_frames, seed, out, done)
    _camera(data, mode, n_frames, seed, out, done)
    _images(data, mode, path, out, done)
    _output(data, path, out, done)
    _prompts(data, n_frames, seed, out, done)
    _transform_centre(data, out, done)
    _parseq(data, path, ImportContext(mode, seed, context.max_frames), out, done)
    for key in data:
        if key in done:
            continue
        reason = DROPPED.get(key) or next((r for p, r in PREFIXES.items() if key.startswith(p)), None)
        if reason:
            out.report.drop(key, reason)
        else:
            out.report.unknown_key(key)
    return out


def _transform_centre(data: dict, out: Imported, done: set) -> None:
    for key in ("transform_center_x", "transform_center_y"):
        if key not in data:
            continue
        done.add(key)
        if str(data[key]).replace(" ", "") in ("0:(0.5)", "0.5"):
            out.report.map(key, "", "0.5: the 2D warp turns and zooms about the centre, as DD's")
        else:
            out.report.drop(key, f"{data[key]}: the 2D warp here turns and zooms about the centre (DD's)")


def _parseq(data: dict, path: Path, context: ImportContext, out: Imported, done: set) -> None:
    """A manifest pasted into the settings (``parseq_manifest``) overrides the schedules it manages, as in Deforum."""
    done.add("parseq_manifest")
    text = str(data.get("parseq_manifest") or "").strip()
    if not text:
        if "parseq_manifest" in data:
            out.report.map("parseq_manifest", "", "empty: no Parseq manifest")
        return
    if text.startswith(("http:", "https:")):
        out.report.drop("parseq_manifest", f"{text}: a URL is not fetched; download the manifest and import it "
                        "(import_settings=<manifest.json>)")
        return
    from render.interop.parseq_manifest import import_parseq

    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportProblem("parseq_manifest", text[:80], f"is not a JSON manifest ({exc})", "paste the manifest "
                            "Parseq exports, or leave it empty") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("rendered_frames"), list):
        raise ImportProblem("parseq_manifest", text[:80], "has no rendered_frames", "paste a Parseq manifest")
    parseq = import_parseq(manifest, path, context)
    parseq.settings.pop("animation.mode", None)
    out.settings.update(parseq.settings)
    for name in ("mapped", "approximated", "dropped", "unknown"):
        getattr(out.report, name).extend(type(e)(f"parseq_manifest: {e.source}", e.setting, e.how)
                                         for e in getattr(parseq.report, name))
    out.report.notes.extend(f"parseq_manifest: {n}" for n in parseq.report.notes)


def _with_video_settings(data: dict, path: Path, out: Imported) -> dict:
    """Late-2022 files keep fps and the soundtrack in ``<time>_video-settings.txt`` beside them."""
    if "fps" in data:
        return data
    sibling = path.with_name(re.sub(r"_settings(\.\w+)$", r"_video-settings\1", path.name))
    if sibling == path or not sibling.is_file():
        return data
    extra = read_settings(sibling)
    if isinstance(extra, dict):
        out.report.note(f"fps and the video settings come from {sibling.name} beside the file")
        data.update({k: v for k, v in extra.items() if k in VIDEO_SETTINGS and k not in data})
    return data


def _mode(data: dict, context: ImportContext, out: Imported, done: set) -> str:
    done.add("animation_mode")
    if command_line_mode(context, out.report) is not None:
        return context.mode
    raw = str(data.get("animation_mode", "2D")).strip()
    if raw.lower() == "interpolation":
        out.approximate("animation.mode", "none", "animation_mode", "Interpolation (prompt morphs between stills) "
                        "has no counterpart: independent frames, prompts switching at their keys")
        return "none"
    if raw.lower() not in MODES:
        raise ImportProblem("animation_mode", raw, "is not one of Deforum's modes", "use 2D, 3D or Video Input")
    how = "" if "animation_mode" in data else "not in the file: Deforum's default 2D"
    out.set("animation.mode", MODES[raw.lower()], "animation_mode", how)
    return MODES[raw.lower()]


def _frames(data: dict, context: ImportContext, out: Imported, done: set) -> int:
    done.add("max_frames")
    frames = whole_number(data.get("max_frames", 120), "max_frames")
    if "max_frames" in data:
        out.set("animation.max_frames", frames, "max_frames")
    return context.max_frames or frames


def _size(data: dict, out: Imported, done: set) -> None:
    for ours, keys in (("width", ("W", "width")), ("height", ("H", "height"))):
        key = next((k for k in keys if k in data), None)
        if key is None:
            continue
        done.add(key)
        size = whole_number(data[key], key)
        if size % 64:
            out.approximate(ours, size, key, f"floored to {size // 64 * 64}: sizes here are multiples of 64 (DD's); "
                            "Deforum allowed multiples of 8")
        else:
            out.set(ours, size, key)


def _seed(data: dict, context: ImportContext, out: Imported, done: set) -> int | None:
    done.update(("seed", "seed_behavior"))
    seed = whole_number(data["seed"], "seed") if data.get("seed") is not None else -1
    if seed >= 0:
        out.set("seed", seed % 2**32, "seed")
    elif "seed" in data:
        out.set("seed", None, "seed", "-1 (random): a seed is drawn and recorded")
    behaviour = str(data.get("seed_behavior", "iter")).strip().lower()
    if "seed_behavior" in data and (behaviour != "iter" or int(data.get("seed_iter_N", 1) or 1) != 1):
        out.report.approximate("seed_behavior", "seed", f"{behaviour}: the seed steps by one per frame here "
                               "(Deforum's iter)")
    return context.seed if context.seed is not None else (seed if seed >= 0 else None)


def _schedule(data: dict, key: str, n_frames: int, seed: int | None, out: Imported) -> str:
    schedule = deforum_schedule(data[key], key, n_frames, seed)
    if schedule.notes:
        out.report.note(f"{key}: {'; '.join(schedule.notes)}")
    return schedule.text


def _schedules(data: dict, n_frames: int, seed: int | None, out: Imported, done: set) -> None:
    for key in MOTION:
        if key in data:
            done.add(key)
            out.set(f"animation.{key}", _schedule(data, key, n_frames, seed, out), key)
    fov = next((k for k in ("fov_schedule", "fov") if k in data), None)
    if fov:
        done.update(k for k in ("fov_schedule", "fov") if k in data)
        out.set("animation.fov", _schedule(data, fov, n_frames, seed, out), fov)
    for ours, keys in (("near_plane", ("near_schedule", "near_plane")), ("far_plane", ("far_schedule", "far_plane"))):
        key = next((k for k in keys if k in data), None)
        if key:
            done.update(k for k in keys if k in data)
            values = evaluate_schedule(_schedule(data, key, n_frames, seed, out), n_frames)
            setter = out.set if values.min() == values.max() else out.approximate
            setter(f"animation.{ours}", float(values[0]), key, "" if values.min() == values.max() else
                   "frame 0's value (near and far do not change the warp here, as in DD)")
    if "strength_schedule" in data:
        done.add("strength_schedule")
        values = evaluate_schedule(_schedule(data, "strength_schedule", n_frames, seed, out), n_frames)
        share = f"{number_text(round(100 * float(values[0]), 2))}%"
        out.approximate("model.frames_skip_steps", share, "strength_schedule", "the share of the init kept becomes "
                        "the share of steps skipped on frames after the first" +
                        ("" if values.min() == values.max() else " (frame 0's value; it is not a schedule here)"))


def _camera(data: dict, mode: str, n_frames: int, seed: int | None, out: Imported, done: set) -> None:
    for key in ("padding_mode", "sampling_mode"):
        if key in data:
            done.add(key)
            out.set(f"animation.{key}", str(data[key]).strip().lower(), key)
    if "border" in data:
        done.add("border")
        if str(data["border"]).strip().lower() == "wrap":
            out.report.map("border", "", "wrap: the 2D warp wraps at the edges, as DD's")
        else:
            out.report.approximate("border", "", f"{data['border']}: the 2D warp here wraps at the edges (DD's)")
    if "diffusion_cadence" in data:
        done.add("diffusion_cadence")
        cadence = whole_number(data["diffusion_cadence"], "diffusion_cadence")
        if cadence > 1 and mode == "3d":
            out.approximate("animation.turbo_mode", True, "diffusion_cadence", "cadence becomes DD's turbo")
            out.approximate("animation.turbo_steps", cadence, "diffusion_cadence", "every n-th frame diffused")
            out.approximate("animation.turbo_preroll", 1, "diffusion_cadence", "turbo starts after frame 0 "
                            "(Deforum's cadence starts at once)")
        elif cadence > 1:
            out.report.drop("diffusion_cadence", f"{cadence}: turbo works in 3D only here (DD's); every frame is "
                            "diffused")
        else:
            out.set("animation.turbo_mode", False, "diffusion_cadence", "1: every frame diffused")
    if "color_coherence" in data:
        done.add("color_coherence")
        colour = COLOURS.get(str(data["color_coherence"]).strip().lower())
        if colour is None:
            out.report.drop("color_coherence", f"{data['color_coherence']}: only matching frame 0 exists here")
        else:
            out.set("color_coherence", colour, "color_coherence")
    _depth(data, mode, out, done)


def _depth(data: dict, mode: str, out: Imported, done: set) -> None:
    if "save_depth_maps" in data:
        done.add("save_depth_maps")
        out.set("depth.save_depth_maps", flag(data["save_depth_maps"], "save_depth_maps"), "save_depth_maps")
    done.update(("use_depth_warping", "depth_algorithm", "midas_weight"))
    if mode != "3d":
        for key in ("use_depth_warping", "depth_algorithm", "midas_weight"):
            if key in data:
                out.report.drop(key, f"depth is used in 3D only (the mode is {mode})")
        return
    if not flag(data.get("use_depth_warping", True), "use_depth_warping"):
        out.approximate("depth.name", "flat", "use_depth_warping", "false: a flat depth plane")
        return
    algorithm = str(data.get("depth_algorithm", "Midas+AdaBins (old)")).strip().lower()
    if algorithm == "midas-3-hybrid":  # Deforum's default, as dpt_large is DD's: auto, as for DD's files
        out.approximate("depth.name", "auto", "depth_algorithm", "Deforum's default DPT-Hybrid: depth=auto (DPT-Large "
                        "when its file is present, else tiny); depth=dpt_hybrid gives Deforum's model")
        out.set("depth.midas_weight", 1.0, "depth_algorithm", "MiDaS alone")
    elif algorithm in ("midas+adabins (old)", "midas+adabins"):
        out.set("depth.name", "auto", "depth_algorithm", "DPT-Large blended with AdaBins as DD")
        if "midas_weight" in data:
            out.set("depth.midas_weight", real_number(data["midas_weight"], "midas_weight"), "midas_weight")
    else:
        out.approximate("depth.name", "auto", "depth_algorithm", f"{data.get('depth_algorithm')} is not available "
                        "here: depth=auto (DPT-Large when its file is present)")
    if algorithm not in ("midas+adabins (old)", "midas+adabins") and "midas_weight" in data:
        out.report.drop("midas_weight", "Deforum used it only with AdaBins")


def _images(data: dict, mode: str, path: Path, out: Imported, done: set) -> None:
    done.update(("use_init", "init_image", "strength", "video_init_path", "extract_nth_frame"))
    if flag(data.get("use_init", False), "use_init") and data.get("init_image"):
        found = existing_file(str(data["init_image"]), path.parent, allow_url=True)
        if found is None:
            out.report.drop("init_image", f"{data['init_image']} is not found here: give init_image=<path>")
        else:
            out.set("init_image", found, "init_image, use_init")
    elif "init_image" in data:
        out.report.drop("init_image", "use_init is off")
    if "strength" in data:
        out.report.drop("strength", "model.skip_steps sets how much of init_image stays (DD's 10 of 250)")
    if mode == "video_input":
        video = str(data.get("video_init_path", ""))
        found = existing_file(video, path.parent) if video and not video.startswith(("http:", "https:")) else None
        if found is None:
            raise ImportProblem("video_init_path", video, "the source video is not found here (a URL is not fetched)",
                                "download it and give animation.video_init_path=<file>")
        out.set("animation.video_init_path", found, "video_init_path")
        if "extract_nth_frame" in data:
            out.set("animation.extract_nth_frame", whole_number(data["extract_nth_frame"], "extract_nth_frame"),
                    "extract_nth_frame")
    else:
        for key in ("video_init_path", "extract_nth_frame"):
            if key in data:
                out.report.drop(key, f"used in Video Input mode only (the mode is {mode})")


def _output(data: dict, path: Path, out: Imported, done: set) -> None:
    done.update(VIDEO_SETTINGS + ("batch_name", "motion_preview_mode"))
    fps = real_number(data["fps"], "fps") if "fps" in data else None
    if fps is not None:
        out.set("output.fps", fps, "fps")
    skip = next((k for k in ("skip_video_creation", "skip_video_for_run_all") if k in data), None)
    if skip:
        out.set("output.video", not flag(data[skip], skip), skip)
    if "make_gif" in data:
        out.approximate("output.previews", flag(data["make_gif"], "make_gif"), "make_gif", "previews are a GIF and a "
                        "contact sheet")
    _soundtrack(data, path, out)
    if flag(data.get("r_upscale_video", False), "r_upscale_video"):
        factor = str(data.get("r_upscale_factor", "x2")).strip().lower().lstrip("x")
        if factor in ("2", "4"):
            out.approximate("output.upscale", int(factor), "r_upscale_video, r_upscale_factor", "Lanczos, not "
                            "Real-ESRGAN")
        else:
            out.report.drop("r_upscale_factor", f"x{factor}: output.upscale is 2 or 4")
    engine = str(data.get("frame_interpolation_engine", "None")).strip()
    if engine.lower() not in ("none", "") and fps is not None:
        amount = real_number(data.get("frame_interpolation_x_amount", 2), "frame_interpolation_x_amount")
        out.approximate("output.interpolate_fps", fps * amount, "frame_interpolation_engine, "
                        "frame_interpolation_x_amount", f"{engine} becomes ffmpeg's motion-compensated interpolation")
    name = str(data.get("batch_name", ""))
    if re.fullmatch(r"[\w.-]+", name) and not name.startswith("-"):
        out.set("batch_name", name, "batch_name")
    elif name:
        out.report.drop("batch_name", f"{name!r} holds placeholders or characters a folder name cannot")
    if flag(data.get("motion_preview_mode", False), "motion_preview_mode"):
        out.set("generator", "preview", "motion_preview_mode", "the camera path without diffusion")


def _soundtrack(data: dict, path: Path, out: Imported) -> None:
    choice = data.get("add_soundtrack")
    if choice is None:
        return
    text = str(choice).strip().lower()
    if text in ("file", "true"):
        song = str(data.get("soundtrack_path", ""))
        found = existing_file(song, path.parent) if not song.startswith(("http:", "https:")) else None
        if found is None:
            out.report.drop("soundtrack_path", f"{song} is not found here (a URL is not fetched): give "
                            "audio.path=<file>")
        else:
            out.set("audio.path", found, "add_soundtrack, soundtrack_path", "also drives the song's schedule "
                    "variables")
    elif text == "init video":
        out.report.map("add_soundtrack", "", "Init Video: video input's own sound is muxed in")


def _prompts(data: dict, n_frames: int, seed: int | None, out: Imported, done: set) -> None:
    done.update(("prompts", "animation_prompts", "animation_prompts_positive", "animation_prompts_negative"))
    key = next((k for k in ("prompts", "animation_prompts") if data.get(k)), None)
    if key is None:
        out.report.note("the file holds no prompts: text_prompts come from the config")
        return
    prompts = data[key]
    if isinstance(prompts, str):
        try:
            prompts = json.loads(prompts)
        except json.JSONDecodeError as exc:
            raise ImportProblem(key, prompts, f"is not a JSON mapping ({exc})", 'write {"0": "a prompt"}') from None
    if not isinstance(prompts, dict):
        raise ImportProblem(key, prompts, "is not a mapping of frames to prompts", 'write {"0": "a prompt"}')
    before = str(data.get("animation_prompts_positive") or "").strip()
    after = str(data.get("animation_prompts_negative") or "").replace("--neg", "").strip()
    out.set("text_prompts", _prompt_schedule(prompts, before, after, key, n_frames, seed, out), key,
            "--neg parts become negative-weight prompts (half the positive weight); A AND B :w parts become "
            "weighted prompts")
    if before or after:
        out.report.map("animation_prompts_positive, animation_prompts_negative", "text_prompts",
                       "added to every prompt as Deforum does")


def _prompt_schedule(prompts: dict, before: str, after: str, key: str, n_frames: int, seed: int | None,
                     out: Imported) -> dict[Any, list[str]]:
    result = {}
    for frame_key, text in prompts.items():
        label = str(frame_key).strip()
        if not re.fullmatch(r"\d+", label):
            try:
                label = translate(label.strip("'\""), seed)
            except TranslationError as exc:
                raise ImportProblem(f"{key}[{frame_key}]", text, exc.reason, "write a frame number or an "
                                    "expression of max_f") from None
            label = f"floor({label})"
        joined = f"{before} {text}" + (f" --neg {after}" if after and "--neg" not in str(text) else
                                       f" {after}" if after else "")
        frame = 0 if not label.isdigit() else int(label)
        parsed = deforum_prompt(joined, f"{key}[{frame_key}]", frame, n_frames, seed)
        for note in parsed.notes:
            out.report.note(f"{key}[{frame_key}]: {note}")
        result[int(label) if label.isdigit() else label] = parsed.prompts
    return result
