"""render.output.quality: flicker, colour drift and CLIP similarity against constructed truths."""
import csv
import json

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from render.guidance.clip_models import ClipPerceptor, ClipSpec, build_tiny_clip
from render.output import quality
from render.output.quality import (
    CSV_COLUMNS,
    QualityReport,
    clip_similarity_series,
    color_drift_series,
    flicker_series,
    measure_frames,
    real_clip,
)
from transforms.prompts import Prompt, evaluate_prompt_schedule


def texture(h, w, seed=0, sigma=3.0):
    """Smooth random RGB texture (blurred noise), float in about [8, 248]."""
    noise = np.random.default_rng(seed).standard_normal((h, w, 3)).astype(np.float32)
    t = cv2.GaussianBlur(noise, (0, 0), sigma)
    return np.clip(128 + 40 * (t - t.mean()) / t.std(), 0, 255)


def pan_frames(n=5, step=3, size=128):
    """A 128x128 window sliding right by ``step`` px per frame over a larger texture: pure camera motion."""
    big = texture(size + 32, size + 16 + step * n)
    return [big[16:16 + size, 8 + step * t:8 + step * t + size].round().astype(np.uint8) for t in range(n)]


def raw_difference(frames):
    return np.mean([np.abs(b.astype(float) - a.astype(float)).mean() for a, b in zip(frames, frames[1:])])


# ----------------------------------------------------------------------------------------------------- flicker
def test_pan_is_compensated():
    frames = pan_frames()
    series = flicker_series(frames)
    assert series.shape == (len(frames) - 1,)
    assert raw_difference(frames) > 10  # the frames do differ a lot...
    assert series.max() < 2.0  # ...but only by motion


def test_pan_is_compensated_with_flow_at_lower_resolution():
    frames = pan_frames()
    series = flicker_series(frames, max_side=48)  # flow on 48x48 frames, scaled back up to 128x128
    assert series.max() < 2.0


def test_disoccluded_border_is_excluded():
    # 8 px per frame: the 8 columns entering at the right edge have no source in the previous frame; counting them
    # (they are warped from the replicated border) would add about 1.5 levels
    assert flicker_series(pan_frames(4, step=8)).max() < 0.75


def test_empty_mask_falls_back_to_all_pixels(monkeypatch):
    a, b = (texture(64, 64, seed=s).round().astype(np.uint8) for s in (4, 5))
    monkeypatch.setattr(quality, "consistency_mask", lambda flow, back: np.ones(flow.shape[:2], np.float32))
    everywhere = quality.pair_flicker(a, b)
    monkeypatch.setattr(quality, "consistency_mask", lambda flow, back: np.zeros(flow.shape[:2], np.float32))
    assert quality.pair_flicker(a, b) == pytest.approx(everywhere, rel=1e-6)
    assert everywhere > 20


def test_static_noise_scores_its_expected_difference():
    # independent uniform integer noise in [-N, N] per frame: E|X - Y| = (M^2 - 1) / (3 M) with M = 2N + 1
    n_levels = 8
    base = texture(128, 128, seed=1)
    rng = np.random.default_rng(2)
    frames = [(base + rng.integers(-n_levels, n_levels + 1, base.shape)).clip(0, 255).astype(np.uint8)
              for _ in range(4)]
    m = 2 * n_levels + 1
    expected = (m * m - 1) / (3 * m)  # 5.65 levels
    assert flicker_series(frames) == pytest.approx(np.full(3, expected), rel=0.06)


def test_boiling_scores_higher_than_pan():
    boiling = [texture(128, 128, seed=s).round().astype(np.uint8) for s in range(4)]
    assert flicker_series(boiling).min() > 10 * flicker_series(pan_frames(4)).max()
    assert flicker_series(boiling).min() > 20


def test_flicker_of_one_frame_is_empty():
    assert flicker_series(pan_frames(1)).shape == (0,)


# ------------------------------------------------------------------------------------------------ colour drift
def lab_frames(shift_per_frame, n=8, contrast_per_frame=0.0):
    """Frames built in LAB: a mid-grey textured image whose LAB mean moves by ``shift_per_frame`` each frame and
    whose L deviation grows by ``contrast_per_frame`` (relative) each frame; 8-bit RGB."""
    rng = np.random.default_rng(3)
    detail = cv2.GaussianBlur(rng.standard_normal((64, 64)).astype(np.float32), (0, 0), 2)
    detail = 6 * detail / detail.std()
    frames = []
    for t in range(n):
        lab = np.empty((64, 64, 3), np.float32)
        lab[..., 0] = 50 + detail * (1 + contrast_per_frame * t) + shift_per_frame[0] * t
        lab[..., 1] = 5 + shift_per_frame[1] * t
        lab[..., 2] = -5 + shift_per_frame[2] * t
        rgb = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
        assert rgb.min() > 0 and rgb.max() < 1  # inside the gamut: no clipping spoils the truth
        frames.append((rgb * 255).round().astype(np.uint8))
    return frames


