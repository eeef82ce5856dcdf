"""Resolving a run's assets, once, after the draft plan passed: the device and what it can do, the seed, image URLs
fetched, image files decoded, the source video probed and hashed, the song analysed, the CLIPs open_clip provides,
a custom checkpoint's keys, and every weight file on disk verified against its sha256. Each is a named function of
its room; problems come back as ``ConfigIssue``s, all together."""
from __future__ import annotations

import logging
import os
import random
import shutil
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from render.config.camera_path import load_camera
from render.config.checks import INIT_IMAGE_FIX, check_frames, output_fps
from render.config.diffusion_plan import (
    HubClips,
    check_clips,
    check_custom_checkpoint,
    find_hub_clips,
    hub_clip_names,
)
from render.config.flow_plan import RAFT_WEIGHTS
from render.config.issues import ConfigErrors, ConfigIssue
from render.config.limits import (
    check_device_available,
    check_image_prompts,
    image_problem,
    memory_bytes,
)
from render.config.plan import SEED_MODULUS, Assets, RenderPlan
from render.config.precision import probe
from render.config.schema import Config
from render.guidance.clip_spec import ClipModelError, ClipSpec
from render.models import registry
from render.models.url_cache import UrlFetchError, cache_dir, fetch_url, is_url

if TYPE_CHECKING:
    import torch

    from audio.analysis import AudioFeatures
    from flow.extract import VideoInfo

log = logging.getLogger(__name__)
AUDIO_CACHE_DIR = Path("~/.cache/disco-anim/audio")


def resolve_assets(draft: RenderPlan, cfg: Config, pins=None, *, inputs_only: bool = False) -> Assets:
    """Everything :class:`Assets` holds for the run ``draft`` plans (a resumed run's ``pins`` kept with them);
    raises :class:`ConfigErrors` naming every problem. ``inputs_only``: just what the schedules and prompts wait on
    (device, source video, song, camera, CLIPs), for a plan shown without rendering: no image is fetched, no weight
    file hashed, and the draft's seed is kept."""
    issues: list[ConfigIssue] = []
    device = resolve_device(cfg, issues)
    fetched: dict[str, Path] = {}
    if not inputs_only:
        check_images(cfg, issues)
        fetched = fetch_image_urls(cfg, draft, issues)
    video, video_sha256 = probe_source_video(cfg, issues)
    hub, clip_cpu, digests = HubClips(), {}, {}
    if draft.diffusion is not None:  # the model after auto
        hub, clip_cpu = resolve_clips(draft.diffusion.model, issues)
        if not inputs_only:
            issues += check_custom_checkpoint(draft.diffusion.model)
    if not (issues or inputs_only):
        digests = verify_weight_files(draft, issues)
    audio = analyse_song(cfg, video, issues) if not issues else None
    camera = load_camera(cfg, issues)
    if issues:
        raise ConfigErrors(issues)
    seed = draft.seed if inputs_only else _run_seed(cfg)
    return Assets(device=device, hardware=probe(device), seed=seed, memory=memory_bytes(device),
                  audio=audio, video=video, video_sha256=video_sha256, fetched=MappingProxyType(fetched), hub=hub,
                  clip_cpu_precision=MappingProxyType(clip_cpu), weight_sha256=MappingProxyType(digests),
                  camera_path=camera, pins=pins)


def _run_seed(cfg: Config) -> int:
    """``seed``, or a fresh one drawn from the system's entropy when it is unset."""
    seed = cfg.seed if cfg.seed is not None else random.SystemRandom().randrange(SEED_MODULUS)
    return int(seed) % SEED_MODULUS


def resolve_device(cfg: Config, issues: list[ConfigIssue]) -> "torch.device":
    """``device`` as a torch device this machine has (``auto``: CUDA when there is one)."""
    import torch

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
    check_device_available(cfg.device, device, issues)
    return device


def check_images(cfg: Config, issues: list[ConfigIssue]) -> None:
    """``init_image`` and the image prompts' files decode (URLs are checked when they are fetched)."""
    check_image_prompts(cfg.image_prompts, issues)
    if cfg.init_image in (None, "") or is_url(cfg.init_image):
        return
    problem = image_problem(Path(os.path.expanduser(cfg.init_image)))
    if problem:
        issues.append(ConfigIssue("init_image", cfg.init_image, problem, INIT_IMAGE_FIX))


