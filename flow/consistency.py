"""Forward-backward flow consistency (Ruder, Dosovitskiy & Brox 2016) and the video-init blend.

Given the flow used for warping, ``flow`` (on the grid of the frame being rendered, pointing into the previous
frame; see ``flow.warp``), and the flow the other way, ``flow_back``, each pixel p gets three flags:

- occluded: with q = p + flow(p), ``|flow(p) + flow_back(q)|^2 > 0.01 (|flow(p)|^2 + |flow_back(q)|^2) + 0.5``
  (flow_back sampled bilinearly at q). Disoccluded areas, which the previous frame never showed, fail this.
- out of frame: q lies outside the image area (x < -0.5, x > W-0.5, y < -0.5 or y > H-0.5).
- motion edge: ``|grad flow(p)|^2 > 0.01 |flow(p)|^2 + 0.002`` (forward differences of both components; the
  last row/column repeat, so the image border is not an edge).

These are the tests of Sxela/flow_tools' ``check_consistency.py`` (a numpy port of Ruder et al.'s
consistencyChecker, via maua). Unlike flow_tools, which writes -0.75/0/1 and relies on a Gaussian blur to spread
occlusions, ``reliability_mask`` combines the flags with explicit weights, then dilates and blurs.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from flow.warp import check_flow, sampling_map, warp_with_flow

OCCLUSION_REL = 0.01
OCCLUSION_ABS = 0.5
EDGE_REL = 0.01
EDGE_ABS = 0.002


@dataclass(frozen=True)
class ConsistencyLayers:
    """Boolean (H, W) flags on the warp flow's grid; True marks an unreliable pixel for that reason."""

    occluded: np.ndarray
    out_of_frame: np.ndarray
    motion_edge: np.ndarray


def _norm2(v: np.ndarray) -> np.ndarray:
    """Squared length of each (dx, dy) vector of an (H, W, 2) array."""
    return v[..., 0] * v[..., 0] + v[..., 1] * v[..., 1]


def occlusion(flow: np.ndarray, flow_back: np.ndarray) -> np.ndarray:
    """Pixels failing the forward-backward test (see the module docstring); bool (H, W)."""
    flow = check_flow(flow)
    back_at_target = warp_with_flow(check_flow(flow_back, flow.shape[:2]), flow)
    mismatch = _norm2(flow + back_at_target)
    scale = _norm2(flow) + _norm2(back_at_target)
    return mismatch > OCCLUSION_REL * scale + OCCLUSION_ABS


def out_of_frame(flow: np.ndarray) -> np.ndarray:
    """Pixels whose target p + flow(p) leaves the image area; bool (H, W).

    Pixel centres are at integer coordinates, so the image covers [-0.5, W - 0.5] x [-0.5, H - 0.5]; a target
    inside that area is in frame. (flow_tools' strict ``x < 0`` test flags border pixels for sub-pixel estimator
    noise on a static background.)
    """
    coords = sampling_map(flow)
    h, w = coords.shape[:2]
    x, y = coords[..., 0], coords[..., 1]
    return (x < -0.5) | (x > w - 0.5) | (y < -0.5) | (y > h - 0.5)


def motion_edges(flow: np.ndarray) -> np.ndarray:
    """Pixels where the flow changes sharply (boundaries of moving objects); bool (H, W)."""
    flow = check_flow(flow)
    gradient = np.zeros(flow.shape[:2], np.float32)
    gradient[:, :-1] += _norm2(flow[:, 1:] - flow[:, :-1])
    gradient[:-1] += _norm2(flow[1:] - flow[:-1])
    return gradient > EDGE_REL * _norm2(flow) + EDGE_ABS


def consistency_layers(flow: np.ndarray, flow_back: np.ndarray) -> ConsistencyLayers:
    """The three unreliability flags of ``flow`` checked against ``flow_back`` (both (H, W, 2), pixels)."""
    return ConsistencyLayers(occluded=occlusion(flow, flow_back), out_of_frame=out_of_frame(flow),
                             motion_edge=motion_edges(flow))


