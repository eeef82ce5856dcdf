"""On a CUDA device (marked ``cuda``: skipped without one; ``python -m benchmarks.gpu_check`` runs them): the UNet and
the DDIM step against guided-diffusion in fp32, fp16 and bf16, the fast CLIP encoders against open_clip, depth and
RAFT, and a tiny 3D run with a kill and a resume."""
from __future__ import annotations

import copy
import json
import warnings

import numpy as np
import pytest
import torch
from support import frame_hashes, run_main
from unet_reference import randomize, reference_unet

from render.builders import build_depth_estimator
from render.config.depth_plan import DepthPlan
from render.diffusion.samplers import EpsDenoiser, sample_ddim
from render.diffusion.schedule import DiffusionSchedule
from render.diffusion.unet import UNetConfig, UNetModel
from render.guidance.clip_models import build_tiny_clip
from render.guidance.fast_clip import set_vision_precision

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    from guided_diffusion.script_util import create_gaussian_diffusion

pytestmark = pytest.mark.cuda
CUDA = torch.device("cuda")
SMALL = UNetConfig(image_size=64, model_channels=32, channel_mult=(1, 2, 2), num_res_blocks=1,
                   attention_resolutions=(32, 16), num_heads=2, learn_sigma=True, use_scale_shift_norm=True,
                   resblock_updown=True)
TOLERANCE = {"fp32": 1e-4, "fp16": 3e-2, "bf16": 6e-2}  # relative L2 error against the fp32 reference


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


def unet_pair(precision: str):
    ref = randomize(reference_unet(SMALL), seed=5).to(CUDA)
    ours = UNetModel(SMALL, precision=precision, channels_last=True)
    ours.load_state_dict(ref.state_dict())
    return ref, ours.to(CUDA).eval()


@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
def test_unet_matches_guided_diffusion_on_cuda(precision):
    if precision == "bf16" and not torch.cuda.is_bf16_supported(including_emulation=False):
        pytest.skip("no native bf16 on this GPU")
    ref, ours = unet_pair(precision)
    x = torch.randn(2, 3, 64, 64, device=CUDA, generator=torch.Generator(CUDA).manual_seed(1))
    t = torch.tensor([10.0, 700.0], device=CUDA)
    with torch.no_grad():
        expected = ref(x, t)
        got = ours(x, t)
    assert got.dtype == torch.float32 and rel(got, expected) < TOLERANCE[precision]
    xg = x.clone().requires_grad_()
    (ours(xg, t).float() ** 2).mean().backward()
    xr = x.clone().requires_grad_()
    (ref(xr, t) ** 2).mean().backward()
    assert rel(xg.grad, xr.grad) < TOLERANCE[precision] * 2


def test_ddim_step_matches_guided_diffusion_on_cuda():
    ref, ours = unet_pair("fp32")
    diffusion = create_gaussian_diffusion(steps=1000, learn_sigma=True, noise_schedule="linear",
                                          timestep_respacing="ddim25", rescale_timesteps=True)
    schedule = DiffusionSchedule.for_steps(25)
    x = torch.randn(1, 3, 64, 64, device=CUDA, generator=torch.Generator(CUDA).manual_seed(2))
    with torch.no_grad():
        expected = diffusion.ddim_sample(ref, x, torch.tensor([24], device=CUDA), clip_denoised=False,
                                         eta=0.0)["sample"]
        got = next(sample_ddim(EpsDenoiser(ours, schedule, clip_denoised=False), schedule, x, [24], eta=0.0)).sample
    assert rel(got, expected) < 1e-4


@pytest.mark.parametrize("arch", ["tiny-vit-32", "tiny-rn"])
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_fast_clip_matches_open_clip_on_cuda(arch, precision):
    model = build_tiny_clip(arch, seed=1).to(CUDA).eval().requires_grad_(False)
    x = torch.randn(2, 3, 64, 64, device=CUDA, generator=torch.Generator(CUDA).manual_seed(3))

    def embed_and_grad(encode):
        xi = x.clone().requires_grad_()
        out = encode(xi)
        (grad,) = torch.autograd.grad(out.float().sum(), xi)
        return out.float(), grad

    ref_out, ref_grad = embed_and_grad(model.encode_image)
    out, grad = embed_and_grad(set_vision_precision(copy.deepcopy(model.visual), precision))
    assert rel(out, ref_out) < TOLERANCE[precision] and rel(grad, ref_grad) < TOLERANCE[precision] * 3


def test_depth_runs_on_cuda_in_fp16_like_fp32_on_cpu():
    image = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(4))
    cpu = build_depth_estimator(DepthPlan("tiny", 1.0, {}), torch.device("cpu"), precision="fp32")(image)
    gpu = build_depth_estimator(DepthPlan("tiny", 1.0, {}), CUDA, precision="fp16")(image.to(CUDA))
    assert gpu.shape == cpu.shape and torch.isfinite(gpu).all()
    assert rel(gpu.cpu(), cpu) < 2e-2


def test_raft_runs_on_cuda_like_on_cpu():
    from flow.raft import RaftFlow, build_raft

    model = build_raft("small")
    torch.nn.init.normal_(next(model.parameters()), std=0.01)
    rng = np.random.default_rng(5)
    a = rng.integers(0, 255, (128, 128, 3), dtype=np.uint8)
    b = np.roll(a, 3, axis=1)
    cpu = RaftFlow("small", device="cpu", precision="fp32", model=copy.deepcopy(model), num_flow_updates=4)(a, b)
    gpu = RaftFlow("small", device="cuda", precision="fp32", model=model, num_flow_updates=4)(a, b)
    assert gpu.shape == cpu.shape == (128, 128, 2)
    assert np.abs(gpu - cpu).mean() < 0.05 * max(1.0, np.abs(cpu).mean())


def test_tiny_3d_run_on_cuda_survives_a_kill_and_resumes(tmp_path):
    args = ["animation=3d_zoom", "model=tiny", "depth=tiny", "device=cuda", "width=128", "height=64",
            "animation.max_frames=6", "model.steps=5", "seed=3", "output.preset=ultrafast"]
    killed = run_main(*args, f"hydra.run.dir={tmp_path}", env={"DISCO_ANIM_FAULT": "frame:3"})
    assert killed.returncode != 0 and len(frame_hashes(tmp_path)) == 3
    resumed = run_main(f"resume={tmp_path}")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert len(frame_hashes(tmp_path)) == 6 and (tmp_path / "TimeToDisco.mp4").is_file()
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["status"] == "completed" and record["device"].startswith("cuda")
    assert record["resumed_at"] == [3] and record["segments"][-1]["precisions"]["unet"]["value"] in ("bf16", "fp16")
