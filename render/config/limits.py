"""Limits checked before anything heavy: finite numbers, frame counts, frame sides, step counts the respacing can
make, a plain ``batch_name``, bounds of the URL downloads (the plan); the memory a frame needs, devices that exist
and image files (regular files, a pixel limit, a decode timeout: ``render.disk.images.image_problem``) when the
assets are resolved. Each problem is a ``ConfigIssue`` (setting, value, fix) added to the caller's list."""
from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from render.config.issues import ConfigIssue
from render.diffusion.respacing import check_respacing
from render.disk.images import file_problem, image_problem

if TYPE_CHECKING:
    import torch

MAX_FRAMES = 100_000  # 69 minutes at 24 fps; the schedules of more frames alone fill gigabytes
MAX_SIDE = 16384  # libx264's largest frame side
MAX_STEPS = 10_000
MAX_URL_TIMEOUT_S = 600.0  # one image download; beyond, a stalled server holds the start for many minutes
MAX_URL_MB = 2000.0  # beyond, the image is far past MAX_IMAGE_PIXELS anyway
MAX_BATCH_NAME = 200
MAX_FLOAT = 1e15  # as transforms/keyframes.MAX_VALUE: beyond, float32 arithmetic overflows
# bytes of working memory per frame pixel, by generator (diffusion: UNet activations with checkpointing, CLIP
# cutouts; the figures are low on purpose: only a frame that cannot fit is refused)
BYTES_PER_PIXEL = {"preview": 64, "tiny": 1024, "diffusion": 8192}


def leaf_settings(node: Any, kind: type, prefix: str = ""):
    """``(path, value)`` of every value of type ``kind`` in the typed settings, nested groups and lists included."""
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        if dataclasses.is_dataclass(value):
            yield from leaf_settings(value, kind, f"{prefix}{f.name}.")
        elif isinstance(value, kind) and not isinstance(value, bool):
            yield f"{prefix}{f.name}", value
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                if isinstance(item, kind):
                    yield f"{prefix}{f.name}[{i}]", item


def float_settings(node: Any):
    """``(path, value)`` of every float setting."""
    return leaf_settings(node, float)


def check_home_paths(cfg, issues: list) -> None:
    """A path written ``~user/...`` for a user this machine does not know cannot be expanded."""
    for path, value in leaf_settings(cfg, str):
        if value.startswith("~") and os.path.expanduser(value).startswith("~"):
            issues.append(ConfigIssue(path, value, f"{value.split('/')[0]} is not a user on this machine",
                                 "write ~/... for your own home folder, or an absolute path"))


def check_finite(cfg, issues: list) -> None:
    """NaN, infinity or an astronomic value in any float setting is an error (a NaN guidance scale renders black
    frames, 1e308 overflows float32 to infinity)."""
    for path, value in float_settings(cfg):
        if not math.isfinite(value) or abs(value) > MAX_FLOAT:
            issues.append(ConfigIssue(path, value, f"must be a finite number (not NaN or infinity) within "
                                      f"±{MAX_FLOAT:g}", "give an ordinary number; README 'Settings' lists each "
                                      "setting's default"))


def check_batch_name(name: Any, issues: list) -> None:
    """``batch_name`` names the video and the run folder: a plain, non-empty file name."""
    text = "" if name is None else str(name)
    bad = (not text.strip() or text in (".", "..") or any(c in text for c in "/\\\0")
           or text != text.strip() or len(text) > MAX_BATCH_NAME or text.startswith("-"))
    if bad:
        issues.append(ConfigIssue("batch_name", name, "must be a plain file name (not empty, no / or \\, not . or .., "
                             f"not starting with -, at most {MAX_BATCH_NAME} characters)",
                             "use letters, digits, - and _, e.g. batch_name=lighthouse_zoom"))


def check_frame_count(n_frames: int | None, setting: str, issues: list) -> int | None:
    """At most :data:`MAX_FRAMES`; returns the count to plan with (clamped after an error)."""
    if n_frames is None or n_frames <= MAX_FRAMES:
        return n_frames
    issues.append(ConfigIssue(setting, n_frames, f"{n_frames} frames is more than the limit of {MAX_FRAMES}",
                         f"render at most {MAX_FRAMES} frames per run (split a long video into runs)"))
    return 1


def memory_bytes(device: "torch.device") -> int | None:
    """The device's memory (CUDA) or the machine's (CPU); None when it cannot be told."""
    import torch

    try:
        if device.type == "cuda" and torch.cuda.is_available():
            return torch.cuda.get_device_properties(device.index or 0).total_memory
        if device.type == "cpu":
            return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (RuntimeError, ValueError, OSError, AssertionError):
        return None
    return None


def check_frame_sides(width: int, height: int, issues: list) -> bool:
    """Each side at most :data:`MAX_SIDE`; False when one is larger."""
    for name, value in (("width", width), ("height", height)):
        if value > MAX_SIDE:
            issues.append(ConfigIssue(name, value, f"must be at most {MAX_SIDE} pixels (H.264's largest frame)",
                                      f"set {name} to e.g. 1280, or render tiles separately"))
    return width <= MAX_SIDE and height <= MAX_SIDE


