"""The ``flow`` library: video extraction, flow estimators (DIS, Farneback, RAFT), consistency, warping, cache.

Scenes are synthetic and made here: a smooth random texture translated by a known sub-pixel amount, and a
textured square moving over a static textured background. RAFT runs with random weights (no weight files are
downloaded); the princeton-vl checkpoint layout is rebuilt from torchvision's keys.
"""
from __future__ import annotations

import dataclasses
import hashlib
import re
import wave

import imageio_ffmpeg
import numpy as np
import pytest
import torch
from scipy import ndimage

from flow import (
    SETTING,
    ConsistencyLayers,
    DisFlow,
    FarnebackFlow,
    FlowCache,
    FlowEstimator,
    FlowKey,
    VideoInputError,
    blend_init,
    consistency_layers,
    content_sha256,
    create_estimator,
    default_output_fps,
    extract_frames,
    flow_to_color,
    forward_backward,
    iter_frames,
    probe_video,
    reliability_mask,
    warp_with_flow,
)
from flow import raft as raft_mod
from render.models import registry
from render.models.catalog import FLOW_FILES

H, W = 96, 128
SHIFT = (1.3, -0.7)  # (dx, dy) pixels per frame
MARGIN = 8


# ---------------------------------------------------------------------------------------------------------------
# Synthetic scenes


def texture(h: int, w: int, seed: int, sigma: float = 2.0) -> np.ndarray:
    """Gaussian-filtered noise stretched to [0, 255], float."""
    t = ndimage.gaussian_filter(np.random.default_rng(seed).standard_normal((h, w)), sigma)
    return (t - t.min()) / (t.max() - t.min()) * 255.0


