"""``/api/jobs``: submit, list, look at, cancel, resume, branch, move and delete jobs."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from render.studio.jobs import Jobs
from render.studio.models import BranchIn, JobIn, JobOut, MoveIn, Problems, Removed, ResumeIn

router = APIRouter(prefix="/api/jobs", tags=["jobs"])
REFUSED = {422: {"model": Problems, "description": "the CLI's named problems with the config"}}


def jobs_service(request: Request) -> Jobs:
    return request.app.state.jobs


@router.post("", status_code=201, response_model=JobOut, responses=REFUSED)
def submit(body: JobIn, jobs: Jobs = Depends(jobs_service)) -> JobOut:
    """Queue a job, checked as ``python main.py <overrides>`` checks it: 201 with the job, or 422 with the problems."""
    return jobs.describe(jobs.submit(body.overrides, body.config))


@router.get("", response_model=list[JobOut])
def list_jobs(jobs: Jobs = Depends(jobs_service)) -> list[JobOut]:
    """Every job: the queued ones in queue order, the others by when they were queued."""
    listed = jobs.queue.jobs()
    queued = [j.id for j in listed if j.state == "queued"]
    return [jobs.describe(j, queued) for j in listed]


@router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: str, jobs: Jobs = Depends(jobs_service)) -> JobOut:
    return jobs.describe(jobs.get(job_id))


@router.post("/{job_id}/cancel", response_model=JobOut | Removed)
def cancel(job_id: str, jobs: Jobs = Depends(jobs_service)) -> JobOut | Removed:
    """A queued job leaves the queue; a running one stops after its current frame (``stopped``, resumable)."""
    job = jobs.cancel(job_id)
    return Removed(id=job_id) if job is None else jobs.describe(job)


@router.post("/{job_id}/resume", response_model=JobOut, responses=REFUSED)
def resume(job_id: str, body: ResumeIn | None = None, jobs: Jobs = Depends(jobs_service)) -> JobOut:
    """Queue a stopped, failed or completed job again, to continue from its last finished frame."""
    return jobs.describe(jobs.resume(job_id, body.overrides if body else []))


@router.post("/{job_id}/branch", response_model=JobOut, responses=REFUSED)
def branch(job_id: str, body: BranchIn, jobs: Jobs = Depends(jobs_service)) -> JobOut:
    """Queue a job again to render from ``frame`` on with new overrides (the run's frames before it are kept)."""
    return jobs.describe(jobs.branch(job_id, body.frame, body.overrides, body.retain))


@router.post("/{job_id}/move", response_model=list[JobOut])
def move(job_id: str, body: MoveIn, jobs: Jobs = Depends(jobs_service)) -> list[JobOut]:
    """Put a queued job at ``position`` in the queue (0 = next); the queue in its new order."""
    queue = jobs.move(job_id, body.position)
    ids = [j.id for j in queue]
    return [jobs.describe(j, ids) for j in queue]


@router.delete("/{job_id}", status_code=204)
def delete(job_id: str, files: bool = False, jobs: Jobs = Depends(jobs_service)) -> Response:
    """Remove a job that is not running from the list; its run dir is kept unless ``?files=true``."""
    jobs.delete(job_id, files)
    return Response(status_code=204)
