"""The camera preview's reference scene, drawn with NumPy alone (no torch: the studio renders it in its own process).

Frame N is drawn from the scene through the run's cumulative camera (``transforms/camera_poses.py``), never from
frame N-1, so nothing blurs out however long the path:

- **2D**: frame 0's picture, tiled as DD's wrapping warp tiles it, seen through the composed affine of frames 1..N.
- **3D**: a room around the whole camera path. Frame 0's picture hangs on the far wall where it fills frame 0's view
  exactly, ``1/tan(fov/2)`` scene units away (2.75 at fov 40; 200 translation units make a unit): there the picture
  is the point cloud DD's warp makes of a flat frame 0, so frame 1 is DD's warp of frame 0 at that depth. When the
  camera goes farther, the wall stands half a unit beyond its farthest point; the side walls, floor, ceiling and the
  wall behind the camera, each in its own tint, stand half a unit beyond the path. The projection is DD's (aspect 1:
  ``fov`` across both the width and the height; the schedule's fov at each frame).

The picture is ``init_image`` when one is set, else a test card (a colour field with rings and an arrow pointing up).
Every surface carries graph-paper lines at spacings 4x apart, each scale fading in as its cells grow past a few
pixels on screen: a close look shows finer lines, a far one coarser, so the texture stays readable at any distance.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Sequence

import cv2
import numpy as np

from render.disk.images import load_image
from transforms.camera_poses import camera_centres, cumulative_affines, cumulative_poses

if TYPE_CHECKING:
    from render.config.plan import RenderPlan
    from render.config.schema import Config

LEVEL_RATIO = 4.0  # graph-paper scales: each 4x finer than the last
MAX_LEVELS = 6  # scales drawn at once (the finest that are visible)
LINE_STRENGTH = 0.6  # how much a line replaces the surface colour
ROOM_MARGIN = 0.5  # scene units between the camera path and any wall
FACE_TINTS = np.array([  # (axis, side): x- (left), x+ (right), y- (ceiling), y+ (floor), z- (behind), z+ (far)
    [0.24, 0.40, 0.26], [0.44, 0.24, 0.24], [0.22, 0.30, 0.46], [0.46, 0.34, 0.18], [0.20, 0.20, 0.22],
    [0.32, 0.32, 0.32]], dtype=np.float32)


def test_card(height: int, width: int) -> np.ndarray:
    """The reference picture without an ``init_image``: ``(H, W, 3)`` float32 in [0, 1], a colour field (red grows
    to the right, green downwards) with rings about the centre and an arrow pointing up, so zoom, turn and direction
    are plain to see."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = (x + 0.5) / width, (y + 0.5) / height
    card = np.stack([0.15 + 0.7 * u, 0.15 + 0.7 * v, 0.55 - 0.3 * u * v], axis=-1)
    radius = np.hypot((u - 0.5) * width, (v - 0.5) * height) / min(height, width)
    rings = np.abs(((radius * 8.0) % 1.0) - 0.5) < 0.08
    card[rings] = card[rings] * 0.35 + 0.65
    ax, ay = (u - 0.5) * width / min(height, width), (v - 0.5) * height / min(height, width)
    arrow = ((ay > -0.36) & (ay < -0.16) & (np.abs(ax) < (ay + 0.36) * 0.9)) | \
            ((ay >= -0.16) & (ay < 0.12) & (np.abs(ax) < 0.06))
    card[arrow] = (0.95, 0.92, 0.35)
    return np.clip(card, 0.0, 1.0)


def graph_paper(c1: np.ndarray, c2: np.ndarray, footprint: np.ndarray | float, spacing: float) -> np.ndarray:
    """Line coverage in [0, 1] of graph paper in surface coordinates ``c1``, ``c2`` (any unit), whose coarsest
    scale has cells ``spacing`` units wide; ``footprint`` is one screen pixel's size in those units. Lines are about
    1.5 pixels wide whatever the scale; a scale fades in as its cells grow from 4 to 16 pixels."""
    fp = np.maximum(np.asarray(footprint, dtype=np.float32), np.float32(1e-30))
    finest = math.log(spacing / (4.0 * float(np.min(fp))), LEVEL_RATIO)
    span = max(float(np.ptp(c1)), float(np.ptp(c2)), 1e-30)
    coarsest = math.floor(math.log(spacing / span, LEVEL_RATIO)) if span > 0 else 0
    levels = range(max(coarsest, math.floor(finest) - MAX_LEVELS + 1), math.floor(finest) + 1)
    coverage = np.zeros(np.broadcast(c1, c2).shape, dtype=np.float32)
    inv_fp = 1.0 / fp
    for k in levels:
        step = spacing * LEVEL_RATIO ** -k
        fade = np.clip(np.log2(step * inv_fp) * 0.5 - 1.0, 0.0, 1.0)
        q1, q2 = c1 * (1.0 / step), c2 * (1.0 / step)
        d1, d2 = np.abs(q1 - np.round(q1)).astype(np.float32), np.abs(q2 - np.round(q2)).astype(np.float32)
        line = np.clip(1.25 - np.minimum(d1, d2) * (step * inv_fp), 0.0, 1.0) * fade
        np.maximum(coverage, line, out=coverage)
    return coverage