def reliability_mask(layers: ConsistencyLayers, *, occlusion_weight: float = 1.0, edge_weight: float = 1.0,
                     out_of_frame_weight: float = 1.0, dilation: int = 0, blur_sigma: float = 2.0) -> np.ndarray:
    """Reliability in [0, 1] (float32 (H, W); 1 = trust the warped pixel) from the flags.

    Each flagged pixel loses its layer's weight: ``1 - max(occlusion_weight*occluded, edge_weight*edge,
    out_of_frame_weight*out_of_frame)``, clipped to [0, 1]. Then the unreliable areas grow by ``dilation`` pixels
    (a disc; grey-scale erosion of the reliability) and the result is Gaussian-blurred with ``blur_sigma`` pixels
    (0 = no blur; flow_tools uses 2).
    """
    for label, value in (("occlusion_weight", occlusion_weight), ("edge_weight", edge_weight),
                         ("out_of_frame_weight", out_of_frame_weight)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{label} must be in [0, 1], got {value}")
    if dilation < 0 or blur_sigma < 0:
        raise ValueError(f"dilation and blur_sigma must be >= 0, got {dilation} and {blur_sigma}")
    penalty = np.maximum.reduce([occlusion_weight * layers.occluded, edge_weight * layers.motion_edge,
                                 out_of_frame_weight * layers.out_of_frame]).astype(np.float32)
    reliability = np.clip(1.0 - penalty, 0.0, 1.0)
    if dilation > 0:
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilation + 1, 2 * dilation + 1))
        reliability = cv2.erode(reliability, disc, borderType=cv2.BORDER_REPLICATE)
    if blur_sigma > 0:
        # the kernel scipy's gaussian_filter uses (radius 4 sigma), in OpenCV's faster separable filter
        size = 2 * int(4 * blur_sigma + 0.5) + 1
        reliability = cv2.GaussianBlur(reliability, (size, size), blur_sigma, borderType=cv2.BORDER_REPLICATE)
    return np.clip(reliability, 0.0, 1.0).astype(np.float32)


def consistency_mask(flow: np.ndarray, flow_back: np.ndarray, **weights) -> np.ndarray:
    """``reliability_mask(consistency_layers(flow, flow_back), **weights)``."""
    return reliability_mask(consistency_layers(flow, flow_back), **weights)


def blend_init(frame: np.ndarray, warped: np.ndarray, reliability: np.ndarray | None,
               flow_blend: float) -> np.ndarray:
    """The init image of a video frame: ``f*(1-b) + b*(w*warped + (1-w)*f)``.

    ``frame`` is the current source video frame f, ``warped`` the previous output warped onto it, both float in
    [0, 1] with the same (H, W) or (H, W, C) shape; ``reliability`` w is (H, W) (or broadcastable) in [0, 1], or
    None for 1 everywhere (DD v5.7, which has no consistency check); ``flow_blend`` b in [0, 1] is DD's
    ``video_init_flow_blend``. Unreliable pixels fall back to the source frame.
    """
    frame, warped = np.asarray(frame, dtype=np.float32), np.asarray(warped, dtype=np.float32)
    if frame.shape != warped.shape:
        raise ValueError(f"frame {frame.shape} and warped image {warped.shape} differ in shape")
    if not 0.0 <= flow_blend <= 1.0:
        raise ValueError(f"flow_blend must be in [0, 1], got {flow_blend}")
    w = np.float32(1.0) if reliability is None else np.asarray(reliability, dtype=np.float32)
    if w.ndim == 2 and frame.ndim == 3:
        w = w[..., None]
    guided = w * warped + (1.0 - w) * frame
    return (frame * (1.0 - flow_blend) + flow_blend * guided).astype(np.float32)
