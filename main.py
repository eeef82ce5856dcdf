"""Render a keyframed animation: ``python main.py animation=3d_zoom`` (see README.md)."""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import NoReturn

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from render.config.app_help import share_group_listings, wants_help
from render.config.presets import register_configs
from render.errors import classify, run_cli
from render.output.sweep import SweepJobFailed
from render.run.events import append_event
from render.run.lock import RunLocked
from render.run.resume import prepare_argv, resume_command
from render.run.signals import STOP_REQUEST, GracefulStop
from render.user_error import UserError

log = logging.getLogger("main")
register_configs()


def exit_job(code: int, error: Exception) -> NoReturn:
    """Exit with ``code``; in a sweep raise instead: Hydra's launchers record an exception as a failed job and run
    the other jobs, but a SystemExit ends the whole sweep. (Ctrl-C still ends a sweep.)"""
    if HydraConfig.get().mode == RunMode.MULTIRUN:
        raise SweepJobFailed(str(error), code) from None
    sys.exit(code)


@hydra.main(version_base=None, config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    if cfg.download:
        from render.models.cli import main as download_main

        names = [n.strip() for n in str(cfg.download).split(",") if n.strip()]
        models_dir = ["--models-dir", cfg.model.models_dir] if cfg.model.models_dir else []
        sys.exit(download_main(names + models_dir))
    from render.app import render_animation

    hydra_cfg = HydraConfig.get()
    output_dir = Path(hydra_cfg.runtime.output_dir)
    stop = GracefulStop(output_dir / STOP_REQUEST)
    try:
        overrides = OmegaConf.to_container(hydra_cfg.overrides.task)  # unresolved: "x=${nope}" is a user's text
        result = render_animation(cfg, output_dir, overrides=overrides, stop=stop)
    except KeyboardInterrupt:
        log.error("stopped at once; every finished frame is saved. Continue with:\n  %s", resume_command(output_dir))
        code = stop.exit_code if stop.requested else 130
        append_event(output_dir, "stopped", code=code, resume=resume_command(output_dir))
        sys.exit(code)
    except Exception as exc:  # noqa: BLE001 - named errors exit 2, anything else is a bug report (render/errors.py)
        outcome = classify(exc, output_dir)
        log.error("%s", outcome.message)
        if not isinstance(exc, RunLocked):  # the events are the other process's
            append_event(output_dir, "failed", code=outcome.code, message=outcome.message,
                         problems=exc.problems() if isinstance(exc, UserError) else None)
        exit_job(outcome.code, exc)
    if result.stopped:
        log.warning("stopped after frame %d; every finished frame is saved. Continue with:\n  %s",
                    result.frames[-1] if result.frames else -1, resume_command(output_dir))
        append_event(output_dir, "stopped", code=stop.exit_code, after_frame=result.frames[-1] if result.frames
                     else None, resume=resume_command(output_dir))
        sys.exit(stop.exit_code)
    video = f", video {result.video}" if result.video else ""
    append_event(output_dir, "completed", rendered=len(result.frames),
                 video=str(result.video) if result.video else None)
    print(f"done: {len(result.frames)} frames in {result.run_dir}{video}")


if __name__ == "__main__":
    if wants_help(sys.argv[1:]):
        share_group_listings()
    sys.exit(run_cli(main, prepare_argv))
