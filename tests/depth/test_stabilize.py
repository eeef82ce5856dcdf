"""Depth held still with the known camera: the previous depth moved by the camera step, the robust fit, the blend, the
flicker measure, and a synthetic sequence with the figures of the issue (flicker at most a third of the raw sequence's,
error against the truth lower).

The synthetic scene's truth is made here from the 3D mode's camera definition (``transforms.camera3d``'s docstring):
each step, a pixel's point ``P = (x, y, depth)`` on DD's ``[-1, 1]`` grid has depth ``(P R + T)_z`` in the new camera,
found at the warp's sampling grid (``grid3d``, the renderer's warp that the DD fidelity tests check); new content at
the edges continues the border. The estimator's output is that truth with a per-frame scale and shift and per-pixel
noise.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from depth.stabilize import DepthStabilizer, depth_flicker, move_depth, robust_affine
from transforms.camera3d import euler_xyz_matrix, grid3d

H, W = 96, 160
STEP = dict(translation=(2.0, 0.0, 3.0), rotation_deg=(0.0, 0.6, 0.2))  # right, forward, turning a little


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _plane(value: float) -> torch.Tensor:
    return torch.full((1, 1, H, W), value)


def test_a_still_camera_keeps_the_depth_and_sees_all_of_it():
    depth = 1 + torch.rand(1, 1, H, W, generator=torch.Generator().manual_seed(0))
    moved = move_depth(depth, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0))
    torch.testing.assert_close(moved, depth, rtol=0, atol=1e-5)  # float32 sampling grid


def test_flying_forward_brings_a_plane_nearer_by_the_step():
    moved = move_depth(_plane(2.0), (0.0, 0.0, 40.0), (0.0, 0.0, 0.0))  # 40 units = 0.2 depth units forward
    assert torch.isfinite(moved).all()  # zooming in: every pixel comes from inside the frame
    torch.testing.assert_close(moved, _plane(1.8), rtol=0, atol=1e-5)


def test_moving_sideways_leaves_the_entering_edge_unseen():
    z, tx, fov = 2.0, 20.0, 40.0
    moved = move_depth(_plane(z), (tx, 0.0, 0.0), (0.0, 0.0, 0.0), fov=fov)
    # the content shifts left by s * (tx / 200) / z in NDC units, [-1, 1] spanning the width
    shift_px = (1 / math.tan(math.radians(fov) / 2)) * (tx / 200) / z * W / 2
    unseen = (~torch.isfinite(moved[0, 0])).all(dim=0)
    assert not unseen[: W // 2].any() and unseen[W // 2:].any()  # new content enters on the right
    assert abs(int(unseen.sum()) - shift_px) <= 1.5
    assert torch.allclose(moved[torch.isfinite(moved)], torch.tensor(2.0))


def test_robust_affine_ignores_outliers():
    rng = np.random.default_rng(1)
    x = rng.uniform(0.5, 2.5, 5000)
    y = 1.7 * x - 0.4 + rng.normal(0, 0.01, x.size)
    y[:1000] += rng.uniform(0.5, 3.0, 1000)  # a fifth of the pixels disagree (disocclusions, moving things)
    fit = robust_affine(x, y)
    assert fit.scale == pytest.approx(1.7, abs=0.01) and fit.shift == pytest.approx(-0.4, abs=0.01)
    assert fit.sigma == pytest.approx(0.01, rel=0.2)
    plain = np.polyfit(x, y, 1)
    assert abs(plain[0] - 1.7) > 0.05 or abs(plain[1] + 0.4) > 0.05  # least squares alone is pulled away
    flat = robust_affine(np.full(100, 2.0), np.full(100, 2.5))
    assert (flat.scale, flat.shift) == (1.0, 0.5)
    assert robust_affine(x[:5], y[:5]) is None


def test_flicker_is_zero_for_a_rescaled_depth_and_measures_noise():
    g = torch.Generator().manual_seed(2)
    depth = 1 + torch.rand(1, 1, H, W, generator=g)
    assert depth_flicker(0.5 * depth + 0.3, depth) == pytest.approx(0.0, abs=1e-4)  # scale and shift do not count
    noisy = depth + 0.02 * torch.randn(depth.shape, generator=g)
    value = depth_flicker(noisy, depth)
    assert value == pytest.approx(100 * 0.02 * math.sqrt(2 / math.pi) / depth.mean().item(), rel=0.1)
    hidden = torch.full_like(depth, math.nan)
    hidden[..., :2] = depth[..., :2]
    assert depth_flicker(noisy, hidden) is None  # too little of the frame visible in both


def test_the_stabilizer_keeps_what_disagrees_and_what_was_unseen():
    g = torch.Generator().manual_seed(3)
    truth = 1 + torch.rand(1, 1, H, W, generator=g)
    raw = 1.2 * truth + 0.1  # this frame's estimate: another scale and shift, no noise
    prediction = truth.clone()
    prediction[..., :20, :20] += 1.0  # something moved there: the prediction is wrong
    prediction[..., -10:] = math.nan  # entered the frame: nothing predicted
    held = DepthStabilizer(0.7)(raw, prediction)
    assert torch.equal(DepthStabilizer(0.0)(raw, prediction), raw)
    # the held depth is the estimate under a scale and shift that is the mix of the prediction's and the estimate's
    mix = torch.lerp(raw, truth, 0.7)
    torch.testing.assert_close(held, mix, rtol=1e-4, atol=1e-4)  # everywhere: the disagreement is not blended in
    with pytest.raises(ValueError, match="stabilize_strength"):
        DepthStabilizer(1.5)


def _truth_sequence(n: int) -> list[torch.Tensor]:
    """A floor, a box and a ball seen by a camera moving right and forward and turning (module docstring)."""
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, H), torch.linspace(-1, 1, W), indexing="ij")
    depth = 2.6 - 0.6 * (ys + 1)
    depth = torch.where(((xs + 0.3).abs() < 0.25) & ((ys - 0.1).abs() < 0.3), torch.full_like(depth, 1.0), depth)
    r2 = (xs - 0.45) ** 2 + (ys + 0.2) ** 2
    depth = torch.where(r2 < 0.09, 1.5 - 0.4 * (0.09 - r2).clamp_min(0).sqrt() / 0.3, depth)
    frames = [depth[None, None]]
    rot = euler_xyz_matrix(STEP["rotation_deg"], dtype=torch.float64)
    yd, xd = ys.double(), xs.double()
    for _ in range(n - 1):
        d = frames[-1]
        z = xd * rot[0, 2] + yd * rot[1, 2] + d[0, 0].double() * rot[2, 2] - STEP["translation"][2] / 200
        grid = grid3d(d, STEP["translation"], STEP["rotation_deg"]).double()
        frames.append(F.grid_sample(z[None, None], grid, mode="bilinear", padding_mode="border",
                                    align_corners=False).float())
    return frames


def _estimates(truth: list[torch.Tensor], seed: int = 0) -> list[torch.Tensor]:
    """Each frame's estimate: the truth with its own scale (+-15 %) and shift (+-0.15), and noise (sd 0.03)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for t in truth:
        scale = 1 + 0.3 * (torch.rand((), generator=g).item() - 0.5)
        shift = 0.3 * (torch.rand((), generator=g).item() - 0.5)
        out.append(scale * t + shift + 0.03 * torch.randn(t.shape, generator=g))
    return out


