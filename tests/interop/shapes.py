"""Settings files in the documented shapes of each tool and version, as the tests write them.

The key sets are those the tools save: Disco Diffusion's ``save_settings`` (v5.2: 63 keys; v5.6/5.7: 93 keys, the
OpenCLIP flags, symmetry, the video-input overrides and warp settings added), Deforum's settings file (late 2022:
``DeforumArgs`` + ``DeforumAnimArgs``, 102 keys, ``fps`` in a separate ``*_video-settings.txt``; early 2023: 142
keys; mid 2023: the extension's ``default_settings.txt`` shape, 253 keys with ``fps`` inside and ControlNet units;
the Colab's with ``width``/``height`` and ``animation_prompts``) and Parseq's manifest (with and without the editor's
keyframes). Values are each tool's defaults unless a test changes them.
"""
from __future__ import annotations

import json
from pathlib import Path

DD_PROMPTS = {"0": ["A beautiful painting of a singular lighthouse, shining its light across a tumultuous sea of blood "
                    "by greg rutkowski and thomas kinkade, Trending on artstation.", "yellow color scheme"],
              "100": ["This set of prompts start at frame 100", "This prompt has weight five:5"]}


def dd_v52(**changes) -> dict:
    """DD v5.2's ``save_settings`` (the VR release, April 2022)."""
    out = {"text_prompts": DD_PROMPTS, "image_prompts": {}, "clip_guidance_scale": 5000, "tv_scale": 0,
           "range_scale": 150, "sat_scale": 0, "cutn_batches": 4, "max_frames": 10000, "interp_spline": "Linear",
           "init_image": None, "init_scale": 1000, "skip_steps": 10, "frames_scale": 1500, "frames_skip_steps": "60%",
           "perlin_init": False, "perlin_mode": "mixed", "skip_augs": False, "randomize_class": True,
           "clip_denoised": False, "clamp_grad": True, "clamp_max": 0.05, "seed": 2024375631, "fuzzy_prompt": False,
           "rand_mag": 0.05, "eta": 0.8, "width": 1280, "height": 768,
           "diffusion_model": "512x512_diffusion_uncond_finetune_008100", "use_secondary_model": True, "steps": 250,
           "diffusion_steps": 1000, "diffusion_sampling_mode": "ddim", "ViTB32": True, "ViTB16": True,
           "ViTL14": False, "RN101": False, "RN50": True, "RN50x4": False, "RN50x16": False, "RN50x64": False,
           "cut_overview": "[12]*400+[4]*600", "cut_innercut": "[4]*400+[12]*600", "cut_ic_pow": 1,
           "cut_icgray_p": "[0.2]*400+[0]*600", "key_frames": True, "angle": "0:(0)", "zoom": "0: (1), 10: (1.05)",
           "translation_x": "0: (0)", "translation_y": "0: (0)", "translation_z": "0: (10.0)",
           "rotation_3d_x": "0: (0)", "rotation_3d_y": "0: (0)", "rotation_3d_z": "0: (0)",
           "midas_depth_model": "dpt_large", "midas_weight": 0.3, "near_plane": 200, "far_plane": 10000, "fov": 40,
           "padding_mode": "border", "sampling_mode": "bicubic", "video_init_path": "/content/training.mp4",
           "extract_nth_frame": 2, "video_init_seed_continuity": True, "turbo_mode": False, "turbo_steps": "3",
           "turbo_preroll": 10}
    return {**out, **changes}