def test_color_drift_grows_linearly_with_the_lab_shift():
    shift = np.array([1.5, 1.0, -2.0])
    mean_dist, std_dist = color_drift_series(lab_frames(shift))
    expected = np.linalg.norm(shift) * np.arange(8)  # 2.69 per frame
    assert mean_dist == pytest.approx(expected, abs=0.3)
    assert np.polyfit(np.arange(8), mean_dist, 1)[0] == pytest.approx(np.linalg.norm(shift), rel=0.03)
    assert std_dist.max() < 0.3  # a pure shift leaves the spread alone


def test_color_drift_std_follows_contrast():
    mean_dist, std_dist = color_drift_series(lab_frames(np.zeros(3), contrast_per_frame=0.1))
    expected = 0.1 * 6 * np.arange(8)  # the L deviation (6) grows by 0.6 per frame; a and b are flat
    assert std_dist == pytest.approx(expected, abs=0.2)
    assert mean_dist.max() < 0.5


def test_constant_sequence_has_no_drift():
    frame = texture(32, 48).astype(np.uint8)
    mean_dist, std_dist = color_drift_series([frame] * 5)
    assert mean_dist.shape == std_dist.shape == (5,)
    assert not mean_dist.any() and not std_dist.any()


# --------------------------------------------------------------------------------------------- CLIP similarity
@pytest.fixture(scope="module")
def tiny_perceptor():
    return ClipPerceptor(ClipSpec("tiny-vit-32", "random"), build_tiny_clip("tiny-vit-32"))


def direct_similarity(perceptor, frame, prompts):
    """The definition, computed independently: letterbox, resize, embed, cosine, weighted mean of positive."""
    x = torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255
    h, w = frame.shape[:2]
    side = max(h, w)
    square = torch.zeros(1, 3, side, side)
    square[:, :, (side - h) // 2:(side - h) // 2 + h, (side - w) // 2:(side - w) // 2 + w] = x
    view = F.interpolate(square, size=(perceptor.input_resolution,) * 2, mode="bicubic", antialias=True,
                         align_corners=False).clamp(0, 1)
    with torch.no_grad():
        image = perceptor.encode_image(view)[0].double().numpy()
        text = perceptor.encode_text([p.text for p in prompts]).double().numpy()
    cos = text @ image / (np.linalg.norm(text, axis=1) * np.linalg.norm(image))
    weights = np.array([p.weight for p in prompts])
    positive = weights > 0
    return float((cos[positive] * weights[positive]).sum() / weights[positive].sum())


def frames_for_clip(n=5, h=48, w=80):
    return [texture(h, w, seed=10 + i).astype(np.uint8) for i in range(n)]


def test_clip_similarity_matches_direct_computation(tiny_perceptor):
    frames = frames_for_clip()
    prompts = [(Prompt("a red lighthouse", 2.0), Prompt("stormy sea", 1.0))] * 3 + [(Prompt("a cat", 1.0),)] * 2
    series = clip_similarity_series(frames, prompts, tiny_perceptor, batch_size=2)  # batches of 2, 2, 1
    expected = [direct_similarity(tiny_perceptor, f, p) for f, p in zip(frames, prompts)]
    assert series == pytest.approx(expected, abs=1e-5)
    assert np.ptp(series) > 1e-3  # frames and prompts differ, so must the scores


def test_clip_prompt_weights_are_honoured_and_negatives_excluded(tiny_perceptor):
    frame = frames_for_clip(1)[0]
    a, b = (clip_similarity_series([frame], [(Prompt(text, 1.0),)], tiny_perceptor)[0] for text in ("dawn", "dusk"))
    assert abs(a - b) > 1e-4
    weighted = clip_similarity_series([frame], [(Prompt("dawn", 3.0), Prompt("dusk", 1.0))], tiny_perceptor)[0]
    assert weighted == pytest.approx((3 * a + b) / 4, abs=1e-6)
    with_negative = clip_similarity_series([frame], [(Prompt("dawn", 1.0), Prompt("dusk", -0.5))], tiny_perceptor)
    assert with_negative[0] == pytest.approx(a, abs=1e-6)
    nothing = clip_similarity_series([frame, frame], [(Prompt("dusk", -1.0),), ()], tiny_perceptor)
    assert np.isnan(nothing).all()


def test_clip_encodes_each_text_once(tiny_perceptor, monkeypatch):
    seen = []
    encode = tiny_perceptor.encode_text
    monkeypatch.setattr(tiny_perceptor, "encode_text", lambda texts: seen.extend(texts) or encode(texts))
    prompts = [(Prompt("sea", 1.0), Prompt("sky", 1.0))] * 4 + [(Prompt("sea", 1.0),)]
    clip_similarity_series(frames_for_clip(), prompts, tiny_perceptor, batch_size=2)
    assert sorted(seen) == ["sea", "sky"]


def test_real_clip_skips_tiny_models(tiny_perceptor):
    assert real_clip([tiny_perceptor]) is None
    assert real_clip([]) is None
    real = ClipPerceptor(ClipSpec("ViT-B-32", "openai"), build_tiny_clip("tiny-vit-32"))  # spec is what counts
    assert real_clip([tiny_perceptor, real]) is real


# ------------------------------------------------------------------------------------------------ measure_frames
def write_frames(folder, frames):
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"{i:05d}.png")
    return folder


