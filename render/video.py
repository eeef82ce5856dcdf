"""Stitching frames into an mp4 with imageio-ffmpeg's bundled ffmpeg, and reading a video's facts back."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg


class VideoError(RuntimeError):
    pass


@dataclass(frozen=True)
class VideoInfo:
    frames: int
    width: int
    height: int
    fps: float
    duration: float


def stitch_video(frames_dir: Path, out_path: Path, *, fps: float, crf: int = 17, preset: str = "slow",
                 pattern: str = "%05d.png", start_number: int = 0) -> Path:
    """Encode ``frames_dir/pattern`` from ``start_number`` as H.264 (libx264, yuv420p) at ``fps``.

    Every frame is kept, frame 0 included (DD's video cell started at frame 1). The file is written beside the
    target and renamed, so an interrupted encode never leaves a truncated mp4 under the final name.
    """
    out_path = Path(out_path)
    tmp = out_path.with_name(f".{out_path.stem}.partial{out_path.suffix}")
    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error",
        "-framerate", f"{fps:g}", "-start_number", str(start_number), "-i", str(Path(frames_dir) / pattern),
        "-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p",
        "-movflags", "+faststart", str(tmp),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise VideoError(f"ffmpeg failed ({result.returncode}) making {out_path}:\n{result.stderr.strip()[-2000:]}")
    tmp.replace(out_path)
    return out_path


def probe_video(path: Path) -> VideoInfo:
    """Decode ``path`` and report its frame count, size, frame rate and duration."""
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    reader.close()
    frames, duration = imageio_ffmpeg.count_frames_and_secs(str(path))
    width, height = meta["size"]
    return VideoInfo(frames=frames, width=width, height=height, fps=float(meta["fps"]), duration=float(duration))
