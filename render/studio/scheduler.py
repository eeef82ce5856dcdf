"""The scheduler: one thread that starts queued jobs in free slots (one job per slot: a device) and follows running
ones to their end, reading how they ended from their run dir's ``events.jsonl``.

A job whose process died without an end event (SIGKILL, out of memory), or whose renderer was stopped because the
server went away, resumes in its slot at once, from its run dir (``python main.py resume=<run dir>``), before any
other job starts; after ``max_attempts`` deaths in a row without a finished frame it fails. On start, the jobs the
last server was running are found again first: a renderer still finishing its frame is waited for, then resumed.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from render.run.events import EVENTS_NAME
from render.run.resume import quote
from render.run.signals import STOP_REQUEST
from render.studio.config import StudioConfig
from render.studio.executors import JOB_LOG, ChildRun, Handle
from render.studio.progress import Outcome, outcome
from render.studio.queue_db import Job, JobQueue

log = logging.getLogger(__name__)
LOG_TAIL = 2000  # characters of job.log kept as the error of a job that failed without a named error


def resume_launch(run_dir: str) -> list[str]:
    return [f"resume={quote(run_dir)}"]


def _log_tail(run_dir: Path) -> str:
    try:
        with open(run_dir / JOB_LOG, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - LOG_TAIL))
            return fh.read().decode("utf-8", "replace").replace("\r", "\n")
    except OSError:
        return ""


class Scheduler:
    def __init__(self, config: StudioConfig, queue: JobQueue, executor):
        self.config, self.queue, self.executor = config, queue, executor
        self.running: dict[int, tuple[str, Handle]] = {}  # slot -> (job id, its process)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # -- the thread -------------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="studio-scheduler", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def shutdown(self, grace_s: float = 10.0) -> None:
        """Stop following jobs. Local renderers are asked to stop after their frame (their jobs stay ``running`` in
        the queue, so the next server resumes them); cluster jobs go on."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(grace_s)

    def _loop(self) -> None:
        try:
            self._recover()
            while not self._stop.is_set():
                self.tick()
                self._wake.wait(self.config.poll_s)
                self._wake.clear()
        except Exception:  # noqa: BLE001 - the server must say why its queue stopped moving
            log.exception("the studio's scheduler stopped")
        finally:
            self._stop_children()

    def _stop_children(self, grace_s: float = 10.0) -> None:
        with self._lock:
            local = [h for _, h in self.running.values() if isinstance(h, ChildRun)]
        for handle in local:
            handle.stop(True)
        deadline = time.monotonic() + grace_s
        while any(h.alive() for h in local) and time.monotonic() < deadline:
            time.sleep(0.1)

    # -- one look at everything ---------------------------------------------------------------------------------------

    def _recover(self) -> None:
        """The jobs the last server was running: followed again in their slots."""
        free = list(range(len(self.config.slots)))
        for job in self.queue.jobs("running"):
            slot = job.slot if job.slot in free else (free[0] if free else None)
            if slot is None:  # fewer slots than before: back to the front of the queue
                self.queue.update(job.id, state="queued", position=-1e9)
                continue
            free.remove(slot)
            handle = self.executor.adopt(Path(job.run_dir), job.handle)
            self.running[slot] = (job.id, handle)
            self.queue.update(job.id, slot=slot)
            log.info("job %s: found again after a restart (%s)", job.id,
                     "still running" if handle.alive() else "to resume")

    def tick(self) -> None:
        with self._lock:
            for slot, (job_id, handle) in list(self.running.items()):
                if not handle.alive():
                    del self.running[slot]
                    self._ended(job_id, handle, slot)
            if self._stop.is_set():
                return
            for slot in range(len(self.config.slots)):
                if slot in self.running:
                    continue
                queued = self.queue.jobs("queued")
                if not queued:
                    break
                self._launch(queued[0], slot)

    # -- a job's start and end ----------------------------------------------------------------------------------------

    def _launch(self, job: Job, slot: int) -> None:
        run_dir = Path(job.run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / STOP_REQUEST).unlink(missing_ok=True)
        events = run_dir / EVENTS_NAME
        offset = events.stat().st_size if events.exists() else 0
        job = self.queue.update(job.id, state="running", slot=slot, events_offset=offset, exit_code=None,
                                started=job.started or time.time(), finished=None, error=None, handle=None)
        command = [self.config.python, "main.py", *job.launch]
        log.info("job %s: %s", job.id, " ".join(command[1:]))
        try:
            handle = self.executor.start(command, run_dir, self.config.slots[slot])
        except Exception as exc:  # noqa: BLE001 - a job that cannot start fails; the queue goes on
            log.exception("job %s could not start", job.id)
            self.queue.update(job.id, state="failed", finished=time.time(),
                              error={"message": f"the job could not start: {exc}", "problems": None, "code": None})
            return
        self.running[slot] = (job.id, handle)
        self.queue.update(job.id, handle=handle.name)

    def _ended(self, job_id: str, handle: Handle, slot: int) -> None:
        job = self.queue.get(job_id)
        if job is None:  # deleted while it ran
            return
        run_dir = Path(job.run_dir)
        did = outcome(run_dir, job.events_offset)
        end, code = did.end, handle.exit_code()
        kind = end.get("event") if end is not None else None
        (run_dir / STOP_REQUEST).unlink(missing_ok=True)
        if kind == "completed":
            self.queue.update(job.id, state="completed", finished=time.time(), exit_code=code)
        elif kind == "failed":
            self.queue.update(job.id, state="failed", finished=time.time(), exit_code=code or end.get("code"),
                              error={k: end.get(k) for k in ("message", "problems", "code")})
        elif job.cancel or (kind == "stopped" and not handle.adopted):
            self.queue.update(job.id, state="stopped", finished=time.time(), exit_code=code, cancel=False)
        elif code in (1, 2):  # failed before it could say so in its events (Hydra, a bug at start)
            self.queue.update(job.id, state="failed", finished=time.time(), exit_code=code,
                              error={"message": _log_tail(run_dir).strip(), "problems": None, "code": code})
        else:
            self._interrupted(job, did, code, slot, handle.adopted)

    def _interrupted(self, job: Job, did: Outcome, code: int | None, slot: int, adopted: bool) -> None:
        """The process died, or its renderer stopped because the server went away: resume it now (unless it died
        under this server ``max_attempts`` times in a row without finishing a frame)."""
        retries = 0 if did.progressed or adopted else job.retries + 1
        if retries >= self.config.max_attempts:
            self.queue.update(job.id, state="failed", finished=time.time(), exit_code=code, error={
                "message": f"the job's process died {retries} times in a row without finishing a frame (last exit "
                           f"status {code}); its frames are kept: resume it when the cause is fixed",
                "problems": None, "code": code})
            return
        started = did.started
        # a run that began continues from its run dir; a branch or resume that had not begun is asked again (a
        # resume of its folder would drop a branch's changes)
        fresh = not any(str(a).startswith("resume=") for a in job.launch)
        began = started or (fresh and Path(job.run_dir, "config.yaml").is_file())
        launch = resume_launch(job.run_dir) if began else job.launch
        log.warning("job %s: its process ended without finishing (exit status %s); resuming it", job.id, code)
        job = self.queue.update(job.id, launch=launch, attempts=job.attempts + 1, retries=retries)
        self._launch(job, slot)

    # -- requests from the API ------------------------------------------------------------------------------------

    def stop_job(self, job_id: str) -> bool:
        """Ask a running job's process to stop after its current frame; False when it has none here."""
        with self._lock:
            for _, (jid, handle) in self.running.items():
                if jid == job_id:
                    job = self.queue.get(job_id)
                    handle.stop(outcome(Path(job.run_dir), job.events_offset).started)
                    return True
        return False

    def running_ids(self) -> set[str]:
        with self._lock:
            return {jid for jid, _ in self.running.values()}
