"""Resuming and branching a run: ``python main.py resume=<run dir|latest> [resume_from=N] [overrides]``.

One entry per stage. Before Hydra, :func:`prepare_argv` parses the command line with Hydra's own override parser,
finds the run dir once and hands it to Hydra as ``hydra.run.dir`` (a run stopped before it saved its settings is
started with its own command line). After Hydra composed the config, :func:`load_resume` gives the config to render
with (the run's own ``config.yaml`` plus the paths this command line touched) and the :class:`ResumePoint` to start
from: the newest finished frame's state, or, branching, frame ``N - 1``'s. Changes that would alter frames already
made are refused, naming the keys; output-only changes (the video's fps/crf/preset), more (or fewer) frames, another
device or models folder are allowed, provided the frames already made keep their parameters (compared between the
two plans, made from the same resolved assets).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from render.config.pins import PINS_FILE, pins_from_segment, read_pins
from render.config.plan import RenderPlan
from render.config.schema import Config
from render.run.migrations import migrate_config
from render.user_error import UserError

log = logging.getLogger(__name__)
ALLOWED_PREFIXES = ("output.", "animation.max_frames", "device", "model.models_dir", "model.download", "resume",
                    "download", "batch_name", "schema_version")
GLOBAL_GROUPS = {"prompts": ("text_prompts", "image_prompts")}  # groups whose presets write top-level keys
THIS_COMMAND = ("resume", "resume_from", "resume_retain")  # a resume's own keys, never the saved run's
STATE_DIR = "state"
RUNS_ROOT = Path("outputs")
UNSET = (None, "", "None", "null", "none")
CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
RESUME_FIX = ("give the folder of a run (it holds config.yaml, frames/ and state/), e.g. "
              "resume=outputs/TimeToDisco/2024-01-01_12-00-00, or resume=latest")


class ResumeError(UserError, ValueError):
    pass


@dataclass
class ResumePoint:
    state: Any  # the FrameState to start after (None: a branch at frame 0)
    saved_config: dict  # the run's config as it was saved
    record: Any  # the run's RunRecord (None before its first run.json)
    branch: Any = None  # a Branch when resume_from is given
    pins: Any = None  # what the run's auto settings chose when it started (render/config/pins.py)

    @property
    def resuming(self) -> bool:
        """A plain resume (not a branch): the run goes on exactly as it was."""
        return self.branch is None


def resume_command(run_dir: Path) -> str:
    """The command that continues the run in ``run_dir``."""
    return f"python main.py resume={shlex.quote(str(run_dir))}"


# ---------------------------------------------------------------------------------------------------------------
# The command line, before Hydra


def parse_overrides(args: Iterable[str]) -> list:
    """Hydra's parse of the ``key=value`` arguments (flags left out); raises Hydra's OverrideParseException."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create().parse_overrides([str(a) for a in args if not str(a).startswith("-")])


def _last(overrides: list, key: str) -> Any:
    found = [o for o in overrides if o.key_or_group == key]
    return found[-1].value() if found else None


