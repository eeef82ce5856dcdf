"""Sweep summaries: after ``python main.py -m ...``, one table of every job's varied settings, metrics and video.

Each job of a sweep writes its own run directory (``<sweep dir>/<job num>/``) with ``run.json``; comparing them by
hand means opening every one. :class:`SweepSummary` (a Hydra callback, registered in ``conf/config.yaml``) writes
``summary.csv``, ``summary.md`` and ``gallery.html`` (render/output/gallery.py) into the sweep directory when the
multirun ends, failed jobs included; ``python -m render.output.sweep <sweep dir> [--rank-by METRIC]`` (re)writes
them, e.g. after some jobs were resumed or the sweep was interrupted. Reading the jobs and ranking them is in
render/output/sweep_jobs.py.
"""
from __future__ import annotations

import argparse
import atexit
import csv
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import CompactHydraException
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from render.config.issues import ConfigErrors
from render.config.launcher_checks import check_launcher
from render.disk.atomic import atomic_open
from render.output.gallery import write_gallery
from render.output.sweep_jobs import (
    IGNORED_SETTINGS,
    METRIC_ORDER,
    JobRun,
    SweepError,
    describe_ranking,
    failure_reason,
    find_jobs,
    flatten,
    load_job,
    metric_names,
    metric_value,
    rank_jobs,
    ranking_keys,
    read_overrides,
    setting_text,
    varied_settings,
)

__all__ = ["IGNORED_SETTINGS", "METRIC_ORDER", "JobRun", "Summary", "SweepError", "SweepJobFailed", "SweepSummary",
           "failure_reason", "find_jobs", "flatten", "load_job", "rank_jobs", "ranking_keys", "read_overrides",
           "varied_settings", "write_summary"]
log = logging.getLogger(__name__)
SUMMARY_CSV, SUMMARY_MD = "summary.csv", "summary.md"

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


@dataclass(frozen=True)
class Summary:
    """The written summary: its files, its columns and its rows (best first)."""

    csv_path: Path
    md_path: Path
    columns: list[str]
    rows: list[dict[str, str]]
    ranking: str
    gallery_path: Path | None = None


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
    """Write ``summary.csv``, ``summary.md`` and ``gallery.html`` into the sweep directory (replacing earlier ones)."""
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
    gallery = write_gallery(sweep_dir, ranked, varied, metrics, ranking)
    return Summary(sweep_dir / SUMMARY_CSV, sweep_dir / SUMMARY_MD, columns, rows, ranking, gallery)


def report(summary: Summary, top: int = 5) -> None:
    """Log where the summary is and print its best rows (stdout: results; the log goes to stderr)."""
    log.info("sweep summary: %s (and %s), ranked by %s", summary.md_path, summary.csv_path.name, summary.ranking)
    if summary.gallery_path is not None:
        log.info("sweep gallery: %s (open it in a browser)", summary.gallery_path)
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
        try:
            check_launcher(config.hydra.get("launcher"))
        except ConfigErrors as exc:  # Hydra turns a callback's exception into a warning and launches anyway
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(exc.exit_code) from None
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
        "Write summary.csv, summary.md and gallery.html for a sweep directory of 'python main.py -m ...': every "
        "job's varied settings, metrics and video, best first."))
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
