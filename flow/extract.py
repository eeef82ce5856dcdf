"""Videos: probe a file (the one media probe: frames, fps, size, duration, audio; for the video input and for the
videos a run writes) and decode every nth frame at the render size.

Frames are uint8 RGB arrays of shape (H, W, 3). Frame selection follows Disco Diffusion's
``select=not(mod(n, N))``: source frames 0, N, 2N, ... are kept (DD numbers them from 1 on disk; here
index 0 is the first kept frame). Decoding uses the ffmpeg binary that ``imageio_ffmpeg`` provides.

Every problem with the input file raises ``VideoInputError`` (a ValueError) whose message names the setting
``animation.video_init_path``, the value given and how to fix it.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import imageio_ffmpeg
import numpy as np

from render.disk.hashing import sha256_file
from render.user_error import UserError

SETTING = "animation.video_init_path"
Size = tuple[int, int]  # (width, height), as the render settings spell it

_NO_VIDEO_STREAM = ("matches no streams", "does not contain any stream", "no video stream")


class VideoInputError(UserError, ValueError):
    """The video named by ``animation.video_init_path`` is missing, unreadable or has no frames."""

    def __init__(self, path: str | os.PathLike, problem: str, fix: str):
        self.path, self.problem, self.fix = str(path), problem, fix
        super().__init__(f"{SETTING}={self.path!r}: {problem}\n  fix: {fix}")


@dataclass(frozen=True)
class VideoInfo:
    """What ``probe_video`` learns about a video file.

    ``frames`` is the exact number of decodable video frames (ffmpeg decodes the whole stream to count them);
    ``fps`` is the container's frame rate (0.0 when ffmpeg cannot tell); ``width``/``height`` are the decoded
    frame size in pixels; ``duration`` is in seconds, as decoded. The file is not hashed: ``content_sha256``.
    """

    frames: int
    fps: float
    width: int
    height: int
    duration: float
    has_audio: bool

    def selected_frames(self, nth: int = 1) -> int:
        """How many frames ``extract_frames(..., nth=nth)`` yields without ``max_frames``."""
        _check_selection(nth, None)
        return math.ceil(self.frames / nth)


def default_output_fps(source_fps: float, nth: int) -> float:
    """The frame rate that keeps the video's real-time speed when every nth frame is rendered."""
    if not source_fps or source_fps <= 0:
        raise ValueError(f"source fps must be positive, got {source_fps!r}")
    _check_selection(nth, None)
    return source_fps / nth


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Frame count, fps, size, duration and audio presence of a video; raises VideoInputError."""
    path = _existing_file(path)
    frames, duration = _count_frames(path)
    meta = _read_meta(path)
    width, height = (int(v) for v in meta["size"])
    return VideoInfo(frames=frames, fps=float(meta.get("fps") or 0.0), width=width, height=height,
                     duration=float(duration), has_audio="audio_codec" in meta)


def content_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a video file's bytes (a cache key that survives renames); raises VideoInputError when the
    file is not there."""
    return sha256_file(_existing_file(path))


def iter_frames(path: str | os.PathLike, size: Size | None = None, nth: int = 1,
                max_frames: int | None = None) -> Iterator[np.ndarray]:
    """Yield source frames 0, nth, 2*nth, ... as uint8 RGB (H, W, 3), resized to ``size=(W, H)`` if given.

    At most ``max_frames`` frames are yielded (counted after the nth-frame selection). Arguments and the
    file's existence are checked at once; ffmpeg starts on the first ``next`` and stops when the iterator is
    exhausted, closed or garbage-collected. Raises VideoInputError when the file cannot be decoded or holds no
    video frame.
    """
    _check_selection(nth, max_frames)
    return _frames(_existing_file(path), _check_size(size), nth, max_frames)


def _frames(path: str, size: Size | None, nth: int, max_frames: int | None) -> Iterator[np.ndarray]:
    if max_frames == 0:
        return
    reader, meta = _open_reader(path)
    width, height = (int(v) for v in meta["size"])
    decoded = kept = 0
    try:
        for raw in reader:
            decoded += 1
            if (decoded - 1) % nth:
                continue
            kept += 1
            yield resize_frame(np.frombuffer(raw, np.uint8).reshape(height, width, 3), size)
            if max_frames is not None and kept >= max_frames:
                return
    except RuntimeError as exc:  # ffmpeg died mid-stream
        raise _ffmpeg_error(path, str(exc)) from exc
    finally:
        reader.close()
    if decoded == 0:
        raise _no_frames(path)


