"""A glTF 2.0 camera animation (Blender's export, or any 3D tool's) as the 3D mode's per-frame camera motion.

The camera node's world pose is sampled at every frame (``t0 + frame/fps``, ``t0`` the animation's first key; after
its last key the pose holds), through its parents, with glTF's interpolations (STEP, LINEAR with quaternion slerp,
CUBICSPLINE). Each frame's motion is the move from the previous frame's pose in that camera's own axes, written in
Disco Diffusion's units and signs (``transforms/camera3d.py``): glTF's camera looks down -Z with +Y up, DD's down +z
with y down, so ``M = diag(1, -1, -1)`` turns one into the other; DD's new camera is ``X = P @ R + T`` with
``R = Rx @ Ry @ Rz`` and ``T = (-tx, ty, -tz) / 200``, so for the relative rotation ``Q`` and the camera's move ``c``
(both in DD's axes) ``R = Q``, ``T = -Q^T c``, and the Euler angles are ``R``'s intrinsic XYZ angles. Translations
are in scene units times ``scale`` (one glTF unit, a metre, is 200 DD units at scale 1). The field of view is the
camera's ``yfov`` (animated through ``KHR_animation_pointer`` when the file has it), in degrees: DD's ``fov``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

TRANSLATION_UNITS = 200.0  # DD's translation_* per scene unit (camera3d.TRANSLATION_SCALE = 1/200)
GL_TO_DD = np.diag([1.0, -1.0, -1.0])
COMPONENTS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}
DTYPES = {5120: np.int8, 5121: np.uint8, 5122: np.int16, 5123: np.uint16, 5125: np.uint32, 5126: np.float32}
YFOV_POINTER = re.compile(r"^/cameras/(\d+)/perspective/yfov$")


class CameraPathError(ValueError):
    """A file that is not a usable glTF camera animation; ``str()`` says why."""


@dataclass(frozen=True)
class CameraMotion:
    """Per frame: ``translation`` (n, 3) as DD's translation_x/y/z, ``rotation`` (n, 3) as rotation_3d_x/y/z in
    degrees (frame 0: no move), ``fov`` (n,) in degrees (None for a camera without a perspective projection)."""

    translation: np.ndarray
    rotation: np.ndarray
    fov: np.ndarray | None
    duration: float  # seconds from the first key to the last


@dataclass(frozen=True)
class CameraPath:
    """A glTF file's animated camera as read: the camera node, its chain of parents and their channels."""

    gltf: Any
    node: int
    chain: tuple[int, ...]  # the camera node, then its parents up to the root
    channels: tuple  # the _Channel of every animated node of the chain (and the camera's yfov)


def load_camera_path(path: Path) -> CameraPath:
    """The camera animation of the glTF file at ``path`` (read once; :func:`camera_motion` samples it)."""
    gltf = _load(Path(path))
    node = _camera_node(gltf)
    parents = {c: i for i, n in enumerate(gltf.nodes) for c in (n.children or [])}
    chain = [node]
    while chain[-1] in parents:
        chain.append(parents[chain[-1]])
    return CameraPath(gltf, node, tuple(chain), tuple(_channels(gltf, set(chain), gltf.nodes[node].camera)))


def read_camera_path(path: Path, n_frames: int, fps: float, scale: float = 1.0) -> CameraMotion:
    """The camera motion of the glTF file at ``path`` over ``n_frames`` frames at ``fps``."""
    return camera_motion(load_camera_path(path), n_frames, fps, scale)


