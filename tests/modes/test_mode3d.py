"""The 3D mode: DD's turbo blending of two warped chains, VR eye views, depth maps, and its state for resume."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from depth.base import FlatDepth
from depth.stabilize import DepthStabilizer
from render.config.plan import RenderPlan
from render.modes.base import FrameInit
from render.modes.mode3d import DEPTH_PNG_SCALE, Camera, Mode3D, Turbo
from render.run.loop import render_frames
from render.run.run_dir import RunDir
from transforms.prompts import PromptSchedule

H, W = 16, 24


def make_plan(n: int, translation_x: float = 0.0) -> RenderPlan:
    still = {f"animation.{k}": np.zeros(n) for k in ("translation_y", "translation_z", "rotation_3d_x",
                                                      "rotation_3d_y", "rotation_3d_z")}
    schedules = {**still, "animation.translation_x": np.full(n, translation_x), "animation.fov": np.full(n, 40.0)}
    return RenderPlan(n_frames=n, width=W, height=H, fps=12.0, seed=0, schedules=schedules,
                      text_prompts=PromptSchedule(((),) * n, ()), image_prompts=PromptSchedule(((),) * n, ()))


def level(frame: int) -> float:
    """The flat grey the stand-in generator paints for ``frame`` (an exact 8-bit value)."""
    return (20 + 9 * frame) / 255


class FlatGenerator:
    """A stand-in for diffusion: frame f is a flat grey ``level(f)``, so blends can be read off one pixel."""

    def __init__(self):
        self.frames = []

    def __call__(self, init: FrameInit, params):
        self.frames.append(params.frame)
        return torch.full((1, 3, H, W), level(params.frame))


def u8(value: float) -> int:
    return int(np.round(value * 255))


def saved_levels(run: RunDir, n: int) -> list[int]:
    return [int(np.asarray(Image.open(run.frame_path(f)))[H // 2, W // 2, 0]) for f in range(n)]


def test_turbo_diffuses_every_nth_frame_after_the_preroll_and_blends_like_dd(tmp_path):
    n = 16
    mode = Mode3D(lambda p: None, FlatDepth(), Camera(), turbo=Turbo(steps=3, preroll=10))
    generator = FlatGenerator()
    render_frames(make_plan(n), mode, generator, RunDir(tmp_path, "t").create(), progress=False)
    assert generator.frames == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 15]
    assert [Turbo(3, 10).blend_factor(f) for f in (13, 14)] == [2 / 3, 1.0]  # DD: ((f % 3) + 1) / 3
    got = saved_levels(RunDir(tmp_path, "t"), n)
    # The camera does not move, so each warp is the identity and every saved value can be written down:
    # a diffused frame f > 0 is saved as diffused/3 + warp(previous)*2/3 (DD's cv2.addWeighted).
    expected = {0: u8(level(0))}
    for f in range(1, 11):
        expected[f] = u8(level(f) / 3 + level(f - 1) * 2 / 3)
    expected[11] = u8(level(10))  # bf = 1.0: new chain (frame 10's diffusion), old chain (warp of 9) weighs 0
    expected[12] = u8(level(12) / 3 + level(10) * 2 / 3)  # previous = the unblended new chain of frame 11
    expected[13] = u8(level(12) * 2 / 3 + level(10) / 3)  # bf = 2/3: new (12's diffusion), old (restarted at 12)
    expected[14] = u8(level(12))  # bf = 1.0
    expected[15] = u8(level(15) / 3 + level(12) * 2 / 3)
    assert got == [expected[f] for f in range(n)]


def test_turbo_state_resumes_exactly(tmp_path):
    n, cut = 17, 13
    full = RunDir(tmp_path / "full", "t").create()
    render_frames(make_plan(n, translation_x=3.0), Mode3D(textured, FlatDepth(), Camera(), turbo=Turbo(3, 4)),
                  PassThrough(), full, progress=False)
    part = RunDir(tmp_path / "part", "t").create()
    first = Mode3D(textured, FlatDepth(), Camera(), turbo=Turbo(3, 4))
    render_frames(make_plan(n, translation_x=3.0), first, PassThrough(), part, frames=range(cut), progress=False)
    state = first.state_dict()
    assert state["old"] is not None and state["old"].dtype == torch.uint8
    second = Mode3D(textured, FlatDepth(), Camera(), turbo=Turbo(3, 4))
    second.load_state_dict(state, torch.device("cpu"))
    render_frames(make_plan(n, translation_x=3.0), second, PassThrough(), part, frames=range(cut, n), progress=False)
    for f in range(n):
        np.testing.assert_array_equal(np.asarray(Image.open(part.frame_path(f))),
                                      np.asarray(Image.open(full.frame_path(f))), err_msg=f"frame {f}")


def textured(params) -> torch.Tensor:
    g = torch.Generator().manual_seed(5)
    return (torch.rand(1, 3, H, W, generator=g) * 255).floor() / 255


class PassThrough:
    def __call__(self, init: FrameInit, params):
        return init.image if init.image is not None else textured(params)


def test_vr_mode_writes_both_eyes_that_differ_by_the_eye_offset(tmp_path):
    run = RunDir(tmp_path, "t").create()
    mode = Mode3D(textured, FlatDepth(), Camera(), vr=(0.5, 5.0))
    render_frames(make_plan(2), mode, PassThrough(), run, progress=False)
    for f in range(2):
        left = np.asarray(Image.open(tmp_path / "vr" / f"{f:05d}_l.png"))
        right = np.asarray(Image.open(tmp_path / "vr" / f"{f:05d}_r.png"))
        assert left.shape == right.shape == (H, W, 3) and left.dtype == np.uint8
        assert np.abs(left.astype(int) - right.astype(int)).mean() > 2  # the eyes see different views
    same = RunDir(tmp_path / "same", "t").create()
    render_frames(make_plan(1), Mode3D(textured, FlatDepth(), Camera(), vr=(0.0, 0.0)), PassThrough(), same,
                  progress=False)
    np.testing.assert_array_equal(np.asarray(Image.open(same.root / "vr" / "00000_l.png")),
                                  np.asarray(Image.open(same.root / "vr" / "00000_r.png")))


def test_depth_maps_are_16_bit_pngs_of_the_depth_each_frame_was_warped_with(tmp_path):
    run = RunDir(tmp_path, "t").create()
    mode = Mode3D(textured, FlatDepth(2.0), Camera(), save_depth=True)
    render_frames(make_plan(3), mode, PassThrough(), run, progress=False)
    assert sorted(p.name for p in (tmp_path / "depth").iterdir()) == ["00001.png", "00002.png"]  # frame 0: no warp
    depth = np.asarray(Image.open(tmp_path / "depth" / "00001.png"))
    assert depth.dtype == np.uint16 and depth.shape == (H, W)
    assert np.all(depth == round(2.0 * DEPTH_PNG_SCALE))


@pytest.mark.parametrize("overrides, setting", [
    (["animation=2d_zoom", "animation.turbo_mode=true"], "animation.turbo_mode"),
    (["animation=none", "animation.vr_mode=true"], "animation.vr_mode"),
    (["animation=3d_zoom", "animation.turbo_mode=true", "animation.turbo_steps=1"], "animation.turbo_steps"),
    (["animation=3d_zoom", "depth.midas_weight=1.5"], "depth.midas_weight"),
])
def test_turbo_vr_and_depth_settings_are_validated(compose_config, overrides, setting):
    from render.config.issues import ConfigErrors
    from render.config.planner import plan_and_resolve
    from render.config.settings import to_settings

    with pytest.raises(ConfigErrors) as err:
        plan_and_resolve(to_settings(compose_config("generator=preview", *overrides)))
    assert setting in str(err.value)


def test_3d_end_to_end_with_tiny_depth_and_models_vr_and_depth_maps(compose_config, tmp_path):
    from flow.extract import probe_video
    from render.app import render_animation

    cfg = compose_config("animation=3d_zoom", "depth=tiny", "model=tiny", "width=128", "height=64", "seed=3",
                         "animation.max_frames=3", "model.steps=6", "output.preset=ultrafast",
                         "animation.vr_mode=true", "depth.save_depth_maps=true", "animation.rotation_3d_y=1.5")
    result = render_animation(cfg, tmp_path, progress=False)
    assert probe_video(result.video).frames == 3
    vr = probe_video(tmp_path / "TimeToDisco_vr.mp4")
    assert (vr.frames, vr.width, vr.height) == (3, 256, 64)  # the eyes side by side
    assert len(list((tmp_path / "vr").glob("*.png"))) == 6
    depth = np.asarray(Image.open(tmp_path / "depth" / "00002.png"))
    assert depth.dtype == np.uint16 and depth.shape == (64, 128) and depth.min() > 0  # clamped positive
    assert depth.std() > 0  # a network's depth, not a plane


def test_vr_reuses_the_saved_frames_depth_for_the_next_warp(tmp_path):
    class Counting(FlatDepth):
        calls = 0

        def __call__(self, image):
            Counting.calls += 1
            return super().__call__(image)

    mode = Mode3D(textured, Counting(), Camera(), vr=(0.5, 5.0))
    render_frames(make_plan(4), mode, PassThrough(), RunDir(tmp_path, "t").create(), progress=False)
    assert Counting.calls == 4  # one depth per frame: the eye views' depth is the next warp's


class JitteryDepth:
    """A stand-in estimator: depth from the image's brightness with a scale and shift that jump with the image (as a
    network's relative depth does), deterministic for a given image."""

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        jitter = float((image.sum() * 1000) % 1)
        return (1.2 + 0.8 * image.mean(1, keepdim=True)) * (0.85 + 0.3 * jitter) + 0.2 * jitter


