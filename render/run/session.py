"""A run's persistent side: its resolved config, per-frame checkpoints, the run record, and resuming."""
from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import torch
from omegaconf import DictConfig, OmegaConf

from render.config.plan import RenderPlan
from render.config.precision import describe as describe_precisions
from render.config.schema import Config
from render.config.validate import check_inputs, to_settings
from render.disk.images import load_image
from render.modes.base import AnimationMode, FrameZeroWrapper
from render.run.branch import Branch, branch_of, branch_state, check_branch_plan, set_aside
from render.run.checkpoint import Checkpoints, FrameState, restore_rng, rng_state
from render.run.loop import FrameDone
from render.run.record import FrameTiming, RunRecord, model_file_entries, new_record
from render.run.resume import (
    STATE_DIR,
    ResumeError,
    check_compatible,
    check_done_frames_unchanged,
    config_hash,
    effective_config,
    read_saved_config,
)
from render.run.run_dir import RunDir
from render.run.signals import GracefulStop

log = logging.getLogger(__name__)
CODE_DIR = Path(__file__).resolve().parents[2]


@dataclass
class ResumePoint:
    state: FrameState | None  # the last finished frame's (None: a branch at frame 0)
    saved_config: dict  # the run's config as it was saved
    record: RunRecord | None
    branch: Branch | None = None


def finished_state(run_dir: Path, checkpoints: Checkpoints) -> FrameState | None:
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


def _read_record(run_dir: Path) -> RunRecord | None:
    path = run_dir / "run.json"
    return RunRecord.read(path) if path.is_file() else None


def load_resume_point(run_dir: Path) -> ResumePoint | None:
    """The run's saved config and newest finished state, or None when it has not finished a frame yet."""
    saved = OmegaConf.to_container(read_saved_config(run_dir))
    state = finished_state(run_dir, Checkpoints(run_dir / STATE_DIR))
    if state is None:
        return None
    record = _read_record(run_dir)
    if state.config_hash != config_hash(saved) and not branch_begun(record, state, saved):
        raise ResumeError(f"{run_dir}/config.yaml does not match the settings its state was made with; was it "
                          f"edited? Restore it, or start a new run.")
    return ResumePoint(state, saved, record)


def branch_begun(record: RunRecord | None, state: FrameState, saved: dict) -> bool:
    """A branch at the frame after ``state`` wrote the new config.yaml and stopped before its first frame."""
    return record is not None and any(b.get("frame") == state.frame + 1 and b.get("config_hash") ==
                                      config_hash(saved) for b in record.branches)


def load_branch_point(run_dir: Path, frame: int, current: dict, retain: bool) -> ResumePoint:
    """Frame ``frame - 1``'s state and what the branch changes; named errors for a frame that cannot be one."""
    saved = OmegaConf.to_container(read_saved_config(run_dir))
    checkpoints = Checkpoints(run_dir / STATE_DIR)
    finished = finished_state(run_dir, checkpoints)
    state = branch_state(checkpoints, frame, -1 if finished is None else finished.frame)
    return ResumePoint(state, saved, _read_record(run_dir), branch_of(frame, saved, current, retain))


def first_missing_frame(run_dir: Path, last: int) -> int | None:
    """The first of frames ``0..last`` whose PNG is not in ``frames/``, or None."""
    frames = run_dir / "frames"
    return next((f for f in range(last + 1) if not (frames / f"{f:05d}.png").is_file()), None)


def resume_config(composed: DictConfig, run_dir: Path, overrides: Iterable[str]) -> tuple[DictConfig,
                                                                                         ResumePoint | None]:
    """The config to render with: the run's own when resuming (changes that alter frames refused), or the run's
    plus this command's changes when branching (``resume_from``)."""
    branch_at = composed.get("resume_from")
    if not composed.get("resume"):
        if branch_at is not None:
            raise ResumeError(f"resume_from={branch_at} branches a run, but no run is given\n    fix: name it: "
                              f"python main.py resume=<run dir> resume_from={branch_at} <changed settings>")
        return composed, None
    saved = read_saved_config(run_dir)
    effective = effective_config(composed, saved, overrides)
    if branch_at is not None:
        current = OmegaConf.to_container(effective)
        return effective, load_branch_point(run_dir, int(branch_at), current, bool(composed.get("resume_retain")))
    point = load_resume_point(run_dir)
    if point is not None:
        check_compatible(point.saved_config, OmegaConf.to_container(effective))
    return effective, point


def adopt_frame_zero(mode: AnimationMode, frame_zero: Path, width: int, height: int) -> None:
    """Wrappers that keep frame 0 (colour coherence, a loop) but were off in the state (a branch turned them on)
    take it from its PNG: they match and loop to frame 0, as when on from the start."""
    while isinstance(mode, FrameZeroWrapper):
        if mode.frame_zero is None:
            image = load_image(frame_zero, width, height)
            mode.frame_zero = torch.from_numpy(image).permute(2, 0, 1)[None].contiguous()
        mode = mode.inner