def _run(estimates: list[torch.Tensor], stabilizer: DepthStabilizer | None) -> tuple[list[torch.Tensor], list[float]]:
    """What the 3D mode does per frame: hold the estimate to the prediction, measure, move the result on (in 16-bit
    float, as the mode keeps it)."""
    used, flicker, prediction = [], [], None
    for raw in estimates:
        depth = raw if stabilizer is None or prediction is None else stabilizer(raw, prediction)
        if prediction is not None:
            flicker.append(depth_flicker(depth, prediction))
        prediction = move_depth(depth, **STEP).half().float()
        used.append(depth)
    return used, flicker


def test_a_synthetic_flight_holds_still_with_a_third_of_the_flicker_and_less_error():
    truth = _truth_sequence(20)
    estimates = _estimates(truth)
    raw, raw_flicker = _run(estimates, None)
    held, held_flicker = _run(estimates, DepthStabilizer(0.7))

    def error(seq):  # mean absolute error against the truth, relative to its mean
        return float(np.mean([((d - t).abs().mean() / t.mean()).item() for d, t in zip(seq, truth)]))

    assert None not in raw_flicker and None not in held_flicker
    assert np.mean(held_flicker) <= np.mean(raw_flicker) / 3
    assert error(held) < 0.6 * error(raw)
