"""``parameters.csv`` and ``parameters.srt``: every frame's schedule values, prompts and seed, written from the plan.

The CSV has one row per frame (frame, seconds, the song's beat clock when a song is set, every schedule's exact
value, the prompt mix with its weights, the seed); the SRT holds the same per frame as a subtitle lasting that frame,
Deforum's convention, and ``output.subtitles=true`` muxes it into the mp4.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

from render.config.plan import PromptMix, RenderPlan
from render.disk.atomic import atomic_open

CSV_FILE, SRT_FILE = "parameters.csv", "parameters.srt"


def write_parameters(plan: RenderPlan, run_dir: Path) -> tuple[Path, Path]:
    """Write both files into ``run_dir``; returns their paths."""
    rows = parameter_rows(plan)
    csv_path, srt_path = Path(run_dir) / CSV_FILE, Path(run_dir) / SRT_FILE
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    with atomic_open(csv_path, "w") as fh:
        fh.write(text.getvalue())
    with atomic_open(srt_path, "w") as fh:
        fh.write(subtitles(plan, rows))
    return csv_path, srt_path


def parameter_rows(plan: RenderPlan) -> list[dict[str, str]]:
    """One row per frame; numbers written exactly (``repr`` round-trips)."""
    images = any(plan.image_prompts.frames)
    rows = []
    for f in range(plan.n_frames):
        row = {"frame": str(f), "seconds": repr(f / plan.fps)}
        if plan.audio is not None:
            row["beat"] = repr(float(plan.audio.b[min(f, len(plan.audio.b) - 1)]))
        row.update({name: repr(float(values[f])) for name, values in plan.schedules.items()})
        mixes = plan.prompt_mix(f)
        row["prompts"] = prompt_mix_text(mixes, "text")
        if images:
            row["image_prompts"] = prompt_mix_text(mixes, "images")
        row["seed"] = str(plan.frame_seed(f))
        rows.append(row)
    return rows


def prompt_mix_text(mixes: tuple[PromptMix, ...], part: str) -> str:
    """``"a lighthouse:2 | yellow:1"``; while prompts fade, each set with its share: ``"0.75*(a:1) + 0.25*(b:1)"``."""
    sets = [(m.weight, " | ".join(f"{p.text}:{p.weight:g}" for p in getattr(m, part))) for m in mixes]
    if len(sets) == 1:
        return sets[0][1]
    return " + ".join(f"{w:.4g}*({text})" for w, text in sets)


def subtitles(plan: RenderPlan, rows: list[dict[str, str]]) -> str:
    """SRT text: subtitle ``f+1`` lasts frame ``f`` (from ``f/fps`` to ``(f+1)/fps``)."""
    names = list(plan.schedules)
    blocks = []
    for f, row in enumerate(rows):
        values = "; ".join(f"{name.rpartition('.')[2]}: {float(row[name]):.6g}" for name in names)
        text = f"F#: {f}; Seed: {row['seed']}; {values}; Prompt: {row['prompts']}"
        blocks.append(f"{f + 1}\n{_timestamp(f / plan.fps)} --> {_timestamp((f + 1) / plan.fps)}\n{text}\n")
    return "\n".join(blocks)


def _timestamp(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"
