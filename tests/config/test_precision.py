"""Precision from the hardware: every branch of ``auto`` with the probes faked as real machines, explicit choices
with their warnings, and the choice with its reason in the log and in run.json."""
from __future__ import annotations

import json
import logging

import pytest
import torch
from conftest import TINY

from render.app import render_animation
from render.config import precision
from render.config.planner import plan_and_resolve
from render.config.precision import (
    Hardware,
    choose_clip,
    choose_depth,
    choose_flow,
    choose_unet,
)
from render.config.settings import to_settings

# name: (device, compute capability or None, native bf16 on CUDA, CPU flags)
MACHINES = {
    "T4": ("cuda", (7, 5), False, set()),
    "V100": ("cuda", (7, 0), False, set()),
    "A100": ("cuda", (8, 0), True, set()),
    "RTX 4090": ("cuda", (8, 9), True, set()),
    "AVX2-only CPU": ("cpu", None, False, {"fpu", "sse4_2", "avx", "avx2", "fma"}),
    "AVX512-BF16 CPU": ("cpu", None, False, {"avx2", "avx512f", "avx512_bf16"}),
    "AMX CPU": ("cpu", None, False, {"avx2", "avx512f", "amx_tile", "amx_bf16", "avx512_bf16"}),
}
EXPECTED_UNET = {"T4": "fp16", "V100": "fp16", "A100": "bf16", "RTX 4090": "bf16", "AVX2-only CPU": "fp32",
                 "AVX512-BF16 CPU": "bf16", "AMX CPU": "bf16"}


@pytest.fixture
def machine(monkeypatch):
    """Fake the probes as the named machine; returns the torch device a run there would use."""
    def fake(name: str) -> torch.device:
        kind, capability, native, flags = MACHINES[name]
        monkeypatch.setattr(precision, "cuda_capability", lambda device: capability)
        monkeypatch.setattr(precision, "cuda_native_bf16", lambda device: native)
        monkeypatch.setattr(precision, "cpu_flags", lambda: set(flags))
        return torch.device(kind)
    return fake


@pytest.mark.parametrize("name", list(MACHINES))
def test_auto_unet_precision_follows_native_bf16(machine, name):
    hw = precision.probe(machine(name))
    choice = choose_unet("auto", hw)
    assert choice.value == EXPECTED_UNET[name] and choice.warning is None
    if name in ("T4", "V100"):
        assert hw.detail == f"compute capability {MACHINES[name][1][0]}.{MACHINES[name][1][1]}"
        assert "no native bf16" in choice.reason and "as Disco Diffusion runs it" in choice.reason
    if name == "AVX2-only CPU":
        assert "no AMX-BF16 or AVX512-BF16" in choice.reason and "emulated" in choice.reason
    if name == "AMX CPU":
        assert "AMX-BF16" in choice.reason


@pytest.mark.parametrize("name, arch_choice, expected", [
    ("T4", "bf16", "fp16"), ("A100", "bf16", "fp16"),  # DD runs its CLIPs in fp16 on every GPU
    ("AVX2-only CPU", "bf16", "fp32"), ("AMX CPU", "bf16", "bf16"), ("AMX CPU", "fp32", "fp32"),
])
def test_auto_clip_precision(machine, name, arch_choice, expected):
    assert choose_clip("auto", precision.probe(machine(name)), arch_choice).value == expected


@pytest.mark.parametrize("name, depth, flow", [("T4", "fp16", "fp16"), ("A100", "fp16", "bf16"),
                                               ("AVX2-only CPU", "fp32", "fp32"), ("AMX CPU", "fp32", "fp32")])
def test_auto_depth_and_flow_precision(machine, name, depth, flow):
    hw = precision.probe(machine(name))
    assert (choose_depth("auto", hw).value, choose_flow("auto", hw).value) == (depth, flow)


@pytest.mark.parametrize("name, cost", [("AVX2-only CPU", "slower than fp32"), ("T4", "slower than fp16")])
def test_explicit_bf16_without_native_support_runs_with_a_warning_naming_the_cost(machine, name, cost):
    choice = choose_unet("bf16", precision.probe(machine(name)))
    assert choice.value == "bf16" and choice.reason == "set in the config"
    assert "emulated" in choice.warning and cost in choice.warning


def test_explicit_bf16_with_native_support_has_no_warning(machine):
    assert choose_unet("bf16", precision.probe(machine("AMX CPU"))).warning is None


def test_cpu_flags_are_read_from_cpuinfo(tmp_path, monkeypatch):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu avx2 amx_bf16 amx_tile\n\n"
                    "processor\t: 1\nflags\t\t: fpu avx2 amx_bf16 amx_tile\n")
    monkeypatch.setattr(precision, "CPUINFO", info)
    assert precision.cpu_flags() == {"fpu", "avx2", "amx_bf16", "amx_tile"}
    assert precision.probe(torch.device("cpu")) == Hardware("cpu", True, "AMX-BF16")
    monkeypatch.setattr(precision, "CPUINFO", tmp_path / "absent")
    assert precision.cpu_flags() == set()
    assert not precision.probe(torch.device("cpu")).native_bf16


def test_the_plan_chooses_for_every_model_the_run_uses(compose_config, machine):
    machine("AVX2-only CPU")
    cfg = compose_config("animation=3d_zoom", "model=tiny", "depth=tiny", "model.steps=5")
    plan = plan_and_resolve(to_settings(cfg))
    assert set(plan.precisions) == {"unet", "clip tiny-vit-32:random", "clip tiny-vit-16:random",
                                    "clip tiny-rn:random", "depth"}
    assert {c.value for c in plan.precisions.values()} == {"fp32"}
    assert plan.precision("unet") == "fp32" and plan.precision("flow") == "fp32"  # no flow in this run: fp32


def test_a_preview_run_needs_no_probe(compose_config, monkeypatch):
    monkeypatch.setattr(precision, "probe", lambda device: pytest.fail("probed without a model to run"))
    assert plan_and_resolve(to_settings(compose_config("animation=2d_zoom", *TINY))).precisions == {}


def test_choice_and_reason_in_the_log_and_run_json(compose_config, machine, tmp_path, caplog):
    machine("AVX2-only CPU")
    cfg = compose_config("animation=2d_zoom", "model=tiny", "generator=diffusion", "width=128", "height=64",
                         "animation.max_frames=1", "model.steps=3", "output.quality=false", "output.previews=false",
                         "model.clip_models=[tiny-vit-32:random]")
    with caplog.at_level(logging.INFO):
        render_animation(cfg, tmp_path, progress=False)
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["segments"][0]["precisions"]["unet"]["value"] == "fp32"
    assert "no AMX-BF16 or AVX512-BF16" in record["segments"][0]["precisions"]["unet"]["reason"]
    assert record["segments"][0]["precisions"]["clip tiny-vit-32:random"]["value"] == "fp32"
    assert "precision: unet fp32 (this CPU has no AMX-BF16 or AVX512-BF16" in caplog.text


def test_explicit_bf16_on_an_avx2_cpu_warns_before_rendering(compose_config, machine):
    machine("AVX2-only CPU")
    cfg = compose_config("animation=none", "model=tiny", "model.precision=bf16")
    plan = plan_and_resolve(to_settings(cfg))
    assert plan.precision("unet") == "bf16"
    assert any("precision bf16 on this CPU (no AMX-BF16 or AVX512-BF16) is emulated" in w for w in plan.warnings)
