"""Video stitching with imageio-ffmpeg: every frame from 0, the requested rate and size, decodable output."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from flow.extract import probe_video
from render.output.ffmpeg import VideoError, stitch_video


def write_frames(folder, n, width=96, height=64):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = np.zeros((height, width, 3), np.uint8)
        img[:, : (i + 1) * width // n] = 255  # a bar that grows: every frame differs
        Image.fromarray(img).save(folder / f"{i:05d}.png")


@pytest.mark.parametrize("fps", [12, 24, 7.5])
def test_stitch_keeps_every_frame_and_rate(tmp_path, fps):
    write_frames(tmp_path / "frames", 9)
    out = stitch_video(tmp_path / "frames", tmp_path / "v.mp4", fps=fps, crf=17, preset="ultrafast")
    info = probe_video(out)
    assert (info.frames, info.width, info.height) == (9, 96, 64)
    assert info.fps == pytest.approx(fps, rel=1e-3)
    assert info.duration == pytest.approx(9 / fps, abs=1.5 / fps)


def test_first_frame_is_frame_zero(tmp_path):
    import imageio_ffmpeg

    write_frames(tmp_path / "frames", 4)
    out = stitch_video(tmp_path / "frames", tmp_path / "v.mp4", fps=12, crf=0, preset="ultrafast")
    reader = imageio_ffmpeg.read_frames(str(out))
    meta = next(reader)
    first = np.frombuffer(next(reader), np.uint8).reshape(meta["size"][1], meta["size"][0], 3)
    reader.close()
    # frame 0's bar covers a quarter of the width; DD's video started at frame 1 (half the width)
    assert first[:, :20].mean() > 200 and first[:, 30:].mean() < 50


def test_missing_frames_are_a_clear_error(tmp_path):
    (tmp_path / "frames").mkdir()
    with pytest.raises(VideoError, match="ffmpeg failed"):
        stitch_video(tmp_path / "frames", tmp_path / "v.mp4", fps=12)
    assert not (tmp_path / "v.mp4").exists()
