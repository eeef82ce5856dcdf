"""Video Input mode end to end, on a synthetic video with known motion and a soundtrack made here."""
from __future__ import annotations

import json
import subprocess
import wave
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
from support import frame_hashes, run_main, streams

from flow.estimators import DisFlow
from flow.extract import probe_video
from render.app import render_animation
from render.config.issues import ConfigErrors
from render.config.planner import plan_and_resolve
from render.config.settings import to_settings

W, H, N_SOURCE, FPS = 128, 64, 12, 24.0


def scene(k: int) -> np.ndarray:
    """A smooth texture drifting right 2 px per source frame, with a bright square moving down 1 px per frame."""
    rng = np.random.default_rng(0)
    texture = ndimage.gaussian_filter(rng.random((H + 8, W + 64, 3)), (2, 2, 0))
    texture = (texture - texture.min()) / (texture.max() - texture.min())
    frame = texture[4:4 + H, 32 - 2 * k:32 - 2 * k + W].copy()
    frame[10 + k:26 + k, 50:66] = 0.95
    return (frame * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def source_video(tmp_path_factory) -> "Path":
    folder = tmp_path_factory.mktemp("video")
    silent = folder / "silent.mp4"
    writer = imageio_ffmpeg.write_frames(str(silent), (W, H), fps=FPS, codec="libx264", quality=None,
                                         output_params=["-crf", "0", "-preset", "ultrafast"], macro_block_size=1,
                                         pix_fmt_out="yuv444p")
    writer.send(None)
    for k in range(N_SOURCE):
        writer.send(np.ascontiguousarray(scene(k)))
    writer.close()
    tone = folder / "tone.wav"
    t = np.arange(int(44100 * (N_SOURCE / FPS + 0.5))) / 44100  # longer than the video: the render cuts it
    with wave.open(str(tone), "wb") as wav:
        wav.setnchannels(1), wav.setsampwidth(2), wav.setframerate(44100)
        wav.writeframes((np.sin(2 * np.pi * 440 * t) * 12000).astype(np.int16).tobytes())
    video = folder / "clip.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(silent), "-i", str(tone),
                    "-c:v", "copy", "-c:a", "aac", str(video)], check=True)
    return video


def video_args(video, tmp_path, *extra):
    return ["animation=video_input", f"animation.video_init_path={video}", f"width={W}", f"height={H}", "seed=7",
            "output.preset=ultrafast", "flow=dis", f"flow.cache_dir={tmp_path / 'cache'}", *extra]





def frames_of(run_dir, folder="frames"):
    return [np.asarray(Image.open(p)) for p in sorted((run_dir / folder).glob("*.png"))]


def test_preview_run_follows_the_source_and_exports_flow_blend_with_audio(compose_config, source_video, tmp_path):
    cfg = compose_config(*video_args(source_video, tmp_path, "generator=preview", "animation.extract_nth_frame=2"))
    result = render_animation(cfg, tmp_path / "run", progress=False)
    frames = frames_of(tmp_path / "run")
    assert len(frames) == 6  # every 2nd of 12 source frames
    # The preview generator keeps each init, so every frame is the previous output carried along the flow and
    # blended into the source: it must stay on the source (good flow, unreliable pixels taken from the source).
    for k, frame in enumerate(frames):
        diff = np.abs(frame[6:-6, 6:-6].astype(float) - scene(2 * k)[6:-6, 6:-6].astype(float))
        assert diff.mean() < 4.0, f"frame {k} drifted from the source: {diff.mean():.2f}"
    info = streams(result.video)
    assert "Audio: aac" in info and "Video: h264" in info
    assert "12 fps" in info  # the source's 24 fps / extract_nth_frame
    flow_export = tmp_path / "run" / "TimeToDisco_flow.mp4"
    assert flow_export.exists() and "Audio: aac" in streams(flow_export)
    assert probe_video(result.video).frames == 6
    assert len(frames_of(tmp_path / "run", "flow_blend")) == 6
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert [f["seed"] for f in record["frames"]] == [8 + f for f in range(6)]  # DD: seed + 1 on frame 0 too
    assert len(list((tmp_path / "cache").rglob("pair_*.npz"))) == 5  # flow of each pair, for the next run


def test_a_second_run_over_the_same_video_reads_the_flow_cache(compose_config, source_video, tmp_path, monkeypatch):
    args = video_args(source_video, tmp_path, "generator=preview", "animation.max_frames=4", "output.video=false")
    render_animation(compose_config(*args), tmp_path / "first", progress=False)

    def no_flow(*_):
        raise AssertionError("flow was computed again")

    monkeypatch.setattr(DisFlow, "__call__", no_flow)
    render_animation(compose_config(*args, "seed=8"), tmp_path / "second", progress=False)
    assert len(frames_of(tmp_path / "second")) == 4