def dd_v57(**changes) -> dict:
    """DD v5.6/5.7's ``save_settings`` (v5.7 of February 2023: ``cut_ic_pow`` a list expression)."""
    out = dd_v52()
    clips = {k: False for k in ("ViTL14_336px", "ViTB32_laion2b_e16", "ViTB32_laion400m_e31", "ViTB32_laion400m_32",
                                "ViTB32quickgelu_laion400m_e31", "ViTB32quickgelu_laion400m_e32",
                                "ViTB16_laion400m_e31", "ViTB16_laion400m_e32", "RN50_yffcc15m", "RN50_cc12m",
                                "RN50_quickgelu_yfcc15m", "RN50_quickgelu_cc12m", "RN101_yfcc15m",
                                "RN101_quickgelu_yfcc15m")}
    out.update(clips)
    out.update({"cut_ic_pow": "[1]*1000", "use_horizontal_symmetry": False, "use_vertical_symmetry": False,
                "transformation_percent": [0.09], "video_init_steps": 100, "video_init_clip_guidance_scale": 1000,
                "video_init_tv_scale": 0.1, "video_init_range_scale": 150, "video_init_sat_scale": 300,
                "video_init_cutn_batches": 4, "video_init_skip_steps": 50, "video_init_frames_scale": 15000,
                "video_init_frames_skip_steps": "70%", "video_init_flow_warp": True, "video_init_flow_blend": 0.999,
                "video_init_check_consistency": False, "video_init_blend_mode": "optical flow",
                "video_init_seed_continuity": False})
    return {**out, **changes}


SD_ARGS_2022 = {"W": 512, "H": 512, "restore_faces": False, "tiling": False, "enable_hr": False, "firstphase_width": 0,
                "firstphase_height": 0, "seed_enable_extras": False, "subseed": -1, "subseed_strength": 0,
                "seed_resize_from_w": 0, "seed_resize_from_h": 0, "seed": -1, "sampler": "klms", "steps": 21,
                "scale": 7, "ddim_eta": 0.0, "dynamic_threshold": None, "static_threshold": None,
                "save_samples": True, "save_settings": True, "display_samples": True, "save_sample_per_step": False,
                "show_sample_per_step": False, "prompt_weighting": False, "normalize_prompt_weights": True,
                "log_weighted_subprompts": False, "n_batch": 1, "batch_name": "Deforum",
                "filename_format": "{timestring}_{index}_{prompt}.png", "seed_behavior": "iter", "make_grid": False,
                "grid_rows": 2, "outdir": "", "use_init": False, "strength": 0.0, "strength_0_no_init": True,
                "init_image": "https://example.com/init.png", "use_mask": False, "use_alpha_as_mask": False,
                "mask_file": "https://example.com/mask.jpg", "invert_mask": False, "mask_contrast_adjust": 1.0,
                "mask_brightness_adjust": 1.0, "overlay_mask": True, "mask_overlay_blur": 5, "fill": 1,
                "full_res_mask": True, "full_res_mask_padding": 4, "n_samples": 1, "precision": "autocast", "C": 4,
                "f": 8, "prompt": "", "timestring": "20221201120000", "init_latent": None, "init_sample": None,
                "init_c": None}


def deforum_late_2022(**changes) -> dict:
    """The A1111 extension's settings file of December 2022 (102 keys; fps is in the video-settings file)."""
    anim = {"animation_mode": "2D", "max_frames": 120, "border": "replicate", "angle": "0:(0)",
            "zoom": "0:(1.02+0.02*sin(2*3.14*t/20))", "translation_x": "0:(0)", "translation_y": "0:(0)",
            "translation_z": "0:(10)", "rotation_3d_x": "0:(0)", "rotation_3d_y": "0:(0)", "rotation_3d_z": "0:(0)",
            "flip_2d_perspective": False, "perspective_flip_theta": "0:(0)", "perspective_flip_phi": "0:(t%15)",
            "perspective_flip_gamma": "0:(0)", "perspective_flip_fv": "0:(53)", "noise_schedule": "0: (0.08)",
            "strength_schedule": "0: (0.6)", "contrast_schedule": "0: (1.0)", "cfg_scale_schedule": "0: (7)",
            "fov_schedule": "0: (40)", "near_schedule": "0: (200)", "far_schedule": "0: (10000)",
            "seed_schedule": "0: (t%4294967293)", "histogram_matching": True, "color_coherence": "Match Frame 0 LAB",
            "diffusion_cadence": "1", "use_depth_warping": True, "midas_weight": 0.3, "near_plane": 200,
            "far_plane": 10000, "fov": 40, "padding_mode": "border", "sampling_mode": "bicubic",
            "save_depth_maps": False, "video_init_path": "/content/video_in.mp4", "extract_nth_frame": 1,
            "overwrite_extracted_frames": True, "use_mask_video": False, "video_mask_path": "/content/video_in.mp4",
            "interpolate_key_frames": False, "interpolate_x_frames": 4, "resume_from_timestring": False,
            "resume_timestring": "20220829210106"}
    return {**SD_ARGS_2022, **anim, **changes}


