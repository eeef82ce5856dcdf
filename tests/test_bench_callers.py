"""The benchmarks that time bench_step's guided step call its ``build`` as it is today (a row and a device)."""
from __future__ import annotations

import inspect

import pytest
import torch

from benchmarks import bench_frame3d, bench_progress, bench_step


@pytest.fixture
def built(monkeypatch):
    """``bench_step.build`` replaced by one that checks its arguments against the real signature and returns a no-op
    step."""
    calls = []
    signature = inspect.signature(bench_step.build)

    def fake_build(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        calls.append(bound.arguments)
        return lambda x: x

    monkeypatch.setattr(bench_step, "build", fake_build)
    return calls


@pytest.mark.parametrize("time_step", [lambda: bench_frame3d.guided_step(8, 8),
                                       lambda: bench_progress.guided_step_seconds(16, 1)])
def test_a_guided_step_is_built_from_a_known_row_on_a_device(built, time_step):
    assert time_step() >= 0
    assert len(built) == 1
    assert built[0]["row"] in bench_step.ROWS and isinstance(built[0]["device"], torch.device)
