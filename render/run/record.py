"""``run.json``: what produced a run, how long each frame took and how it ended, plus a summary for the log.

Rewritten atomically after every frame, so it is current even if the process is killed.
"""
from __future__ import annotations

import json
import platform
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from render.config.diffusion_plan import CUSTOM
from render.disk.atomic import atomic_open
from render.models import registry

if TYPE_CHECKING:
    import torch

PACKAGES = ("torch", "torchvision", "numpy", "hydra-core", "omegaconf", "open_clip_torch", "timm", "lpips",
            "opencv-python-headless", "imageio-ffmpeg", "pillow", "scipy", "librosa", "scikit-image", "disco-anim")


@dataclass
class FrameTiming:
    frame: int
    seed: int
    seconds: dict[str, float]  # by stage: prepare (warp, depth), generate, save


@dataclass
class RunRecord:
    config: dict[str, Any]
    git_commit: str | None
    packages: dict[str, str]
    device: str
    # one per start, resume or branch: from_frame, time, model_files (path, sha256), precisions (value, reason),
    # warnings; never overwritten, so a run's frames can be traced to the files and precisions that made them
    segments: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # every segment's warnings, each once: on the run's page
    presets: dict[str, Any] = field(default_factory=dict)  # config_name and group choices it was composed from
    frames: list[FrameTiming] = field(default_factory=list)
    resumed_at: list[int] = field(default_factory=list)
    branches: list[dict[str, Any]] = field(default_factory=list)  # resume_from: frame, changed keys, time, retained
    status: str = "running"
    video: str | None = None  # the main mp4, once stitched
    metrics: dict[str, Any] = field(default_factory=dict)  # measured quality (render/output/quality.py), once finished
    peak_rss_mb: float = 0.0
    peak_gpu_mb: float | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None

    def add_frame(self, timing: FrameTiming) -> None:
        self.frames = [f for f in self.frames if f.frame != timing.frame] + [timing]
        self.update_memory()

    def update_memory(self) -> None:
        self.peak_rss_mb = max(self.peak_rss_mb, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        torch = sys.modules.get("torch")  # no GPU memory was used when torch was never imported
        if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
            self.peak_gpu_mb = torch.cuda.max_memory_allocated() / 2**20

    def write(self, path: Path) -> None:
        with atomic_open(path, "w") as fh:
            json.dump(asdict(self), fh, indent=2, default=str)

    def add_segment(self, from_frame: int, model_files: dict, precisions: dict, warnings: list[str]) -> None:
        """A start, resume or branch: what made the frames from ``from_frame`` on."""
        self.segments.append({"from_frame": from_frame, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                              "model_files": model_files, "precisions": precisions, "warnings": list(warnings)})
        self.warnings = list(dict.fromkeys([*self.warnings, *warnings]))

    @property
    def model_files(self) -> dict[str, dict[str, str | None]]:
        """The latest segment's weight files."""
        return self.segments[-1]["model_files"] if self.segments else {}

    @classmethod
    def read(cls, path: Path) -> "RunRecord":
        data = json.loads(Path(path).read_text())
        data["frames"] = [FrameTiming(**f) for f in data.get("frames", [])]
        old = {k: data.pop(k) for k in ("model_files", "precisions") if k in data}  # before segments
        if old and not data.get("segments"):
            data["segments"] = [{"from_frame": 0, "time": None, "model_files": old.get("model_files", {}),
                                 "precisions": old.get("precisions", {}), "warnings": []}]
        return cls(**data)

    def summary(self) -> str:
        """A few human-readable lines for the end of the log."""
        n = len(self.frames)
        stages: dict[str, float] = {}
        for timing in self.frames:
            for stage, seconds in timing.seconds.items():
                stages[stage] = stages.get(stage, 0.0) + seconds
        total = sum(stages.values())
        per_stage = ", ".join(f"{k} {v:.1f} s" for k, v in stages.items())
        lines = [f"status: {self.status}; {n} frame{'s' if n != 1 else ''} in {total:.1f} s"
                 + (f" ({total / n:.2f} s/frame: {per_stage})" if n else ""),
                 f"peak memory: {self.peak_rss_mb:.0f} MB RSS"
                 + (f", {self.peak_gpu_mb:.0f} MB GPU" if self.peak_gpu_mb is not None else ""),
                 f"device: {self.device}; git {self.git_commit or 'unknown'}"]
        if self.resumed_at:
            lines.append(f"resumed at frame(s) {', '.join(map(str, self.resumed_at))}")
        for branch in self.branches:
            lines.append(f"branched at frame {branch['frame']}: {', '.join(branch['changed']) or 'no changes'}")
        return "\n".join(lines)


def git_commit(folder: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    versions["python"] = platform.python_version()
    return versions


def describe_device(device: "torch.device") -> str:
    import torch

    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def model_file_entries(files: dict[str, Path]) -> dict[str, dict[str, str | None]]:
    """Each weight file used, with its sha256 (through the registry's hash cache: a 2 GB file is hashed once)."""
    entries = {}
    for key, path in files.items():
        if not Path(path).is_file():
            sha = None
        elif key == CUSTOM:  # the user's own file: hashed, but no sidecar written beside it
            sha = registry.cached_sha256(Path(path)) or registry.sha256_file(Path(path))
        else:
            sha = registry.file_sha256(Path(path))
        entries[key] = {"path": str(path), "sha256": sha}
    return entries


def new_record(config: dict, device: "torch.device", code_dir: Path) -> RunRecord:
    return RunRecord(config=config, git_commit=git_commit(code_dir), packages=package_versions(),
                     device=describe_device(device))
