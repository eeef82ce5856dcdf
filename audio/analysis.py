"""Audio analysis for audio-reactive animation: per-video-frame loudness, onsets, beats, band energies and a beat
clock, aligned to the render fps (frame ``f`` covers the time ``[f/fps, (f+1)/fps)`` of the analysed audio)."""
from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from render.disk.atomic import atomic_open
from render.disk.hashing import sha256_file
from render.user_error import UserError

SR = 22050
HOP = 256  # 11.6 ms at 22050 Hz: a beat time resolves well within one video frame (41.7 ms at 24 fps)
N_FFT = 2048
LO_HZ = 250.0  # lo: below 250 Hz; mid: 250-4000 Hz; hi: above 4000 Hz
HI_HZ = 4000.0
VERSION = f"audio-features-1/sr{SR}/hop{HOP}/nfft{N_FFT}/bands{LO_HZ:g}-{HI_HZ:g}"

# Containers that libsndfile does not read (or reads badly): decoded by the bundled ffmpeg straight away.
FFMPEG_SUFFIXES = {".mp3", ".m4a", ".aac", ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".opus", ".wma", ".3gp"}
_FIX = "set audio.path to an existing, readable audio file (wav, flac, ogg, mp3, m4a, aac or a video with sound)"


def keep_numba_cache_outside_the_venv() -> None:
    """librosa's numba kernels cache compiled code beside their sources (inside the virtualenv), where two processes
    compiling at once can corrupt it; a per-user cache folder is used instead (before librosa is imported)."""
    cache = Path(os.path.expanduser(os.environ.get("XDG_CACHE_HOME") or "~/.cache")) / "disco-anim" / "numba"
    os.environ.setdefault("NUMBA_CACHE_DIR", str(cache))


keep_numba_cache_outside_the_venv()

VARIABLES = ("rms", "onset", "beat", "lo", "mid", "hi", "b", "bpm")  # what schedules see of a song

class AudioError(UserError, ValueError):
    """The audio file (``audio.path``) or its settings cannot be used; the message says which and how to fix it."""


# --------------------------------------------------------------------------------------------------- loading


def _check_window(offset: float, duration: float | None) -> None:
    if not (isinstance(offset, (int, float)) and math.isfinite(offset) and offset >= 0):
        raise AudioError(f"audio.offset={offset!r} must be a number of seconds >= 0; fix: set audio.offset=0 or "
                         f"the time in the song where the animation starts")
    if duration is not None and not (isinstance(duration, (int, float)) and math.isfinite(duration)
                                     and duration > 0):
        raise AudioError(f"audio.duration={duration!r} must be a number of seconds > 0 or null (to the end); "
                         f"fix: set audio.duration=null or a positive length")


def _load_soundfile(path: Path, offset: float, duration: float | None, sr: int) -> np.ndarray:
    import soundfile as sf

    with sf.SoundFile(str(path)) as f:
        native = f.samplerate
        start = int(round(offset * native))
        if start >= f.frames:
            return np.zeros(0, np.float32)
        f.seek(start)
        count = -1 if duration is None else int(round(duration * native))
        data = f.read(count, dtype="float32", always_2d=True)
    y = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
    if native != sr and y.size:
        import librosa

        y = librosa.resample(y, orig_sr=native, target_sr=sr, res_type="soxr_hq")
    return np.ascontiguousarray(y, dtype=np.float32)


