"""Measured quality of a rendered run: flicker, colour drift and CLIP similarity, per frame and summarised.

Three numbers a user can sort a sweep by (lower is better for the first two, higher for the third):

- **flicker** (8-bit levels, 0..255): for each pair of consecutive frames, the mean absolute difference between
  frame t and frame t-1 *warped onto t* by optical flow (OpenCV DIS, both directions), averaged over the RGB channels
  and over the pixels that the forward-backward consistency check marks reliable (weighted by its mask). Camera and
  object motion are compensated, so a smooth pan or zoom scores near 0 while texture that "boils" (changes in place
  from frame to frame) scores high. Independent per-pixel noise of standard deviation s scores about
  ``2 s / sqrt(pi)`` (~1.13 s). Flow is estimated on frames downscaled to at most ``max_side`` pixels (1024) on the
  long side, then scaled back up; the difference itself is taken at full resolution. (Lower ``max_side`` is faster
  but leaves a floor: on a finely textured 1280x768 pan, 0.06 levels at 1024 px, 0.4 at 768, 1.1 at 512.) The
  summary gives the mean over frame pairs (``flicker``) and its 95th percentile (``flicker_p95``: occasional pops,
  e.g. at prompt changes). Only comparable between runs of the same resolution and flow settings.
- **colour drift** (CIELAB units; L is 0..100, a and b roughly -128..127): per frame, the Euclidean distance from
  frame 0 of the per-channel LAB means (``lab_mean_dist``: the palette moving, e.g. washing out or turning orange)
  and of the per-channel LAB standard deviations (``lab_std_dist``: contrast and saturation changing). A LAB
  distance of about 2.3 is a just-noticeable difference. Summaries: ``color_drift_mean`` (mean over frames of
  ``lab_mean_dist``), ``color_drift_std`` (mean of ``lab_std_dist``) and ``color_drift_final`` (``lab_mean_dist`` of
  the last frame).
- **CLIP similarity** (cosine, -1..1; typical matching image/text pairs score 0.25..0.35 with OpenAI's ViT-B/32):
  per frame, the cosine similarity between the embedding of the whole frame (letterboxed to a square with black bars
  and resized to the model's input size, bicubic with antialiasing: the guidance's "overview" view, no random
  cutouts or augmentations) and the embeddings of the frame's text prompts, averaged with the prompts' weights over
  the positively weighted prompts (negative prompts are what the frame should *not* show). Only meaningful with real
  CLIP weights: :func:`real_clip` picks such a model, and the tiny random-weight CLIPs are never used. Values from
  different CLIP models are not comparable.

- **depth flicker** (percent, 3D runs): per frame, how much the depth the 3D warp used changed from the previous
  frame's, moved by the known camera step, once both are aligned by a robust scale and shift, over the pixels visible
  in both (``depth.stabilize.depth_flicker``; the 3D mode measures it as it renders and keeps it in its state, so a
  resumed run reports the same numbers). ``depth_flicker`` is the mean over frames, ``depth_flicker_p95`` its 95th
  percentile: wobbling parallax comes from here, whatever the image flicker.

``measure_frames(run_dir / "frames", n)`` reads the frames once, one at a time, and returns a :class:`QualityReport`;
``report.summary()`` is the JSON-safe dict for run.json and the sweep summary, ``report.write_csv(path)`` the
per-frame series.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from flow.consistency import consistency_mask
from flow.estimators import FlowEstimator, create_estimator, forward_backward
from flow.warp import check_pair, warp_with_flow
from render.disk.quantize import image_to_frame
from render.guidance.clip_models import ClipPerceptor
from render.guidance.cutouts import resize_square
from transforms.prompts import Prompt, PromptSchedule

FLOW_MAX_SIDE = 1024  # flow for the flicker measure is estimated at most this many pixels on the long side
FLOW_PRESET = "medium"
MIN_RELIABLE_FRACTION = 0.01  # below this share of reliable pixels (mask weight), flicker uses all pixels
CLIP_BATCH = 8


# ------------------------------------------------------------------------------------------------------- flicker
def _downscaled(image: np.ndarray, scale: float) -> np.ndarray:
    if scale >= 1.0:
        return image
    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _upscaled_flow(flow: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A flow estimated on a smaller grid, resized to ``shape`` (H, W) with its vectors scaled to match."""
    h, w = shape
    fh, fw = flow.shape[:2]
    if (fh, fw) == (h, w):
        return flow
    up = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
    up[..., 0] *= w / fw
    up[..., 1] *= h / fh
    return up