def stabilized_mode(**kw) -> Mode3D:
    return Mode3D(textured, JitteryDepth(), Camera(), stabilizer=DepthStabilizer(0.7), save_depth=True, **kw)


def make_moving_plan(n: int) -> RenderPlan:
    plan = make_plan(n, translation_x=2.0)
    plan.schedules["animation.translation_z"] = np.full(n, 4.0)
    return plan


def test_stabilized_depth_resumes_exactly_from_its_checkpoint(tmp_path):
    from render.run.checkpoint import Checkpoints, FrameState

    n, cut = 7, 4
    full_mode = stabilized_mode(turbo=Turbo(3, 2))
    full = RunDir(tmp_path / "full", "t").create()
    render_frames(make_moving_plan(n), full_mode, PassThrough(), full, progress=False)
    part = RunDir(tmp_path / "part", "t").create()
    first = stabilized_mode(turbo=Turbo(3, 2))
    render_frames(make_moving_plan(n), first, PassThrough(), part, frames=range(cut), progress=False)
    state = first.state_dict()
    # its bytes, like the frames: at full size the checkpoint keeps it in state/blobs/, not in every state file
    assert state["depth_prior"].dtype == torch.uint8 and state["depth_prior"].shape == (1, 1, H, 2 * W)
    checkpoints = Checkpoints(tmp_path / "state")
    checkpoints.save(FrameState(frame=cut - 1, seed=0, config_hash="x", mode=state, rng={}))
    second = stabilized_mode(turbo=Turbo(3, 2))
    second.load_state_dict(checkpoints.latest().mode, torch.device("cpu"))
    assert torch.equal(second.state.depth_prior, first.state.depth_prior)
    render_frames(make_moving_plan(n), second, PassThrough(), part, frames=range(cut, n), progress=False)
    for f in range(n):
        for path in (part.frame_path(f), part.root / "depth" / f"{f:05d}.png"):
            if path.exists() or f > 0:
                other = full.root / path.relative_to(part.root)
                np.testing.assert_array_equal(np.asarray(Image.open(path)), np.asarray(Image.open(other)), str(path))
    assert second.depth_flicker_series() == full_mode.depth_flicker_series()
    assert len(full_mode.depth_flicker_series()) == n - 2  # frames 2.. have a prediction to be measured against


