"""Sweeps: varied settings, ranking, summary.csv/summary.md, the CLI and the callback; a 2x2 sweep end to end."""
from __future__ import annotations

import json
import logging
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CONF_DIR, ROOT
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.utils import JobReturn, JobStatus
from hydra.types import RunMode
from omegaconf import OmegaConf
from support import make_job, read_csv

from render.config.presets import register_configs
from render.output.sweep import (
    SweepError,
    SweepJobFailed,
    SweepSummary,
    find_jobs,
    flatten,
    rank_jobs,
    ranking_keys,
    varied_settings,
    write_summary,
)

METRICS = ("flicker", "color_drift_mean", "color_drift_std", "clip_similarity")


def metric_set(flicker, drift, clip=None) -> dict:
    return {"flicker": flicker, "color_drift_mean": drift, "color_drift_std": 0.1, "clip_similarity": clip}


def zoom_seed_sweep(sweep: Path, flickers=(0.5, 0.2, 0.9, 0.4), clips=(None,) * 4) -> None:
    """A 2x2 sweep of animation.zoom and seed, as ``animation.zoom="0:(1.02)","0:(1.05)" seed=1,2`` makes it."""
    for num, (zoom, seed) in enumerate([(z, s) for z in ("1.02", "1.05") for s in (1, 2)]):
        config = {"animation": {"mode": "2d", "zoom": f"0:({zoom})", "angle": "0: (0)"}, "seed": seed,
                  "width": 64, "resume": None}
        make_job(sweep, num, config=config, overrides=["model=tiny", f'animation.zoom="0:({zoom})"', f"seed={seed}"],
                 metrics=metric_set(flickers[num], 0.3, clips[num]))


# --- what varied -------------------------------------------------------------------------------------------------

def test_flatten_gives_dotted_keys_and_keeps_lists_whole():
    flat = flatten({"animation": {"zoom": "0: (1)", "extra": {}}, "seed": 3, "text_prompts": {"0": ["a", "b"]}})
    assert flat == {"animation.zoom": "0: (1)", "animation.extra": {}, "seed": 3, "text_prompts.0": ["a", "b"]}


def test_varied_settings_are_the_swept_keys(tmp_path):
    zoom_seed_sweep(tmp_path)
    assert varied_settings(find_jobs(tmp_path)) == ["animation.zoom", "seed"]


def test_a_drawn_seed_and_other_differences_show_but_resume_does_not(tmp_path):
    for num in range(2):
        make_job(tmp_path, num, config={"seed": 1000 + num, "width": 64, "resume": f"/runs/{num}"})
    assert varied_settings(find_jobs(tmp_path)) == ["seed"]


def test_a_swept_group_is_one_column_not_every_setting_it_changes(tmp_path):
    for num, (preset, mode, zoom) in enumerate([("2d_zoom", "2d", "1.02"), ("3d_zoom", "3d", "1.05")]):
        config = {"animation": {"mode": mode, "translation_z": f"0: ({num})", "zoom": zoom}, "seed": 1}
        make_job(tmp_path, num, config=config, overrides=[f"animation={preset}", f"animation.zoom={zoom}"])
    jobs = find_jobs(tmp_path)
    assert varied_settings(jobs) == ["animation", "animation.zoom"]
    write_summary(tmp_path)
    assert [(r["animation"], r["animation.zoom"]) for r in read_csv(tmp_path / "summary.csv")] == [
        ("2d_zoom", "1.02"), ("3d_zoom", "1.05")]


# --- ranking -----------------------------------------------------------------------------------------------------

def ranked_names(jobs, rank_by):
    return [(rank, job.name) for rank, job in rank_jobs(jobs, ranking_keys(rank_by, jobs))]


def test_rank_by_a_metric_ascending_and_descending(tmp_path):
    zoom_seed_sweep(tmp_path, flickers=(0.5, 0.2, 0.9, 0.4))
    jobs = find_jobs(tmp_path)
    assert ranked_names(jobs, "flicker") == [(1, "1"), (2, "3"), (3, "0"), (4, "2")]
    assert ranked_names(jobs, "-flicker") == [(1, "2"), (2, "0"), (3, "3"), (4, "1")]


