"""The depth-estimator interface, the constant-plane estimator, and building the estimator a plan names."""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import torch

if TYPE_CHECKING:
    from depth.plan import DepthPlan


class DepthEstimator(Protocol):
    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        """``(1,3,H,W)`` float in [0,1] -> ``(1,1,H,W)`` float depth on the image's device (larger is farther)."""
        ...


class FlatDepth:
    """A plane at constant depth: no parallax, so pure ``translation_z`` is a centre zoom."""

    def __init__(self, value: float = 1.0):
        if not value > 0:
            raise ValueError(f"depth.flat_value must be positive, got {value}")
        self.value = float(value)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        n, _, h, w = image.shape
        return torch.full((n, 1, h, w), self.value, dtype=image.dtype, device=image.device)


def build_depth_estimator(plan: "DepthPlan", device: torch.device, *, flat_value: float = 1.0,
                          precision: str = "auto", models_dir: str | None = None,
                          allow_download: bool = False) -> DepthEstimator:
    """The estimator of a depth plan, its model loaded once (files downloaded first when allowed)."""
    if plan.name == "flat":
        return FlatDepth(flat_value)
    from depth.estimators import AdabinsDepth, BlendedDepth, MidasDepth, build_adabins, build_midas
    from render import registry

    if plan.missing:
        registry.ensure(plan.missing, models_dir, allow_download=allow_download)
    if precision == "auto":
        precision = "fp16" if device.type == "cuda" else "fp32"
    midas_path = None if plan.name == "tiny" else plan.files[plan.name]  # tiny: seeded random weights
    midas = MidasDepth(build_midas(plan.name, midas_path), plan.name, device, precision)
    if plan.midas_weight >= 1.0:
        return midas
    adabins = AdabinsDepth(build_adabins(plan.files.get("adabins_nyu")), device, precision)
    return BlendedDepth(midas, adabins, plan.midas_weight)
