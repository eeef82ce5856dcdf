"""The durable queue: every job in ``queue.sqlite`` (SQLite in WAL mode, synchronous=FULL), each change committed
before the caller goes on, so a server killed at any point restarts with the queue as it was."""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Iterator

ACTIVE = ("queued", "running")
STATES = ("queued", "running", "stopped", "failed", "completed")
JSON_COLUMNS = ("overrides", "launch", "error")
SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    position REAL NOT NULL,
    overrides TEXT NOT NULL,
    launch TEXT NOT NULL,
    run_dir TEXT NOT NULL,
    n_frames INTEGER,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    error TEXT,
    exit_code INTEGER,
    cancel INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    retries INTEGER NOT NULL DEFAULT 0,
    slot INTEGER,
    handle TEXT,
    events_offset INTEGER NOT NULL DEFAULT 0
)"""


@dataclass
class Job:
    """One job. ``launch`` is the command line (after ``python main.py``) of its current or next process;
    ``events_offset`` where that process's events begin in ``events.jsonl``; ``handle`` the executor's name for
    it (a pid, a submitit job id)."""

    id: str
    state: str
    position: float
    overrides: list[str]
    launch: list[str]
    run_dir: str
    n_frames: int | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    error: dict | None = None
    exit_code: int | None = None
    cancel: bool = False
    attempts: int = 0  # automatic resumes after its process died or its server went away
    retries: int = 0  # of them in a row without a frame finished (the scheduler gives up after a few)
    slot: int | None = None
    handle: str | None = None
    events_offset: int = 0


COLUMNS = tuple(f.name for f in fields(Job))


def _to_row(values: dict) -> dict:
    return {k: json.dumps(v) if k in JSON_COLUMNS and v is not None else (int(v) if k == "cancel" else v)
            for k, v in values.items()}


def _from_row(row: sqlite3.Row) -> Job:
    values = {k: row[k] for k in COLUMNS}
    for key in JSON_COLUMNS:
        values[key] = json.loads(values[key]) if values[key] is not None else None
    values["cancel"] = bool(values["cancel"])
    return Job(**values)


class JobQueue:
    """The jobs table; safe to use from the server's threads (one connection, one lock)."""

    def __init__(self, path: Path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One committed transaction (rolled back if the block raises)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def add(self, job: Job) -> Job:
        with self.transaction() as db:
            job.position = _next_position(db)
            values = _to_row(job.__dict__)
            db.execute(f"INSERT INTO jobs ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                       tuple(values.values()))
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            row = self._conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _from_row(row) if row is not None else None

    def jobs(self, state: str | None = None) -> list[Job]:
        """Jobs in queue order (by position; a job's position is kept when it leaves the queue)."""
        query, args = "SELECT * FROM jobs", ()
        if state is not None:
            query, args = query + " WHERE state = ?", (state,)
        with self._lock:
            rows = self._conn.execute(query + " ORDER BY position", args).fetchall()
        return [_from_row(r) for r in rows]

    def update(self, job_id: str, **values) -> Job:
        unknown = set(values) - set(COLUMNS)
        if unknown:
            raise KeyError(unknown)
        values = _to_row(values)
        with self.transaction() as db:
            db.execute(f"UPDATE jobs SET {', '.join(f'{k} = ?' for k in values)} WHERE id = ?",
                       (*values.values(), job_id))
        return self.get(job_id)

    def requeue(self, job_id: str, **values) -> Job:
        """Back in the queue, last."""
        with self.transaction() as db:
            position = _next_position(db)
        return self.update(job_id, state="queued", position=position, **values)

    def delete(self, job_id: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def move(self, job_id: str, index: int) -> list[Job]:
        """Put a queued job at ``index`` of the queue (0: next); the queue in its new order."""
        with self.transaction() as db:
            queued = [r["id"] for r in db.execute("SELECT id FROM jobs WHERE state = 'queued' ORDER BY position")]
            queued.remove(job_id)
            queued.insert(max(0, min(index, len(queued))), job_id)
            # positions 1..n below every other job's: fresh numbers, the order of the other jobs kept
            base = db.execute("SELECT COALESCE(MIN(position), 0) FROM jobs").fetchone()[0]
            for i, jid in enumerate(queued):
                db.execute("UPDATE jobs SET position = ? WHERE id = ?", (base - len(queued) + i, jid))
        return self.jobs("queued")


def _next_position(db: sqlite3.Connection) -> float:
    return float(db.execute("SELECT COALESCE(MAX(position), 0) FROM jobs").fetchone()[0]) + 1
