"""The GPU check's behaviour on a machine without CUDA, and the report it writes."""
from __future__ import annotations

import subprocess
import sys
import time

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
    marker = tmp_path / "grandchild-ran"
    grandchild = f"import time; time.sleep(3); open({str(marker)!r}, 'w')"
    part = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {grandchild!r}]); time.sleep(30)"
    slow = gpu_check.run_section("Slow", [sys.executable, "-c", part], env={}, timeout=1)
    assert "stopped after 1 s" in slow
    time.sleep(5)
    assert not marker.exists()  # the part's own children were stopped with it
    assert gpu_check.report([section]).startswith("# GPU check\n\n## A part")


def test_missing_wheels_are_a_named_error(tmp_path):
    done = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--wheels", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "no wheels in" in done.stderr and "gpu_wheels.sh" in done.stderr


def test_the_summary_gathers_the_answers_from_the_parts_output():
    parts = ["## A\n\n| part | FLOP |\nEstimated DD frame (100 guided steps): 9.1 s with DD's loop\n"
             "Peak memory (x): 3 GB.",
             "## B\n\nSame precision (one guided step, ours vs DD's code): ours fp16 1.80x ref fp16.\nnoise"]
    text = gpu_check.summary(parts)
    assert text.splitlines()[2:] == ["- Estimated DD frame (100 guided steps): 9.1 s with DD's loop",
                                     "- Peak memory (x): 3 GB.",
                                     "- Same precision (one guided step, ours vs DD's code): ours fp16 1.80x ref fp16."]
    assert "no part finished" in gpu_check.summary(["## A\n\nTraceback"])


def test_the_plan_on_a_gpu_and_on_a_cpu():
    def titles(*argv):
        parser_args = gpu_check.argparse.Namespace(device="cpu", size=None, repeats=1, threads=2, tiny=False,
                                                   compile=False)
        for key, value in zip(argv[::2], argv[1::2]):
            setattr(parser_args, key, value)
        return {s.title.split(" (")[0].split(",")[0]: s for s in gpu_check.plan(parser_args)}

    gpu = titles("device", "cuda")
    assert list(gpu) == ["Tests marked cuda", "A DD-default frame's guided step", "One guided step against DD's code"]
    assert "--size" not in gpu["A DD-default frame's guided step"].command  # DD's 1280x768
    assert gpu["One guided step against DD's code"].command[-3:] == ["--size", "512", "--skip-memory"]
    assert sum(s.share for s in gpu.values()) > 1  # the last part gets what the budget leaves
    cpu = titles("size", 64)
    assert "Tests marked cuda" not in cpu and "64x64" in cpu["A DD-default frame's guided step"].command


def test_a_spent_budget_still_writes_the_report(tmp_path, capsys):
    assert gpu_check.main(["--device", "cpu", "--tiny", "--budget", "0", "--out", str(tmp_path / "r.md")]) == 0
    text = (tmp_path / "r.md").read_text()
    assert text.startswith("# GPU check\n\n## Summary\n\n- no part finished")
    assert "## Device" in text and "Peak of" in text and "not run: the time budget (0 s) was spent" in text
    assert text in capsys.readouterr().out


@pytest.mark.slow
def test_the_report_of_a_tiny_run_on_a_cpu(tmp_path):
    out = tmp_path / "r.md"
    done = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--device", "cpu", "--tiny", "--size", "64",
                           "--threads", "1", "--budget", "900", "--out", str(out)], cwd=ROOT, capture_output=True,
                          text=True, timeout=1000)
    assert done.returncode == 0, done.stderr[-2000:]
    text = out.read_text()
    summary, rest = text.split("## Device")
    assert "- Estimated DD frame (100 guided steps): " in summary and "- Peak memory (peak RSS): " in summary
    assert "| part | precision | FLOP | median ms | min ms | TFLOP/s | of peak |" in rest
    rows = [line for line in rest.splitlines() if line.startswith("| ") and "|---" not in line][1:]
    assert len(rows) == 11 and rows[-1].startswith("| whole guided step, batch_cutouts | ")
    assert all(row.count("|") == 8 and row.split("|")[3].strip() not in ("", "0") for row in rows)  # all counted
    assert "bench_parts --device cpu --repeats 1 --threads 1 --size 64x64 --tiny`: exit 0" in rest
    assert "One guided step against DD's code" not in rest and "The check took" in text
