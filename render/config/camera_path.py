"""``animation.camera_path``: a glTF camera animation turned into the plan's per-frame 3D camera schedules.

``camera_path_mode=replace`` puts the camera's motion in place of translation_x/y/z and rotation_3d_x/y/z;
``add`` adds it to them (a shake or a drift written as schedules on top of the path). The field of view is the
camera's in both modes. The draft plan checks the settings and that the file exists; the file is read once when the
assets are resolved (:func:`load_camera`) and the final plan samples it (:func:`with_camera_path`). Problems are
config issues naming the setting.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from render.config.issues import ConfigIssue
from render.config.schema import Config
from transforms.camera_path import (
    CameraPath,
    CameraPathError,
    camera_motion,
    load_camera_path,
)

AXES = {"translation_x": (0, 0), "translation_y": (0, 1), "translation_z": (0, 2),
        "rotation_3d_x": (1, 0), "rotation_3d_y": (1, 1), "rotation_3d_z": (1, 2)}
FIX = "export the camera from Blender as glTF 2.0 with its animation (README 'Cameras from Blender')"


def check_camera_path(cfg: Config, issues: list[ConfigIssue]) -> bool:
    """The settings of ``animation.camera_path`` (a 3D run, a positive scale, a file); True when there is one to
    read."""
    anim = cfg.animation
    if not anim.camera_path:
        return False
    if anim.mode.value != "3d":
        issues.append(ConfigIssue("animation.camera_path", anim.camera_path, f"moves the 3D camera, and the mode is "
                                  f"{anim.mode.value}", "use animation.mode=3d, or animation.camera_path=null"))
        return False
    if not (math.isfinite(anim.camera_path_scale) and anim.camera_path_scale > 0):
        issues.append(ConfigIssue("animation.camera_path_scale", anim.camera_path_scale, "must be a positive number",
                                  "1.0 maps one glTF unit (a metre) to one scene unit"))
        return False
    if not Path(os.path.expanduser(anim.camera_path)).is_file():
        issues.append(ConfigIssue("animation.camera_path", anim.camera_path, "no such file", FIX))
        return False
    return True


def load_camera(cfg: Config, issues: list[ConfigIssue]) -> CameraPath | None:
    """The camera animation of ``animation.camera_path``, read once (None without one, or when it cannot be read)."""
    if not check_camera_path(cfg, []):
        return None
    try:
        return load_camera_path(Path(os.path.expanduser(cfg.animation.camera_path)))
    except CameraPathError as exc:
        issues.append(ConfigIssue("animation.camera_path", cfg.animation.camera_path, str(exc), FIX))
        return None


def with_camera_path(cfg: Config, schedules: dict[str, np.ndarray], camera: CameraPath | None, n_frames: int,
                     fps: float) -> dict[str, np.ndarray]:
    """``schedules`` with the camera's motion and fov in them (unchanged without a camera path)."""
    if camera is None:
        return schedules
    anim = cfg.animation
    motion = camera_motion(camera, n_frames, fps if fps > 0 else 12.0, anim.camera_path_scale)
    out = dict(schedules)
    add = anim.camera_path_mode.value == "add"
    for name, (part, axis) in AXES.items():
        values = (motion.translation if part == 0 else motion.rotation)[:, axis]
        key = f"animation.{name}"
        out[key] = out[key] + values if add else values.copy()
    if motion.fov is not None:
        out["animation.fov"] = motion.fov
    return out
