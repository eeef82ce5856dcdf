"""Stitching frames into an mp4 with imageio-ffmpeg's bundled ffmpeg (a video's facts: ``flow.extract.probe_video``)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg

from render.disk.atomic import rename_into_place
from render.user_error import UserError


class VideoError(UserError, RuntimeError):
    pass


def stitch_video(frames_dir: Path, out_path: Path, *, fps: float, crf: int = 17, preset: str = "slow",
                 pattern: str = "%05d.png", start_number: int = 0) -> Path:
    """Encode ``frames_dir/pattern`` from ``start_number`` as H.264 (libx264, yuv420p) at ``fps``.

    Every frame is kept, frame 0 included (DD's video cell started at frame 1). The file is written beside the
    target and renamed, so an interrupted encode never leaves a truncated mp4 under the final name.
    """
    inputs = ["-framerate", f"{fps:g}", "-start_number", str(start_number), "-i", str(Path(frames_dir) / pattern)]
    return _encode(inputs, [], out_path, crf=crf, preset=preset)


def stitch_smooth(frames_dir: Path, out_path: Path, *, fps: float, n_frames: int, to_fps: float | None = None,
                  scale: int = 1, crf: int = 17, preset: str = "slow", pattern: str = "%05d.png",
                  start_number: int = 0) -> Path:
    """The frames at ``to_fps`` by ffmpeg's motion-compensated interpolation (``minterpolate``, bidirectional motion
    estimation, overlapped blocks) and/or ``scale`` times wider and taller (Lanczos), as :func:`stitch_video`.

    The interpolated video lasts as long as the frames at ``fps`` do: the last frame is held for two more frames
    (minterpolate stops short of its last input) and the output is cut at ``n_frames * to_fps / fps`` frames."""
    chain, limit = [], []
    if to_fps is not None:
        chain += ["tpad=stop_mode=clone:stop=2",
                  f"minterpolate=fps={to_fps:g}:mi_mode=mci:mc_mode=aobmc:me_mode=bidir:vsbmc=1"]
        limit = ["-frames:v", str(max(1, round(n_frames * to_fps / fps)))]
    if scale != 1:
        chain.append(f"scale=iw*{scale}:ih*{scale}:flags=lanczos")
    if not chain:
        raise ValueError("stitch_smooth needs to_fps or a scale other than 1")
    inputs = ["-framerate", f"{fps:g}", "-start_number", str(start_number), "-i", str(Path(frames_dir) / pattern)]
    return _encode(inputs, ["-vf", ",".join(chain), *limit], out_path, crf=crf, preset=preset)


def stitch_side_by_side(frames_dir: Path, out_path: Path, *, fps: float, crf: int = 17, preset: str = "slow",
                        left: str = "%05d_l.png", right: str = "%05d_r.png", start_number: int = 0) -> Path:
    """The VR video: left and right eye frames side by side (left eye on the left), as :func:`stitch_video`."""
    inputs = []
    for pattern in (left, right):
        inputs += ["-framerate", f"{fps:g}", "-start_number", str(start_number), "-i", str(Path(frames_dir) / pattern)]
    return _encode(inputs, ["-filter_complex", "[0:v][1:v]hstack=inputs=2"], out_path, crf=crf, preset=preset)


def mux_audio(video: Path, source: Path, *, offset: float = 0.0, duration: float | None = None) -> Path:
    """Give ``video`` the first audio stream of ``source`` (from ``offset`` seconds, at most ``duration`` seconds,
    AAC); the video stream is copied, never cut (audio shorter than the video just ends early). The file is replaced
    atomically."""
    video = Path(video)
    tmp = video.with_name(f".{video.stem}.audio{video.suffix}")
    audio_input = ["-ss", f"{offset:.6f}"] + (["-t", f"{duration:.6f}"] if duration else []) + ["-i", str(source)]
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error", "-i", str(video),
           *audio_input, "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", "-b:a", "192k",
           "-movflags", "+faststart", str(tmp)]
    return _replace(video, tmp, cmd, f"adding the audio of {source} to {video}")


def mux_subtitles(video: Path, srt: Path) -> Path:
    """Add ``srt`` to ``video`` as a subtitle track (mov_text, the mp4 kind); the other streams are copied. The file
    is replaced atomically."""
    video = Path(video)
    tmp = video.with_name(f".{video.stem}.subtitles{video.suffix}")
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error", "-i", str(video), "-i",
           str(srt), "-map", "0", "-map", "1:s:0", "-c", "copy", "-c:s", "mov_text", "-metadata:s:s:0",
           "title=parameters", "-movflags", "+faststart", str(tmp)]
    return _replace(video, tmp, cmd, f"adding the subtitles {srt} to {video}")


def _replace(video: Path, tmp: Path, cmd: list[str], doing: str) -> Path:
    """Run ffmpeg writing ``tmp``, then put it in place of ``video``; a failure leaves ``video`` as it was."""
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise VideoError(f"ffmpeg failed ({result.returncode}) {doing}:\n{result.stderr.strip()[-2000:]}")
    return rename_into_place(tmp, video)


def _encode(inputs: list[str], filters: list[str], out_path: Path, *, crf: int, preset: str) -> Path:
    out_path = Path(out_path)
    tmp = out_path.with_name(f".{out_path.stem}.partial{out_path.suffix}")
    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error", *inputs, *filters,
        "-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p",
        "-movflags", "+faststart", str(tmp),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise VideoError(f"ffmpeg failed ({result.returncode}) making {out_path}:\n{result.stderr.strip()[-2000:]}")
    return rename_into_place(tmp, out_path)
