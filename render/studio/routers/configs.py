"""``/api/presets`` (the config groups and their options, the schedule settings), ``/api/plan`` (a config's values
over its frames, its song's analysis), ``/api/preview`` (its camera preview) and ``/api/songs`` (the song to play)."""
from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse

from render.config.schema import Config
from render.studio.camera_preview import draw_preview, preview_file
from render.studio.checks import check_overrides, group_options, job_settings
from render.studio.models import PlanIn, PlanOut, Presets, PreviewIn, PreviewOut, Problems
from render.studio.path_policy import check_paths
from render.studio.plan import plan_values, run_plan, schedule_settings

router = APIRouter(prefix="/api", tags=["configs"])


@router.get("/presets", response_model=Presets)
def presets() -> Presets:
    """Each config group (``animation``, ``model``, ...) and its presets, as ``group=option`` overrides take them;
    every schedule setting with the modes that use it."""
    return Presets(groups=group_options(), schedules=schedule_settings())


@contextmanager
def settings_of(body: PlanIn, request: Request) -> Iterator[Config]:
    """The typed settings of a body's overrides, on its config text when it has one (imported as a file)."""
    overrides, roots = check_overrides(body.overrides), request.app.state.config.path_roots
    if body.config is None:
        settings = job_settings(overrides)
        check_paths(settings, roots)
        yield settings
        return
    with tempfile.TemporaryDirectory(prefix="plan-", dir=request.app.state.config.home) as folder:
        base = Path(folder) / "config.yaml"
        base.write_text(body.config, encoding="utf-8")
        settings = job_settings(overrides, base)
        check_paths(settings, roots)
        yield settings


@router.post("/plan", response_model=PlanOut, responses={422: {"model": Problems}})
def plan(body: PlanIn, request: Request) -> PlanOut:
    """Every frame's schedule values and prompt mix of a config, without rendering (for plots and editors); with a
    song, its analysis and where to play it."""
    songs = request.app.state.songs

    def song_url(path: str) -> tuple[str | None, str]:
        song_id, note = songs.lend(path)
        return (f"/api/songs/{song_id}" if song_id else None), note

    with settings_of(body, request) as settings:
        return plan_values(settings, body.song, song_url)


@router.post("/preview", response_model=PreviewOut, responses={422: {"model": Problems}})
def preview(body: PreviewIn, request: Request) -> PreviewOut:
    """The camera preview of a config (``generator=camera``'s frames) from ``start`` for ``count`` frames, drawn
    once and kept: JPEGs at ``frames`` (``{n}``: the frame)."""
    with settings_of(body, request) as settings:
        plan, _ = run_plan(settings, body.song)
        return draw_preview(request.app.state.config.home, settings, plan, body.width, body.start, body.count)


@router.get("/previews/{key}/{name}", response_class=FileResponse)
def preview_frame(key: str, name: str, request: Request) -> FileResponse:
    path = preview_file(request.app.state.config.home, key, name)
    if path is None:
        raise HTTPException(404, f"no frame {name} in preview {key}")
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "max-age=86400"})


@router.get("/songs/{song_id}", response_class=FileResponse)
def song(song_id: str, request: Request) -> FileResponse:
    """A config's song, lent by its plan (``audio.url``); nothing else."""
    path = request.app.state.songs.file(song_id)
    if path is None or not path.is_file():
        raise HTTPException(404, "no such song: ask for the config's plan first (its audio.url)")
    return FileResponse(path)
