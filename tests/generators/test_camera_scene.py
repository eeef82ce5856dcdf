"""generator=camera: frame N drawn from the reference scene through the composed camera of frames 1..N, so the
texture stays however long the path; the composed poses checked against closed forms, frame 1 against DD's warp."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from render.generators.camera_scene import CameraScene, scene_for
from render.studio.checks import job_settings
from render.studio.plan import run_plan
from transforms.camera2d import warp2d
from transforms.camera_poses import camera_centres, cumulative_affines, cumulative_poses, euler_xyz


def mean_abs_laplacian(image: np.ndarray) -> float:
    """The 4-neighbour Laplacian of the grey image (0..255), its mean absolute value over the interior."""
    grey = image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    lap = grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:] - 4 * grey[1:-1, 1:-1]
    return float(np.abs(lap).mean())


def preset_scene(preset: str, size=(512, 288)) -> CameraScene:
    settings = job_settings([f"animation={preset}", "generator=camera"])
    plan, _ = run_plan(settings, resolve=False)
    return scene_for(settings, plan, size)


def test_frame_59_of_the_3d_zoom_preview_keeps_its_texture():
    scene = preset_scene("3d_zoom")
    assert scene.n_frames >= 60
    first, last = mean_abs_laplacian(scene.frame(0)), mean_abs_laplacian(scene.frame(59))
    assert first > 5.0  # a textured picture to begin with
    assert last >= 0.25 * first, (first, last)
    assert not np.array_equal(scene.frame(0), scene.frame(59))  # and the camera moved


def test_a_2d_path_keeps_its_texture_and_turns():
    scene = preset_scene("2d_spin")
    first, last = mean_abs_laplacian(scene.frame(0)), mean_abs_laplacian(scene.frame(scene.n_frames - 1))
    assert last >= 0.25 * first


def test_composed_2d_zoom_is_the_zoom_to_the_nth_power():
    z, n, (w, h) = 1.05, 30, (64, 48)
    matrices = cumulative_affines({"animation.zoom": [z] * n}, w, h, n)
    cx, cy, s = w // 2, h // 2, z ** (n - 1)
    expected = np.array([[s, 0, (1 - s) * cx], [0, s, (1 - s) * cy], [0, 0, 1]])
    np.testing.assert_allclose(matrices[-1], expected, rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(matrices[0], np.eye(3))


def test_composed_3d_poses_walk_and_turn():
    n = 11
    rotations, translations = cumulative_poses({"animation.translation_z": [10.0] * n}, n)
    centres = camera_centres(rotations, translations)
    np.testing.assert_allclose(centres[:, 2], np.arange(n) * 10.0 / 200.0, atol=1e-12)  # forward along +z
    np.testing.assert_allclose(centres[:, :2], 0.0, atol=1e-12)
    rotations, _ = cumulative_poses({"animation.rotation_3d_y": [3.0] * n}, n)
    a = np.radians(3.0 * (n - 1))  # turns about one axis add up
    np.testing.assert_allclose(rotations[-1], [[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]],
                               atol=1e-12)
    np.testing.assert_allclose(euler_xyz([0, 0, 90]), [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)


def test_frame_1_of_a_2d_path_is_dds_warp_of_frame_0():
    w, h = 96, 64
    schedules = {"animation.zoom": [1.0, 1.1], "animation.angle": [0.0, 4.0], "animation.translation_x": [0.0, 3.0]}
    scene = CameraScene("2d", schedules, 2, (w, h), lines=False)
    frame0 = torch.from_numpy(scene.frame(0)).permute(2, 0, 1)[None].double() / 255
    warped = warp2d(frame0, 4.0, 1.1, 3.0, 0.0, bias=0.0)[0].permute(1, 2, 0).numpy() * 255
    assert np.abs(warped - scene.frame(1).astype(np.float64))[4:-4, 4:-4].mean() < 2.0


def test_frames_outside_the_run_are_refused():
    with pytest.raises(IndexError, match="outside 0..1"):
        CameraScene("2d", {}, 2, (32, 32)).frame(2)
