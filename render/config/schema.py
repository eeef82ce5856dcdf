"""The typed config schema: every setting, its type, default and help text.

These dataclasses are registered in Hydra's ConfigStore and are the single source of truth; the YAML presets in
``conf/`` only override them, so a misspelled key or a value of the wrong type is an error at composition time.
Settings keep Disco Diffusion's names. Fields whose metadata has ``schedule=True`` are keyframe schedules
(see ``transforms/keyframes.py``) and are evaluated over every frame before anything heavy is loaded.

``python -m render.config.schema`` prints the settings as a Markdown table; ``python -m render.config.schema --readme`` rewrites the
README's reference section with it.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Dict, List, Optional

from omegaconf import DictConfig


def _choices(name: str, values: list[str]) -> type[Enum]:
    """A str-valued Enum whose member names are the values themselves (so '2d' and '3d' work in YAML)."""
    return Enum(name, {v: v for v in values}, type=str)


AnimationModeName = _choices("AnimationModeName", ["none", "2d", "3d", "video_input"])
Interpolation = _choices("Interpolation", ["linear", "step", "cubic", "ease_in", "ease_out", "ease_in_out"])
FadeCurve = _choices("FadeCurve", ["linear", "ease_in", "ease_out", "ease_in_out"])
PaddingMode = _choices("PaddingMode", ["border", "zeros", "reflection"])
SamplingMode = _choices("SamplingMode", ["bicubic", "bilinear", "nearest"])
PerlinMode = _choices("PerlinMode", ["mixed", "color", "gray"])
GeneratorName = _choices("GeneratorName", ["diffusion", "preview", "camera"])
SamplingModeName = _choices("SamplingModeName", ["ddim", "plms"])
Precision = _choices("Precision", ["auto", "fp32", "bf16", "fp16"])
DepthName = _choices("DepthName", ["auto", "dpt_large", "dpt_hybrid", "dpt_hybrid_nyu", "midas_v21", "midas_small",
                                   "depth_anything_v2_small", "depth_anything_v2_base", "depth_anything_v2_large",
                                   "tiny", "flat"])
FlowName = _choices("FlowName", ["auto", "raft_large", "raft_small", "dis", "farneback"])
DisPreset = _choices("DisPreset", ["ultrafast", "fast", "medium", "fine"])
ColorCoherence = _choices("ColorCoherence", ["none", "lab", "hsv", "rgb"])
VideoBlendMode = _choices("VideoBlendMode", ["none", "linear", "optical_flow"])
CameraPathMode = _choices("CameraPathMode", ["replace", "add"])
X264Preset = _choices("X264Preset", ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                                     "slower", "veryslow"])

def open_dict_setting(help: str) -> Any:
    """An initially empty dict field that command-line overrides may add keys to (frame keys are data, not
    settings, so Hydra's struct mode must not reject ``+text_prompts.24=[...]`` or ``text_prompts={24: [...]}``)."""
    return field(default_factory=lambda: DictConfig({}, flags={"struct": False}), metadata={"help": help})


def setting(default: Any, help: str, *, schedule: bool = False, modes: tuple[str, ...] = ()) -> Any:
    """A dataclass field with help text; ``modes`` lists the animation modes that use a schedule."""
    meta = {"help": help, "schedule": schedule, "modes": modes}
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class AnimationConfig:
    mode: AnimationModeName = setting(AnimationModeName["none"],
                                      "none (independent frames), 2d (affine camera), 3d (camera from depth) or "
                                      "video_input (restyle video_init_path frame by frame)")
    max_frames: Any = setting(120, "number of frames to render, or auto: as long as audio.path (in video_input: "
                                   "every extracted frame)")
    interp_spline: Interpolation = setting(Interpolation["linear"],
                                           "default interpolation between keys for every schedule")
    angle: str = setting("0:(0)", "2D rotation per frame, degrees, counter-clockwise", schedule=True, modes=("2d",))
    zoom: str = setting("0: (1), 10: (1.05)", "2D zoom factor per frame (>1 magnifies)", schedule=True,
                        modes=("2d",))
    translation_x: str = setting("0: (0)", "2D: pixels per frame, + moves content right. 3D: camera units "
                                 "(1/200 of the scene), + moves the camera right so content moves left",
                                 schedule=True, modes=("2d", "3d"))
    translation_y: str = setting("0: (0)", "2D: pixels per frame, + moves content down. 3D: + moves content down",
                                 schedule=True, modes=("2d", "3d"))
    translation_z: str = setting("0: (10.0)", "3D: camera forward per frame (+ zooms in)", schedule=True,
                                 modes=("3d",))
    rotation_3d_x: str = setting("0: (0)", "3D: camera pitch per frame, degrees (+ moves content down)",
                                 schedule=True, modes=("3d",))
    rotation_3d_y: str = setting("0: (0)", "3D: camera yaw per frame, degrees (+ moves content left)",
                                 schedule=True, modes=("3d",))
    rotation_3d_z: str = setting("0: (0)", "3D: camera roll per frame, degrees (+ rotates content "
                                 "counter-clockwise)", schedule=True, modes=("3d",))
    fov: str = setting("40", "3D: field of view in degrees (a schedule, so a dolly zoom is possible)",
                       schedule=True, modes=("3d",))
    near_plane: float = setting(200.0, "3D: near clipping plane (kept for DD compatibility; it does not change "
                                       "the warp)")
    far_plane: float = setting(10000.0, "3D: far clipping plane (kept for DD compatibility; it does not change "
                                        "the warp)")
    camera_path: Optional[str] = setting(None, "3D: a glTF 2.0 camera animation (.gltf or .glb, e.g. exported from "
                                               "Blender) whose moves become the per-frame camera motion and fov "
                                               "(README 'Cameras from Blender')")
    camera_path_scale: float = setting(1.0, "camera_path: scene units per glTF unit (metre); translations are "
                                            "200 * scale per unit, DD's translation units")
    camera_path_mode: CameraPathMode = setting(CameraPathMode["replace"], "camera_path: replace the translation, "
                                               "rotation and fov schedules, or add its motion to them (fov from the "
                                               "camera either way)")
    padding_mode: PaddingMode = setting(PaddingMode["border"], "3D: how pixels from outside the frame are filled")
    sampling_mode: SamplingMode = setting(SamplingMode["bicubic"], "3D: resampling filter of the warp")
    turbo_mode: bool = setting(False, "3D: after turbo_preroll frames diffuse only every turbo_steps-th frame and "
                                      "blend two warped chains in between (DD's turbo)")
    turbo_steps: int = setting(3, "3D turbo: diffuse every n-th frame (DD offers 2 to 6)")
    turbo_preroll: int = setting(10, "3D turbo: frames diffused before turbo starts")
    vr_mode: bool = setting(False, "3D: also render left/right eye views (vr/) and a side-by-side video")
    vr_eye_angle: float = setting(0.5, "3D VR: each eye turns this many degrees toward the centre")
    vr_ipd: float = setting(5.0, "3D VR: distance between the eyes, in translation units")
    loop: bool = setting(False, "2D/3D: make the video loop seamlessly: over the last loop_frames frames the init "
                                "is blended toward frame 0 one camera step earlier and the guidance also targets "
                                "frame 0's CLIP embedding, both ramping up (README 'Seamless loops')")
    loop_frames: int = setting(24, "loop: how many frames at the end close the loop")
    loop_init_blend: float = setting(1.0, "loop: share of (reverse-warped) frame 0 in the last frame's init, ramping "
                                          "linearly from the first loop frame; 0 to 1")
    loop_scale: float = setting(1.0, "loop: weight of frame 0's CLIP image target on the last frame, relative to "
                                     "the prompts' (whose weights sum to 1), ramping linearly; 0 turns it off")
    video_init_path: Optional[str] = setting(None, "video_input: the source video (mp4, mov, webm, ...)")
    extract_nth_frame: int = setting(2, "video_input: use every n-th source frame; max_frames is capped at the "
                                        "frames extracted")
    video_init_seed_continuity: bool = setting(False, "video_input: the same seed for every frame (DD: else "
                                                      "seed+1 on every frame, frame 0 included)")
    video_init_flow_warp: bool = setting(True, "video_input: start each frame from the previous output warped by "
                                               "the source's optical flow, blended into the source frame")
    video_init_flow_blend: float = setting(0.999, "video_input: share of the warped previous output in the init "
                                                  "(the rest is the source frame)")
    video_init_check_consistency: bool = setting(True, "video_input: use the source frame where the flow is "
                                                       "unreliable (occlusions, frame exits, motion edges); DD's was "
                                                       "a stub")
    consistency_occlusion_weight: float = setting(1.0, "video_input: how fully occluded pixels fall back to the "
                                                       "source frame (0 to 1)")
    consistency_edge_weight: float = setting(1.0, "video_input: how fully motion-edge pixels fall back to the "
                                                  "source frame (0 to 1)")
    consistency_dilation: int = setting(0, "video_input: grow unreliable regions by this many pixels")
    consistency_blur: float = setting(2.0, "video_input: Gaussian blur (sigma, pixels) of the reliability mask")
    video_init_blend_mode: VideoBlendMode = setting(VideoBlendMode["optical_flow"], "video_input: extra export "
                                                    "besides the plain video: optical_flow (_flow.mp4: each frame "
                                                    "blended with its flow-warped predecessor), linear (_blend.mp4), "
                                                    "none")
    video_init_steps: Optional[int] = setting(None, "video_input: model.steps for this mode (null: model.steps)")
    video_init_clip_guidance_scale: Optional[float] = setting(None, "video_input: model.clip_guidance_scale "
                                                                    "(null: the model's)")
    video_init_tv_scale: Optional[float] = setting(None, "video_input: model.tv_scale (null: the model's)")
    video_init_range_scale: Optional[float] = setting(None, "video_input: model.range_scale (null: the model's)")
    video_init_sat_scale: Optional[float] = setting(None, "video_input: model.sat_scale (null: the model's)")
    video_init_cutn_batches: Optional[int] = setting(None, "video_input: model.cutn_batches (null: the model's)")
    video_init_skip_steps: Optional[int] = setting(None, "video_input: steps skipped on frame 0 (null: "
                                                         "model.skip_steps)")
    video_init_frames_scale: Optional[float] = setting(None, "video_input: LPIPS pull toward the init on later "
                                                             "frames (null: model.frames_scale)")
    video_init_frames_skip_steps: Optional[str] = setting(None, "video_input: share of steps skipped on later "
                                                                "frames (null: model.frames_skip_steps)")


@dataclass
class CustomModelConfig:
    """The UNet of ``diffusion_model=custom``, in DD's ``model_config`` names (DD's custom defaults)."""

    image_size: int = setting(256, "training resolution (picks guided-diffusion's default channel_mult)")
    num_channels: int = setting(128, "base channel count")
    num_res_blocks: int = setting(2, "residual blocks per level")
    attention_resolutions: str = setting("16", "resolutions with self-attention, comma-separated, e.g. 32,16,8")
    channel_mult: str = setting("", "channel multipliers per level, comma-separated; empty: the image size's default")
    num_heads: int = setting(1, "attention heads (when num_head_channels is -1)")
    num_head_channels: int = setting(-1, "channels per attention head (-1: use num_heads)")
    num_heads_upsample: int = setting(-1, "attention heads in the upsampling half (-1: num_heads)")
    learn_sigma: bool = setting(True, "the model also outputs the variance (6 output channels)")
    use_scale_shift_norm: bool = setting(False, "FiLM-style timestep conditioning in the residual blocks")
    resblock_updown: bool = setting(False, "residual blocks for up/downsampling")
    use_new_attention_order: bool = setting(False, "split qkv before heads")


@dataclass
class ModelConfig:
    """The diffusion generator: which networks, and DD's sampling and guidance settings."""

    name: str = setting("auto", "model preset: auto (the real preset when its files are present, else tiny with a "
                                "warning), disco512, disco256, tiny")
    diffusion_model: str = setting("512x512_diffusion_uncond_finetune_008100",
                                   "diffusion checkpoint: a registry key, custom (model.custom_path with "
                                   "model.custom_model), or tiny for seeded random weights")
    custom_path: Optional[str] = setting(None, "diffusion_model=custom: the checkpoint (a guided-diffusion state "
                                               "dict), checked strictly against model.custom_model before loading")
    custom_model: CustomModelConfig = field(default_factory=CustomModelConfig,
                                            metadata={"help": "diffusion_model=custom: the UNet's architecture"})
    use_secondary_model: bool = setting(True, "predict the clean image for CLIP with the small secondary model "
                                              "(fast) instead of backpropagating through the UNet")
    clip_models: List[str] = setting(["ViT-B-32:openai", "ViT-B-16:openai", "RN50:openai"],
                                     "CLIP models as ARCH:TAG (open_clip names), e.g. ViT-L-14:openai, "
                                     "ViT-B-32:laion2b_e16")
    width_height: Optional[List[int]] = setting(None, "frame size used when width/height are not set; null: "
                                                      "the model's own, DD's width_height_for_512x512_models "
                                                      "(1280x768), or width_height_for_256x256_models (512x448) "
                                                      "for the 256x256 model and its pixel-art, watercolour and "
                                                      "PulpSciFi finetunes")
    diffusion_sampling_mode: SamplingModeName = setting(SamplingModeName["ddim"], "ddim or plms")
    steps: int = setting(250, "diffusion steps of a whole (unskipped) sampling run")
    skip_steps: int = setting(10, "steps skipped on frame 0 (more keeps more of init_image)")
    frames_skip_steps: str = setting("60%", "share of steps skipped on later frames, which start from the warped "
                                            "previous frame")
    clip_guidance_scale: float = setting(5000.0, "strength of the CLIP guidance")
    tv_scale: float = setting(0.0, "smoothness (total variation) weight")
    range_scale: float = setting(150.0, "weight keeping the predicted image within range")
    sat_scale: float = setting(0.0, "weight against saturation beyond range")
    init_scale: float = setting(1000.0, "LPIPS pull of frame 0 toward init_image")
    frames_scale: float = setting(1500.0, "LPIPS pull of later frames toward the warped previous frame")
    cutn_batches: int = setting(4, "batches of cutouts per CLIP model and step (gradients are averaged)")
    batch_cutouts: bool = setting(False, "encode the cutn_batches batches of a CLIP model in one forward+backward "
                                         "(fewer, larger kernels for big GPUs; cutn_batches times the CLIP activation "
                                         "memory): the same cutouts as DD's loop, the gradient equal within float32 "
                                         "rounding; false: DD's loop")
    skip_augs: bool = setting(False, "turn off the cutout augmentations")
    cut_overview: Optional[str] = setting(None, "whole-image views per batch over diffusion time (1000 entries, "
                                                "noisiest first); null: the model's own, DD's [12]*400+[4]*600 or "
                                                "KaliYuga's pad_or_pulp/watercolor schedule for those finetunes")
    cut_innercut: Optional[str] = setting(None, "random inner crops per batch over diffusion time; null: the "
                                                "model's own (DD: [4]*400+[12]*600)")
    cut_ic_pow: Optional[str] = setting(None, "inner crop size power (higher: smaller crops); null: the model's "
                                              "own (DD: [1]*1000)")
    cut_icgray_p: Optional[str] = setting(None, "share of inner crops made gray; null: the model's own (DD: "
                                                "[0.2]*400+[0]*600)")
    eta: float = setting(0.8, "DDIM noise (0 deterministic, 1 like DDPM)")
    clamp_grad: bool = setting(True, "limit the RMS of the guidance gradient")
    clamp_max: float = setting(0.05, "the RMS limit when clamp_grad is on")
    clip_denoised: bool = setting(False, "clamp the model's predicted image to [-1, 1]")
    fuzzy_prompt: bool = setting(False, "add 25 noisy copies of each prompt embedding")
    rand_mag: float = setting(0.05, "noise of the fuzzy prompt copies")
    use_vertical_symmetry: bool = setting(False, "mirror the top half at transformation_percent (DDIM)")
    use_horizontal_symmetry: bool = setting(False, "mirror the left half at transformation_percent (DDIM)")
    transformation_percent: List[float] = setting([0.09], "points of the sampling run where symmetry is applied")
    precision: Precision = setting(Precision["auto"], "UNet precision (the secondary model stays fp32): auto (bf16 "
                                                      "where the GPU or CPU has native bf16, else fp16 on CUDA as "
                                                      "DD, fp32 on CPU; README Precision), fp32, bf16, fp16 (CUDA)")
    clip_precision: Precision = setting(Precision["auto"], "CLIP image-encoder precision: auto (fp16 on CUDA; on a "
                                                           "CPU with native bf16, bf16 for ViTs and ResNets, else "
                                                           "fp32), fp32, bf16, fp16 (CUDA)")
    use_checkpoint: bool = setting(True, "gradient checkpointing in the UNet (memory for speed)")
    channels_last: bool = setting(True, "channels-last memory layout for the convolutions")
    compile: bool = setting(False, "torch.compile the networks of a guided step (UNet, secondary model, CLIP image "
                                   "encoders) for their fixed shapes: fused kernels, fewer launches; each new frame "
                                   "size or cutout count compiles first (minutes); needs Triton on CUDA, a C++ "
                                   "compiler on a CPU")
    models_dir: Optional[str] = setting(None, "where weight files live (default $DISCO_ANIM_MODELS or "
                                              "~/.cache/disco-anim/models)")
    download: bool = setting(True, "download missing files of an explicitly chosen preset (when online)")


@dataclass
class OutputConfig:
    fps: Optional[float] = setting(None, "frames per second of the video; null: 12 (DD's), or in video_input the "
                                         "source's fps / extract_nth_frame (real-time speed)")
    crf: int = setting(17, "x264 constant rate factor, 0 (lossless) to 51 (worst)")
    preset: X264Preset = setting(X264Preset["slow"], "x264 speed/size preset")
    video: bool = setting(True, "stitch the frames into an mp4 at the end")
    previews: bool = setting(True, "also write <batch>_contact.png (16 frames in a grid) and <batch>.gif (small, "
                                   "looping) at the end")
    progress_every: int = setting(0, "write progress.png in the run dir every K sampler steps (and at each frame's "
                                     "last step) with the step's predicted clean image, as DD's display_rate; 0: off")
    intermediate_saves: Any = setting(0, "keep partials/{frame:05d}_{step:03d}.png of every frame: a count N (N "
                                         "evenly spaced steps, as DD spaces them) or a list of steps counted from "
                                         "the first step run, e.g. [5, 20]; 0: none")
    quality: Optional[bool] = setting(None, "measure flicker, colour drift and CLIP similarity at the end: run.json "
                                            "'metrics', per frame in quality.csv (README 'Measured quality'); null: "
                                            "for diffusion runs, not for previews")
    interpolate_fps: Optional[float] = setting(None, "also write <batch>_<N>fps.mp4: the frames at N fps by ffmpeg's "
                                                     "motion-compensated interpolation (minterpolate), same length, "
                                                     "the song muxed in; N above output.fps; null: off")
    upscale: int = setting(1, "2 or 4: also write <batch>_2x.mp4 (or _4x), Lanczos-scaled, the song muxed in (of "
                              "the interpolated video when interpolate_fps is set); 1: off")
    subtitles: bool = setting(False, "mux parameters.srt (every frame's schedule values, prompts and seed) into "
                                     "the mp4 as a subtitle track")
    keep_states: Optional[int] = setting(None, "keep the state of every finished frame in state/ (null), so the run "
                                               "can be branched at any frame with resume_from; N: only the newest N "
                                               "(less disk; branch points limited to the last N frames)")


@dataclass
class DepthConfig:
    name: DepthName = setting(DepthName["auto"], "3D depth: auto (dpt_large when its file is present, else tiny "
                                                 "with a warning), dpt_large, dpt_hybrid, dpt_hybrid_nyu, midas_v21, "
                                                 "midas_small, depth_anything_v2_small, depth_anything_v2_base, "
                                                 "depth_anything_v2_large (Base and Large: non-commercial licence), "
                                                 "tiny (random weights, offline), flat (a constant plane)")
    midas_weight: Optional[float] = setting(None, "MiDaS share of the depth, the rest AdaBins; null: DD's 0.3 when "
                                                  "AdaBins_nyu.pt is present, else 1.0 (MiDaS only)")
    precision: Precision = setting(Precision["auto"], "depth model precision: auto (fp16 on CUDA, fp32 on CPU), "
                                                      "fp32, bf16, fp16")
    save_depth_maps: bool = setting(False, "write each frame's depth map as a 16-bit PNG into depth/ "
                                           "(value = depth * 6553.5)")
    flat_value: float = setting(1.0, "depth of the plane used by the flat estimator")
    nyu_metric: bool = setting(True, "dpt_hybrid_nyu: turn its output into metres as DPT does (1/(0.000305*d + "
                                     "0.1378)); false: DD's (50-d)/19, which puts everything nearer than ~6.5 m at "
                                     "the nearest depth")
    stabilize: bool = setting(False, "hold 3D depth still over time: each frame's depth aligned (robust scale and "
                                     "shift) to the previous frame's moved by the known camera step, and blended "
                                     "with it where they agree (false: DD's depth, estimated per frame)")
    stabilize_strength: float = setting(0.7, "depth.stabilize: the previous depth's weight where the two agree, "
                                             "and its share of the depth's scale (0: off, 1: frozen)")


@dataclass
class FlowConfig:
    name: FlowName = setting(FlowName["auto"], "optical flow for video_input: auto (raft_large when its file is "
                                               "present, else dis), raft_large, raft_small, dis, farneback")
    dis_preset: DisPreset = setting(DisPreset["fine"], "OpenCV DIS quality: ultrafast, fast, medium, fine (medium "
                                                     "refined to full resolution: sharper occlusion masks)")
    raft_iters: int = setting(20, "RAFT refinement iterations (DD: 20)")
    precision: Precision = setting(Precision["auto"], "RAFT precision: auto (bf16 on GPUs with native bf16, else "
                                                      "fp16 on CUDA; fp32 on CPU), fp32, bf16, fp16")
    cache_dir: Optional[str] = setting(None, "where computed flow is kept, keyed by the video's content, size and "
                                             "backend (default ~/.cache/disco-anim/flow)")
    save_previews: bool = setting(False, "write flow (colour wheel) and consistency-mask images per frame into "
                                         "flow_preview/")


@dataclass
class AudioConfig:
    path: Optional[str] = setting(None, "a song (wav, flac, mp3, m4a, ...): its features become schedule variables "
                                        "(rms, onset, beat, lo, mid, hi, b, bpm) and it is muxed into the video")
    offset: float = setting(0.0, "seconds into the song where frame 0 starts")
    duration: Optional[float] = setting(None, "seconds of the song to use (null: to its end)")
    beat_decay: float = setting(0.8, "the beat variable is 1 on a beat and is multiplied by this every frame after")
    cache_dir: Optional[str] = setting(None, "where audio features are cached (default ~/.cache/disco-anim/audio)")


@dataclass
class Config:
    animation: AnimationConfig = field(default_factory=AnimationConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    depth: DepthConfig = field(default_factory=DepthConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    batch_name: str = setting("TimeToDisco", "name of the run; used for the output folder and the video file")
    seed: Optional[int] = setting(None, "base seed (frame f uses seed+f); null draws one and records it")
    width: Optional[int] = setting(None, "frame width in pixels, floored to a multiple of 64 as DD does; null: "
                                         "the model's width_height")
    height: Optional[int] = setting(None, "frame height in pixels, floored to a multiple of 64; null: the "
                                          "model's width_height")
    n_batches: int = setting(1, "animation=none: render this many stills from one seeded stream, each its own "
                                "PNG in frames/ (DD's n_batches: still k continues the random stream of still k-1); "
                                "other modes need 1, as DD forced")
    init_image: Optional[str] = setting(None, "path or http(s) URL of an image to start frame 0 from (a URL is "
                                              "downloaded once into url_cache_dir)")
    url_cache_dir: Optional[str] = setting(None, "where images given as URLs (init_image, image prompts) are kept "
                                                 "(default ~/.cache/disco-anim/images)")
    url_max_mb: float = setting(50.0, "largest image a URL may download, in MB (at most 2000)")
    url_timeout: float = setting(30.0, "seconds one image download may take in all (connecting, waiting and "
                                       "receiving; at most 600) before it fails")
    color_coherence: ColorCoherence = setting(ColorCoherence["none"], "match each init made from the previous frame "
                                              "to frame 0's colour histogram, against colour drift: none, lab, hsv "
                                              "or rgb (Deforum's 'Match Frame 0')")
    perlin_init: bool = setting(False, "start frame 0 from Perlin noise (ignored when init_image is set)")
    perlin_mode: PerlinMode = setting(PerlinMode["mixed"], "Perlin noise colours: mixed, color or gray")
    generator: GeneratorName = setting(GeneratorName["diffusion"], "what makes each frame: diffusion "
                                       "(CLIP-guided, from the warped previous frame), camera (the camera's path "
                                       "over a reference scene, sharp however long: README 'Studio page') or "
                                       "preview (the warped previous frame itself, what the chain does to the init)")
    device: str = setting("auto", "torch device: auto (cuda when available), cpu, cuda, cuda:1, ...")
    resume: Optional[str] = setting(None, "continue a run: its folder, or latest (the newest run of batch_name); "
                                          "its own settings are used, plus this command's overrides")
    resume_from: Optional[int] = setting(None, "with resume: branch the run at this frame, keeping frames before it "
                                               "and re-rendering it and the rest with this command's settings (any "
                                               "may change but the size and animation.mode)")
    resume_retain: bool = setting(True, "with resume_from: move the frames it replaces to retained/<time>/ (DD's "
                                        "retain_overwritten_frames); false deletes them")
    import_settings: Optional[str] = setting(None, "a Disco Diffusion, Deforum or Parseq settings file, or a run's "
                                                   "config.yaml: the run's base settings, this command's overrides "
                                                   "on top; the mapping goes to import_report.md (README 'Settings "
                                                   "from other tools')")
    schema_version: Optional[int] = setting(None, "the layout of a run's settings, written into its config.yaml (a "
                                                  "run dir of an older layout is migrated when it is resumed); not "
                                                  "set by hand")
    download: Optional[str] = setting(None, "fetch the weight files of a model preset (disco512, disco256) or of "
                                            "registry keys (comma-separated) into model.models_dir, then exit")
    text_prompts: Dict[Any, List[str]] = open_dict_setting("prompts per key frame, each 'text:weight' (the "
                                                           "prompts/ preset fills it; DD's lighthouse by default)")
    image_prompts: Dict[Any, List[str]] = open_dict_setting("image prompts per key frame, each 'path:weight' (the "
                                                            "path may be an http(s) URL)")
    prompt_blend: Any = setting(0, "frames over which each prompt key fades in from the previous one (also 2s or "
                                   "4b); a key may give its own: '100 fade 24', '10s fade 2s ease_in'; 0: hard switch (DD)")
    prompt_blend_interpolation: FadeCurve = setting(FadeCurve["linear"], "curve of the prompt fades: linear, "
                                                    "ease_in, ease_out, ease_in_out (a key may name its own)")


SCHEMA_GROUPS = {"animation": AnimationConfig, "model": ModelConfig, "model.custom_model": CustomModelConfig,
                 "output": OutputConfig, "depth": DepthConfig, "flow": FlowConfig, "audio": AudioConfig}


def schedule_fields() -> list[tuple[str, dataclasses.Field]]:
    """``(dotted path, field)`` of every schedule setting."""
    out = []
    for group, cls in SCHEMA_GROUPS.items():
        out += [(f"{group}.{f.name}", f) for f in dataclasses.fields(cls) if f.metadata.get("schedule")]
    return out


def settings_table() -> str:
    """Markdown table of every setting with its default and help text."""
    rows = ["| setting | default | meaning |", "|---|---|---|"]

    def emit(prefix: str, cls: type) -> None:
        for f in dataclasses.fields(cls):
            if f.name in SCHEMA_GROUPS and cls is Config:
                continue
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            if dataclasses.is_dataclass(default):
                continue  # a nested group: its own rows follow
            shown = default.value if isinstance(default, Enum) else default
            if isinstance(shown, (dict, DictConfig)):
                shown = "{...}" if len(shown) else "{}"
            shown = "null" if shown is None else shown
            rows.append(f"| `{prefix}{f.name}` | `{shown}` | {f.metadata.get('help', '')} |")

    emit("", Config)
    for group, cls in SCHEMA_GROUPS.items():
        emit(f"{group}.", cls)
    return "\n".join(rows)


def update_readme(path: str) -> None:
    """Replace the table between ``<!-- settings:start -->`` and ``<!-- settings:end -->`` in ``path``."""
    import re
    from pathlib import Path

    text = Path(path).read_text()
    block = f"<!-- settings:start -->\n{settings_table()}\n<!-- settings:end -->"
    new, n = re.subn(r"<!-- settings:start -->.*?<!-- settings:end -->", lambda _: block, text, flags=re.S)
    if n != 1:
        raise SystemExit(f"{path} has no settings markers")
    Path(path).write_text(new)


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["--readme"]:
        update_readme(sys.argv[2] if len(sys.argv) > 2 else "README.md")
    else:
        print(settings_table())