def test_diffusion_run_with_tiny_models_and_linear_export(compose_config, source_video, tmp_path):
    """The issue's end-to-end case: ``animation=video_input model=tiny flow=dis`` over a 12-frame clip."""
    cfg = compose_config(*video_args(source_video, tmp_path, "model=tiny", "animation.extract_nth_frame=1",
                                     "animation.video_init_blend_mode=linear", "animation.video_init_steps=6",
                                     "animation.video_init_skip_steps=2", "animation.video_init_seed_continuity=true",
                                     "output.fps=8", "flow.save_previews=true"))
    result = render_animation(cfg, tmp_path / "run", progress=False)
    run = tmp_path / "run"
    info = probe_video(result.video)
    assert (info.frames, info.fps, info.width, info.height) == (12, 8.0, W, H)
    assert len(frames_of(run)) == 12 and len(frames_of(run, "linear_blend")) == 12
    assert probe_video(run / "TimeToDisco_blend.mp4").frames == 12
    previews = sorted(p.name for p in (run / "flow_preview").iterdir())
    assert previews[:4] == ["00001_flow.png", "00001_mask.png", "00002_flow.png", "00002_mask.png"]
    assert len(previews) == 22
    record = json.loads((run / "run.json").read_text())
    assert {f["seed"] for f in record["frames"]} == {7}  # video_init_seed_continuity


@pytest.mark.slow  # a minute of subprocesses; run with python -m pytest -m slow
def test_killed_video_run_resumes_bit_identically(source_video, tmp_path):

    args = video_args(source_video, tmp_path, "model=tiny", "animation.max_frames=5", "animation.extract_nth_frame=1",
                      "animation.video_init_steps=5", "animation.video_init_skip_steps=1", "output.video=false")
    assert run_main(*args, f"hydra.run.dir={tmp_path / 'straight'}").returncode == 0
    killed = run_main(*args, f"hydra.run.dir={tmp_path / 'killed'}", env={"DISCO_ANIM_FAULT": "frame:3"})
    assert killed.returncode != 0 and not (tmp_path / "killed" / "frames" / "00003.png").exists()
    resumed = run_main(f"resume={tmp_path / 'killed'}")
    assert resumed.returncode == 0, resumed.stderr
    expected = frame_hashes(tmp_path / "straight")
    assert len(expected) == 5 and frame_hashes(tmp_path / "killed") == expected


def test_video_init_settings_replace_the_models(compose_config, source_video, tmp_path):
    plan = plan_and_resolve(to_settings(compose_config(*video_args(
        source_video, tmp_path, "model=tiny", "animation.video_init_steps=40", "animation.video_init_tv_scale=0.5",
        "animation.video_init_skip_steps=5",
        "animation.video_init_frames_scale=900", "animation.video_init_frames_skip_steps=50%"))))
    model = plan.diffusion.model
    assert (model.steps, model.tv_scale, model.init_scale, model.frames_scale) == (40, 0.5, 900, 900)
    assert plan.diffusion.frames_skip_steps == 20
    assert plan.n_frames == 6 and plan.fps == 12.0


def test_an_invalid_video_init_value_is_named_as_written(compose_config, source_video, tmp_path):
    with pytest.raises(ConfigErrors) as err:
        plan_and_resolve(to_settings(compose_config(*video_args(source_video, tmp_path, "model=tiny",
                                                            "animation.video_init_steps=20"))))
    assert "animation.video_init_skip_steps" in str(err.value)  # the preset's 50 >= 20 steps


@pytest.mark.parametrize("path, problem", [("missing.mp4", "does not exist"), ("garbage", "cannot read it as a video")])
def test_bad_video_is_a_named_error_before_any_model(compose_config, tmp_path, path, problem):
    if path == "garbage":
        path = tmp_path / "garbage.mp4"
        path.write_bytes(b"not a video at all" * 50)
    with pytest.raises(ConfigErrors) as err:
        plan_and_resolve(to_settings(compose_config(*video_args(path, tmp_path))))
    text = str(err.value)
    assert "animation.video_init_path" in text and "fix:" in text and problem in text


def test_video_input_without_a_path_names_the_setting(compose_config, tmp_path):
    with pytest.raises(ConfigErrors) as err:
        plan_and_resolve(to_settings(compose_config("animation=video_input", f"flow.cache_dir={tmp_path}")))
    assert "animation.video_init_path" in str(err.value)
