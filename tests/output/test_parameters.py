"""parameters.csv and parameters.srt: every run writes them, they parse and hold the plan's values; with
output.subtitles=true the mp4 carries them as a subtitle track."""
from __future__ import annotations

import csv
import re
from types import SimpleNamespace

import numpy as np
from conftest import TINY
from support import streams

from render.app import render_animation
from render.config.plan import RenderPlan
from render.config.planner import plan_and_resolve
from render.config.settings import to_settings
from render.output.parameters import write_parameters
from transforms.prompts import evaluate_prompt_schedule

PROMPTS = 'text_prompts={0: ["a lighthouse:2", "yellow"], 3 fade 2: ["a storm"]}'
SRT_BLOCK = re.compile(r"(\d+)\n(\d\d):(\d\d):(\d\d),(\d\d\d) --> (\d\d):(\d\d):(\d\d),(\d\d\d)\n(.+)")


def seconds(h, m, s, ms) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def read_srt(path):
    blocks = path.read_text(encoding="utf-8").strip().split("\n\n")
    return [SRT_BLOCK.fullmatch(b).groups() for b in blocks]


def test_every_run_writes_the_plans_values(compose_config, tmp_path):
    overrides = ("animation=3d_zoom", *TINY, 'animation.rotation_3d_y="0: (0), 5: (1.7)"', PROMPTS)
    render_animation(compose_config(*overrides, "output=png"), tmp_path, progress=False)
    plan = plan_and_resolve(to_settings(compose_config(*overrides)))
    with open(tmp_path / "parameters.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == plan.n_frames == 6
    for f, row in enumerate(rows):
        assert int(row["frame"]) == f and float(row["seconds"]) == f / plan.fps
        assert int(row["seed"]) == plan.frame_seed(f)
        for name, values in plan.schedules.items():
            assert float(row[name]) == values[f]  # exact: written with repr
    assert rows[0]["prompts"] == "a lighthouse:2 | yellow:1"
    assert rows[3]["prompts"] == "0.5*(a lighthouse:2 | yellow:1) + 0.5*(a storm:1)"  # half-way through the fade
    assert rows[5]["prompts"] == "a storm:1"
    entries = read_srt(tmp_path / "parameters.srt")
    assert [int(e[0]) for e in entries] == [1, 2, 3, 4, 5, 6]
    for f, entry in enumerate(entries):
        assert seconds(*entry[1:5]) == round(f / plan.fps, 3) and seconds(*entry[5:9]) == round((f + 1) / plan.fps, 3)
        assert entry[9].startswith(f"F#: {f}; Seed: {plan.frame_seed(f)}; ")
        assert f"rotation_3d_y: {plan.schedules['animation.rotation_3d_y'][f]:.6g};" in entry[9]


def test_with_subtitles_the_mp4_has_a_subtitle_stream(compose_config, tmp_path):
    result = render_animation(compose_config("animation=2d_zoom", *TINY, "output.subtitles=true"), tmp_path / "a",
                              progress=False)
    assert "Subtitle: mov_text" in streams(result.video)
    plain = render_animation(compose_config("animation=2d_zoom", *TINY), tmp_path / "b", progress=False)
    assert "Subtitle" not in streams(plain.video) and (tmp_path / "b" / "parameters.srt").is_file()


def test_a_song_adds_the_beat_column(tmp_path):
    n = 4
    plan = RenderPlan(n_frames=n, width=64, height=64, fps=8.0, seed=9, schedules={"animation.zoom": np.ones(n)},
                      text_prompts=evaluate_prompt_schedule({0: ["a forest"]}, n, 8.0),
                      image_prompts=evaluate_prompt_schedule({0: ["cat.png:0.5"]}, n, 8.0),
                      assets=SimpleNamespace(audio=SimpleNamespace(b=np.array([0.0, 0.5, 1.0, 1.5]))))
    csv_path, _ = write_parameters(plan, tmp_path)
    rows = list(csv.DictReader(csv_path.open(encoding="utf-8")))
    assert [float(r["beat"]) for r in rows] == [0.0, 0.5, 1.0, 1.5]
    assert rows[2]["image_prompts"] == "cat.png:0.5" and rows[2]["seed"] == "11"
