"""Tests for transforms.camera3d: DD's pytorch3d 3D warp re-done in plain torch."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.spatial.transform import Rotation

from transforms.camera3d import (
    EIGHT_BIT_BIAS,
    euler_xyz_matrix,
    grid3d,
    ndc_offsets,
    warp3d,
)


def offsets_from_grid(depth, translation, rotation, **kw):
    """offset = affine_grid(I) - grid, per pixel (B,H,W,2)."""
    grid = grid3d(depth, translation, rotation, **kw).double()
    b, h, w, _ = grid.shape
    base = F.affine_grid(torch.eye(2, 3, dtype=torch.float64).expand(b, 2, 3), [b, 1, h, w],
                         align_corners=False)
    return base - grid


# W=H=5: linspace(-1, 1, 5) = -1, -.5, 0, .5, 1, so pixel [row 3, col 3] is world (0.5, 0.5)
# and pixel [2, 2] is the centre.
@pytest.mark.parametrize("translation,rotation,pixel,expected", [
    ((0, 0, 10), (0, 0, 0), (3, 3), (0.0723, 0.0723)),
    ((10, 0, 0), (0, 0, 0), (2, 2), (-0.1374, 0.0)),
    ((0, 0, 0), (0, 1, 0), (2, 2), (-0.0480, 0.0)),
])
def test_reference_offsets_section8(translation, rotation, pixel, expected):
    off = offsets_from_grid(torch.ones(5, 5), translation, rotation, fov=40.0)
    assert off[0, pixel[0], pixel[1]].tolist() == pytest.approx(expected, abs=1e-4)
    world = torch.tensor([(pixel[1] - 2) / 2, (pixel[0] - 2) / 2, 1.0])
    assert ndc_offsets(world, translation, rotation, fov=40.0).tolist() == pytest.approx(
        expected, abs=1e-4)


def test_parallax_depends_on_depth():
    pts = torch.tensor([[0.5, 0.0, 0.5], [0.5, 0.0, 2.0]])
    off = ndc_offsets(pts, (0, 0, 10), (0, 0, 0), fov=40.0)
    assert off[:, 0].tolist() == pytest.approx([0.305, 0.018], abs=1e-3)


def test_near_far_have_no_effect():
    depth = torch.rand(1, 7, 9) + 0.5
    ref = grid3d(depth, (3, -4, 12), (2, -3, 5), fov=55.0)
    for near, far in [(0.01, 1.0), (1.0, 5.0), (2000.0, 20000.0), (5.0, 1e7)]:
        assert torch.equal(grid3d(depth, (3, -4, 12), (2, -3, 5), fov=55.0, near=near, far=far), ref)


@pytest.mark.parametrize("kw,name", [
    (dict(fov=0.0), "fov"), (dict(fov=180.0), "fov"), (dict(fov=-5.0), "fov"),
    (dict(near=0.0), "near"), (dict(near=-1.0), "near"),
    (dict(near=10.0, far=10.0), "far"), (dict(near=10.0, far=5.0), "far"),
])
def test_camera_parameter_validation(kw, name):
    with pytest.raises(ValueError, match=name):
        grid3d(torch.ones(4, 4), (0, 0, 0), (0, 0, 0), **kw)


def numpy_reference_grid(depth, translation, rotation_deg, fov, near, far):
    """Independent derivation with pytorch3d's 4x4 matrices in row-vector form."""
    h, w = depth.shape
    ys, xs = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    pts = np.stack([xs.ravel(), ys.ravel(), depth.ravel(), np.ones(h * w)], axis=1)
    s = 1.0 / math.tan(math.radians(fov) / 2)
    k = np.zeros((4, 4))  # column form, as pytorch3d builds it before transposing
    k[0, 0] = k[1, 1] = s
    k[2, 2] = far / (far - near)
    k[2, 3] = -far * near / (far - near)
    k[3, 2] = 1.0

    def project(rot, trans):
        world_to_view = np.eye(4)
        world_to_view[:3, :3] = rot
        world_to_view[3, :3] = trans
        p = pts @ world_to_view @ k.T
        return p[:, :2] / p[:, 3:4]

    tx, ty, tz = translation
    rot = Rotation.from_euler("XYZ", rotation_deg, degrees=True).as_matrix()
    offset = project(rot, [-tx / 200, ty / 200, -tz / 200]) - project(np.eye(3), np.zeros(3))
    base = np.stack(np.meshgrid((2 * np.arange(w) + 1) / w - 1, (2 * np.arange(h) + 1) / h - 1),
                    axis=-1)
    return base - offset.reshape(h, w, 2)


