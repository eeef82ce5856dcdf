"""A studio listening beyond loopback lets jobs name files only under its home, the folder it started in and its
``--media`` folders: a token holder cannot make it read or write elsewhere. On loopback a job names what the CLI may."""
from __future__ import annotations

import numpy as np
from fastapi.testclient import TestClient
from PIL import Image
from studio.studio_support import TINY_JOB

from render.studio.app import create_app
from render.studio.config import StudioConfig


def client_of(config: StudioConfig) -> TestClient:
    return TestClient(create_app(config), headers={"Authorization": f"Bearer {config.token}"} if config.token else {})


def write_image(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(path)
    return path


def test_beyond_loopback_files_outside_the_servers_folders_are_refused(tmp_path):
    config = StudioConfig(home=tmp_path / "home", host="0.0.0.0", slots=(), media=(tmp_path / "media",)).with_token()
    outside = write_image(tmp_path / "elsewhere" / "init.png")
    inside = write_image(tmp_path / "media" / "init.png")
    with client_of(config) as client:
        for setting, value in [("init_image", outside), ("audio.cache_dir", tmp_path / "elsewhere"),
                               ("model.models_dir", "/etc"), ("image_prompts", f"{{0: ['{outside}:2']}}")]:
            answer = client.post("/api/jobs", json={"overrides": [*TINY_JOB, f"{setting}={value}"]})
            assert answer.status_code == 422, (setting, answer.text)
            problem = answer.json()["problems"][0]
            assert problem["setting"] == setting and "outside the folders" in problem["problem"]
            assert "--media" in problem["fix"]
        plan = client.post("/api/plan", json={"overrides": [*TINY_JOB, f"init_image={outside}"]})
        assert plan.status_code == 422 and plan.json()["problems"][0]["setting"] == "init_image"
        assert client.get("/api/jobs").json() == []  # nothing was queued
        assert client.post("/api/jobs", json={"overrides": [*TINY_JOB, f"init_image={inside}"]}).status_code == 201


def test_on_loopback_a_job_names_any_file(tmp_path):
    outside = write_image(tmp_path / "elsewhere" / "init.png")
    with client_of(StudioConfig(home=tmp_path / "home", slots=())) as client:
        assert client.post("/api/jobs", json={"overrides": [*TINY_JOB, f"init_image={outside}"]}).status_code == 201
