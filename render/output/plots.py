"""``schedules.png``: every animated parameter over the frames, with the frames where prompts change (dashed) and
fade (shaded, with a panel of each fade's weight), and the song's features (``audio.path``) below them on the same
frame axis, so beat sync can be checked before rendering."""
from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

if TYPE_CHECKING:
    from audio.analysis import AudioFeatures
    from transforms.prompts import PromptSchedule

AUDIO_PANELS = (("beat", ("beat",)), ("level and onsets", ("rms", "onset")), ("bands", ("lo", "mid", "hi")))


def prompt_fade_panels(**schedules: "PromptSchedule") -> tuple[dict[str, np.ndarray], list[tuple[int, int]]]:
    """For ``text_prompts=..., image_prompts=...``: a curve per schedule that fades (the weight of the key in force:
    1 outside fades), and every fade's ``(first, last)`` frames."""
    panels, spans = {}, []
    for name, schedule in schedules.items():
        if schedule.blend:
            panels[f"{name}: weight of the incoming key (fades)"] = np.asarray(schedule.blend)
            spans += schedule.fade_spans()
    return panels, sorted(spans)


def plot_schedules(schedules: Mapping[str, np.ndarray], path: Path, *, fps: float,
                   prompt_changes: Sequence[int] = (), title: str = "",
                   audio: "AudioFeatures | None" = None, prompt_fades: Sequence[tuple[int, int]] = ()) -> Path:
    """One small panel per schedule (frames on x, seconds on a top axis); dashed lines where prompts change, shaded
    spans where they fade (``prompt_fades``: first and last frame of each). With ``audio``, three more panels: the
    beat pulse (detected beats marked), rms and onsets, and the lo/mid/hi bands."""
    names = list(schedules) + ([f"audio: {title}" for title, _ in AUDIO_PANELS] if audio is not None else [])
    cols = 2 if len(names) > 1 else 1
    rows = max(1, math.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 2.2 * rows), squeeze=False, sharex=True)
    for ax, name in zip(axes.flat, names):
        if name in schedules:
            values = schedules[name]
            ax.plot(np.arange(len(values)), values, lw=1.5)
        else:
            name = _plot_audio(ax, audio, name.removeprefix("audio: "))
        ax.set_title(name, fontsize=9, loc="left", pad=16 if ax in axes[0] else 4)
        for frame in prompt_changes:
            ax.axvline(frame, color="grey", ls="--", lw=0.8)
        for first, last in prompt_fades:
            ax.axvspan(first - 1, last, color="tab:orange", alpha=0.15, lw=0)
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


def _plot_audio(ax, audio: "AudioFeatures", panel: str) -> str:
    """One panel of song features (each in [0, 1]); returns its title."""
    keys = dict(AUDIO_PANELS)[panel]
    frames = np.arange(audio.n_frames)
    for key in keys:
        ax.plot(frames, getattr(audio, key), lw=1.0, label=key)
    if panel == "beat":
        for frame in audio.beat_frames:
            ax.axvline(frame, color="tab:red", alpha=0.25, lw=0.6)
        return f"audio: beat (pulse; detected beats in red), {audio.bpm:.1f} bpm"
    ax.legend(fontsize=7, loc="upper right", ncol=len(keys), frameon=False)
    return f"audio: {', '.join(keys)}"