def check_frame_memory(width: int, height: int, generator: str, have: int | None, device: str, issues: list) -> None:
    """The frame's working memory within the device's (``have`` bytes, None: unknown)."""
    if width > MAX_SIDE or height > MAX_SIDE:
        return
    need = width * height * BYTES_PER_PIXEL.get(generator, BYTES_PER_PIXEL["diffusion"])
    if have is not None and need > have:
        issues.append(ConfigIssue("width", f"{width}x{height}", f"a {width}x{height} frame needs about "
                                  f"{need / 2**30:.1f} GiB with {generator} and {device} has {have / 2**30:.1f} GiB",
                                  "lower width and height (DD renders 1280x768), or use a device with more memory"))


def check_device_available(setting_value: str, device: "torch.device", issues: list) -> None:
    """A device type torch knows but this machine lacks (mps, xpu, ...), meta (no data), a CUDA index too high."""
    import torch

    kind = device.type
    if kind == "cpu" or (kind == "cuda" and not torch.cuda.is_available()):  # the latter is reported already
        return
    if kind == "meta":
        issues.append(ConfigIssue("device", setting_value, "the meta device holds no data and cannot render",
                             "use device=auto, cpu or cuda"))
        return
    if kind == "cuda":
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            issues.append(ConfigIssue("device", setting_value, f"this machine has {count} CUDA device(s) "
                                 f"(cuda:0..cuda:{count - 1})", "use device=cuda:0 or device=auto"))
        return
    backend = getattr(torch.backends, kind, None) or getattr(torch, kind, None)
    available: Callable[[], bool] | None = getattr(backend, "is_available", None)
    if available is None or not available():
        issues.append(ConfigIssue("device", setting_value, f"{kind} is not available on this machine",
                             "use device=auto, cpu or cuda"))


def check_steps(steps: int, setting: str, issues: list) -> None:
    """A step count DD's respacing can make (``ddimN`` out of ``1000//N*N`` diffusion steps)."""
    if not 1 <= steps <= MAX_STEPS:
        return  # below 1 is reported by the diffusion plan; above, below
    try:
        check_respacing(int(steps))
    except ValueError as exc:
        issues.append(ConfigIssue(setting, steps, f"the sampler cannot make {steps} step(s) ({exc})",
                             "use at least 2 steps (DD uses 250)"))


def check_step_limit(steps: int, setting: str, issues: list) -> None:
    if steps > MAX_STEPS:
        issues.append(ConfigIssue(setting, steps, f"more than {MAX_STEPS} steps", "DD uses 250; 1000 is plenty"))


def check_models_dir(models_dir: str | None, issues: list) -> None:
    """``model.models_dir`` must be a folder (or not exist yet), not a file."""
    if not models_dir:
        return
    path = Path(os.path.expanduser(str(models_dir)))
    blocked = next((p for p in (path, *path.parents) if p.exists()), None)
    if blocked is not None and not blocked.is_dir():
        issues.append(ConfigIssue("model.models_dir", models_dir, f"{blocked} is a file, not a folder",
                                  "give a folder for the weight files, e.g. model.models_dir=~/models"))



def check_url_settings(timeout: float, max_mb: float, issues: list) -> None:
    """``url_timeout`` (the whole of one image download) and ``url_max_mb`` are positive and bounded (a socket
    timeout of 0 or a negative one is refused by the HTTP stack, a huge one overflows it)."""
    for setting, value, limit, unit, fix in (
            ("url_timeout", timeout, MAX_URL_TIMEOUT_S, "s", "use e.g. url_timeout=30 (seconds for a whole download)"),
            ("url_max_mb", max_mb, MAX_URL_MB, "MB", "use e.g. url_max_mb=50")):
        if math.isfinite(value) and not 0 < value <= limit:  # NaN and infinity: check_finite names them
            issues.append(ConfigIssue(setting, value, f"must be more than 0 and at most {limit:g} {unit}", fix))


def check_image_prompts(prompts: Any, issues: list, *, decode: bool = True) -> None:
    """Every file named in ``image_prompts`` must be a usable image (checked before the models load); without
    ``decode`` only that it is a file (the planner's check: the files are decoded when the assets are resolved)."""
    from transforms.prompts import parse_prompt

    for key, entries in dict(prompts or {}).items():
        for entry in entries or ():
            if not isinstance(entry, str):
                continue  # the prompt schedule reports it
            try:
                text = parse_prompt(entry).text
            except ValueError:
                continue  # a bad weight: the prompt schedule reports it
            if text.startswith(("http://", "https://")):
                continue  # fetched (once, into the URL cache) and decoded when the assets are resolved
            problem = (image_problem if decode else file_problem)(Path(text))
            if problem:
                issues.append(ConfigIssue(f"image_prompts.{key}", entry, f"{text}: {problem}",
                                      "give the path of a PNG or JPEG file (relative to where you run main.py), "
                                      "as 'path:weight'"))
