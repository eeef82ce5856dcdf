"""AdaBins (``UnetAdaptiveBins``, the NYU model DD blends with MiDaS), laid out like ``AdaBins_nyu.pt``.

Module names follow shariqfarooq123/AdaBins (``models/unet_adaptive_bins.py``, ``models/miniViT.py``,
``models/layers.py``):

- ``encoder.original_model``: EfficientNet-B5 (``tf_efficientnet_b5_ap``; timm's ``tf_efficientnet_b5`` has the
  same architecture and parameter names as the gen-efficientnet model AdaBins loads through torch.hub), with its
  classifier and pooling removed. The decoder takes the outputs of blocks 0, 1, 2 and 4 and of ``conv_head``
  (AdaBins' ``features[4], [5], [6], [8], [11]``; gen-efficientnet's stem activation is a module of its own,
  timm's sits inside ``bn1``, so the features are picked by name here, not by position).
- ``decoder``: ``DecoderBN`` (``conv2``, ``up1..up4`` each ``_net`` = conv, BN, LeakyReLU, conv, BN, LeakyReLU;
  ``conv3``).
- ``adaptive_bins_layer``: ``mViT`` (``patch_transformer`` = ``embedding_convPxP``, ``positional_encodings``,
  ``transformer_encoder`` (4 ``nn.TransformerEncoderLayer(128, 4, 1024)``); ``conv3x3``; ``regressor``).
- ``conv_out``: 1x1 conv to the 256 bins + softmax.

``predict`` is AdaBins' ``InferenceHelper.predict`` for NYU: the mean of the prediction for the image and for its
mirror image (mirrored back), each clipped to [1e-3, 10], upsampled bilinearly (align_corners=True) to the input
size and clipped again.

The transformer sees one token per 16x16 patch of the half-resolution decoder output, and takes the first 128
after the regression token as queries: the input needs at least 129 patches (area >= about 132k pixels) and at
most 500 (the positional table), which is why DD clamps AdaBins' input area to [448^2, 500000].
"""
from __future__ import annotations

import timm
import torch
import torch.nn as nn
import torch.nn.functional as F

N_BINS = 256
MIN_DEPTH = 1e-3
MAX_DEPTH = 10.0
N_QUERIES = 128
PATCH = 16
MAX_PATCHES = 500
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
ENCODER_FEATURES = {"block0": 24, "block1": 40, "block2": 64, "block4": 176, "conv_head": 2048}  # B5 channels


class Encoder(nn.Module):
    """``encoder.original_model``: EfficientNet-B5 returning the five feature maps the decoder uses."""

    def __init__(self):
        super().__init__()
        model = timm.create_model("tf_efficientnet_b5", pretrained=False)
        model.global_pool = nn.Identity()
        model.classifier = nn.Identity()
        self.original_model = model

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        m = self.original_model
        x = m.bn1(m.conv_stem(x))  # timm's bn1 includes the stem activation
        picked = []
        for i, block in enumerate(m.blocks):
            x = block(x)
            if i in (0, 1, 2, 4):
                picked.append(x)
        picked.append(m.conv_head(x))  # before bn2, as AdaBins' features[11]
        return picked


class UpSampleBN(nn.Module):
    def __init__(self, skip_input: int, output_features: int):
        super().__init__()
        self._net = nn.Sequential(
            nn.Conv2d(skip_input, output_features, 3, padding=1), nn.BatchNorm2d(output_features), nn.LeakyReLU(),
            nn.Conv2d(output_features, output_features, 3, padding=1), nn.BatchNorm2d(output_features),
            nn.LeakyReLU())

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=True)
        return self._net(torch.cat([x, skip], dim=1))