def pair_flicker(prev: np.ndarray, cur: np.ndarray, estimator: FlowEstimator | None = None,
                 max_side: int = FLOW_MAX_SIDE) -> float:
    """Motion-compensated flicker between two uint8 RGB frames, in 8-bit levels (0..255).

    ``prev`` is warped onto ``cur`` with the flow from ``cur`` to ``prev`` (see ``flow.warp``), estimated on frames
    downscaled to at most ``max_side`` px on the long side; the result is the mean over RGB channels of
    ``|cur - warped|``, averaged over pixels weighted by the forward-backward reliability mask (all pixels when the
    mask holds less than 1% of the image).
    """
    check_pair(prev, cur)
    estimator = estimator or create_estimator("dis", preset=FLOW_PRESET)
    h, w = cur.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    small_prev, small_cur = _downscaled(prev, scale), _downscaled(cur, scale)
    flow_prev_cur, flow_cur_prev = forward_backward(estimator, small_prev, small_cur)
    reliability = consistency_mask(flow_cur_prev, flow_prev_cur)
    if reliability.shape != (h, w):
        reliability = cv2.resize(reliability, (w, h), interpolation=cv2.INTER_LINEAR)
    warped = warp_with_flow(prev, _upscaled_flow(flow_cur_prev, (h, w)))
    diff = np.abs(cur.astype(np.float32) - warped.astype(np.float32)).mean(axis=2)
    total = float(reliability.sum())
    if total < MIN_RELIABLE_FRACTION * reliability.size:
        return float(diff.mean())
    return float((diff * reliability).sum() / total)


def flicker_series(frames: Iterable[np.ndarray], *, preset: str = FLOW_PRESET,
                   max_side: int = FLOW_MAX_SIDE) -> np.ndarray:
    """Motion-compensated flicker of each consecutive pair (see :func:`pair_flicker`): float64 (n-1,), 8-bit levels.

    ``frames`` may be any iterable of uint8 (H, W, 3) RGB frames; only two are held at a time.
    """
    estimator = create_estimator("dis", preset=preset)
    values, prev = [], None
    for frame in frames:
        if prev is not None:
            values.append(pair_flicker(prev, frame, estimator, max_side))
        prev = frame
    return np.asarray(values, dtype=np.float64)


