"""Which depth estimator a run uses, checked before anything is loaded (like the diffusion model's plan).

``depth=auto`` uses DPT-Large when its file is present and otherwise the tiny random-weight model, with a warning
naming the file; a named model never falls back (missing files are downloaded when allowed, else an error lists
them). AdaBins joins when ``midas_weight < 1``; by default (``midas_weight=null``) that is DD's 0.3 when
``AdaBins_nyu.pt`` is present, else MiDaS alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from render.config.schema import DepthConfig
from render.models import registry

MIDAS_FILES = {name: name for name in ("dpt_large", "dpt_hybrid", "dpt_hybrid_nyu", "midas_v21", "midas_small",
                                       "depth_anything_v2_small", "depth_anything_v2_base", "depth_anything_v2_large")}
ADABINS_FILE = "adabins_nyu"
DD_MIDAS_WEIGHT = 0.3
AUTO_DEPTH = "dpt_large"  # what depth=auto uses when its file is present (DD's default)


@dataclass(frozen=True)
class DepthPlan:
    name: str  # flat, tiny or a MIDAS_FILES key (a MiDaS or Depth Anything V2 network)
    midas_weight: float
    files: dict[str, Path]  # registry key -> path (present, or to be downloaded there)
    missing: tuple[str, ...] = ()
    fallback: str | None = None
    problem: str | None = None  # an error message naming the missing files when nothing may be downloaded


def _present(key: str, models_dir: Path) -> bool:
    return registry.find(registry.lookup(key), models_dir) is not None


def plan_depth(cfg: DepthConfig, models_dir: str | None, *, allow_download: bool,
               pinned: tuple[str | None, float | None] = (None, None)) -> DepthPlan:
    """``pinned``: what ``auto`` and ``midas_weight=null`` chose when the run started (render/config/pins.py)."""
    name = cfg.name.value
    folder = registry.resolve_models_dir(models_dir)
    if name == "auto" and pinned[0] is not None:
        name = pinned[0]
    if name in ("flat", "tiny"):
        return DepthPlan(name, 1.0, {})
    fallback = None
    if name == "auto":
        if _present(MIDAS_FILES[AUTO_DEPTH], folder):
            name = AUTO_DEPTH
        else:
            target = registry.target_path(registry.lookup(AUTO_DEPTH), folder)
            fallback = (f"depth=auto: {target} is missing, so 3D depth comes from depth=tiny (a random network: "
                        f"the parallax will not be meaningful). Get it with `python -m render.models {AUTO_DEPTH}`, "
                        f"or choose depth=flat or depth=tiny to silence this.")
            return DepthPlan("tiny", 1.0, {}, fallback=fallback)
    weight = cfg.midas_weight if cfg.midas_weight is not None else pinned[1]
    if weight is None:
        weight = DD_MIDAS_WEIGHT if _present(ADABINS_FILE, folder) else 1.0
    keys = [MIDAS_FILES[name]] + ([ADABINS_FILE] if weight < 1.0 else [])
    files = {k: registry.target_path(registry.lookup(k), folder) for k in keys}
    missing = tuple(k for k in keys if not _present(k, folder))
    problem = None
    if missing and not allow_download:
        problem = registry.missing_files_message([registry.lookup(k) for k in missing], folder, {})
    return DepthPlan(name, float(weight), files, missing, fallback, problem)
