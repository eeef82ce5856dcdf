"""Render a keyframed animation: ``python main.py animation=3d_zoom`` (see README.md)."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from render.app import render_animation
from render.schema import register_configs
from render.validate import ConfigErrors

log = logging.getLogger("main")
register_configs()


@hydra.main(version_base=None, config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    if cfg.download:
        from render.download import main as download_main

        names = [n.strip() for n in str(cfg.download).split(",") if n.strip()]
        models_dir = ["--models-dir", cfg.model.models_dir] if cfg.model.models_dir else []
        sys.exit(download_main(names + models_dir))
    output_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        result = render_animation(cfg, output_dir)
    except ConfigErrors as exc:
        log.error("%s", exc)
        sys.exit(2)
    print(f"done: {len(result.frames)} frames in {result.run_dir}" + (f", video {result.video}" if result.video else ""))


if __name__ == "__main__":
    main()
