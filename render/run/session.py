"""A run's persistent side: its resolved config, per-frame checkpoints, the run record, and resuming."""
from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import torch
from omegaconf import OmegaConf

from render.config.pins import PINS_FILE, pins_of, write_pins
from render.config.plan import RenderPlan
from render.config.precision import describe as describe_precisions
from render.disk.images import load_image
from render.modes.base import AnimationMode, FrameZeroWrapper
from render.run.branch import SetAside, commit, set_aside
from render.run.checkpoint import (
    CheckpointError,
    Checkpoints,
    FrameState,
    restore_rng,
    rng_state,
)
from render.run.loop import FrameDone
from render.run.record import FrameTiming, RunRecord, model_file_entries, new_record
from render.run.resume import STATE_DIR, Branch, ResumePoint, check_plans, config_hash
from render.run.run_dir import RunDir
from render.run.signals import GracefulStop

log = logging.getLogger(__name__)
CODE_DIR = Path(__file__).resolve().parents[2]


def adopt_frame_zero(mode: AnimationMode, frame_zero: Path, width: int, height: int) -> None:
    """Wrappers that keep frame 0 (colour coherence, a loop) but were off in the state (a branch turned them on)
    take it from its PNG: they match and loop to frame 0, as when on from the start."""
    while isinstance(mode, FrameZeroWrapper):
        if mode.frame_zero is None:
            try:
                image = load_image(frame_zero, width, height)
            except (OSError, ValueError, SyntaxError) as exc:
                raise CheckpointError(f"{frame_zero} cannot be read ({exc}); colour coherence and seamless loops "
                                      f"turned on at a branch match frame 0\n    fix: restore the frame, or branch "
                                      f"without turning them on (nothing was changed)") from None
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
        if plan.precisions:
            log.info("%s", describe_precisions(plan.precisions))
        if presets and not self.record.presets:  # a resumed run keeps the presets it started from
            self.record.presets = presets

    @property
    def start_frame(self) -> int:
        return 0 if self.point is None or self.point.state is None else self.point.state.frame + 1

    def check_plan(self) -> None:
        """When resuming or branching: the plans agree on what is kept (render/run/resume.py ``check_plans``)."""
        if self.point is not None:
            check_plans(self.point, self.plan, self.config)

    def begin(self, mode: AnimationMode, model_files: dict[str, Path]) -> None:
        """Before the first frame (the models are built): a resumed or branched run's mode state and RNG states come
        back first (nothing is moved before everything a branch needs has loaded), then a branch sets the replaced
        frames aside, then the config, the pins and the record are written (and the branch committed)."""
        if self.point is not None and self.point.state is not None:
            mode.load_state_dict(self.point.state.mode, self.plan.device)
            restore_rng(self.point.state.rng)
            adopt_frame_zero(mode, self.run.frame_path(0), self.plan.width, self.plan.height)
        branch = self.point.branch if self.point is not None else None
        aside = set_aside(self.run.root, branch.frame, branch.retain, self.checkpoints) if branch else None
        self.run.write_text(self.run.config_path, OmegaConf.to_yaml(self.config))
        entries = model_file_entries(model_files)
        legacy = self.point.pins.legacy_hashes if self.point is not None and self.point.pins is not None else ()
        write_pins(self.run.root / STATE_DIR / PINS_FILE, pins_of(self.plan, entries, legacy), self.run.write_text)
        if branch is not None:
            self._record_branch(branch, aside)
        self.record.add_segment(self.start_frame, entries,
                                {name: choice.as_dict() for name, choice in self.plan.precisions.items()},
                                list(self.plan.warnings))
        if self.point is not None and branch is None:
            self.checkpoints.remove_from(self.start_frame, None)  # left by an earlier try: their frames are redone
            self.record.resumed_at.append(self.start_frame)
            log.info("resuming %s at frame %d of %d", self.run.root, self.start_frame, self.plan.n_frames)
        self.write_record()
        if aside is not None:
            retained = commit(aside, self.checkpoints)
            changes = ", ".join(branch.changed) or "no settings"
            log.info("branched %s at frame %d (changed: %s); the frames it replaces are %s", self.run.root,
                     branch.frame, changes, f"in {retained}" if retained is not None else "deleted")

    def _record_branch(self, branch: Branch, aside: SetAside) -> None:
        self.record.frames = [f for f in self.record.frames if f.frame < branch.frame]
        self.record.video, self.record.metrics = None, {}
        retained = aside.destination.relative_to(self.run.root) if branch.retain else None
        self.record.branches.append({"frame": branch.frame, "changed": branch.changed,
                                     "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "config_hash": self.hash,
                                     "retained": None if retained is None else str(retained)})

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


__all__ = ["RunSession", "adopt_frame_zero"]
