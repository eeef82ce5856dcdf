"""The application: from a composed config to frames, plots and a video, as a numbered recipe.

Nothing heavy is imported until a render begins: a config with a problem is named without torch ever loading."""
from __future__ import annotations

import errno
import logging
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from omegaconf import DictConfig, OmegaConf

from render.config.plan import RenderPlan
from render.config.planner import plan_and_resolve
from render.config.presets import hydra_presets
from render.config.settings import to_settings
from render.disk.faults import fault_point
from render.run.lock import RunLock
from render.run.migrations import SCHEMA_VERSION
from render.run.resume import load_resume
from render.run.signals import GracefulStop

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    run_dir: Path
    frames: list[int]
    video: Path | None
    stopped: bool = False  # a stop was requested; resume with ``python main.py resume=<run_dir>``


def render_animation(cfg: DictConfig, output_dir: Path, *, progress: bool = True, overrides: Iterable[str] = (),
                     stop: GracefulStop | None = None) -> RunResult:
    """Render a run into ``output_dir``, holding its lock; a signal stops it from the first line to the last (after
    the current frame while frames render, at once before and after)."""
    stop = stop or GracefulStop()
    with stop, RunLock(Path(output_dir)):
        return _render(cfg, Path(output_dir), progress, list(overrides), stop)


def _render(cfg: DictConfig, output_dir: Path, progress: bool, overrides: list[str], stop: GracefulStop) -> RunResult:
    # 1. Settings: an imported file's (import_settings=<file>: DD, Deforum, Parseq) or a resumed run's own, plus this
    #    command's overrides.
    cfg, imported, point = _settings(cfg, output_dir, overrides)
    settings = to_settings(cfg)

    # 2. The plan: the draft names every problem of the settings; the assets are resolved once (URLs, the song, the
    #    source video, the weight files, the device and precisions); the final plan is made from them.
    plan = plan_and_resolve(settings, output_dir, pins=point.pins if point is not None else None,
                            resuming=point is not None and point.resuming)
    for line in plan.warnings:
        log.warning("%s", line)
    for line in plan.notes:
        log.info("%s", line)

    # 3. The run dir, its session (state/, run.json, report.html), the mapping report of an imported file, every
    #    frame's parameters (parameters.csv, .srt) and the schedule plot.
    run, session = _open_run(cfg, settings, plan, point, imported, output_dir)

    # 4. The networks (loaded once), the mode and the generator (with progress.png / partials/ written as frames
    #    form); a resumed run gets its mode state and RNG states back.
    from render.builders import (
        build_generator,
        build_mode,
        load_networks,
        weight_files_used,
    )
    from render.run.events import RunEvents
    from render.run.progress import StepImages

    events = RunEvents(run.root, plan.n_frames)  # events.jsonl: run, frames, steps, progress images (ends: main.py)
    networks = load_networks(plan, progress=progress)
    parts = build_mode(settings, plan)
    steps = StepImages(run.save_extra, settings.output.progress_every, settings.output.intermediate_saves,
                       on_saved=events.image_written)
    generator = build_generator(settings, plan, networks, progress=progress,
                                on_step=events.step_hook(steps if steps.active else None))
    session.begin(parts.mode, weight_files_used(plan, networks))
    events.run_started(plan, session.start_frame, point)

    # 5. The frames not yet done, checkpointing each; a signal stops after the current frame.
    from render.run.loop import render_frames

    with session.ending(stop):
        try:
            with stop.after_frame(), disk_full_check(run, plan, session):
                result = render_frames(plan, parts.mode, generator, run, range(session.start_frame, plan.n_frames),
                                       progress=progress, should_stop=lambda: stop.requested,
                                       on_frame=events.frame_hook(session.frame_done(parts.mode)),
                                       on_start=events.frame_started)
        finally:
            steps.close()
        if result.stopped:
            session.finish("stopped")
            return RunResult(run_dir=run.root, frames=result.frames, video=None, stopped=True)
        return _finish(settings, plan, run, parts, networks, session, result.frames)


def _settings(cfg: DictConfig, output_dir: Path, overrides: list[str]):
    """The config to render with, an imported file's mapping report, and a resumed or branched run's point."""
    from render.interop.apply import with_imported_settings

    cfg, imported = with_imported_settings(cfg, overrides)
    if cfg.get("resume"):  # a branch that stopped part way is finished or undone first (render/run/branch.py)
        from render.run.branch import recover

        done = recover(output_dir)
        if done:
            log.warning("%s: %s", output_dir, done)
    cfg, point = load_resume(cfg, output_dir, overrides)
    return cfg, imported, point


