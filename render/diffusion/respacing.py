"""DD's step counts: linear betas and guided-diffusion's timestep respacing, in NumPy (no torch: the planner checks step
counts with it)."""
from __future__ import annotations

import numpy as np


def linear_betas(num_steps: int) -> np.ndarray:
    """Ho et al.'s linear betas, scaled by 1000/num_steps so that any step count spans the same noise range."""
    scale = 1000 / num_steps
    return np.linspace(scale * 0.0001, scale * 0.02, num_steps, dtype=np.float64)


def space_timesteps(num_steps: int, section_counts: str | int | list[int]) -> set[int]:
    """The timesteps kept from ``num_steps``: "ddimN" (DDIM's fixed integer stride giving exactly N steps), or
    counts per equal section ("N" or "N,M,..."), strided evenly inside each section."""
    if isinstance(section_counts, str) and section_counts.startswith("ddim"):
        desired = int(section_counts[len("ddim"):])
        for stride in range(1, num_steps):
            if len(range(0, num_steps, stride)) == desired:
                return set(range(0, num_steps, stride))
        raise ValueError(f"cannot create exactly {desired} steps out of {num_steps} with an integer stride")
    if isinstance(section_counts, str):
        section_counts = [int(x) for x in section_counts.split(",")]
    elif isinstance(section_counts, int):
        section_counts = [section_counts]
    size_per, extra = divmod(num_steps, len(section_counts))
    start, steps = 0, []
    for i, count in enumerate(section_counts):
        size = size_per + (1 if i < extra else 0)
        if size < count:
            raise ValueError(f"cannot divide a section of {size} steps into {count}")
        stride = 1 if count <= 1 else (size - 1) / (count - 1)
        position = 0.0
        for _ in range(count):  # a running sum, as the reference, so that halves round the same way
            steps.append(start + round(position))
            position += stride
        start += size
    return set(steps)


def diffusion_steps_for(steps: int) -> int:
    """DD's diffusion steps for ``steps`` sampling steps: ``(1000//steps)*steps`` (or ``steps`` from 1000 on)."""
    return (1000 // steps) * steps if steps < 1000 else steps


def check_respacing(steps: int) -> None:
    """Raise ValueError when DD's respacing (``ddim{steps}`` out of :func:`diffusion_steps_for`) cannot make
    ``steps`` steps."""
    space_timesteps(diffusion_steps_for(steps), f"ddim{steps}")
