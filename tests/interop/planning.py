"""Planning a run from imported settings, as ``python main.py import_settings=<file> ...`` does before rendering."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from conftest import compose_overrides

from render.config.planner import plan_and_resolve
from render.config.settings import to_settings
from render.interop.apply import with_imported_settings


def import_override(path: Path) -> str:
    return f'import_settings="{path}"'  # quoted: DD's file names hold parentheses


def plan_imported(path: Path, *overrides: str):
    """The plan and the mapping report of a run importing ``path`` with ``overrides`` on top."""
    args = [import_override(path), *overrides]
    cfg, report = with_imported_settings(compose_overrides(*args), args)
    return plan_settings(to_settings(cfg)), report


def plan_settings(settings):
    return plan_and_resolve(settings)  # the draft, the assets resolved, the final plan: as a run makes it


def prompts_at(schedule, frame: int) -> list[tuple[str, float]]:
    return [(p.text, p.weight) for p in schedule.at(frame)]


def normalised(prompts: list[tuple[str, float]]) -> dict[str, float]:
    """Weights as the guidance uses them: divided by the absolute value of their sum (DD's ``w /= |sum(w)|``)."""
    total = abs(sum(w for _, w in prompts))
    return {t: w / total for t, w in prompts}


def assert_close(actual: np.ndarray, expected: np.ndarray, name: str, tolerance: float = 1e-9) -> None:
    np.testing.assert_allclose(actual, expected, rtol=tolerance, atol=tolerance, err_msg=name)