DEFORUM_VIDEO_2022 = {"skip_video_for_run_all": False, "fps": 12, "use_manual_settings": False,
                      "image_path": "/content/drive/MyDrive/AI/StableDiffusion/2022-09/20220903000939_%05d.png",
                      "mp4_path": "/content/drive/MyDrive/AI/StableDiffusion/2022-09/20220903000939.mp4",
                      "ffmpeg_location": "ffmpeg", "add_soundtrack": False, "soundtrack_path": "snowfall.mp3",
                      "render_steps": False, "path_name_modifier": "x0_pred", "max_video_frames": 200}


def deforum_early_2023(**changes) -> dict:
    """The extension's settings file of February 2023 (142 keys)."""
    out = deforum_late_2022()
    for key in ("flip_2d_perspective", "histogram_matching", "near_plane", "far_plane", "fov", "enable_hr",
                "firstphase_width", "firstphase_height", "make_grid", "grid_rows", "interpolate_key_frames",
                "interpolate_x_frames"):
        out.pop(key)
    out.update({"zoom": "0:(1.0025+0.002*sin(1.25*3.14*t/30))", "translation_z": "0:(1.75)",
                "enable_perspective_flip": False, "perspective_flip_phi": "0:(0)", "noise_schedule": "0: (0.065)",
                "strength_schedule": "0: (0.65)", "enable_steps_scheduling": False, "steps_schedule": "0: (25)",
                "fov_schedule": "0: (70)", "seed_schedule": "0:(5), 1:(-1), 219:(-1), 220:(5)",
                "pix2pix_img_cfg_scale": "1.5", "pix2pix_img_cfg_scale_schedule": "0:(1.5)",
                "enable_subseed_scheduling": False, "subseed_schedule": "0:(1)", "subseed_strength_schedule": "0:(0)",
                "enable_sampler_scheduling": False, "sampler_schedule": '0: ("Euler a")', "use_noise_mask": False,
                "mask_schedule": '0: ("{video_mask}")', "noise_mask_schedule": '0: ("{video_mask}")',
                "enable_checkpoint_scheduling": False, "checkpoint_schedule": '0: ("model1.ckpt")',
                "enable_clipskip_scheduling": False, "clipskip_schedule": "0: (2)", "kernel_schedule": "0: (5)",
                "sigma_schedule": "0: (1.0)", "amount_schedule": "0: (0.35)", "threshold_schedule": "0: (0.0)",
                "hybrid_comp_alpha_schedule": "0:(1)", "hybrid_comp_mask_blend_alpha_schedule": "0:(0.5)",
                "hybrid_comp_mask_contrast_schedule": "0:(1)",
                "hybrid_comp_mask_auto_contrast_cutoff_high_schedule": "0:(100)",
                "hybrid_comp_mask_auto_contrast_cutoff_low_schedule": "0:(0)",
                "color_coherence_video_every_N_frames": 1, "color_force_grayscale": False, "diffusion_cadence": "2",
                "noise_type": "perlin", "perlin_w": 8, "perlin_h": 8, "perlin_octaves": 4, "perlin_persistence": 0.5,
                "midas_weight": 0.2, "extract_from_frame": 0, "extract_to_frame": -1,
                "hybrid_generate_inputframes": False, "hybrid_generate_human_masks": "None",
                "hybrid_use_first_frame_as_init_image": True, "hybrid_motion": "None",
                "hybrid_motion_use_prev_img": False, "hybrid_flow_method": "Farneback", "hybrid_composite": False,
                "hybrid_comp_mask_type": "None", "hybrid_comp_mask_inverse": False,
                "hybrid_comp_mask_equalize": "None", "hybrid_comp_mask_auto_contrast": False,
                "hybrid_comp_save_extra_frames": False, "sampler": "euler_ancestral", "steps": 25,
                "seed_iter_N": 1, "reroll_blank_frames": "reroll", "mask_image": None, "noise_mask": None,
                "seed_internal": 0, "prompts": {"0": "a forest", "60": "a city --neg blurry"}})
    return {**out, **changes}


