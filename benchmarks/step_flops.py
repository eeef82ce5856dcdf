"""The FLOPs of DD's guided step, part by part, for the reference code (guided-diffusion + DD's cond_fn) and ours.

A step at DD's defaults: the 512x512 UNet's forward at the frame size, the secondary model forward and backward at
the frame size, per CLIP model (ViT-B/32, ViT-B/16, RN50) ``cutn_batches x cutouts`` = 4 x 16 cutouts at 224x224
forward and backward (the gradient w.r.t. the input only: frozen weights), and in an animation frame LPIPS-VGG16
(``frames_scale``) forward and backward at the frame size, which DD runs on both images every step and ours on the
frame only (the init's features are made once a frame). Each part is counted on the code that runs it
(``benchmarks/flops.py``: fake tensors, cached), so ours and the reference can differ (ours computes the up-sampling
convolutions of the UNet's forward as sub-pixel convolutions: fewer multiply-adds).
"""
from __future__ import annotations

import warnings

import torch
from torch._subclasses.fake_tensor import unset_fake_temporarily

from benchmarks.flops import Work, cached_count, code_digest, on_meta

UNET = "512x512_diffusion_uncond_finetune_008100"
CLIPS = ("ViT-B-32", "ViT-B-16", "RN50")  # DD's defaults, in OpenAI's architectures (QuickGELU)
CUTOUTS, BATCHES = 16, 4  # 12 overviews + 4 inner crops early, 4 + 12 late: 16 either way; cutn_batches 4
DD_FRAME = (768, 1280)  # DD's default frame, height x width
GUIDED_STEPS = 100  # a DD animation frame: 250 steps, frames_skip_steps 60%


def _reference_unet_modules():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import guided_diffusion.unet
        from guided_diffusion.script_util import create_model
    return guided_diffusion.unet, create_model


def unet_forward(impl: str, h: int, w: int) -> int:
    """The UNet's forward without autograd (the sampler's call), batch 1."""
    from render.diffusion import unet as ours
    from render.diffusion.unet import UNET_CONFIGS, UNetModel

    cfg = UNET_CONFIGS[UNET]
    if impl == "ours":
        digest = code_digest(ours)
        build = lambda: UNetModel(cfg, precision="fp32", channels_last=True, use_checkpoint=True)  # noqa: E731
    else:
        module, create_model = _reference_unet_modules()
        digest = code_digest(module)
        build = lambda: create_model(  # noqa: E731
            cfg.image_size, cfg.model_channels, cfg.num_res_blocks, learn_sigma=True,
            attention_resolutions="32,16,8", num_head_channels=cfg.num_head_channels, resblock_updown=True,
            use_scale_shift_norm=True, use_checkpoint=True)

    def prepare():
        model, x, t = on_meta(build), torch.randn(1, 3, h, w), torch.tensor([500.0])
        return lambda: _no_grad(model, x, t)

    return cached_count(f"unet forward {impl} {UNET} {h}x{w} {digest}", prepare)


@torch.no_grad()
def _no_grad(model, *args):
    return model(*args)


def secondary_forward_backward(h: int, w: int) -> int:
    """DD's secondary model forward and the input gradient, batch 1 (the same module on both sides)."""
    from render.diffusion import secondary
    from render.diffusion.secondary import SecondaryDiffusionImageNet2

    def prepare():
        model, x = on_meta(SecondaryDiffusionImageNet2), torch.randn(1, 3, h, w, requires_grad=True)
        return lambda: model(x, torch.tensor([0.5])).pred.sum().backward()

    return cached_count(f"secondary forward+backward {h}x{w} {code_digest(secondary)}", prepare)


def clip_forward_backward(arch: str, impl: str, cutouts: int) -> int:
    """One CLIP image tower forward and the input gradient over ``cutouts`` 224x224 cutouts: open_clip's forward
    (the reference, as DD's clip package) or ours (``fast_clip``)."""
    import open_clip

    from render.guidance import fast_clip

    def prepare():
        model = on_meta(lambda: open_clip.create_model(f"{arch}-quickgelu", device="meta", precision="fp32"))
        with unset_fake_temporarily():  # re-stores parameters: real tensors, as the model's
            encode = fast_clip.set_vision_precision(model.visual, "fp32") if impl == "ours" else model.visual
        size = model.visual.image_size
        side = int(size[0] if isinstance(size, (tuple, list)) else size)
        x = torch.randn(cutouts, 3, side, side, requires_grad=True)
        return lambda: encode(x).float().sum().backward()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cached_count(f"clip forward+backward {arch} {impl} x{cutouts} {code_digest(fast_clip)}", prepare)


def lpips_forward_backward(h: int, w: int, init_cached: bool) -> int:
    """LPIPS-VGG16 of the frame against a fixed image and the frame's gradient: both images through VGG (DD) or the
    frame only, the fixed image's features made beforehand, once a frame (``LpipsToImage``)."""
    import lpips

    from render.guidance import lpips_loss

    def prepare():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = on_meta(lambda: lpips.LPIPS(net="vgg", pretrained=False, pnet_rand=True, verbose=False))
        x, init = torch.randn(1, 3, h, w, requires_grad=True), torch.randn(1, 3, h, w)
        distance = lpips_loss.LpipsToImage(model, init) if init_cached else lambda y: model(y, init)
        return lambda: distance(x).sum().backward()

    key = f"lpips forward+backward {h}x{w} {'init cached' if init_cached else 'both images'} {code_digest(lpips_loss)}"
    return cached_count(key, prepare)


def step_work(impl: str, h: int, w: int, *, unet_precision: str = "fp32", clip_precisions: dict | None = None,
              cutouts: int = CUTOUTS, batches: int = BATCHES, lpips: bool = False) -> list[Work]:
    """The parts of one guided step at ``h x w`` with their precisions: what ``bench_step`` times (``lpips=False``:
    the first step of frame 0 has no init), and with ``lpips=True`` a step of an animation frame."""
    clip_precisions = clip_precisions or {}
    work = [Work("UNet forward", unet_forward(impl, h, w), unet_precision),
            Work("secondary fwd+bwd", secondary_forward_backward(h, w), "fp32")]
    for arch in CLIPS:
        flops = clip_forward_backward(arch, impl, cutouts) * batches
        work.append(Work(f"{arch} fwd+bwd ({batches}x{cutouts} cutouts)", flops, clip_precisions.get(arch, "fp32")))
    if lpips:
        work.append(Work("LPIPS-VGG16 fwd+bwd", lpips_forward_backward(h, w, init_cached=impl == "ours"), "fp32"))
    return work


def dd_frame_work(impl: str, **precisions) -> list[Work]:
    """One guided step of a DD-default animation frame (1280x768, LPIPS on): a frame is ``GUIDED_STEPS`` of them."""
    return step_work(impl, *DD_FRAME, lpips=True, **precisions)
