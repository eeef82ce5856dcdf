"""The job API without renders (a studio that holds its queue): submit with the CLI's checks and its named problems
as 422, the queue's operations, presets, plans, the body limit, the token and the Origin check."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from studio.studio_support import TINY_JOB, held_client  # noqa: F401 - a fixture

from render.studio.app import create_app
from render.studio.config import StudioConfig
from render.studio.queue_db import JobQueue


def submit(client, *overrides, **body):
    return client.post("/api/jobs", json={"overrides": list(overrides), **body})


def test_a_job_is_queued_with_its_run_dir_and_frame_count(held_client):
    answer = submit(held_client, *TINY_JOB, "seed=3")
    assert answer.status_code == 201
    job = answer.json()
    assert job["state"] == "queued" and job["queue_position"] == 0
    assert job["n_frames"] == 6 and job["frames_done"] == 0 and job["error"] is None
    assert Path(job["run_dir"]).is_dir() and Path(job["run_dir"]).parent.name == "runs"
    assert held_client.get(f"/api/jobs/{job['id']}").json() == job
    assert [j["id"] for j in held_client.get("/api/jobs").json()] == [job["id"]]


def test_the_queue_is_in_sqlite_before_the_answer(held_client):
    job = submit(held_client, *TINY_JOB).json()
    home = Path(job["run_dir"]).parents[1]
    other = JobQueue(home / "queue.sqlite")  # a second connection sees it committed
    assert other.get(job["id"]).state == "queued"
    assert other._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other.close()


@pytest.mark.parametrize("overrides, setting, words", [
    (["animation=2d_zom"], "animation", "Could not find 'animation/2d_zom'"),
    (["animation.zoomm=1.01"], "animation.zoomm", "unknown setting"),
    (["animation.max_frames=-3"], "animation.max_frames", "at least 1"),
    (["init_image=/no/such/picture.png"], "init_image", "not found"),
    (["seed=abc"], "seed", "could not be converted"),
    (["animation.zoom=0:(1.0"], "animation.zoom", "not an override Hydra can parse"),
    (["width='oops"], "width", "not an override Hydra can parse"),
    (["hydra.run.dir=/tmp/elsewhere"], "hydra.run.dir", "set by the studio"),
    (["resume=latest"], "resume", "set by the studio"),
    (["--multirun"], "--multirun", "not a key=value override"),
])
def test_what_the_cli_refuses_is_a_422_with_its_named_problems(held_client, overrides, setting, words):
    answer = submit(held_client, *TINY_JOB, *overrides)
    assert answer.status_code == 422
    problems = answer.json()["problems"]
    assert problems[0]["setting"] == setting and words in problems[0]["problem"], problems
    assert problems[0]["fix"]
    assert held_client.get("/api/jobs").json() == []  # nothing queued
    assert not list((Path(held_client.app.state.config.runs_dir)).iterdir())  # no folder left


def test_an_unknown_setting_gets_the_clis_did_you_mean(held_client):
    problems = submit(held_client, *TINY_JOB, "animation.zoomm=1.01").json()["problems"]
    assert "did you mean animation.zoom?" in problems[0]["fix"]


def test_a_schedule_that_tries_python_is_refused_by_the_whitelist(held_client):
    problems = submit(held_client, *TINY_JOB, "animation.zoom='0:(__import__(\"os\").getpid())'").json()["problems"]
    assert problems[0]["setting"] == "animation.zoom"


def test_config_text_is_the_base_and_goes_through_the_schema(held_client):
    good = submit(held_client, *TINY_JOB, config="seed: 77\nanimation:\n  zoom: '0:(1.02)'\n")
    assert good.status_code == 201, good.json()
    run_dir = Path(good.json()["run_dir"])
    assert (run_dir / "studio_config.yaml").read_text().startswith("seed: 77")
    bad = submit(held_client, "generator=preview", "animation.max_frames=6",
                 config="animation:\n  mode: 2d\n  zoom: '0:(1.0 +* 2)'\n")
    assert bad.status_code == 422 and "animation.zoom" in bad.json()["problems"][0]["setting"]
    twice = submit(held_client, *TINY_JOB, "import_settings=x.yaml", config="seed: 1\n")
    assert twice.status_code == 422 and twice.json()["problems"][0]["setting"] == "import_settings"


def test_a_body_of_the_wrong_shape_is_a_422_in_the_same_form(held_client):
    answer = held_client.post("/api/jobs", json={"overrides": "seed=3"})
    assert answer.status_code == 422 and answer.json()["problems"][0]["setting"] == "overrides"
    answer = held_client.post("/api/jobs", json={"overrides": [], "evil": 1})
    assert answer.status_code == 422 and answer.json()["problems"][0]["setting"] == "evil"


def test_cancel_removes_a_queued_job_and_its_folder(held_client):
    job = submit(held_client, *TINY_JOB).json()
    answer = held_client.post(f"/api/jobs/{job['id']}/cancel")
    assert answer.status_code == 200 and answer.json() == {"id": job["id"], "removed": True, "run_dir_deleted": False}
    assert held_client.get(f"/api/jobs/{job['id']}").status_code == 404
    assert not Path(job["run_dir"]).exists()


def test_move_reorders_the_queue(held_client):
    ids = [submit(held_client, *TINY_JOB, f"seed={s}").json()["id"] for s in (1, 2, 3)]
    moved = held_client.post(f"/api/jobs/{ids[2]}/move", json={"position": 0})
    assert moved.status_code == 200
    assert [j["id"] for j in moved.json()] == [ids[2], ids[0], ids[1]]
    assert [j["queue_position"] for j in moved.json()] == [0, 1, 2]
    held_client.post(f"/api/jobs/{ids[0]}/move", json={"position": 9})
    listed = [j["id"] for j in held_client.get("/api/jobs").json() if j["state"] == "queued"]
    assert listed == [ids[2], ids[1], ids[0]]
    assert held_client.post(f"/api/jobs/{ids[0]}/move", json={"position": -1}).status_code == 422


def test_delete_keeps_the_run_dir_unless_asked(held_client):
    kept = submit(held_client, *TINY_JOB).json()
    assert held_client.delete(f"/api/jobs/{kept['id']}").status_code == 204
    assert held_client.get(f"/api/jobs/{kept['id']}").status_code == 404 and Path(kept["run_dir"]).is_dir()
    gone = submit(held_client, *TINY_JOB).json()
    assert held_client.delete(f"/api/jobs/{gone['id']}?files=true").status_code == 204
    assert not Path(gone["run_dir"]).exists()


def test_resume_and_branch_need_a_job_that_ended(held_client):
    job = submit(held_client, *TINY_JOB).json()
    assert held_client.post(f"/api/jobs/{job['id']}/resume").status_code == 409
    assert held_client.post(f"/api/jobs/{job['id']}/branch", json={"frame": 2}).status_code == 409
    assert held_client.post("/api/jobs/nope/resume").status_code == 404
    assert held_client.get("/api/jobs/nope").status_code == 404


def test_presets_are_the_config_groups_and_their_options(held_client):
    groups = held_client.get("/api/presets").json()["groups"]
    conf = Path(__file__).resolve().parents[2] / "conf"
    assert groups["animation"] == sorted(p.stem for p in (conf / "animation").glob("*.yaml"))
    assert {"auto", "tiny", "disco512"} <= set(groups["model"]) and "hydra" not in groups


def test_plan_gives_every_frames_values_and_prompt_mix(held_client):
    answer = held_client.post("/api/plan", json={"overrides": [
        "animation=2d_zoom", "animation.max_frames=11", "animation.zoom='0:(1.0), 10:(1.2)'",
        "animation.angle='0:(t*0.5)'", "prompt_blend=4",
        "text_prompts={0: ['a sea'], 5: ['a forest:2']}"]})
    assert answer.status_code == 200, answer.json()
    plan = answer.json()
    assert plan["n_frames"] == 11 and plan["resolved"] == []
    np.testing.assert_allclose(plan["schedules"]["animation.zoom"], np.linspace(1.0, 1.2, 11), atol=1e-9)
    np.testing.assert_allclose(plan["schedules"]["animation.angle"], 0.5 * np.arange(11), atol=1e-9)
    assert plan["prompts"][0] == [{"text": [{"text": "a sea", "weight": 1.0}], "images": [], "weight": 1.0}]
    assert plan["prompts"][10] == [{"text": [{"text": "a forest", "weight": 2.0}], "images": [], "weight": 1.0}]
    fading = plan["prompts"][6]  # the fade from frame 5 over 4 frames: both sets, weights summing to 1
    assert len(fading) == 2 and sum(m["weight"] for m in fading) == pytest.approx(1.0)
    refused = held_client.post("/api/plan", json={"overrides": ["animation.max_frames=0"]})
    assert refused.status_code == 422 and refused.json()["problems"][0]["setting"] == "animation.max_frames"


def test_plan_of_a_config_text(held_client):
    plan = held_client.post("/api/plan", json={"overrides": ["animation.max_frames=3"],
                                               "config": "animation:\n  mode: 2d\n  zoom: '0:(1.5)'\n"}).json()
    assert plan["schedules"]["animation.zoom"] == [1.5, 1.5, 1.5]


def test_a_body_over_the_limit_is_refused(tmp_path):
    app = create_app(StudioConfig(home=tmp_path / "home", slots=(), max_body=2048))
    with TestClient(app) as client:
        answer = client.post("/api/jobs", json={"overrides": [], "config": "x" * 4096})
        assert answer.status_code == 413
        chunked = client.post("/api/jobs", content=iter([b'{"overrides": [], "config": "', b"x" * 4096, b'"}']),
                              headers={"content-type": "application/json"})
        assert chunked.status_code == 413
        assert client.get("/api/jobs").json() == []


def test_beyond_loopback_every_call_needs_the_token(tmp_path):
    config = StudioConfig(home=tmp_path / "home", host="0.0.0.0", slots=()).with_token()
    assert config.token and len(config.token) >= 24
    with TestClient(create_app(config)) as client:
        for method, path in [("get", "/api/jobs"), ("get", "/api/presets"), ("post", "/api/jobs"),
                             ("get", "/api/jobs/x/events"), ("get", "/api/jobs/x/files/a.png"),
                             ("post", "/api/plan"), ("delete", "/api/jobs/x")]:
            assert getattr(client, method)(path).status_code == 401, path
        assert client.get("/api/jobs", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/api/jobs", headers={"Authorization": f"Bearer {config.token}"}).status_code == 200
        assert client.get(f"/api/jobs?token={config.token}").status_code == 200


def test_loopback_needs_no_token_unless_given(tmp_path):
    assert StudioConfig(home=tmp_path, host="127.0.0.1").with_token().token is None
    assert StudioConfig(home=tmp_path, host="::1").with_token().token is None
    with TestClient(create_app(StudioConfig(home=tmp_path / "h", slots=(), token="s3cret"))) as client:
        assert client.get("/api/jobs").status_code == 401
        assert client.get("/api/jobs", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_changes_from_another_origin_are_refused(held_client):
    answer = held_client.post("/api/jobs", json={"overrides": TINY_JOB}, headers={"Origin": "http://evil.example"})
    assert answer.status_code == 403
    assert held_client.post("/api/jobs", json={"overrides": TINY_JOB}, headers={"Origin": "null"}).status_code == 403
    same = held_client.post("/api/jobs", json={"overrides": TINY_JOB}, headers={"Origin": "http://testserver"})
    assert same.status_code == 201
    assert held_client.get("/api/jobs", headers={"Origin": "http://evil.example"}).status_code == 200


def test_plan_of_a_song_config_has_the_runs_values(held_client, tmp_path):
    from conftest import compose_overrides
    from support import click_track

    from render.config.planner import plan_and_resolve
    from render.config.settings import to_settings

    song = click_track(tmp_path / "clicks.wav", 120, 4.0)
    overrides = ["animation=2d_zoom", "generator=preview", "animation.max_frames=auto", "output.fps=12",
                 f"audio.path={song}", f"audio.cache_dir={tmp_path / 'cache'}", "animation.zoom='0: (1.0 + 0.04*beat)'"]
    plan = held_client.post("/api/plan", json={"overrides": overrides}).json()
    assert plan["resolved"] == ["song"] and "the run's" in plan["note"]
    run = plan_and_resolve(to_settings(compose_overrides(*overrides)))
    assert plan["n_frames"] == run.n_frames == 48
    assert plan["schedules"]["animation.zoom"] == [float(v) for v in run.schedules["animation.zoom"]]
    assert max(plan["schedules"]["animation.zoom"]) == pytest.approx(1.04)
    draft = held_client.post("/api/plan", json={"overrides": overrides, "song": False}).json()
    assert draft["resolved"] == [] and draft["schedules"] == {} and "draft" in draft["note"]
