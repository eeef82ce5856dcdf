"""glTF camera animations as the 3D mode's per-frame motion: known paths give the expected deltas, the deltas move
points as the glTF camera does (through DD's own camera maths), and a 3D preview run renders with a path."""
from __future__ import annotations

import numpy as np
import pygltflib as gl
import pytest
import torch
from conftest import TINY
from scipy.spatial.transform import Rotation

from render.app import render_animation
from render.config.issues import ConfigErrors
from render.config.planner import plan_and_resolve
from render.config.settings import to_settings
from transforms.camera3d import ndc_offsets
from transforms.camera_path import CameraPathError, read_camera_path

FPS, N = 12.0, 10


def write_camera(path, times, translations=None, rotations=None, yfov=None, *, interpolation="LINEAR",
                 parent=None, parent_translations=None):
    """A glTF with one perspective camera node, its animation (translation, rotation as quaternions, yfov through
    KHR_animation_pointer), optionally under an animated parent; .glb, or .gltf with its buffer in a .bin beside it."""
    arrays, samplers, channels = [np.asarray(times, np.float32)], [], []

    def channel(values, node, path_name, pointer=None):
        arrays.append(np.asarray(values, np.float32))
        samplers.append(gl.AnimationSampler(input=0, output=len(arrays) - 1, interpolation=interpolation))
        target = (gl.AnimationChannelTarget(path="pointer", extensions={"KHR_animation_pointer": {"pointer": pointer}})
                  if pointer else gl.AnimationChannelTarget(node=node, path=path_name))
        channels.append(gl.AnimationChannel(sampler=len(samplers) - 1, target=target))

    camera = 0 if parent is None else 1
    if translations is not None:
        channel(translations, camera, "translation")
    if rotations is not None:
        channel(rotations, camera, "rotation")
    if yfov is not None:
        channel(yfov, None, None, "/cameras/0/perspective/yfov")
    if parent_translations is not None:
        channel(parent_translations, 0, "translation")
    blob, views, accessors = b"", [], []
    for a in arrays:
        views.append(gl.BufferView(buffer=0, byteOffset=len(blob), byteLength=a.nbytes))
        kind = {1: "SCALAR", 3: "VEC3", 4: "VEC4"}[1 if a.ndim == 1 else a.shape[1]]
        accessors.append(gl.Accessor(bufferView=len(views) - 1, componentType=gl.FLOAT, count=len(a), type=kind))
        blob += a.tobytes()
    nodes = [gl.Node(camera=0, name="Camera")] if parent is None else [gl.Node(children=[1], **parent),
                                                                       gl.Node(camera=0, name="Camera")]
    doc = gl.GLTF2(scenes=[gl.Scene(nodes=[0])], nodes=nodes, buffers=[gl.Buffer(byteLength=len(blob))],
                   cameras=[gl.Camera(type="perspective", perspective=gl.Perspective(yfov=0.7, znear=0.1))],
                   bufferViews=views, accessors=accessors, extensionsUsed=["KHR_animation_pointer"],
                   animations=[gl.Animation(name="CameraAction", samplers=samplers, channels=channels)])
    if str(path).endswith(".glb"):
        doc.set_binary_blob(blob)
        doc.save_binary(str(path))
    else:
        path.with_suffix(".bin").write_bytes(blob)
        doc.buffers[0].uri = path.with_suffix(".bin").name
        doc.save_json(str(path))
    return path


def yaw_quaternions(degrees):
    return Rotation.from_euler("y", np.asarray(degrees)[:, None], degrees=True).as_quat()


def test_dolly_pan_and_fov_ramp_give_the_expected_deltas(tmp_path):
    f = np.arange(N)
    path = write_camera(tmp_path / "cam.glb", f / FPS, translations=np.c_[0 * f, 0 * f, -1.0 * f],
                        rotations=yaw_quaternions(2.0 * f), yfov=np.radians(40 + 20 * f / (N - 1)))
    motion = read_camera_path(path, N, FPS, scale=0.5)
    # One unit forward per frame along world -Z while the camera turns 2 degrees left per frame: seen from the
    # previous frame's camera the move has turned 2f degrees to the right, and DD's units are 200 per scene unit.
    angle = np.radians(2.0 * f[1:])
    np.testing.assert_allclose(motion.translation[1:], 0.5 * 200 * np.c_[np.sin(angle), 0 * angle, np.cos(angle)],
                               atol=1e-3)
    np.testing.assert_allclose(motion.rotation[1:], np.tile([0.0, -2.0, 0.0], (N - 1, 1)), atol=1e-4)  # left: -y
    assert not motion.translation[0].any() and not motion.rotation[0].any()
    np.testing.assert_allclose(motion.fov, 40 + 20 * f / (N - 1), atol=1e-4)
    assert motion.duration == pytest.approx((N - 1) / FPS)


