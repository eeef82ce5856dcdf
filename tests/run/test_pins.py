"""A resume renders with what made the earlier frames: what ``auto`` chose is pinned in the run; run.json keeps a
segment per start; a run dir of an older layout resumes, a newer one is refused; warnings reach the run's page."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch
import yaml
from support import frame_hashes

from depth.estimators import build_midas
from render.app import render_animation
from render.config import depth_plan
from render.models import registry
from render.run.migrations import SCHEMA_VERSION, RunDirVersionError
from render.run.resume import ResumeError

PREVIEW_3D = ["animation=3d_zoom", "generator=preview", "width=64", "height=64", "seed=5", "output=png",
              "depth=auto"]


def run(compose_config, run_dir, *overrides, resume=False):
    args = [f"resume={run_dir}", *overrides] if resume else list(overrides)
    return render_animation(compose_config(*args), run_dir, progress=False, overrides=args)


@pytest.fixture
def depth_file(tmp_path, monkeypatch):
    """``depth=auto`` picks midas_small (the smallest real network) when its file is there; the test saves that
    file with random weights in the official layout and lets the registry know its sha256."""
    monkeypatch.setattr(depth_plan, "AUTO_DEPTH", "midas_small")
    models = tmp_path / "models"
    models.mkdir()
    target = models / registry.lookup("midas_small").filename

    def add() -> None:
        torch.save(build_midas("midas_small", None, seed=3).state_dict(), target)
        digest = registry.sha256_file(target)
        monkeypatch.setitem(registry.REGISTRY, "midas_small", dataclasses.replace(
            registry.lookup("midas_small"), sha256=digest, sha256_prefix=None, size=None, sha256_unpublished=False))
    return models, add


def test_a_resume_keeps_the_depth_auto_chose_when_the_run_started(compose_config, tmp_path, depth_file):
    models, add_file = depth_file
    args = [*PREVIEW_3D, f"model.models_dir={models}"]
    run(compose_config, tmp_path / "whole", *args, "animation.max_frames=6")
    run(compose_config, tmp_path / "run", *args, "animation.max_frames=3")
    add_file()  # the file is there now: auto would choose it for a new run
    result = run(compose_config, tmp_path / "run", "animation.max_frames=6", resume=True)
    assert result.frames == [3, 4, 5]
    assert frame_hashes(tmp_path / "run") == frame_hashes(tmp_path / "whole")  # with the tiny depth it started with
    pins = json.loads((tmp_path / "run" / "state" / "pins.json").read_text())
    assert pins["depth"] == "tiny" and pins["version"] >= 1
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert [s["from_frame"] for s in record["segments"]] == [0, 3]  # a segment per start, none overwritten
    assert any("depth=auto" in w for w in record["warnings"])

    branched = run(compose_config, tmp_path / "run", "resume_from=4", "depth=midas_small", resume=True)
    assert branched.frames == [4, 5]  # on purpose: the new depth from frame 4
    hashes, whole = frame_hashes(tmp_path / "run"), frame_hashes(tmp_path / "whole")
    kept = [f"{f:05d}.png" for f in range(4)]
    assert [hashes[k] for k in kept] == [whole[k] for k in kept] and hashes["00004.png"] != whole["00004.png"]
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert "midas_small" in record["segments"][-1]["model_files"]
    assert "midas_small" not in record["segments"][0]["model_files"]


def test_a_resume_asking_for_other_models_is_refused_with_how_to_branch(compose_config, tmp_path, depth_file):
    models, add_file = depth_file
    run(compose_config, tmp_path, *PREVIEW_3D, f"model.models_dir={models}", "animation.max_frames=2")
    add_file()
    with pytest.raises(ResumeError, match="depth.name") as info:
        run(compose_config, tmp_path, "depth=midas_small", resume=True)
    assert "resume_from" in str(info.value)


def test_a_changed_weight_file_is_named_on_resume(compose_config, tmp_path, depth_file):
    models, add_file = depth_file
    add_file()
    args = [*PREVIEW_3D, f"model.models_dir={models}", "depth=midas_small", "animation.max_frames=2"]
    run(compose_config, tmp_path / "run", *args)
    pins_path = tmp_path / "run" / "state" / "pins.json"
    pins = json.loads(pins_path.read_text())
    pins["weights"]["midas_small"] = "0" * 64  # as if the run had started with another file
    pins_path.write_text(json.dumps(pins))
    with pytest.raises(Exception, match="has changed") as info:
        run(compose_config, tmp_path / "run", "animation.max_frames=3", resume=True)
    assert "resume_from" in str(info.value)


def _to_old_layout(run_dir):
    """The run dir as a version-1 disco-anim wrote it: no schema_version, no pins.json, run.json's model_files and
    precisions in place of segments."""
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    config.pop("schema_version")
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    (run_dir / "state" / "pins.json").unlink()
    record = json.loads((run_dir / "run.json").read_text())
    first = record.pop("segments")[0]
    record.pop("warnings")
    record["model_files"], record["precisions"] = first["model_files"], first["precisions"]
    (run_dir / "run.json").write_text(json.dumps(record))


def test_a_run_dir_of_the_old_layout_resumes_with_what_made_it(compose_config, tmp_path, depth_file):
    models, add_file = depth_file
    args = [*PREVIEW_3D, f"model.models_dir={models}"]
    run(compose_config, tmp_path / "whole", *args, "animation.max_frames=5")
    run(compose_config, tmp_path / "old", *args, "animation.max_frames=3")
    _to_old_layout(tmp_path / "old")
    add_file()
    assert run(compose_config, tmp_path / "old", "animation.max_frames=5", resume=True).frames == [3, 4]
    assert frame_hashes(tmp_path / "old") == frame_hashes(tmp_path / "whole")  # pinned from its run.json
    assert yaml.safe_load((tmp_path / "old" / "config.yaml").read_text())["schema_version"] == SCHEMA_VERSION
    record = json.loads((tmp_path / "old" / "run.json").read_text())
    assert [s["from_frame"] for s in record["segments"]] == [0, 3]


def test_a_run_dir_of_a_newer_layout_is_refused_naming_both_versions(compose_config, tmp_path):
    run(compose_config, tmp_path, "animation=2d_zoom", "generator=preview", "width=64", "height=64",
        "animation.max_frames=2", "output=png")
    config = yaml.safe_load((tmp_path / "config.yaml").read_text())
    config["schema_version"] = SCHEMA_VERSION + 7
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(RunDirVersionError) as info:
        run(compose_config, tmp_path, "animation.max_frames=3", resume=True)
    assert f"layout {SCHEMA_VERSION + 7}" in str(info.value) and f"up to {SCHEMA_VERSION}" in str(info.value)


def test_the_runs_warnings_are_in_its_record_and_at_the_top_of_its_page(compose_config, tmp_path):
    run(compose_config, tmp_path, "animation=none", f"model.models_dir={tmp_path / 'empty'}", "model=auto",
        "model.steps=3", "output.quality=false", "output.previews=false", "output=png")
    record = json.loads((tmp_path / "run.json").read_text())
    assert len(record["warnings"]) == 1 and "model=auto" in record["warnings"][0]
    page = (tmp_path / "report.html").read_text()
    assert 'id="warnings"' in page and "model=tiny" in page
    assert page.index('id="warnings"') < page.index("<h2>")  # at the top, before the frames