@pytest.mark.parametrize("seed", range(6))
def test_grid_matches_independent_numpy_derivation(seed):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(3, 12, 2)
    depth = rng.uniform(0.5, 3.0, (h, w))
    translation = rng.uniform(-20, 20, 3)
    rotation = rng.uniform(-10, 10, 3)
    fov = rng.uniform(20, 120)
    near = rng.uniform(0.1, 300)
    far = near + rng.uniform(1, 20000)
    expected = numpy_reference_grid(depth, translation, rotation, fov, near, far)
    got = grid3d(torch.from_numpy(depth).float(), translation, rotation, fov, near, far)
    assert got.shape == (1, h, w, 2) and got.dtype == torch.float32
    np.testing.assert_allclose(got[0].numpy(), expected, rtol=0, atol=1e-5)


def test_euler_matrix_matches_scipy_intrinsic_xyz():
    rng = np.random.default_rng(0)
    for angles in rng.uniform(-180, 180, (20, 3)):
        m = euler_xyz_matrix(angles, dtype=torch.float64).numpy()
        np.testing.assert_allclose(m, Rotation.from_euler("XYZ", angles, degrees=True).as_matrix(),
                                   atol=1e-12)
        np.testing.assert_allclose(m @ m.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(m) == pytest.approx(1.0, abs=1e-12)
    # extrinsic "xyz" (= Rz @ Ry @ Rx) is a different matrix for generic angles
    angles = [20.0, -35.0, 50.0]
    assert not np.allclose(euler_xyz_matrix(angles, dtype=torch.float64).numpy(),
                           Rotation.from_euler("xyz", angles, degrees=True).as_matrix(), atol=1e-3)


def test_euler_matrix_single_axes_and_dtype():
    c, s = math.cos(math.radians(30)), math.sin(math.radians(30))
    np.testing.assert_allclose(euler_xyz_matrix((30, 0, 0)).numpy(),
                               [[1, 0, 0], [0, c, -s], [0, s, c]], atol=1e-7)
    np.testing.assert_allclose(euler_xyz_matrix((0, 30, 0)).numpy(),
                               [[c, 0, s], [0, 1, 0], [-s, 0, c]], atol=1e-7)
    np.testing.assert_allclose(euler_xyz_matrix((0, 0, 30)).numpy(),
                               [[c, -s, 0], [s, c, 0], [0, 0, 1]], atol=1e-7)
    assert euler_xyz_matrix((1, 2, 3)).dtype == torch.float32
    assert euler_xyz_matrix((1, 2, 3), dtype=torch.float64).dtype == torch.float64


N = 41  # odd, so the centre pixel is world (0, 0)


def blob(x: float, y: float) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(N, dtype=torch.float32),
                            torch.arange(N, dtype=torch.float32), indexing="ij")
    g = torch.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * 1.5 ** 2))
    return g.expand(1, 3, N, N).contiguous()


def centroid(img: torch.Tensor) -> tuple[float, float]:
    m = img[0, 0].double()
    ys, xs = torch.meshgrid(torch.arange(N, dtype=torch.float64),
                            torch.arange(N, dtype=torch.float64), indexing="ij")
    return float((m * xs).sum() / m.sum()), float((m * ys).sum() / m.sum())


def moved(x0, y0, translation, rotation):
    out = warp3d(blob(x0, y0), torch.ones(N, N), translation, rotation,
                 padding_mode="zeros", sampling_mode="bilinear", bias=0.0)
    x, y = centroid(out)
    return x - x0, y - y0


C = N // 2


def test_sign_translation_x_shifts_left():
    dx, dy = moved(C, C, (10, 0, 0), (0, 0, 0))
    assert dx < -2.0 and abs(dy) < 0.05


def test_sign_translation_y_shifts_down():
    dx, dy = moved(C, C, (0, 10, 0), (0, 0, 0))
    assert dy > 2.0 and abs(dx) < 0.05


def test_sign_translation_z_zooms_in():
    dx, dy = moved(C + 10, C - 8, (0, 0, 10), (0, 0, 0))
    assert dx > 0.3 and dy < -0.3  # moves away from the centre


def test_sign_rotation_x_shifts_down():
    dx, dy = moved(C, C, (0, 0, 0), (3, 0, 0))
    assert dy > 2.0 and abs(dx) < 0.05


def test_sign_rotation_y_shifts_left():
    dx, dy = moved(C, C, (0, 0, 0), (0, 3, 0))
    assert dx < -2.0 and abs(dy) < 0.05


