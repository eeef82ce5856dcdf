"""MiDaS v2.1 large (``MidasNet``) and AdaBins forward passes against references written here.

No library outside this project implements either network, so each reference is written below from its paper and the
authors' code, as plain functions of the state dict (``F.conv2d`` and friends; nothing of ``depth.midas`` or
``depth.adabins`` is called), with the encoders taken from the implementations the authors load:

- MidasNet (Ranftl et al., "Towards Robust Monocular Depth Estimation", 2020; isl-org/MiDaS ``midas_net.py``,
  ``blocks.py``): the encoder is torchvision's ``resnext101_32x8d`` (the network WSL-Images' torch.hub entry builds),
  its stage outputs taken with torchvision's feature extractor; the decoder is four RefineNet fusion blocks of
  residual convolution units (whose in-place ReLU makes the skip ``relu(x)``) and the head.
- AdaBins (Bhat et al., "AdaBins: Depth Estimation using Adaptive Bins", 2021; shariqfarooq123/AdaBins
  ``unet_adaptive_bins.py``, ``miniViT.py``, ``layers.py``): the encoder is timm's ``tf_efficientnet_b5`` (the
  successor of the gen-efficientnet model AdaBins loads) walked as AdaBins' ``Encoder`` walks gen-efficientnet's
  modules, picking ``features[4, 5, 6, 8, 11]``; the decoder, the mini-ViT (PyTorch's own transformer encoder layer)
  and the bins (centres of ``min_depth + cumsum(widths)``, prediction ``sum(softmax * centres)``) are the paper's.

Outputs agree within fp32 rounding (relative L2 <= 1e-5).
"""
from __future__ import annotations

import pytest
import timm
import torch
import torch.nn as nn
import torch.nn.functional as F
from depth_reference import TOLERANCE, random_image, rel_l2

from depth import adabins as ab
from depth.estimators import build_adabins, build_midas

torch.set_num_threads(2)


def _conv(sd: dict, name: str, x: torch.Tensor, **kw) -> torch.Tensor:
    return F.conv2d(x, sd[f"{name}.weight"], sd.get(f"{name}.bias"), **kw)


# ---------------------------------------------------------------------------------------------------------------
# MidasNet (MiDaS v2.1 large)


def _resnext_encoder(sd: dict) -> nn.Module:
    """torchvision's ResNeXt-101 32x8d with MidasNet's encoder weights, returning layer1..layer4."""
    from torchvision.models import resnext101_32x8d
    from torchvision.models.feature_extraction import create_feature_extractor

    names = {"pretrained.layer1.0.": "conv1.", "pretrained.layer1.1.": "bn1.", "pretrained.layer1.4.": "layer1."}
    weights = {}
    for key, value in sd.items():
        for old, new in [*names.items(), *[(f"pretrained.layer{i}.", f"layer{i}.") for i in (2, 3, 4)]]:
            if key.startswith(old):
                weights[new + key[len(old):]] = value
    net = resnext101_32x8d(weights=None)
    missing, unexpected = net.load_state_dict(weights, strict=False)
    assert sorted(missing) == ["fc.bias", "fc.weight"] and not unexpected  # MidasNet drops the classifier
    return create_feature_extractor(net.eval(), {f"layer{i}": f"layer{i}" for i in (1, 2, 3, 4)})


def midas_v21_reference(sd: dict, x: torch.Tensor) -> torch.Tensor:
    """MidasNet's forward from its definition: encoder, ``layerN_rn``, fusion blocks 4..1, head."""
    feats = _resnext_encoder(sd)(x)
    rn = [_conv(sd, f"scratch.layer{i}_rn", feats[f"layer{i}"], padding=1) for i in (1, 2, 3, 4)]

    def unit(name, t):  # MiDaS' ResidualConvUnit: relu(x) is written into x, so the skip adds relu(x)
        t = F.relu(t)
        return t + _conv(sd, f"{name}.conv2", F.relu(_conv(sd, f"{name}.conv1", t, padding=1)), padding=1)

    def fusion(i, t, skip=None):
        if skip is not None:
            t = t + unit(f"scratch.refinenet{i}.resConfUnit1", skip)
        t = unit(f"scratch.refinenet{i}.resConfUnit2", t)
        return F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=True)

    path = fusion(4, rn[3])
    for i in (3, 2, 1):
        path = fusion(i, path, rn[i - 1])
    out = _conv(sd, "scratch.output_conv.0", path, padding=1)
    out = F.interpolate(out, scale_factor=2, mode="bilinear", align_corners=False)
    out = F.relu(_conv(sd, "scratch.output_conv.2", out, padding=1))
    return F.relu(_conv(sd, "scratch.output_conv.4", out)).squeeze(1)


@pytest.mark.slow
def test_midas_v21_matches_its_definition():
    net = build_midas("midas_v21", None, seed=6)
    sd = net.state_dict()
    x = random_image(64, 96, seed=1)
    with torch.inference_mode():
        got, want = net(x), midas_v21_reference(sd, x)
    assert got.shape == want.shape == (1, 64, 96) and want.std() > 0
    assert rel_l2(got, want) <= TOLERANCE, rel_l2(got, want)


# ---------------------------------------------------------------------------------------------------------------
# AdaBins


