"""Jobs rendered by a live server process: the event stream delivers a job's events while it runs; cancel stops a
running job after its frame (resumable), resume finishes it, branch renders again from a frame; the client follows a
job with its progress bar and exits as main.py does."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from studio.studio_support import TINY_JOB, events_of, studio_process, wait_event, wait_state  # noqa: F401
from support import frame_hashes

from conftest import ROOT

from render.studio.client import sse_events


def read_stream(client, job_id: str) -> list[tuple[dict, str]]:
    """The job's Server-Sent Events as they come, each with the job's state when it arrived."""
    received = []
    with client.stream("GET", f"/api/jobs/{job_id}/events", timeout=None) as stream:
        for kind, event in sse_events(stream.iter_lines()):
            assert event["event"] == kind
            state = client.get(f"/api/jobs/{job_id}").json()["state"] if kind == "frame_done" else None
            received.append((event, state))
    return received


def test_the_event_stream_delivers_a_job_live(studio_process):
    studio = studio_process(env={"DISCO_ANIM_FAULT": "pause:frame:1", "DISCO_ANIM_FAULT_PAUSE": "0.5"}).start()
    with studio.client() as client:
        job = client.post("/api/jobs", json={"overrides": TINY_JOB}).json()
        received = read_stream(client, job["id"])
        kinds = [e["event"] for e, _ in received]
        assert kinds[0] == "run_started" and kinds[-1] == "completed"
        assert [e["frame"] for e, _ in received if e["event"] == "frame_done"] == list(range(6))
        assert [s for e, s in received if e["event"] == "frame_done"][0] == "running"  # seen while it rendered
        assert [e for e, _ in received] == events_of(job["run_dir"])  # the file, line by line
        done = client.get(f"/api/jobs/{job['id']}").json()
        assert done["state"] == "completed" and done["frames_done"] == 6 and done["exit_code"] == 0
        again = client.get(f"/api/jobs/{job['id']}/events", params={"after": len(received) - 1}).text
        assert again.count("event: ") == 1 and "event: completed" in again  # a reconnect skips what it has
        video = client.get(f"/api/jobs/{job['id']}/files/TimeToDisco.mp4")
        assert video.status_code == 200 and video.content == (Path(job["run_dir"]) / "TimeToDisco.mp4").read_bytes()


def test_the_client_prints_a_refused_config_and_exits_2(studio_process):
    studio = studio_process(args=("--workers", "0")).start()
    refused = subprocess.run([sys.executable, "-m", "render.studio", "submit", "--server", studio.url,
                              "animation=2d_zoom", "animation.zoomm=1.1"], cwd=ROOT, capture_output=True, text=True,
                             timeout=120)
    assert refused.returncode == 2
    assert "animation.zoomm: unknown setting" in refused.stderr and "did you mean animation.zoom?" in refused.stderr


@pytest.mark.slow
def test_cancel_resume_branch_and_the_client(studio_process):
    studio = studio_process(env={"DISCO_ANIM_FAULT": "pause:frame:2", "DISCO_ANIM_FAULT_PAUSE": "2"}).start()
    with studio.client() as client:
        job = client.post("/api/jobs", json={"overrides": TINY_JOB}).json()
        run_dir = Path(job["run_dir"])
        wait_event(run_dir, lambda e: e["event"] == "frame_started" and e["frame"] == 2)
        cancelled = client.post(f"/api/jobs/{job['id']}/cancel").json()
        assert cancelled["state"] == "running" and cancelled["cancel_requested"]
        stopped = wait_state(client, job["id"])
        assert stopped["state"] == "stopped" and stopped["frames_done"] == 3 and stopped["exit_code"] == 143
        assert client.post(f"/api/jobs/{job['id']}/resume", json={"overrides": ["seed=9"]}).status_code == 422
        assert client.post(f"/api/jobs/{job['id']}/resume").json()["state"] in ("queued", "running")
        done = wait_state(client, job["id"])
        assert done["state"] == "completed" and done["frames_done"] == 6
        found = events_of(run_dir)
        assert [e["frame"] for e in found if e["event"] == "frame_done"] == list(range(6))
        before = frame_hashes(run_dir)

        branched = client.post(f"/api/jobs/{job['id']}/branch",
                               json={"frame": 4, "overrides": ["animation.zoom='0:(1.2)'"]})
        assert branched.status_code == 200, branched.json()
        assert wait_state(client, job["id"])["state"] == "completed"
        after = frame_hashes(run_dir)
        kept = [f"{i:05d}.png" for i in range(4)]
        assert {k: after[k] for k in kept} == {k: before[k] for k in kept}
        assert after["00004.png"] != before["00004.png"] and after["00005.png"] != before["00005.png"]
        assert events_of(run_dir)[len(found)]["branch_frame"] == 4

    follow = subprocess.run([sys.executable, "-m", "render.studio", "submit", "--server", studio.url, *TINY_JOB],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert follow.returncode == 0, follow.stderr
    assert follow.stdout.startswith("done: 6 frames in ") and "frame" in follow.stderr  # the bar on stderr


def test_a_job_that_fails_in_its_process_has_the_named_error(studio_process):
    studio = studio_process().start()
    with studio.client() as client:
        job = client.post("/api/jobs", json={"overrides": [*TINY_JOB, "device=cuda:7"]})
        assert job.status_code == 201  # the device is looked for when the run resolves its assets
        failed = wait_state(client, job.json()["id"])
        assert failed["state"] == "failed" and failed["exit_code"] == 2
        assert failed["error"]["problems"][0]["setting"] == "device" and "device" in failed["error"]["message"]
        assert client.get("/openapi.json").status_code == 200 and client.get("/docs").status_code == 200
