"""``--executor submitit-local``: jobs dispatched through submitit (the engine of ``--executor slurm`` and of the
sweeps' ``hydra/launcher=slurm``) are followed through their run dirs and events as local jobs are; cancel (through
``stop.request``) and resume work the same."""
from __future__ import annotations

from pathlib import Path

import pytest
from studio.studio_support import TINY_JOB, events_of, studio_process, wait_event, wait_state  # noqa: F401

from render.run.signals import STOP_REQUEST


@pytest.mark.slow
def test_a_submitit_job_is_followed_cancelled_and_resumed(studio_process):
    studio = studio_process(env={"DISCO_ANIM_FAULT": "pause:frame:2", "DISCO_ANIM_FAULT_PAUSE": "2"},
                            args=("--executor", "submitit-local", "--executor-option", "timeout_min=10")).start()
    with studio.client() as client:
        job = client.post("/api/jobs", json={"overrides": TINY_JOB}).json()
        run_dir = Path(job["run_dir"])
        wait_event(run_dir, lambda e: e["event"] == "frame_started" and e["frame"] == 2)
        assert client.get(f"/api/jobs/{job['id']}").json()["state"] == "running"
        client.post(f"/api/jobs/{job['id']}/cancel")
        stopped = wait_state(client, job["id"])
        assert stopped["state"] == "stopped" and stopped["frames_done"] == 3, stopped
        assert events_of(run_dir)[-1]["event"] == "stopped" and not (run_dir / STOP_REQUEST).exists()
        assert list((studio.home / "submitit").glob("*/*_submitted.pkl"))  # it went through submitit
        client.post(f"/api/jobs/{job['id']}/resume")
        done = wait_state(client, job["id"])
        assert done["state"] == "completed" and done["frames_done"] == 6
        assert [e["frame"] for e in events_of(run_dir) if e["event"] == "frame_done"] == list(range(6))
