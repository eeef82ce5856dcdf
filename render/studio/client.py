"""``python -m render.studio submit <overrides>``: a job posted to a running studio, its events followed in the
terminal with a progress bar. Exit status as ``main.py``'s: 0 completed, 2 refused or failed with a named error,
143 stopped (resumable)."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Iterable, Iterator

import httpx
from tqdm import tqdm

EXIT = {"completed": 0, "failed": 2, "stopped": 143}


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def print_problems(problems: list[dict]) -> None:
    print(f"error: {len(problems)} problem{'s' if len(problems) != 1 else ''} in the config (nothing was queued):",
          file=sys.stderr)
    for p in problems:
        print(f"  - {p.get('setting')}: {p.get('problem')}\n    value: {p.get('value')!r}\n    fix: {p.get('fix')}",
              file=sys.stderr)


def submit(server: str, overrides: list[str], *, token: str | None = None, config: Path | None = None,
           follow: bool = True) -> int:
    body = {"overrides": overrides}
    if config is not None:
        body["config"] = Path(config).read_text(encoding="utf-8")
    with httpx.Client(base_url=server, headers=_headers(token), timeout=60) as client:
        answer = client.post("/api/jobs", json=body)
        if answer.status_code == 422:
            print_problems(answer.json().get("problems", []))
            return 2
        answer.raise_for_status()
        job = answer.json()
        print(f"job {job['id']} {job['state']}, run dir {job['run_dir']}", file=sys.stderr)
        if not follow:
            print(job["id"])
            return 0
        return watch(client, job)


def watch(client: httpx.Client, job: dict) -> int:
    """Follow the job's events to its end with a bar of frames; the exit status of how it ended."""
    bar = tqdm(total=job.get("n_frames"), desc=f"job {job['id']}", unit="frame", dynamic_ncols=True)
    end = None
    with client.stream("GET", f"/api/jobs/{job['id']}/events", timeout=None) as stream:
        for kind, event in sse_events(stream.iter_lines()):
            end = _show(bar, kind, event) or end
    bar.close()
    final = client.get(f"/api/jobs/{job['id']}").json()
    state = final["state"]
    if state == "failed" and final.get("error"):
        print(f"error: {final['error'].get('message')}", file=sys.stderr)
    elif state == "completed":
        print(f"done: {final['frames_done']} frames in {final['run_dir']}" +
              (f", video {end['video']}" if end and end.get("video") else ""))
    elif state == "stopped":
        print(f"stopped after {final['frames_done']} frames; continue with: POST /api/jobs/{job['id']}/resume",
              file=sys.stderr)
    return EXIT.get(state, 1)


def sse_events(lines: Iterable[str]) -> Iterator[tuple[str | None, dict]]:
    """(kind, event) of each Server-Sent Event in the stream's lines."""
    kind = None
    for line in lines:
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            yield kind, json.loads(line[6:])


def _show(bar: tqdm, kind: str | None, event: dict) -> dict | None:
    if kind == "run_started":
        bar.reset(total=event.get("n_frames"))
        bar.update(event.get("start_frame") or 0)
    elif kind == "frame_done":
        bar.update(int(event["frame"]) + 1 - bar.n)
        bar.set_postfix_str(f"{event.get('seconds', 0):.1f} s/frame")
    elif kind == "step":
        bar.set_postfix_str(f"frame {event['frame']} step {event['step'] + 1}/{event['n_steps']}")
    return event if kind in EXIT else None