def _controlnet_units() -> dict:
    out = {}
    for i in range(1, 6):
        out.update({f"cn_{i}_overwrite_frames": True, f"cn_{i}_vid_path": "", f"cn_{i}_mask_vid_path": "",
                    f"cn_{i}_enabled": False, f"cn_{i}_low_vram": False, f"cn_{i}_pixel_perfect": True,
                    f"cn_{i}_module": "none", f"cn_{i}_model": "None", f"cn_{i}_weight": "0:(1)",
                    f"cn_{i}_guidance_start": "0:(0.0)", f"cn_{i}_guidance_end": "0:(1.0)",
                    f"cn_{i}_processor_res": 64, f"cn_{i}_threshold_a": 64, f"cn_{i}_threshold_b": 64,
                    f"cn_{i}_resize_mode": "Inner Fit (Scale to Fit)", f"cn_{i}_control_mode": "Balanced",
                    f"cn_{i}_loopback_mode": True})
    return out


def deforum_mid_2023(**changes) -> dict:
    """The extension's ``default_settings.txt`` shape of August 2023 (253 keys, fps inside)."""
    early = deforum_early_2023()
    for key in ("enable_hr", "seed_enable_extras", "subseed", "subseed_strength", "scale", "ddim_eta",
                "dynamic_threshold", "static_threshold", "save_samples", "save_settings", "display_samples",
                "save_sample_per_step", "show_sample_per_step", "prompt_weighting", "normalize_prompt_weights",
                "log_weighted_subprompts", "n_batch", "filename_format", "outdir", "n_samples", "precision", "C", "f",
                "prompt", "timestring", "init_latent", "init_sample", "init_c", "mask_image", "noise_mask",
                "seed_internal", "perlin_w", "perlin_h", "pix2pix_img_cfg_scale", "firstphase_width",
                "firstphase_height"):
        early.pop(key, None)
    out = {**early, "show_info_on_ui": True, "reroll_patience": 10.0, "motion_preview_mode": False,
           "positive_prompts": "", "negative_prompts": "nsfw, nude", "animation_mode": "3D",
           "transform_center_x": "0: (0.5)", "transform_center_y": "0: (0.5)", "aspect_ratio_schedule": "0: (1)",
           "aspect_ratio_use_old_formula": False, "enable_noise_multiplier_scheduling": True,
           "noise_multiplier_schedule": "0: (1.05)", "enable_ddim_eta_scheduling": False,
           "ddim_eta_schedule": "0: (0)", "enable_ancestral_eta_scheduling": False,
           "ancestral_eta_schedule": "0: (1)", "color_coherence": "LAB", "color_coherence_image_path": "",
           "legacy_colormatch": False, "optical_flow_cadence": "None", "cadence_flow_factor_schedule": "0: (1)",
           "optical_flow_redo_generation": "None", "redo_flow_factor_schedule": "0: (1)", "diffusion_redo": "0",
           "depth_algorithm": "Midas-3-Hybrid", "hybrid_flow_factor_schedule": "0:(1)",
           "hybrid_flow_consistency": False, "hybrid_consistency_blur": 2, "hybrid_use_init_image": False,
           "parseq_manifest": "", "parseq_use_deltas": True, "parseq_non_schedule_overrides": True,
           "use_looper": False, "init_images": '{"0": "https://example.com/1.png"}',
           "image_strength_schedule": "0:(0.75)", "blendFactorMax": "0:(0.35)",
           "blendFactorSlope": "0:(0.25)", "tweening_frames_schedule": "0:(20)", "color_correction_factor": "0:(0.075)",
           **_controlnet_units(), "skip_video_creation": False, "fps": 15, "make_gif": False, "delete_imgs": False,
           "delete_input_frames": False, "add_soundtrack": "None", "soundtrack_path": "https://example.com/s.mp3",
           "r_upscale_video": False, "r_upscale_factor": "x2", "r_upscale_model": "realesr-animevideov3",
           "r_upscale_keep_imgs": True, "store_frames_in_ram": False, "frame_interpolation_engine": "None",
           "frame_interpolation_x_amount": 2, "frame_interpolation_slow_mo_enabled": False,
           "frame_interpolation_slow_mo_amount": 2, "frame_interpolation_keep_imgs": False,
           "frame_interpolation_use_upscaled": False, "sd_model_name": "v1-5-pruned-emaonly.safetensors",
           "sd_model_hash": "6ce0161689", "deforum_git_commit_id": "5d63a339",
           "seed_schedule": '0:(s), 1:(-1), "max_f-2":(-1), "max_f-1":(s)',
           "batch_name": "Deforum_{timestring}"}
    return {**out, **changes}


