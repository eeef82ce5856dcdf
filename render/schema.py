"""The typed config schema: every setting, its type, default and help text.

These dataclasses are registered in Hydra's ConfigStore and are the single source of truth; the YAML presets in
``conf/`` only override them, so a misspelled key or a value of the wrong type is an error at composition time.
Settings keep Disco Diffusion's names. Fields whose metadata has ``schedule=True`` are keyframe schedules
(see ``transforms/keyframes.py``) and are evaluated over every frame before anything heavy is loaded.

``python -m render.schema`` prints the settings as a Markdown table (the README's reference section).
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig


def _choices(name: str, values: list[str]) -> type[Enum]:
    """A str-valued Enum whose member names are the values themselves (so '2d' and '3d' work in YAML)."""
    return Enum(name, {v: v for v in values}, type=str)


AnimationModeName = _choices("AnimationModeName", ["none", "2d", "3d"])
Interpolation = _choices("Interpolation", ["linear", "step", "cubic", "ease_in", "ease_out", "ease_in_out"])
PaddingMode = _choices("PaddingMode", ["border", "zeros", "reflection"])
SamplingMode = _choices("SamplingMode", ["bicubic", "bilinear", "nearest"])
PerlinMode = _choices("PerlinMode", ["mixed", "color", "gray"])
GeneratorName = _choices("GeneratorName", ["preview"])
DepthName = _choices("DepthName", ["flat"])
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
                                      "none (independent frames), 2d (affine camera) or 3d (camera from depth)")
    max_frames: int = setting(120, "number of frames to render")
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
    padding_mode: PaddingMode = setting(PaddingMode["border"], "3D: how pixels from outside the frame are filled")
    sampling_mode: SamplingMode = setting(SamplingMode["bicubic"], "3D: resampling filter of the warp")


@dataclass
class OutputConfig:
    fps: float = setting(12.0, "frames per second of the video")
    crf: int = setting(17, "x264 constant rate factor, 0 (lossless) to 51 (worst)")
    preset: X264Preset = setting(X264Preset["slow"], "x264 speed/size preset")
    video: bool = setting(True, "stitch the frames into an mp4 at the end")


@dataclass
class DepthConfig:
    name: DepthName = setting(DepthName["flat"], "depth estimator for 3D mode (flat: a constant plane)")
    flat_value: float = setting(1.0, "depth of the plane used by the flat estimator")


@dataclass
class Config:
    animation: AnimationConfig = field(default_factory=AnimationConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    depth: DepthConfig = field(default_factory=DepthConfig)
    batch_name: str = setting("TimeToDisco", "name of the run; used for the output folder and the video file")
    seed: Optional[int] = setting(None, "base seed (frame f uses seed+f); null draws one and records it")
    width: int = setting(1280, "frame width in pixels (floored to a multiple of 64, as DD does)")
    height: int = setting(768, "frame height in pixels (floored to a multiple of 64, as DD does)")
    init_image: Optional[str] = setting(None, "path of an image to start frame 0 from")
    perlin_init: bool = setting(False, "start frame 0 from Perlin noise (ignored when init_image is set)")
    perlin_mode: PerlinMode = setting(PerlinMode["mixed"], "Perlin noise colours: mixed, color or gray")
    generator: GeneratorName = setting(GeneratorName["preview"],
                                       "what makes each frame: preview (the warped previous frame)")
    device: str = setting("auto", "torch device: auto (cuda when available), cpu, cuda, cuda:1, ...")
    text_prompts: Dict[Any, List[str]] = open_dict_setting("prompts per key frame, each 'text:weight' (the "
                                                           "prompts/ preset fills it; DD's lighthouse by default)")
    image_prompts: Dict[Any, List[str]] = open_dict_setting("image prompts per key frame, each 'path:weight'")


SCHEMA_GROUPS = {"animation": AnimationConfig, "output": OutputConfig, "depth": DepthConfig}


def register_configs() -> None:
    """Register the schema with Hydra's ConfigStore (``conf/config.yaml`` lists it first in its defaults)."""
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=Config)


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
            shown = default.value if isinstance(default, Enum) else default
            if isinstance(shown, (dict, DictConfig)):
                shown = "{...}" if len(shown) else "{}"
            shown = "null" if shown is None else shown
            rows.append(f"| `{prefix}{f.name}` | `{shown}` | {f.metadata.get('help', '')} |")

    emit("", Config)
    for group, cls in SCHEMA_GROUPS.items():
        emit(f"{group}.", cls)
    return "\n".join(rows)


if __name__ == "__main__":
    print(settings_table())