def quote(value: str) -> str:
    """``value`` as a quoted Hydra override value."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def prepare_argv(argv: Sequence[str]) -> list[str]:
    """``argv`` (without the program name) to hand to Hydra: a resume's run dir found once and given as
    ``hydra.run.dir``; raises :class:`ResumeError` naming the problem."""
    argv = list(argv)
    if any(a in ("-m", "--multirun", "--help", "-h", "--cfg", "-c", "--info") for a in argv):
        return argv
    try:
        overrides = parse_overrides(argv)
    except Exception:  # noqa: BLE001 - a malformed override: Hydra names it when it composes
        return argv
    resume = _last(overrides, "resume")
    if resume in UNSET:
        return argv
    path = Path(os.path.expanduser(str(resume)))
    if resume != "latest" and path.is_dir() and never_started(path):
        log.warning("resume=%s: the run stopped before it saved its settings; starting it with its own command line",
                    resume)
        return restart_argv(argv, path)
    run_dir = find_run_dir(str(resume), str(_last(overrides, "batch_name") or _batch_name(argv)))
    other = _last(overrides, "hydra.run.dir")
    if other is not None and Path(os.path.expanduser(str(other))).resolve() != run_dir.resolve():
        raise ResumeError(f"resume={resume} and hydra.run.dir={other} name different folders; a resumed run "
                          f"continues in its own folder\n    fix: drop hydra.run.dir (python main.py "
                          f"resume={resume}), or start a new run in {other} without resume")
    return argv + [f"hydra.run.dir={quote(str(run_dir))}"]


def _batch_name(argv: Sequence[str]) -> str:
    """The batch_name ``resume=latest`` looks under: the config file's (``--config-name``), else the schema's."""
    name = next((a.split("=", 1)[1] for a in argv if a.startswith("--config-name=")), None)
    if name is None and "--config-name" in argv[:-1]:
        name = argv[argv.index("--config-name") + 1]
    if name:
        try:
            value = (yaml.safe_load((CONF_DIR / f"{name}.yaml").read_text(encoding="utf-8")) or {}).get("batch_name")
            if isinstance(value, str):
                return value
        except (OSError, yaml.YAMLError, AttributeError):
            pass
    return Config.batch_name


def never_started(path: Path) -> bool:
    """Hydra made the folder (``.hydra/overrides.yaml``) but the run stopped before it wrote its config.yaml."""
    return (path / ".hydra" / "overrides.yaml").is_file() and not (path / "config.yaml").exists() and \
        not any((path / STATE_DIR).glob("*.state"))


def restart_argv(argv: Sequence[str], run_dir: Path) -> list[str]:
    """The command line that starts a never-started run in its folder: its own overrides, then this command's."""
    try:
        saved = [str(a) for a in OmegaConf.load(run_dir / ".hydra" / "overrides.yaml")]
        given = {o.key_or_group for o in parse_overrides(argv)}
        kept = [o.input_line for o in parse_overrides(saved)
                if o.key_or_group not in given | {"resume", "hydra.run.dir"}]
    except Exception as exc:  # noqa: BLE001 - a malformed YAML file or override
        raise ResumeError(f"{run_dir}/.hydra/overrides.yaml cannot be read ({exc})\n    fix: {RESUME_FIX}") from None
    flags = [a for a in argv if a.startswith("-")]
    current = [o.input_line for o in parse_overrides(argv) if o.key_or_group not in ("resume", "hydra.run.dir")]
    return flags + kept + current + [f"hydra.run.dir={quote(str(run_dir))}"]


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
    fix = "restore config.yaml from a backup, or start a new run with the same settings"
    try:
        saved = OmegaConf.load(path)
    except FileNotFoundError:
        raise ResumeError(f"{path} is missing, so the run's settings are unknown\n    fix: {fix}") from None
    except Exception as exc:  # noqa: BLE001 - YAML and OmegaConf report malformed files with many types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ResumeError(f"{path} is not a readable YAML config ({first})\n    fix: {fix}") from None
    if not isinstance(saved, DictConfig):
        raise ResumeError(f"{path} does not hold a mapping of settings\n    fix: {fix}")
    return saved


# ---------------------------------------------------------------------------------------------------------------
# After Hydra: the config to render with and where to start


def override_paths(overrides: Iterable[str]) -> list[str]:
    """Config paths that command-line overrides touch (``animation=3d_orbit`` touches ``animation``)."""
    paths = []
    for override in parse_overrides(overrides):
        key = override.key_or_group
        if not key or key.startswith("hydra") or key in THIS_COMMAND:
            continue
        paths += list(GLOBAL_GROUPS.get(key, (key,)))
    return paths


def effective_config(composed: DictConfig, base: DictConfig, overrides: Iterable[str]) -> DictConfig:
    """``base`` (a saved run's config, or an imported one) with the paths this command line touched taken from the
    composed config, and this command's own resume keys."""
    result = OmegaConf.merge(OmegaConf.structured(Config), base)
    for path in override_paths(overrides):
        value = OmegaConf.select(composed, path, default=None)
        target = OmegaConf.select(result, path, default=None)
        # a typed node (a group such as animation) takes every key of the composed one; a plain dict is replaced
        typed = isinstance(target, DictConfig) and OmegaConf.get_type(target) not in (dict, None)
        OmegaConf.update(result, path, value if typed else _plain(value), merge=typed, force_add=True)
    for key in THIS_COMMAND:
        OmegaConf.update(result, key, composed.get(key), force_add=True)
    return result


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value) if isinstance(value, DictConfig) else value


