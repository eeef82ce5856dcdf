"""Optical flow for video-input mode: frame extraction, flow estimation, consistency masks, warping, caching.

Flow convention used throughout: float32 (H, W, 2) in pixels, ``[..., 0] = dx`` (right), ``[..., 1] = dy``
(down). ``estimator(a, b)`` returns flow_ab on a's grid with ``a(p) ~= b(p + flow_ab(p))``, so
``warp_with_flow(b, flow_ab) ~= a``. The "backward flow" of a frame pair (a, b) is flow_ba; the renderer warps
the previous output (a) onto frame b with it. ``flow.raft`` (torch) is imported on first use of its names.
"""
from __future__ import annotations

from flow.cache import FlowCache, FlowKey
from flow.consistency import (
    ConsistencyLayers,
    blend_init,
    consistency_layers,
    consistency_mask,
    motion_edges,
    occlusion,
    out_of_frame,
    reliability_mask,
)
from flow.estimators import (
    DisFlow,
    FarnebackFlow,
    FlowEstimator,
    create_estimator,
    forward_backward,
)
from flow.extract import (
    SETTING,
    VideoInfo,
    VideoInputError,
    content_sha256,
    default_output_fps,
    extract_frames,
    iter_frames,
    probe_video,
    resize_frame,
)
from flow.warp import flow_to_color, warp_with_flow

_RAFT_NAMES = ("RaftFlow", "RaftWeightsError", "convert_princeton_state_dict", "load_raft")

__all__ = [
    "FlowCache", "FlowKey", "ConsistencyLayers", "blend_init", "consistency_layers", "consistency_mask",
    "motion_edges", "occlusion", "out_of_frame", "reliability_mask", "DisFlow", "FarnebackFlow", "FlowEstimator",
    "create_estimator", "forward_backward", "SETTING", "VideoInfo", "VideoInputError", "content_sha256",
    "default_output_fps",
    "extract_frames", "iter_frames", "probe_video", "resize_frame", "flow_to_color", "warp_with_flow", *_RAFT_NAMES,
]


def __getattr__(name: str):
    if name in _RAFT_NAMES:
        from flow import raft

        return getattr(raft, name)
    raise AttributeError(f"module 'flow' has no attribute {name!r}")
