"""``report.html``: one run on one page, next to its frames. The video (or the latest frames while rendering), the
contact sheet, ``schedules.png``, the metrics, a per-frame timing plot, the settings that differ from the presets'
defaults, the status and the resume command. Links are relative to the run directory and nothing is fetched, so the
page works offline and when the folder is moved; while the run is under way the page reloads itself.

``python -m render.output.report <run dir>`` (re)writes it for any run directory with a ``run.json``.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from render.config.presets import preset_defaults
from render.output.pages import (
    badge,
    esc,
    href,
    key_values,
    number,
    page,
    setting_value,
    write_page,
)
from render.run.record import FrameTiming, RunRecord
from render.run.resume import flatten, resume_command

log = logging.getLogger(__name__)
REPORT_NAME = "report.html"
LATEST_FRAMES = 8  # shown while rendering
REFRESH_SECONDS = 10  # how often an open page reloads while the run is under way
STAGES = (("prepare", "#4e79a7"), ("generate", "#f28e2b"), ("save", "#59a14f"))
IGNORED_CHANGES = frozenset({"resume"})
MISSING = "(not set)"


class RunReport:
    """Writes ``report.html`` for one run; :meth:`refresh` is what the session calls after every ``run.json``."""

    def __init__(self, root: Path, batch_name: str, n_frames: int | None = None):
        self.root, self.batch_name, self.n_frames = Path(root), batch_name, n_frames
        self.path = self.root / REPORT_NAME
        self._defaults: dict[str, Any] | None = None
        self._defaults_note = ""
        self._failed = False

    def write(self, record: RunRecord) -> Path:
        return write_page(self.path, report_html(self.root, record, batch_name=self.batch_name,
                                                 n_frames=self.n_frames, changes=self.changes(record)))

    def refresh(self, record: RunRecord) -> None:
        """:meth:`write`, where a failure is logged (once) and never stops the render."""
        try:
            self.write(record)
        except Exception as exc:  # noqa: BLE001 - the page is a view; the frames matter
            if not self._failed:
                log.warning("could not write %s: %s", self.path, exc)
            self._failed = True

    def changes(self, record: RunRecord) -> tuple[list[tuple[str, Any, Any]], str]:
        """(setting, this run's value, the presets' default) for each difference, and a note on what was compared."""
        if self._defaults is None and not self._defaults_note:
            try:
                self._defaults = flatten(preset_defaults(record.presets))
                choices = (record.presets or {}).get("choices") or {}
                name = (record.presets or {}).get("config_name") or "config"
                self._defaults_note = (f"compared with conf/{name}.yaml and the presets "
                                       + (" ".join(f"{g}={c}" for g, c in sorted(choices.items())) or "(none)"))
            except Exception as exc:  # noqa: BLE001 - e.g. a preset file removed since the run
                self._defaults_note = f"the presets' defaults could not be composed ({exc})"
        if self._defaults is None:
            return [], self._defaults_note
        mine = flatten(record.config or {})
        keys = sorted(k for k in set(mine) | set(self._defaults) if k not in IGNORED_CHANGES
                      and mine.get(k, MISSING) != self._defaults.get(k, MISSING))
        return [(k, mine.get(k, MISSING), self._defaults.get(k, MISSING)) for k in keys], self._defaults_note


def report_html(root: Path, record: RunRecord, *, batch_name: str, n_frames: int | None,
                changes: tuple[list[tuple[str, Any, Any]], str]) -> str:
    """The page's HTML."""
    running = record.status == "running"
    sections = [_header(root, record, batch_name, n_frames), _videos(root, record, batch_name),
                _images(root, batch_name), _metrics(record), _timing_section(record.frames),
                _changes(*changes), _files(root)]
    return page(f"{batch_name}: {record.status.split(':', 1)[0]}", "\n".join(s for s in sections if s),
                refresh_seconds=REFRESH_SECONDS if running else None)