def load_resume(composed: DictConfig, run_dir: Path, overrides: Iterable[str]) -> tuple[DictConfig,
                                                                                       ResumePoint | None]:
    """The config to render with: the run's own when resuming (changes that alter frames refused), or the run's
    plus this command's changes when branching (``resume_from``); and the point to start from."""
    branch_at = composed.get("resume_from")
    if not composed.get("resume"):
        if branch_at is not None:
            raise ResumeError(f"resume_from={branch_at} branches a run, but no run is given\n    fix: name it: "
                              f"python main.py resume=<run dir> resume_from={branch_at} <changed settings>")
        return composed, None
    from render.run.checkpoint import Checkpoints

    raw = read_saved_config(run_dir)
    saved, migrated = migrate_config(raw, run_dir / "config.yaml")
    for line in migrated:
        log.info("%s: migrated to %s", run_dir, line)
    try:
        effective = effective_config(composed, saved, overrides)
    except OmegaConfBaseException as exc:  # a saved value of the wrong type, an unknown key
        from render.run.run_files import saved_config_error

        raise saved_config_error(run_dir, exc) from None
    saved_dict, current = OmegaConf.to_container(saved), OmegaConf.to_container(effective)
    checkpoints = Checkpoints(run_dir / STATE_DIR)
    pins = _pins(run_dir, saved_dict, config_hash(OmegaConf.to_container(raw)))
    if branch_at is not None:  # reads only the state it starts from: the frames after it are replaced
        state = branch_state(checkpoints, int(branch_at), finished_frame(run_dir, checkpoints))
        branch = branch_of(int(branch_at), saved_dict, current, bool(composed.get("resume_retain")))
        return effective, ResumePoint(state, saved_dict, _read_record(run_dir), branch, pins)
    finished = finished_state(run_dir, checkpoints)
    if finished is None:
        return effective, None
    record = _read_record(run_dir)
    made_with = {config_hash(saved_dict), *(pins.legacy_hashes if pins is not None else ())}
    if finished.config_hash not in made_with and not _branch_begun(record, finished, saved_dict):
        raise ResumeError(f"{run_dir}/config.yaml does not match the settings its state was made with; was it "
                          f"edited? Restore it, or start a new run.")
    check_compatible(saved_dict, current)
    return effective, ResumePoint(finished, saved_dict, record, pins=pins)


def _pins(run_dir: Path, saved: dict, raw_hash: str):
    """The run's pins: ``state/pins.json``, or, for a run dir of an older layout, what its run.json recorded; with the
    hash of its config in the layout it was saved in (older states carry it)."""
    pins = read_pins(run_dir / STATE_DIR / PINS_FILE)
    if pins is None:
        record = _read_record(run_dir)
        if record is None or not record.segments:
            return None
        pins = pins_from_segment(record.segments[0], saved, _frame_size(run_dir))
    if raw_hash != config_hash(saved) and raw_hash not in pins.legacy_hashes:
        pins = dataclasses.replace(pins, legacy_hashes=(*pins.legacy_hashes, raw_hash))
    return pins


def _frame_size(run_dir: Path) -> tuple[int, int] | None:
    from PIL import Image

    try:
        with Image.open(run_dir / "frames" / "00000.png") as image:
            return image.size
    except (OSError, ValueError, SyntaxError):
        return None


def _read_record(run_dir: Path):
    from render.run.run_files import read_record

    path = run_dir / "run.json"
    return read_record(path) if path.is_file() else None


def _branch_begun(record, state, saved: dict) -> bool:
    """A branch at the frame after ``state`` wrote the new config.yaml and stopped before its first frame."""
    return record is not None and any(b.get("frame") == state.frame + 1 and b.get("config_hash") ==
                                      config_hash(saved) for b in record.branches)


def finished_state(run_dir: Path, checkpoints):
    """The newest intact state whose frame and every frame before it have their PNGs; None when there is none (a
    finished frame's PNG missing with no kept state older than it: the run starts again from frame 0)."""
    state = checkpoints.latest()
    if state is None:
        return None
    missing = first_missing_frame(run_dir, state.frame)
    if missing is not None:
        state = checkpoints.latest(before=missing)
        log.warning("%s: frame %d's PNG is missing; re-rendering from frame %d", run_dir, missing,
                    0 if state is None else state.frame + 1)
    return state


