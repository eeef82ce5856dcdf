"""import_settings in a run: the file is the base, the command line wins, the report lands in the run dir, and the
run resumes from its own config."""
from __future__ import annotations

import numpy as np
import yaml
from conftest import compose_overrides
from interop.planning import import_override
from interop.shapes import dd_v57, write_json

from render.app import render_animation
from render.interop.apply import REPORT_FILE


def render(run_dir, *overrides):
    return render_animation(compose_overrides(*overrides), run_dir, progress=False, overrides=overrides)


def test_the_file_is_the_base_and_the_command_line_wins(tmp_path):
    source = write_json(tmp_path / "Sea(4)_settings.txt", dd_v57(
        width=128, height=64, max_frames=4, seed=99, zoom="0: (1), 3: (1.1)", angle="0: (2)",
        text_prompts={"0": ["a calm sea:2"], "2": ["a storm"]}))
    overrides = (import_override(source), "animation.mode=2d", "generator=preview", "output=png",
                 'animation.angle="0: (-5)"', "output.preset=ultrafast")
    result = render(tmp_path / "run", *overrides)
    assert len(result.frames) == 4
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert config["animation"]["zoom"] == "0: (1), 3: (1.1)" and config["animation"]["angle"] == "0: (-5)"
    assert config["seed"] == 99 and config["batch_name"] == "Sea" and config["text_prompts"] == {
        0: ["a calm sea:2"], 2: ["a storm"]}
    report = (tmp_path / "run" / REPORT_FILE).read_text()
    assert report.startswith("# Imported settings") and "| `zoom` | `animation.zoom` |" in report
    rows = (tmp_path / "run" / "parameters.csv").read_text().splitlines()
    assert rows[4].split(",")[2] == "-5.0"  # frame 3: animation.angle from the command line
    assert np.isclose(float(rows[4].split(",")[3]), 1.1)  # animation.zoom from the file


def test_an_imported_run_resumes_with_its_own_settings(tmp_path):
    source = write_json(tmp_path / "s.txt", dd_v57(width=128, height=64, max_frames=3, seed=5, angle="0: (3)"))
    run_dir = tmp_path / "run"
    render(run_dir, import_override(source), "animation.mode=2d", "generator=preview", "output=png")
    source.unlink()  # the run holds the imported settings; the file is not needed again
    result = render(run_dir, f"resume={run_dir}", "animation.max_frames=5", "output=png")
    assert result.frames == [3, 4]
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["animation"]["angle"] == "0: (3)"