def with_lines(base: np.ndarray, coverage: np.ndarray) -> np.ndarray:
    """Lines drawn over ``base`` (H, W, 3): light on dark surfaces, dark on light ones."""
    luma = base @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    ink = (luma < 0.5).astype(np.float32)[..., None]
    alpha = (coverage * LINE_STRENGTH)[..., None]
    return base * (1.0 - alpha) + ink * alpha


def to_u8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def pixel_centres(n: int) -> np.ndarray:
    """Normalised coordinates in [-1, 1] of ``n`` pixel centres (``grid_sample``'s ``align_corners=False``)."""
    return ((2.0 * np.arange(n) + 1.0) / n - 1.0).astype(np.float64)


@dataclass(frozen=True)
class Room:
    """The 3D scene: a box ``lo``..``hi`` (scene units, frame 0's camera at the origin looking along +z, y down)
    whose far wall ``z = hi[2]`` holds the picture in ``|x|, |y| <= half``."""

    lo: np.ndarray
    hi: np.ndarray
    half: float


def room_around(centres: np.ndarray, fov0: float) -> Room:
    """The room that holds every camera position with :data:`ROOM_MARGIN` to spare, the picture filling frame 0's
    view on its far wall: at ``1/tan(fov/2)`` units, where it is DD's own point cloud of a flat frame 0 (x and y from
    -1 to 1), or farther when the camera goes beyond."""
    focal = 1.0 / math.tan(math.radians(fov0) / 2.0)
    wall = max(focal, float(centres[:, 2].max()) + ROOM_MARGIN)
    half = wall / focal
    lo = np.minimum(centres.min(axis=0) - ROOM_MARGIN, [-half, -half, -ROOM_MARGIN])
    hi = np.maximum(centres.max(axis=0) + ROOM_MARGIN, [half, half, wall])
    hi[2] = wall
    return Room(lo, hi, half)


