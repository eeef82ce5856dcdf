"""CLIP weights load from local files in both published layouts, with random weights of the real architectures."""
from __future__ import annotations

import open_clip
import torch

from render.guidance.clip_models import ClipSpec, load_clip

CPU = torch.device("cpu")


def randomised(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.02)
    return model.eval()


def check_same_embeddings(source, perceptor):
    images = torch.rand(2, 3, perceptor.input_resolution, perceptor.input_resolution)
    with torch.no_grad():
        expected = source.encode_image(open_clip_normalise(images)).float()
        expected_text = source.encode_text(open_clip.tokenize(["a lighthouse", "yellow"])).float()
        assert torch.allclose(perceptor.encode_image(images), expected, atol=1e-4)
    assert torch.allclose(perceptor.encode_text(["a lighthouse", "yellow"]), expected_text, atol=1e-4)


def open_clip_normalise(images):
    mean = torch.tensor(open_clip.OPENAI_DATASET_MEAN)[:, None, None]
    std = torch.tensor(open_clip.OPENAI_DATASET_STD)[:, None, None]
    return (images - mean) / std


def test_openai_layout_state_dict_file(tmp_path):
    # OpenAI's checkpoints use QuickGELU; a state dict in their key layout (plus the three ints their archives carry)
    source = randomised(open_clip.create_model("RN50-quickgelu"), 0)
    state = dict(source.state_dict(), input_resolution=torch.tensor(224), context_length=torch.tensor(77),
                 vocab_size=torch.tensor(49408))
    torch.save(state, tmp_path / "RN50.pt")
    perceptor = load_clip(ClipSpec.parse("RN50:openai"), tmp_path / "RN50.pt", CPU)
    assert perceptor.input_resolution == 224
    check_same_embeddings(source, perceptor)


def test_openclip_checkpoint_file(tmp_path):
    source = randomised(open_clip.create_model("ViT-B-32"), 1)
    torch.save({"state_dict": source.state_dict()}, tmp_path / "vit_b_32-laion2b_e16.pth")
    perceptor = load_clip(ClipSpec.parse("ViT-B-32:laion2b_e16"), tmp_path / "vit_b_32-laion2b_e16.pth", CPU)
    check_same_embeddings(source, perceptor)
