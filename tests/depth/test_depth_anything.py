"""Depth Anything V2: the official checkpoints' layout, strict loads from files saved here, the official pre- and
post-processing, the conversion of its relative inverse depth into the renderer's depth, and a 3D run with it.

Key names and shapes are those of DepthAnything/Depth-Anything-V2 (``depth_anything_v2/dpt.py``, ``dinov2.py``:
``DepthAnythingV2(encoder, features, out_channels)`` with its model_configs) and of the key table in transformers'
conversion script for these files; the parameter counts are the ones its README gives (24.8M, 97.5M, 335.3M).
"""
from __future__ import annotations

import dataclasses
import hashlib
import math

import cv2
import numpy as np
import pytest
import torch
import torch.nn as nn

from depth import estimators as est
from depth.depth_anything import DepthAnythingV2, dinov2_pos_embed
from depth.estimators import CheckpointMismatch, DepthAnythingDepth, build_depth_anything, depth_anything_input_size
from render.models import registry

torch.set_num_threads(2)

SIZES = {  # kind -> (ViT width, blocks, features, out_channels, state-dict entries, millions of parameters)
    "depth_anything_v2_small": (384, 12, 64, (48, 96, 192, 384), 239, 24.8),
    "depth_anything_v2_base": (768, 12, 128, (96, 192, 384, 768), 239, 97.5),
    "depth_anything_v2_large": (1024, 24, 256, (256, 512, 1024, 1024), 407, 335.3),
}
SLOW_SIZES = [pytest.param(k, marks=pytest.mark.slow) if k != "depth_anything_v2_small" else k for k in SIZES]


