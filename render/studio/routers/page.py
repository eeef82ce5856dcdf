"""The studio page: ``/`` (``static/index.html``) and its scripts and styles under ``/static`` (plain files in the
project: no build step, nothing fetched from elsewhere)."""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parents[1] / "static"
router = APIRouter(tags=["page"])


@router.get("/", response_class=FileResponse, include_in_schema=False)
def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


def mount_static(app: FastAPI) -> None:
    """The page's files; they hold no data, so they need no token (the API they call does)."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
