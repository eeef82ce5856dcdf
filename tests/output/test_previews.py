"""Per-run previews (contact sheet, GIF) and the quality metrics in run.json, from an end-to-end run."""
from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import TINY
from PIL import Image

from render.app import render_animation
from render.output.previews import contact_sheet, preview_gif, spaced_frames


def test_spaced_frames_cover_the_run():
    assert spaced_frames(100, 16)[0] == 0 and spaced_frames(100, 16)[-1] == 99
    assert len(spaced_frames(100, 16)) == 16
    assert spaced_frames(5, 16) == [0, 1, 2, 3, 4]
    assert spaced_frames(1, 16) == [0]
    with pytest.raises(ValueError):
        spaced_frames(0, 16)


def write_frames(folder, n, size=(96, 64)):
    folder.mkdir()
    for f in range(n):
        Image.fromarray(np.full((size[1], size[0], 3), f * 5, np.uint8)).save(folder / f"{f:05d}.png")
    return folder


def test_contact_sheet_layout_and_labels(tmp_path):
    frames = write_frames(tmp_path / "frames", 20)
    sheet = contact_sheet(frames, 20, tmp_path / "sheet.png", tiles=8, columns=4, tile_width=48)
    with Image.open(sheet) as img:
        assert img.size == (4 * 48, 2 * (32 + 14))
        pixels = np.asarray(img.convert("RGB"))
    tile = pixels[:32, 48 * 3:48 * 4]  # the 4th tile: frame round(3*19/7) = 8
    assert np.all(tile == 40)
    assert pixels[32:46, :48].max() > 200  # the label under the first tile


def test_gif_plays_as_long_as_the_video(tmp_path):
    frames = write_frames(tmp_path / "frames", 30)
    gif = preview_gif(frames, 30, tmp_path / "run.gif", fps=12, width=48, max_frames=10)
    with Image.open(gif) as img:
        assert img.n_frames == 10 and img.size == (48, 32)
        total = 0
        for i in range(img.n_frames):
            img.seek(i)
            total += img.info["duration"]
    assert total == pytest.approx(30 / 12 * 1000, abs=10 * 10)  # GIF durations are in 10 ms steps


def test_a_finished_run_has_previews_and_measured_quality(compose_config, tmp_path):
    cfg = compose_config("animation=2d_zoom", *TINY, "batch_name=look", "output.quality=true")
    result = render_animation(cfg, tmp_path / "run", progress=False)
    root = result.run_dir
    with Image.open(root / "look_contact.png") as sheet:
        assert sheet.width == 4 * 256 and sheet.height == 2 * (128 + 14)  # 6 frames of 128x64: 4 + 2 tiles
    with Image.open(root / "look.gif") as gif:
        assert gif.n_frames == 6
    record = json.loads((root / "run.json").read_text())
    assert record["video"] == str(result.video)
    metrics = record["metrics"]
    assert metrics["flicker"] >= 0 and metrics["color_drift_mean"] >= 0
    assert metrics["clip_similarity"] is None  # the preview generator has no CLIP
    rows = (root / "quality.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 6


def test_previews_skip_the_quality_measurement_unless_asked(compose_config, tmp_path):
    result = render_animation(compose_config("animation=2d_zoom", *TINY), tmp_path / "run", progress=False)
    assert json.loads((result.run_dir / "run.json").read_text())["metrics"] == {}
    assert not (result.run_dir / "quality.csv").exists()


def test_clip_similarity_is_measured_with_the_generators_real_clip(compose_config, tmp_path):
    """The app scores frames with the generator's first non-tiny CLIP (here a small model under a real name)."""
    from types import SimpleNamespace

    from render.app import measure_run
    from render.config.planner import plan_and_resolve
    from render.config.settings import to_settings
    from render.guidance.clip_models import ClipPerceptor, ClipSpec, build_tiny_clip
    from render.output.quality import clip_similarity_series, read_frame

    cfg = compose_config("animation=2d_zoom", *TINY, "output.video=false")
    result = render_animation(cfg, tmp_path / "run", progress=False)
    plan = plan_and_resolve(to_settings(cfg))
    tiny = ClipPerceptor(ClipSpec("tiny-vit-32", "random"), build_tiny_clip("tiny-vit-32"))
    named = ClipPerceptor(ClipSpec("ViT-B-32", "openai"), build_tiny_clip("tiny-vit-32", seed=1))
    run = SimpleNamespace(frames_dir=result.run_dir / "frames", root=result.run_dir)
    metrics = measure_run(plan, run, [tiny, named])
    frames = [read_frame(result.run_dir / "frames" / f"{f:05d}.png") for f in range(plan.n_frames)]
    expected = clip_similarity_series(frames, plan.text_prompts.frames, named).mean()
    assert metrics["clip_similarity"] == pytest.approx(expected, abs=1e-4)
    assert measure_run(plan, run, [tiny])["clip_similarity"] is None


def test_a_failing_measurement_keeps_the_finished_run(compose_config, tmp_path, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("flow backend exploded")

    monkeypatch.setattr("render.output.quality.measure_frames", broken)
    cfg = compose_config("animation=2d_zoom", *TINY, "output.quality=true")
    result = render_animation(cfg, tmp_path / "run", progress=False)
    record = json.loads((result.run_dir / "run.json").read_text())
    assert record["status"] == "completed" and record["metrics"] == {} and result.video.is_file()
    assert "flow backend exploded" in caplog.text