class RunSession:
    """Writes ``config.yaml``, ``state/`` and ``run.json`` as frames finish; restores them when resuming.

    ``on_record`` runs after every write of ``run.json`` (the recipe refreshes the run's page with it)."""

    def __init__(self, run: RunDir, config: dict, plan: RenderPlan, point: ResumePoint | None, *,
                 presets: dict | None = None, on_record: Callable[[RunRecord], None] | None = None):
        self.run, self.config, self.plan, self.point = run, config, plan, point
        self.checkpoints = Checkpoints(run.root / STATE_DIR, keep=config.get("output", {}).get("keep_states"))
        self.hash = config_hash(config)
        self.on_record = on_record
        self.record = point.record if point is not None and point.record is not None else new_record(
            config, plan.device, CODE_DIR)
        self.record.config, self.record.status = config, "running"
        self.record.precisions = {name: choice.as_dict() for name, choice in plan.precisions.items()}
        if plan.precisions:
            log.info("%s", describe_precisions(plan.precisions))
        if presets and not self.record.presets:  # a resumed run keeps the presets it started from
            self.record.presets = presets

    @property
    def start_frame(self) -> int:
        return 0 if self.point is None or self.point.state is None else self.point.state.frame + 1

    def check_plan(self) -> None:
        """When resuming: frames already made must keep their parameters under the (possibly longer) plan; when
        branching: the size and mode stay, and a frame is left to render."""
        if self.point is None:
            return
        saved = OmegaConf.merge(OmegaConf.structured(Config), self.point.saved_config)
        old_plan = check_inputs(to_settings(saved), quiet=True)
        if self.point.branch is not None:
            check_branch_plan(old_plan, self.plan, self.point.saved_config, self.config, self.point.branch)
        else:
            check_done_frames_unchanged(old_plan, self.plan, self.point.state.frame)

    def begin(self, mode: AnimationMode, model_files: dict[str, Path]) -> None:
        """Before the first frame (the models are built): a branch sets the replaced frames aside, then the config,
        the record and (resuming or branching) the mode's state and the RNG states."""
        if self.point is not None and self.point.branch is not None:
            self._branch(self.point.branch)
        self.run.write_text(self.run.config_path, OmegaConf.to_yaml(self.config))
        self.record.model_files = model_file_entries(model_files)
        if self.point is not None and self.point.state is not None:
            mode.load_state_dict(self.point.state.mode, self.plan.device)
            restore_rng(self.point.state.rng)
            adopt_frame_zero(mode, self.run.frame_path(0), self.plan.width, self.plan.height)
        if self.point is not None and self.point.branch is None:
            self.record.resumed_at.append(self.start_frame)
            log.info("resuming %s at frame %d of %d", self.run.root, self.start_frame, self.plan.n_frames)
        self.write_record()

    def _branch(self, branch: Branch) -> None:
        retained = set_aside(self.run.root, branch.frame, branch.retain, self.checkpoints)
        self.record.frames = [f for f in self.record.frames if f.frame < branch.frame]
        self.record.video, self.record.metrics = None, {}
        self.record.branches.append({"frame": branch.frame, "changed": branch.changed,
                                     "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "config_hash": self.hash,
                                     "retained": None if retained is None else str(retained.relative_to(
                                         self.run.root))})
        self.write_record()
        changes = ", ".join(branch.changed) or "no settings"
        log.info("branching %s at frame %d (changed: %s); the frames it replaces are %s", self.run.root,
                 branch.frame, changes, f"in {retained}" if retained is not None else "deleted")

    def write_record(self) -> None:
        """``run.json`` now, then ``on_record``."""
        self.record.write(self.run.root / "run.json")
        if self.on_record is not None:
            self.on_record(self.record)

    def frame_done(self, mode: AnimationMode):
        """The loop's ``on_frame``: the checkpoint, then the record (a frame is done once its state is written)."""
        def on_frame(done: FrameDone) -> None:
            self.checkpoints.save(FrameState(frame=done.frame, seed=self.plan.seed, config_hash=self.hash,
                                             mode=mode.state_dict(), rng=rng_state()))
            self.record.add_frame(FrameTiming(done.frame, done.seed, done.seconds))
            self.write_record()
        return on_frame

    def finish(self, status: str) -> None:
        self.record.status = status
        self.record.finished = time.time()
        self.record.update_memory()
        try:
            self.write_record()
        except OSError as exc:  # a full disk: the frames and states already written are what matters
            log.warning("could not update %s (%s)", self.run.root / "run.json", exc)
        log.info("run summary (%s):\n%s", self.run.root, self.record.summary())

    @contextmanager
    def ending(self, stop: GracefulStop) -> Iterator[None]:
        """Record how the run ended when it does not complete: stopped (a signal), interrupted or failed. A failure
        caused by the signal (ffmpeg killed by the same Ctrl-C) counts as the stop."""
        try:
            yield
        except BaseException as exc:
            if stop.requested:
                self.finish("stopped")
                if not isinstance(exc, KeyboardInterrupt):
                    raise KeyboardInterrupt from exc
                raise
            self.finish("interrupted" if isinstance(exc, KeyboardInterrupt) else f"failed: {exc}")
            raise


__all__ = ["ResumePoint", "RunSession", "resume_config", "ResumeError"]
