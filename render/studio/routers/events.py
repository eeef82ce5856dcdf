"""``/api/jobs/{id}/events``: a job's ``events.jsonl`` as Server-Sent Events, live until the job ends."""
from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import StreamingResponse

from render.run.events import EVENTS_NAME, read_events
from render.studio.jobs import Jobs
from render.studio.queue_db import ACTIVE
from render.studio.routers.jobs import jobs_service

router = APIRouter(prefix="/api/jobs", tags=["events"])
POLL_S = 0.2
KEEPALIVE_S = 15.0


def sse(number: int, event: dict) -> str:
    return f"id: {number}\nevent: {event.get('event', 'message')}\ndata: {json.dumps(event)}\n\n"


async def follow(jobs: Jobs, job_id: str, path: Path, after: int, live: bool, request: Request):
    """The events after the first ``after``, then each as it is written while the job is queued or running."""
    offset, number, quiet_since = 0, 0, time.monotonic()
    while True:
        job = jobs.queue.get(job_id)
        ended = job is None or job.state not in ACTIVE
        events, offset = read_events(path, offset)
        for event in events:
            number += 1
            if number > after:
                yield sse(number, event)
        if events:
            quiet_since = time.monotonic()
        if ended or not live or await request.is_disconnected():
            return
        if time.monotonic() - quiet_since > KEEPALIVE_S:
            quiet_since = time.monotonic()
            yield ": keep-alive\n\n"
        await asyncio.sleep(POLL_S)


@router.get("/{job_id}/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}}})
async def events(job_id: str, request: Request, after: int = 0, live: bool = True,
                 last_event_id: int | None = Header(None), jobs: Jobs = Depends(jobs_service)):
    """``text/event-stream``: each event of the job's run (``event:`` its kind, ``data:`` its JSON, ``id:`` its
    number); a reconnecting client's ``Last-Event-ID`` (or ``?after=N``) skips what it has. ``?live=false`` ends
    after the events written so far."""
    job = jobs.get(job_id)
    path = Path(job.run_dir) / EVENTS_NAME
    start = last_event_id if last_event_id is not None else after
    return StreamingResponse(follow(jobs, job_id, path, start, live, request), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
