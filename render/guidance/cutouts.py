"""Cutouts that CLIP sees: DD's ``MakeCutoutsDango`` for the image being made, ``MakeCutouts`` for image prompts.

Randomness comes from torch's global generator, which the diffusion generator seeds per frame (as DD does), so a
frame's cutouts are reproducible. Resizing is bicubic with antialiasing (DD used ResizeRight's antialiased cubic).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision.transforms as T
import torchvision.transforms.functional as TF
from torch import nn

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def _noise(std: float) -> T.Lambda:
    return T.Lambda(lambda x: x + torch.randn_like(x) * std)


def dango_augmentations(mode: str) -> nn.Module:
    """DD's augmentations of the cutout batch for an animation mode (none, 2d, 3d, video_input)."""
    if mode == "video_input":
        return prompt_augmentations()
    flip, hue = (0.5, 0.1) if mode == "none" else (0.4, 0.3)
    return T.Compose([
        T.RandomHorizontalFlip(p=flip), _noise(0.01),
        T.RandomAffine(degrees=10, translate=(0.05, 0.05), interpolation=T.InterpolationMode.BILINEAR), _noise(0.01),
        T.RandomGrayscale(p=0.1), _noise(0.01),
        T.ColorJitter(brightness=0.1, contrast=0.1, saturation=0.1, hue=hue),
    ])


def prompt_augmentations() -> nn.Module:
    """The augmentations DD applies to image-prompt cutouts (and to Video Input cutouts)."""
    return T.Compose([
        T.RandomHorizontalFlip(p=0.5), _noise(0.01),
        T.RandomAffine(degrees=15, translate=(0.1, 0.1)), _noise(0.01),
        T.RandomPerspective(distortion_scale=0.4, p=0.7), _noise(0.01),
        T.RandomGrayscale(p=0.15), _noise(0.01),
    ])


def resize_square(x: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(x, size=(size, size), mode="bicubic", antialias=True, align_corners=False)


def gray(x: torch.Tensor) -> torch.Tensor:
    return TF.rgb_to_grayscale(x, num_output_channels=3)


class MakeCutoutsDango(nn.Module):
    """``overview`` letterboxed whole-image views plus ``inner_crop`` random squares, then augmentations.

    Overview n <= 4 takes the first n of (plain, gray, flipped, gray flipped); n > 4 repeats the plain view. Inner
    crop sizes are ``rand**ic_size_pow`` between the cut size and the short side. A fraction ``ic_grey_p`` of the
    inner crops is gray; DD made the first crop gray even at ``ic_grey_p=0`` (``i <= int(p*n)``), fixed here.
    """

    def __init__(self, cut_size: int, overview: int, inner_crop: int, ic_size_pow: float, ic_grey_p: float,
                 augment: nn.Module | None):
        super().__init__()
        self.cut_size, self.overview, self.inner_crop = cut_size, int(overview), int(inner_crop)
        self.ic_size_pow, self.ic_grey_p = ic_size_pow, ic_grey_p
        self.augment = augment

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cutouts = self._overview(x) + self._inner_crops(x)
        batch = torch.cat(cutouts)
        return self.augment(batch) if self.augment is not None else batch

    def _overview(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.overview <= 0:
            return []
        side_y, side_x = x.shape[2:4]
        short = min(side_x, side_y)
        pad_x, pad_y = (side_y - short) // 2, (side_x - short) // 2
        view = resize_square(F.pad(x, (pad_x, pad_x, pad_y, pad_y)), self.cut_size)
        if self.overview > 4:
            return [view] * self.overview
        variants = [view, gray(view), TF.hflip(view), gray(TF.hflip(view))]
        return variants[: self.overview]

    def _inner_crops(self, x: torch.Tensor) -> list[torch.Tensor]:
        side_y, side_x = x.shape[2:4]
        max_size, min_size = min(side_x, side_y), min(side_x, side_y, self.cut_size)
        n_gray = round(self.ic_grey_p * self.inner_crop)
        crops = []
        for i in range(self.inner_crop):
            size = int(torch.rand([]) ** self.ic_size_pow * (max_size - min_size) + min_size)
            ox = int(torch.randint(0, side_x - size + 1, ()))
            oy = int(torch.randint(0, side_y - size + 1, ()))
            crop = x[:, :, oy:oy + size, ox:ox + size]
            crops.append(resize_square(gray(crop) if i < n_gray else crop, self.cut_size))
        return crops


class MakeCutouts(nn.Module):
    """DD's image-prompt cutouts: pad by a quarter of the height, the last quarter of the cuts whole, the others
    random squares of side ``short * clip(N(0.8, 0.3), cut/short, 1)``, each augmented."""

    def __init__(self, cut_size: int, cutn: int = 16, augment: nn.Module | None = None):
        super().__init__()
        self.cut_size, self.cutn, self.augment = cut_size, cutn, augment

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = x.shape[2] // 4
        x = F.pad(x, (pad, pad, pad, pad))
        side_y, side_x = x.shape[2:4]
        short = min(side_x, side_y)
        cutouts = []
        for i in range(self.cutn):
            if i > self.cutn - self.cutn // 4:
                cut = x
            else:
                frac = torch.zeros(1).normal_(mean=0.8, std=0.3).clip(self.cut_size / short, 1.0)
                size = int(short * float(frac))
                ox = int(torch.randint(0, abs(side_x - size + 1), ()))
                oy = int(torch.randint(0, abs(side_y - size + 1), ()))
                cut = x[:, :, oy:oy + size, ox:ox + size]
            if self.augment is not None:
                cut = self.augment(cut)
            cutouts.append(resize_square(cut, self.cut_size))
        return torch.cat(cutouts)


def clip_normalize(x: torch.Tensor, stats: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """CLIP's input normalisation of a [0, 1] image batch; ``stats``: :func:`clip_stats` made once by the caller."""
    mean, std = stats if stats is not None else clip_stats(x.device, x.dtype)
    return (x - mean) / std


def clip_stats(device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """CLIP's mean and std as (3, 1, 1) tensors."""
    mean = torch.tensor(CLIP_MEAN, device=device, dtype=dtype)[:, None, None]
    std = torch.tensor(CLIP_STD, device=device, dtype=dtype)[:, None, None]
    return mean, std
