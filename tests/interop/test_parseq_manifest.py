"""Parseq manifests: every motion field's per-frame value reproduced to 1e-6, prompts per frame, shorter manifests."""
from __future__ import annotations

import math

import numpy as np
import pytest
from interop.planning import assert_close, normalised, plan_imported, prompts_at
from interop.shapes import parseq_manifest, write_json

N = 48


def curves() -> dict[str, list[float]]:
    """Absolute values as Parseq renders them: a dolly with a bezier-like ease, an oscillating pan, a fov ramp."""
    t = np.arange(N)
    return {"translation_z": list(np.cumsum(2 + 3 * np.sin(t / 7) ** 2)),
            "rotation_3d_y": list(30 * np.sin(2 * math.pi * t / 24)),
            "translation_x": list(np.where(t < 20, 0.0, (t - 20) * 0.37)),
            "fov": list(40 + 30 * t / (N - 1))}


def crossfade(frame: int) -> str:
    """Parseq's prompt overlap: composable weights moving from one prompt to the next over frames 20..30."""
    w = min(max((frame - 20) / 10, 0.0), 1.0)
    if w in (0.0, 1.0):
        return "a quiet forest --neg blurry" if w == 0 else "a neon city"
    return f"(a quiet forest) :{1 - w:.6f} AND (a neon city) :{w:.6f} --neg blurry"


@pytest.mark.parametrize("keyframes", [True, False])
def test_per_frame_values_are_the_manifests(tmp_path, keyframes):
    fields = curves()
    data = parseq_manifest(N, fields, [crossfade(f) for f in range(N)], keyframes=keyframes,
                           seeds=[55 + f for f in range(N)])
    plan, report = plan_imported(write_json(tmp_path / "parseq.json", data), "generator=preview")
    assert (plan.n_frames, plan.fps, plan.seed) == (N, 20.0, 55)
    frames = data["rendered_frames"]
    for name in ("translation_z", "rotation_3d_y", "translation_x"):  # the per-frame moves: Parseq's _delta values
        assert_close(plan.schedules[f"animation.{name}"], np.array([f[f"{name}_delta"] for f in frames]), name, 1e-6)
    assert_close(plan.schedules["animation.fov"], np.array(fields["fov"]), "fov", 1e-6)
    assert_close(plan.schedules["animation.rotation_3d_x"], np.zeros(N), "unmanaged: this renderer's default")
    for frame in range(N):
        text = crossfade(frame)
        positive, _, negative = text.partition("--neg")
        expected = {}
        for part in positive.split(" AND "):
            name, _, weight = part.partition(":") if "AND" in positive else (part, "", "1")
            expected[name.strip().strip("()").strip()] = float(weight or 1)
        if negative:
            expected[negative.strip()] = -0.5 * sum(expected.values())
        assert normalised(prompts_at(plan.text_prompts, frame)) == pytest.approx(normalised(list(expected.items())))
    assert {e.source for e in report.dropped} >= {"translation_z_pc", "options.bpm"}
    assert ("keyframes" in {e.source for e in report.dropped}) == keyframes
    assert not report.unknown, report.unknown


def test_a_shorter_manifest_holds_its_last_values(tmp_path):
    fields = {"zoom": list(1 + 0.01 * np.arange(N)), "angle": list(np.linspace(0, 90, N))}
    data = parseq_manifest(N, fields, keyframes=False)
    plan, report = plan_imported(write_json(tmp_path / "p.json", data), "animation.max_frames=80",
                                 "generator=preview")
    assert plan.n_frames == 80 and plan.text_prompts.at(0)[0].text.startswith("A beautiful painting")  # the config's
    zoom = np.array([f["zoom_delta"] for f in data["rendered_frames"]])
    assert_close(plan.schedules["animation.zoom"], np.r_[zoom, np.full(32, zoom[-1])], "zoom", 1e-6)
    assert any("holds the last frame's values" in n for n in report.notes)
    assert [e.setting for e in report.approximated if e.source == "(fields)"] == ["animation.mode"]
    assert plan.schedules["animation.angle"][-1] == pytest.approx(90 / (N - 1))


def test_long_manifests_stay_exact(tmp_path):
    n = 3000
    t = np.arange(n)
    fields = {"rotation_3d_z": list(5 * np.sin(t / 11.3) + 0.001 * t),
              "translation_z": list(np.cumsum(np.full(n, 4.0)))}
    data = parseq_manifest(n, fields, keyframes=False)
    plan, _ = plan_imported(write_json(tmp_path / "p.json", data), "generator=preview", "width=64", "height=64")
    for name in fields:
        assert_close(plan.schedules[f"animation.{name}"],
                     np.array([f[f"{name}_delta"] for f in data["rendered_frames"]]), name, 1e-6)
