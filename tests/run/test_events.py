"""``events.jsonl``: a completed, a stopped and a failed run each say what happened, line by line as it happens;
``stop.request`` stops a run after its frame as SIGTERM does."""
from __future__ import annotations

import json
import signal
from pathlib import Path
from types import SimpleNamespace

from support import run_main

from render.run.events import RunEvents, read_events
from render.run.signals import STOP_REQUEST, GracefulStop

TINY = ["animation=2d_zoom", "generator=preview", "animation.max_frames=5", "width=64", "height=64", "seed=5",
        "output.quality=false", "output.previews=false", "output.preset=ultrafast"]


def events(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def kinds(found: list[dict]) -> list[str]:
    return [e["event"] for e in found]


def test_a_completed_run(tmp_path):
    run_dir = tmp_path / "run"
    done = run_main(*TINY, f"hydra.run.dir={run_dir}")
    assert done.returncode == 0, done.stderr
    found = events(run_dir)
    assert kinds(found) == ["run_started"] + ["frame_started", "frame_done"] * 5 + ["completed"]
    assert found[0]["start_frame"] == 0 and found[0]["n_frames"] == 5 and found[0]["resumed"] is False
    assert [e["frame"] for e in found if e["event"] == "frame_done"] == list(range(5))
    assert all(e["seconds"] >= 0 and e["eta_s"] >= 0 for e in found if e["event"] == "frame_done")
    assert found[-1]["video"] == str(run_dir / "TimeToDisco.mp4") and Path(found[-1]["video"]).is_file()
    times = [e["time"] for e in found]
    assert times == sorted(times)


def test_a_stopped_run(tmp_path):
    run_dir = tmp_path / "run"
    stopped = run_main(*TINY, f"hydra.run.dir={run_dir}", env={"DISCO_ANIM_FAULT": "sigterm:frame:2"})
    assert stopped.returncode == 143, stopped.stderr
    found = events(run_dir)
    assert kinds(found)[-1] == "stopped" and found[-1]["after_frame"] == 2 and "resume=" in found[-1]["resume"]
    assert [e["frame"] for e in found if e["event"] == "frame_done"] == [0, 1, 2]  # a resume's: tests/studio


def test_a_failed_run_says_the_named_error(tmp_path):
    run_dir = tmp_path / "run"
    failed = run_main(*TINY, f"hydra.run.dir={run_dir}", "device=cuda:7")
    assert failed.returncode == 2
    (end,) = events(run_dir)
    assert end["event"] == "failed" and end["code"] == 2
    assert end["problems"][0]["setting"] == "device" and "device" in end["message"]


def test_frame_events_come_after_the_checkpoint_with_an_eta(tmp_path):
    log = RunEvents(tmp_path, n_frames=4)
    order = []
    hook = log.frame_hook(lambda done: order.append(("checkpoint", done.frame)))
    for frame in range(2):
        hook(SimpleNamespace(frame=frame, seconds={"generate": 2.0, "save": 0.5}))
        order.append(("event", read_events(tmp_path / "events.jsonl")[0][-1]["frame"]))
    assert order == [("checkpoint", 0), ("event", 0), ("checkpoint", 1), ("event", 1)]
    last = read_events(tmp_path / "events.jsonl")[0][-1]
    assert last["seconds"] == 2.5 and last["eta_s"] == 5.0  # two frames left at 2.5 s


def test_steps_are_throttled_but_the_last_is_kept(tmp_path):
    log = RunEvents(tmp_path)
    seen = []
    hook = log.step_hook(lambda *args: seen.append(args[1]))
    for step in range(50):
        hook(0, step, 50, None)
    steps = [e["step"] for e in read_events(tmp_path / "events.jsonl")[0]]
    assert seen == list(range(50))  # the progress images still see every step
    assert steps[0] == 0 and steps[-1] == 49 and len(steps) < 10


def test_a_partial_line_waits_for_the_next_read(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"event": "a"}\n{"event": "b"')
    found, offset = read_events(path)
    assert kinds(found) == ["a"] and offset == len('{"event": "a"}\n')
    with open(path, "a") as fh:
        fh.write('}\nnot json\n')
    found, _ = read_events(path, offset)
    assert kinds(found) == ["b"]


def test_a_stop_request_file_is_a_sigterm_once(tmp_path):
    stop = GracefulStop(tmp_path / STOP_REQUEST)
    assert not stop.requested
    (tmp_path / STOP_REQUEST).touch()
    assert stop.requested and stop.signum == signal.SIGTERM and stop.exit_code == 143
    assert not (tmp_path / STOP_REQUEST).exists()  # consumed: a later resume is not stopped by it


def test_progress_images_are_announced_once_written(tmp_path):
    import torch

    from render.run.progress import StepImages

    log = RunEvents(tmp_path)
    written = []
    images = StepImages(lambda path, image: written.append(path), progress_every=2, intermediate_saves=[1],
                        on_saved=log.image_written)
    for step in range(4):
        images(7, step, 4, torch.zeros(1, 3, 4, 4))
    images.close()
    found = read_events(tmp_path / "events.jsonl")[0]
    assert [(e["path"], e["step"]) for e in found] == [(p, s) for p, s in zip(written, (0, 1, 2, 3))]
    assert written == ["progress.png", "partials/00007_001.png", "progress.png", "progress.png"]
    assert all(e["event"] == "progress_image" and e["frame"] == 7 for e in found)
