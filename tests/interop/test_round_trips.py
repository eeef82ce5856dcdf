"""Out and back in: a run exported to Parseq and to Deforum and imported again gets every frame's values to 1e-6;
a run's config.yaml and a converted preset import as they are; the command line's errors exit 2."""
from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from conftest import TINY
from interop.planning import assert_close, normalised, plan_imported, prompts_at
from interop.shapes import dd_v57, write_json

from render.app import render_animation
from render.config.planner import plan_and_resolve
from render.config.settings import to_settings
from render.interop.__main__ import main as interop_cli

SCHEDULES = ("angle", "zoom", "translation_x", "translation_y", "translation_z", "rotation_3d_x", "rotation_3d_y",
             "rotation_3d_z", "fov")
RUNS = {"3d_zoom": ('animation.translation_z="0: (10), 3: (2 + sin(t))"', 'animation.rotation_3d_y="0: (0) '
                    'ease_in_out, 5: (3)"', 'animation.fov="40 + t/3"', 'animation.translation_x="-1.5e-05*t"'),
        "2d_spin": ('animation.zoom="0: (1), 5: (1.0123456789)"', 'animation.angle="0: (0), 5: (12.5) cubic"')}
PROMPTS = ('text_prompts={0: ["a lighthouse:2", "yellow", "fog:-0.5"], 3 fade 2: ["a storm"]}',)


@pytest.fixture(scope="module", params=sorted(RUNS))
def run(request, tmp_path_factory):
    overrides = (f"animation={request.param}", *TINY, "animation.max_frames=8", *RUNS[request.param], *PROMPTS,
                 "output=png")
    from conftest import compose_overrides

    run_dir = tmp_path_factory.mktemp(request.param)
    render_animation(compose_overrides(*overrides), run_dir, progress=False)
    return request.param, run_dir, plan_and_resolve(to_settings(compose_overrides(*overrides)))


def moved_fields(preset: str) -> list[str]:
    return ["translation_x", "translation_y", "translation_z", "rotation_3d_x", "rotation_3d_y", "rotation_3d_z",
            "fov"] if preset.startswith("3d") else ["angle", "zoom", "translation_x", "translation_y"]


def check_prompts(plan, original) -> None:
    for frame in range(original.n_frames):
        mixed = {}
        for mix in original.prompt_mix(frame):  # the guidance's weights: each set normalised, times its share
            for text, weight in normalised([(p.text, p.weight) for p in mix.text]).items():
                mixed[text] = mixed.get(text, 0.0) + mix.weight * weight
        assert normalised(prompts_at(plan.text_prompts, frame)) == pytest.approx(mixed, abs=1e-9)


@pytest.mark.parametrize("to", ["parseq", "deforum"])
def test_export_and_import_give_every_frames_values(run, to):
    preset, run_dir, original = run
    assert interop_cli(["export", str(run_dir), "--to", to]) == 0
    exported = next(run_dir.glob(f"TimeToDisco_{to}*"))
    plan, report = plan_imported(exported, "generator=preview")
    assert plan.n_frames == original.n_frames and plan.fps == original.fps and plan.seed == original.seed
    for name in moved_fields(preset) if to == "parseq" else SCHEDULES:
        assert_close(plan.schedules[f"animation.{name}"], original.schedules[f"animation.{name}"], name, 1e-6)
    check_prompts(plan, original)
    assert not report.unknown, report.unknown
    if to == "parseq":
        manifest = json.loads(exported.read_text())
        rows = manifest["rendered_frames"]
        values = original.schedules["animation.rotation_3d_y" if preset.startswith("3d") else "animation.angle"]
        field = "rotation_3d_y" if preset.startswith("3d") else "angle"
        np.testing.assert_allclose([r[field] for r in rows], np.cumsum(values))  # Parseq's absolute values


def test_a_runs_config_imports_as_it_is(run):
    _, run_dir, original = run
    plan, report = plan_imported(run_dir / "config.yaml")
    assert plan.seed == original.seed and plan.n_frames == original.n_frames
    for name, values in original.schedules.items():
        np.testing.assert_array_equal(plan.schedules[name], values)
    assert "import_settings" not in {e.source for e in report.dropped}  # a run made without an import


def test_a_converted_preset_imports_like_the_file(tmp_path, capsys):
    source = write_json(tmp_path / "Lighthouse(2)_settings.txt",
                        dd_v57(width=256, height=128, max_frames=30, zoom="0: (1), 10: (1.05)", seed=42))
    assert interop_cli(["convert", str(source), "--out", str(tmp_path / "preset.yaml"), "--mode", "2d"]) == 0
    text = (tmp_path / "preset.yaml").read_text()
    assert text.startswith("# Imported ") and "# Dropped (3):" in text
    assert yaml.safe_load(text)["animation"]["zoom"] == "0: (1), 10: (1.05)"
    direct, _ = plan_imported(source, "animation.mode=2d", "generator=preview")
    converted, _ = plan_imported(tmp_path / "preset.yaml", "generator=preview")
    for name, values in direct.schedules.items():
        np.testing.assert_array_equal(converted.schedules[name], values)
    assert converted.seed == 42 and [p.text for p in converted.text_prompts.at(0)] == [p.text for p in
                                                                                        direct.text_prompts.at(0)]


def test_the_command_lines_errors_exit_2(tmp_path, capsys):
    assert interop_cli(["export", str(tmp_path / "nope"), "--to", "parseq"]) == 2
    (tmp_path / "x.json").write_text("[1, 2]")
    assert interop_cli(["convert", str(tmp_path / "x.json"), "--out", str(tmp_path / "y.yaml")]) == 2
    err = capsys.readouterr().err
    assert "no config.yaml" in err or "does not exist" in err or "missing" in err
    assert "none of the formats" in err and not (tmp_path / "y.yaml").exists()