def deforum_colab(**changes) -> dict:
    """The Colab notebook's shape: ``width``/``height``, ``animation_prompts``, fov/near/far as numbers."""
    out = deforum_early_2023()
    out["width"], out["height"] = out.pop("W"), out.pop("H")
    out.pop("prompts")
    for key in ("fov_schedule", "near_schedule", "far_schedule"):
        out.pop(key)
    out.update({"fov": 40, "near_plane": 200, "far_plane": 10000,
                "animation_prompts": {"0": "a beautiful lake by Asher Brown Durand", "40": "a portrait :2 AND "
                                      "a landscape :1 --neg blurry"}})
    return {**out, **changes}


def parseq_manifest(n_frames: int, fields: dict[str, list[float]], prompts: list[str] | None = None, *,
                    keyframes: bool = True, seeds: list[int] | None = None, fps: float = 20.0) -> dict:
    """A Parseq manifest: ``rendered_frames`` with every field, its ``_delta`` (zoom: ``1 + change``) and ``_pc``;
    with ``keyframes``, the editor's state too."""
    fields = {name: [float(v) for v in values] for name, values in fields.items()}
    frames = []
    for f in range(n_frames):
        row = {"frame": f}
        for name, values in fields.items():
            peak = max(abs(v) for v in values) or 1.0
            change = values[f] - values[f - 1] if f else values[0]
            delta = 1 + change if name == "zoom" and f else change
            row.update({name: values[f], f"{name}_delta": delta, f"{name}_pc": values[f] / peak * 100})
        if prompts is not None:
            row["deforum_prompt"] = prompts[f]
        if seeds is not None:
            row.update({"seed": seeds[f], "subseed": seeds[f] + 1, "subseed_strength": 0})
        frames.append(row)
    out = {"options": {"input_fps": fps, "bpm": 140, "output_fps": fps, "cadence": 1, "cc_window_width": 0},
           "rendered_frames": frames}
    if keyframes:
        out.update({"meta": {"generated_by": "sd_parseq", "version": "0.1.112"}, "managedFields": list(fields),
                    "displayedFields": list(fields), "keyframeLock": "frames", "reverseRender": False,
                    "keyframes": [{"frame": 0, **{k: v[0] for k, v in fields.items()}},
                                  {"frame": n_frames - 1, **{k: v[-1] for k, v in fields.items()}}],
                    "timeSeries": [], "rendered_frames_meta": {k: {"max": max(v), "min": min(v),
                                                                   "isFlat": min(v) == max(v)}
                                                               for k, v in fields.items()}})
    return out


def write_json(path: Path, data: dict, *, trailing_comma: bool = False) -> Path:
    text = json.dumps(data, indent=4, ensure_ascii=False)
    if trailing_comma:  # as hand-edited files carry them
        text = text[:text.rstrip().rfind("\n")] + ",\n}"
    path.write_text(text, encoding="utf-8")
    return path
