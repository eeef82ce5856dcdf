"""The benchmarks' FLOP counts, device peaks and fraction of peak (benchmarks/flops.py, benchmarks/step_flops.py)."""
from __future__ import annotations

import resource

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from benchmarks import flops, step_flops

ZEN5 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 26
model\t\t: 2
model name\t: AMD EPYC
cpu MHz\t\t: 2600.000
flags\t\t: fpu sse sse2 avx fma avx2 avx512f avx512_bf16

processor\t: 1
vendor_id\t: AuthenticAMD
"""


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(flops, "CACHE", tmp_path / "counts.json")
    monkeypatch.setattr(flops.cached_count, "__defaults__", (tmp_path / "counts.json",))


def test_counts_match_the_textbook_formulas_forward_and_input_gradient():
    linear = flops.on_meta(lambda: nn.Linear(300, 200))
    conv = flops.on_meta(lambda: nn.Conv2d(8, 16, 3, padding=1))

    def forward():
        x = torch.randn(5, 300)
        return lambda: linear(x)

    def forward_backward():
        x = torch.randn(2, 8, 32, 32, requires_grad=True)
        return lambda: conv(x).sum().backward()

    assert flops.count_flops(forward) == 2 * 5 * 300 * 200
    # frozen weights: backward computes only the input's gradient, a second convolution of the same size
    assert flops.count_flops(forward_backward) == 2 * (2 * 2 * 8 * 16 * 9 * 32 * 32)


def test_fake_counting_equals_counting_the_real_thing_and_stays_out_of_memory():
    from render.diffusion.unet import UNetModel
    from render.generators.networks import TINY_UNET

    real = UNetModel(TINY_UNET).eval().requires_grad_(False)
    x, t = torch.randn(1, 3, 64, 96), torch.tensor([300.0])
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        real(x, t)
    fake = flops.on_meta(lambda: UNetModel(TINY_UNET))
    assert flops.count_flops(lambda: lambda: fake(torch.randn(1, 3, 64, 96), torch.tensor([300.0]))) == \
        counter.get_total_flops() > 0
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    huge = flops.on_meta(lambda: nn.Linear(16_000, 16_000))  # 1 GB of float32 weights, never touched
    assert flops.count_flops(lambda: lambda: huge(torch.randn(4, 16_000))) == 2 * 4 * 16_000**2
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024 < 200e6


def test_counts_are_cached_per_key_and_torch_version(tmp_path):
    calls = []

    def prepare():
        calls.append(1)
        x = torch.randn(4, 4)
        return lambda: x @ x

    assert flops.cached_count("matmul 4", prepare) == flops.cached_count("matmul 4", prepare) == 2 * 4**3
    assert len(calls) == 1 and f"matmul 4 | torch {torch.__version__}" in (tmp_path / "counts.json").read_text()


def test_cpu_peak_from_simd_width_fma_pipes_cores_and_clock():
    cpu = flops.CpuInfo.read(ZEN5)
    assert (cpu.family, cpu.cpus, cpu.mhz) == (26, 2, 2600.0) and "avx512_bf16" in cpu.flags
    peak = flops.cpu_peak(threads=8, cpu=cpu)  # more threads than CPUs: the CPUs count
    assert peak.of("fp32") == pytest.approx(2 * 2.6e9 * 64 / 1e12)  # Zen 5: 2 FMA pipes x 16 lanes x 2
    assert peak.of("bf16") == pytest.approx(2 * peak.of("fp32")) and "Zen 5" in peak.basis
    zen3 = flops.CpuInfo.read(ZEN5.replace("26", "25").replace("avx512f avx512_bf16", ""))
    assert flops.fp32_per_cycle(zen3)[0] == 32
    assert flops.cpu_peak(1, zen3).of("bf16") == flops.cpu_peak(1, zen3).of("fp32")  # no native bf16
    spr = flops.CpuInfo.read(ZEN5.replace("AuthenticAMD", "GenuineIntel").replace("avx512_bf16", "amx_bf16"))
    assert flops.cpu_peak(1, spr).of("bf16") == pytest.approx(2.6e9 * 1024 / 1e12)
    assert flops.cpu_peak(2, flops.CpuInfo.read("processor\t: 0\n")).tflops == {}


def test_gpu_peaks_by_device_name():
    assert flops.gpu_peak("NVIDIA H100 80GB HBM3").of("bf16") == 989.4
    assert flops.gpu_peak("NVIDIA H100 PCIe").of("bf16") == 756.0
    assert flops.gpu_peak("NVIDIA H200 NVL").of("fp16") == 835.5 and flops.gpu_peak("NVIDIA H200").of("fp32") == 67.0
    assert flops.gpu_peak("Tesla T4").of("fp16") == 65.0 and flops.gpu_peak("Tesla T4").of("bf16") == 8.1
    assert flops.gpu_peak("NVIDIA A100-SXM4-80GB").of("tf32") == 156.0
    unknown = flops.gpu_peak("Some Future GPU")
    assert unknown.tflops == {} and flops.cells([flops.Work("x", 10**12, "bf16")], 1.0, unknown)[2] == "-"


def test_fraction_of_peak_weighs_each_part_by_its_precision():
    peak = flops.Peak("dev", {"fp32": 10.0, "bf16": 40.0}, "test")
    work = [flops.Work("unet", 40 * 10**12, "bf16"), flops.Work("secondary", 10 * 10**12, "fp32")]
    assert flops.floor_seconds(work, peak) == pytest.approx(2.0)  # 1 s + 1 s at the peaks
    assert flops.fraction_of_peak(work, 4.0, peak) == pytest.approx(0.5)
    assert flops.cells(work, 4.0, peak) == ["50.0 T", "12.500", "50%"]
    assert [flops.fmt_flops(v) for v in (2.5e15, 812e9, 123e12, 7e6)] == ["2.5 P", "812 G", "123 T", "7.0 M"]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_step_parts_add_up_as_the_step_runs_them():
    # a CLIP tower's work is linear in the cutouts: 4 batches of 16 are one call of 64
    assert step_flops.clip_forward_backward("ViT-B-32", "ours", 64) == \
        4 * step_flops.clip_forward_backward("ViT-B-32", "ours", 16) > 0
    # the init's features made once a frame save exactly VGG's forward over one image
    import lpips

    def vgg_forward():
        model = flops.on_meta(lambda: lpips.LPIPS(net="vgg", pretrained=False, pnet_rand=True, verbose=False))
        x = torch.randn(1, 3, 64, 96)
        return lambda: model.net.forward(model.scaling_layer(x))

    both, once = (step_flops.lpips_forward_backward(64, 96, cached) for cached in (False, True))
    assert both - once == flops.count_flops(vgg_forward) > 0
    work = step_flops.step_work("ours", 64, 64, unet_precision="bf16", lpips=True)
    assert [w.part.split(" ")[0] for w in work] == ["UNet", "secondary", "ViT-B-32", "ViT-B-16", "RN50", "LPIPS-VGG16"]
    assert work[0].precision == "bf16" and flops.total(work) == sum(w.flops for w in work)
