"""``events.jsonl``: what a run does as it happens, one JSON object a line, appended and flushed at once (``tail -f``
it; the studio streams it).

Every line has ``event`` and ``time`` (seconds since the epoch). The kinds: ``run_started`` (``start_frame``,
``n_frames``, size, seed, ``resumed``, ``branch_frame``), ``frame_started``, ``frame_done`` (its ``seconds`` and the
``eta_s`` of the rest), ``step`` (sampler steps, at most a few a second), ``progress_image`` (``progress.png`` or a
partial written), and one of the ends: ``completed`` (with the ``video``), ``stopped`` (resumable) or ``failed``
(the named error). Writing an event never stops a run: a failed write is logged once.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Callable

log = logging.getLogger(__name__)
EVENTS_NAME = "events.jsonl"
ENDS = ("completed", "stopped", "failed")
STEP_INTERVAL = 0.25  # seconds between two step events of a frame (its last step is always written)


def append_event(run_dir: Path, event: str, **fields) -> None:
    """One event line in ``run_dir/events.jsonl``."""
    RunEvents(run_dir).emit(event, **fields)


class RunEvents:
    """The run's event log; ``n_frames`` gives the frame events their ETA."""

    def __init__(self, run_dir: Path, n_frames: int | None = None):
        self.path = Path(run_dir) / EVENTS_NAME
        self.n_frames = n_frames
        self._lock = threading.Lock()
        self._frame_seconds: list[float] = []
        self._last_step = 0.0
        self._warned = False

    def emit(self, event: str, **fields) -> None:
        line = json.dumps({"event": event, "time": round(time.time(), 3), **fields}, default=str)
        with self._lock:
            try:
                with open(self.path, "a", encoding="utf-8") as fh:
                    fh.write(line + "\n")
                    fh.flush()
            except OSError as exc:
                if not self._warned:
                    log.warning("could not write %s (%s); the run goes on", self.path, exc)
                    self._warned = True

    def run_started(self, plan, start_frame: int, point) -> None:
        """The frames begin (the models are built): from ``start_frame``, resumed or branched at ``point``."""
        branch = point.branch if point is not None else None
        self.emit("run_started", start_frame=start_frame, n_frames=plan.n_frames, width=plan.width,
                  height=plan.height, seed=plan.seed, resumed=point is not None and branch is None,
                  branch_frame=branch.frame if branch is not None else None)

    def frame_started(self, frame: int) -> None:
        self.emit("frame_started", frame=frame)

    def frame_hook(self, on_frame: Callable | None) -> Callable:
        """The loop's ``on_frame``: ``on_frame`` (the checkpoint) first, then the ``frame_done`` event, so a frame
        is announced only once it counts as done."""
        def done(result) -> None:
            if on_frame is not None:
                on_frame(result)
            total = sum(result.seconds.values())
            self._frame_seconds.append(total)
            fields = {"frame": result.frame, "seconds": round(total, 3),
                      "parts": {k: round(v, 3) for k, v in result.seconds.items()}}
            if self.n_frames is not None:
                fields["eta_s"] = round((self.n_frames - result.frame - 1) * self.mean_frame_seconds, 1)
            self.emit("frame_done", **fields)
        return done

    @property
    def mean_frame_seconds(self) -> float:
        recent = self._frame_seconds[-20:]
        return sum(recent) / len(recent) if recent else 0.0

    def step_hook(self, on_step: Callable | None) -> Callable:
        """The generator's step hook: a ``step`` event (throttled), then ``on_step`` (progress images)."""
        def step(frame: int, step: int, n_steps: int, pred_xstart) -> None:
            now = time.monotonic()
            if now - self._last_step >= STEP_INTERVAL or step == n_steps - 1:
                self._last_step = now
                self.emit("step", frame=frame, step=step, n_steps=n_steps)
            if on_step is not None:
                on_step(frame, step, n_steps, pred_xstart)
        return step

    def image_written(self, path: str, frame: int, step: int) -> None:
        self.emit("progress_image", path=path, frame=frame, step=step)


def read_events(path: Path, offset: int = 0) -> tuple[list[dict], int]:
    """The whole lines of ``path`` from byte ``offset`` on, parsed (a line that is not JSON is skipped), and the
    offset after the last whole line (a line being written is left for the next read)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1
    events = []
    for raw in data[:end].splitlines():
        try:
            item = json.loads(raw)
        except ValueError:
            continue
        if isinstance(item, dict):
            events.append(item)
    return events, offset + end
