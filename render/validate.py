"""``check_inputs``: everything that can be checked without loading a model, checked up front.

Every schedule is evaluated over every frame, prompts are parsed, sizes and paths are checked. All problems are
collected and raised together as :class:`ConfigErrors`, each naming the setting, the value and the fix, so that a
typo costs seconds, not a GPU hour.
"""
from __future__ import annotations

import dataclasses
import difflib
import logging
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from PIL import Image

from render.diffusion_plan import DiffusionPlan, plan_diffusion
from render.plan import SEED_MODULUS, RenderPlan
from render.schema import Config, schedule_fields
from transforms.keyframes import ScheduleError, parse_schedule
from transforms.prompts import PromptSchedule, evaluate_prompt_schedule

log = logging.getLogger(__name__)
SIZE_MULTIPLE = 64
SCHEDULE_FIX = 'write keys as "frame: (value)", e.g. "0: (1.0), 10: (1.05)"; see README "Schedules"'


@dataclass(frozen=True)
class ConfigIssue:
    setting: str
    value: object
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.setting}: {self.problem}\n    value: {self.value!r}\n    fix: {self.fix}"


class ConfigErrors(ValueError):
    """All problems found in a config; raised before any model is loaded."""

    def __init__(self, issues: list[ConfigIssue]):
        self.issues = issues
        super().__init__(str(self))

    def __str__(self) -> str:
        n = len(self.issues)
        lines = [f"{n} problem{'s' if n != 1 else ''} in the config (nothing was rendered):"]
        lines += [f"  - {issue}" for issue in self.issues]
        return "\n".join(lines)


def to_settings(cfg: DictConfig) -> Config:
    """The composed config as typed schema objects; keys the schema does not know are errors.

    Hydra rejects unknown keys except those added with ``+key=value``, which would otherwise be silently ignored.
    """
    unknown = _unknown_keys(cfg, Config)
    if unknown:
        raise ConfigErrors(unknown)
    return OmegaConf.to_object(cfg)


def _unknown_keys(node: DictConfig, schema: type, prefix: str = "") -> list[ConfigIssue]:
    fields = {f.name for f in dataclasses.fields(schema)}
    issues = []
    for key in node.keys():
        path = f"{prefix}{key}"
        if key not in fields:
            close = difflib.get_close_matches(str(key), sorted(fields), n=1)
            hint = f"did you mean {prefix}{close[0]}?" if close else f"known: {', '.join(sorted(fields))}"
            issues.append(ConfigIssue(path, node[key], "unknown setting", f"{hint} (see README 'Settings')"))
            continue
        child = node._get_node(key)
        child_type = OmegaConf.get_type(child) if isinstance(child, DictConfig) else None
        if child_type is not None and dataclasses.is_dataclass(child_type):
            issues += _unknown_keys(child, child_type, f"{path}.")
    return issues


def check_inputs(cfg: Config, output_dir: Path | None = None, *, quiet: bool = False) -> RenderPlan:
    """Validate ``cfg`` and evaluate its schedules; returns the plan or raises :class:`ConfigErrors`.

    With ``output_dir``, also checks that it is writable and has room for the run. ``quiet`` skips warnings (used
    when re-planning a saved config to compare it).
    """
    issues: list[ConfigIssue] = []
    n_frames = _check_frames(cfg, issues)
    fps = float(cfg.output.fps)
    _check_output(cfg, issues)
    _check_paths(cfg, issues)
    device = _check_device(cfg, issues)
    _check_camera(cfg, issues)
    _check_depth(cfg, issues)
    diffusion = _check_diffusion(cfg, device, issues)
    model = diffusion.model if diffusion is not None else cfg.model
    width, height = _check_size(cfg, model.width_height, issues)
    schedules = _evaluate_schedules(cfg, n_frames, fps, issues)
    text = _prompts(cfg.text_prompts, "text_prompts", n_frames, fps, issues)
    image = _prompts(cfg.image_prompts, "image_prompts", n_frames, fps, issues)
    if "animation.fov" in schedules:
        _check_range(schedules["animation.fov"], "animation.fov", cfg.animation.fov, 0.0, 180.0,
                     "give a field of view between 0 and 180 degrees, e.g. 40", issues)
    if "animation.zoom" in schedules and np.any(schedules["animation.zoom"] == 0):
        frame = int(np.argmax(schedules["animation.zoom"] == 0))
        issues.append(ConfigIssue("animation.zoom", cfg.animation.zoom, f"frame {frame}: a zoom of 0 collapses the "
                                  "image to a point", "zoom is a factor per frame: 1 keeps the size, 1.05 magnifies"))
    seed = _seed(cfg, issues)
    if output_dir is not None and not issues:
        _check_output_dir(output_dir, n_frames, width, height, issues)
    if issues:
        raise ConfigErrors(issues)
    if diffusion is not None and diffusion.fallback and not quiet:
        log.warning("%s", diffusion.fallback)
    return RenderPlan(n_frames=n_frames, width=width, height=height, fps=fps, seed=seed, schedules=schedules,
                      text_prompts=text, image_prompts=image, device=device, diffusion=diffusion)


