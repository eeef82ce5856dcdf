"""The application: from a composed config to frames, plots and a video, as a numbered recipe."""
from __future__ import annotations

import errno
import logging
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from omegaconf import DictConfig, OmegaConf

from render.builders import animated_schedules, build_generator, build_mode, weight_files_used
from render.config.plan import RenderPlan
from render.config.presets import hydra_presets
from render.config.validate import check_inputs, estimated_run_bytes, to_settings
from render.disk.faults import fault_point
from render.output.exports import stitch_outputs
from render.output.plots import plot_schedules, prompt_fade_panels
from render.output.previews import write_previews
from render.output.quality import depth_metrics
from render.output.report import RunReport
from render.run.lock import RunLock
from render.run.loop import render_frames
from render.run.progress import StepImages
from render.run.run_dir import DiskFull, RunDir, free_bytes
from render.run.session import RunSession, resume_config
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
        return _render(cfg, Path(output_dir), progress, overrides, stop)


def _render(cfg: DictConfig, output_dir: Path, progress: bool, overrides: Iterable[str],
            stop: GracefulStop) -> RunResult:
    # 1. Settings (a resumed run's own, plus this command's overrides), every input checked before anything heavy.
    cfg, point = resume_config(cfg, Path(output_dir), overrides)
    settings = to_settings(cfg)
    plan = check_inputs(settings, output_dir)
    config = OmegaConf.to_container(cfg, resolve=True)
    config["seed"] = plan.seed
    run = RunDir(output_dir, settings.batch_name).create()
    report = RunReport(run.root, settings.batch_name, plan.n_frames)  # report.html, refreshed with every run.json
    session = RunSession(run, config, plan, point, presets=hydra_presets(), on_record=report.refresh)
    session.check_plan()
    log.info("rendering %d frames at %dx%d on %s, seed %d", plan.n_frames, plan.width, plan.height, plan.device,
             plan.seed)

    # 2. The schedule plot (with the prompt fades).
    mode_name = settings.animation.mode.value
    fades, fade_spans = prompt_fade_panels(text_prompts=plan.text_prompts, image_prompts=plan.image_prompts)
    plot_schedules({**animated_schedules(plan, mode_name), **fades}, run.schedules_plot, fps=plan.fps,
                   prompt_changes=plan.text_prompts.change_frames, prompt_fades=fade_spans,
                   title=f"{settings.batch_name}: animation.mode={mode_name}", audio=plan.audio)

    # 3. Build the mode and the generator (with progress.png / partials/ written as frames form); a resumed run gets
    #    its mode state and RNG states back.
    mode = build_mode(settings, plan, plan.device)
    steps = StepImages(run.save_extra, settings.output.progress_every, settings.output.intermediate_saves)
    generator = build_generator(settings, plan, plan.device, progress=progress,
                                on_step=steps if steps.active else None)
    session.begin(mode, weight_files_used(plan, generator))

    # 4. Render the frames not yet done, checkpointing each; a signal stops after the current frame.
    with session.ending(stop):
        try:
            with stop.after_frame(), disk_full_check(run, plan, session):
                result = render_frames(plan, mode, generator, run, range(session.start_frame, plan.n_frames),
                                       progress=progress, on_frame=session.frame_done(mode),
                                       should_stop=lambda: stop.requested)
        finally:
            steps.close()
        if result.stopped:
            session.finish("stopped")
            return RunResult(run_dir=run.root, frames=result.frames, video=None, stopped=True)
        return _finish(settings, plan, run, mode, generator, session, result.frames)


def _finish(settings, plan: RenderPlan, run: RunDir, mode, generator, session: RunSession,
            frames: list[int]) -> RunResult:
    # 5. Stitch the video (and the mode's extra videos, the interpolated and upscaled copies), the contact sheet and
    #    GIF. report.html gets them with the record's last write.
    fault_point("stitch")
    video = stitch_outputs(settings, plan, run, mode) if settings.output.video else None
    session.record.video = str(video) if video is not None else None
    if settings.output.previews:
        write_previews(run.frames_dir, plan.n_frames, run.root / settings.batch_name, fps=plan.fps)

    # 6. Measure the run's quality into run.json (and quality.csv, per frame). The frames and video are finished:
    #    a failure here is reported, and the run still counts as completed.
    if settings.output.quality or (settings.output.quality is None and settings.generator.value != "preview"):
        fault_point("measure")
        try:
            session.record.metrics = measure_run(plan, run, generator, loop=settings.animation.loop)
        except Exception:  # noqa: BLE001
            log.exception("measuring the run's quality failed; its frames and video are complete")
    session.record.metrics.update(depth_metrics(mode))  # the depth flicker the 3D mode measured while rendering
    session.finish("completed")
    return RunResult(run_dir=run.root, frames=frames, video=video)


@contextmanager
def disk_full_check(run: RunDir, plan: RenderPlan, session: RunSession) -> Iterator[None]:
    """A full disk while frames are written: the finished frames and states stay intact (atomic writes), and the
    error says how much space the rest of the run needs."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT) or isinstance(exc, DiskFull):
            raise
        done = session.checkpoints.latest_frame()
        remaining = plan.n_frames - (done + 1)
        need = estimated_run_bytes(remaining, plan.width, plan.height)
        raise DiskFull(exc.filename, need, free_bytes(run.root), run.root, done) from None


def measure_run(plan: RenderPlan, run: RunDir, generator, *, loop: bool = False) -> dict:
    """Flicker, colour drift and (with real CLIP weights) CLIP similarity of the frames on disk; for a loop, the
    last-to-first flicker next to the median frame-to-frame flicker."""
    from render.output.quality import loop_seam, measure_frames, real_clip

    perceptor = real_clip(getattr(generator, "perceptors", ()))
    report = measure_frames(run.frames_dir, plan.n_frames, prompts=plan.text_prompts, perceptor=perceptor)
    report.write_csv(run.root / "quality.csv")
    metrics = report.summary()
    if loop and plan.n_frames > 1:
        metrics.update(loop_seam(run.frames_dir, report))
    log.info("quality: %s", ", ".join(f"{k} {v}" for k, v in metrics.items()))
    return metrics
