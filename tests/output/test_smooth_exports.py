"""output.interpolate_fps and output.upscale: motion-interpolated and Lanczos-scaled copies of a run's video, with the
song muxed in; frame counts, sizes and durations measured on the files."""
from __future__ import annotations

import imageio_ffmpeg
import numpy as np
import pytest
from conftest import TINY
from PIL import Image
from support import click_track, streams

from flow.extract import probe_video
from render.app import render_animation
from render.output.ffmpeg import stitch_smooth, stitch_video


def sliding_square(folder, n=6, step=12):
    """A bright 16x16 square moving ``step`` pixels right per frame on a dark 128x64 ground."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = np.full((64, 128, 3), 20, np.uint8)
        img[24:40, 16 + step * i: 32 + step * i] = 235
        Image.fromarray(img).save(folder / f"{i:05d}.png")
    return folder


def decoded(path):
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    width, height = meta["size"]
    frames = [np.frombuffer(b, np.uint8).reshape(height, width, 3) for b in reader]
    return frames


def test_interpolation_moves_the_square_halfway_instead_of_blending_it(tmp_path):
    frames = sliding_square(tmp_path / "frames")
    out = stitch_smooth(frames, tmp_path / "x_24fps.mp4", fps=12, n_frames=6, to_fps=24, crf=10, preset="ultrafast")
    info, plain = probe_video(out), probe_video(stitch_video(frames, tmp_path / "x.mp4", fps=12, preset="ultrafast"))
    assert (info.frames, info.width, info.height, info.fps) == (12, 128, 64, 24.0)
    assert info.duration == pytest.approx(plain.duration, abs=1e-3) == pytest.approx(0.5, abs=1e-3)
    for k, image in enumerate(decoded(out)[:11]):  # the 12th holds the last frame
        bright = image[..., 1] > 128
        # a whole square (a blend would leave two half-bright ones) whose centre moved half a step per frame
        assert bright.sum() == 256, k
        assert np.nonzero(bright)[1].mean() == pytest.approx(23.5 + 6 * k, abs=1.0), k


@pytest.mark.parametrize("scale", [2, 4])
def test_upscale_keeps_frames_and_rate_and_scales_both_sides(tmp_path, scale):
    frames = sliding_square(tmp_path / "frames")
    info = probe_video(stitch_smooth(frames, tmp_path / "x.mp4", fps=12, n_frames=6, scale=scale, preset="ultrafast"))
    assert (info.frames, info.width, info.height, info.fps) == (6, 128 * scale, 64 * scale, 12.0)
    assert info.duration == pytest.approx(0.5, abs=1e-3)
    square = decoded(tmp_path / "x.mp4")[0][..., 1] > 128
    assert square.sum() == pytest.approx(256 * scale * scale, rel=0.05)


def test_a_run_with_both_writes_each_copy_with_the_song(compose_config, tmp_path):
    song = click_track(tmp_path / "song.wav", 120, seconds=3)
    cfg = compose_config("animation=2d_zoom", *TINY, "output.interpolate_fps=24", "output.upscale=2",
                         f"audio.path={song}")
    result = render_animation(cfg, tmp_path / "run", progress=False)
    main = probe_video(result.video)
    assert (main.frames, main.fps) == (6, 12.0)
    smooth = probe_video(tmp_path / "run" / "TimeToDisco_24fps.mp4")
    large = probe_video(tmp_path / "run" / "TimeToDisco_24fps_2x.mp4")
    assert (smooth.frames, smooth.width, smooth.height, smooth.fps) == (2 * main.frames, 128, 64, 24.0)
    assert (large.frames, large.width, large.height, large.fps) == (2 * main.frames, 256, 128, 24.0)
    for info in (smooth, large):
        assert info.duration == pytest.approx(main.duration, abs=1e-3)
    for name in ("TimeToDisco.mp4", "TimeToDisco_24fps.mp4", "TimeToDisco_24fps_2x.mp4"):
        assert "Audio: aac" in streams(tmp_path / "run" / name), name
    page = (tmp_path / "run" / "report.html").read_text()
    assert 'src="TimeToDisco_24fps.mp4"' in page and 'src="TimeToDisco_24fps_2x.mp4"' in page


def test_upscale_alone_is_a_copy_at_the_rendered_rate(compose_config, tmp_path):
    result = render_animation(compose_config("animation=2d_zoom", *TINY, "output.upscale=4"), tmp_path, progress=False)
    info = probe_video(tmp_path / "TimeToDisco_4x.mp4")
    assert (info.frames, info.width, info.height, info.fps) == (6, 512, 256, 12.0)
    assert sorted(p.name for p in tmp_path.glob("*.mp4")) == ["TimeToDisco.mp4", "TimeToDisco_4x.mp4"]
    assert result.video == tmp_path / "TimeToDisco.mp4"
