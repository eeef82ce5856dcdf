"""The depth estimators of the 3D mode, as Disco Diffusion v5.7 runs them, and their weight files.

- ``MidasDepth``: MiDaS v3 (DPT-Large, DPT-Hybrid, DPT-Hybrid finetuned on NYU) or v2.1 (large, small). The frame
  is resized keeping its aspect ratio to a multiple of 32 near the network size (``midas_input_size``: DD's
  ``Resize(384, 384, keep_aspect_ratio=True, ensure_multiple_of=32, resize_method="minimal")`` for DPT,
  ``(384, 384, ..., "upper_bound")`` for v2.1 large, ``(256, 256, ..., "upper_bound")`` for the small model;
  bicubic), normalised (DPT: mean = std = 0.5; v2.1: ImageNet), and the predicted inverse depth is upsampled
  bicubically to the frame and turned into depth as DD does: ``depth = (50 - disparity) / 19``.
- ``AdabinsDepth``: AdaBins NYU metric depth (see ``depth.adabins``), on the frame resized to an area in
  ``[448^2, 500000]`` (PIL LANCZOS to shrink, BICUBIC to grow, as DD), then bicubically resized to the frame.
- ``DepthAnythingDepth``: Depth Anything V2 (Small, Base, Large; ``depth.depth_anything``) with its official
  pre-processing (``image2tensor``: the short side resized to at least 518 keeping the aspect ratio, each side a
  multiple of 14, bicubic; ImageNet normalisation) and its output upsampled bilinearly (align_corners=True) as its
  ``infer_image`` does. Its relative inverse depth has no fixed scale (affine-invariant, and its magnitude differs
  between the three sizes), so each map is normalised: ``n = (d - d_2%) / (d_98% - d_2%)`` (percentiles of the
  network-resolution map, ``n >= 0``), and made depth as inverse depth is, ``1/depth = 1/FAR + n (1/NEAR - 1/FAR)``:
  the farthest 2 % at ``FAR = 50/19`` (the depth DD's conversion gives MiDaS disparity 0), the nearest 2 % at
  ``NEAR = 0.5`` or nearer. So the 3D warp, the ``midas_weight`` blend with AdaBins and VR get depth in the same
  units and range as from MiDaS, and ``depth.stabilize`` removes the per-frame scale the normalisation leaves.
- ``BlendedDepth``: ``w * midas + (1 - w) * adabins`` (DD's ``midas_weight``, 0.3 by default).

DD converts every MiDaS kind with the same ``(50 - d) / 19`` (``disco_xform_utils.transform_image_3d``), and so do
we. For ``dpt_hybrid_nyu`` that formula was not made for its output: DD builds MiDaS v3's ``DPTDepthModel`` for it,
without DPT's ``scale=0.000305, shift=0.1378, invert=True``, so the network returns ``(1/metres - 0.1378) /
0.000305`` (about 2800 at 1 m, 0 from 7.3 m on), and ``(50 - d) / 19`` is below zero for everything nearer than
about 6.5 m: a flat scene at the nearest depth. So by default we convert it as DPT does, ``metres = 1 / (0.000305 d +
0.1378)`` (in AdaBins' metres, which DD blends with MiDaS depth); ``depth.nyu_metric=false`` restores DD's conversion
(README "Where this differs from Disco Diffusion").

``build_midas`` / ``build_adabins`` give the networks, with the official weights (loaded strictly: a file of the
wrong model fails with an error naming the file) or, without a file, with every parameter re-randomised from a
seed (the offline ``tiny`` model and tests). ``dpt_hybrid`` and ``dpt_hybrid_nyu`` files have the same keys and
shapes, so which one a file is cannot be seen from it: the preset's name chooses.
"""
from __future__ import annotations

import math
import zlib
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from depth import adabins as _adabins
from depth.depth_anything import DEPTH_ANYTHING_SPECS, PATCH, DepthAnythingV2
from depth.midas import create_midas
from render.models.weights import WeightFileError, load_weights, refetch_hint
from render.user_error import UserError

MIDAS_KINDS = ("dpt_large", "dpt_hybrid", "dpt_hybrid_nyu", "midas_v21", "midas_small", "tiny")
DEPTH_ANYTHING_KINDS = tuple(DEPTH_ANYTHING_SPECS)
PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}