def test_auto_ranks_by_clip_similarity_only_when_every_completed_run_has_it(tmp_path):
    zoom_seed_sweep(tmp_path / "real", clips=(0.30, 0.35, 0.20, 0.25))
    jobs = find_jobs(tmp_path / "real")
    assert ranking_keys("auto", jobs) == [("clip_similarity", True)]
    assert ranked_names(jobs, "auto") == [(1, "1"), (2, "0"), (3, "3"), (4, "2")]
    zoom_seed_sweep(tmp_path / "tiny", clips=(0.30, None, 0.20, 0.25))
    assert ranking_keys("auto", find_jobs(tmp_path / "tiny")) == [("flicker", False), ("color_drift_mean", False)]


def test_auto_breaks_flicker_ties_by_color_drift(tmp_path):
    for num, drift in enumerate((0.5, 0.1, 0.3)):
        make_job(tmp_path, num, metrics=metric_set(0.4, drift))
    assert ranked_names(find_jobs(tmp_path), "auto") == [(1, "1"), (2, "2"), (3, "0")]


def test_failed_and_unfinished_runs_go_last_without_rank_or_metrics(tmp_path):
    make_job(tmp_path, 0, status="failed: NaN at frame 2", metrics=metric_set(0.01, 0.01))
    make_job(tmp_path, 1, metrics=metric_set(0.8, 0.2))
    make_job(tmp_path, 2, record=False, log="[2025-01-01 10:00:00,000][main][INFO] - rendering\n"
                                           "[2025-01-01 10:00:01,000][main][ERROR] - 1 problem in the config:\n"
                                           "  - seed: must be in 0..4294967295\n")
    make_job(tmp_path, 3, metrics={"flicker": None, "color_drift_mean": 0.1})  # completed, no flicker
    make_job(tmp_path, 4, status="running", frames=1)
    make_job(tmp_path, 5, metrics=metric_set(0.3, 0.2))
    assert ranked_names(find_jobs(tmp_path), "flicker") == [(1, "5"), (2, "1"), (None, "3"), (None, "0"),
                                                            (None, "2"), (None, "4")]
    rows = read_csv(write_summary(tmp_path).csv_path)
    failed = {row["job"]: row for row in rows[3:]}
    assert failed["0"]["status"] == "failed: NaN at frame 2" and failed["0"]["flicker"] == ""
    assert failed["2"]["status"] == "failed: 1 problem in the config: - seed: must be in 0..4294967295"
    assert failed["2"]["frames"] == "0" and failed["4"]["status"] == "running" and failed["4"]["frames"] == "1"


def test_the_reason_of_a_job_without_run_json_is_its_first_logged_error_without_the_traceback(tmp_path):
    make_job(tmp_path, 0, record=False, log="[2025-01-01 10:00:00,000][render.app][INFO] - rendering\n"
                                           "[2025-01-01 10:00:01,000][render.output.sweep][ERROR] - ValueError: boom\n"
                                           "Traceback (most recent call last):\n  File \"x.py\", line 1\n"
                                           "[2025-01-01 10:00:02,000][main][ERROR] - later\n")
    make_job(tmp_path, 1, record=False)  # nothing logged: still running, or killed
    assert [job.status for job in find_jobs(tmp_path)] == ["failed: ValueError: boom", "no run.json (see main.log)"]


def test_an_unknown_metric_is_refused_naming_the_choices(tmp_path):
    zoom_seed_sweep(tmp_path)
    with pytest.raises(SweepError, match=r"no metric 'flikcer'; use one of clip_similarity, flicker, .*auto"):
        write_summary(tmp_path, "-flikcer")


# --- the files ---------------------------------------------------------------------------------------------------

def test_summary_csv_and_markdown(tmp_path):
    zoom_seed_sweep(tmp_path, flickers=(0.5, 0.2, 0.9, 0.4))
    summary = write_summary(tmp_path)
    assert summary.columns == ["rank", "job", "status", "animation.zoom", "seed", *METRICS[3:], *METRICS[:3],
                               "frames", "seconds", "video"]
    rows = read_csv(tmp_path / "summary.csv")
    assert [(r["rank"], r["job"], r["animation.zoom"], r["seed"], r["flicker"]) for r in rows] == [
        ("1", "1", "0:(1.02)", "2", "0.2"), ("2", "3", "0:(1.05)", "2", "0.4"), ("3", "0", "0:(1.02)", "1", "0.5"),
        ("4", "2", "0:(1.05)", "1", "0.9")]
    assert all(r["status"] == "completed" and r["frames"] == "3" and r["seconds"] == "12.5" for r in rows)
    assert rows[0]["video"] == str((tmp_path / "1" / "TimeToDisco.mp4").resolve())
    md = (tmp_path / "summary.md").read_text()
    assert "4 jobs, 4 completed. Ranked by flicker (lowest first), ties by color_drift_mean (lowest first)." in md
    lines = [line for line in md.splitlines() if line.startswith("|")]
    assert lines[0] == ("| rank | job | status | animation.zoom | seed | clip_similarity | flicker | color_drift_mean"
                        " | color_drift_std | frames | seconds | video |")
    assert lines[2] == ("| 1 | 1 | completed | 0:(1.02) | 2 |  | 0.2 | 0.3 | 0.1 | 3 | 12.5 | "
                        "[1/TimeToDisco.mp4](1/TimeToDisco.mp4) |")
    assert len(lines) == 6


