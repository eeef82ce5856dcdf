"""A job's progress from its run dir's ``events.jsonl``, read incrementally (each file from where the last read
ended) and folded into frames done, frames in all, the ETA, the current step and how its last process ended."""
from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from pathlib import Path

from render.run.events import ENDS, EVENTS_NAME, read_events


@dataclass(frozen=True)
class Progress:
    frames_done: int = 0
    n_frames: int | None = None
    eta_s: float | None = None
    step: dict | None = None  # {"frame", "step", "n_steps"} of the frame forming
    last: dict | None = None  # the newest event


def fold(progress: Progress, event: dict) -> Progress:
    kind = event.get("event")
    if kind == "run_started":
        return replace(progress, frames_done=int(event.get("start_frame") or 0), n_frames=event.get("n_frames"),
                       eta_s=None, step=None, last=event)
    if kind == "frame_done":
        return replace(progress, frames_done=int(event["frame"]) + 1, eta_s=event.get("eta_s"), step=None,
                       last=event)
    if kind == "step":
        return replace(progress, step={k: event.get(k) for k in ("frame", "step", "n_steps")}, last=event)
    if kind in ENDS:
        return replace(progress, eta_s=0.0 if kind == "completed" else None, step=None, last=event)
    return replace(progress, last=event)


class ProgressCache:
    """Run dir -> (bytes read, progress so far)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._seen: dict[Path, tuple[int, Progress]] = {}

    def get(self, run_dir: Path) -> Progress:
        path = Path(run_dir) / EVENTS_NAME
        with self._lock:
            offset, progress = self._seen.get(path, (0, Progress()))
            try:
                if path.stat().st_size < offset:  # the file was replaced: read it again
                    offset, progress = 0, Progress()
            except FileNotFoundError:
                return Progress()
            events, offset = read_events(path, offset)
            for event in events:
                progress = fold(progress, event)
            self._seen[path] = (offset, progress)
            return progress

    def forget(self, run_dir: Path) -> None:
        with self._lock:
            self._seen.pop(Path(run_dir) / EVENTS_NAME, None)


@dataclass(frozen=True)
class Outcome:
    """What the process whose events begin at an offset did: its end event (None: it said none), whether it began
    rendering and whether it finished a frame."""

    end: dict | None
    started: bool
    progressed: bool


def outcome(run_dir: Path, offset: int) -> Outcome:
    events, _ = read_events(Path(run_dir) / EVENTS_NAME, offset)
    ends = [e for e in events if e.get("event") in ENDS]
    kinds = {e.get("event") for e in events}
    return Outcome(ends[-1] if ends else None, "run_started" in kinds, "frame_done" in kinds)