def test_the_deltas_move_points_as_the_gltf_camera_does(tmp_path):
    rng = np.random.default_rng(3)
    start, end = Rotation.from_euler("xyz", [4, -7, 11], degrees=True), Rotation.from_euler("xyz", [-3, 5, 2],
                                                                                             degrees=True)
    positions = np.array([[0.3, -0.2, 1.0], [0.32, -0.17, 0.96]])
    path = write_camera(tmp_path / "cam.gltf", [0.0, 1 / FPS], translations=positions,
                        rotations=np.r_[start.as_quat()[None], end.as_quat()[None]])
    motion = read_camera_path(path, 2, FPS)
    flip = np.diag([1.0, -1.0, -1.0])  # DD's camera axes (x right, y down, looking down +z) in glTF's
    points = np.c_[rng.uniform(-1, 1, (50, 2)), rng.uniform(1, 3, 50)]  # DD's world: old-camera coordinates
    world = (start.as_matrix() @ flip @ points.T).T + positions[0]
    seen = (flip @ end.as_matrix().T @ (world - positions[1]).T).T  # the same points from the new camera
    scale = 1 / np.tan(np.radians(40) / 2)
    expected = scale * (seen[:, :2] / seen[:, 2:] - points[:, :2] / points[:, 2:])
    actual = ndc_offsets(torch.from_numpy(points), motion.translation[1], motion.rotation[1], fov=40.0)
    np.testing.assert_allclose(actual.numpy(), expected, atol=1e-6)


def test_parents_step_keys_and_holding_after_the_last_key(tmp_path):
    times = np.array([0.0, 2 / FPS])
    path = write_camera(tmp_path / "rig.glb", times, parent={"rotation": list(yaw_quaternions([90.0])[0])},
                        parent_translations=[[0, 0, 0], [0, 0, -2.0]], interpolation="STEP")
    motion = read_camera_path(path, 5, FPS)
    # the rig, turned 90 degrees left, carries the camera: it looks along world -X, so the rig's move along world -Z
    # is a move to the camera's right; STEP jumps at the second key (frame 2), and after the last key all holds still
    np.testing.assert_allclose(motion.translation[:, 0], [0, 0, 400, 0, 0], atol=1e-3)
    np.testing.assert_allclose(motion.translation[:, 1:], 0, atol=1e-3)
    np.testing.assert_allclose(motion.fov, np.degrees(0.7), atol=1e-5)


def test_files_that_are_no_camera_path_are_named_errors(tmp_path, compose_config):
    (tmp_path / "bad.glb").write_bytes(b"not a gltf at all")
    with pytest.raises(CameraPathError, match="not a readable glTF"):
        read_camera_path(tmp_path / "bad.glb", 3, FPS)
    doc = gl.GLTF2(scenes=[gl.Scene(nodes=[0])], nodes=[gl.Node(name="cube")])
    doc.save_json(str(tmp_path / "nocam.gltf"))
    with pytest.raises(CameraPathError, match="no camera"):
        read_camera_path(tmp_path / "nocam.gltf", 3, FPS)
    with pytest.raises(ConfigErrors) as err:
        plan_and_resolve(to_settings(compose_config("animation=3d_zoom", *TINY,
                                                f"animation.camera_path={tmp_path}/no.glb")))
    assert "animation.camera_path" in str(err.value) and "no such file" in str(err.value)
    with pytest.raises(ConfigErrors, match="moves the 3D camera"):
        plan_and_resolve(to_settings(compose_config("animation=2d_zoom", *TINY,
                                                f"animation.camera_path={tmp_path}/nocam.gltf")))


def test_a_3d_preview_renders_along_the_path(tmp_path, compose_config):
    f = np.arange(6)
    path = write_camera(tmp_path / "cam.glb", f / FPS, translations=np.c_[0 * f, 0 * f, -0.02 * f],
                        rotations=yaw_quaternions(1.0 * f), yfov=np.radians(40 + 2.0 * f))
    overrides = ("animation=3d_zoom", *TINY, "depth=flat", f"animation.camera_path={path}", "output=png",
                 "animation.camera_path_mode=add", 'animation.translation_x="0: (0), 5: (10)"')
    result = render_animation(compose_config(*overrides), tmp_path / "run", progress=False)
    assert len(result.frames) == 6 and len(list((tmp_path / "run" / "frames").glob("*.png"))) == 6
    plan = plan_and_resolve(to_settings(compose_config(*overrides)))
    motion = read_camera_path(path, 6, FPS)
    np.testing.assert_allclose(plan.schedules["animation.translation_x"], motion.translation[:, 0] + 2.0 * f)
    np.testing.assert_allclose(plan.schedules["animation.translation_z"], motion.translation[:, 2] + 10)  # 3d_zoom's
    np.testing.assert_allclose(plan.schedules["animation.rotation_3d_y"], [0, -1, -1, -1, -1, -1], atol=1e-5)
    np.testing.assert_allclose(plan.schedules["animation.fov"], 40 + 2.0 * f, atol=1e-4)
    replaced = plan_and_resolve(to_settings(compose_config(*overrides[:-2], "animation.camera_path_scale=2")))
    np.testing.assert_allclose(replaced.schedules["animation.translation_z"], 2 * motion.translation[:, 2])
    np.testing.assert_allclose(replaced.schedules["animation.translation_x"], 2 * motion.translation[:, 0])