def test_stabilizing_lowers_the_measured_depth_flicker(tmp_path):
    plain = Mode3D(textured, JitteryDepth(), Camera())
    render_frames(make_moving_plan(8), plain, PassThrough(), RunDir(tmp_path / "a", "t").create(), progress=False)
    held = stabilized_mode()
    render_frames(make_moving_plan(8), held, PassThrough(), RunDir(tmp_path / "b", "t").create(), progress=False)
    raw, stable = np.mean(plain.depth_flicker_series()), np.mean(held.depth_flicker_series())
    assert raw > 0 and stable < 0.75 * raw
    assert plain.state.depth_prior.dtype == torch.float16  # measured without stabilising, too


def test_run_json_has_the_depth_flicker_and_the_strength_is_checked(compose_config, tmp_path):
    import json

    from render.app import render_animation
    from render.config.issues import ConfigErrors
    from render.config.planner import plan_run
    from render.config.settings import to_settings

    common = ["animation=3d_zoom", "depth=tiny", "generator=preview", "width=128", "height=64", "seed=5",
              "animation.max_frames=4", "output.preset=ultrafast", "output.video=false", "output.previews=false"]
    render_animation(compose_config(*common, "depth.stabilize=true"), tmp_path, progress=False)
    metrics = json.loads((tmp_path / "run.json").read_text())["metrics"]
    # the tiny random network's depth is nearly flat, so the figure itself is small: that it is there is the point
    assert metrics["depth_flicker"] >= 0 and metrics["depth_flicker_p95"] >= metrics["depth_flicker"]
    assert "flicker" not in metrics  # previews skip the image measures; the depth measure costs nothing more
    with pytest.raises(ConfigErrors, match="depth.stabilize_strength"):
        plan_run(to_settings(compose_config(*common, "depth.stabilize_strength=1.5")))