class CameraScene:
    """Frames of a run's camera path over the reference scene: ``frame(n)`` is ``(h, w, 3)`` uint8.

    ``schedules`` are the plan's per-frame values (``animation.zoom``, ...), ``size`` the run's ``(width, height)``
    (2D translations are in its pixels), ``out_size`` the preview's, ``picture`` frame 0's (any size, float32 in
    [0, 1]; None: the test card)."""

    def __init__(self, mode: str, schedules: Mapping[str, Sequence[float]], n_frames: int, size: tuple[int, int],
                 out_size: tuple[int, int] | None = None, picture: np.ndarray | None = None, *, lines: bool = True):
        self.mode, self.n_frames, self.lines = mode, int(n_frames), lines
        self.size = (int(size[0]), int(size[1]))
        self.out_size = (int(out_size[0]), int(out_size[1])) if out_size else self.size
        w, h = self.out_size
        self.picture = np.ascontiguousarray(picture if picture is not None else test_card(h, w), dtype=np.float32)
        self.fov = np.asarray(schedules.get("animation.fov", [40.0] * self.n_frames), dtype=np.float64)
        if mode == "3d":
            self.rotations, self.translations = cumulative_poses(schedules, self.n_frames)
            self.room = room_around(camera_centres(self.rotations, self.translations), float(self.fov[0]))
        elif mode == "2d":
            self.affines = cumulative_affines(schedules, *self.size, self.n_frames)
        else:
            self.affines = np.repeat(np.eye(3)[None], self.n_frames, axis=0)

    def frame(self, n: int) -> np.ndarray:
        if not 0 <= n < self.n_frames:
            raise IndexError(f"frame {n} is outside 0..{self.n_frames - 1}")
        return to_u8(self._frame3d(n) if self.mode == "3d" else self._frame2d(n))

    def _frame2d(self, n: int) -> np.ndarray:
        """Each preview pixel traced back through the composed affine to frame 0's pixels (the run's size)."""
        (w, h), (width, height) = self.out_size, self.size
        ph, pw = self.picture.shape[:2]
        back = np.linalg.inv(self.affines[n]) @ pixel_scale((w, h), (width, height))  # preview -> run pixels
        base = cv2.warpAffine(self.picture, (pixel_scale((width, height), (pw, ph)) @ back)[:2], (w, h),
                              flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_WRAP)
        x, y = np.arange(w, dtype=np.float64)[None], np.arange(h, dtype=np.float64)[:, None]
        sx = back[0, 0] * x + back[0, 1] * y + back[0, 2]
        sy = back[1, 0] * x + back[1, 1] * y + back[1, 2]
        footprint = math.sqrt(abs(np.linalg.det(back[:2, :2])))
        if not self.lines:
            return base
        return with_lines(base, graph_paper(sx, sy, footprint, min(width, height) / 2.0))

    def _frame3d(self, n: int) -> np.ndarray:
        """Each preview pixel's ray from frame N's camera to the wall of the room it meets, coloured there (float32
        planes: this is the preview's hot loop)."""
        w, h = self.out_size
        room, rotation = self.room, self.rotations[n].astype(np.float32)
        scale = 1.0 / math.tan(math.radians(float(self.fov[n])) / 2.0)
        gx, gy = (pixel_centres(w)[None] / scale).astype(np.float32), (pixel_centres(h)[:, None] / scale).astype(
            np.float32)
        rays = [rotation[i, 0] * gx + (rotation[i, 1] * gy + rotation[i, 2]) for i in range(3)]  # R @ camera ray
        centre = (-self.translations[n] @ self.rotations[n].T).astype(np.float32)
        near, far = (room.lo - centre).astype(np.float32), (room.hi - centre).astype(np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            reach = [np.abs(np.where(r > 0, far[i], near[i]) / r) for i, r in enumerate(rays)]  # 0 -> inf
        first = np.minimum(reach[0], reach[1])
        axis = np.where(first < reach[2], (reach[1] <= reach[0]).astype(np.int8), np.int8(2))
        t = np.minimum(first, reach[2])
        hit = [centre[i] + t * rays[i] for i in range(3)]
        along = np.choose(axis, rays)
        face = axis * 2 + (along > 0)
        base = FACE_TINTS[face]
        on_picture = (face == 5) & (np.abs(hit[0]) <= room.half) & (np.abs(hit[1]) <= room.half)
        if on_picture.any():
            base = np.where(on_picture[..., None], self._wall_picture(n, scale), base)
        if not self.lines:
            return base
        length = np.sqrt(rays[0] * rays[0] + rays[1] * rays[1] + rays[2] * rays[2])
        footprint = t * length / np.abs(along) * np.float32(2.0 / (scale * min(w, h)))
        c1 = np.where(axis == 0, hit[1], hit[0])
        c2 = np.where(axis == 2, hit[1], hit[2])
        return with_lines(base, graph_paper(c1, c2, footprint, room.half))

    def _wall_picture(self, n: int, scale: float) -> np.ndarray:
        """The picture as frame N sees it on the far wall: the homography from preview pixels to picture pixels."""
        (w, h), room = self.out_size, self.room
        ph, pw = self.picture.shape[:2]
        rotation, centre = self.rotations[n], -self.translations[n] @ self.rotations[n].T
        to_ray = np.array([[2.0 / (w * scale), 0, (1.0 / w - 1.0) / scale],
                           [0, 2.0 / (h * scale), (1.0 / h - 1.0) / scale], [0, 0, 1.0]])  # pixel -> (x/z, y/z, 1)
        rays = rotation @ to_ray  # pixel -> world ray
        depth = room.hi[2] - centre[2]
        wall = np.array([depth * rays[0] + centre[0] * rays[2], depth * rays[1] + centre[1] * rays[2], rays[2]])
        to_picture = np.array([[pw / (2 * room.half), 0, (pw - 1) / 2], [0, ph / (2 * room.half), (ph - 1) / 2],
                               [0, 0, 1.0]])
        return cv2.warpPerspective(self.picture, to_picture @ wall, (w, h),
                                   flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)


def pixel_scale(source: tuple[int, int], target: tuple[int, int]) -> np.ndarray:
    """The affine from pixel coordinates of an image of size ``source`` to one of size ``target`` (pixel centres at
    integers, the images' edges matched)."""
    (sw, sh), (tw, th) = source, target
    return np.array([[tw / sw, 0, 0.5 * tw / sw - 0.5], [0, th / sh, 0.5 * th / sh - 0.5], [0, 0, 1.0]])


def reference_picture(settings: "Config", plan: "RenderPlan") -> np.ndarray | None:
    """Frame 0's picture at the run's size (float32 in [0, 1]): ``init_image`` when it is a readable file (a URL
    once fetched), else None (the test card)."""
    if not settings.init_image:
        return None
    path = plan.local_image(settings.init_image)
    if not path.is_file():
        return None
    return load_image(path, plan.width, plan.height).astype(np.float32) / 255.0


def scene_for(settings: "Config", plan: "RenderPlan", out_size: tuple[int, int] | None = None) -> CameraScene:
    """The camera preview of a run's plan, drawn at ``out_size`` (default: the run's size)."""
    return CameraScene(settings.animation.mode.value, plan.schedules, plan.n_frames, (plan.width, plan.height),
                       out_size, reference_picture(settings, plan))