def _load_ffmpeg(path: Path, offset: float, duration: float | None, sr: int) -> np.ndarray:
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error"]
    if offset > 0:
        cmd += ["-ss", f"{offset:.6f}"]
    cmd += ["-i", str(path)]
    if duration is not None:
        cmd += ["-t", f"{duration:.6f}"]
    cmd += ["-vn", "-map", "0:a:0", "-f", "f32le", "-acodec", "pcm_f32le", "-ac", "1", "-ar", str(int(sr)),
            "pipe:1"]
    result = subprocess.run(cmd, capture_output=True)
    if result.returncode != 0:
        msg = result.stderr.decode("utf-8", "replace").strip()[-600:] or f"exit status {result.returncode}"
        raise AudioError(f"audio.path={str(path)!r}: cannot decode the audio (ffmpeg: {msg}); fix: {_FIX}")
    return np.frombuffer(result.stdout[: len(result.stdout) // 4 * 4], dtype="<f4").astype(np.float32)


def load_audio(path, *, offset: float = 0.0, duration: float | None = None,
               sr: int = SR) -> tuple[np.ndarray, int]:
    """Decode ``path`` to mono float32 at ``sr`` Hz, from ``offset`` seconds for ``duration`` seconds (None: to the
    end). wav/flac/ogg/aiff are read with soundfile; mp3/m4a/aac/video containers, and anything soundfile cannot
    read, with imageio-ffmpeg's bundled ffmpeg. Raises :class:`AudioError` naming ``audio.path``."""
    _check_window(offset, duration)
    p = Path(os.path.expanduser(path))
    if not p.exists():
        raise AudioError(f"audio.path={str(path)!r}: no such file; fix: {_FIX} (check the spelling, or give an "
                         f"absolute path)")
    if not p.is_file():
        raise AudioError(f"audio.path={str(path)!r} is not a file; fix: {_FIX}")
    y = None
    if p.suffix.lower() not in FFMPEG_SUFFIXES:
        try:
            y = _load_soundfile(p, offset, duration, sr)
        except (RuntimeError, TypeError, ValueError, EOFError):  # sf.LibsndfileError is a RuntimeError
            y = None
    if y is None:
        y = _load_ffmpeg(p, offset, duration, sr)
    if y.size == 0:
        if offset:
            raise AudioError(f"audio.path={str(path)!r}: no audio samples after audio.offset={offset:g} s (the file "
                             f"is shorter than that); fix: lower audio.offset")
        raise AudioError(f"audio.path={str(path)!r}: the file holds no audio samples; fix: {_FIX}")
    if not np.all(np.isfinite(y)):
        bad = int(np.count_nonzero(~np.isfinite(y)))
        raise AudioError(f"audio.path={str(path)!r}: {bad} sample{'s are' if bad != 1 else ' is'} NaN or infinite "
                         f"(a damaged float WAV); fix: export the song again (16-bit or float WAV without NaN), or "
                         f"audio.path=null")
    return y, int(sr)


# -------------------------------------------------------------------------------------------------- features

_ARRAYS = ("rms", "onset", "beat", "lo", "mid", "hi", "b", "beat_frames")
_SCALARS = ("bpm", "duration", "fps")


@dataclass
class AudioFeatures:
    """Per-video-frame features (float64 arrays of length ``n_frames``), each normalised to [0, 1] over the
    analysed window, except ``b`` (the beat clock: 0 on the first beat, +1 per beat) and ``beat_frames``."""

    rms: np.ndarray
    onset: np.ndarray
    beat: np.ndarray
    lo: np.ndarray
    mid: np.ndarray
    hi: np.ndarray
    b: np.ndarray
    bpm: float
    beat_frames: np.ndarray = field(repr=False)
    duration: float  # seconds of audio analysed
    fps: float

    @property
    def n_frames(self) -> int:
        return int(self.rms.shape[0])

    def variables(self) -> dict[str, np.ndarray]:
        """The schedule-language variables: name -> array of length ``n_frames``."""
        out = {k: getattr(self, k) for k in VARIABLES if k != "bpm"}
        out["bpm"] = np.full(self.n_frames, float(self.bpm))
        return out

    def to_arrays(self) -> dict[str, np.ndarray]:
        out = {k: np.asarray(getattr(self, k)) for k in _ARRAYS}
        out.update({k: np.asarray(float(getattr(self, k))) for k in _SCALARS})
        return out

    @classmethod
    def from_arrays(cls, arrays) -> "AudioFeatures":
        kw = {k: np.asarray(arrays[k], dtype=np.int64 if k == "beat_frames" else np.float64) for k in _ARRAYS}
        kw.update({k: float(arrays[k]) for k in _SCALARS})
        return cls(**kw)

    def __eq__(self, other) -> bool:
        if not isinstance(other, AudioFeatures):
            return NotImplemented
        a, b = self.to_arrays(), other.to_arrays()
        return all(a[k].shape == b[k].shape and np.array_equal(a[k], b[k]) for k in a)


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.maximum(np.asarray(x, dtype=np.float64), 0.0)
    peak = x.max() if x.size else 0.0
    return x / peak if peak > 0 else np.zeros_like(x)


def _to_frames(values: np.ndarray, times: np.ndarray, fps: float, n_frames: int, how: str) -> np.ndarray:
    """Aggregate analysis frames (at ``times``) into video frames: ``mean`` or ``max`` of the analysis frames whose
    time falls in ``[f/fps, (f+1)/fps)``. A video frame with none (fps above sr/hop) takes the value interpolated at
    its centre; video frames past the end of the audio are silent (0)."""
    values = np.asarray(values, dtype=np.float64)
    idx = np.floor(times * fps + 1e-9).astype(np.int64)
    keep = (idx >= 0) & (idx < n_frames)
    idx, v = idx[keep], values[keep]
    counts = np.bincount(idx, minlength=n_frames)
    if how == "max":
        out = np.full(n_frames, -np.inf)
        np.maximum.at(out, idx, v)
    else:
        out = np.bincount(idx, weights=v, minlength=n_frames) / np.maximum(counts, 1)
    empty = counts == 0
    if empty.any():
        centres = (np.arange(n_frames) + 0.5) / fps
        inside = empty & (centres <= times[-1] if times.size else False)
        out[inside] = np.interp(centres[inside], times, values) if times.size else 0.0
        out[empty & ~inside] = 0.0
    return out


def _beat_clock(beat_times: np.ndarray, period: float, t: np.ndarray) -> np.ndarray:
    """Beats since the first beat on the beat grid, at times ``t``: integer on each detected beat, linear between
    beats, extrapolated at ``period`` seconds a beat before the first and after the last. The first beat is counted
    as the first grid beat in the audio, so ``b`` is 0 there and lies in (-1, 0] at t = 0."""
    if period <= 0 or not np.isfinite(period):
        return np.zeros_like(t)
    if beat_times.size == 0:
        return t / period
    first, last = beat_times[0], beat_times[-1]
    n0 = math.floor(first / period + 1e-6)  # whole grid beats before the first detected one
    idx = np.arange(beat_times.size, dtype=np.float64) + n0
    b = np.interp(t, beat_times, idx)
    b = np.where(t < first, n0 + (t - first) / period, b)
    return np.where(t > last, idx[-1] + (t - last) / period, b)


def analyze(path, fps: float, *, offset: float = 0.0, duration: float | None = None, beat_decay: float = 0.8,
            n_frames: int | None = None) -> AudioFeatures:
    """Analyse ``path`` (from ``offset`` for ``duration`` seconds) into per-video-frame features at ``fps``;
    ``n_frames`` defaults to ``ceil(duration_seconds * fps)``: longer pads with silence, shorter cuts."""
    import librosa

    if not (fps > 0 and math.isfinite(fps)):
        raise AudioError(f"fps={fps!r} must be > 0 to align audio features to video frames")
    if not 0.0 <= beat_decay <= 1.0:
        raise AudioError(f"audio.beat_decay={beat_decay!r} must lie in [0, 1]; fix: e.g. audio.beat_decay=0.8")
    y, sr = load_audio(path, offset=offset, duration=duration, sr=SR)
    seconds = y.size / sr
    if n_frames is None:
        n_frames = max(1, math.ceil(seconds * fps - 1e-6))
    n_frames = int(n_frames)
    if n_frames < 1:
        raise AudioError(f"n_frames={n_frames} must be >= 1")

    power = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP, center=True)) ** 2  # (1 + N_FFT/2, T) float32
    times = librosa.frames_to_time(np.arange(power.shape[1]), sr=sr, hop_length=HOP)
    freqs = librosa.fft_frequencies(sr=sr, n_fft=N_FFT)
    bands = [np.sqrt(power[m].sum(axis=0, dtype=np.float64))
             for m in (freqs < LO_HZ, (freqs >= LO_HZ) & (freqs < HI_HZ), freqs >= HI_HZ)]
    rms = librosa.feature.rms(S=np.sqrt(power), frame_length=N_FFT)[0]
    mel_db = librosa.power_to_db(librosa.feature.melspectrogram(S=power, sr=sr, n_fft=N_FFT, hop_length=HOP))
    del power
    env = librosa.onset.onset_strength(S=mel_db, sr=sr, hop_length=HOP, n_fft=N_FFT)

    tempo, beat_times = librosa.beat.beat_track(onset_envelope=env, sr=sr, hop_length=HOP, units="time")
    tempo = float(np.atleast_1d(tempo)[0]) if np.size(tempo) else 0.0
    beat_times = np.unique(np.asarray(beat_times, dtype=np.float64))
    if beat_times.size >= 2:
        # The median inter-beat interval is robust to skipped or extra beats; averaging the intervals near it then
        # removes the quantisation of beat times to the analysis hop (0.5-1 % of the bpm at 120-140 bpm).
        intervals = np.diff(beat_times)
        median = float(np.median(intervals))
        near = intervals[np.abs(intervals - median) <= 0.1 * median]
        period = float(near.mean()) if near.size else median
    else:
        period = 60.0 / tempo if tempo > 0 else 0.0
    bpm = 60.0 / period if period > 0 else 0.0

    frame_t = np.arange(n_frames) / fps
    beat_frames = np.unique(np.floor(beat_times * fps + 1e-9).astype(np.int64))
    beat_frames = beat_frames[(beat_frames >= 0) & (beat_frames < n_frames)]
    beat = np.zeros(n_frames)
    if beat_frames.size:
        last = np.maximum.accumulate(np.where(np.isin(np.arange(n_frames), beat_frames), np.arange(n_frames), -1))
        on = last >= 0
        beat[on] = float(beat_decay) ** (np.arange(n_frames)[on] - last[on])

    return AudioFeatures(
        rms=_normalise(_to_frames(rms, times, fps, n_frames, "mean")),
        onset=_normalise(_to_frames(env[: times.size], times[: env.size], fps, n_frames, "max")),
        beat=beat,
        lo=_normalise(_to_frames(bands[0], times, fps, n_frames, "mean")),
        mid=_normalise(_to_frames(bands[1], times, fps, n_frames, "mean")),
        hi=_normalise(_to_frames(bands[2], times, fps, n_frames, "mean")),
        b=_beat_clock(beat_times, period, frame_t),
        bpm=bpm,
        beat_frames=beat_frames,
        duration=float(seconds),
        fps=float(fps),
    )


