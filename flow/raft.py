"""RAFT optical flow (Teed & Deng 2020) on torchvision's implementation, with local weight files.

``RaftFlow`` builds ``torchvision.models.optical_flow.raft_large`` / ``raft_small`` without weights and loads a
weight file strictly from a path (or from the model registry). It follows the ``flow.estimators`` convention:
``RaftFlow(...)(a, b)`` is flow a -> b, float32 (H, W, 2) in pixels on a's grid.

Weight files it reads:

- torchvision's own files (``raft_large_C_T_SKHT_V2-ff5fadd5.pth``, ``raft_small_C_T_V2-01064c6d.pth``, ...):
  plain state_dicts in torchvision's layout.
- princeton-vl/RAFT checkpoints (``raft-things.pth``, the one Disco Diffusion uses; also ``raft-small.pth`` etc.):
  saved from ``nn.DataParallel`` (keys ``module.fnet.conv1.weight``, ``module.update_block.encoder.convc1.weight``,
  ...). ``convert_princeton_state_dict`` renames them to torchvision's layout. Every parameter and buffer maps;
  the only keys dropped are the residual blocks' ``norm3`` (large) / ``norm4`` (small) entries, which are the same
  module as ``downsample.1`` (registered twice in the original code) and are checked to be equal to it.
  torchvision ported its ``*_V1`` weights from these files, so the two architectures compute the same function
  (a fact checked against the original code with random weights, not with the real raft-things.pth).

Inputs are scaled to [-1, 1] (torchvision's ``OpticalFlow`` transform; the same as the original's
``2 * (x / 255) - 1``) and replicate-padded at the bottom/right to a multiple of 8 and to at least 128 pixels
(torchvision's RAFT needs >= 128 for its 4-level correlation pyramid); the flow is cropped back (DD v5.7 pads
centred and never crops, so its flow is offset by the padding). On CUDA the
networks run under autocast in bf16 (or fp16 where bf16 is unsupported); the correlation volume stays fp32 as
in the original's mixed-precision mode.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.models.optical_flow import raft_large, raft_small
from torchvision.models.optical_flow.raft import RAFT, CorrBlock

from flow.warp import check_pair
from render.models import registry
from render.models.download import ensure
from render.models.weights import load_weights
from render.user_error import UserError

VARIANTS = ("large", "small")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
MIN_SIDE = 128
MULTIPLE = 8
DEFAULT_WEIGHTS = {"large": "raft_large_C_T_SKHT_V2", "small": "raft_small_C_T_V2"}
WEIGHTS_VARIANT = {"raft_large_C_T_SKHT_V2": "large", "raft_small_C_T_V2": "small", "raft-things": "large"}


class RaftWeightsError(UserError, ValueError):
    """A RAFT weight file does not fit the requested architecture."""


# ---------------------------------------------------------------------------------------------------------------
# princeton-vl/RAFT -> torchvision key conversion

_ENCODER = {"fnet": "feature_encoder", "cnet": "context_encoder"}
_UPDATE_RULES = (  # (original pattern, torchvision replacement); applied to keys without "module."
    (r"update_block\.encoder\.convc(\d)\.", r"update_block.motion_encoder.convcorr\1.0."),
    (r"update_block\.encoder\.convf(\d)\.", r"update_block.motion_encoder.convflow\1.0."),
    (r"update_block\.encoder\.conv\.", r"update_block.motion_encoder.conv.0."),
    (r"update_block\.gru\.conv([zrq])(\d)\.", r"update_block.recurrent_block.convgru\2.conv\1."),  # SepConvGRU
    (r"update_block\.gru\.conv([zrq])\.", r"update_block.recurrent_block.convgru1.conv\1."),  # ConvGRU (small)
    (r"update_block\.flow_head\.conv(\d)\.", r"update_block.flow_head.conv\1."),
    (r"update_block\.mask\.0\.", r"mask_predictor.convrelu.0."),
    (r"update_block\.mask\.2\.", r"mask_predictor.conv."),
)
_ENCODER_RULES = (  # applied to the part after "fnet."/"cnet."
    (r"conv1\.", r"convnormrelu.0."),
    (r"norm1\.", r"convnormrelu.1."),
    (r"conv2\.", r"conv."),
    (r"(layer\d\.\d)\.conv(\d)\.", r"\1.convnormrelu\2.0."),
    (r"(layer\d\.\d)\.norm(\d)\.", r"\1.convnormrelu\2.1."),
    (r"(layer\d\.\d)\.downsample\.([01])\.", r"\1.downsample.\2."),
)


def is_princeton_layout(state: Mapping[str, torch.Tensor]) -> bool:
    """True for a princeton-vl/RAFT state_dict (``module.fnet...`` or ``fnet...`` keys)."""
    return any(re.match(r"(module\.)?(fnet|cnet)\.", key) for key in state)


def _rename(key: str, rules: tuple[tuple[str, str], ...]) -> str | None:
    for pattern, replacement in rules:
        new, count = re.subn("^" + pattern, replacement, key)
        if count:
            return new
    return None


def _convert_key(key: str, variant: str) -> str | None:
    """The torchvision name of one original key; "" for an alias to drop; None when unknown."""
    head, _, rest = key.partition(".")
    if head not in _ENCODER:
        return _rename(key, _UPDATE_RULES)
    convs_per_block = 2 if variant == "large" else 3  # ResidualBlock vs BottleneckBlock
    alias = re.match(r"layer\d\.\d\.norm(\d)\.", rest)
    if alias and int(alias.group(1)) == convs_per_block + 1:
        return ""  # the downsample norm, also saved as downsample.1
    new = _rename(rest, _ENCODER_RULES)
    return None if new is None else f"{_ENCODER[head]}.{new}"


def _downsample_twin(key: str) -> str:
    """``fnet.layer2.0.norm3.weight`` -> ``fnet.layer2.0.downsample.1.weight``."""
    return re.sub(r"^(\w+\.layer\d\.\d)\.norm\d\.", r"\1.downsample.1.", key)


def convert_princeton_state_dict(state: Mapping[str, torch.Tensor], variant: str = "large") -> dict:
    """Rename a princeton-vl/RAFT state_dict (``raft-things.pth``) to torchvision's ``raft_<variant>`` layout.

    Raises RaftWeightsError naming any key that has no counterpart, and when an aliased ``norm3``/``norm4``
    entry differs from its ``downsample.1`` twin. Shapes are checked when the model loads it (strictly).
    """
    plain = {key.removeprefix("module."): value for key, value in state.items()}
    converted, unknown = {}, []
    for key, value in plain.items():
        new = _convert_key(key, variant)
        if new is None:
            unknown.append(key)
        elif new == "":
            twin = plain.get(_downsample_twin(key))
            if twin is None or not torch.equal(twin, value):
                raise RaftWeightsError(f"{key} should equal {_downsample_twin(key)} (the same module saved twice)")
        else:
            converted[new] = value
    if unknown:
        raise RaftWeightsError(f"{len(unknown)} keys of the princeton-vl RAFT checkpoint have no counterpart in "
                               f"torchvision's raft_{variant}: {', '.join(sorted(unknown)[:8])}"
                               f"{' ...' if len(unknown) > 8 else ''}")
    return converted


# ---------------------------------------------------------------------------------------------------------------
# Loading


def build_raft(variant: str) -> RAFT:
    """torchvision's RAFT architecture without weights, in eval mode."""
    if variant not in VARIANTS:
        raise ValueError(f"RAFT variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    return (raft_large if variant == "large" else raft_small)(weights=None, progress=False).eval()


def _checkpoint_variant(state: Mapping[str, torch.Tensor]) -> str | None:
    first = state.get("feature_encoder.convnormrelu.0.weight")
    return {64: "large", 32: "small"}.get(None if first is None else first.shape[0])


def load_raft(variant: str, path: str | os.PathLike) -> RAFT:
    """``raft_<variant>`` with the weights in ``path`` (torchvision or princeton-vl layout), loaded strictly."""
    model = build_raft(variant)
    state = load_weights(Path(path), mmap=False)
    if not isinstance(state, Mapping):
        raise RaftWeightsError(f"{path}: not a state_dict (got {type(state).__name__})")
    if is_princeton_layout(state):
        state = convert_princeton_state_dict(state, variant)
    expected = model.state_dict()
    for key in expected:  # checkpoints from torch < 0.4.1 lack BatchNorm's counter; it is unused in eval
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros_like(expected[key])
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        found = _checkpoint_variant(state)
        hint = "" if found in (None, variant) else f" It looks like a raft_{found} checkpoint: use variant={found!r}."
        raise RaftWeightsError(f"{path} does not fit torchvision's raft_{variant}.{hint}\n{exc}") from exc
    return model


# ---------------------------------------------------------------------------------------------------------------
# Inference


class _Fp32CorrBlock(CorrBlock):
    """torchvision's correlation block computed in fp32 even under autocast (as the original RAFT does)."""

    def build_pyramid(self, fmap1, fmap2):
        with torch.autocast(fmap1.device.type, enabled=False):
            super().build_pyramid(fmap1.float(), fmap2.float())

    def index_pyramid(self, centroids_coords):
        with torch.autocast(centroids_coords.device.type, enabled=False):
            return super().index_pyramid(centroids_coords.float())


def padded_size(height: int, width: int, multiple: int = MULTIPLE, minimum: int = MIN_SIDE) -> tuple[int, int]:
    """(H, W) rounded up to a multiple of ``multiple`` and to at least ``minimum``."""
    def up(n: int) -> int:
        return max(minimum, -(-n // multiple) * multiple)

    return up(height), up(width)


def to_model_input(frames: list[np.ndarray], device: torch.device) -> torch.Tensor:
    """uint8 RGB (H, W, 3) frames -> float (N, 3, Hp, Wp) in [-1, 1], replicate-padded at the bottom/right."""
    batch = torch.from_numpy(np.stack(frames)).to(device).permute(0, 3, 1, 2).float()
    batch = batch / 127.5 - 1.0  # [0, 255] -> [-1, 1], as normalize(x / 255, mean=0.5, std=0.5)
    h, w = batch.shape[-2:]
    ph, pw = padded_size(h, w)
    return F.pad(batch, (0, pw - w, 0, ph - h), mode="replicate") if (ph, pw) != (h, w) else batch


def _resolve_device(device: str | torch.device) -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _resolve_precision(precision: str, device: torch.device) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return precision
    if device.type != "cuda":
        return "fp32"
    return "bf16" if torch.cuda.is_bf16_supported(including_emulation=False) else "fp16"  # native bf16 only


def _weights_path(variant: str, path, weights: str | None, models_dir, allow_download: bool) -> Path:
    """The explicit path, else the registry file ``weights`` (default: torchvision's file for the variant)."""
    if path is not None:
        if not Path(path).is_file():
            raise FileNotFoundError(f"RAFT weight file {path} does not exist")
        return Path(path)
    key = weights or DEFAULT_WEIGHTS[variant]
    if WEIGHTS_VARIANT.get(key, variant) != variant:
        raise RaftWeightsError(f"weights {key!r} are for raft_{WEIGHTS_VARIANT[key]}, not raft_{variant}")
    return ensure([key], models_dir, allow_download=allow_download)[registry.lookup(key).key]


class RaftFlow:
    """RAFT flow estimator: ``RaftFlow(...)(a, b)`` -> flow a -> b, float32 (H, W, 2) pixels (see module doc).

    Weights come from ``path`` (a torchvision or princeton-vl file), else from the registry entry ``weights``
    (default: torchvision's default file for the variant) in ``models_dir``; ``model`` injects a ready network
    (tests). ``num_flow_updates`` is RAFT's iteration count (DD uses 20). ``precision`` "auto" is fp32 on CPU and
    bf16 (fp16 without bf16 support) on CUDA.
    """

    def __init__(self, variant: str = "large", path: str | os.PathLike | None = None, device: str = "auto",
                 precision: str = "auto", num_flow_updates: int = 20, *, weights: str | None = None,
                 models_dir: str | os.PathLike | None = None, allow_download: bool = False,
                 model: RAFT | None = None):
        if variant not in VARIANTS:
            raise ValueError(f"RAFT variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
        if num_flow_updates < 1:
            raise ValueError(f"num_flow_updates must be >= 1, got {num_flow_updates}")
        self.variant, self.num_flow_updates = variant, int(num_flow_updates)
        self.device = _resolve_device(device)
        self.precision = _resolve_precision(precision, self.device)
        if model is None:
            self.weights_path = _weights_path(variant, path, weights, models_dir, allow_download)
            model = load_raft(variant, self.weights_path)
        else:
            self.weights_path = None
        model.corr_block = _Fp32CorrBlock(num_levels=model.corr_block.num_levels, radius=model.corr_block.radius)
        self.model = model.eval().to(self.device)

    @property
    def name(self) -> str:
        weights = self.weights_path.stem if self.weights_path is not None else "custom"
        return f"raft-{self.variant}-{weights}-u{self.num_flow_updates}-{self.precision}"

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self.flows([a], [b])[0]

    def pair(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(flow_ab, flow_ba)`` in one batch of two."""
        fwd, bwd = self.flows([a, b], [b, a])
        return fwd, bwd

    @torch.inference_mode()
    def flows(self, firsts: list[np.ndarray], seconds: list[np.ndarray]) -> list[np.ndarray]:
        """Flow firsts[i] -> seconds[i] for each i, as one batch."""
        for a, b in zip(firsts, seconds, strict=True):
            check_pair(a, b)
        h, w = firsts[0].shape[:2]
        image1, image2 = to_model_input(firsts, self.device), to_model_input(seconds, self.device)
        dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(self.precision)
        with torch.autocast(self.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            flow = self.model(image1, image2, num_flow_updates=self.num_flow_updates)[-1]
        flow = flow[:, :, :h, :w].float().permute(0, 2, 3, 1).cpu().numpy()
        return [np.ascontiguousarray(f) for f in flow]