def camera_motion(camera: CameraPath, n_frames: int, fps: float, scale: float = 1.0) -> CameraMotion:
    """``camera``'s motion over ``n_frames`` frames at ``fps`` (a pure function of the file's contents)."""
    gltf, node, chain, channels = camera.gltf, camera.node, list(camera.chain), list(camera.channels)
    starts = [c.times[0] for c in channels]
    t0 = min(starts) if starts else 0.0
    times = t0 + np.arange(n_frames) / fps
    poses = [_world(gltf, chain, channels, t) for t in times]
    rotation, translation = np.zeros((n_frames, 3)), np.zeros((n_frames, 3))
    for f in range(1, n_frames):
        (r0, p0), (r1, p1) = poses[f - 1], poses[f]
        q = GL_TO_DD @ (r0.T @ r1) @ GL_TO_DD
        c = GL_TO_DD @ (r0.T @ (p1 - p0)) * scale
        t = -q.T @ c
        translation[f] = TRANSLATION_UNITS * np.array([-t[0], t[1], -t[2]])
        rotation[f] = Rotation.from_matrix(q).as_euler("XYZ", degrees=True)
    fov = _fov(gltf, gltf.nodes[node].camera, channels, times)
    ends = [c.times[-1] for c in channels]
    return CameraMotion(translation, rotation, fov, (max(ends) - t0) if ends else 0.0)


def _load(path: Path):
    from pygltflib import GLTF2

    if not path.is_file():
        raise CameraPathError(f"{path}: no such file")
    try:
        gltf = GLTF2().load(str(path))
    except Exception as exc:  # noqa: BLE001 - pygltflib reports a malformed file with many exception types
        raise CameraPathError(f"{path} is not a readable glTF 2.0 file ({type(exc).__name__}: {exc})") from None
    if gltf is None or not gltf.nodes:
        raise CameraPathError(f"{path} holds no nodes (is it a glTF 2.0 .gltf/.glb file?)")
    return gltf


def _camera_node(gltf) -> int:
    nodes = [i for i, n in enumerate(gltf.nodes) if n.camera is not None]
    if not nodes:
        raise CameraPathError("the file has no camera: in Blender, select the camera and export with Cameras "
                              "included (README 'Cameras from Blender')")
    animated = {ch.target.node for a in gltf.animations or [] for ch in a.channels}
    return next((i for i in nodes if i in animated), nodes[0])


@dataclass(frozen=True)
class _Channel:
    node: int | None  # None: the camera's yfov (KHR_animation_pointer)
    path: str
    times: np.ndarray
    values: np.ndarray  # (keys, components), or (keys, 3, components) for CUBICSPLINE (in, value, out)
    interpolation: str


def _channels(gltf, nodes: set[int], camera: int) -> list[_Channel]:
    out = []
    for animation in gltf.animations or []:
        for channel in animation.channels:
            target, sampler = channel.target, animation.samplers[channel.sampler]
            node, path = target.node, target.path
            if path == "pointer":
                pointer = ((target.extensions or {}).get("KHR_animation_pointer") or {}).get("pointer", "")
                match = YFOV_POINTER.match(pointer)
                if not match or int(match.group(1)) != camera:
                    continue
                node, path = None, "yfov"
            elif node not in nodes or path not in ("translation", "rotation", "scale"):
                continue
            times = _accessor(gltf, sampler.input)[:, 0]
            values = _accessor(gltf, sampler.output)
            kind = sampler.interpolation or "LINEAR"
            if kind == "CUBICSPLINE":
                values = values.reshape(len(times), 3, -1)
            if len(times) == 0 or len(values) != len(times) or np.any(np.diff(times) < 0):
                raise CameraPathError(f"animation {animation.name or ''!r}: a channel's key times and values do not "
                                      "match (or the times decrease)")
            out.append(_Channel(node, path, times.astype(np.float64), values.astype(np.float64), kind))
    return out