# ------------------------------------------------------------------------------------------------------ cache


class FeatureCache:
    """Analysed features on disk (``<root>/<key>.npz``), keyed by the sha256 of the audio file's bytes, the analysis
    settings and :data:`VERSION`; a renamed or moved file still hits, an edited one misses."""

    def __init__(self, root):
        self.root = Path(root)

    def key(self, path, fps: float, *, offset: float = 0.0, duration: float | None = None,
            beat_decay: float = 0.8, n_frames: int | None = None) -> str:
        p = Path(os.path.expanduser(path))
        if not p.is_file():
            load_audio(p)  # raises the AudioError naming audio.path
        spec = {"sha256": sha256_file(p), "fps": float(fps), "offset": float(offset),
                "duration": None if duration is None else float(duration), "beat_decay": float(beat_decay),
                "n_frames": None if n_frames is None else int(n_frames), "version": VERSION}
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()

    def path_for(self, key: str) -> Path:
        return self.root / f"{key}.npz"

    def get(self, key: str) -> AudioFeatures | None:
        p = self.path_for(key)
        try:
            with np.load(p, allow_pickle=False) as data:
                return AudioFeatures.from_arrays(data)
        except (OSError, ValueError, KeyError, EOFError):  # missing or damaged: recompute
            return None

    def put(self, key: str, features: AudioFeatures) -> Path:
        p = self.path_for(key)
        with atomic_open(p, "wb") as fh:
            np.savez(fh, **features.to_arrays())
        return p

    def analyze(self, path, fps: float, **kw) -> AudioFeatures:
        """The cached features, else analysed under a lock on the key: sweep jobs starting together analyse a song
        once and the others read the result."""
        key = self.key(path, fps, **kw)
        hit = self.get(key)
        if hit is not None:
            return hit
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f"{key}.lock", "a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            hit = self.get(key)  # another process may have finished it while we waited
            if hit is not None:
                return hit
            features = analyze(path, fps, **kw)  # module-level lookup, so tests can swap it
            self.put(key, features)
        return features


def analyze_cached(path, fps: float, cache_root, **kw) -> AudioFeatures:
    """:func:`analyze` through a :class:`FeatureCache` at ``cache_root``."""
    return FeatureCache(cache_root).analyze(path, fps, **kw)