def finished_frame(run_dir: Path, checkpoints) -> int:
    """The newest frame with a state file whose PNG, and every earlier frame's, is on disk (-1: none); by name, no
    state is read."""
    last = checkpoints.latest_frame()
    missing = first_missing_frame(run_dir, last)
    kept = [f for f in checkpoints.frames() if missing is None or f < missing]
    return kept[-1] if kept else -1


def first_missing_frame(run_dir: Path, last: int) -> int | None:
    """The first of frames ``0..last`` whose PNG is not in ``frames/``, or None."""
    frames = run_dir / "frames"
    return next((f for f in range(last + 1) if not (frames / f"{f:05d}.png").is_file()), None)


# ---------------------------------------------------------------------------------------------------------------
# What may change


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
                          f"Resume with the run's own settings, branch with the new ones from a frame "
                          f"(resume_from=<frame>: the frames before it are kept), or start a new run.")


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


def check_plans(point: ResumePoint, plan: RenderPlan, config: dict) -> None:
    """Resuming: frames already made keep their parameters under the (possibly longer) plan; branching: the size
    and mode stay, and a frame is left to render. The old plan is made from the same resolved assets."""
    from render.config.planner import plan_run
    from render.config.settings import to_settings

    saved = OmegaConf.merge(OmegaConf.structured(Config), point.saved_config)
    old_plan = plan_run(to_settings(saved), plan.assets)
    if point.branch is not None:
        check_branch_plan(old_plan, plan, point.saved_config, config, point.branch)
    else:
        check_done_frames_unchanged(old_plan, plan, point.state.frame)


# ---------------------------------------------------------------------------------------------------------------
# Branching (resume_from): which state, what changed, what may not


@dataclass(frozen=True)
class Branch:
    frame: int  # the first frame rendered anew
    changed: list[str]  # the settings that differ from the run's (output-relevant ones)
    retain: bool


def branch_state(checkpoints, frame: int, finished: int):
    """Frame ``frame - 1``'s state (None for a branch at frame 0); named errors for a frame that cannot be one."""
    if frame < 0:
        raise ResumeError(f"resume_from={frame}: a branch starts at a frame number, 0 or more\n    fix: "
                          f"resume_from=<frame>, at most {finished + 1} (the frame after the last finished one)")
    if frame > finished + 1:
        raise ResumeError(f"resume_from={frame} is past the run's last finished frame ({finished})\n    fix: "
                          f"branch at frame {finished + 1} or earlier, or resume without resume_from to continue")
    if frame == 0:
        return None
    path = checkpoints.path(frame - 1)
    if not path.is_file():
        starts = [0] + [f + 1 for f in checkpoints.frames() if f + 1 <= finished + 1]
        raise ResumeError(f"resume_from={frame}: the state of frame {frame - 1} was not kept (output.keep_states "
                          f"keeps only the newest states)\n    fix: branch at one of the frames "
                          f"{', '.join(map(str, starts))}; keep output.keep_states=null in runs you will branch")
    return checkpoints.read(path)


def branch_of(frame: int, saved: dict, current: dict, retain: bool) -> Branch:
    return Branch(frame, changed_keys(output_relevant(saved), output_relevant(current)), retain)


def check_branch_plan(old: RenderPlan, new: RenderPlan, saved: dict, current: dict, branch: Branch) -> None:
    """A branch keeps the frame size and the mode, and leaves a frame to render."""
    mode = tuple(getattr(m, "value", m) for m in (saved.get("animation", {}).get("mode"),
                                                    current.get("animation", {}).get("mode")))
    if mode[0] != mode[1]:
        raise ResumeError(f"resume_from={branch.frame}: animation.mode {mode[0]} -> {mode[1]}; the frames kept "
                          f"and their states are of the {mode[0]} mode\n    fix: keep animation.mode={mode[0]}, or "
                          f"start a new run")
    if (old.width, old.height) != (new.width, new.height):
        raise ResumeError(f"resume_from={branch.frame}: the frame size {old.width}x{old.height} -> "
                          f"{new.width}x{new.height}; the frames kept are {old.width}x{old.height}\n    fix: keep "
                          f"width={old.width} height={old.height}, or start a new run (output.upscale enlarges "
                          f"the video)")
    if branch.frame >= new.n_frames:
        raise ResumeError(f"resume_from={branch.frame}: the run has {new.n_frames} frames, so nothing is left to "
                          f"render from there\n    fix: branch at a frame below {new.n_frames}, or give more "
                          f"frames (animation.max_frames)")