# DD's conversion of MiDaS' inverse depth: depth = (DD_DISPARITY_OFFSET - disparity) / DD_DISPARITY_SCALE.
DD_DISPARITY_OFFSET = 50.0
DD_DISPARITY_SCALE = 19.0
# The smallest MiDaS depth we return. DD's formula gives depth <= 0 wherever MiDaS predicts a disparity >= 50
# (very near, bright surfaces), and the 3D warp divides by depth: at 0 it divides by zero, below 0 the point is
# behind the camera and its motion is mirrored. 0.01 is 1/263 of the depth DD assigns to disparity 0 (50/19) and
# only replaces values DD itself could not project; it keeps near pixels near (fast parallax) instead of folding
# them through the camera.
MIN_MIDAS_DEPTH = 0.01
# DPT's conversion of its NYU finetune's output to metres (intel-isl/DPT run_monodepth.py: scale, shift, invert).
NYU_SCALE, NYU_SHIFT = 0.000305, 0.1378
# Depth Anything V2: its input's short side (image2tensor's input_size, a lower bound) and the depth range its
# normalised disparity is mapped to (module docstring)
DEPTH_ANYTHING_SIZE = 518
DEPTH_ANYTHING_QUANTILES = (0.02, 0.98)
DEPTH_ANYTHING_NEAR, DEPTH_ANYTHING_FAR = 0.5, DD_DISPARITY_OFFSET / DD_DISPARITY_SCALE

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class MidasInput:
    """How DD feeds one MiDaS kind: network size, MiDaS ``Resize`` method and normalisation."""

    def __init__(self, size: int, method: str, mean: tuple[float, ...], std: tuple[float, ...]):
        self.size, self.method, self.mean, self.std = size, method, mean, std