def _header(root: Path, record: RunRecord, batch_name: str, n_frames: int | None) -> str:
    done = len(record.frames)
    total = f" of {n_frames}" if n_frames else ""
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(record.started))
    lines = [f'<h1>{esc(batch_name)} {badge(record.status)}</h1>',
             f'<p class="note"><code>{esc(root)}</code> · started {esc(when)} · {done}{total} frames done'
             + (f" · resumed at frame {', '.join(map(str, record.resumed_at))}" if record.resumed_at else "") + "</p>"]
    if record.status.startswith("failed"):
        lines.append(f'<p class="error">{esc(record.status)}</p>')
    if record.warnings:  # said where people look: random networks, missing files, precisions against the hardware
        items = "".join(f"<li><pre>{esc(w)}</pre></li>" for w in record.warnings)
        lines.append(f'<div class="warning" id="warnings"><strong>{len(record.warnings)} warning'
                     f'{"s" if len(record.warnings) != 1 else ""}</strong><ul>{items}</ul></div>')
    if record.status != "completed":
        what = ("if it stops, continue it with" if record.status == "running" else "continue it with")
        lines.append(f'<p>The run is {esc(record.status.split(":", 1)[0])}; {what}:</p>'
                     f'<pre id="resume-command">{esc(resume_command(root))}</pre>')
        if record.status == "running":
            lines.append(f'<p class="note">This page reloads every {REFRESH_SECONDS} s until the run ends.</p>')
    return "\n".join(lines)


def _videos(root: Path, record: RunRecord, batch_name: str) -> str:
    """Every video of the run (the main one first); while there is none, the latest frames."""
    main = root / f"{batch_name}.mp4"
    videos = ([main] if main.is_file() else []) + sorted(p for p in root.glob(f"{batch_name}_*.mp4") if p != main)
    if videos and record.status == "completed":
        figures = "".join(f'<figure class="panel"><video controls loop preload="metadata" src="{href(v, root)}">'
                          f'</video><figcaption><a href="{href(v, root)}">{esc(v.name)}</a></figcaption></figure>'
                          for v in videos)
        return f'<h2>Video</h2><div class="row">{figures}</div>'
    done = sorted(t.frame for t in record.frames)[-LATEST_FRAMES:]
    frames = [(f, root / "frames" / f"{f:05d}.png") for f in done]
    tiles = "".join(f'<figure><img src="{href(p, root)}" alt="frame {f}"><figcaption>frame {f}</figcaption>'
                    f'</figure>' for f, p in frames if p.is_file())
    title = "Latest frames" if record.status != "completed" else "Frames (no video: output.video=false)"
    return f'<h2>{title}</h2><div class="row frames">{tiles or "<p class=note>no frame yet</p>"}</div>'


def _images(root: Path, batch_name: str) -> str:
    parts = []
    for name, title in ((f"{batch_name}_contact.png", "Contact sheet"),
                        ("schedules.png", "Schedules (and the song's features)")):
        if (root / name).is_file():
            parts.append(f'<h2>{title}</h2><a href="{href(root / name, root)}"><img src="{href(root / name, root)}" '
                         f'alt="{esc(title)}"></a>')
    return "\n".join(parts)


def _metrics(record: RunRecord) -> str:
    stages = {name: sum(t.seconds.get(name, 0.0) for t in record.frames) for name, _ in STAGES}
    total, n = sum(stages.values()), len(record.frames)
    rows = [(k, f'<span class="num" data-metric="{esc(k)}">{esc(number(v)) if v is not None else "—"}</span>')
            for k, v in record.metrics.items()]
    rows += [("frames rendered", str(n)),
             ("render time", f"{total:.1f} s" + (f" ({total / n:.2f} s per frame)" if n else "")),
             ("peak memory", f"{record.peak_rss_mb:.0f} MB RSS" + (f", {record.peak_gpu_mb:.0f} MB GPU"
                                                                  if record.peak_gpu_mb is not None else "")),
             ("device", esc(record.device)), ("code", esc(record.git_commit or "unknown"))]
    if record.finished is not None:
        rows.append(("wall time", f"{record.finished - record.started:.1f} s"))
    note = "" if record.metrics else '<p class="note">No quality metrics (output.quality: off for previews).</p>'
    return f'<h2>Metrics</h2>{note}{key_values(rows)}'


def _timing_section(frames: Sequence[FrameTiming]) -> str:
    legend = " ".join(f'<span style="color:{color}">■</span> {name}' for name, color in STAGES)
    return f'<h2>Seconds per frame</h2><p class="note">{legend}</p>{timing_svg(frames)}'