def _accessor(gltf, index: int) -> np.ndarray:
    """An accessor's data as float64 (count, components); normalised integers scaled to [-1, 1] / [0, 1]."""
    accessor = gltf.accessors[index]
    if accessor.sparse is not None or accessor.bufferView is None:
        raise CameraPathError("sparse or empty accessors are not supported; export the animation baked")
    view = gltf.bufferViews[accessor.bufferView]
    buffer = gltf.buffers[view.buffer]
    data = gltf.binary_blob() if buffer.uri is None else gltf.get_data_from_buffer_uri(buffer.uri)
    if data is None:
        raise CameraPathError(f"the buffer {buffer.uri or '(GLB chunk)'} cannot be read")
    dtype, n = np.dtype(DTYPES[accessor.componentType]).newbyteorder("<"), COMPONENTS[accessor.type]
    stride = view.byteStride or dtype.itemsize * n
    start = (view.byteOffset or 0) + (accessor.byteOffset or 0)
    need = start + stride * (accessor.count - 1) + dtype.itemsize * n
    if accessor.count and need > len(data):
        raise CameraPathError("an accessor reaches past the end of its buffer (a truncated file?)")
    raw = np.frombuffer(data, dtype=np.uint8, count=max(need - start, 0), offset=start)
    rows = np.lib.stride_tricks.as_strided(raw, (accessor.count, dtype.itemsize * n), (stride, 1)) if \
        accessor.count else np.zeros((0, dtype.itemsize * n), np.uint8)
    values = np.ascontiguousarray(rows).view(dtype).reshape(accessor.count, n).astype(np.float64)
    if accessor.normalized and dtype.kind in "iu":
        values = np.maximum(values / np.iinfo(dtype).max, -1.0)
    return values


def _sample(channel: _Channel, t: float) -> np.ndarray:
    times, values = channel.times, channel.values
    near = np.flatnonzero(np.abs(times - t) <= 2.0 * np.spacing(np.float32(abs(t))))
    if len(near):  # a key on this frame, stored as a float32 time (Blender writes frame/fps in float32)
        t = times[near[-1]]
    cubic = channel.interpolation == "CUBICSPLINE"
    keys = values[:, 1] if cubic else values
    if t <= times[0] or len(times) == 1:
        return keys[0]
    if t >= times[-1]:
        return keys[-1]
    k = int(np.searchsorted(times, t, side="right") - 1)
    span = times[k + 1] - times[k]
    s = (t - times[k]) / span
    if channel.interpolation == "STEP":
        return keys[k]
    if cubic:
        s2, s3 = s * s, s * s * s
        out = ((2 * s3 - 3 * s2 + 1) * keys[k] + (s3 - 2 * s2 + s) * span * values[k, 2]
               + (-2 * s3 + 3 * s2) * keys[k + 1] + (s3 - s2) * span * values[k + 1, 0])
        return out / np.linalg.norm(out) if channel.path == "rotation" else out
    if channel.path == "rotation":
        return Slerp([0.0, 1.0], Rotation.from_quat(keys[k:k + 2]))([s]).as_quat()[0]
    return keys[k] * (1 - s) + keys[k + 1] * s


def _local(node, animated: dict[str, np.ndarray]) -> np.ndarray:
    if node.matrix is not None and not animated:
        return np.asarray(node.matrix, dtype=np.float64).reshape(4, 4).T  # glTF matrices are column-major
    translation = animated.get("translation", node.translation or [0.0, 0.0, 0.0])
    rotation = animated.get("rotation", node.rotation or [0.0, 0.0, 0.0, 1.0])
    scale = animated.get("scale", node.scale or [1.0, 1.0, 1.0])
    out = np.eye(4)
    out[:3, :3] = Rotation.from_quat(rotation).as_matrix() * np.asarray(scale, dtype=np.float64)
    out[:3, 3] = translation
    return out


def _world(gltf, chain: list[int], channels: list[_Channel], t: float) -> tuple[np.ndarray, np.ndarray]:
    """The camera's world rotation (orthonormal, glTF axes) and position at time ``t``."""
    world = np.eye(4)
    for node in reversed(chain):  # root first
        animated = {c.path: _sample(c, t) for c in channels if c.node == node}
        world = world @ _local(gltf.nodes[node], animated)
    u, _, vt = np.linalg.svd(world[:3, :3])  # the rotation of a (possibly scaled) camera frame
    return u @ vt, world[:3, 3].copy()


def _fov(gltf, camera: int, channels: list[_Channel], times: np.ndarray) -> np.ndarray | None:
    perspective = gltf.cameras[camera].perspective
    if perspective is None:
        return None
    pointer = next((c for c in channels if c.path == "yfov"), None)
    yfov = [float(_sample(pointer, t)[0]) for t in times] if pointer else [perspective.yfov] * len(times)
    return np.degrees(np.asarray(yfov, dtype=np.float64))
