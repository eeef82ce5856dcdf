"""A job's files are served from its run dir only: against a live uvicorn on 127.0.0.1, raw requests that try
``../``, encoded dots, absolute paths, NUL bytes and symlinks out of the run dir."""
from __future__ import annotations

import http.client
import os
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from studio.studio_support import TINY_JOB, ThreadServer, free_port

from render.studio.app import create_app
from render.studio.config import StudioConfig

SECRET = "not for the web\n"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A live studio (holding its queue) with one job whose run dir has a frame, a report and two symlinks out."""
    root = tmp_path_factory.mktemp("files")
    (root / "secret.txt").write_text(SECRET)
    with ThreadServer(create_app(StudioConfig(home=root / "home", slots=())), free_port()) as server:
        job = httpx.post(f"{server.url}/api/jobs", json={"overrides": TINY_JOB}).json()
        run_dir = Path(job["run_dir"])
        (run_dir / "frames").mkdir()
        frame = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)
        Image.fromarray(frame).save(run_dir / "frames" / "00000.png")
        (run_dir / "report.html").write_text("<html>report</html>")
        (run_dir / ".lock").write_text("123\n")
        os.symlink(root / "secret.txt", run_dir / "leak.txt")
        os.symlink(root, run_dir / "up")
        os.symlink(run_dir / "report.html", run_dir / "inside.html")
        yield server, job, frame


def raw_get(server, path: str) -> tuple[int, bytes]:
    """GET with the path sent exactly as written (no client normalises the dots away)."""
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.putrequest("GET", path, skip_accept_encoding=True)
    connection.endheaders()
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, body


def test_frames_and_reports_are_served(served):
    server, job, frame = served
    base = f"/api/jobs/{job['id']}/files"
    status, body = raw_get(server, f"{base}/frames/00000.png")
    assert status == 200
    from io import BytesIO

    assert np.array_equal(np.asarray(Image.open(BytesIO(body))), frame)
    assert raw_get(server, f"{base}/report.html") == (200, b"<html>report</html>")
    assert raw_get(server, f"{base}/inside.html")[0] == 200  # a symlink that stays inside
    listed = {f["path"] for f in httpx.get(f"{server.url}{base}").json()}
    assert {"frames/00000.png", "report.html", "inside.html"} <= listed
    assert not listed & {"leak.txt", ".lock"} and not any(p.startswith("up/") for p in listed)


@pytest.mark.parametrize("attempt", [
    "../../../secret.txt", "frames/../../../secret.txt", "%2e%2e/%2e%2e/%2e%2e/secret.txt",
    "%2E%2E%2F%2E%2E%2F%2E%2E%2Fsecret.txt", "..%2f..%2f..%2fsecret.txt", "frames/%2e%2e/%2e%2e/%2e%2e/secret.txt",
    "%2fetc%2fpasswd", "/etc/passwd", "//etc/passwd", "frames/00000.png%00.txt", "%00", "..%5c..%5csecret.txt",
    "leak.txt", "up/secret.txt", "up/home/queue.sqlite", ".lock", ".hydra/config.yaml",
])
def test_nothing_outside_the_run_dir_is_served(served, attempt):
    server, job, _ = served
    status, body = raw_get(server, f"/api/jobs/{job['id']}/files/{attempt}")
    assert status in (400, 403, 404), (attempt, status)
    assert SECRET.encode() not in body and b"root:" not in body


def test_a_job_id_cannot_climb_either(served):
    server, _, _ = served
    for attempt in ("..", "%2e%2e", "..%2f..", "x/../../secret.txt"):
        status, body = raw_get(server, f"/api/jobs/{attempt}/files/secret.txt")
        assert status in (400, 403, 404) and SECRET.encode() not in body
