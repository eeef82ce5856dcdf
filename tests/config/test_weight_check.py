"""Weight files on disk are checked against their sha256 before any model is built; a good file is hashed once."""
from __future__ import annotations

import dataclasses
import hashlib
import subprocess
import sys
import time

import pytest
from conftest import ROOT

from render.config.diffusion_plan import required_files
from render.config.issues import ConfigErrors
from render.config.planner import plan_and_resolve
from render.config.presets import model_preset
from render.config.settings import to_settings
from render.models import registry

PLACEHOLDER = b"placeholder"
PLACEHOLDER_SHA = hashlib.sha256(PLACEHOLDER).hexdigest()


@pytest.fixture
def depth_file(tmp_path, monkeypatch):
    """``dpt_hybrid``'s registry entry made to describe a 4 MB file of random bytes written here."""
    data = bytes(range(256)) * (4 * 4096)
    file = dataclasses.replace(registry.lookup("dpt_hybrid"), sha256=hashlib.sha256(data).hexdigest(),
                               size=len(data), sha256_prefix=None)
    monkeypatch.setitem(registry.REGISTRY, "dpt_hybrid", file)
    return file, data


def plan_3d(compose_config, models_dir):
    return plan_and_resolve(to_settings(compose_config("animation=3d_zoom", "generator=preview", "depth=dpt_hybrid",
                                                   f"model.models_dir={models_dir}", "width=128", "height=64",
                                                   "animation.max_frames=2")))


def test_placeholder_files_are_refused_naming_both_hashes(compose_config, tmp_path, monkeypatch):
    monkeypatch.setattr("render.generators.networks.load_networks", lambda *a, **k: pytest.fail("model loaded"))
    keys = required_files(model_preset("disco512"), lpips=True)
    for key in keys:
        (tmp_path / registry.lookup(key).filename).write_bytes(PLACEHOLDER)
    with pytest.raises(ConfigErrors) as info:
        plan_and_resolve(to_settings(compose_config("animation=2d_zoom", "model=disco512",
                                                    f"model.models_dir={tmp_path}")))
    issues = info.value.issues
    assert len(issues) == len(keys) and {i.setting for i in issues} == {"model.name"}
    for issue, key in zip(issues, keys):
        file = registry.lookup(key)
        assert file.sha256 in issue.problem and PLACEHOLDER_SHA in issue.problem, key
        assert issue.value == str(tmp_path / file.filename)
        assert f"python -m render.models {key}" in issue.fix and "rm " in issue.fix


def test_a_truncated_file_is_refused_with_both_hashes_and_sizes(compose_config, tmp_path, depth_file):
    file, data = depth_file
    (tmp_path / file.filename).write_bytes(data[:-1000])
    with pytest.raises(ConfigErrors) as info:
        plan_3d(compose_config, tmp_path)
    (issue,) = info.value.issues
    assert issue.setting == "depth.name"
    assert file.sha256 in issue.problem and hashlib.sha256(data[:-1000]).hexdigest() in issue.problem
    assert f"{len(data) - 1000} bytes, expected {len(data)}" in issue.problem


def test_a_good_file_is_hashed_once_across_runs(compose_config, tmp_path, depth_file, monkeypatch):
    file, data = depth_file
    (tmp_path / file.filename).write_bytes(data)
    hashed = []
    real = registry.sha256_file
    monkeypatch.setattr(registry, "sha256_file", lambda path: hashed.append(path) or real(path))
    plan_3d(compose_config, tmp_path)
    assert hashed == [tmp_path / file.filename] and registry.sidecar_path(tmp_path / file.filename).is_file()
    start = time.perf_counter()
    registry.verify(tmp_path / file.filename, file)  # what the next run's check does: the sidecar, not the bytes
    again = time.perf_counter() - start
    plan_3d(compose_config, tmp_path)
    assert hashed == [tmp_path / file.filename]  # not hashed again
    assert again < 0.05
    (tmp_path / file.filename).write_bytes(data[::-1])  # replaced by another file: hashed again, and refused
    with pytest.raises(ConfigErrors, match="expected sha256"):
        plan_3d(compose_config, tmp_path)
    assert len(hashed) == 2


def test_the_cli_refuses_a_placeholder_before_loading_with_exit_2(tmp_path):
    file = registry.lookup("dpt_large")
    (tmp_path / file.filename).write_bytes(PLACEHOLDER)
    done = subprocess.run([sys.executable, "main.py", "animation=3d_zoom", "generator=preview", "depth=dpt_large",
                           f"model.models_dir={tmp_path}", f"hydra.run.dir={tmp_path / 'run'}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and file.sha256 in done.stderr and PLACEHOLDER_SHA in done.stderr
    assert not list((tmp_path / "run").glob("frames/*.png"))


def test_dpt_hybrid_nyu_is_checked_against_its_prefix_and_the_copy_first_used(compose_config, tmp_path, monkeypatch):
    env = "DISCO_ANIM_SHA256_DPT_HYBRID_NYU"
    monkeypatch.delenv(env, raising=False)
    file = registry.lookup("dpt_hybrid_nyu")
    data, other = b"\x00" * 1000, b"\x01" * 1000  # stand-ins: the check reads the bytes, nothing loads them
    digest = hashlib.sha256(data).hexdigest()

    def plan():
        return plan_and_resolve(to_settings(compose_config("animation=3d_zoom", "generator=preview", "depth=dpt_hybrid_nyu",
                                                       f"model.models_dir={tmp_path}", "width=128", "height=64",
                                                       "animation.max_frames=2")))

    (tmp_path / file.filename).write_bytes(data)  # the real name: its 2ce69ec7 does not start this file's sha256
    with pytest.raises(ConfigErrors, match="is not the published file 'dpt_hybrid_nyu'.*prefix"):
        plan()
    named = dataclasses.replace(file, sha256_prefix=digest[:8], filename=f"nyu-{digest[:8]}.pt")
    monkeypatch.setitem(registry.REGISTRY, "dpt_hybrid_nyu", named)
    (tmp_path / named.filename).write_bytes(data)
    assert plan().depth.name == "dpt_hybrid_nyu"  # no digest supplied: the prefix fits, the copy is recorded
    assert registry.first_use_record(tmp_path / named.filename, named)["sha256"] == digest
    unnamed = dataclasses.replace(file, sha256_prefix=None, filename="nyu.pt")  # so that another file passes the name
    monkeypatch.setitem(registry.REGISTRY, "dpt_hybrid_nyu", unnamed)
    (tmp_path / "nyu.pt").write_bytes(data)
    assert plan().depth.name == "dpt_hybrid_nyu"
    (tmp_path / "nyu.pt").write_bytes(other)
    with pytest.raises(ConfigErrors) as info:
        plan()
    (issue,) = info.value.issues
    record = registry.record_path(tmp_path / "nyu.pt", unnamed)
    assert issue.setting == "depth.name" and issue.value == str(tmp_path / "nyu.pt")
    assert "not the file first used" in issue.problem and f"rm {record}" in issue.fix and env in issue.fix
