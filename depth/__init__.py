"""Depth estimators for the 3D mode: ``image (1,3,H,W) in [0,1] -> depth (1,1,H,W)``, larger is farther."""
from depth.base import DepthEstimator, FlatDepth

__all__ = ["DepthEstimator", "FlatDepth"]
