"""Sweep summaries: after ``python main.py -m ...``, one table of every job's varied settings, metrics and video.

Each job of a sweep writes its own run directory (``<sweep dir>/<job num>/``) with ``run.json``; comparing them by
hand means opening every one. :class:`SweepSummary` (a Hydra callback, registered in ``conf/config.yaml``) writes
``summary.csv`` and ``summary.md`` into the sweep directory when the multirun ends, failed jobs included;
``python -m render.output.sweep <sweep dir> [--rank-by METRIC]`` (re)writes them, e.g. after some jobs were resumed.
"""
from __future__ import annotations

import argparse
import atexit
import csv
import json
import logging
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import yaml
from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import CompactHydraException
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from render.disk.atomic import atomic_open

log = logging.getLogger(__name__)

# Metrics shown first, in this order (others follow as they appear in run.json); "auto" ranking uses the first two.
METRIC_ORDER = ("clip_similarity", "flicker", "color_drift_mean", "color_drift_std")
# Settings that differ between jobs without describing what the sweep compared.
IGNORED_SETTINGS = frozenset({"resume"})
SUMMARY_CSV, SUMMARY_MD = "summary.csv", "summary.md"
_LOG_RECORD = re.compile(r"^\[[^\]]*\]\[[^\]]*\]\[(?P<level>[A-Z]+)\] - (?P<message>.*)$")


class SweepError(Exception):
    """A sweep directory or a ranking option that cannot be summarised; the message says what to change."""


class SweepJobFailed(CompactHydraException):
    """A sweep job's error, already logged to its ``main.log``.

    main.py raises this instead of ``sys.exit`` in a multirun: Hydra's launchers record an ordinary exception as a
    failed job and go on with the others, whereas a SystemExit ends the whole sweep. Being a
    ``CompactHydraException``, Hydra reports it at the end of the sweep as its message alone, without a traceback.
    """

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message, exit_code)  # both in args, so the exception pickles back from joblib/submitit jobs
        self.message, self.exit_code = message, exit_code

    def __str__(self) -> str:
        return self.message


@dataclass
class JobRun:
    """What the summary needs from one job directory (its ``run.json``, else Hydra's ``.hydra/`` files)."""

    name: str
    path: Path
    status: str
    settings: dict[str, Any]  # the config flattened to dotted keys
    overrides: dict[str, str] = field(default_factory=dict)  # this job's command-line overrides, key -> value
    metrics: dict[str, Any] = field(default_factory=dict)
    frames: int = 0
    seconds: float | None = None
    video: Path | None = None

    @property
    def completed(self) -> bool:
        return self.status == "completed"


@dataclass(frozen=True)
class Summary:
    """The written summary: its files, its columns and its rows (best first)."""

    csv_path: Path
    md_path: Path
    columns: list[str]
    rows: list[dict[str, str]]
    ranking: str


# ---------------------------------------------------------------------------------------------------------------
# Reading the job directories


def flatten(config: Any, prefix: str = "") -> dict[str, Any]:
    """``{"animation": {"zoom": z}}`` -> ``{"animation.zoom": z}``: the keys as they are written on the command line.
    Lists stay whole values (a list of prompts is one setting)."""
    if not isinstance(config, dict):
        return {prefix: config}
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        flat.update(flatten(value, name) if isinstance(value, dict) and value else {name: value})
    return flat


def read_overrides(job_dir: Path) -> dict[str, str]:
    """The job's overrides from ``.hydra/overrides.yaml`` (``+``/``++``/``~`` prefixes dropped)."""
    path = job_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return {}
    overrides = {}
    for item in yaml.safe_load(path.read_text()) or []:
        key, _, value = str(item).partition("=")
        overrides[key.lstrip("+~")] = value
    return overrides


def failure_reason(job_dir: Path) -> str | None:
    """The first ERROR record of the job's log, on one line: why a job without ``run.json`` ended.

    A job whose settings were refused fails before its ``run.json`` is written; main.py logs the reason first."""
    for log_path in sorted(job_dir.glob("*.log")):
        lines = log_path.read_text(errors="replace").splitlines()
        for i, line in enumerate(lines):
            match = _LOG_RECORD.match(line)
            if match and match["level"] in ("ERROR", "CRITICAL"):
                rest = [match["message"]]
                for more in lines[i + 1:]:
                    if _LOG_RECORD.match(more) or more.startswith("Traceback (most recent call last)"):
                        break
                    rest.append(more)
                text = " ".join(" ".join(rest).split())
                return text if len(text) <= 300 else text[:297] + "..."
    return None


