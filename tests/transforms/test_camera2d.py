"""Tests for transforms.camera2d: DD's cv2 2D warp re-done in torch."""

import cv2
import numpy as np
import pytest
import torch

from transforms.camera2d import dd_affine_matrix, warp2d
from transforms.camera3d import EIGHT_BIT_BIAS

H, W = 64, 96

PARAMS = [
    (0.0, 1.0, 0.0, 0.0),
    (30.0, 1.1, 3.3, -2.7),  # rotation + zoom in + fractional shift
    (-17.0, 0.8, 250.0, -130.5),  # zoom out + large translations that wrap several times
    (90.0, 1.0, 0.0, 0.0),
    (5.0, 1.5, 0.37, 0.21),
    (-123.4, 0.93, -41.7, 77.9),
]


def smooth_texture(seed: int, sigma: float = 2.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.random((H, W, 3)).astype(np.float32), (0, 0), sigma)
    return ((img - img.min()) / (img.max() - img.min())).astype(np.float32)


def to_tensor(hwc: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(hwc)).permute(2, 0, 1)[None]


def to_hwc(t: torch.Tensor) -> np.ndarray:
    return t[0].permute(1, 2, 0).numpy()


def cv2_dd(img: np.ndarray, params) -> np.ndarray:
    """DD's exact call, with DD's own matrix construction."""
    angle, zoom, tx, ty = params
    h, w = img.shape[:2]
    rot = np.vstack([cv2.getRotationMatrix2D((w // 2, h // 2), angle, zoom), [0, 0, 1]])
    trans = np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]], dtype=np.float64)
    return cv2.warpPerspective(img, rot @ trans, (w, h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_WRAP)


def dot_image(x: int, y: int, h: int = H, w: int = W) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32),
                            torch.arange(w, dtype=torch.float32), indexing="ij")
    blob = torch.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * 1.5 ** 2))
    return blob.expand(1, 3, h, w).contiguous()


def centroid(img: torch.Tensor) -> tuple[float, float]:
    m = img[0, 0].double()
    ys, xs = torch.meshgrid(torch.arange(m.shape[0], dtype=torch.float64),
                            torch.arange(m.shape[1], dtype=torch.float64), indexing="ij")
    return float((m * xs).sum() / m.sum()), float((m * ys).sum() / m.sum())


