"""The GPU check's behaviour on a machine without CUDA, and the report it writes."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from conftest import ROOT

from benchmarks import gpu_check


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU machine the check runs for real")
def test_without_cuda_it_says_so_in_one_line_and_exits_non_zero(tmp_path):
    done = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--out", str(tmp_path / "r.md")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1 and "no CUDA device" in lines[0]
    assert not (tmp_path / "r.md").exists()


def test_a_part_that_fails_is_reported_with_its_output(tmp_path):
    section = gpu_check.run_section("A part", [sys.executable, "-c", "print('hello'); raise SystemExit(3)"],
                                    env={}, timeout=60)
    assert section.startswith("## A part") and "exit 3" in section and "hello" in section
    slow = gpu_check.run_section("Slow", [sys.executable, "-c", "import time; time.sleep(30)"], env={}, timeout=1)
    assert "stopped after 1 s" in slow
    assert gpu_check.report([section]).startswith("# GPU check\n\n## A part")


def test_missing_wheels_are_a_named_error(tmp_path):
    done = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--wheels", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "no wheels in" in done.stderr and "gpu_wheels.sh" in done.stderr
