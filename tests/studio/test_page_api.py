"""What the page asks of the API: the camera preview's frames (drawn once, kept by their id), the song's analysis
and the song itself (only from the folders the server lends), the schedule settings, sweeps as a grid of jobs;
``generator=camera`` refused where there is no camera, and run by main.py as the scene draws it."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image
from studio.studio_support import TINY_JOB, held_client  # noqa: F401
from support import click_track, run_main

from render.generators.camera_scene import CameraScene

PREVIEW = ["animation=3d_zoom", "animation.max_frames=8", "width=128", "height=64"]


def test_the_camera_preview_is_drawn_once_and_served_as_jpegs(held_client):
    first = held_client.post("/api/preview", json={"overrides": PREVIEW, "width": 96, "count": 4})
    assert first.status_code == 200, first.json()
    out = first.json()
    assert (out["n_frames"], out["count"], out["width"], out["height"]) == (8, 4, 96, 48)
    assert out["seconds"] > 0 and out["picture"] == "test card"
    frames = []
    for n in range(4):
        got = held_client.get(out["frames"].replace("{n}", f"{n:05d}"))
        assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
        frames.append(np.asarray(Image.open(io.BytesIO(got.content))))
    assert frames[0].shape == (48, 96, 3) and not np.array_equal(frames[0], frames[3])
    again = held_client.post("/api/preview", json={"overrides": PREVIEW, "width": 96, "count": 4}).json()
    assert again["id"] == out["id"] and again["seconds"] == 0.0  # nothing drawn the second time
    other = held_client.post("/api/preview", json={"overrides": [*PREVIEW, "animation.translation_z='0: (5)'"],
                                                   "width": 96, "count": 4}).json()
    assert other["id"] != out["id"]
    for name in ("00009.jpg", "..%2F..%2Fqueue.sqlite", "00001.png"):
        assert held_client.get(f"/api/previews/{out['id']}/{name}").status_code == 404
    assert held_client.get(f"/api/previews/{'0' * 40}/00000.jpg").status_code == 404


def test_a_broken_schedule_gets_its_named_problem(held_client):
    refused = held_client.post("/api/preview", json={"overrides": [*PREVIEW, "animation.translation_z='0: (1), 4: ('"]})
    assert refused.status_code == 422
    problem = refused.json()["problems"][0]
    assert problem["setting"] == "animation.translation_z" and "unclosed" in problem["problem"] and problem["fix"]


def test_the_presets_list_every_camera_schedule_with_its_modes(held_client):
    schedules = {s["setting"]: s["modes"] for s in held_client.get("/api/presets").json()["schedules"]}
    assert schedules["animation.zoom"] == ["2d"] and schedules["animation.translation_z"] == ["3d"]
    assert set(schedules["animation.translation_x"]) == {"2d", "3d"}


def test_the_song_is_analysed_and_served_only_from_the_servers_folders(held_client, tmp_path):
    home = held_client.app.state.config.home
    song = click_track(home / "clicks.wav", 120, 4.0)
    overrides = ["animation=2d_zoom", "generator=preview", "animation.max_frames=auto", "output.fps=12",
                 f"audio.path={song}", f"audio.cache_dir={tmp_path / 'cache'}"]
    audio = held_client.post("/api/plan", json={"overrides": overrides}).json()["audio"]
    assert audio["bpm"] == pytest.approx(120, abs=2) and audio["n_frames"] == 48 and len(audio["rms"]) == 48
    beats = np.diff(audio["beat_frames"])
    assert np.all(np.abs(beats - 6) <= 1)  # 120 bpm at 12 fps: a beat every 6 frames
    served = held_client.get(audio["url"])
    assert served.status_code == 200 and served.content == song.read_bytes()

    outside = click_track(tmp_path / "elsewhere.wav", 120, 4.0)
    overrides[4] = f"audio.path={outside}"
    away = held_client.post("/api/plan", json={"overrides": overrides}).json()["audio"]
    assert away["url"] is None and "--media" in away["note"] and away["bpm"] == pytest.approx(120, abs=2)
    assert held_client.get("/api/songs/" + "0" * 32).status_code == 404


def test_a_sweep_queues_its_grid_all_or_nothing(held_client):
    axes = {"seed": ["1", "2"], "animation.zoom": ["0: (1.02)", "0: (1.05)"]}
    made = held_client.post("/api/sweeps", json={"overrides": TINY_JOB, "axes": axes})
    assert made.status_code == 201, made.json()
    sweep = made.json()
    assert [j["values"] for j in sweep["jobs"]] == [{"seed": s, "animation.zoom": z} for s in ("1", "2")
                                                    for z in ("0: (1.02)", "0: (1.05)")]
    jobs = {j["id"]: j for j in held_client.get("/api/jobs").json()}
    for entry in sweep["jobs"]:
        assert jobs[entry["id"]]["state"] == "queued" and entry["state"] == "queued"
        assert f"seed={entry['values']['seed']}" in jobs[entry["id"]]["overrides"]
    assert held_client.get(f"/api/sweeps/{sweep['id']}").json()["jobs"] == sweep["jobs"]
    assert [s["id"] for s in held_client.get("/api/sweeps").json()] == [sweep["id"]]

    four = {"seed": ["1"], "steps": ["2"], "eta": ["0"], "width": ["64"]}
    too_many = held_client.post("/api/sweeps", json={"overrides": TINY_JOB, "axes": four})
    assert too_many.status_code == 422 and too_many.json()["problems"][0]["setting"] == "axes"
    broken = held_client.post("/api/sweeps", json={"overrides": TINY_JOB, "axes": {"seed": ["3", "x"]}})
    assert broken.status_code == 422 and "seed=x" in json.dumps(broken.json())
    assert len(held_client.get("/api/jobs").json()) == 4  # the refused sweep's first job left the queue
    assert held_client.get("/api/sweeps/20990101-000000-abcdef").status_code == 404


def test_a_sweeps_finished_jobs_have_the_gallerys_measures_and_rank(held_client):
    from pathlib import Path

    sweep = held_client.post("/api/sweeps", json={"overrides": TINY_JOB, "axes": {"seed": ["1", "2", "3"]}}).json()
    for entry, flicker in zip(sweep["jobs"], (0.5, 0.2, 0.9)):  # what a finished run leaves (as the gallery reads it)
        run_dir = Path(held_client.get(f"/api/jobs/{entry['id']}").json()["run_dir"])
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "run.json").write_text(json.dumps({"status": "completed", "config": {}, "frames": [{}] * 6,
                                                      "metrics": {"flicker": flicker, "color_drift_mean": 0.1}}))
    shown = held_client.get(f"/api/sweeps/{sweep['id']}").json()
    assert shown["ranking"].startswith("flicker (lowest first)") and shown["metrics"][:2] == ["flicker",
                                                                                              "color_drift_mean"]
    assert [j["rank"] for j in shown["jobs"]] == [2, 1, 3]
    assert [j["metrics"]["flicker"] for j in shown["jobs"]] == [0.5, 0.2, 0.9]


def test_the_camera_generator_needs_a_camera(held_client):
    refused = held_client.post("/api/jobs", json={"overrides": ["animation=video_input", "generator=camera"]})
    assert refused.status_code == 422
    assert any(p["setting"] == "generator" and "no camera" in p["problem"] for p in refused.json()["problems"])


def test_main_renders_the_camera_preview_as_the_scene_draws_it(tmp_path):
    result = run_main("animation=2d_spin", "generator=camera", "animation.max_frames=3", "width=64", "height=64",
                      "output.quality=false", "output.previews=false", "output.preset=ultrafast",
                      f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 0, result.stderr[-2000:]
    from render.studio.checks import job_settings
    from render.studio.plan import run_plan

    settings = job_settings(["animation=2d_spin", "animation.max_frames=3", "width=64", "height=64"])
    plan, _ = run_plan(settings, resolve=False)
    scene = CameraScene("2d", plan.schedules, 3, (64, 64))
    frame = np.asarray(Image.open(tmp_path / "run" / "frames" / "00002.png").convert("RGB"))
    assert np.abs(frame.astype(int) - scene.frame(2).astype(int)).max() <= 1
