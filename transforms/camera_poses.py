"""A run's camera as poses over its frames (NumPy only): frame N's camera is the composition of the per-frame steps
of frames 1..N, in Disco Diffusion's conventions (2D: the affine of ``transforms/camera2d.py``; 3D: the rotation
order, axis signs and 1/200 translation unit of ``transforms/camera3d.py``). Frame 0 is the identity."""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np

TRANSLATION_SCALE = 1 / 200  # 3D translations: 200 per scene unit


def dd_affine_matrix(width: int, height: int, angle: float, zoom: float,
                     translation_x: float, translation_y: float) -> np.ndarray:
    """DD's forward 3x3 matrix ``R @ T`` (float64), source -> destination pixels.

    ``R`` uses the same formula as ``cv2.getRotationMatrix2D((width//2, height//2), angle, zoom)``.
    """
    cx, cy = float(width // 2), float(height // 2)
    a = math.radians(angle)
    alpha, beta = zoom * math.cos(a), zoom * math.sin(a)
    rot = np.array([[alpha, beta, (1.0 - alpha) * cx - beta * cy],
                    [-beta, alpha, beta * cx + (1.0 - alpha) * cy],
                    [0.0, 0.0, 1.0]], dtype=np.float64)
    trans = np.array([[1.0, 0.0, translation_x],
                      [0.0, 1.0, translation_y],
                      [0.0, 0.0, 1.0]], dtype=np.float64)
    return rot @ trans


def euler_xyz(rotation_deg: Sequence[float]) -> np.ndarray:
    """``Rx @ Ry @ Rz`` (float64) for angles in degrees, as pytorch3d's ``euler_angles_to_matrix(.., "XYZ")``."""
    rx, ry, rz = (math.radians(float(a)) for a in rotation_deg)
    cx, sx, cy, sy, cz, sz = math.cos(rx), math.sin(rx), math.cos(ry), math.sin(ry), math.cos(rz), math.sin(rz)
    mx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]], dtype=np.float64)
    my = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]], dtype=np.float64)
    mz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]], dtype=np.float64)
    return mx @ my @ mz


def step_translation(translation: Sequence[float]) -> np.ndarray:
    """DD's camera translation ``T = (-tx/200, +ty/200, -tz/200)`` of one frame's step."""
    tx, ty, tz = (float(t) for t in translation)
    return np.array([-tx, ty, -tz], dtype=np.float64) * TRANSLATION_SCALE


def _series(schedules: Mapping[str, Sequence[float]], name: str, n_frames: int, default: float) -> np.ndarray:
    values = schedules.get(name)
    return np.full(n_frames, default) if values is None else np.asarray(values, dtype=np.float64)[:n_frames]


def cumulative_affines(schedules: Mapping[str, Sequence[float]], width: int, height: int,
                       n_frames: int) -> np.ndarray:
    """``(n_frames, 3, 3)``: frame N's matrix maps frame 0's pixels to frame N's (``M_N = A_N @ M_{N-1}``)."""
    angle = _series(schedules, "animation.angle", n_frames, 0.0)
    zoom = _series(schedules, "animation.zoom", n_frames, 1.0)
    tx = _series(schedules, "animation.translation_x", n_frames, 0.0)
    ty = _series(schedules, "animation.translation_y", n_frames, 0.0)
    out = np.empty((n_frames, 3, 3))
    out[0] = np.eye(3)
    for f in range(1, n_frames):
        out[f] = dd_affine_matrix(width, height, angle[f], zoom[f], tx[f], ty[f]) @ out[f - 1]
    return out


def cumulative_poses(schedules: Mapping[str, Sequence[float]], n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """``(R, T)`` of shapes ``(n_frames, 3, 3)`` and ``(n_frames, 3)``: a point ``P`` of frame 0's camera is
    ``P @ R[N] + T[N]`` in frame N's (row vectors, as camera3d), composed step by step:
    ``R_N = R_{N-1} @ r_N``, ``T_N = T_{N-1} @ r_N + t_N``."""
    moves = [_series(schedules, f"animation.translation_{a}", n_frames, 0.0) for a in "xyz"]
    turns = [_series(schedules, f"animation.rotation_3d_{a}", n_frames, 0.0) for a in "xyz"]
    rotations, translations = np.empty((n_frames, 3, 3)), np.empty((n_frames, 3))
    rotations[0], translations[0] = np.eye(3), 0.0
    for f in range(1, n_frames):
        r = euler_xyz([a[f] for a in turns])
        rotations[f] = rotations[f - 1] @ r
        translations[f] = translations[f - 1] @ r + step_translation([m[f] for m in moves])
    return rotations, translations


def camera_centres(rotations: np.ndarray, translations: np.ndarray) -> np.ndarray:
    """Where each frame's camera stands in frame 0's coordinates: ``-T @ R^T`` (R is orthonormal)."""
    return -np.einsum("fj,fij->fi", translations, rotations)


__all__ = ["TRANSLATION_SCALE", "camera_centres", "cumulative_affines", "cumulative_poses", "dd_affine_matrix",
           "euler_xyz", "step_translation"]