def test_measure_frames_summary_and_csv(tmp_path, tiny_perceptor):
    frames = pan_frames(5)
    folder = write_frames(tmp_path / "frames", frames)
    schedule = evaluate_prompt_schedule({0: ["a forest:2", "fog"], 3: ["a desert"]}, 5)
    report = measure_frames(folder, 5, prompts=schedule, perceptor=tiny_perceptor, batch_size=2)
    summary = report.summary()
    assert set(summary) == {"flicker", "flicker_p95", "color_drift_mean", "color_drift_std", "color_drift_final",
                            "clip_similarity"}
    json.dumps(summary, allow_nan=False)
    assert all(isinstance(v, float) for v in summary.values())
    # the same numbers as the series functions
    assert report.flicker_series == pytest.approx(flicker_series(frames))
    assert report.flicker == pytest.approx(flicker_series(frames).mean())
    assert report.flicker < 2
    mean_dist, std_dist = color_drift_series(frames)
    assert report.lab_mean_dist == pytest.approx(mean_dist) and report.lab_std_dist == pytest.approx(std_dist)
    assert report.color_drift_final == pytest.approx(mean_dist[-1])
    prompts = [schedule.at(i) for i in range(5)]
    assert report.clip_series == pytest.approx(clip_similarity_series(frames, prompts, tiny_perceptor), abs=1e-6)
    assert report.clip_model == "tiny-vit-32:random"

    report.write_csv(tmp_path / "quality.csv")
    with open(tmp_path / "quality.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 5 and tuple(rows[0]) == CSV_COLUMNS
    assert rows[0]["flicker"] == "" and float(rows[1]["flicker"]) == pytest.approx(report.flicker_series[0], abs=1e-4)
    assert float(rows[4]["clip_similarity"]) == pytest.approx(report.clip_series[4], abs=1e-6)


def test_measure_frames_without_clip_and_single_frame(tmp_path):
    folder = write_frames(tmp_path / "frames", pan_frames(1))
    report = measure_frames(folder, 1)
    summary = report.summary()
    assert summary["flicker"] is None and summary["flicker_p95"] is None and summary["clip_similarity"] is None
    assert summary["color_drift_final"] == 0.0
    json.dumps(summary, allow_nan=False)
    report.write_csv(tmp_path / "quality.csv")
    with open(tmp_path / "quality.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows == [{"frame": "0", "flicker": "", "lab_mean_dist": "0.0000", "lab_std_dist": "0.0000",
                     "clip_similarity": ""}]


def test_summary_has_no_nan():
    report = QualityReport.from_series(np.array([1.0, 3.0]), np.zeros(3), np.zeros(3), np.full(3, np.nan), "x:y")
    summary = report.summary()
    assert summary["clip_similarity"] is None and summary["flicker"] == 2.0
    json.dumps(summary, allow_nan=False)


def test_measure_frames_missing_frame(tmp_path):
    folder = write_frames(tmp_path / "frames", pan_frames(2))
    with pytest.raises(FileNotFoundError):
        measure_frames(folder, 3)
