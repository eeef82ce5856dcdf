"""Unreadable weight files (empty, truncated, garbage, a folder) named like known weights: every loader raises a
named error with the file, what is wrong and how to fetch it again, never torch's traceback."""
from __future__ import annotations

import io

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from depth.estimators import CheckpointMismatch, build_midas
from render.diffusion.unet import load_unet
from render.errors import EXIT_USER, classify
from render.guidance.clip_models import ClipSpec, load_clip
from render.models import registry
from render.models.weights import WeightFileError, load_weights

UNET = registry.lookup("512x512_diffusion_uncond_finetune_008100")


def _valid_bytes() -> bytes:
    buffer = io.BytesIO()
    torch.save({"weight": torch.arange(4096, dtype=torch.float32)}, buffer)
    return buffer.getvalue()


BAD = {
    "empty": b"",
    "html": b"<html><body>404 Not Found</body></html>",
    "truncated": _valid_bytes()[:700],
    "zeros": bytes(5000),
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_a_bad_diffusion_file_is_named_with_the_fetch_command(tmp_path, kind):
    path = tmp_path / UNET.filename
    path.write_bytes(BAD[kind])
    with pytest.raises(WeightFileError) as info:
        load_unet("512x512_diffusion_uncond_finetune_008100", path)
    message = str(info.value)
    assert str(path) in message and f"rm {path}" in message
    assert f"python -m render.models {UNET.key} --models-dir {tmp_path}" in message
    assert "weights_only" not in message  # torch's unsafe retry advice is not passed on
    assert classify(info.value).code == EXIT_USER


def test_a_folder_or_a_missing_file_is_named(tmp_path):
    (tmp_path / "dir.pt").mkdir()
    with pytest.raises(WeightFileError, match="not a regular file"):
        load_weights(tmp_path / "dir.pt")
    with pytest.raises(WeightFileError, match="not found"):
        load_weights(tmp_path / "nowhere.pt")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, len(_valid_bytes()) - 1), noise=st.binary(max_size=64))
def test_any_truncated_or_garbled_file_is_a_weight_file_error(tmp_path, cut, noise):
    path = tmp_path / "secondary_model_imagenet_2.pth"
    path.write_bytes(_valid_bytes()[:cut] + noise)
    try:
        state = load_weights(path, mmap=False)
    except WeightFileError as exc:
        assert "python -m render.models secondary" in str(exc)
    else:  # the garbled tail was past the data torch reads: what loads must be the saved tensor
        assert torch.equal(state["weight"], torch.arange(4096, dtype=torch.float32))


@pytest.mark.parametrize("kind", ["html", "truncated"])
def test_a_bad_depth_file_is_a_named_checkpoint_mismatch(tmp_path, kind):
    path = tmp_path / "dpt_large-midas-2f21e586.pt"
    path.write_bytes(BAD[kind])
    with pytest.raises(CheckpointMismatch) as info:
        build_midas("dpt_large", path)
    assert str(path) in str(info.value) and "fix:" in str(info.value) and "python -m render.models" in str(info.value)
    assert classify(info.value).code == EXIT_USER


def test_a_bad_clip_file_is_named(tmp_path):
    path = tmp_path / "ViT-B-32.pt"
    path.write_bytes(BAD["html"])
    with pytest.raises(WeightFileError, match="cannot be read as CLIP ViT-B-32:openai"):
        load_clip(ClipSpec.parse("ViT-B-32:openai"), path, torch.device("cpu"))
