"""Sweeps from the page: values for up to three settings, one job per combination (queued as any job, checked as
the CLI checks), recorded in ``<home>/sweeps/<id>.json``; shown with the gallery's measures and ranking
(render/output/sweep_jobs.py: the same ``run.json`` reading, ``auto`` ranking and metric order as ``gallery.html``)."""
from __future__ import annotations

import itertools
import json
import re
import time
from pathlib import Path

from render.disk.atomic import atomic_open
from render.output.gallery import preview_image
from render.output.report import REPORT_NAME
from render.output.sweep_jobs import describe_ranking, load_job, metric_names, metric_value, rank_jobs, ranking_keys
from render.run.resume import quote
from render.studio.checks import JobRefused, check_overrides, refuse
from render.studio.jobs import Jobs, NotFound, new_job_id
from render.studio.models import MAX_AXES, MAX_SWEEP_JOBS, MAX_VALUES, SweepJobOut, SweepOut

SWEEPS = "sweeps"
_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{6}$")
_PLAIN = re.compile(r"^[A-Za-z0-9_.+\-/]*$")


def axis_override(key: str, value: str) -> str:
    """``key=value`` as Hydra reads it: a value with spaces, brackets or colons (a schedule) quoted, unless the
    value is already quoted or a plain token (``3``, ``ease_in``)."""
    plain = _PLAIN.match(value) or (len(value) > 1 and value[0] == value[-1] and value[0] in "'\"")
    return f"{key}={value if plain else quote(value)}"


def combinations(axes: dict[str, list[str]]) -> list[dict[str, str]]:
    """Every combination of the axes' values, the first axis slowest; raises :class:`JobRefused` for too many or
    malformed axes."""
    if not 1 <= len(axes) <= MAX_AXES:
        raise refuse("axes", list(axes), f"a sweep varies 1 to {MAX_AXES} settings", "choose up to three settings")
    for key, values in axes.items():
        check_overrides([f"{key}=x"])  # a key the studio accepts (not hydra.*, resume...)
        if not 1 <= len(values) <= MAX_VALUES or len(set(values)) != len(values):
            raise refuse(key, values, f"needs 1 to {MAX_VALUES} different values", "list each value once")
    grid = [dict(zip(axes, values)) for values in itertools.product(*axes.values())]
    if len(grid) > MAX_SWEEP_JOBS:
        raise refuse("axes", {k: len(v) for k, v in axes.items()}, f"makes {len(grid)} jobs, more than "
                     f"{MAX_SWEEP_JOBS}", "use fewer values")
    return grid


def submit_sweep(jobs: Jobs, overrides: list[str], config_text: str | None, axes: dict[str, list[str]]) -> SweepOut:
    """One job per combination, queued in order; when any is refused, none stays queued."""
    grid = combinations(axes)
    overrides = check_overrides(overrides)
    queued: list[tuple[str, dict[str, str]]] = []
    try:
        for values in grid:
            job = jobs.submit(overrides + [axis_override(k, v) for k, v in values.items()], config_text)
            queued.append((job.id, values))
    except JobRefused as exc:
        for job_id, _ in queued:
            jobs.cancel(job_id)
        where = ", ".join(f"{k}={v}" for k, v in values.items())
        raise JobRefused([{**p, "problem": f"{p['problem']} (in the job {where})"} for p in exc.problems()]) from None
    record = {"id": new_job_id(), "created": time.time(), "overrides": overrides, "axes": axes,
              "jobs": [{"id": job_id, "values": values} for job_id, values in queued]}
    folder = jobs.config.home / SWEEPS
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_open(folder / f"{record['id']}.json", "w") as fh:
        json.dump(record, fh)
    return describe_sweep(jobs, record)


def read_sweep(home: Path, sweep_id: str) -> dict:
    path = Path(home) / SWEEPS / f"{sweep_id}.json"
    if not _ID.match(sweep_id) or not path.is_file():
        raise NotFound(f"no sweep {sweep_id}")
    return json.loads(path.read_text())


def list_sweeps(home: Path) -> list[dict]:
    folder = Path(home) / SWEEPS
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []


def describe_sweep(jobs: Jobs, record: dict) -> SweepOut:
    """The sweep's jobs with their state and, once they have a ``run.json``, the gallery's measures and rank."""
    entries, runs = [], []
    for item in record["jobs"]:
        job = jobs.queue.get(item["id"])
        shown = jobs.describe(job) if job is not None else None
        run = load_job(jobs.run_dir_of(job)) if job is not None else None
        entries.append((item, shown, run))
        if run is not None:
            runs.append(run)
    keys = ranking_keys("auto", runs)
    ranks = {id(run): rank for rank, run in rank_jobs(runs, keys)}
    names = metric_names(runs)
    out = [_job_out(item, shown, run, ranks.get(id(run)), names) for item, shown, run in entries]
    return SweepOut(id=record["id"], created=record["created"], overrides=record["overrides"], axes=record["axes"],
                    ranking=describe_ranking(keys), metrics=names, jobs=out)


def _job_out(item: dict, shown, run, rank: int | None, names: list[str]) -> SweepJobOut:
    if shown is None:
        return SweepJobOut(id=item["id"], values=item["values"])
    files = f"/api/jobs/{item['id']}/files/"
    image = preview_image(run) if run is not None else None
    video = run.video if run is not None and run.video is not None and run.video.is_file() else None
    return SweepJobOut(id=item["id"], values=item["values"], state=shown.state, frames_done=shown.frames_done,
                       n_frames=shown.n_frames, rank=rank if run is not None and run.completed else None,
                       metrics={m: metric_value(run, m) for m in names} if run is not None else {},
                       image=files + image.relative_to(run.path).as_posix() if image is not None else None,
                       report=files + REPORT_NAME if (run.path / REPORT_NAME).is_file() else None,
                       video=files + video.name if video is not None and video.parent == run.path else None)
