"""A sweep's jobs as the summaries see them: each job directory read (``run.json``, else Hydra's ``.hydra/`` files and
the reason it failed from its log), the settings that varied between jobs, and the ranking by a metric."""
from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import yaml

from render.output.pages import setting_value
from render.user_error import UserError

# Metrics shown first, in this order (others follow as they appear in run.json); "auto" ranking uses the first two.
METRIC_ORDER = ("clip_similarity", "flicker", "color_drift_mean", "color_drift_std")
# Settings that differ between jobs without describing what the sweep compared.
IGNORED_SETTINGS = frozenset({"resume"})
_LOG_RECORD = re.compile(r"^\[[^\]]*\]\[[^\]]*\]\[(?P<level>[A-Z]+)\] - (?P<message>.*)$")


class SweepError(UserError, Exception):
    """A sweep directory or a ranking option that cannot be summarised; the message says what to change."""


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


def job_order(path: Path) -> tuple[int, str]:
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
    return [load_job(d) for d in sorted(dirs, key=job_order)]


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
    return setting_value(job.settings[key])


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