# -------------------------------------------------------------------------------------------------- colour drift
def lab_stats(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel CIELAB mean and standard deviation of a uint8 RGB frame: two float64 (3,) arrays (L, a, b).

    Converted by OpenCV from float32 RGB in [0, 1] (sRGB, D65), so L is 0..100 and a, b roughly -128..127.
    """
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"expected a uint8 RGB frame (H, W, 3), got {frame.dtype} {frame.shape}")
    lab = cv2.cvtColor(frame.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_RGB2LAB)
    mean, std = cv2.meanStdDev(lab)  # population std (ddof 0); 8x faster than numpy's on a 1280x768 frame
    return mean.ravel().astype(np.float64), std.ravel().astype(np.float64)


def drift_from_stats(means: np.ndarray, stds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(mean_dist, std_dist)``: Euclidean distance of each row of (n, 3) LAB means / stds from row 0."""
    means, stds = np.asarray(means, np.float64), np.asarray(stds, np.float64)
    if len(means) == 0:
        return np.zeros(0), np.zeros(0)
    return np.linalg.norm(means - means[0], axis=1), np.linalg.norm(stds - stds[0], axis=1)


def color_drift_series(frames: Iterable[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Colour drift from frame 0, per frame: ``(mean_dist, std_dist)``, float64 (n,) each, in LAB units.

    ``mean_dist[t] = |mean_t - mean_0|`` and ``std_dist[t] = |std_t - std_0|`` over the per-channel LAB means and
    standard deviations of :func:`lab_stats` (so both are 0 at frame 0).
    """
    stats = [lab_stats(frame) for frame in frames]
    return drift_from_stats([m for m, _ in stats], [s for _, s in stats])


# ------------------------------------------------------------------------------------------------ CLIP similarity
def real_clip(perceptors: Iterable[ClipPerceptor]) -> ClipPerceptor | None:
    """The first perceptor with real weights (not a tiny random-weight CLIP), or None."""
    return next((p for p in perceptors if not p.spec.is_tiny), None)


def clip_view(frame: np.ndarray, size: int) -> torch.Tensor:
    """The whole uint8 RGB frame as CLIP sees it here: letterboxed to a square with black bars (as the guidance's
    overview cut) and resized to ``size`` (bicubic, antialiased); float32 (3, size, size) in [0, 1]."""
    x = image_to_frame(frame)
    h, w = x.shape[2:]
    pad_y, pad_x = (max(h, w) - h) // 2, (max(h, w) - w) // 2
    return resize_square(F.pad(x, (pad_x, pad_x, pad_y, pad_y)), size)[0].clamp(0, 1)


class ClipScorer:
    """Cosine similarities of frames to their prompts with one perceptor; each distinct text is encoded once."""

    def __init__(self, perceptor: ClipPerceptor):
        self.perceptor = perceptor
        self._text: dict[str, torch.Tensor] = {}

    def _text_embeddings(self, texts: list[str]) -> dict[str, torch.Tensor]:
        missing = sorted({t for t in texts if t not in self._text})
        if missing:
            encoded = F.normalize(self.perceptor.encode_text(missing).float(), dim=-1)
            self._text.update(zip(missing, encoded))
        return self._text

    @torch.no_grad()
    def score(self, views: Sequence[torch.Tensor], prompts: Sequence[Sequence[Prompt]]) -> np.ndarray:
        """float64 (len(views),): per view (from :func:`clip_view`), the weighted mean cosine similarity to its
        positively weighted prompts; nan for a view with none."""
        positive = [[p for p in frame_prompts if p.weight > 0] for frame_prompts in prompts]
        out = np.full(len(views), np.nan)
        keep = [i for i, ps in enumerate(positive) if ps]
        if not keep:
            return out
        text = self._text_embeddings([p.text for i in keep for p in positive[i]])
        images = torch.stack([views[i] for i in keep]).to(self.perceptor.device)
        embeds = F.normalize(self.perceptor.encode_image(images).float(), dim=-1)
        for row, i in enumerate(keep):
            sims = torch.stack([embeds[row] @ text[p.text] for p in positive[i]]).double()
            weights = torch.tensor([p.weight for p in positive[i]], dtype=torch.float64, device=sims.device)
            out[i] = float((sims * weights).sum() / weights.sum())
        return out


def clip_similarity_series(frames: Iterable[np.ndarray], prompts_per_frame: Sequence[Sequence[Prompt]],
                           perceptor: ClipPerceptor, *, batch_size: int = CLIP_BATCH) -> np.ndarray:
    """Per frame, the prompt-weighted cosine similarity (-1..1) between the frame's CLIP image embedding and its
    positively weighted text prompts' embeddings; nan where a frame has no positive prompt. float64 (n,).

    ``prompts_per_frame[i]`` are frame i's prompts (e.g. ``schedule.at(i)``). Images go through CLIP in batches of
    ``batch_size``; only the small resized views of a batch are held.
    """
    scorer, values, views, batch_prompts = ClipScorer(perceptor), [], [], []
    for i, frame in enumerate(frames):
        views.append(clip_view(frame, perceptor.input_resolution))
        batch_prompts.append(prompts_per_frame[i])
        if len(views) == batch_size:
            values.append(scorer.score(views, batch_prompts))
            views, batch_prompts = [], []
    if views:
        values.append(scorer.score(views, batch_prompts))
    return np.concatenate(values) if values else np.zeros(0)


# ------------------------------------------------------------------------------------------------------- report
def _mean(values: np.ndarray) -> float | None:
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else None


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), digits)


@dataclass(frozen=True)
class QualityReport:
    """Quality measures of a run's frames (see the module docstring for what each means and its units).

    Scalars are None where they cannot be measured: flicker needs two frames, CLIP similarity a real CLIP model and
    at least one frame with a positive prompt. Series: ``flicker_series`` has n-1 values (pair t-1 -> t at index
    t-1), the others n (``clip_series`` is None without a model; nan for frames without a positive prompt).
    """

    n_frames: int
    flicker: float | None
    flicker_p95: float | None
    color_drift_mean: float | None
    color_drift_std: float | None
    color_drift_final: float | None
    clip_similarity: float | None
    flicker_series: np.ndarray
    lab_mean_dist: np.ndarray
    lab_std_dist: np.ndarray
    clip_series: np.ndarray | None = None
    clip_model: str | None = None  # the CLIP model (ARCH:TAG) that measured clip_similarity

    @classmethod
    def from_series(cls, flicker: np.ndarray, lab_mean_dist: np.ndarray, lab_std_dist: np.ndarray,
                    clip: np.ndarray | None = None, clip_model: str | None = None) -> "QualityReport":
        """Summarise per-frame series into a report."""
        flicker = np.asarray(flicker, np.float64)
        lab_mean_dist, lab_std_dist = np.asarray(lab_mean_dist, np.float64), np.asarray(lab_std_dist, np.float64)
        return cls(n_frames=len(lab_mean_dist), flicker=_mean(flicker),
                   flicker_p95=float(np.percentile(flicker, 95)) if len(flicker) else None,
                   color_drift_mean=_mean(lab_mean_dist), color_drift_std=_mean(lab_std_dist),
                   color_drift_final=float(lab_mean_dist[-1]) if len(lab_mean_dist) else None,
                   clip_similarity=None if clip is None else _mean(clip), flicker_series=flicker,
                   lab_mean_dist=lab_mean_dist, lab_std_dist=lab_std_dist,
                   clip_series=None if clip is None else np.asarray(clip, np.float64), clip_model=clip_model)

    def summary(self) -> dict[str, float | None]:
        """The scalar measures, rounded, JSON-safe (None instead of nan): what run.json and a sweep summary hold."""
        return {"flicker": _rounded(self.flicker, 3), "flicker_p95": _rounded(self.flicker_p95, 3),
                "color_drift_mean": _rounded(self.color_drift_mean, 3),
                "color_drift_std": _rounded(self.color_drift_std, 3),
                "color_drift_final": _rounded(self.color_drift_final, 3),
                "clip_similarity": _rounded(self.clip_similarity, 4)}

    def rows(self) -> list[dict[str, str]]:
        """Per-frame rows as written by :meth:`write_csv` (empty strings where a value does not exist)."""
        def cell(value: float | None, digits: int) -> str:
            return "" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"

        rows = []
        for t in range(self.n_frames):
            rows.append({"frame": str(t),
                         "flicker": cell(self.flicker_series[t - 1] if t > 0 else None, 4),
                         "lab_mean_dist": cell(self.lab_mean_dist[t], 4),
                         "lab_std_dist": cell(self.lab_std_dist[t], 4),
                         "clip_similarity": cell(None if self.clip_series is None else self.clip_series[t], 6)})
        return rows

    def write_csv(self, path: str | Path) -> None:
        """Write the per-frame series: columns frame, flicker (empty at frame 0: it measures the change from the
        previous frame), lab_mean_dist, lab_std_dist, clip_similarity (empty without a model or positive prompt)."""
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            writer.writerows(self.rows())


CSV_COLUMNS = ("frame", "flicker", "lab_mean_dist", "lab_std_dist", "clip_similarity")


def depth_metrics(series: Sequence[float]) -> dict[str, float | None]:
    """``depth_flicker`` and ``depth_flicker_p95`` of a 3D run's per-frame depth flicker (module docstring)."""
    values = np.asarray(series, np.float64)
    p95 = float(np.percentile(values, 95)) if len(values) else None
    return {"depth_flicker": _rounded(_mean(values), 3), "depth_flicker_p95": _rounded(p95, 3)}


def loop_seam(frames_dir: str | Path, report: QualityReport, *, preset: str = FLOW_PRESET,
              max_side: int = FLOW_MAX_SIDE) -> dict[str, float | None]:
    """A looping run's seam: ``loop_flicker``, the flicker from the last frame to frame 0 (what the loop shows when
    it wraps), next to ``flicker_median``, the median flicker between consecutive frames: a seamless loop's seam is
    no worse than an ordinary cut between frames."""
    frames_dir = Path(frames_dir)
    last = read_frame(frames_dir / f"{report.n_frames - 1:05d}.png")
    first = read_frame(frames_dir / f"{0:05d}.png")
    seam = pair_flicker(last, first, create_estimator("dis", preset=preset), max_side)
    median = float(np.median(report.flicker_series)) if len(report.flicker_series) else None
    return {"loop_flicker": _rounded(seam, 3), "flicker_median": _rounded(median, 3)}


def read_frame(path: Path) -> np.ndarray:
    """A frame PNG as uint8 RGB (H, W, 3)."""
    with Image.open(path) as img:
        return np.array(img.convert("RGB"), dtype=np.uint8)


def measure_frames(frames_dir: str | Path, n_frames: int, *, prompts: PromptSchedule | None = None,
                   perceptor: ClipPerceptor | None = None, preset: str = FLOW_PRESET,
                   max_side: int = FLOW_MAX_SIDE, batch_size: int = CLIP_BATCH) -> QualityReport:
    """Measure ``frames_dir/{i:05d}.png`` for i < n_frames in one pass (two frames and one CLIP batch held at a
    time). CLIP similarity is measured when both ``prompts`` and ``perceptor`` are given (pass
    ``real_clip(perceptors)``: a tiny random-weight model gives meaningless numbers)."""
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    frames_dir = Path(frames_dir)
    estimator = create_estimator("dis", preset=preset)
    scorer = ClipScorer(perceptor) if perceptor is not None and prompts is not None else None
    flicker, means, stds, clip, views, view_prompts, prev = [], [], [], [], [], [], None
    for t in range(n_frames):
        frame = read_frame(frames_dir / f"{t:05d}.png")
        if prev is not None:
            flicker.append(pair_flicker(prev, frame, estimator, max_side))
        mean, std = lab_stats(frame)
        means.append(mean)
        stds.append(std)
        if scorer is not None:
            views.append(clip_view(frame, perceptor.input_resolution))
            view_prompts.append(prompts.at(t))
            if len(views) == batch_size or t == n_frames - 1:
                clip.append(scorer.score(views, view_prompts))
                views, view_prompts = [], []
        prev = frame
    mean_dist, std_dist = drift_from_stats(np.array(means), np.array(stds))
    return QualityReport.from_series(np.array(flicker), mean_dist, std_dist,
                                     np.concatenate(clip) if scorer is not None else None,
                                     perceptor.spec.name if scorer is not None else None)
