"""``animation.camera_path``: a glTF camera animation turned into the plan's per-frame 3D camera schedules.

``camera_path_mode=replace`` puts the camera's motion in place of translation_x/y/z and rotation_3d_x/y/z;
``add`` adds it to them (a shake or a drift written as schedules on top of the path). The field of view is the
camera's in both modes. The file is read once, while planning; problems are config issues naming the setting.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from render.config.issues import ConfigIssue
from render.config.schema import Config
from transforms.camera_path import CameraPathError, read_camera_path

AXES = {"translation_x": (0, 0), "translation_y": (0, 1), "translation_z": (0, 2),
        "rotation_3d_x": (1, 0), "rotation_3d_y": (1, 1), "rotation_3d_z": (1, 2)}
FIX = "export the camera from Blender as glTF 2.0 with its animation (README 'Cameras from Blender')"


def with_camera_path(cfg: Config, schedules: dict[str, np.ndarray], n_frames: int, fps: float,
                     issues: list[ConfigIssue]) -> dict[str, np.ndarray]:
    """``schedules`` with the camera path's motion and fov in them (unchanged without ``animation.camera_path``)."""
    anim = cfg.animation
    if not anim.camera_path:
        return schedules
    if anim.mode.value != "3d":
        issues.append(ConfigIssue("animation.camera_path", anim.camera_path, f"moves the 3D camera, and the mode is "
                                  f"{anim.mode.value}", "use animation.mode=3d, or animation.camera_path=null"))
        return schedules
    if not (math.isfinite(anim.camera_path_scale) and anim.camera_path_scale > 0):
        issues.append(ConfigIssue("animation.camera_path_scale", anim.camera_path_scale, "must be a positive number",
                                  "1.0 maps one glTF unit (a metre) to one scene unit"))
        return schedules
    try:
        motion = read_camera_path(Path(os.path.expanduser(anim.camera_path)), n_frames, fps if fps > 0 else 12.0,
                                  anim.camera_path_scale)
    except CameraPathError as exc:
        issues.append(ConfigIssue("animation.camera_path", anim.camera_path, str(exc), FIX))
        return schedules
    out = dict(schedules)
    add = anim.camera_path_mode.value == "add"
    for name, (part, axis) in AXES.items():
        values = (motion.translation if part == 0 else motion.rotation)[:, axis]
        key = f"animation.{name}"
        out[key] = out[key] + values if add else values.copy()
    if motion.fov is not None:
        out["animation.fov"] = motion.fov
    return out
