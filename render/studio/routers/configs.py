"""``/api/presets`` (the config groups and their options) and ``/api/plan`` (a config's values over its frames)."""
from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter, Request

from render.studio.checks import check_overrides, group_options, job_settings
from render.studio.models import PlanIn, PlanOut, Presets, Problems
from render.studio.plan import plan_values

router = APIRouter(prefix="/api", tags=["configs"])


@router.get("/presets", response_model=Presets)
def presets() -> Presets:
    """Each config group (``animation``, ``model``, ...) and its presets, as ``group=option`` overrides take them."""
    return Presets(groups=group_options())


@router.post("/plan", response_model=PlanOut, responses={422: {"model": Problems}})
def plan(body: PlanIn, request: Request) -> PlanOut:
    """Every frame's schedule values and prompt mix of a config, without rendering (for plots and editors)."""
    overrides = check_overrides(body.overrides)
    if body.config is None:
        return plan_values(job_settings(overrides), body.song)
    home = request.app.state.config.home
    with tempfile.TemporaryDirectory(prefix="plan-", dir=home) as folder:  # the config text as a file to import
        base = Path(folder) / "config.yaml"
        base.write_text(body.config, encoding="utf-8")
        return plan_values(job_settings(overrides, base), body.song)
