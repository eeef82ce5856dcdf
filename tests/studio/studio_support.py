"""The studio's test helpers: an app under FastAPI's TestClient that holds its queue (no renders), a live uvicorn in
a thread, a live server process (``python -m render.studio serve``) to kill and restart, and tiny jobs."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from conftest import ROOT

from render.studio.app import create_app
from render.studio.config import StudioConfig

# a preview run of six 64x64 frames: no network, no weights, a few seconds (mostly the process start)
TINY_JOB = ["animation=2d_zoom", "generator=preview", "animation.max_frames=6", "width=64", "height=64",
            "output.quality=false", "output.previews=false", "output.preset=ultrafast"]
END_STATES = ("stopped", "failed", "completed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def held_client(tmp_path):
    """A TestClient on a studio that holds its queue (no slots): the API without renders."""
    from fastapi.testclient import TestClient

    app = create_app(StudioConfig(home=tmp_path / "home", slots=()))
    with TestClient(app) as client:
        yield client


class ThreadServer:
    """uvicorn serving an app on 127.0.0.1 in a thread of the test process."""

    def __init__(self, app, port: int):
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{port}"

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(30)


class StudioProcess:
    """``python -m render.studio serve`` as a process: started, killed, started again on the same home."""

    def __init__(self, home: Path, env: dict | None = None, args: tuple = ()):
        self.home, self.port, self.args = Path(home), free_port(), list(args)
        self.env = dict(os.environ, **(env or {}))
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> "StudioProcess":
        self.home.mkdir(parents=True, exist_ok=True)
        log = open(self.home / "serve.log", "ab")
        self.process = subprocess.Popen([sys.executable, "-m", "render.studio", "serve", "--home", str(self.home),
                                         "--port", str(self.port), *self.args], cwd=ROOT, env=self.env,
                                        stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, (self.home / "serve.log").read_text()
            try:
                if httpx.get(f"{self.url}/api/jobs", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the studio did not start"
            time.sleep(0.2)

    def kill(self, signum=signal.SIGKILL) -> None:
        self.process.send_signal(signum)
        self.process.wait(60)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


@pytest.fixture
def studio_process(tmp_path):
    made = []

    def make(env=None, args=()):
        made.append(StudioProcess(tmp_path / "home", env, args))
        return made[-1]

    yield make
    for studio in made:
        if studio.process is not None and studio.process.poll() is None:
            studio.kill(signal.SIGTERM)


def wait_state(client: httpx.Client, job_id: str, states=END_STATES, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] in states:
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job['state']}"
        time.sleep(0.2)


def events_of(run_dir) -> list[dict]:
    path = Path(run_dir) / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def wait_event(run_dir, match, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in events_of(run_dir) if match(e)]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"no such event in {run_dir}/events.jsonl"
        time.sleep(0.05)
