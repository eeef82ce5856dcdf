"""Warping images with optical flow, and flow preview images.

Flow convention (the whole ``flow`` package): a flow field is a float32 array of shape (H, W, 2) in pixels,
``flow[..., 0] = dx`` (to the right) and ``flow[..., 1] = dy`` (downwards). The flow from image A to image B,
``flow_ab``, is defined on A's pixel grid: the content at pixel p of A is found at p + flow_ab(p) in B, so
``A(p) ~= B(p + flow_ab(p))``. This is OpenCV's ``calcOpticalFlow*(prev=A, next=B)`` and RAFT's
``model(image1=A, image2=B)`` convention.

``warp_with_flow(B, flow_ab)`` is therefore a *backward* warp: it pulls B's pixels onto A's grid and
approximates A. To carry the previous output frame k onto frame k+1, warp it with the flow from k+1 to k
(the "backward flow", ``forward_backward(estimator, frame_k, frame_k1)[1]``).
"""
from __future__ import annotations

import functools

import cv2
import numpy as np

_REMAP_DTYPES = tuple(np.dtype(t) for t in (np.uint8, np.uint16, np.int16, np.float16, np.float32, np.float64))


def check_pair(a: np.ndarray, b: np.ndarray) -> None:
    """Raise ValueError unless a and b are uint8 RGB frames of the same (H, W, 3) shape."""
    for label, image in (("a", a), ("b", b)):
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            shape = getattr(image, "shape", None)
            dtype = getattr(image, "dtype", type(image).__name__)
            raise ValueError(f"frame {label} must be a uint8 RGB array (H, W, 3), got {dtype} {shape}")
    if a.shape != b.shape:
        raise ValueError(f"frames differ in size: {a.shape} vs {b.shape}")


def check_flow(flow: np.ndarray, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Validate a (H, W, 2) flow (and its (H, W) when ``shape`` is given); return it as float32."""
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must have shape (H, W, 2), got {flow.shape}")
    if shape is not None and flow.shape[:2] != tuple(shape):
        raise ValueError(f"flow is {flow.shape[1]}x{flow.shape[0]} (WxH) but the image is {shape[1]}x{shape[0]}")
    return flow.astype(np.float32, copy=False)


def sampling_map(flow: np.ndarray) -> np.ndarray:
    """Absolute sampling coordinates ``p + flow(p)`` as a float32 (H, W, 2) map of (x, y)."""
    flow = check_flow(flow)
    return _pixel_grid(*flow.shape[:2]) + flow


@functools.lru_cache(maxsize=8)
def _pixel_grid(h: int, w: int) -> np.ndarray:
    grid = np.stack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)), axis=-1)
    grid.setflags(write=False)
    return grid


def warp_with_flow(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``out(p) = image(p + flow(p))``: bilinear sampling, out-of-frame lookups take the nearest edge pixel.

    ``image`` is (H, W) or (H, W, C) with any channel count, dtype uint8/uint16/int16/float16/float32/float64;
    ``flow`` is (H, W, 2) on the *output* grid (see the module docstring: warping B with flow_ab gives an
    approximation of A). The result has the image's shape and dtype.
    """
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"image must be (H, W) or (H, W, C), got shape {image.shape}")
    coords = sampling_map(check_flow(flow, image.shape[:2]))
    if image.dtype not in _REMAP_DTYPES:
        raise TypeError(f"image dtype must be one of {', '.join(map(str, _REMAP_DTYPES))}, got {image.dtype}")
    src = image.astype(np.float32) if image.dtype == np.float16 else image
    out = cv2.remap(src, coords[..., 0], coords[..., 1], interpolation=cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(image.shape).astype(image.dtype, copy=False)


def flow_to_color(flow: np.ndarray) -> np.ndarray:
    """A uint8 RGB (H, W, 3) preview of a flow: hue = direction, saturation = magnitude.

    Uses ``torchvision.utils.flow_to_image`` (the Middlebury colour wheel), which scales each image by its own
    largest motion, so colours are not comparable between frames.
    """
    import torch
    from torchvision.utils import flow_to_image

    flow = check_flow(flow)
    image = flow_to_image(torch.from_numpy(np.ascontiguousarray(flow.transpose(2, 0, 1))))
    return image.permute(1, 2, 0).numpy()
