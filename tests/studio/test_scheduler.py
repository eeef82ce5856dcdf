"""The scheduler's decisions with a stand-in executor (no processes): queue order and slots, how an end is read from
the events, what a died process is resumed with, and when it gives up."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from render.studio.config import StudioConfig
from render.studio.queue_db import Job, JobQueue
from render.studio.scheduler import Scheduler


class Process:
    def __init__(self, launch, events=(), code=None, adopted=False):
        self.launch, self.events, self.code, self.adopted = launch, list(events), code, adopted
        self.name, self.running, self.stopped = "1", True, False

    def alive(self):
        return self.running

    def exit_code(self):
        return self.code

    def stop(self, started):
        self.stopped = True


class StandIn:
    """Starts nothing: remembers each command; the test says what the process wrote and how it ended."""

    def __init__(self):
        self.started: list[Process] = []

    def start(self, command, run_dir, device):
        self.started.append(Process(command[2:]))
        self.started[-1].run_dir = Path(run_dir)
        return self.started[-1]

    def adopt(self, run_dir, name):
        process = Process(None, adopted=True)
        process.running = False
        return process


def finish(process: Process, *events: dict, code=0) -> None:
    with open(process.run_dir / "events.jsonl", "a") as fh:
        for event in events:
            fh.write(json.dumps(event) + "\n")
    process.running, process.code = False, code


@pytest.fixture
def setup(tmp_path):
    config = StudioConfig(home=tmp_path, slots=(None,))
    queue = JobQueue(config.queue_path)
    executor = StandIn()
    scheduler = Scheduler(config, queue, executor)

    def add(name, launch=None):
        run_dir = config.runs_dir / name
        run_dir.mkdir(parents=True)
        return queue.add(Job(name, "queued", 0, [], launch or [f"seed={len(name)}"], str(run_dir)))
    yield scheduler, queue, executor, add
    queue.close()


def test_one_job_per_slot_in_queue_order(setup):
    scheduler, queue, executor, add = setup
    for name in "abc":
        add(name)
    queue.move("c", 0)
    scheduler.tick()
    assert [j.id for j in queue.jobs("running")] == ["c"] and len(executor.started) == 1
    finish(executor.started[0], {"event": "run_started", "start_frame": 0}, {"event": "completed"})
    scheduler.tick()
    assert queue.get("c").state == "completed" and [j.id for j in queue.jobs("running")] == ["a"]


def test_a_named_error_fails_the_job_with_it(setup):
    scheduler, queue, executor, add = setup
    add("a")
    scheduler.tick()
    finish(executor.started[0], {"event": "failed", "code": 2, "message": "device: no such device",
                                 "problems": [{"setting": "device"}]}, code=2)
    scheduler.tick()
    job = queue.get("a")
    assert job.state == "failed" and job.error["problems"][0]["setting"] == "device" and job.exit_code == 2


def test_a_killed_process_resumes_from_its_run_dir_and_gives_up_without_progress(setup):
    scheduler, queue, executor, add = setup
    add("a")
    scheduler.tick()
    finish(executor.started[0], {"event": "run_started"}, {"event": "frame_done", "frame": 0}, code=-9)
    scheduler.tick()
    assert executor.started[1].launch == [f"resume='{queue.get('a').run_dir}'"]
    for n in range(1, 4):  # dies three times more, without a frame: it fails at the third death in a row
        finish(executor.started[n], code=-9)
        scheduler.tick()
    job = queue.get("a")
    assert job.state == "failed" and "3 times in a row" in job.error["message"] and job.attempts == 3
    assert len(executor.started) == 4


def test_a_branch_that_had_not_begun_is_asked_again(setup):
    scheduler, queue, executor, add = setup
    job = add("a")
    (Path(job.run_dir) / "config.yaml").write_text("seed: 1\n")
    branch = [f"resume='{job.run_dir}'", "resume_from=2", "seed=4"]
    queue.update("a", launch=branch)
    scheduler.tick()
    finish(executor.started[0], code=-9)
    scheduler.tick()
    assert executor.started[1].launch == branch


def test_a_job_the_last_server_ran_is_resumed_first_without_counting_as_a_death(setup):
    scheduler, queue, executor, add = setup
    add("a"), add("b")
    queue.update("b", state="running", slot=0)
    (Path(queue.get("b").run_dir) / "config.yaml").write_text("seed: 1\n")
    scheduler._recover()
    scheduler.tick()
    assert [p.launch for p in executor.started] == [[f"resume='{queue.get('b').run_dir}'"]]
    assert queue.get("b").retries == 0 and queue.get("a").state == "queued"


def test_a_stop_the_user_asked_for_is_stopped(setup):
    scheduler, queue, executor, add = setup
    add("a")
    scheduler.tick()
    queue.update("a", cancel=True)
    assert scheduler.stop_job("a") and executor.started[0].stopped
    finish(executor.started[0], {"event": "run_started"}, {"event": "stopped"}, code=143)
    scheduler.tick()
    assert queue.get("a").state == "stopped" and not queue.get("a").cancel
