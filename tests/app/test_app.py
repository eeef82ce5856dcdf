"""End to end: composed config -> frames, plot, resolved config and an mp4 that decodes; and the CLI."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from conftest import ROOT, TINY
from PIL import Image

from flow.extract import probe_video
from render.app import render_animation
from transforms.camera3d import warp3d


def frames_of(run_dir):
    return [np.asarray(Image.open(p)) for p in sorted((run_dir / "frames").glob("*.png"))]


@pytest.mark.parametrize("preset", ["2d_zoom", "2d_spin", "3d_zoom", "3d_orbit", "none"])
def test_every_preset_renders_a_video(compose_config, tmp_path, preset):
    result = render_animation(compose_config(f"animation={preset}", *TINY), tmp_path, progress=False)
    frames = frames_of(tmp_path)
    assert len(frames) == 6 and all(f.shape == (64, 128, 3) for f in frames)
    info = probe_video(result.video)
    assert (info.frames, info.width, info.height, info.fps) == (6, 128, 64, 12.0)
    assert result.video.name == "TimeToDisco.mp4"
    with Image.open(tmp_path / "schedules.png") as plot:
        assert plot.format == "PNG" and plot.size[0] > 300
    resolved = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert resolved["seed"] == 123 and resolved["animation"]["mode"] == preset.split("_")[0]


def test_same_seed_same_frames_different_seed_different_frames(compose_config, tmp_path):
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        render_animation(compose_config("animation=2d_spin", *TINY, f"seed={seed}", "output=png"), tmp_path / name,
                         progress=False)
    a, b, c = (frames_of(tmp_path / n) for n in "abc")
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    assert not (tmp_path / "a" / "TimeToDisco.mp4").exists()  # output=png: frames only


def test_each_frame_is_the_warp_of_the_previous_one(compose_config, tmp_path):
    render_animation(compose_config("animation=3d_zoom", "depth=flat", *TINY, "output=png"), tmp_path, progress=False)
    frames = frames_of(tmp_path)
    for previous, current in zip(frames, frames[1:]):
        prev = torch.from_numpy(previous.copy()).permute(2, 0, 1)[None].float() / 255
        expected = warp3d(prev, torch.ones(1, 1, 64, 128), (0, 0, 10), (0, 0, 0))
        expected = (expected[0].permute(1, 2, 0) * 255).to(torch.uint8).numpy()
        np.testing.assert_array_equal(current, expected)


def test_flat_depth_pure_translation_z_is_a_centre_zoom(compose_config, tmp_path):
    # A plane at depth 1 and the camera 10/200 closer: every point's NDC position grows by 1/(1 - 0.05); DD adds that
    # NDC offset (scaled by 1/tan(fov/2)) to normalised image coordinates, so content magnifies about the centre by
    # 1/(1 - (1/0.95 - 1)/tan(20 deg)), about 1.17x per frame.
    render_animation(compose_config("animation=3d_zoom", "depth=flat", *TINY, "output=png",
                                    "animation.sampling_mode=bilinear"),
                     tmp_path, progress=False)
    f0, f1 = (torch.from_numpy(f.copy()).permute(2, 0, 1)[None].float() / 255 for f in frames_of(tmp_path)[:2])
    scale = float(1 - (1 / 0.95 - 1) / np.tan(np.radians(20)))
    theta = torch.tensor([[[scale, 0, 0], [0, scale, 0]]])
    zoomed = torch.nn.functional.grid_sample(f0, torch.nn.functional.affine_grid(theta, f0.shape, align_corners=False),
                                             mode="bilinear", padding_mode="border", align_corners=False)
    inner = (slice(None), slice(None), slice(8, -8), slice(16, -16))
    assert (zoomed[inner] - f1[inner]).abs().mean() < 2 / 255


def test_init_image_is_frame_zero(compose_config, tmp_path):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (64, 128, 3), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "init.png")
    render_animation(compose_config("animation=2d_zoom", *TINY, f"init_image={tmp_path / 'init.png'}", "output=png"),
                     tmp_path / "run", progress=False)
    np.testing.assert_array_equal(frames_of(tmp_path / "run")[0], image)


def test_still_mode_frames_are_independent_noise(compose_config, tmp_path):
    render_animation(compose_config("animation=none", *TINY, "output=png"), tmp_path, progress=False)
    frames = frames_of(tmp_path)
    assert len(frames) == 6 and not np.array_equal(frames[0], frames[1])


def run_cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "main.py", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_cli_renders_mp4(tmp_path):
    proc = run_cli("animation=2d_zoom", *TINY, f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    assert probe_video(tmp_path / "TimeToDisco.mp4").frames == 6
    assert (tmp_path / "main.log").exists() and "rendering 6 frames" in (tmp_path / "main.log").read_text()


def test_cli_bad_schedule_exits_2_naming_the_setting_and_renders_nothing(tmp_path):
    proc = run_cli("animation=2d_zoom", *TINY, 'animation.zoom="0: (1), 3: (1/(t-4))"', f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 2
    assert 'animation.zoom: key 3, frame 4: division by zero in "1/(t-4)"' in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "frames").exists()


def test_cli_unknown_key_is_named(tmp_path):
    proc = run_cli("animation.zoon=1.1", f"hydra.run.dir={tmp_path}")
    assert proc.returncode != 0 and "zoon" in proc.stderr
