"""Resuming a run: ``python main.py resume=<run dir>`` (or ``resume=latest``).

The resumed run's config is the run's own ``config.yaml`` (with the seed it drew) plus whatever this command line
overrides. Changes that would alter frames already made are refused, naming the keys; output-only changes (the
video's fps/crf/preset), more (or fewer) frames, another device or models folder are allowed, provided the frames
already made would keep their parameters (a schedule written with ``max_f`` or seconds changes when ``max_frames`` or
``output.fps`` do, and is refused then).
"""
from __future__ import annotations

import hashlib
import json
import os
import shlex
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from omegaconf import DictConfig, OmegaConf

from render.config.plan import RenderPlan
from render.config.schema import Config

ALLOWED_PREFIXES = ("output.", "animation.max_frames", "device", "model.models_dir", "model.download", "resume",
                    "download", "batch_name")
GLOBAL_GROUPS = {"prompts": ("text_prompts", "image_prompts")}  # groups whose presets write top-level keys
STATE_DIR = "state"
RUNS_ROOT = Path("outputs")


class ResumeError(ValueError):
    pass


def resume_command(run_dir: Path) -> str:
    """The command that continues the run in ``run_dir``."""
    return f"python main.py resume={shlex.quote(str(run_dir))}"


RESUME_FIX = ("give the folder of a run (it holds config.yaml, frames/ and state/), e.g. "
              "resume=outputs/TimeToDisco/2024-01-01_12-00-00, or resume=latest")


def find_run_dir(resume: str, batch_name: str, root: Path = RUNS_ROOT) -> Path:
    """``latest``: the newest run of ``batch_name`` with saved state; otherwise the given folder."""
    if resume != "latest":
        path = Path(os.path.expanduser(resume))
        if not path.is_dir():
            problem = "does not exist" if not path.exists() else "is not a directory"
            raise ResumeError(f"resume={resume}: {path} {problem}\n    fix: {RESUME_FIX}")
        if not (path / "config.yaml").is_file():
            raise ResumeError(f"resume={resume}: {path} is not a run directory (no config.yaml)\n    fix: {RESUME_FIX}")
        read_saved_config(path)
        return path
    runs = [p for p in (root / batch_name).glob("*") if (p / STATE_DIR).is_dir() and (p / "config.yaml").is_file()]
    if not runs:
        raise ResumeError(f"resume=latest: no run of batch_name={batch_name} with saved state under "
                          f"{root / batch_name}\n    fix: give the run's folder (resume=<dir>), or the batch_name "
                          f"it was made with (batch_name=<name> resume=latest)")
    return max(runs, key=lambda p: p.stat().st_mtime)


def read_saved_config(run_dir: Path) -> DictConfig:
    """A run's ``config.yaml``; a missing or unreadable one is a :class:`ResumeError` naming the file."""
    path = Path(run_dir) / "config.yaml"
    try:
        saved = OmegaConf.load(path)
    except FileNotFoundError:
        raise ResumeError(f"{path} is missing, so the run's settings are unknown\n    fix: restore config.yaml "
                          f"from a backup, or start a new run with the same settings") from None
    except Exception as exc:  # noqa: BLE001 - YAML and OmegaConf report malformed files with many types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ResumeError(f"{path} is not a readable YAML config ({first})\n    fix: restore config.yaml from a "
                          f"backup, or start a new run with the same settings") from None
    if not isinstance(saved, DictConfig):
        raise ResumeError(f"{path} does not hold a mapping of settings\n    fix: restore config.yaml from a "
                          f"backup, or start a new run with the same settings")
    return saved


def run_dir_resolver(resume: Any, batch_name: str, stamp: str) -> str:
    """Hydra's run dir: the resumed run's own folder when resuming, else outputs/<batch_name>/<date_time>."""
    if resume in (None, "", "None", "null"):
        return str(RUNS_ROOT / batch_name / stamp)
    return str(find_run_dir(str(resume), batch_name))


def override_paths(overrides: Iterable[str]) -> list[str]:
    """Config paths that command-line overrides touch (``animation=3d_orbit`` touches ``animation``)."""
    paths = []
    for text in overrides:
        key = text.split("=", 1)[0].lstrip("+~").strip()
        if not key or key.startswith("hydra") or key == "resume":
            continue
        paths += list(GLOBAL_GROUPS.get(key, (key,)))
    return paths


def effective_config(composed: DictConfig, saved: DictConfig, overrides: Iterable[str]) -> DictConfig:
    """The saved config with the paths this command line touched taken from the composed config."""
    result = OmegaConf.merge(OmegaConf.structured(Config), saved)
    for path in override_paths(overrides):
        value = OmegaConf.select(composed, path, default=None)
        target = OmegaConf.select(result, path, default=None)
        # a typed node (a group such as animation) takes every key of the composed one; a plain dict is replaced
        typed = isinstance(target, DictConfig) and OmegaConf.get_type(target) not in (dict, None)
        OmegaConf.update(result, path, value if typed else _plain(value), merge=typed, force_add=True)
    for key in ("resume", "resume_from", "resume_retain"):  # this command's, never the saved run's
        OmegaConf.update(result, key, composed.get(key), force_add=True)
    return result


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value) if isinstance(value, DictConfig) else value


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out or {prefix[:-1]: {}}
    return {prefix[:-1]: node}


def changed_keys(before: dict, after: dict) -> list[str]:
    a, b = flatten(before), flatten(after)
    return sorted(k for k in set(a) | set(b) if a.get(k, "<unset>") != b.get(k, "<unset>"))


def output_relevant(config: dict) -> dict:
    return {k: v for k, v in flatten(config).items() if not k.startswith(ALLOWED_PREFIXES)}


def config_hash(config: dict) -> str:
    """sha256 of the settings that determine the frames (not the video encoding, the frame count or the device)."""
    canonical = json.dumps(output_relevant(config), sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_compatible(saved: dict, current: dict) -> None:
    """Refuse changes that would alter the output, naming them."""
    refused = [k for k in changed_keys(saved, current) if not k.startswith(ALLOWED_PREFIXES)]
    if refused:
        shown = "\n".join(f"  {k}: {flatten(saved).get(k, '<unset>')!r} -> {flatten(current).get(k, '<unset>')!r}"
                          for k in refused)
        raise ResumeError(f"resuming would change settings that alter the frames:\n{shown}\n"
                          f"Resume with the run's own settings, or start a new run.")


def check_done_frames_unchanged(old: RenderPlan, new: RenderPlan, done: int) -> None:
    """Frames 0..done must get the same parameters, prompts and seeds under the new plan."""
    upto = min(done + 1, old.n_frames, new.n_frames)
    for name, values in old.schedules.items():
        other = new.schedules.get(name)
        if other is not None and not np.array_equal(values[:upto], other[:upto]):
            frame = int(np.argmax(values[:upto] != other[:upto]))
            raise ResumeError(f"{name}: the new frame count or fps changes the schedule's value at frame {frame} "
                              f"({values[frame]:g} -> {other[frame]:g}), which is already rendered (the schedule "
                              f"uses max_f or seconds). Keep animation.max_frames and output.fps, or start anew.")
    for frame in range(upto):
        if old.prompt_mix(frame) != new.prompt_mix(frame):  # the prompt sets and their fade weights
            raise ResumeError(f"the prompts of frame {frame}, already rendered, would change (keys or fades written "
                              f"with max_f or seconds). Keep animation.max_frames and output.fps, or start anew.")
