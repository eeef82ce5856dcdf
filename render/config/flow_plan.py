"""Which optical flow a video-input run uses, checked before anything is loaded (like the depth plan).

``flow=auto`` uses RAFT-Large when torchvision's weight file is present, else OpenCV DIS (no weights; a fine offline
choice, so this is a note in the log, not a warning). A named RAFT never falls back: a missing file is downloaded
when allowed, else an error lists it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from render.config.schema import FlowConfig
from render.models import registry

RAFT_WEIGHTS = {"raft_large": "raft_large_C_T_SKHT_V2", "raft_small": "raft_small_C_T_V2"}


@dataclass(frozen=True)
class FlowPlan:
    name: str  # raft_large, raft_small, dis, farneback
    file: Path | None = None  # RAFT's weight file (present, or to be downloaded there)
    missing: bool = False
    note: str | None = None  # what auto chose and why
    problem: str | None = None  # the missing-file message when nothing may be downloaded


def plan_flow(cfg: FlowConfig, models_dir: str | None, *, allow_download: bool, pinned: str | None = None) -> FlowPlan:
    """``pinned``: what ``auto`` chose when the run started (render/config/pins.py)."""
    folder = registry.resolve_models_dir(models_dir)
    name = cfg.name.value
    if name == "auto" and pinned is not None:
        name = pinned
    if name == "auto":
        file = registry.lookup(RAFT_WEIGHTS["raft_large"])
        if registry.find(file, folder) is None:
            return FlowPlan("dis", note=f"flow=auto: {registry.target_path(file, folder)} is not there, so optical "
                                        f"flow comes from OpenCV DIS ({cfg.dis_preset.value}). For RAFT run "
                                        f"`python -m render.models {file.key}`.")
        name = "raft_large"
    if name not in RAFT_WEIGHTS:
        return FlowPlan(name)
    file = registry.lookup(RAFT_WEIGHTS[name])
    missing = registry.find(file, folder) is None
    problem = None
    if missing and not allow_download:
        problem = registry.missing_files_message([file], folder, {})
    return FlowPlan(name, registry.target_path(file, folder), missing, problem=problem)