MIDAS_INPUT = {
    "dpt_large": MidasInput(384, "minimal", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "dpt_hybrid": MidasInput(384, "minimal", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "dpt_hybrid_nyu": MidasInput(384, "minimal", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "midas_v21": MidasInput(384, "upper_bound", IMAGENET_MEAN, IMAGENET_STD),
    "midas_small": MidasInput(256, "upper_bound", IMAGENET_MEAN, IMAGENET_STD),
    "tiny": MidasInput(256, "minimal", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),  # small inputs keep it fast
}
MULTIPLE = 32

# DD's clamp of the AdaBins input area (disco_xform_utils.py)
MIN_ADABINS_AREA = 448 * 448
MAX_ADABINS_AREA = 500000


class CheckpointMismatch(UserError, RuntimeError):
    """A weight file whose parameter names or shapes are not those of the network it should load into."""


# ---------------------------------------------------------------------------------------------------------------
# Sizes


def _constrain(x: float, multiple: int, max_val: int | None = None) -> int:
    """MiDaS' ``constrain_to_multiple_of`` (round half to even, as numpy), never below one multiple."""
    y = round(x / multiple) * multiple
    if max_val is not None and y > max_val:
        y = math.floor(x / multiple) * multiple
    return max(int(y), multiple)  # MiDaS would return 0 for a side under half a multiple and then fail


def midas_input_size(h: int, w: int, kind: str) -> tuple[int, int]:
    """The ``(height, width)`` DD resizes an ``h x w`` frame to before MiDaS ``kind``.

    MiDaS' ``Resize(net, net, keep_aspect_ratio=True, ensure_multiple_of=32)``: "minimal" (DPT) scales the side
    whose scale is closer to 1 to the network size, "upper_bound" (v2.1) fits both sides inside it; then each
    side is rounded to a multiple of 32. 1280x768 -> 640x384 (DPT), 384x224 (v2.1 large), 256x160 (small).
    """
    if kind not in MIDAS_INPUT:
        raise ValueError(f"unknown MiDaS kind {kind!r}; one of {', '.join(MIDAS_KINDS)}")
    if h <= 0 or w <= 0:
        raise ValueError(f"image size must be positive, got {h}x{w}")
    spec = MIDAS_INPUT[kind]
    scale_h, scale_w = spec.size / h, spec.size / w
    if spec.method == "minimal":
        scale_h = scale_w = scale_w if abs(1 - scale_w) < abs(1 - scale_h) else scale_h
        return _constrain(scale_h * h, MULTIPLE), _constrain(scale_w * w, MULTIPLE)
    scale_h = scale_w = min(scale_h, scale_w)  # upper_bound
    return (_constrain(scale_h * h, MULTIPLE, spec.size), _constrain(scale_w * w, MULTIPLE, spec.size))


def depth_anything_input_size(h: int, w: int) -> tuple[int, int]:
    """Depth Anything V2's input ``(height, width)`` for an ``h x w`` frame: its ``Resize(518, 518,
    keep_aspect_ratio=True, ensure_multiple_of=14, resize_method="lower_bound")``: the side whose scale is larger
    fits 518, each side rounded to a multiple of 14 and never below 518. 1280x768 -> 518x868."""
    if h <= 0 or w <= 0:
        raise ValueError(f"image size must be positive, got {h}x{w}")
    scale = max(DEPTH_ANYTHING_SIZE / h, DEPTH_ANYTHING_SIZE / w)

    def side(x: float) -> int:
        y = round(x / PATCH) * PATCH
        return y if y >= DEPTH_ANYTHING_SIZE else math.ceil(x / PATCH) * PATCH

    return side(scale * h), side(scale * w)


def adabins_input_size(h: int, w: int) -> tuple[int, int]:
    """DD's AdaBins input ``(height, width)``: the area clamped to [448^2, 500000], aspect kept, sides truncated."""
    area = h * w
    if area > MAX_ADABINS_AREA:
        scale = math.sqrt(MAX_ADABINS_AREA) / math.sqrt(area)
    elif area < MIN_ADABINS_AREA:
        scale = math.sqrt(MIN_ADABINS_AREA) / math.sqrt(area)
    else:
        return h, w
    return int(h * scale), int(w * scale)


# ---------------------------------------------------------------------------------------------------------------
# Weights


def randomize_(module: nn.Module, seed: int = 0) -> nn.Module:
    """Re-draw every parameter and floating buffer of ``module``, each from ``seed`` and its own name.

    Matrices and kernels ~ N(0, 1/fan_in); norm scales and LayerScale factors (``gamma``) ~ U(0.75, 1.25), so that
    every block's branch counts as much as its skip; biases ~ N(0, 0.02); class tokens and position tables
    ~ N(0, 0.02); BatchNorm statistics mean ~ N(0, 0.1), var ~ U(0.5, 1.5). A tensor's values do not depend on the
    order of the others, so equal names give equal weights across builds.
    """
    with torch.no_grad():
        for name, t in [*module.named_parameters(), *module.named_buffers()]:
            if not t.is_floating_point():
                t.zero_()  # num_batches_tracked
                continue
            g = torch.Generator(device=t.device).manual_seed((seed * 1_000_003 + zlib.crc32(name.encode())) % 2**63)
            leaf = name.rsplit(".", 1)[-1]
            if leaf == "running_var":
                t.uniform_(0.5, 1.5, generator=g)
            elif leaf == "running_mean":
                t.normal_(0.0, 0.1, generator=g)
            elif "token" in leaf or "pos_embed" in leaf or "positional" in leaf:
                t.normal_(0.0, 0.02, generator=g)
            elif t.ndim <= 1:
                if leaf in ("weight", "gamma"):
                    t.uniform_(0.75, 1.25, generator=g)
                else:
                    t.normal_(0.0, 0.02, generator=g)
            else:
                t.normal_(0.0, 1.0 / math.sqrt(t[0].numel()), generator=g)
    return module


def _torch_load(path: Path) -> object:
    return load_weights(path)  # memory-mapped, or a legacy (pre-zip) torch.save file read whole


def unwrap_state_dict(obj: object) -> dict[str, torch.Tensor]:
    """The state dict in a checkpoint: a bare one, or ``{"model": ...}`` / ``{"state_dict": ...}`` (training
    checkpoints such as AdaBins', with optimizer and epoch alongside), without DataParallel's ``module.`` prefix."""
    if isinstance(obj, Mapping):
        for key in ("model", "state_dict"):
            inner = obj.get(key)
            if isinstance(inner, Mapping) and inner and all(isinstance(k, str) for k in inner):
                obj = inner
                break
    if not isinstance(obj, Mapping):
        raise TypeError(f"expected a state dict, got {type(obj).__name__}")
    sd = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def remap_adabins_keys(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """AdaBins' own backward compatibility (``model_io.load_checkpoint``): older checkpoints name ``conv3x3``
    ``embedding_conv`` and ``embedding_convPxP`` ``embedding_encoder``."""
    renames = (("adaptive_bins_layer.embedding_conv.", "adaptive_bins_layer.conv3x3."),
               ("adaptive_bins_layer.patch_transformer.embedding_encoder",
                "adaptive_bins_layer.patch_transformer.embedding_convPxP"))
    out = {}
    for k, v in sd.items():
        for old, new in renames:
            if k.startswith(old):
                k = new + k[len(old):]
                break
        out[k] = v
    return out


# a key only that family's files have, tried in order (v2.1 large before small: both have pretrained.layer1.0)
_FAMILY_MARKERS = {
    "dpt_large": "pretrained.model.blocks.23.attn.qkv.weight",
    "dpt_hybrid or dpt_hybrid_nyu": "pretrained.model.patch_embed.backbone.stem.conv.weight",  # one layout
    "midas_v21": "pretrained.layer3.22.conv3.weight",
    "midas_small": "pretrained.layer1.0.weight",
    "adabins_nyu": "encoder.original_model.conv_stem.weight",
    "Depth Anything V2": "depth_head.scratch.output_conv1.weight",  # small, base or large: the shapes tell
}


_DEPTH_ANYTHING_WIDTHS = {384: "small", 768: "base", 1024: "large"}  # the ViT width of each size


def _guess_family(sd: Mapping[str, torch.Tensor]) -> str | None:
    for family, marker in _FAMILY_MARKERS.items():
        if marker in sd:
            if family == "Depth Anything V2" and "pretrained.cls_token" in sd:
                size = _DEPTH_ANYTHING_WIDTHS.get(sd["pretrained.cls_token"].shape[-1])
                return f"depth_anything_v2_{size}" if size else family
            return family
    return None


def _check_keys(path: Path, what: str, expected: Mapping[str, torch.Tensor], got: Mapping[str, torch.Tensor]):
    missing = [k for k in expected if k not in got]
    unexpected = [k for k in got if k not in expected]
    shapes = [f"{k}: file {tuple(got[k].shape)}, model {tuple(expected[k].shape)}"
              for k in expected if k in got and tuple(got[k].shape) != tuple(expected[k].shape)]
    if not (missing or unexpected or shapes):
        return
    lines = [f"{path}: not a {what} weight file (strict load failed): {len(missing)} missing, "
             f"{len(unexpected)} unexpected, {len(shapes)} mis-shaped parameters of {len(expected)}"]
    for label, items in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", shapes)):
        if items:
            lines.append(f"  {label}: " + ", ".join(items[:5]) + (" ..." if len(items) > 5 else ""))
    family = _guess_family(got)
    if family is not None:
        lines.append(f"  it looks like a {family} file")
    lines.append(f"    fix: {refetch_hint(path)}")
    raise CheckpointMismatch("\n".join(lines))


def _has_nonpersistent_buffers(module: nn.Module) -> bool:
    return any(m._non_persistent_buffers_set for m in module.modules())


def _build(factory: Callable[[], nn.Module], what: str, path: Path | None, seed: int,
           remap: Callable[[Mapping[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None) -> nn.Module:
    """Build on the meta device (no throw-away initialisation), then fill from ``path`` or seeded noise."""
    with torch.device("meta"):
        net = factory()
    if _has_nonpersistent_buffers(net):  # those would stay on meta: build for real
        net = factory()
    if path is None:
        net = net.to_empty(device="cpu")
        randomize_(net, seed)
    else:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: {what} weight file not found")
        try:
            sd = unwrap_state_dict(_torch_load(path))
        except WeightFileError as exc:
            raise CheckpointMismatch(f"{path}: cannot read it as a {what} weight file: {exc.problem}\n"
                                     f"    fix: {refetch_hint(path)}") from None
        except Exception as exc:  # noqa: BLE001 (any unreadable file gets the same clear message)
            raise CheckpointMismatch(f"{path}: cannot read it as a {what} weight file: {exc}\n"
                                     f"    fix: {refetch_hint(path)}") from None
        if remap is not None:
            sd = remap(sd)
        _check_keys(path, what, net.state_dict(), sd)
        net.load_state_dict(sd, strict=True, assign=True)
        net.float()
    for name, t in [*net.named_parameters(), *net.named_buffers()]:
        if t.is_meta:
            raise RuntimeError(f"{what}: {name} was not materialised")
    return net.eval().requires_grad_(False)


def build_midas(kind: str, path: Path | None, seed: int = 0) -> nn.Module:
    """MiDaS network ``kind`` (``MIDAS_KINDS``), from ``path`` or random (``seed``)."""
    if kind not in MIDAS_KINDS:
        raise ValueError(f"unknown MiDaS kind {kind!r}; one of {', '.join(MIDAS_KINDS)}")
    return _build(lambda: create_midas(kind), f"MiDaS {kind}", path, seed)


def build_depth_anything(kind: str, path: Path | None, seed: int = 0) -> nn.Module:
    """Depth Anything V2 ``kind`` (``DEPTH_ANYTHING_KINDS``), from ``path`` (the official file) or random."""
    if kind not in DEPTH_ANYTHING_KINDS:
        raise ValueError(f"unknown Depth Anything V2 kind {kind!r}; one of {', '.join(DEPTH_ANYTHING_KINDS)}")
    return _build(lambda: DepthAnythingV2(kind), f"Depth Anything V2 {kind.rsplit('_', 1)[1]}", path, seed)


def build_adabins(path: Path | None, seed: int = 0) -> nn.Module:
    """AdaBins NYU (``UnetAdaptiveBins``, 256 bins, 1e-3..10 m), from ``path`` or random (``seed``)."""
    return _build(_adabins.UnetAdaptiveBins, "AdaBins NYU", path, seed, remap=remap_adabins_keys)


# ---------------------------------------------------------------------------------------------------------------
# Estimators


def _dtype(precision: str) -> torch.dtype:
    if precision not in PRECISIONS:
        raise ValueError(f"depth precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return PRECISIONS[precision]


def _prepare(net: nn.Module, device: torch.device, dtype: torch.dtype) -> nn.Module:
    """Frozen, in eval mode, on ``device`` in ``dtype`` (converted once), channels-last: oneDNN's convolutions
    are 1.2-1.8x faster in NHWC on CPU (DPT-Hybrid, AdaBins, fp32 and bf16; DD uses channels-last on CUDA)."""
    net = net.eval().requires_grad_(False).to(device=device, dtype=dtype)
    return net.to(memory_format=torch.channels_last)


def _check_image(image: torch.Tensor) -> None:
    if image.ndim != 4 or image.shape[0] != 1 or image.shape[1] != 3:
        raise ValueError(f"depth estimators take a (1,3,H,W) image, got shape {tuple(image.shape)}")


class MidasDepth:
    """``(1,3,H,W)`` in [0,1] -> ``(1,1,H,W)`` float32 depth, DD's MiDaS path (module docstring)."""

    def __init__(self, net: nn.Module, kind: str, device: torch.device | str, precision: str = "fp32", *,
                 metric: bool = False):
        if kind not in MIDAS_INPUT:
            raise ValueError(f"unknown MiDaS kind {kind!r}; one of {', '.join(MIDAS_KINDS)}")
        self.kind, self.device, self.dtype = kind, torch.device(device), _dtype(precision)
        self.metric = metric  # DPT's metric conversion (the NYU finetune) instead of DD's
        self.net = _prepare(net, self.device, self.dtype)
        spec = MIDAS_INPUT[kind]
        self.mean = torch.tensor(spec.mean, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(spec.std, device=self.device).view(1, 3, 1, 1)

    @torch.inference_mode()
    def disparity(self, image: torch.Tensor) -> torch.Tensor:
        """MiDaS' relative inverse depth ``(1,1,H,W)`` float32, upsampled to the image (before DD's conversion)."""
        _check_image(image)
        h, w = image.shape[-2:]
        size = midas_input_size(h, w, self.kind)
        x = image.to(self.device, torch.float32)
        if size != (h, w):
            x = F.interpolate(x, size=size, mode="bicubic", align_corners=False)
        x = ((x - self.mean) / self.std).to(self.dtype).contiguous(memory_format=torch.channels_last)
        disp = self.net(x).float().unsqueeze(1)
        return F.interpolate(disp, size=(h, w), mode="bicubic", align_corners=False)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        disp = self.disparity(image)
        if self.metric:
            depth = 1.0 / (NYU_SCALE * disp.clamp_min(0) + NYU_SHIFT)
        else:
            depth = (DD_DISPARITY_OFFSET - disp) / DD_DISPARITY_SCALE
        return depth.clamp_min(MIN_MIDAS_DEPTH).to(image.device)


def normalized_disparity_to_depth(disparity: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Depth Anything's relative inverse depth as depth (module docstring): normalised by the 2nd and 98th
    percentiles of ``reference`` (the network-resolution map), then ``1/depth`` linear in it between FAR and NEAR."""
    lo, hi = torch.quantile(reference.flatten().float(), torch.tensor(DEPTH_ANYTHING_QUANTILES,
                                                                       device=reference.device)).tolist()
    n = ((disparity - lo) / (hi - lo)).clamp_min(0) if hi > lo else torch.zeros_like(disparity)
    far, near = 1.0 / DEPTH_ANYTHING_FAR, 1.0 / DEPTH_ANYTHING_NEAR
    return 1.0 / (far + n * (near - far))


class DepthAnythingDepth:
    """``(1,3,H,W)`` in [0,1] -> ``(1,1,H,W)`` float32 depth from Depth Anything V2 (module docstring)."""

    def __init__(self, net: nn.Module, device: torch.device | str, precision: str = "fp32"):
        self.device, self.dtype = torch.device(device), _dtype(precision)
        self.net = _prepare(net, self.device, self.dtype)
        self.mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)

    @torch.inference_mode()
    def disparity(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The network's relative inverse depth at its own resolution ``(1,h,w)``, and upsampled to the image."""
        _check_image(image)
        h, w = image.shape[-2:]
        x = F.interpolate(image.to(self.device, torch.float32), size=depth_anything_input_size(h, w),
                          mode="bicubic", align_corners=False)
        x = ((x - self.mean) / self.std).to(self.dtype).contiguous(memory_format=torch.channels_last)
        disp = self.net(x).float()
        return disp, F.interpolate(disp.unsqueeze(1), size=(h, w), mode="bilinear", align_corners=True)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        net_disp, disp = self.disparity(image)
        return normalized_disparity_to_depth(disp, net_disp).clamp_min(MIN_MIDAS_DEPTH).to(image.device)


def relative_depth(kind: str, path: Path | None, device: torch.device | str, precision: str = "fp32", *,
                   nyu_metric: bool = True) -> Callable[[torch.Tensor], torch.Tensor]:
    """The estimator of a MiDaS or Depth Anything V2 ``kind`` with its network loaded from ``path`` (None: seeded
    random weights); ``nyu_metric``: ``dpt_hybrid_nyu`` in metres (``MidasDepth``'s ``metric``)."""
    if kind in DEPTH_ANYTHING_KINDS:
        return DepthAnythingDepth(build_depth_anything(kind, path), device, precision)
    return MidasDepth(build_midas(kind, path), kind, device, precision, metric=nyu_metric and kind == "dpt_hybrid_nyu")


def _pil_resize(image: torch.Tensor, size: tuple[int, int], shrink: bool) -> torch.Tensor:
    """PIL's LANCZOS (shrink) or BICUBIC (grow) resize of a ``(1,3,h,w)`` float image, channel by channel in
    float ("F" mode: no 8-bit rounding), as DD resizes AdaBins' input."""
    from PIL import Image

    method = Image.LANCZOS if shrink else Image.BICUBIC
    h, w = size
    planes = image[0].detach().float().cpu().numpy()
    out = [np.asarray(Image.fromarray(p, mode="F").resize((w, h), method)) for p in planes]
    return torch.from_numpy(np.stack(out)).unsqueeze(0).to(image.device)


class AdabinsDepth:
    """``(1,3,H,W)`` in [0,1] -> ``(1,1,H,W)`` float32 metric depth, DD's AdaBins path (module docstring)."""

    def __init__(self, net: nn.Module, device: torch.device | str, precision: str = "fp32"):
        self.device, self.dtype = torch.device(device), _dtype(precision)
        self.net = _prepare(net, self.device, self.dtype)

    @torch.inference_mode()
    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        _check_image(image)
        h, w = image.shape[-2:]
        size = adabins_input_size(h, w)
        x = image.detach().to(self.device, torch.float32)
        if size != (h, w):
            x = _pil_resize(x, size, shrink=size[0] * size[1] < h * w)
        depth = _adabins.predict(self.net, x)
        if size != (h, w):
            depth = F.interpolate(depth, size=(h, w), mode="bicubic", align_corners=False)
        return depth.clamp_min(self.net.min_val).to(image.device)  # bicubic may undershoot the 1e-3 floor


class BlendedDepth:
    """DD's blend: ``weight * midas + (1 - weight) * adabins``."""

    def __init__(self, midas: Callable[[torch.Tensor], torch.Tensor],
                 adabins: Callable[[torch.Tensor], torch.Tensor], weight: float):
        if not 0.0 <= weight <= 1.0:
            raise ValueError(f"midas_weight must be in [0, 1], got {weight}")
        self.midas, self.adabins, self.weight = midas, adabins, float(weight)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return self.weight * self.midas(image) + (1.0 - self.weight) * self.adabins(image)