def fetch_image_urls(cfg: Config, draft: RenderPlan, issues: list[ConfigIssue]) -> dict[str, Path]:
    """Download (once, into the cache) every image given as a URL; a failure is the setting's problem."""
    urls = {p.text: "image_prompts" for prompts in draft.image_prompts.frames for p in prompts if is_url(p.text)}
    if is_url(cfg.init_image):
        urls[cfg.init_image] = "init_image"
    fetched, folder = {}, cache_dir(cfg.url_cache_dir)
    for url, setting in urls.items():
        try:
            fetched[url] = fetch_url(url, folder, max_bytes=int(cfg.url_max_mb * 1e6), timeout=cfg.url_timeout)
        except UrlFetchError as exc:
            issues.append(ConfigIssue(setting, url, exc.reason, "check the URL (an http(s) address of a PNG or JPEG) "
                                      "and the connection, raise url_max_mb or url_timeout, or download the image "
                                      "and give its path"))
    return fetched


def probe_source_video(cfg: Config, issues: list[ConfigIssue]) -> tuple["VideoInfo | None", str]:
    """video_input's source video: frames, rate and size, and its content hash (the flow cache's key)."""
    path = cfg.animation.video_init_path
    if cfg.animation.mode.value != "video_input" or not path:
        return None, ""
    from flow.extract import VideoInputError, content_sha256, probe_video

    source = Path(os.path.expanduser(path)).resolve()
    try:
        return probe_video(source), content_sha256(source)
    except VideoInputError as exc:
        issues.append(ConfigIssue("animation.video_init_path", path, exc.problem, exc.fix))
        return None, ""


def analyse_song(cfg: Config, video: "VideoInfo | None", issues: list[ConfigIssue]) -> "AudioFeatures | None":
    """The song's per-frame features (cached by content), or None without ``audio.path``. With
    ``max_frames=auto`` the run is as long as the song (the last frame covering its tail)."""
    audio = cfg.audio
    if not audio.path:
        return None
    from audio.analysis import AudioError, analyze_cached

    nth = cfg.animation.extract_nth_frame
    fps = output_fps(cfg, video.fps if video is not None else None, max(nth, 1))
    n_frames = check_frames(cfg, [])
    if n_frames is not None and video is not None:
        n_frames = min(n_frames, video.selected_frames(nth))
    elif n_frames is None and video is not None:
        n_frames = video.selected_frames(nth)
    try:
        return analyze_cached(Path(os.path.expanduser(audio.path)), fps,
                              Path(os.path.expanduser(audio.cache_dir or AUDIO_CACHE_DIR)), offset=audio.offset,
                              duration=audio.duration, beat_decay=audio.beat_decay, n_frames=n_frames)
    except AudioError as exc:
        issues.append(ConfigIssue("audio.path", audio.path, str(exc), "give a readable audio file (wav, flac, mp3, "
                                  "m4a), or audio.path=null"))
        return None


def resolve_clips(model, issues: list[ConfigIssue]) -> tuple[HubClips, dict[str, str]]:
    """The CLIPs open_clip provides (known to it, fetched before or not) and each CLIP's CPU precision for auto."""
    from render.guidance.clip_models import auto_cpu_precision

    found = check_clips(model)
    issues += found
    if found:
        return HubClips(), {}
    try:
        specs = [ClipSpec.parse(name) for name in model.clip_models]
    except ClipModelError:
        return HubClips(), {}
    hub = find_hub_clips(model) if hub_clip_names(model) else HubClips()
    return hub, {s.name: auto_cpu_precision(s) for s in specs if not s.is_tiny}


def weight_files(plan: RenderPlan) -> list[tuple[str, str, Path]]:
    """``(setting, registry key, path)`` of every weight file the plan uses that is on disk already."""
    found = []
    if plan.diffusion is not None:
        # the registry's files; a custom checkpoint and open_clip's own downloads have no published sha256
        found += [("model.name", key, path) for key, path in plan.diffusion.files.items()
                  if key not in plan.diffusion.missing and key in registry.REGISTRY]
    if plan.depth is not None:
        found += [("depth.name", key, path) for key, path in plan.depth.files.items() if key not in plan.depth.missing]
    if plan.flow is not None and plan.flow.file is not None and not plan.flow.missing:
        found.append(("flow.name", RAFT_WEIGHTS[plan.flow.name], plan.flow.file))
    return found


