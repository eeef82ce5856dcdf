"""``import_settings=<file>``: the file's settings become the run's base and the command line applies on top.

The composed config (the presets and defaults) is the ground; the imported settings replace what they name; then every
path this command line touched is taken from the composed config again, the same merge a resumed run uses for its
saved config (``render.run.resume.effective_config``). The mapping report is logged, and the recipe writes it into
the run dir as ``import_report.md``.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable

from omegaconf import DictConfig, OmegaConf

from render.config.issues import ConfigErrors, ConfigIssue
from render.disk.atomic import atomic_open
from render.interop.importers import import_file
from render.interop.report import ImportReport
from render.interop.source import ImportContext, ImportProblem
from render.run.resume import effective_config, override_paths

log = logging.getLogger(__name__)
REPORT_FILE = "import_report.md"


def with_imported_settings(composed: DictConfig, overrides: Iterable[str]) -> tuple[DictConfig, ImportReport | None]:
    """``composed`` with the file of ``import_settings`` as its base (unchanged without one, or when resuming: a
    resumed run has its own settings)."""
    source = composed.get("import_settings")
    if not source or composed.get("resume"):
        return composed, None
    overrides = list(overrides)
    try:
        imported = import_file(Path(str(source)), command_line_context(composed, overrides))
    except ImportProblem as exc:
        setting = "import_settings" if exc.key == "import_settings" else f"import_settings ({source}): {exc.key}"
        raise ConfigErrors([ConfigIssue(setting, exc.value, exc.problem, exc.fix)]) from None
    base = OmegaConf.create(OmegaConf.to_container(composed))
    for path, value in imported.settings.items():
        OmegaConf.update(base, path, value, merge=False, force_add=True)
    report = imported.report
    log.info("%s", "\n".join(report.lines()))
    if report.unknown:
        log.warning("import_settings: %d key(s) of %s are unknown to the importer and were ignored: %s",
                    len(report.unknown), source, ", ".join(e.source for e in report.unknown))
    return effective_config(composed, base, overrides), report


def command_line_context(composed: DictConfig, overrides: Iterable[str]) -> ImportContext:
    """The mode, seed and frame count when this command line sets them (they change how the file is mapped)."""
    paths = set(override_paths(overrides))
    mode = composed.animation.mode if paths & {"animation", "animation.mode"} else None
    frames = composed.animation.max_frames if paths & {"animation", "animation.max_frames"} else None
    return ImportContext(mode=getattr(mode, "value", mode),
                         seed=composed.seed if "seed" in paths else None,
                         max_frames=frames if isinstance(frames, int) else None)


def write_import_report(report: ImportReport | None, run_dir: Path) -> None:
    """``import_report.md`` in the run dir (nothing without an import)."""
    if report is not None:
        with atomic_open(Path(run_dir) / REPORT_FILE, "w") as fh:
            fh.write(report.markdown())
