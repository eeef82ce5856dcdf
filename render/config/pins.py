"""What ``auto`` resolved to when a run started (the diffusion model, depth, flow, frame size, each model's precision,
the sha256 of each weight file), pinned in the run's ``state/pins.json`` so that a resume renders with what made the
earlier frames, whatever files are on disk now. The planner takes pins as an input: a setting still ``auto`` (or
``null``) keeps its pinned choice; a setting the command line changes is not pinned."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping

from render.user_error import UserError

PINS_FILE = "pins.json"
VERSION = 1


class PinsError(UserError, ValueError):
    """``state/pins.json`` cannot be read."""


@dataclass(frozen=True)
class Pins:
    model: str | None = None  # the diffusion model auto used: a registry key, or "tiny" when it fell back
    depth: str | None = None  # the depth model depth=auto used
    midas_weight: float | None = None  # what midas_weight=null became
    flow: str | None = None  # the flow backend flow=auto used
    size: tuple[int, int] | None = None  # (width, height)
    precisions: Mapping[str, str] = field(default_factory=dict)  # model -> fp32 | bf16 | fp16
    weights: Mapping[str, str] = field(default_factory=dict)  # weight file key -> sha256 of the file used
    legacy_hashes: tuple[str, ...] = ()  # config hashes of the run's settings in older layouts (its older states)

    def as_dict(self) -> dict:
        return {"version": VERSION, **asdict(self), "precisions": dict(self.precisions),
                "weights": dict(self.weights), "legacy_hashes": list(self.legacy_hashes)}


def pins_of(plan, model_files: Mapping[str, Mapping], legacy_hashes: tuple[str, ...] = ()) -> Pins:
    """What the run's final ``plan`` chose, with the sha256 of each weight file it loaded (run.json's entries)."""
    return Pins(legacy_hashes=tuple(legacy_hashes),
                model=plan.diffusion.model.diffusion_model if plan.diffusion is not None else None,
                depth=plan.depth.name if plan.depth is not None else None,
                midas_weight=plan.depth.midas_weight if plan.depth is not None else None,
                flow=plan.flow.name if plan.flow is not None else None, size=(plan.width, plan.height),
                precisions={name: choice.value for name, choice in plan.precisions.items()},
                weights={key: entry["sha256"] for key, entry in model_files.items() if entry.get("sha256")})


def write_pins(path: Path, pins: Pins, write_text) -> None:
    """``pins`` as JSON at ``path`` through ``write_text(path, text)`` (the run dir's atomic writer)."""
    write_text(path, json.dumps(pins.as_dict(), indent=2, sort_keys=True))


def read_pins(path: Path) -> Pins | None:
    """The pins of a run (None for a run started before runs pinned their choices)."""
    if not path.is_file():
        return None
    fix = "restore it from a backup, or branch the run (resume_from=<frame>) to let auto choose again"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        version = data.pop("version", None)
        if version is not None and version > VERSION:
            raise PinsError(f"{path} was written by a newer disco-anim (pins version {version}, this one reads "
                            f"{VERSION})\n    fix: resume with the version that started the run")
        size = data.get("size")
        return Pins(**{**data, "size": tuple(size) if size else None,
                       "legacy_hashes": tuple(data.get("legacy_hashes", ()))})
    except PinsError:
        raise
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise PinsError(f"{path} cannot be read ({exc})\n    fix: {fix}") from None


def pins_from_segment(segment: Mapping, config: Mapping, size: tuple[int, int] | None) -> Pins:
    """The pins of a run started before runs pinned their choices, from what its run.json recorded: the weight files
    it loaded (so which model, depth and flow auto chose), their sha256 and the precisions; ``size``: its frames'."""
    from render.config.depth_plan import ADABINS_FILE, MIDAS_FILES
    from render.config.flow_plan import RAFT_WEIGHTS
    from render.models import registry

    files = dict(segment.get("model_files") or {})
    kinds = {key: registry.REGISTRY[key].kind for key in files if key in registry.REGISTRY}
    diffusion = next((k for k, kind in kinds.items() if kind == "diffusion"), None)
    generator = config.get("generator")
    mode = (config.get("animation") or {}).get("mode")
    depth = next((k for k in files if k in MIDAS_FILES), "tiny") if mode == "3d" else None
    flow = next((n for n, k in RAFT_WEIGHTS.items() if k in files), "dis") if mode == "video_input" else None
    return Pins(model=(diffusion or "tiny") if generator == "diffusion" and "custom" not in files else None,
                depth=depth, midas_weight=(0.3 if ADABINS_FILE in files else 1.0) if depth else None, flow=flow,
                size=size, precisions={k: v.get("value") for k, v in (segment.get("precisions") or {}).items()
                                       if isinstance(v, Mapping) and v.get("value")},
                weights={k: v["sha256"] for k, v in files.items() if isinstance(v, Mapping) and v.get("sha256")})