class DecoderBN(nn.Module):
    def __init__(self, num_features: int = 2048, num_classes: int = 128, bottleneck_features: int = 2048):
        super().__init__()
        f = num_features
        e = ENCODER_FEATURES
        self.conv2 = nn.Conv2d(bottleneck_features, f, 1, padding=1)  # padding=1 on a 1x1 conv, as in AdaBins
        self.up1 = UpSampleBN(f + e["block4"], f // 2)
        self.up2 = UpSampleBN(f // 2 + e["block2"], f // 4)
        self.up3 = UpSampleBN(f // 4 + e["block1"], f // 8)
        self.up4 = UpSampleBN(f // 8 + e["block0"], f // 16)
        self.conv3 = nn.Conv2d(f // 16, num_classes, 3, padding=1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        block0, block1, block2, block4, head = features
        x = self.conv2(head)
        x = self.up1(x, block4)
        x = self.up2(x, block2)
        x = self.up3(x, block1)
        x = self.up4(x, block0)
        return self.conv3(x)


class PatchTransformerEncoder(nn.Module):
    def __init__(self, in_channels: int, patch_size: int = PATCH, embedding_dim: int = 128, num_heads: int = 4):
        super().__init__()
        layer = nn.TransformerEncoderLayer(embedding_dim, num_heads, dim_feedforward=1024)
        self.transformer_encoder = nn.TransformerEncoder(layer, num_layers=4, enable_nested_tensor=False)
        self.embedding_convPxP = nn.Conv2d(in_channels, embedding_dim, patch_size, stride=patch_size)
        self.positional_encodings = nn.Parameter(torch.rand(MAX_PATCHES, embedding_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        emb = self.embedding_convPxP(x).flatten(2)  # (N, E, S)
        s = emb.shape[2]
        if s > self.positional_encodings.shape[0]:
            raise ValueError(f"AdaBins input too large: {s} patches, at most {self.positional_encodings.shape[0]}")
        emb = emb + self.positional_encodings[:s].T.unsqueeze(0)
        return self.transformer_encoder(emb.permute(2, 0, 1))  # (S, N, E)


class PixelWiseDotProduct(nn.Module):
    """``(N,C,H,W)`` features and ``(N,K,C)`` queries -> ``(N,K,H,W)`` dot products."""

    def forward(self, x: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
        return torch.einsum("nkc,nchw->nkhw", queries, x)


class mViT(nn.Module):  # noqa: N801 (AdaBins' name)
    def __init__(self, in_channels: int, n_query_channels: int = N_QUERIES, patch_size: int = PATCH,
                 dim_out: int = N_BINS, embedding_dim: int = 128, num_heads: int = 4):
        super().__init__()
        self.n_query_channels = n_query_channels
        self.patch_transformer = PatchTransformerEncoder(in_channels, patch_size, embedding_dim, num_heads)
        self.dot_product_layer = PixelWiseDotProduct()
        self.conv3x3 = nn.Conv2d(in_channels, embedding_dim, 3, padding=1)
        self.regressor = nn.Sequential(nn.Linear(embedding_dim, 256), nn.LeakyReLU(), nn.Linear(256, 256),
                                       nn.LeakyReLU(), nn.Linear(256, dim_out))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tgt = self.patch_transformer(x)
        if tgt.shape[0] < self.n_query_channels + 1:
            raise ValueError(f"AdaBins input too small: {tgt.shape[0]} patches of {PATCH}x{PATCH} on the "
                             f"half-resolution features, needs at least {self.n_query_channels + 1}")
        x = self.conv3x3(x)
        head, queries = tgt[0], tgt[1:self.n_query_channels + 1].permute(1, 0, 2)
        maps = self.dot_product_layer(x, queries)
        y = torch.relu(self.regressor(head)) + 0.1  # norm='linear'
        return y / y.sum(dim=1, keepdim=True), maps


class UnetAdaptiveBins(nn.Module):
    """``UnetAdaptiveBins.build(n_bins=256, min_val=1e-3, max_val=10)``: ``forward`` gives ``(bin_edges, pred)``,
    ``pred`` ``(N,1,H/2,W/2)`` metric depth in metres (NYU)."""

    def __init__(self, n_bins: int = N_BINS, min_val: float = MIN_DEPTH, max_val: float = MAX_DEPTH):
        super().__init__()
        self.num_classes, self.min_val, self.max_val = n_bins, min_val, max_val
        self.encoder = Encoder()
        self.adaptive_bins_layer = mViT(128, n_query_channels=N_QUERIES, patch_size=PATCH, dim_out=n_bins,
                                        embedding_dim=128)
        self.decoder = DecoderBN(num_classes=128)
        self.conv_out = nn.Sequential(nn.Conv2d(128, n_bins, 1), nn.Softmax(dim=1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        unet_out = self.decoder(self.encoder(x))
        widths_normed, maps = self.adaptive_bins_layer(unet_out)
        probs = self.conv_out(maps)
        widths = F.pad((self.max_val - self.min_val) * widths_normed, (1, 0), value=self.min_val)
        edges = torch.cumsum(widths, dim=1)
        centers = 0.5 * (edges[:, :-1] + edges[:, 1:])
        pred = (probs * centers[:, :, None, None]).sum(dim=1, keepdim=True)
        return edges, pred


@torch.inference_mode()
def predict(net: UnetAdaptiveBins, image: torch.Tensor) -> torch.Tensor:
    """AdaBins' ``InferenceHelper.predict`` (NYU): ``(1,3,h,w)`` RGB in [0,1] -> ``(1,1,h,w)`` float32 metres.

    The net's parameters set the dtype the network runs in; the input is normalised in float32 first.
    """
    dtype = next(net.parameters()).dtype
    mean = torch.tensor(IMAGENET_MEAN, device=image.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=image.device).view(1, 3, 1, 1)
    x = ((image.float() - mean) / std).to(dtype).contiguous(memory_format=torch.channels_last)
    lo, hi = net.min_val, net.max_val
    pred = net(x)[1].float().clamp(lo, hi)
    pred_flip = net(x.flip(-1))[1].float().flip(-1).clamp(lo, hi)
    final = F.interpolate(0.5 * (pred + pred_flip), size=image.shape[-2:], mode="bilinear", align_corners=True)
    return final.clamp(lo, hi)
