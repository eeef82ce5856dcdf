"""``schedules.png``: every animated parameter over the frames, with the frames where prompts change."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_schedules(schedules: Mapping[str, np.ndarray], path: Path, *, fps: float,
                   prompt_changes: Sequence[int] = (), title: str = "") -> Path:
    """One small panel per schedule (frames on x, seconds on a top axis); dashed lines where prompts change."""
    names = list(schedules)
    cols = 2 if len(names) > 1 else 1
    rows = max(1, math.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 2.2 * rows), squeeze=False, sharex=True)
    for ax, name in zip(axes.flat, names):
        values = schedules[name]
        ax.plot(np.arange(len(values)), values, lw=1.5)
        ax.set_title(name, fontsize=9, loc="left", pad=16 if ax in axes[0] else 4)
        for frame in prompt_changes:
            ax.axvline(frame, color="grey", ls="--", lw=0.8)
        ax.grid(alpha=0.3)
        ax.margins(x=0)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    if not names:
        axes[0, 0].text(0.5, 0.5, "no animated parameters in this mode", ha="center", va="center")
    for ax in axes[-1]:
        ax.set_xlabel("frame")
    for ax in axes[0]:
        top = ax.secondary_xaxis("top", functions=(lambda f: f / fps, lambda s: s * fps))
        top.tick_params(labelsize=7)
        top.set_xlabel("seconds", fontsize=7, labelpad=1, loc="right")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