def test_sign_rotation_z_rotates_counter_clockwise():
    # DD's offsets are NDC differences, so on screen a small z rotation is amplified by
    # 1/tan(fov/2) (2.75x at fov 40): 2 degrees turns content by about 5.5 degrees.
    dx, dy = moved(C + 12, C, (0, 0, 0), (0, 0, 2))  # right of centre moves up
    assert dy == pytest.approx(-12 * math.sin(math.radians(2)) / math.tan(math.radians(20)), abs=0.1)
    assert abs(dx) < 0.25
    dx, dy = moved(C, C - 12, (0, 0, 0), (0, 0, 2))  # above centre moves left
    assert dx < -1.0 and abs(dy) < 0.25


def test_identity_motion_returns_image():
    img = torch.rand(2, 3, 9, 13)
    depth = torch.rand(9, 13) + 0.5
    out = warp3d(img, depth, (0, 0, 0), (0, 0, 0), sampling_mode="bilinear", bias=0.0)
    torch.testing.assert_close(out, img, atol=1e-6, rtol=0)
    out = warp3d(img, depth, (0, 0, 0), (0, 0, 0), sampling_mode="bilinear")
    torch.testing.assert_close(out, (img + EIGHT_BIT_BIAS).clamp(0, 1), atol=1e-6, rtol=0)
    assert EIGHT_BIT_BIAS == pytest.approx(1 / 512 - 1e-4, abs=0)


def test_bicubic_default_is_clamped_to_unit_range():
    img = (torch.rand(1, 3, 16, 16) > 0.5).float()  # hard edges make bicubic overshoot
    out = warp3d(img, torch.ones(16, 16), (3, -2, 5), (1, 2, 3))
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    raw = F.grid_sample(img + EIGHT_BIT_BIAS, grid3d(torch.ones(16, 16), (3, -2, 5), (1, 2, 3)),
                        mode="bicubic", padding_mode="border", align_corners=False)
    assert float(raw.max()) > 1.0
    torch.testing.assert_close(out, raw.clamp(0, 1), atol=0, rtol=0)


@pytest.mark.parametrize("shape", [(6, 8), (1, 6, 8), (1, 1, 6, 8)])
def test_depth_shapes_and_broadcast(shape):
    img = torch.rand(3, 3, 6, 8)
    depth = torch.rand(6, 8) + 0.5
    out = warp3d(img, depth.reshape(shape), (4, 2, 8), (1, -1, 2))
    assert out.shape == img.shape and out.dtype == img.dtype
    for i in range(3):
        torch.testing.assert_close(out[i:i + 1], warp3d(img[i:i + 1], depth, (4, 2, 8), (1, -1, 2)),
                                   atol=1e-6, rtol=0)
    assert grid3d(depth.reshape(shape), (4, 2, 8), (1, -1, 2)).shape == (1, 6, 8, 2)


def test_per_item_depth_batch():
    img = torch.rand(2, 3, 6, 8)
    depth = torch.rand(2, 1, 6, 8) + 0.5
    out = warp3d(img, depth, (0, 0, 20), (0, 0, 0))
    for i in range(2):
        torch.testing.assert_close(out[i:i + 1], warp3d(img[i:i + 1], depth[i], (0, 0, 20), (0, 0, 0)),
                                   atol=1e-6, rtol=0)
    assert not torch.allclose(out[0], warp3d(img[:1], depth[1], (0, 0, 20), (0, 0, 0))[0])
    with pytest.raises(ValueError, match="batch"):
        warp3d(torch.rand(3, 3, 6, 8), depth, (0, 0, 1), (0, 0, 0))
    with pytest.raises(ValueError, match="size"):
        warp3d(img, torch.ones(5, 8), (0, 0, 1), (0, 0, 0))
    with pytest.raises(ValueError, match="depth"):
        grid3d(torch.ones(1, 2, 5, 8), (0, 0, 1), (0, 0, 0))


def test_dtype_preserved():
    img = torch.rand(1, 3, 5, 7, dtype=torch.float64)
    out = warp3d(img, torch.ones(5, 7), (1, 2, 3), (1, 2, 3))
    assert out.dtype == torch.float64
    assert grid3d(torch.ones(5, 7, dtype=torch.float64), (1, 2, 3), (0, 0, 0)).dtype == torch.float64
    assert not out.requires_grad


@pytest.mark.parametrize("kw,name", [
    (dict(padding_mode="wrap"), "padding_mode"),
    (dict(sampling_mode="lanczos"), "sampling_mode"),
])
def test_invalid_modes(kw, name):
    with pytest.raises(ValueError, match=name) as info:
        warp3d(torch.rand(1, 3, 4, 4), torch.ones(4, 4), (0, 0, 0), (0, 0, 0), **kw)
    assert "border" in str(info.value) or "bicubic" in str(info.value)