@pytest.mark.parametrize("size", [(96, 64), (97, 65), (33, 20)])
def test_matrix_equals_cv2_dd_matrix(size):
    w, h = size
    rng = np.random.default_rng(w)
    for _ in range(20):
        angle, zoom = rng.uniform(-360, 360), rng.uniform(0.2, 3)
        tx, ty = rng.uniform(-200, 200, 2)
        rot = np.vstack([cv2.getRotationMatrix2D((w // 2, h // 2), angle, zoom), [0, 0, 1]])
        expected = rot @ np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]])
        got = dd_affine_matrix(w, h, angle, zoom, tx, ty)
        assert got.dtype == np.float64 and got.shape == (3, 3)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


def test_matrix_reference_section8():
    m90 = dd_affine_matrix(96, 64, 90, 1.0, 0, 0)
    np.testing.assert_allclose(m90[:2], [[0, 1, 16], [-1, 0, 80]], atol=1e-12)
    mzoom = dd_affine_matrix(96, 64, 0, 1.1, 0, 0)
    np.testing.assert_allclose(mzoom[:2], [[1.1, 0, -4.8], [0, 1.1, -3.2]], atol=1e-12)
    np.testing.assert_allclose(m90[2], [0, 0, 1])
    # translate first, then rotate: T's shift is rotated too
    np.testing.assert_allclose(dd_affine_matrix(96, 64, 90, 1.0, 5, 0)[:2, 2], [16, 75], atol=1e-12)


@pytest.mark.parametrize("params", PARAMS)
def test_warp_matches_cv2_float(params):
    # cv2 5.x samples float images at exact coordinates (measured: mean ~1e-7, max ~1e-5);
    # the bounds leave room for cv2 4.x's 1/32 px coordinate quantisation.
    img = smooth_texture(seed=len(str(params)))
    ref = cv2_dd(img, params)
    got = to_hwc(warp2d(to_tensor(img), *params, bias=0.0))
    diff = np.abs(got - ref)
    assert diff.mean() < 0.05 / 255
    assert diff.max() < 1.0 / 255


@pytest.mark.parametrize("params", PARAMS)
def test_eight_bit_pipeline_matches_cv2_uint8(params):
    img_u8 = np.round(smooth_texture(seed=7, sigma=1.0) * 255).astype(np.uint8)
    ref = cv2_dd(img_u8, params).astype(np.int64)
    warped = warp2d(to_tensor(img_u8).float() / 255, *params)
    got = to_hwc((warped * 255).to(torch.uint8)).astype(np.int64)  # truncation, like ToPILImage
    diff = np.abs(got - ref)
    assert diff.max() <= 1
    assert diff.mean() < 0.1


def test_eight_bit_half_pixel_ties_round_down():
    # Exact .5-level ties (half-pixel shifts) round down with DD's bias (1/512 - 1e-4 is
    # just under half a level) but up in cv2's fixed-point uint8 path: at most 1 level apart.
    img_u8 = np.round(smooth_texture(seed=3, sigma=1.0) * 255).astype(np.uint8)
    ref = cv2_dd(img_u8, (0.0, 1.0, 0.5, 0.0)).astype(np.int64)
    got = to_hwc((warp2d(to_tensor(img_u8).float() / 255, 0.0, 1.0, 0.5, 0.0) * 255)
                 .to(torch.uint8)).astype(np.int64)
    assert np.abs(got - ref).max() <= 1
    assert np.all(got <= ref)


def test_identity_adds_bias_and_clamps():
    img = to_tensor(smooth_texture(seed=1))
    np.testing.assert_allclose(warp2d(img, 0, 1, 0, 0), (img + EIGHT_BIT_BIAS).clamp(0, 1),
                               atol=1e-7)
    assert torch.equal(warp2d(img, 0, 1, 0, 0, bias=0.0), img)
    assert float(warp2d(torch.ones(1, 3, 8, 8), 13, 1.2, 0.3, 0.1).max()) == 1.0


@pytest.mark.parametrize("tx,ty", [(W, 0), (0, H), (-W, 2 * H), (3 * W, -H)])
def test_translation_by_image_size_wraps_to_identity(tx, ty):
    img = to_tensor(smooth_texture(seed=2))
    torch.testing.assert_close(warp2d(img, 0, 1, tx, ty, bias=0.0), img, atol=1e-6, rtol=0)


def test_wrap_moves_content_across_the_edge():
    out = warp2d(dot_image(W - 3, 20), 0, 1, 6, 0, bias=0.0)[0, 0]
    assert float(out[20, 3]) == pytest.approx(1.0, abs=1e-6)
    assert float(out[20, W - 3]) < 1e-3


def test_positive_tx_moves_right_and_ty_moves_down():
    img = dot_image(30, 20)
    assert centroid(warp2d(img, 0, 1, 5, 0, bias=0.0)) == pytest.approx((35, 20), abs=1e-3)
    assert centroid(warp2d(img, 0, 1, 0, 4, bias=0.0)) == pytest.approx((30, 24), abs=1e-3)
    assert centroid(warp2d(img, 0, 1, -2.5, 0, bias=0.0)) == pytest.approx((27.5, 20), abs=1e-2)


def test_positive_angle_rotates_counter_clockwise_on_screen():
    cx, cy = W // 2, H // 2
    img = dot_image(cx + 10, cy)  # right of the centre
    x, y = centroid(warp2d(img, 90, 1, 0, 0, bias=0.0))
    assert (x, y) == pytest.approx((cx, cy - 10), abs=1e-3)  # now above the centre
    x, y = centroid(warp2d(img, 30, 1, 0, 0, bias=0.0))
    assert y < cy - 4 and x < cx + 10


def test_zoom_greater_than_one_magnifies():
    cx, cy = W // 2, H // 2
    img = dot_image(cx + 10, cy + 6)
    x, y = centroid(warp2d(img, 0, 2.0, 0, 0, bias=0.0))
    assert (x, y) == pytest.approx((cx + 20, cy + 12), abs=0.05)
    # zoom out tiles the wrapped image, so look at the pixels rather than the centroid
    out = warp2d(img, 0, 0.5, 0, 0, bias=0.0)[0, 0]
    assert float(out[cy + 3, cx + 5]) == pytest.approx(1.0, abs=1e-6)
    assert float(out[cy + 6, cx + 10]) < 0.01


def test_batch_dtype_and_shape():
    a, b = to_tensor(smooth_texture(seed=4)), to_tensor(smooth_texture(seed=5))
    out = warp2d(torch.cat([a, b]), 12.0, 1.05, 2.5, -1.25)
    assert out.shape == (2, 3, H, W) and out.dtype == torch.float32
    torch.testing.assert_close(out[1:], warp2d(b, 12.0, 1.05, 2.5, -1.25), atol=0, rtol=0)
    out64 = warp2d(torch.cat([a, b]).double(), 12.0, 1.05, 2.5, -1.25)
    assert out64.dtype == torch.float64
    torch.testing.assert_close(out64.float(), out, atol=1e-6, rtol=0)


def test_invalid_inputs():
    with pytest.raises(ValueError, match="image"):
        warp2d(torch.zeros(3, 8, 8), 0, 1, 0, 0)
    with pytest.raises(ValueError, match="zoom"):
        warp2d(torch.zeros(1, 3, 8, 8), 0, 0, 0, 0)