def _check_frames(cfg: Config, issues: list[ConfigIssue]) -> int:
    if cfg.animation.max_frames < 1:
        issues.append(ConfigIssue("animation.max_frames", cfg.animation.max_frames, "must be at least 1",
                                  "set animation.max_frames to the number of frames to render, e.g. 60"))
        return 1
    return int(cfg.animation.max_frames)


def _check_size(cfg: Config, model_size: list[int], issues: list[ConfigIssue]) -> tuple[int, int]:
    size = []
    for i, name in enumerate(("width", "height")):
        value = getattr(cfg, name)
        if value is None:
            value = int(model_size[i]) if len(model_size) == 2 else 512
        if value < SIZE_MULTIPLE:
            issues.append(ConfigIssue(name, value, f"must be at least {SIZE_MULTIPLE} pixels",
                                      f"set {name} to a multiple of {SIZE_MULTIPLE}, e.g. {name}=512"))
            size.append(SIZE_MULTIPLE)
            continue
        floored = value // SIZE_MULTIPLE * SIZE_MULTIPLE
        if floored != value:
            log.warning("%s=%d is not a multiple of %d; using %d (as Disco Diffusion does)",
                        name, value, SIZE_MULTIPLE, floored)
        size.append(floored)
    return size[0], size[1]


def _check_output(cfg: Config, issues: list[ConfigIssue]) -> None:
    if not cfg.output.fps > 0:
        issues.append(ConfigIssue("output.fps", cfg.output.fps, "must be positive", "set output.fps=12 (or 24)"))
    if not 0 <= cfg.output.crf <= 51:
        issues.append(ConfigIssue("output.crf", cfg.output.crf, "x264 accepts 0 to 51",
                                  "use 17 for near-lossless, 23 for x264's default"))


def _check_paths(cfg: Config, issues: list[ConfigIssue]) -> None:
    if cfg.init_image in (None, ""):
        return
    path = Path(os.path.expanduser(cfg.init_image))
    try:
        with Image.open(path) as img:
            img.verify()
    except (OSError, ValueError, SyntaxError) as exc:
        problem = "file not found" if not path.exists() else f"cannot be read as an image ({exc})"
        issues.append(ConfigIssue("init_image", cfg.init_image, problem,
                                  "give the path of a PNG or JPEG file (relative to where you run main.py), "
                                  "or init_image=null"))


def estimated_run_bytes(n_frames: int, width: int, height: int) -> int:
    """A generous estimate of a run's disk use: PNGs of detailed frames (~raw size), two states, the video."""
    raw = width * height * 3
    return n_frames * raw + 2 * raw * 2 + n_frames * raw // 10 + (1 << 20)


def _check_output_dir(output_dir: Path, n_frames: int, width: int, height: int, issues: list[ConfigIssue]) -> None:
    output_dir = Path(output_dir)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        probe = output_dir / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        issues.append(ConfigIssue("hydra.run.dir", str(output_dir), f"cannot write there ({exc})",
                                  "run from a writable folder or set hydra.run.dir=<writable folder>"))
        return
    need, free = estimated_run_bytes(n_frames, width, height), shutil.disk_usage(output_dir).free
    if need > free:
        issues.append(ConfigIssue("animation.max_frames", n_frames,
                                  f"the run needs about {need / 1e9:.1f} GB and {output_dir} has {free / 1e9:.1f} GB "
                                  "free", "free disk space, render fewer frames, or set hydra.run.dir elsewhere"))


