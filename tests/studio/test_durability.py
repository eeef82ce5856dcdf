"""The queue survives anything: three tiny jobs; the server SIGKILLed during the second one's frame 3 and started
again: all three complete, the second's frames are bit-identical to an uninterrupted run of the same config (the
third job), nothing is run twice from scratch and the queue order holds; the same with the second job's process
killed alone (the server keeps running, the job resumes)."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from studio.studio_support import TINY_JOB, events_of, studio_process, wait_event, wait_state  # noqa: F401
from support import frame_hashes

from render.run.lock import live_holder

PAUSE = {"DISCO_ANIM_FAULT": "pause:frame:3", "DISCO_ANIM_FAULT_PAUSE": "3"}  # frame 3 of every job takes 3 s


def submit_three(client) -> list[dict]:
    """Jobs A, B and C; C is B's config again: B's uninterrupted twin."""
    return [client.post("/api/jobs", json={"overrides": [*TINY_JOB, f"seed={seed}"]}).json() for seed in (1, 2, 2)]


def in_frame_3(job: dict) -> int:
    """Wait for ``job``'s frame 3 to begin; the pid of its renderer."""
    wait_event(job["run_dir"], lambda e: e["event"] == "frame_started" and e["frame"] == 3)
    pid = live_holder(Path(job["run_dir"]))
    assert pid is not None
    return pid


def check_outcome(client, jobs: list[dict]) -> None:
    a, b, c = (wait_state(client, job["id"], timeout=400) for job in jobs)
    assert [a["state"], b["state"], c["state"]] == ["completed"] * 3, (a, b, c)
    assert frame_hashes(Path(b["run_dir"])) == frame_hashes(Path(c["run_dir"]))  # bit-identical
    assert len(frame_hashes(Path(b["run_dir"]))) == 6
    starts = {}
    for job in (a, b, c):
        found = events_of(job["run_dir"])
        runs = [e for e in found if e["event"] == "run_started"]
        assert [r["start_frame"] for r in runs].count(0) == 1, runs  # nothing run twice from scratch
        assert [e["frame"] for e in found if e["event"] == "frame_done"] == list(range(6))  # each frame done once
        starts[job["id"]] = [r["time"] for r in runs]
    b_runs = starts[b["id"]]
    assert len(b_runs) == 2 and starts[a["id"]][-1] < b_runs[0]
    assert b_runs[-1] < starts[c["id"]][0]  # the interrupted job resumed before the next one started


@pytest.mark.slow
def test_a_server_killed_during_a_job_resumes_it_after_a_restart(studio_process):
    studio = studio_process(env=PAUSE).start()
    with studio.client() as client:
        jobs = submit_three(client)
    renderer = in_frame_3(jobs[1])
    studio.kill(signal.SIGKILL)
    deadline = time.monotonic() + 30  # the renderer is told by the parent-death signal: it ends its frame, stops
    while live_holder(Path(jobs[1]["run_dir"])) == renderer or _alive(renderer):
        assert time.monotonic() < deadline, "the renderer went on without its server"
        time.sleep(0.1)
    assert events_of(jobs[1]["run_dir"])[-1]["event"] == "stopped"
    assert not events_of(jobs[2]["run_dir"])  # the third job had not started

    restarted = studio_process(env=PAUSE)
    restarted.home = studio.home
    restarted.start()
    with restarted.client() as client:
        listed = client.get("/api/jobs").json()
        assert [j["id"] for j in listed] == [j["id"] for j in jobs]  # the queue as it was
        check_outcome(client, jobs)
        assert client.get(f"/api/jobs/{jobs[1]['id']}").json()["attempts"] == 1


@pytest.mark.slow
def test_a_job_process_killed_alone_resumes_and_the_server_goes_on(studio_process):
    studio = studio_process(env=PAUSE).start()
    with studio.client() as client:
        jobs = submit_three(client)
        os.kill(in_frame_3(jobs[1]), signal.SIGKILL)
        check_outcome(client, jobs)
        assert studio.process.poll() is None
        b = client.get(f"/api/jobs/{jobs[1]['id']}").json()
        assert b["attempts"] == 1 and b["exit_code"] == 0
        resumed = [e for e in events_of(b["run_dir"]) if e["event"] == "run_started"][-1]
        assert resumed["start_frame"] == 3 and resumed["resumed"] is True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie of the dead server's child counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False