def _efficientnet_features(sd: dict, x: torch.Tensor) -> list[torch.Tensor]:
    """AdaBins' ``Encoder``: every module of gen-efficientnet's B5 in order, each output kept; it uses
    ``features[4, 5, 6, 8, 11]`` (blocks 0, 1, 2, 4 and ``conv_head``). gen-efficientnet has the stem activation as a
    module of its own (``act1``); timm's ``bn1`` includes it, so an identity stands in its place."""
    prefix = "encoder.original_model."
    net = timm.create_model("tf_efficientnet_b5", pretrained=False)
    weights = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
    missing, unexpected = net.load_state_dict(weights, strict=False)
    assert sorted(missing) == ["classifier.bias", "classifier.weight"] and not unexpected
    net.eval()
    modules = [net.conv_stem, net.bn1, nn.Identity(), *net.blocks, net.conv_head]
    features = [x]
    for module in modules:
        features.append(module(features[-1]))
    return [features[i] for i in (4, 5, 6, 8, 11)]


def _bn(sd: dict, name: str, x: torch.Tensor) -> torch.Tensor:
    return F.batch_norm(x, sd[f"{name}.running_mean"], sd[f"{name}.running_var"], sd[f"{name}.weight"],
                        sd[f"{name}.bias"], training=False, eps=1e-5)


def _decoder(sd: dict, features: list[torch.Tensor]) -> torch.Tensor:
    """``DecoderBN``: a 1x1 conv (with AdaBins' padding of 1) on the last feature, four up-sampling blocks that
    concatenate the skip and apply (conv, BN, LeakyReLU) twice, a last 3x3 conv to 128 channels."""
    b0, b1, b2, b4, head = features
    x = _conv(sd, "decoder.conv2", head, padding=1)
    for i, skip in zip((1, 2, 3, 4), (b4, b2, b1, b0)):
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=True)
        x = torch.cat([x, skip], dim=1)
        for conv, bn in ((0, 1), (3, 4)):
            x = F.leaky_relu(_bn(sd, f"decoder.up{i}._net.{bn}", _conv(sd, f"decoder.up{i}._net.{conv}", x,
                                                                       padding=1)))
    return _conv(sd, "decoder.conv3", x, padding=1)


def _transformer(sd: dict, tokens: torch.Tensor) -> torch.Tensor:
    """The mini-ViT's four post-norm encoder layers (``nn.TransformerEncoderLayer(128, 4, 1024)``, PyTorch's)."""
    prefix = "adaptive_bins_layer.patch_transformer.transformer_encoder.layers"
    for i in range(4):
        layer = nn.TransformerEncoderLayer(128, 4, 1024).eval()
        layer.load_state_dict({k[len(f"{prefix}.{i}."):]: v for k, v in sd.items() if k.startswith(f"{prefix}.{i}.")})
        tokens = layer(tokens)
    return tokens


def adabins_reference(sd: dict, x: torch.Tensor, min_depth: float = 1e-3, max_depth: float = 10.0):
    """``UnetAdaptiveBins`` from the paper: (bin edges, depth at half resolution)."""
    unet = _decoder(sd, _efficientnet_features(sd, x))
    mvit = "adaptive_bins_layer"
    emb = _conv(sd, f"{mvit}.patch_transformer.embedding_convPxP", unet, stride=16).flatten(2)  # (N, E, S)
    emb = emb + sd[f"{mvit}.patch_transformer.positional_encodings"][: emb.shape[2]].T.unsqueeze(0)
    tgt = _transformer(sd, emb.permute(2, 0, 1))  # (S, N, E)
    regression, queries = tgt[0], tgt[1:129].permute(1, 0, 2)  # the first token, the next 128
    maps = torch.einsum("nkc,nchw->nkhw", queries, _conv(sd, f"{mvit}.conv3x3", unet, padding=1))
    y = regression
    for i in (0, 2, 4):
        y = F.linear(y, sd[f"{mvit}.regressor.{i}.weight"], sd[f"{mvit}.regressor.{i}.bias"])
        y = F.leaky_relu(y) if i < 4 else y
    widths = torch.relu(y) + 0.1
    widths = (max_depth - min_depth) * widths / widths.sum(dim=1, keepdim=True)
    edges = torch.cumsum(F.pad(widths, (1, 0), value=min_depth), dim=1)
    centres = 0.5 * (edges[:, :-1] + edges[:, 1:])
    probs = torch.softmax(_conv(sd, "conv_out.0", maps), dim=1)
    return edges, (probs * centres[:, :, None, None]).sum(dim=1, keepdim=True)


@pytest.mark.slow
def test_adabins_matches_its_definition():
    net = build_adabins(None, seed=6)
    sd = net.state_dict()
    x = random_image(384, 384, seed=2)  # 144 patches on the half-resolution decoder output (AdaBins needs >= 129)
    with torch.inference_mode():
        (edges, got), (want_edges, want) = net(x), adabins_reference(sd, x)
    assert got.shape == want.shape == (1, 1, 192, 192) and want.std() > 0
    assert rel_l2(edges, want_edges) <= TOLERANCE
    assert rel_l2(got, want) <= TOLERANCE, rel_l2(got, want)
    assert edges[0, 0].item() == pytest.approx(ab.MIN_DEPTH) and edges[0, -1].item() == pytest.approx(ab.MAX_DEPTH)