def _open_run(cfg: DictConfig, settings, plan: RenderPlan, point, imported, output_dir: Path):
    """The run dir with its first files, and the session that keeps its state and record."""
    from render.interop.apply import write_import_report
    from render.output.parameters import write_parameters
    from render.output.report import RunReport
    from render.run.run_dir import RunDir
    from render.run.session import RunSession

    config = OmegaConf.to_container(cfg, resolve=True)
    config["seed"], config["schema_version"] = plan.seed, SCHEMA_VERSION
    run = RunDir(output_dir, settings.batch_name).create()
    write_import_report(imported, run.root)
    write_parameters(plan, run.root)  # parameters.csv and parameters.srt: every frame's values, prompts and seed
    report = RunReport(run.root, settings.batch_name, plan.n_frames)  # report.html, refreshed with every run.json
    session = RunSession(run, config, plan, point, presets=hydra_presets(), on_record=report.refresh)
    session.check_plan()
    log.info("rendering %d frames at %dx%d on %s, seed %d", plan.n_frames, plan.width, plan.height, plan.device,
             plan.seed)
    _plot(settings, plan, run)
    return run, session


def _plot(settings, plan: RenderPlan, run) -> None:
    from render.builders import animated_schedules
    from render.output.plots import plot_schedules, prompt_fade_panels

    mode_name = settings.animation.mode.value
    fades, fade_spans = prompt_fade_panels(text_prompts=plan.text_prompts, image_prompts=plan.image_prompts)
    plot_schedules({**animated_schedules(plan, mode_name), **fades}, run.schedules_plot, fps=plan.fps,
                   prompt_changes=plan.text_prompts.change_frames, prompt_fades=fade_spans,
                   title=f"{settings.batch_name}: animation.mode={mode_name}", audio=plan.audio)


def _finish(settings, plan: RenderPlan, run, parts, networks, session, frames: list[int]) -> RunResult:
    # 6. The video (and the mode's extra videos, the interpolated and upscaled copies), the contact sheet and GIF.
    #    report.html gets them with the record's last write.
    from render.output.exports import stitch_outputs
    from render.output.previews import write_previews

    fault_point("stitch")
    video = stitch_outputs(settings, plan, run, parts.flows) if settings.output.video else None
    session.record.video = str(video) if video is not None else None
    if settings.output.previews:
        write_previews(run.frames_dir, plan.n_frames, run.root / settings.batch_name, fps=plan.fps)

    # 7. The run's quality into run.json (and quality.csv, per frame). The frames and video are finished: a failure
    #    here is reported, and the run still counts as completed.
    if settings.output.quality or (settings.output.quality is None and settings.generator.value == "diffusion"):
        fault_point("measure")
        try:
            perceptors = networks.perceptors if networks is not None else ()
            session.record.metrics = measure_run(plan, run, perceptors, loop=settings.animation.loop)
        except Exception:  # noqa: BLE001
            log.exception("measuring the run's quality failed; its frames and video are complete")
    if parts.depth_flicker is not None:  # the depth flicker the 3D mode measured while rendering
        from render.output.quality import depth_metrics

        session.record.metrics.update(depth_metrics(parts.depth_flicker()))
    session.finish("completed")
    return RunResult(run_dir=run.root, frames=frames, video=video)


@contextmanager
def disk_full_check(run, plan: RenderPlan, session) -> Iterator[None]:
    """A full disk while frames are written: the finished frames and states stay intact (atomic writes), and the
    error says how much space the rest of the run needs."""
    from render.config.assets import estimated_run_bytes
    from render.run.run_dir import DiskFull, free_bytes

    try:
        yield
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT) or isinstance(exc, DiskFull):
            raise
        done = session.checkpoints.latest_frame()
        remaining = plan.n_frames - (done + 1)
        need = estimated_run_bytes(remaining, plan.width, plan.height)
        raise DiskFull(exc.filename, need, free_bytes(run.root), run.root, done) from None


def measure_run(plan: RenderPlan, run, perceptors, *, loop: bool = False) -> dict:
    """Flicker, colour drift and (with real CLIP weights) CLIP similarity of the frames on disk; for a loop, the
    last-to-first flicker next to the median frame-to-frame flicker."""
    from render.output.quality import loop_seam, measure_frames, real_clip

    report = measure_frames(run.frames_dir, plan.n_frames, prompts=plan.text_prompts, perceptor=real_clip(perceptors))
    report.write_csv(run.root / "quality.csv")
    metrics = report.summary()
    if loop and plan.n_frames > 1:
        metrics.update(loop_seam(run.frames_dir, report))
    log.info("quality: %s", ", ".join(f"{k} {v}" for k, v in metrics.items()))
    return metrics