def _video_path(job_dir: Path, recorded: str | None) -> Path | None:
    """The recorded video, or the file of that name in the job directory when the sweep was moved (e.g. copied back
    from a cluster)."""
    if not recorded:
        return None
    path, moved = Path(recorded), job_dir / Path(recorded).name
    return moved.resolve() if not path.is_file() and moved.is_file() else path.resolve()


def load_job(job_dir: Path) -> JobRun:
    """One job's record; a job without ``run.json`` (failed before rendering) gets its config from ``.hydra/``."""
    record_path = job_dir / "run.json"
    overrides = read_overrides(job_dir)
    if not record_path.is_file():
        config_path = job_dir / ".hydra" / "config.yaml"
        config = yaml.safe_load(config_path.read_text()) if config_path.is_file() else {}
        reason = failure_reason(job_dir)
        status = f"failed: {reason}" if reason else "no run.json (see main.log)"
        return JobRun(job_dir.name, job_dir, status, flatten(config or {}), overrides)
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError) as exc:
        return JobRun(job_dir.name, job_dir, f"unreadable run.json: {exc}", {}, overrides)
    started, finished = record.get("started"), record.get("finished")
    seconds = finished - started if isinstance(started, (int, float)) and isinstance(finished, (int, float)) else None
    return JobRun(job_dir.name, job_dir, str(record.get("status", "unknown")), flatten(record.get("config") or {}),
                  overrides, dict(record.get("metrics") or {}), len(record.get("frames") or []), seconds,
                  _video_path(job_dir, record.get("video")))


def _job_order(path: Path) -> tuple[int, str]:
    return (int(path.name), "") if path.name.isdigit() else (sys.maxsize, path.name)


def find_jobs(sweep_dir: Path) -> list[JobRun]:
    """Every job directory of a sweep (a subdirectory with ``run.json`` or Hydra's ``.hydra/``), in job order."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise SweepError(f"{sweep_dir} is not a directory; give the sweep directory, e.g. multirun/<batch>/<date>")
    dirs = [d for d in sweep_dir.iterdir() if d.is_dir() and not d.name.startswith(".")
            and ((d / "run.json").is_file() or (d / ".hydra").is_dir())]
    if not dirs:
        raise SweepError(f"{sweep_dir} has no job directories (subdirectories with run.json or .hydra/); is it the "
                         f"sweep directory of 'python main.py -m ...'?")
    return [load_job(d) for d in sorted(dirs, key=_job_order)]


# ---------------------------------------------------------------------------------------------------------------
# What varied, and the ranking


def _differs(values: list[Any]) -> bool:
    return any(v != values[0] for v in values[1:])


def varied_settings(jobs: Sequence[JobRun]) -> list[str]:
    """The settings that differ between jobs: the sweep's axes, then anything else that changed (e.g. a drawn seed).

    A swept config group (``animation=2d_zoom,3d_zoom``) is one column named after the group: the settings it
    changes underneath are not repeated, unless they were swept themselves."""
    missing = object()
    override_keys = list(dict.fromkeys(k for job in jobs for k in job.overrides))
    leaves = {k for job in jobs for k in job.settings}
    swept = [k for k in override_keys if _differs([job.overrides.get(k, missing) for job in jobs])]
    groups = [k for k in swept if k not in leaves]
    columns = groups + [k for k in swept if k in leaves and k not in IGNORED_SETTINGS]
    others = sorted(k for k in leaves if k not in columns and k not in IGNORED_SETTINGS
                    and not any(k.startswith(g + ".") for g in groups)
                    and _differs([job.settings.get(k, missing) for job in jobs]))
    return columns + others


def setting_text(job: JobRun, key: str) -> str:
    """A setting's value as it would be written in an override (a swept group: its choice)."""
    if key not in job.settings:
        return job.overrides.get(key, "")
    value = job.settings[key]
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def metric_value(job: JobRun, name: str) -> float | None:
    """A metric as a float, or None when missing, null, not a number or NaN."""
    value = job.metrics.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return float(value)


def metric_names(jobs: Iterable[JobRun]) -> list[str]:
    seen = list(dict.fromkeys(k for job in jobs for k in job.metrics))
    return [m for m in METRIC_ORDER if m in seen] + [m for m in seen if m not in METRIC_ORDER]


def ranking_keys(rank_by: str, jobs: Sequence[JobRun]) -> list[tuple[str, bool]]:
    """``rank_by`` as (metric, descending) keys. ``auto``: highest CLIP similarity when every completed run has one
    (real CLIP weights), else lowest flicker, ties broken by the lowest colour drift."""
    rank_by = str(rank_by).strip()
    if rank_by == "auto":
        done = [job for job in jobs if job.completed]
        if done and all(metric_value(job, "clip_similarity") is not None for job in done):
            return [("clip_similarity", True)]
        return [("flicker", False), ("color_drift_mean", False)]
    name = rank_by.lstrip("+-")
    known = metric_names(jobs) + [m for m in METRIC_ORDER if m not in metric_names(jobs)]
    if name not in known:
        raise SweepError(f"rank_by={rank_by!r}: no metric {name!r}; use one of {', '.join(known)} (prefix - for "
                         f"highest first), or auto")
    return [(name, rank_by.startswith("-"))]