def verify_weight_files(plan: RenderPlan, issues: list[ConfigIssue]) -> dict[str, str]:
    """Each file on disk against its sha256 before any model is built; the digest is cached beside the file (keyed
    by size and mtime), so a big file is hashed on its first use only. Returns key -> digest."""
    digests = {}
    for setting, key, path in weight_files(plan):
        file = registry.lookup(key)
        try:
            registry.verify(path, file)
            digests[key] = registry.file_sha256(path)
        except registry.ChecksumMismatch as exc:
            issues.append(ConfigIssue(setting, str(path), f"weight file {file.filename} is not the published file "
                                      f"{key!r}: {exc.summary}", exc.fix))
        except registry.UnverifiedModelFile as exc:
            issues.append(ConfigIssue(setting, str(path), exc.problem, exc.fix))
        except OSError as exc:
            issues.append(ConfigIssue(setting, str(path), f"weight file {file.filename} cannot be read: "
                                      f"{exc.strerror or exc}", f"check its permissions, or delete it and run "
                                      f"{registry.download_command([file], path.parent)}"))
    return digests


def estimated_run_bytes(n_frames: int, width: int, height: int) -> int:
    """A generous estimate of a run's disk use: PNGs of detailed frames (~raw size), two states, the video."""
    raw = width * height * 3
    return n_frames * raw + 2 * raw * 2 + n_frames * raw // 10 + (1 << 20)


def check_run_dir(output_dir: Path, plan: RenderPlan) -> None:
    """The run dir is writable and its disk has room for the run; raises :class:`ConfigErrors`."""
    output_dir, issues = Path(output_dir), []
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        probe_file = output_dir / ".write-test"
        probe_file.write_bytes(b"")
        probe_file.unlink()
    except OSError as exc:
        issues.append(ConfigIssue("hydra.run.dir", str(output_dir), f"cannot write there ({exc})",
                                  "run from a writable folder or set hydra.run.dir=<writable folder>"))
        raise ConfigErrors(issues) from None
    need = estimated_run_bytes(plan.n_frames, plan.width, plan.height)
    free = shutil.disk_usage(output_dir).free
    if need > free:
        raise ConfigErrors([ConfigIssue("animation.max_frames", plan.n_frames, f"the run needs about "
                                        f"{need / 1e9:.1f} GB and {output_dir} has {free / 1e9:.1f} GB free",
                                        "free disk space, render fewer frames, or set hydra.run.dir elsewhere")])


def plan_files(plan: RenderPlan) -> dict[str, Path]:
    """Every weight file the plan uses, by key (registry key, ``custom``, or a CLIP's ARCH:TAG)."""
    files = dict(plan.diffusion.files) if plan.diffusion is not None else {}
    if plan.depth is not None:
        files.update(plan.depth.files)
    if plan.flow is not None and plan.flow.file is not None:
        files[RAFT_WEIGHTS[plan.flow.name]] = plan.flow.file
    return files


def check_pinned_files(plan: RenderPlan, pins) -> None:
    """A resumed run's weight files are the ones its frames were made with: a file that changed is named, with how
    to go on (put it back, or branch with the file there now). A missing registry file is fetched again and verified
    against the same published sha256."""
    issues = []
    for key, path in plan_files(plan).items():
        pinned = pins.weights.get(key)
        if pinned is None or not Path(path).is_file():
            continue
        now = plan.assets.weight_sha256.get(key) or registry.cached_sha256(Path(path)) or registry.sha256_file(path)
        if now != pinned:
            issues.append(ConfigIssue("model.name" if key not in (plan.depth.files if plan.depth else {}) else
                                      "depth.name", str(path), f"the weight file {key} this run's frames were made "
                                      f"with has changed (sha256 {pinned[:12]}... -> {now[:12]}...)",
                                      "put back the file the run started with; or continue with the file there now as "
                                      "a branch: python main.py resume=<run dir> resume_from=<next frame> (the frames "
                                      "before it are kept)"))
    if issues:
        raise ConfigErrors(issues)
