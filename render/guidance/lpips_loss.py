"""LPIPS (VGG) for ``init_scale``/``frames_scale``: the lpips package's network and calibrated linear layers, with
the VGG16 trunk loaded from torchvision's ``vgg16-397923af.pth`` in the model directory (no hub download), and the
distance to a frame's fixed image with that image's features computed once per frame."""
from __future__ import annotations

import warnings
from pathlib import Path

import lpips
import torch
from torch import nn

from render.models.weights import load_weights

# lpips splits torchvision's vgg16.features into slices at these indices; module names keep the original index.
_VGG_SLICES = ((1, range(0, 4)), (2, range(4, 9)), (3, range(9, 16)), (4, range(16, 23)), (5, range(23, 30)))


def vgg_features_to_lpips(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map torchvision ``features.N.*`` keys to lpips' ``net.sliceK.N.*`` keys."""
    out = {}
    for key, value in state_dict.items():
        if not key.startswith("features."):
            continue
        index = int(key.split(".")[1])
        for slice_no, indices in _VGG_SLICES:
            if index in indices:
                out[f"net.slice{slice_no}.{key[len('features.'):]}"] = value
    return out


def build_lpips(vgg_path: Path | None, device: torch.device) -> nn.Module:
    """LPIPS-VGG in eval mode without gradients for its weights; ``vgg_path=None`` keeps a random trunk (tiny)."""
    # the random trunk is seeded: the same run must give the same frames in every process
    with warnings.catch_warnings(), torch.random.fork_rng(devices=[]):
        warnings.simplefilter("ignore", UserWarning)  # lpips still passes torchvision's deprecated ``pretrained``
        torch.manual_seed(0)
        model = lpips.LPIPS(net="vgg", pretrained=True, pnet_rand=True, verbose=False)
    if vgg_path is not None:
        trunk = vgg_features_to_lpips(load_weights(vgg_path, mmap=False))
        missing, unexpected = model.load_state_dict(trunk, strict=False)
        if unexpected or any(k.startswith("net.") for k in missing):
            raise ValueError(f"{vgg_path} is not torchvision's VGG16 (missing {missing}, unexpected {unexpected})")
    return model.to(device).eval().requires_grad_(False)


class LpipsToImage:
    """``model(x, image)`` for a fixed ``image``, bit for bit, with the image's VGG features computed once.

    DD called ``lpips_model(x_in, init)`` every step, running VGG16 on the unchanging init (the previous frame, in
    an animation) each time: a third of the LPIPS work of a step. The arithmetic below is lpips' ``LPIPS.forward``
    (version 0.1, linear layers, spatial average) with the second image's features taken from here. They are kept
    for the frame (about 0.5 GB in float32 at 1280x768), which every step's LPIPS forward held anyway."""

    def __init__(self, model: lpips.LPIPS, image: torch.Tensor):
        if model.version != "0.1" or not model.lpips or model.spatial:
            raise ValueError("LpipsToImage computes LPIPS v0.1 with linear layers and a spatial average only")
        self.model = model
        with torch.no_grad():
            self.features = [lpips.normalize_tensor(f) for f in model.net.forward(model.scaling_layer(image))]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        model = self.model
        outs = model.net.forward(model.scaling_layer(x))
        value = 0
        for kk, (out, target) in enumerate(zip(outs, self.features)):
            diff = (lpips.normalize_tensor(out) - target) ** 2
            value += lpips.lpips.spatial_average(model.lins[kk](diff), keepdim=True)
        return value