def _rand_image(h: int, w: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("kind", list(SIZES))
def test_state_dict_is_the_official_layout(kind):
    width, blocks, features, oc, entries, millions = SIZES[kind]
    with torch.device("meta"):
        sd = DepthAnythingV2(kind).state_dict()
    assert len(sd) == entries
    assert round(sum(v.numel() for v in sd.values()) / 1e6, 1) == millions
    expected = {
        "pretrained.cls_token": (1, 1, width), "pretrained.mask_token": (1, width),
        "pretrained.pos_embed": (1, 1 + 37 * 37, width), "pretrained.patch_embed.proj.weight": (width, 3, 14, 14),
        "pretrained.blocks.0.attn.qkv.weight": (3 * width, width), "pretrained.blocks.0.ls1.gamma": (width,),
        f"pretrained.blocks.{blocks - 1}.mlp.fc1.weight": (4 * width, width),
        f"pretrained.blocks.{blocks - 1}.ls2.gamma": (width,), "pretrained.norm.bias": (width,),
        "depth_head.projects.0.weight": (oc[0], width, 1, 1), "depth_head.projects.3.bias": (oc[3],),
        "depth_head.resize_layers.0.weight": (oc[0], oc[0], 4, 4),
        "depth_head.resize_layers.1.weight": (oc[1], oc[1], 2, 2),
        "depth_head.resize_layers.3.weight": (oc[3], oc[3], 3, 3),
        "depth_head.scratch.layer1_rn.weight": (features, oc[0], 3, 3),
        "depth_head.scratch.layer4_rn.weight": (features, oc[3], 3, 3),
        "depth_head.scratch.refinenet1.out_conv.weight": (features, features, 1, 1),
        "depth_head.scratch.refinenet4.resConfUnit1.conv2.bias": (features,),
        "depth_head.scratch.output_conv1.weight": (features // 2, features, 3, 3),
        "depth_head.scratch.output_conv2.0.weight": (32, features // 2, 3, 3),
        "depth_head.scratch.output_conv2.2.weight": (1, 32, 1, 1),
    }
    for key, shape in expected.items():
        assert tuple(sd[key].shape) == shape, key
    assert all(k.startswith(("pretrained.", "depth_head.")) for k in sd)
    absent = ["depth_head.readout_projects.0.0.weight", "depth_head.resize_layers.2.weight", "pretrained.head.weight",
              "pretrained.register_tokens", "depth_head.scratch.layer1_rn.bias", "pretrained.fc_norm.weight"]
    assert not [k for k in absent if k in sd]


@pytest.mark.parametrize("kind", SLOW_SIZES)
def test_each_preset_loads_strictly_from_a_file_saved_here(kind, tmp_path):
    src = build_depth_anything(kind, None, seed=1)
    path = tmp_path / registry.lookup(kind).filename
    torch.save(src.state_dict(), path)  # the official files are bare state dicts
    loaded = build_depth_anything(kind, path)
    assert all(torch.equal(a, b) for a, b in zip(src.state_dict().values(), loaded.state_dict().values()))
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    x = (_rand_image(28, 42) - 0.45) / 0.225
    with torch.inference_mode():
        a, b = src(x), loaded(x)
    assert a.shape == (1, 28, 42) and (a >= 0).all() and a.std() > 0  # ReLU'd relative inverse depth
    assert torch.equal(a, b)


def test_a_file_of_another_size_or_family_is_refused_naming_what_it_is(tmp_path):
    small = build_depth_anything("depth_anything_v2_small", None)
    path = tmp_path / "depth_anything_v2_vitb.pth"
    torch.save(small.state_dict(), path)
    with pytest.raises(CheckpointMismatch) as info:
        build_depth_anything("depth_anything_v2_base", path)
    message = str(info.value)
    assert str(path) in message and "not a Depth Anything V2 base weight file" in message
    assert "it looks like a depth_anything_v2_small file" in message and "fix:" in message
    sd = small.state_dict()
    sd["pretrained.blocks.0.ls1.weight"] = sd.pop("pretrained.blocks.0.ls1.gamma")  # a renamed key: both named
    torch.save(sd, path)
    with pytest.raises(CheckpointMismatch, match=r"(?s)1 missing, 1 unexpected.*pretrained\.blocks\.0\.ls1\.gamma"):
        build_depth_anything("depth_anything_v2_small", path)
    with pytest.raises(ValueError, match="unknown Depth Anything V2 kind"):
        build_depth_anything("depth_anything_v2_giant", None)


@pytest.mark.parametrize("hw, expected", [
    ((768, 1280), (518, 868)),  # 1280 * 518/768 = 863.3 -> 62 patches
    ((518, 518), (518, 518)),
    ((480, 640), (518, 686)),  # 690.7 -> 49 patches
    ((1280, 720), (924, 518)),  # portrait: 920.9 -> 66 patches
    ((64, 128), (518, 1036)),  # small frames grow: the short side is a lower bound
    ((10, 10), (518, 518)),
    ((1000, 519), (994, 518)),  # 998.1 -> 71.3 patches -> 71
])
def test_input_size_is_the_official_lower_bound_resize(hw, expected):
    assert depth_anything_input_size(*hw) == expected
    assert all(s % 14 == 0 and s >= 518 for s in expected)


def _bicubic_reference(grid: np.ndarray, scale: tuple[float, float]) -> np.ndarray:
    """PyTorch's bicubic resize with a given ``scale_factor`` written out (align_corners=False, A = -0.75, edges
    clamped): output pixel ``i`` samples the input at ``(i + 0.5) / scale - 0.5``, the output has ``floor(n *
    scale)`` pixels. (C, H, W) float64."""
    def weights(t):
        a = -0.75
        t = abs(t)
        if t <= 1:
            return (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1
        return a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a if t < 2 else 0.0

    def matrix(n_in, s):
        n_out = math.floor(n_in * s)
        m = np.zeros((n_out, n_in))
        for i in range(n_out):
            x = (i + 0.5) / s - 0.5
            x0 = math.floor(x)
            for k in range(x0 - 1, x0 + 3):
                m[i, min(max(k, 0), n_in - 1)] += weights(x - k)
        return m

    rows, cols = matrix(grid.shape[1], scale[0]), matrix(grid.shape[2], scale[1])
    return np.einsum("ij,cjk,lk->cil", rows, grid, cols)


def test_position_table_is_resized_as_dinov2_does_with_its_offset():
    pos = torch.randn(1, 1 + 37 * 37, 6, generator=torch.Generator().manual_seed(0))
    assert dinov2_pos_embed(pos, (518, 518)) is pos  # DINOv2 keeps it only for a square 518 input
    for hw in [(14 * 10, 14 * 13), (518, 868), (518, 532)]:  # 518x532: 37x38 patches
        out = dinov2_pos_embed(pos, hw)
        gh, gw = hw[0] // 14, hw[1] // 14
        assert out.shape == (1, 1 + gh * gw, 6)
        assert torch.equal(out[:, 0], pos[:, 0])
        grid = pos[0, 1:].reshape(37, 37, 6).permute(2, 0, 1).double().numpy()
        ref = _bicubic_reference(grid, ((gh + 0.1) / 37, (gw + 0.1) / 37))
        np.testing.assert_allclose(out[0, 1:].reshape(gh, gw, 6).permute(2, 0, 1).numpy(), ref, atol=2e-5)
    plain = torch.nn.functional.interpolate(pos[:, 1:].reshape(1, 37, 37, 6).permute(0, 3, 1, 2), size=(10, 13),
                                            mode="bicubic")
    assert not torch.allclose(dinov2_pos_embed(pos, (140, 182))[0, 1:], plain.permute(0, 2, 3, 1).reshape(130, 6),
                              atol=1e-3)  # the offset changes the sampling: a plain resize is not DINOv2's


class _Recording(nn.Module):
    """A stand-in network: records its input and returns a known disparity (a horizontal ramp, 0 to 10)."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))  # something for .to() to move
        self.seen = None

    def forward(self, x):
        self.seen = x.detach().clone()
        ramp = torch.linspace(0, 10, x.shape[-1]).expand(x.shape[0], x.shape[-2], -1)
        return self.scale * ramp


def test_preprocessing_is_image2tensor_and_the_output_is_upsampled_as_infer_image_does():
    image = _rand_image(96, 160, seed=4)
    net = _Recording()
    estimator = DepthAnythingDepth(net, "cpu", "fp32")
    net_disp, disp = estimator.disparity(image)
    assert net.seen.shape == (1, 3, 518, 868)
    # the official resize: cv2.INTER_CUBIC on the float image, then ImageNet's mean and std
    ref = cv2.resize(image[0].permute(1, 2, 0).double().numpy(), (868, 518), interpolation=cv2.INTER_CUBIC)
    ref = (ref - np.array(est.IMAGENET_MEAN)) / np.array(est.IMAGENET_STD)
    np.testing.assert_allclose(net.seen[0].permute(1, 2, 0).numpy(), ref, atol=2e-4)
    assert net_disp.shape == (1, 518, 868) and disp.shape == (1, 1, 96, 160)
    # bilinear with align_corners=True keeps both ends of the ramp exactly
    assert disp[0, 0, :, 0].abs().max() < 1e-6 and torch.allclose(disp[0, 0, :, -1], torch.tensor(10.0))


def test_disparity_becomes_depth_between_near_and_far_whatever_its_scale_and_shift():
    disp = torch.linspace(0, 1, 101).reshape(1, 1, 1, 101) ** 2 * 7.0
    depth = est.normalized_disparity_to_depth(disp, disp[0])
    assert (depth[..., 1:] <= depth[..., :-1]).all()  # larger disparity is nearer
    lo, hi = torch.quantile(disp.flatten(), torch.tensor([0.02, 0.98]))
    n = ((disp - lo) / (hi - lo)).clamp_min(0)
    inverse = 1 / depth
    # inverse depth is affine in the normalised disparity: FAR at the 2nd percentile, NEAR at the 98th
    np.testing.assert_allclose(inverse, 19 / 50 + n * (1 / 0.5 - 19 / 50), rtol=1e-6)
    assert depth.max().item() == pytest.approx(50 / 19) and depth.min().item() < 0.5
    for a, b in [(3.0, 2.0), (0.2, 5.0)]:  # Depth Anything's output is affine-invariant: so is the depth
        torch.testing.assert_close(est.normalized_disparity_to_depth(a * disp + b, (a * disp + b)[0]), depth,
                                   rtol=1e-4, atol=1e-5)
    flat = torch.full((1, 1, 4, 4), 3.0)
    assert torch.equal(est.normalized_disparity_to_depth(flat, flat[0]), torch.full_like(flat, 50 / 19))


def test_the_estimator_returns_positive_float32_depth_at_the_frame_size():
    net = build_depth_anything("depth_anything_v2_small", None, seed=2)
    depth = DepthAnythingDepth(net, "cpu", "fp32")(_rand_image(40, 56, seed=1))
    assert depth.shape == (1, 1, 40, 56) and depth.dtype == torch.float32
    assert (depth >= est.MIN_MIDAS_DEPTH).all() and (depth <= 50 / 19 + 1e-5).all() and depth.std() > 0
    with pytest.raises(ValueError, match=r"\(1,3,H,W\)"):
        DepthAnythingDepth(net, "cpu", "fp32")(torch.zeros(1, 1, 40, 56))


@pytest.mark.slow
def test_depth_anything_small_renders_a_3d_run(compose_config, tmp_path, monkeypatch):
    from render.app import render_animation

    models = tmp_path / "models"
    models.mkdir()
    file = registry.lookup("depth_anything_v2_small")
    path = models / file.filename
    torch.save(build_depth_anything(file.key, None, seed=3).state_dict(), path)
    data = path.read_bytes()  # the registry describes the official file: make it describe this one
    monkeypatch.setitem(registry.REGISTRY, file.key, dataclasses.replace(
        file, sha256=hashlib.sha256(data).hexdigest(), size=len(data)))
    cfg = compose_config("animation=3d_zoom", "depth=depth_anything_v2_small", "generator=preview", "width=128",
                         "height=64", "seed=3", "animation.max_frames=3", "output.preset=ultrafast",
                         f"model.models_dir={models}", "depth.save_depth_maps=true", "animation.rotation_3d_y=1.5")
    result = render_animation(cfg, tmp_path / "run", progress=False)
    assert result.frames == [0, 1, 2] and result.video is not None
    depth = cv2.imread(str(tmp_path / "run" / "depth" / "00002.png"), cv2.IMREAD_UNCHANGED)
    assert depth.dtype == np.uint16 and depth.shape == (64, 128) and depth.std() > 0
    assert depth.max() <= round(50 / 19 * 6553.5) + 1  # in MiDaS' depth range
    import json

    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["segments"][0]["model_files"][file.key]["sha256"] == hashlib.sha256(data).hexdigest()
