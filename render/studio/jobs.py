"""What the API does to jobs: submit (checked as the CLI checks), cancel, resume, branch, move, delete; and a job as
the API shows it (its progress read from its events)."""
from __future__ import annotations

import secrets
import shutil
import time
from pathlib import Path

from render.run.resume import quote
from render.studio.checks import JobRefused, check_overrides, draft_plan, job_settings, refuse
from render.studio.config import StudioConfig
from render.studio.models import JobOut
from render.studio.path_policy import check_paths
from render.studio.progress import ProgressCache
from render.studio.queue_db import ACTIVE, Job, JobQueue
from render.studio.scheduler import Scheduler, resume_launch

BASE_CONFIG = "studio_config.yaml"  # a job's "config" text, imported as its base (import_settings)


class NotFound(LookupError):
    pass


class Conflict(RuntimeError):
    """The job is not in a state that allows this (the API's 409)."""


def new_job_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


class Jobs:
    def __init__(self, config: StudioConfig, queue: JobQueue, scheduler: Scheduler):
        self.config, self.queue, self.scheduler = config, queue, scheduler
        self.progress = ProgressCache()

    def get(self, job_id: str) -> Job:
        job = self.queue.get(job_id)
        if job is None:
            raise NotFound(f"no job {job_id}")
        return job

    def submit(self, overrides: list[str], config_text: str | None) -> Job:
        """A new job, queued last, if the CLI would accept its config; raises :class:`JobRefused`."""
        overrides = check_overrides(overrides)
        if config_text is not None and any(o.lstrip("+~").startswith("import_settings=") for o in overrides):
            raise refuse("import_settings", None, "is given twice: as the job's config text and as an override",
                         "give one of them")
        job_id = new_job_id()
        run_dir = self.config.runs_dir / job_id
        run_dir.mkdir(parents=True)
        base = run_dir / BASE_CONFIG if config_text is not None else None
        try:
            if base is not None:
                base.write_text(config_text, encoding="utf-8")
            plan = self._checked_plan(overrides, base)
        except BaseException:
            shutil.rmtree(run_dir, ignore_errors=True)
            raise
        launch = [*overrides, *([f"import_settings={quote(str(base))}"] if base is not None else []),
                  f"hydra.run.dir={quote(str(run_dir))}"]
        job = self.queue.add(Job(job_id, "queued", 0.0, overrides, launch, str(run_dir),
                                 n_frames=plan.n_frames or None))
        self.scheduler.wake()
        return job

    def _checked_plan(self, overrides: list[str], base: Path | None = None, run_dir: Path | None = None):
        settings = job_settings(overrides, base, run_dir)
        check_paths(settings, self.config.path_roots)
        return draft_plan(settings)

    def cancel(self, job_id: str) -> Job | None:
        """A queued job leaves the queue (removed, or ``stopped`` when it has frames); a running one is asked to stop
        after its current frame (``stopped``, resumable). None: the job was removed."""
        job = self.get(job_id)
        if job.state == "queued":
            if not self._has_run(job):
                self.queue.delete(job.id)
                shutil.rmtree(self.run_dir_of(job), ignore_errors=True)
                return None
            return self.queue.update(job.id, state="stopped", finished=time.time())
        if job.state != "running":
            raise Conflict(f"job {job_id} is {job.state}: only a queued or running job can be cancelled")
        job = self.queue.update(job.id, cancel=True)
        self.scheduler.stop_job(job.id)
        return job

    def resume(self, job_id: str, overrides: list[str]) -> Job:
        """Back in the queue to continue from its last finished frame (``resume=<run dir>`` and ``overrides``)."""
        job = self._finished(job_id, "resumed")
        overrides = check_overrides(overrides)
        if not self._has_run(job):
            return self.queue.requeue(job.id, attempts=0, retries=0, error=None, cancel=False)
        launch = [*resume_launch(job.run_dir), *overrides]
        plan = self._checked_plan(launch, run_dir=self.run_dir_of(job))
        return self._requeue(job, launch, plan.n_frames)

    def branch(self, job_id: str, frame: int, overrides: list[str], retain: bool) -> Job:
        """Back in the queue to render again from ``frame`` with ``overrides`` (``resume_from``)."""
        job = self._finished(job_id, "branched")
        overrides = check_overrides(overrides)
        if not self._has_run(job):
            raise Conflict(f"job {job_id} has no frames yet to branch from: resume it")
        launch = [*resume_launch(job.run_dir), f"resume_from={frame}", *overrides,
                  *(["resume_retain=true"] if retain else [])]
        plan = self._checked_plan(launch, run_dir=self.run_dir_of(job))
        return self._requeue(job, launch, plan.n_frames)

    def move(self, job_id: str, position: int) -> list[Job]:
        job = self.get(job_id)
        if job.state != "queued":
            raise Conflict(f"job {job_id} is {job.state}: only queued jobs can be moved")
        queue = self.queue.move(job.id, position)
        self.scheduler.wake()
        return queue

    def delete(self, job_id: str, files: bool) -> bool:
        """The job out of the queue and the list; its run dir kept unless ``files``. True if the dir was deleted."""
        job = self.get(job_id)
        if job.state == "running":
            raise Conflict(f"job {job_id} is running: cancel it first")
        self.queue.delete(job.id)
        self.progress.forget(self.run_dir_of(job))
        if files:
            shutil.rmtree(self.run_dir_of(job), ignore_errors=True)
        return files

    def describe(self, job: Job, queued: list[str] | None = None) -> JobOut:
        """The job as the API shows it, with its progress from its events."""
        progress = self.progress.get(self.run_dir_of(job))
        if queued is None:
            queued = [j.id for j in self.queue.jobs("queued")]
        error = job.error if job.state == "failed" else None
        return JobOut(id=job.id, state=job.state, queue_position=queued.index(job.id) if job.id in queued else None,
                      overrides=job.overrides, run_dir=job.run_dir, frames_done=progress.frames_done,
                      n_frames=progress.n_frames or job.n_frames, eta_s=progress.eta_s if job.state == "running"
                      else None, step=progress.step if job.state == "running" else None, error=error,
                      created=job.created, started=job.started, finished=job.finished, attempts=job.attempts,
                      exit_code=job.exit_code, cancel_requested=job.cancel)

    def _finished(self, job_id: str, verb: str) -> Job:
        job = self.get(job_id)
        if job.state in ACTIVE:
            raise Conflict(f"job {job_id} is {job.state}: only a stopped, failed or completed job can be {verb}")
        return job

    def _requeue(self, job: Job, launch: list[str], n_frames: int) -> Job:
        job = self.queue.requeue(job.id, launch=launch, attempts=0, retries=0, error=None, cancel=False,
                                 n_frames=n_frames or job.n_frames)
        self.scheduler.wake()
        return job

    def run_dir_of(self, job: Job) -> Path:
        """The job's run dir, which must be under the studio's runs folder."""
        run_dir = Path(job.run_dir).resolve()
        if not run_dir.is_relative_to(self.config.runs_dir.resolve()):
            raise Conflict(f"job {job.id}'s folder {run_dir} is not under {self.config.runs_dir}")
        return run_dir

    def _has_run(self, job: Job) -> bool:
        return (self.run_dir_of(job) / "config.yaml").is_file()


__all__ = ["Conflict", "JobRefused", "Jobs", "NotFound"]