def _check_device(cfg: Config, issues: list[ConfigIssue]) -> torch.device:
    if cfg.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(cfg.device)
    except (RuntimeError, ValueError) as exc:
        issues.append(ConfigIssue("device", cfg.device, f"not a torch device ({exc})", "use auto, cpu or cuda"))
        return torch.device("cpu")
    if device.type == "cuda" and not torch.cuda.is_available():
        issues.append(ConfigIssue("device", cfg.device, "CUDA is not available on this machine",
                                  "use device=cpu or device=auto"))
    return device


def _check_diffusion(cfg: Config, device: torch.device, issues: list[ConfigIssue]) -> DiffusionPlan | None:
    if cfg.generator.value != "diffusion":
        return None
    plan, problems = plan_diffusion(cfg.model, init_image=bool(cfg.init_image), device=device)
    issues += [ConfigIssue(p.setting, p.value, p.problem, p.fix) for p in problems]
    return plan


def _check_camera(cfg: Config, issues: list[ConfigIssue]) -> None:
    near, far = cfg.animation.near_plane, cfg.animation.far_plane
    if not near > 0:
        issues.append(ConfigIssue("animation.near_plane", near, "must be positive", "use DD's 200"))
    if not far > near:
        issues.append(ConfigIssue("animation.far_plane", far, "must be greater than near_plane", "use DD's 10000"))


def _check_depth(cfg: Config, issues: list[ConfigIssue]) -> None:
    if cfg.depth.name.value == "flat" and not cfg.depth.flat_value > 0:
        issues.append(ConfigIssue("depth.flat_value", cfg.depth.flat_value, "the plane must be in front of the camera",
                                  "use a positive depth, e.g. 1.0"))


def _evaluate_schedules(cfg: Config, n_frames: int, fps: float, issues: list[ConfigIssue]) -> dict[str, np.ndarray]:
    out = {}
    interpolation = cfg.animation.interp_spline.value
    for path, _ in schedule_fields():
        text = _lookup(cfg, path)
        try:
            out[path] = parse_schedule(text, interpolation).evaluate(n_frames, fps if fps > 0 else 12.0)
        except ScheduleError as exc:
            issues.append(ConfigIssue(path, text, str(exc), SCHEDULE_FIX))
    return out


def _prompts(prompts, setting: str, n_frames: int, fps: float, issues: list[ConfigIssue]) -> PromptSchedule:
    try:
        return evaluate_prompt_schedule(prompts, n_frames, fps if fps > 0 else 12.0, setting=setting)
    except ScheduleError as exc:
        issues.append(ConfigIssue(exc.setting or setting, dict(prompts or {}), exc.reason,
                                  f'write {setting} as {{frame: ["text:weight", ...]}}, e.g. {{0: ["a lighthouse:2", '
                                  f'"yellow"]}}'))
        return PromptSchedule(frames=((),) * n_frames, change_frames=())


def _check_range(values: np.ndarray, setting: str, text: str, lo: float, hi: float, fix: str,
                 issues: list[ConfigIssue]) -> None:
    bad = (values <= lo) | (values >= hi)
    if np.any(bad):
        frame = int(np.argmax(bad))
        issues.append(ConfigIssue(setting, text, f"frame {frame}: {values[frame]:g} is outside ({lo:g}, {hi:g})", fix))


def _seed(cfg: Config, issues: list[ConfigIssue]) -> int:
    if cfg.seed is None:
        return random.SystemRandom().randrange(SEED_MODULUS)
    if not 0 <= cfg.seed < SEED_MODULUS:
        issues.append(ConfigIssue("seed", cfg.seed, f"must be in 0..{SEED_MODULUS - 1}",
                                  "pick any non-negative 32-bit integer, or seed=null for a random one"))
    return int(cfg.seed) % SEED_MODULUS


def _lookup(cfg: Config, path: str):
    obj = cfg
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj
