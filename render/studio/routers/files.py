"""``/api/jobs/{id}/files``: a job's frames, ``progress.png``, videos and ``report.html``, from its run dir only."""
from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import FileResponse

from render.studio.files import OutsideRunDir, list_files, resolve_file
from render.studio.jobs import Jobs
from render.studio.routers.jobs import jobs_service

router = APIRouter(prefix="/api/jobs", tags=["files"])


@router.get("/{job_id}/files")
def files(job_id: str, jobs: Jobs = Depends(jobs_service)) -> list[dict]:
    """The run dir's files (``path``, ``bytes``)."""
    return list_files(jobs.run_dir_of(jobs.get(job_id)))


@router.get("/{job_id}/files/{path:path}", response_class=FileResponse)
def file(job_id: str, path: str, jobs: Jobs = Depends(jobs_service)) -> FileResponse:
    try:
        target = resolve_file(jobs.run_dir_of(jobs.get(job_id)), path)
    except OutsideRunDir as exc:
        raise HTTPException(exc.status, str(exc)) from None
    except FileNotFoundError:
        raise HTTPException(404, f"no file {path} in the job's run folder") from None
    return FileResponse(target)