def extract_frames(path: str | os.PathLike, size: Size | None = None, nth: int = 1,
                   max_frames: int | None = None) -> list[np.ndarray]:
    """``list(iter_frames(...))``: every nth frame as uint8 RGB (H, W, 3) at ``size=(W, H)``."""
    return list(iter_frames(path, size=size, nth=nth, max_frames=max_frames))


def resize_frame(frame: np.ndarray, size: Size | None) -> np.ndarray:
    """Resize a uint8 (H, W, 3) frame to ``size=(W, H)``: INTER_AREA when shrinking, INTER_CUBIC otherwise.

    Returns a new writable array (a copy when no resize is needed).
    """
    height, width = frame.shape[:2]
    if size is None or tuple(size) == (width, height):
        return np.array(frame, copy=True)
    shrinking = size[0] <= width and size[1] <= height
    return cv2.resize(frame, tuple(size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


# ---------------------------------------------------------------------------------------------------------------
# Helpers


def _check_selection(nth: int, max_frames: int | None) -> None:
    if isinstance(nth, bool) or not isinstance(nth, int) or nth < 1:
        raise ValueError(f"nth must be an integer >= 1 (1 keeps every frame), got {nth!r}")
    if max_frames is not None and (isinstance(max_frames, bool) or not isinstance(max_frames, int)
                                   or max_frames < 0):
        raise ValueError(f"max_frames must be None or an integer >= 0, got {max_frames!r}")


def _check_size(size: Size | None) -> Size | None:
    if size is None:
        return None
    if len(size) != 2 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in size):
        raise ValueError(f"size must be (width, height) in positive pixels, got {size!r}")
    return int(size[0]), int(size[1])


def _existing_file(path: str | os.PathLike) -> str:
    if path is None or str(path).strip() == "":
        raise VideoInputError("", "no video file is set",
                              f"set {SETTING}=/path/to/video.mp4 (video input mode needs a source video)")
    p = Path(os.path.expanduser(path))
    if not p.is_file():
        what = "is a directory, not a video file" if p.is_dir() else "does not exist"
        raise VideoInputError(path, f"{what} (looked at {p.resolve()})",
                              f"set {SETTING} to an existing video file, e.g. {SETTING}=/abs/path/clip.mp4 "
                              f"(relative paths are resolved from the directory the renderer starts in)")
    return str(p)


def _count_frames(path: str) -> tuple[int, float]:
    """The decodable frames and the seconds they last."""
    try:
        frames, secs = imageio_ffmpeg.count_frames_and_secs(path)
    except RuntimeError as exc:
        raise _ffmpeg_error(path, str(exc)) from exc
    if not frames:
        raise _no_frames(path)
    return int(frames), float(secs)


def _open_reader(path: str):
    """Start ffmpeg; return the frame generator (already past its metadata) and the metadata dict."""
    reader = imageio_ffmpeg.read_frames(path, pix_fmt="rgb24")
    try:
        meta = next(reader)
    except (OSError, RuntimeError, StopIteration) as exc:
        reader.close()
        raise _ffmpeg_error(path, str(exc)) from exc
    return reader, meta


def _read_meta(path: str) -> dict:
    reader, meta = _open_reader(path)
    reader.close()
    return meta


def _no_frames(path: str) -> VideoInputError:
    return VideoInputError(path, "the file holds no video frames (no video stream, or an empty one)",
                           f"point {SETTING} at a video with at least one frame; check it plays, "
                           f"e.g. with `ffprobe {path}`")


def _ffmpeg_error(path: str, text: str) -> VideoInputError:
    if any(marker in text for marker in _NO_VIDEO_STREAM):
        return _no_frames(path)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    detail = next((line for line in reversed(lines) if "Invalid data" in line or "rror" in line),
                  lines[-1] if lines else "unknown error")
    return VideoInputError(path, f"ffmpeg cannot read it as a video ({detail})",
                           f"set {SETTING} to a video file ffmpeg can decode (mp4/mov/webm/...); if it is a "
                           f"partial download, fetch it again")