def describe_ranking(keys: list[tuple[str, bool]]) -> str:
    parts = [f"{name} ({'highest' if desc else 'lowest'} first)" for name, desc in keys]
    return parts[0] + (f", ties by {', '.join(parts[1:])}" if parts[1:] else "")


def rank_jobs(jobs: Sequence[JobRun], keys: list[tuple[str, bool]]) -> list[tuple[int | None, JobRun]]:
    """Jobs best first with their rank: completed runs with the metric by it, then completed runs without it, then
    failed and unfinished runs (no rank), each group in job order."""
    def sort_key(job: JobRun) -> tuple[float, ...]:
        values = [metric_value(job, name) for name, _ in keys]
        return tuple(math.inf if v is None else (-v if desc else v) for v, (_, desc) in zip(values, keys))

    primary = keys[0][0]
    ranked = sorted((j for j in jobs if j.completed and metric_value(j, primary) is not None), key=sort_key)
    unranked = [j for j in jobs if j.completed and metric_value(j, primary) is None]
    incomplete = [j for j in jobs if not j.completed]
    return [(i + 1, job) for i, job in enumerate(ranked)] + [(None, job) for job in unranked + incomplete]


# ---------------------------------------------------------------------------------------------------------------
# Writing


def _number(value: float | None, digits: int | None = None) -> str:
    if value is None:
        return ""
    return f"{value:.{digits}g}" if digits else repr(round(value, 6))


def summary_rows(ranked: list[tuple[int | None, JobRun]], varied: list[str], metrics: list[str],
                 sweep_dir: Path, *, for_markdown: bool = False) -> list[dict[str, str]]:
    """One row per job; failed and unfinished jobs have empty metrics. Markdown gets short numbers and videos as
    links relative to the sweep directory."""
    rows = []
    for rank, job in ranked:
        row = {"rank": "" if rank is None else str(rank), "job": job.name, "status": job.status}
        row.update({key: setting_text(job, key) for key in varied})
        row.update({m: _number(metric_value(job, m) if job.completed else None, 4 if for_markdown else None)
                    for m in metrics})
        row["frames"] = str(job.frames)
        row["seconds"] = "" if job.seconds is None else f"{job.seconds:.1f}"
        row["video"] = _video_text(job.video, sweep_dir, for_markdown)
        rows.append(row)
    return rows


def _video_text(video: Path | None, sweep_dir: Path, for_markdown: bool) -> str:
    if video is None:
        return ""
    if not for_markdown:
        return str(video)
    try:
        relative = video.relative_to(sweep_dir.resolve()).as_posix()
    except ValueError:
        relative = str(video)
    return f"[{relative}]({relative.replace(' ', '%20')})"