def to_rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(np.clip(np.round(gray), 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def translated_frames(n: int, shift=SHIFT, seed: int = 0) -> list[np.ndarray]:
    """Frames whose content moves by ``shift`` per frame (cubic-spline resampling of a larger texture)."""
    pad = 16 + int(np.ceil(n * max(map(abs, shift))))
    big = texture(H + 2 * pad, W + 2 * pad, seed)
    frames = []
    for k in range(n):
        moved = ndimage.shift(big, (k * shift[1], k * shift[0]), order=3, mode="reflect")
        frames.append(to_rgb(moved[pad:pad + H, pad:pad + W]))
    return frames


def square_scene(x0: int, seed: int = 3, side: int = 32, y0: int = 28):
    """A textured square at (x0, y0) over a static textured background; returns (frame, square mask)."""
    canvas = texture(H, W, 10 + seed)
    canvas[y0:y0 + side, x0:x0 + side] = texture(side, side, 20 + seed)
    mask = np.zeros((H, W), bool)
    mask[y0:y0 + side, x0:x0 + side] = True
    return to_rgb(canvas), mask


def interior(a: np.ndarray) -> np.ndarray:
    return a[MARGIN:-MARGIN, MARGIN:-MARGIN]


def psnr(x: np.ndarray, y: np.ndarray) -> float:
    mse = np.mean((x.astype(np.float64) - y.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / mse))


def epe(flow: np.ndarray, truth) -> np.ndarray:
    return np.sqrt(np.sum((flow - np.asarray(truth, np.float32)) ** 2, axis=-1))


def iou(x: np.ndarray, y: np.ndarray) -> float:
    return float((x & y).sum() / (x | y).sum())


def write_video(path, frames, fps: float = 12.0, audio=None) -> None:
    """Lossless-ish H.264 (crf 0; grey frames so 4:2:0 chroma loses nothing)."""
    h, w = frames[0].shape[:2]
    writer = imageio_ffmpeg.write_frames(str(path), (w, h), fps=fps, macro_block_size=1, output_params=["-crf", "0"],
                                         audio_path=None if audio is None else str(audio), audio_codec="aac")
    writer.send(None)
    for frame in frames:
        writer.send(np.ascontiguousarray(frame))
    writer.close()


def write_wav(path, seconds: float = 1.0, rate: int = 8000) -> None:
    tone = (np.sin(np.arange(int(seconds * rate)) * 2 * np.pi * 440 / rate) * 8000).astype("<i2")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(tone.tobytes())


# ---------------------------------------------------------------------------------------------------------------
# Warp convention and estimators


def test_warp_pulls_pixels_along_the_flow():
    image = np.arange(5 * 6, dtype=np.float32).reshape(5, 6)
    flow = np.zeros((5, 6, 2), np.float32)
    flow[..., 0] = 1.0  # every output pixel reads the pixel to its right
    out = warp_with_flow(image, flow)
    assert np.array_equal(out[:, :-1], image[:, 1:])
    assert np.array_equal(out[:, -1], image[:, -1])  # border replicate
    flow[..., 0], flow[..., 1] = 0.5, -1.0
    assert warp_with_flow(image, flow)[2, 2] == pytest.approx((image[1, 2] + image[1, 3]) / 2)
    rgb = np.random.default_rng(0).integers(0, 255, (5, 6, 3), dtype=np.uint8)
    assert warp_with_flow(rgb, np.zeros((5, 6, 2), np.float32)).dtype == np.uint8
    assert warp_with_flow(np.zeros((5, 6, 1), np.float32), flow).shape == (5, 6, 1)
    with pytest.raises(ValueError, match="flow is 3x5"):
        warp_with_flow(image, np.zeros((5, 3, 2), np.float32))


def test_true_translation_flow_reconstructs_the_first_frame():
    a, b = translated_frames(2)
    flow_ab = np.broadcast_to(np.float32(SHIFT), (H, W, 2))
    assert psnr(interior(warp_with_flow(b, flow_ab)), interior(a)) > 35


@pytest.mark.parametrize("estimator", [DisFlow("medium"), DisFlow("fine"), FarnebackFlow()], ids=lambda e: e.name)
def test_estimators_recover_a_subpixel_translation(estimator):
    a, b = translated_frames(2)
    flow = estimator(a, b)
    assert flow.shape == (H, W, 2) and flow.dtype == np.float32
    assert interior(epe(flow, SHIFT)).mean() < 0.5
    assert np.median(interior(flow)[..., 0]) > 1.0 and np.median(interior(flow)[..., 1]) < -0.4  # a -> b, (dx, dy)
    assert psnr(interior(warp_with_flow(b, flow)), interior(a)) > 30


def test_dis_presets_forward_backward_and_protocol():
    a, b = translated_frames(2)
    for preset in ("ultrafast", "fast"):
        assert interior(epe(DisFlow(preset)(a, b), SHIFT)).mean() < 0.5
    fwd, bwd = forward_backward(DisFlow(), a, b)
    assert interior(epe(bwd, (-SHIFT[0], -SHIFT[1]))).mean() < 0.5
    assert isinstance(DisFlow(), FlowEstimator) and DisFlow().name == "dis-medium"
    assert create_estimator("dis-fine") == DisFlow("fine") and create_estimator("farneback") == FarnebackFlow()
    assert create_estimator("dis", preset="fast") == DisFlow("fast")
    with pytest.raises(ValueError, match="preset"):
        DisFlow("slow")
    with pytest.raises(ValueError, match="unknown flow backend"):
        create_estimator("pwcnet")
    with pytest.raises(ValueError, match="uint8 RGB"):
        DisFlow()(a.astype(np.float32), b)


def test_flow_to_color_is_an_rgb_preview():
    flow = np.zeros((8, 10, 2), np.float32)
    flow[:, 5:, 0] = 3.0
    image = flow_to_color(flow)
    assert image.shape == (8, 10, 3) and image.dtype == np.uint8
    assert (image[:, :5] == 255).all() and not (image[:, 5:] == 255).all()  # no motion is white


# ---------------------------------------------------------------------------------------------------------------
# Consistency


def moving_square(move: int = 6):
    """Frames a, b with the square moved right by ``move`` px; returns a, b, masks and the true disocclusion."""
    a, in_a = square_scene(36)
    b, in_b = square_scene(36 + move)
    return a, b, in_a, in_b, in_a & ~in_b  # on b's grid: background in b that the square hid in a


def test_consistency_with_exact_flows_marks_exactly_the_disoccluded_strip():
    move = 6
    _, _, in_a, in_b, disoccluded = moving_square(move)
    flow_ab = np.zeros((H, W, 2), np.float32)
    flow_ab[in_a, 0] = move
    flow_ba = np.zeros((H, W, 2), np.float32)
    flow_ba[in_b, 0] = -move
    layers = consistency_layers(flow_ba, flow_ab)  # checks the flow that warps frame a onto b's grid
    assert iou(layers.occluded, disoccluded) > 0.9
    assert not layers.out_of_frame.any()
    edges = layers.motion_edge
    near_boundary = ndimage.binary_dilation(in_b, iterations=2) & ~ndimage.binary_erosion(in_b, iterations=2)
    assert edges.any() and (edges <= near_boundary).all()


def test_consistency_of_dis_flow_marks_the_disocclusion_and_keeps_the_background():
    a, b, in_a, in_b, disoccluded = moving_square()
    fwd, bwd = forward_backward(DisFlow("fine"), a, b)
    layers = consistency_layers(bwd, fwd)
    background = ~(in_a | in_b)
    occlusion_only = reliability_mask(layers, edge_weight=0.0, blur_sigma=0.0)
    assert iou(occlusion_only < 0.5, disoccluded) > 0.5  # 0.68 (0.66-0.75 over 8 seeds)
    assert (occlusion_only[background] > 0.5).mean() > 0.98
    full = reliability_mask(layers)  # with motion edges, blurred (sigma 2): the mask the renderer uses
    assert (full[disoccluded] < 0.5).mean() > 0.9
    assert (full[background] > 0.5).mean() > 0.95  # 0.966: edges cost a thin band around the square
    distance = ndimage.distance_transform_edt(~(in_a | in_b)) + ndimage.distance_transform_edt(in_a | in_b)
    assert np.median(distance[layers.motion_edge]) <= 4


def test_reliability_weights_dilation_blur_and_out_of_frame():
    occluded = np.zeros((20, 20), bool)
    occluded[10, 10] = True
    edge = np.zeros((20, 20), bool)
    edge[2, 2] = True
    layers = ConsistencyLayers(occluded=occluded, out_of_frame=np.zeros_like(occluded), motion_edge=edge)
    mask = reliability_mask(layers, occlusion_weight=0.8, edge_weight=0.5, blur_sigma=0)
    assert mask.dtype == np.float32 and mask[10, 10] == pytest.approx(0.2) and mask[2, 2] == pytest.approx(0.5)
    assert mask.sum() == pytest.approx(400 - 0.8 - 0.5)
    dilated = reliability_mask(layers, edge_weight=0, dilation=2, blur_sigma=0)
    assert dilated[10, 12] == pytest.approx(0.0) and dilated[10, 13] == 1.0 and dilated[12, 12] == 1.0
    blurred = reliability_mask(layers, blur_sigma=2.0)
    assert 0.0 < blurred.min() < 1.0 and blurred[10, 10] > 0.2 and blurred.max() <= 1.0
    flow = np.zeros((20, 20, 2), np.float32)
    flow[:, :, 0] = 3.0  # everything moves right: the last 3 columns land outside
    oof = consistency_layers(flow, -flow).out_of_frame
    assert oof[:, 17:].all() and not oof[:, :17].any()
    with pytest.raises(ValueError, match="edge_weight"):
        reliability_mask(layers, edge_weight=1.5)


def test_blend_init_formula():
    rng = np.random.default_rng(1)
    frame, warped = rng.random((4, 5, 3), dtype=np.float32), rng.random((4, 5, 3), dtype=np.float32)
    w = rng.random((4, 5), dtype=np.float32)
    out = blend_init(frame, warped, w, 0.7)
    expected = frame * 0.3 + 0.7 * (w[..., None] * warped + (1 - w[..., None]) * frame)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    np.testing.assert_allclose(blend_init(frame, warped, None, 1.0), warped)  # DD v5.7: no mask
    np.testing.assert_allclose(blend_init(frame, warped, np.zeros((4, 5)), 1.0), frame)
    with pytest.raises(ValueError, match="flow_blend"):
        blend_init(frame, warped, w, 1.5)


# ---------------------------------------------------------------------------------------------------------------
# RAFT (random weights)


@pytest.fixture(scope="module")
def small_model():
    torch.manual_seed(0)
    return raft_mod.build_raft("small")


def test_raft_small_output_shape_and_padding_for_odd_sizes(small_model):
    seen = []
    hook = small_model.feature_encoder.register_forward_hook(lambda m, inp, out: seen.append(inp[0].shape))
    try:
        estimator = raft_mod.RaftFlow("small", device="cpu", num_flow_updates=2, model=small_model)
        rng = np.random.default_rng(0)
        for h, w in ((61, 67), (131, 135)):
            a, b = (rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(2))
            flow = estimator(a, b)
            assert flow.shape == (h, w, 2) and flow.dtype == np.float32 and np.isfinite(flow).all()
        fwd, bwd = estimator.pair(a, b)
        np.testing.assert_allclose(fwd, flow, atol=1e-3)
        assert bwd.shape == (h, w, 2)
    finally:
        hook.remove()
    assert [tuple(s[-2:]) for s in seen] == [(128, 128), (136, 136), (136, 136)]
    assert raft_mod.padded_size(129, 64) == (136, 128)
    assert estimator.name == "raft-small-custom-u2-fp32"


def test_raft_bf16_autocast_on_cpu_runs(small_model):
    a, b = translated_frames(2)
    flow = raft_mod.RaftFlow("small", device="cpu", precision="bf16", num_flow_updates=2, model=small_model)(a, b)
    assert flow.dtype == np.float32 and flow.shape == (H, W, 2) and np.isfinite(flow).all()


@pytest.mark.parametrize("variant", ["small", "large"])
def test_torchvision_state_dict_loads_strictly_from_a_path(tmp_path, variant):
    torch.manual_seed(1)
    reference = raft_mod.build_raft(variant)
    path = tmp_path / f"raft_{variant}.pth"
    torch.save(reference.state_dict(), path)
    estimator = raft_mod.RaftFlow(variant, path=path, device="cpu", num_flow_updates=2)
    for key, value in reference.state_dict().items():
        assert torch.equal(estimator.model.state_dict()[key], value), key
    assert estimator.name == f"raft-{variant}-raft_{variant}-u2-fp32"
    other = "large" if variant == "small" else "small"
    with pytest.raises(raft_mod.RaftWeightsError, match=f"raft_{variant} checkpoint: use variant='{variant}'"):
        raft_mod.RaftFlow(other, path=path, device="cpu")


def to_princeton_layout(state: dict, variant: str) -> dict:
    """torchvision keys -> princeton-vl/RAFT keys (``module.`` prefix, aliased downsample norms), independently."""
    encoders = {"feature_encoder": "fnet", "context_encoder": "cnet"}
    update = [(r"motion_encoder\.convcorr(\d)\.0\.", r"encoder.convc\1."),
              (r"motion_encoder\.convflow(\d)\.0\.", r"encoder.convf\1."),
              (r"motion_encoder\.conv\.0\.", "encoder.conv."), (r"flow_head\.", "flow_head.")]
    update += ([(r"recurrent_block\.convgru(\d)\.conv(\w)\.", r"gru.conv\2\1.")] if variant == "large"
               else [(r"recurrent_block\.convgru1\.conv(\w)\.", r"gru.conv\1.")])
    encoder = [(r"convnormrelu\.0\.", "conv1."), (r"convnormrelu\.1\.", "norm1."), (r"conv\.", "conv2."),
               (r"(layer\d\.\d)\.convnormrelu(\d)\.0\.", r"\1.conv\2."),
               (r"(layer\d\.\d)\.convnormrelu(\d)\.1\.", r"\1.norm\2."), (r"(layer\d\.\d\.downsample)", r"\1")]
    out = {}
    for key, value in state.items():
        head, _, rest = key.partition(".")
        if head in encoders:
            new = encoders[head] + "." + next(re.sub("^" + p, r, rest) for p, r in encoder if re.match(p, rest))
            alias = re.match(r"(\w+\.layer\d\.\d)\.downsample\.1\.(.*)", new)
            if alias:  # the original registers the downsample norm twice: as normN and as downsample.1
                out[f"module.{alias.group(1)}.norm{3 if variant == 'large' else 4}.{alias.group(2)}"] = value
        elif head == "mask_predictor":
            new = rest.replace("convrelu.0.", "update_block.mask.0.").replace("conv.", "update_block.mask.2.")
        else:
            new = "update_block." + next(re.sub("^" + p, r, rest) for p, r in update if re.match(p, rest))
        out["module." + new] = value
    return out


def layout_fingerprint(state: dict) -> str:
    lines = sorted(f"{key} {tuple(value.shape)}" for key, value in state.items())
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


# Key count and sha256 of the sorted "key shape" lines of princeton-vl/RAFT@2888e15's RAFT(args) state_dict
# wrapped in nn.DataParallel (small=False / small=True), recorded by instantiating the original code.
PRINCETON_LAYOUT = {"large": (179, "d2530b3324ed9a69"), "small": (106, "665c4ea394a8fae4")}


@pytest.mark.parametrize("variant", ["large", "small"])
def test_princeton_checkpoint_converts_and_round_trips(tmp_path, variant):
    torch.manual_seed(2)
    reference = raft_mod.build_raft(variant)
    original = to_princeton_layout(reference.state_dict(), variant)
    assert (len(original), layout_fingerprint(original)) == PRINCETON_LAYOUT[variant]
    assert "module.update_block.encoder.convc1.weight" in original and "module.fnet.conv1.weight" in original
    path = tmp_path / ("raft-things.pth" if variant == "large" else "raft-small.pth")
    torch.save(original, path)
    loaded = raft_mod.RaftFlow(variant, path=path, device="cpu", num_flow_updates=2).model.state_dict()
    assert loaded.keys() == reference.state_dict().keys()
    assert all(torch.equal(loaded[k], v) for k, v in reference.state_dict().items())
    assert raft_mod.convert_princeton_state_dict(original, variant).keys() == reference.state_dict().keys()


def test_princeton_conversion_errors_name_the_keys():
    original = to_princeton_layout(raft_mod.build_raft("large").state_dict(), "large")
    with pytest.raises(raft_mod.RaftWeightsError, match=r"module\.update_block\.extra\.weight|update_block\.extra"):
        raft_mod.convert_princeton_state_dict({**original, "module.update_block.extra.weight": torch.zeros(1)})
    tampered = dict(original)
    tampered["module.cnet.layer2.0.norm3.weight"] = tampered["module.cnet.layer2.0.norm3.weight"] + 1
    with pytest.raises(raft_mod.RaftWeightsError, match="norm3.weight should equal"):
        raft_mod.convert_princeton_state_dict(tampered)


def test_flow_weight_files_are_in_the_registry():
    assert [registry.lookup(f.key) for f in FLOW_FILES] == list(FLOW_FILES)
    large = registry.lookup("raft_large_C_T_SKHT_V2")
    assert large.kind == "flow" and large.sha256_prefix == "ff5fadd5" and large.sha256.startswith("ff5fadd5")
    assert large.urls == ("https://download.pytorch.org/models/raft_large_C_T_SKHT_V2-ff5fadd5.pth",)
    assert registry.lookup("raft_small_C_T_V2").filename == "raft_small_C_T_V2-01064c6d.pth"
    things = registry.lookup("raft-things")
    assert things.sha256.startswith("fcfa4125") and things.urls == () and "models.zip" in things.description
    from torchvision.models.optical_flow import Raft_Large_Weights, Raft_Small_Weights

    assert Raft_Large_Weights.DEFAULT.url == large.urls[0]
    assert Raft_Small_Weights.DEFAULT.url == registry.lookup("raft_small_C_T_V2").urls[0]
    with pytest.raises(raft_mod.RaftWeightsError, match="for raft_large"):
        raft_mod.RaftFlow("small", weights="raft-things", device="cpu")


# ---------------------------------------------------------------------------------------------------------------
# Extraction


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """10 translated texture frames, 128x96, 12 fps, with a distinct brightness offset per frame in one corner."""
    frames = translated_frames(10)
    for k, frame in enumerate(frames):
        frame[:4, :4] = 20 * k + 10  # a frame id readable after decoding
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    write_video(path, frames)
    return path, frames


def frame_id(frame: np.ndarray) -> int:
    return int(round((frame[1:3, 1:3].mean() - 10) / 20))


def test_probe_video(video, monkeypatch):
    path, frames = video
    monkeypatch.setattr("flow.extract.sha256_file", lambda p: pytest.fail("probing hashed the file"))
    info = probe_video(path)
    assert (info.frames, info.fps, info.width, info.height, info.has_audio) == (10, 12.0, W, H, False)
    assert info.duration == pytest.approx(10 / 12.0, abs=0.01)  # ffmpeg reports centiseconds
    monkeypatch.undo()
    assert content_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info.selected_frames(3) == 4
    assert default_output_fps(info.fps, 3) == 4.0 and default_output_fps(30, 1) == 30


def test_extract_every_nth_frame_and_max_frames(video):
    path, frames = video
    assert [frame_id(f) for f in extract_frames(path)] == list(range(10))
    assert [frame_id(f) for f in extract_frames(path, nth=3)] == [0, 3, 6, 9]
    assert [frame_id(f) for f in extract_frames(path, nth=4, max_frames=2)] == [0, 4]
    assert extract_frames(path, max_frames=0) == []
    decoded = extract_frames(path, max_frames=1)[0]
    assert decoded.dtype == np.uint8 and decoded.shape == (H, W, 3) and decoded.flags.writeable
    assert np.abs(decoded.astype(int) - frames[0]).max() <= 2  # crf 0: near lossless
    iterator = iter_frames(path, nth=2)
    assert frame_id(next(iterator)) == 0 and frame_id(next(iterator)) == 2
    iterator.close()


def test_extract_resizes_to_the_render_size(video):
    path, _ = video
    small = extract_frames(path, size=(64, 48), max_frames=2)
    big = extract_frames(path, size=(160, 120), max_frames=2)
    assert small[0].shape == (48, 64, 3) and big[0].shape == (120, 160, 3)
    with pytest.raises(ValueError, match="width, height"):
        extract_frames(path, size=(64, 0))
    with pytest.raises(ValueError, match="nth"):
        iter_frames(path, nth=0)


def test_flow_through_the_codec(video):
    path, _ = video
    a, b = extract_frames(path, max_frames=2)
    flow = DisFlow()(a, b)
    assert interior(epe(flow, SHIFT))[MARGIN:].mean() < 0.5  # the corner id patch is outside this window


def test_probe_detects_audio(tmp_path):
    write_wav(tmp_path / "tone.wav")
    path = tmp_path / "with_audio.mp4"
    write_video(path, translated_frames(3), audio=tmp_path / "tone.wav")
    assert probe_video(path).has_audio


def test_video_errors_name_the_setting(tmp_path):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video" * 100)
    empty = tmp_path / "empty.mp4"  # a valid container without a video stream
    writer = imageio_ffmpeg.write_frames(str(empty), (64, 48), ffmpeg_log_level="quiet")
    writer.send(None)
    writer.close()
    cases = [(tmp_path / "missing.mp4", "does not exist"), (tmp_path, "is a directory"),
             (garbage, "ffmpeg cannot read it"), (empty, "no video frames")]
    for path, problem in cases:
        for action in (probe_video, extract_frames):
            with pytest.raises(VideoInputError, match=problem) as info:
                action(path)
            message = str(info.value)
            assert isinstance(info.value, ValueError)
            assert SETTING == "animation.video_init_path" and message.startswith(f"{SETTING}={str(path)!r}")
            assert "fix:" in message


# ---------------------------------------------------------------------------------------------------------------
# Cache


def test_cache_computes_each_pair_once_per_key(tmp_path):
    a, b = translated_frames(2)
    calls = []

    def compute(estimator):
        def run():
            calls.append(estimator.name)
            return forward_backward(estimator, a, b)
        return run

    key = FlowKey("ab" * 32, (W, H), DisFlow().name, nth=2)
    cache = FlowCache(tmp_path / "flow")
    fwd, bwd = cache.get_or_compute(key, 0, compute(DisFlow()))
    again = FlowCache(tmp_path / "flow").get_or_compute(key, 0, compute(DisFlow()))  # a new process, same root
    assert calls == ["dis-medium"]
    np.testing.assert_array_equal(again[0], fwd)
    np.testing.assert_array_equal(again[1], bwd)
    cache.get_or_compute(dataclasses.replace(key, backend=DisFlow("fast").name), 0, compute(DisFlow("fast")))
    cache.get_or_compute(dataclasses.replace(key, nth=1), 0, compute(DisFlow()))
    cache.get_or_compute(key, 1, compute(DisFlow()))
    assert calls == ["dis-medium", "dis-fast", "dis-medium", "dis-medium"]
    assert not list((tmp_path / "flow").rglob("*.tmp"))
    assert (cache.folder(key) / "key.json").is_file()


def test_cache_recovers_from_a_corrupt_file_and_checks_shapes(tmp_path):
    a, b = translated_frames(2)
    key = FlowKey("cd" * 32, (W, H), "dis-medium")
    cache = FlowCache(tmp_path)
    cache.put(key, 0, *forward_backward(DisFlow(), a, b))
    cache.path(key, 0).write_bytes(b"truncated")
    assert cache.get(key, 0) is None
    assert cache.get_or_compute(key, 0, lambda: forward_backward(DisFlow(), a, b))[0].shape == (H, W, 2)
    with pytest.raises(ValueError, match="does not match the key's size"):
        cache.put(key, 1, np.zeros((4, 4, 2), np.float32), np.zeros((4, 4, 2), np.float32))
    with pytest.raises(ValueError, match="video_sha256"):
        FlowKey("xyz", (W, H), "dis-medium")
