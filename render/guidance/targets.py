"""Prompt targets: what each CLIP model's embeddings of the frame's prompts are, with their weights.

Computed once per prompt change (not per step or per frame) and cached. Any randomness (fuzzy prompts, image-prompt
cutouts) is drawn from a generator seeded by the caller, so a cached and a freshly computed target are identical.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
import torchvision.transforms.functional as TF
from PIL import Image

from render.guidance.clip_models import ClipPerceptor
from render.guidance.cutouts import MakeCutouts, prompt_augmentations
from transforms.prompts import Prompt

IMAGE_PROMPT_CUTS = 16
FUZZY_COPIES = 25
CACHED_SETS = 4  # a fade of text and image prompts at once targets four prompt sets


@dataclass
class Targets:
    embeds: torch.Tensor  # (n, d) float32
    weights: torch.Tensor  # (n,), normalised so that |sum| = 1


def mix_targets(parts: Sequence[tuple[list[Targets], float]]) -> list[Targets]:
    """Per perceptor, the union of several target sets with their weights scaled: the CLIP loss of the mix is
    ``sum_s w_s * loss_s`` (its gradient the same sum of the sets' gradients). A single set of weight 1 is returned
    as it is."""
    if len(parts) == 1 and parts[0][1] == 1.0:
        return parts[0][0]
    mixed = []
    for per_perceptor in zip(*(targets for targets, _ in parts)):
        rows = [(t, w) for t, (_, w) in zip(per_perceptor, parts) if len(t.weights) and w != 0]
        if not rows:
            mixed.append(per_perceptor[0])
            continue
        mixed.append(Targets(torch.cat([t.embeds for t, _ in rows]), torch.cat([t.weights * w for t, w in rows])))
    return mixed


class TargetBuilder:
    def __init__(self, perceptors: Sequence[ClipPerceptor], *, side_x: int, side_y: int, fuzzy_prompt: bool = False,
                 rand_mag: float = 0.05, skip_augs: bool = False, local_image: Callable[[str], Path] = Path):
        self.perceptors = list(perceptors)
        self.side_x, self.side_y = side_x, side_y
        self.fuzzy_prompt, self.rand_mag = fuzzy_prompt, rand_mag
        self.augment = None if skip_augs else prompt_augmentations()
        self.local_image = local_image  # an image prompt's file: the cached download of a URL, else the path
        self._cache: dict[tuple, list[Targets]] = {}

    def build(self, text: Sequence[Prompt], images: Sequence[Prompt], seed: int) -> list[Targets]:
        """One :class:`Targets` per perceptor; cached by (prompts, seed), the last few sets (a fade alternates)."""
        key = (tuple(text), tuple(images), seed)
        if key not in self._cache:
            with torch.random.fork_rng(devices=self._devices()):
                torch.manual_seed(seed)
                built = [self._for(p, text, images) for p in self.perceptors]
            while len(self._cache) >= CACHED_SETS + 1:  # the prompt sets of a fade, and a loop's frame 0
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = built
        return self._cache[key]

    def image_targets(self, image: torch.Tensor, seed: int) -> list[Targets]:
        """One :class:`Targets` per perceptor for an image in memory ``(1,3,H,W)`` in [0, 1] (a loop's frame 0):
        its 16 cutouts as an image prompt, weights summing to 1; seeded, and cached for the same pixels."""
        key = ("image", hashlib.sha256(image.detach().cpu().numpy().tobytes()).hexdigest(), seed)
        if key not in self._cache:
            with torch.random.fork_rng(devices=self._devices()), torch.no_grad():
                torch.manual_seed(seed)
                built = []
                for perceptor in self.perceptors:
                    cuts = MakeCutouts(perceptor.input_resolution, IMAGE_PROMPT_CUTS, self.augment)(
                        image.to(perceptor.device))
                    encoded = perceptor.encode_image(cuts).float()
                    built.append(Targets(encoded, torch.full((len(encoded),), 1.0 / len(encoded),
                                                             device=perceptor.device)))
            while len(self._cache) >= CACHED_SETS + 1:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = built
        return self._cache[key]

    def _devices(self) -> list[int]:
        return sorted({p.device.index or 0 for p in self.perceptors if p.device.type == "cuda"})

    def _for(self, perceptor: ClipPerceptor, text: Sequence[Prompt], images: Sequence[Prompt]) -> Targets:
        embeds, weights = [], []
        if text:
            encoded = perceptor.encode_text([p.text for p in text])
            for row, prompt in zip(encoded, text):
                self._add(embeds, weights, row[None], prompt.weight)
        for prompt in images:
            with torch.no_grad():
                cuts = self._image_cutouts(perceptor, self.local_image(prompt.text))
                encoded = perceptor.encode_image(cuts)
            self._add(embeds, weights, encoded, prompt.weight / IMAGE_PROMPT_CUTS)
        if not embeds:
            return Targets(torch.zeros(0, 1, device=perceptor.device), torch.zeros(0, device=perceptor.device))
        w = torch.tensor(weights, device=perceptor.device, dtype=torch.float32)
        return Targets(torch.cat(embeds), w / w.sum().abs())

    def _add(self, embeds: list, weights: list, rows: torch.Tensor, weight: float) -> None:
        """Append ``rows`` with ``weight`` each; fuzzy prompts add 25 noisy copies instead (DD clamped those to
        [0, 1], which distorts the embedding; not here)."""
        if self.fuzzy_prompt:
            for _ in range(FUZZY_COPIES):
                embeds.append(rows + torch.randn_like(rows) * self.rand_mag)
                weights += [weight] * len(rows)
        else:
            embeds.append(rows)
            weights += [weight] * len(rows)

    def _image_cutouts(self, perceptor: ClipPerceptor, path: Path) -> torch.Tensor:
        """DD's image-prompt cutouts, on the [0, 1] image (DD fed CLIP's normalisation a [-1, 1] image)."""
        with Image.open(path) as img:
            img = img.convert("RGB")
            short = min(self.side_x, self.side_y, *img.size)
            img = TF.resize(img, short, TF.InterpolationMode.LANCZOS)
        x = TF.to_tensor(img).to(perceptor.device)[None]
        return MakeCutouts(perceptor.input_resolution, IMAGE_PROMPT_CUTS, self.augment)(x)