def test_markdown_escapes_pipes_and_a_moved_sweep_finds_its_videos(tmp_path):
    make_job(tmp_path, 0, config={"seed": 1, "text_prompts": {"0": ["a | b"]}}, metrics=metric_set(0.1, 0.1))
    make_job(tmp_path, 1, config={"seed": 2, "text_prompts": {"0": ["c"]}}, metrics=metric_set(0.2, 0.1))
    record = json.loads((tmp_path / "0" / "run.json").read_text())
    record["video"] = "/cluster/scratch/elsewhere/0/TimeToDisco.mp4"  # copied back from a cluster
    (tmp_path / "0" / "run.json").write_text(json.dumps(record))
    summary = write_summary(tmp_path)
    assert summary.rows[0]["video"] == str((tmp_path / "0" / "TimeToDisco.mp4").resolve())
    assert '["a \\| b"]' in (tmp_path / "summary.md").read_text()


def test_find_jobs_skips_other_folders_and_orders_jobs_numerically(tmp_path):
    for num in (10, 2, 0):
        make_job(tmp_path, num)
    (tmp_path / ".submitit" / "123").mkdir(parents=True)
    (tmp_path / "notes").mkdir()
    assert [job.name for job in find_jobs(tmp_path)] == ["0", "2", "10"]
    with pytest.raises(SweepError, match="no job directories"):
        find_jobs(tmp_path / "notes")


# --- the command line and the callback ---------------------------------------------------------------------------

def run_sweep_cli(*args):
    return subprocess.run([sys.executable, "-m", "render.output.sweep", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_cli_rewrites_the_summary_and_prints_the_top_rows(tmp_path):
    zoom_seed_sweep(tmp_path, flickers=(0.5, 0.2, 0.9, 0.4))
    proc = run_sweep_cli(tmp_path, "--rank-by", "-flicker", "--top", "2")
    assert proc.returncode == 0, proc.stderr
    table = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    assert len(table) == 3 and table[1].startswith("| 1 | 2 | completed | 0:(1.05) | 1 |")
    assert "2 more in" in proc.stdout and str(tmp_path / "summary.md") in proc.stderr
    assert [r["job"] for r in read_csv(tmp_path / "summary.csv")] == ["2", "0", "3", "1"]


@pytest.mark.parametrize("args, message", [(["/no/such/dir"], "/no/such/dir is not a directory"),
                                           (["{sweep}", "--rank-by", "speed"], "no metric 'speed'")])
def test_cli_errors_are_one_clear_line_and_exit_2(tmp_path, args, message):
    zoom_seed_sweep(tmp_path)
    proc = run_sweep_cli(*(a.format(sweep=tmp_path) for a in args))
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_callback_writes_the_summary_when_the_multirun_ends(tmp_path, capsys):
    zoom_seed_sweep(tmp_path)
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}})
    callback = SweepSummary(rank_by="-flicker")
    callback.on_multirun_start(config)
    clone = pickle.loads(pickle.dumps(callback))  # as it travels to joblib/submitit workers: no exit hook
    assert clone.rank_by == "-flicker" and getattr(clone, "_pending", None) is None
    callback.on_multirun_end(config)
    assert [r["job"] for r in read_csv(tmp_path / "summary.csv")] == ["2", "0", "3", "1"]
    assert "| 1 | 2 | completed |" in capsys.readouterr().out


