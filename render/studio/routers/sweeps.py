"""``/api/sweeps``: a grid of values for up to three settings submitted as jobs, and the sweep with the gallery's
measures."""
from __future__ import annotations

from fastapi import APIRouter, Depends

from render.studio.jobs import Jobs
from render.studio.models import Problems, SweepIn, SweepOut
from render.studio.routers.jobs import jobs_service
from render.studio.sweeps import describe_sweep, list_sweeps, read_sweep, submit_sweep

router = APIRouter(prefix="/api/sweeps", tags=["sweeps"])


@router.post("", status_code=201, response_model=SweepOut, responses={422: {"model": Problems}})
def submit(body: SweepIn, jobs: Jobs = Depends(jobs_service)) -> SweepOut:
    """One job per combination of the axes' values (the overrides and config as the base of each), all or none."""
    return submit_sweep(jobs, body.overrides, body.config, body.axes)


@router.get("", response_model=list[SweepOut])
def sweeps(jobs: Jobs = Depends(jobs_service)) -> list[SweepOut]:
    return [describe_sweep(jobs, record) for record in list_sweeps(jobs.config.home)]


@router.get("/{sweep_id}", response_model=SweepOut)
def sweep(sweep_id: str, jobs: Jobs = Depends(jobs_service)) -> SweepOut:
    """The sweep's jobs: state, values, measures and rank (as gallery.html ranks them), image, report, video."""
    return describe_sweep(jobs, read_sweep(jobs.config.home, sweep_id))