def write_csv(path: Path, columns: list[str], rows: list[dict[str, str]]) -> None:
    with atomic_open(path, "w") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def markdown_table(columns: list[str], rows: list[dict[str, str]]) -> list[str]:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    numeric = {"rank", "frames", "seconds"}
    lines = ["| " + " | ".join(cell(c) for c in columns) + " |",
             "|" + "|".join("---:" if c in numeric else "---" for c in columns) + "|"]
    lines += ["| " + " | ".join(cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    return lines


def markdown_text(sweep_dir: Path, jobs: Sequence[JobRun], ranking: str, table: list[str]) -> str:
    done = sum(job.completed for job in jobs)
    head = [f"# Sweep summary: {sweep_dir.name}", "",
            f"`{sweep_dir}`: {len(jobs)} job{'s' if len(jobs) != 1 else ''}, {done} completed"
            + (f", {len(jobs) - done} failed or unfinished (listed last)" if done < len(jobs) else "")
            + f". Ranked by {ranking}.", ""]
    return "\n".join(head + table) + "\n"


def write_summary(sweep_dir: Path, rank_by: str = "auto") -> Summary:
    """Write ``summary.csv`` and ``summary.md`` into the sweep directory (replacing earlier ones)."""
    sweep_dir = Path(sweep_dir)
    jobs = find_jobs(sweep_dir)
    keys = ranking_keys(rank_by, jobs)
    ranked = rank_jobs(jobs, keys)
    varied, metrics = varied_settings(jobs), metric_names(jobs)
    columns = ["rank", "job", "status", *varied, *metrics, "frames", "seconds", "video"]
    rows = summary_rows(ranked, varied, metrics, sweep_dir)
    write_csv(sweep_dir / SUMMARY_CSV, columns, rows)
    table = markdown_table(columns, summary_rows(ranked, varied, metrics, sweep_dir, for_markdown=True))
    ranking = describe_ranking(keys)
    with atomic_open(sweep_dir / SUMMARY_MD, "w") as fh:
        fh.write(markdown_text(sweep_dir, jobs, ranking, table))
    return Summary(sweep_dir / SUMMARY_CSV, sweep_dir / SUMMARY_MD, columns, rows, ranking)


def report(summary: Summary, top: int = 5) -> None:
    """Log where the summary is and print its best rows (stdout: results; the log goes to stderr)."""
    log.info("sweep summary: %s (and %s), ranked by %s", summary.md_path, summary.csv_path.name, summary.ranking)
    failed = [row["job"] for row in summary.rows if row["status"] != "completed"]
    if failed:
        log.warning("%d of %d jobs did not complete: %s", len(failed), len(summary.rows), ", ".join(failed))
    if len(failed) < len(summary.rows) and not any(row["rank"] for row in summary.rows):
        log.warning("no completed job has a value for %s: listed in job order", summary.ranking.split(" (")[0])
    md_rows = markdown_table(summary.columns, summary.rows[:top])
    print("\n".join(md_rows))
    if len(summary.rows) > top:
        print(f"... {len(summary.rows) - top} more in {summary.md_path}")


# ---------------------------------------------------------------------------------------------------------------
# The Hydra callback and the command line


class SweepSummary(Callback):
    """Writes the sweep summary when a multirun ends (``hydra.callbacks.sweep_summary`` in conf/config.yaml).

    Hydra skips ``on_multirun_end`` when a job failed (the sweeper re-raises the job's exception once every job of
    the batch has run), and when the sweep is interrupted; so the summary is also written at interpreter exit if
    the sweep did not end normally: a failed or stopped job then shows in it instead of losing the others."""

    def __init__(self, rank_by: str = "auto", top: int = 5) -> None:
        self.rank_by, self.top = str(rank_by), int(top)
        self._pending: Callable[[], None] | None = None  # the exit hook, while a multirun is under way

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))  # resolved now: ${now:...} is cached for the whole sweep
        self._pending = lambda: self._write(sweep_dir)
        atexit.register(self._pending)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self._pending is not None:
            atexit.unregister(self._pending)
            self._pending = None
        self._write(Path(str(config.hydra.sweep.dir)))

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        """Log an unexpected exception into the job's own log, where the summary finds why the job failed (Hydra
        keeps it quiet until the sweep ends; errors main.py reports are already logged)."""
        if config.hydra.mode != RunMode.MULTIRUN or job_return.status != JobStatus.FAILED:
            return
        error = job_return._return_value  # the exception; the public property would re-raise it
        if isinstance(error, BaseException) and not isinstance(error, SweepJobFailed):
            log.error("%s: %s", type(error).__name__, error, exc_info=(type(error), error, error.__traceback__))

    def __getstate__(self) -> dict[str, Any]:
        # the callbacks travel to joblib and submitit workers; the exit hook belongs to the launching process
        return {"rank_by": self.rank_by, "top": self.top, "_pending": None}

    def _write(self, sweep_dir: Path) -> None:
        try:
            report(write_summary(sweep_dir, self.rank_by), self.top)
        except (SweepError, OSError) as exc:
            log.error("no sweep summary: %s", exc)


def _joined_rank_by(argv: Sequence[str]) -> list[str]:
    """``--rank-by -flicker`` as ``--rank-by=-flicker``: argparse would take ``-flicker`` for an option."""
    args = list(argv)
    for i, arg in enumerate(args[:-1]):
        if arg == "--rank-by":
            return args[:i] + [f"--rank-by={args[i + 1]}"] + args[i + 2:]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m render.output.sweep", description=(
        "Write summary.csv and summary.md for a sweep directory of 'python main.py -m ...': every job's varied "
        "settings, metrics and video, best first."))
    parser.add_argument("sweep_dir", type=Path,
                        help="the sweep directory, e.g. multirun/TimeToDisco/2025-01-31_12-00-00")
    parser.add_argument("--rank-by", default="auto", help="a metric (lowest first), -metric for highest first, or "
                        "auto: -clip_similarity when every completed run has it, else flicker (default)")
    parser.add_argument("--top", type=int, default=5, help="rows to print (default 5)")
    args = parser.parse_args(_joined_rank_by(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        summary = write_summary(args.sweep_dir, args.rank_by)
    except SweepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report(summary, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