def test_callback_logs_an_unexpected_job_exception_but_not_one_main_reported(caplog):
    config = OmegaConf.create({"hydra": {"mode": RunMode.MULTIRUN}})
    callback = SweepSummary()
    with caplog.at_level(logging.ERROR, logger="render.output.sweep"):
        callback.on_job_end(config, JobReturn(status=JobStatus.FAILED, _return_value=ValueError("boom")))
        callback.on_job_end(config, JobReturn(status=JobStatus.FAILED, _return_value=SweepJobFailed("logged", 2)))
        callback.on_job_end(config, JobReturn(status=JobStatus.COMPLETED, _return_value=None))
    assert [r.getMessage() for r in caplog.records] == ["ValueError: boom"]
    error = pickle.loads(pickle.dumps(SweepJobFailed("bad seed", 2)))  # comes back from a worker process
    assert (str(error), error.exit_code) == ("bad seed", 2)


@pytest.mark.parametrize("preset, target, settings", [
    ("parallel", "joblib_launcher.JoblibLauncher", {"n_jobs": 2}),
    ("local", "submitit_launcher.LocalLauncher", {"gpus_per_node": 1, "timeout_min": 720}),
    ("slurm", "submitit_launcher.SlurmLauncher", {"gpus_per_node": 1, "partition": None, "timeout_min": 720,
                                                  "cpus_per_task": 8, "mem_gb": 32, "array_parallelism": 8})])
def test_launcher_presets_compose_over_the_plugins_configs(preset, target, settings):
    register_configs()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
            cfg = compose(config_name="config", overrides=[f"hydra/launcher={preset}"], return_hydra_config=True)
    finally:
        GlobalHydra.instance().clear()
    launcher = OmegaConf.to_container(cfg.hydra.launcher)
    assert launcher["_target_"].endswith(target) and settings.items() <= launcher.items()
    assert cfg.hydra.callbacks.sweep_summary == {"_target_": "render.output.sweep.SweepSummary", "rank_by": "auto"}


# --- end to end --------------------------------------------------------------------------------------------------

SWEEP_TINY = ["model=tiny", "animation=2d_zoom", "width=64", "height=64", "animation.max_frames=3",
              "generator=preview", "output.preset=ultrafast", "output.previews=false",
              "output.quality=true"]  # previews are not measured by default


def run_main(*args):
    # submitit's job processes unpickle main.py's task, which imports render.*: they need the repo on the path
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "main.py", "-m", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow  # half a minute of submitit jobs; the basic and parallel launchers are tested by default
def test_two_by_two_sweep_through_submitit_local(tmp_path):
    proc = run_main("hydra/launcher=local", *SWEEP_TINY, 'animation.zoom="0:(1.02)","0:(1.05)"', "seed=1,2",
                    f"hydra.sweep.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for num in range(4):
        record = json.loads((tmp_path / str(num) / "run.json").read_text())
        assert record["status"] == "completed" and Path(record["video"]).is_file()
    rows = read_csv(tmp_path / "summary.csv")
    assert len(rows) == 4 and [r["rank"] for r in rows] == ["1", "2", "3", "4"]
    assert sorted((r["animation.zoom"], r["seed"]) for r in rows) == [
        ("0:(1.02)", "1"), ("0:(1.02)", "2"), ("0:(1.05)", "1"), ("0:(1.05)", "2")]
    varied = list(rows[0])[3:list(rows[0]).index("clip_similarity")]
    assert varied == ["animation.zoom", "seed"]
    flicker = [float(r["flicker"]) for r in rows]
    assert flicker == sorted(flicker) and all(float(r["color_drift_mean"]) >= 0 for r in rows)
    assert all(Path(r["video"]).is_file() and r["frames"] == "3" for r in rows)
    assert "[0/TimeToDisco.mp4](0/TimeToDisco.mp4)" in (tmp_path / "summary.md").read_text()


def test_a_failed_job_does_not_stop_the_sweep_and_is_listed_last(tmp_path):
    proc = run_main(*SWEEP_TINY, "seed=-5,1", f"hydra.sweep.dir={tmp_path}")
    assert proc.returncode == 1  # the sweep reports the failure, after running every job
    assert "seed: must be in 0..4294967295" in proc.stderr and "Traceback" not in proc.stderr
    assert json.loads((tmp_path / "1" / "run.json").read_text())["status"] == "completed"
    rows = read_csv(tmp_path / "summary.csv")
    assert [(r["rank"], r["job"], r["seed"]) for r in rows] == [("1", "1", "1"), ("", "0", "-5")]
    assert rows[1]["status"].startswith("failed: 1 problem in the config") and rows[1]["flicker"] == ""
    assert float(rows[0]["flicker"]) >= 0 and Path(rows[0]["video"]).is_file()