def timing_svg(frames: Sequence[FrameTiming], width: int = 900, height: int = 220) -> str:
    """The time each frame took, stacked by stage (prepare, generate, save), as inline SVG."""
    frames = sorted(frames, key=lambda t: t.frame)
    if not frames:
        return '<p class="note">no frame yet</p>'
    left, bottom, top, right = 64, 22, 8, 8
    first, last = frames[0].frame, frames[-1].frame + 1
    peak = max(sum(t.seconds.get(name, 0.0) for name, _ in STAGES) for t in frames) or 1.0

    def x(frame: float) -> float:
        return left + (frame - first) / max(1, last - first) * (width - left - right)

    def y(seconds: float) -> float:
        return height - bottom - seconds / peak * (height - bottom - top)

    shapes, below = [], [0.0] * len(frames)
    for name, color in STAGES:
        above = [b + t.seconds.get(name, 0.0) for b, t in zip(below, frames)]
        upper = [f"{x(t.frame + d):.1f},{y(v):.1f}" for t, v in zip(frames, above) for d in (0, 1)]
        lower = [f"{x(t.frame + d):.1f},{y(v):.1f}" for t, v in reversed(list(zip(frames, below))) for d in (1, 0)]
        shapes.append(f'<polygon class="stage" data-stage="{name}" fill="{color}" points="{" ".join(upper + lower)}">'
                      f'<title>{name}: {sum(a - b for a, b in zip(above, below)):.2f} s in all</title></polygon>')
        below = above
    ticks = "".join(f'<text x="{left - 4}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.3g} s</text>'
                    f'<line x1="{left}" x2="{width - right}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#333"/>'
                    for v in (0.0, peak / 2, peak))
    labels = "".join(f'<text x="{x(f + 0.5):.1f}" y="{height - 6}" text-anchor="middle">{f}</text>'
                     for f in sorted({first, (first + last - 1) // 2, last - 1}))
    return (f'<svg id="timing" data-frames="{len(frames)}" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-size="11" fill="#9aa0a8" role="img" '
            f'aria-label="seconds per frame by stage">{ticks}{"".join(shapes)}{labels}</svg>')


def _changes(changes: list[tuple[str, Any, Any]], note: str) -> str:
    rows = "".join(f"<tr><th><code>{esc(k)}</code></th><td><code>{esc(setting_value(mine))}</code></td>"
                   f'<td class="note"><code>{esc(setting_value(default))}</code></td></tr>'
                   for k, mine, default in changes)
    table = (f'<table id="changes"><tr><th>setting</th><th>this run</th><th>default</th></tr>{rows}</table>'
             if rows else '<p class="note">none: every setting is the presets\' default</p>')
    return f'<h2>Settings that differ from the defaults</h2><p class="note">{esc(note)}</p>{table}'


def _files(root: Path) -> str:
    names = ("config.yaml", "run.json", "quality.csv", "main.log", "frames")
    links = " · ".join(f'<a href="{href(root / n, root)}">{n}</a>' for n in names if (root / n).exists())
    return f"<h2>Files</h2><p>{links}</p>"


def write_report(run_dir: Path) -> Path:
    """(Re)write ``report.html`` of a run directory from its ``run.json``."""
    run_dir = Path(run_dir)
    record = RunRecord.read(run_dir / "run.json")
    batch_name = str((record.config or {}).get("batch_name") or "TimeToDisco")
    frames = (record.config or {}).get("animation", {}).get("max_frames")
    n_frames = frames if isinstance(frames, int) else None
    return RunReport(run_dir, batch_name, n_frames).write(record)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m render.output.report",
                                     description="Write report.html for a run directory (one with run.json).")
    parser.add_argument("run_dir", type=Path, help="the run directory, e.g. outputs/TimeToDisco/2025-01-31_12-00-00")
    args = parser.parse_args(argv)
    if not (args.run_dir / "run.json").is_file():
        print(f"error: {args.run_dir} has no run.json; give a run directory of 'python main.py'", file=sys.stderr)
        return 2
    try:
        path = write_report(args.run_dir)
    except (OSError, ValueError, TypeError) as exc:
        print(f"error: cannot read {args.run_dir / 'run.json'}: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
