"""The sweep launchers' settings (``hydra.launcher.*`` of ``hydra/launcher=parallel|local|slurm``) checked when a
sweep starts, before any job is launched: values joblib or submitit would fail on later, in a worker, with a
traceback (``n_jobs=0``, a negative time limit, a ``pre_dispatch`` joblib cannot read)."""
from __future__ import annotations

import math
import re

from omegaconf import DictConfig

from render.config.issues import ConfigErrors, ConfigIssue

PREFIX = "hydra.launcher."
# whole-number settings of joblib's and submitit's launchers: (least, most)
WHOLE = {"n_jobs": (-1024, 1024), "timeout_min": (1, 525_600), "cpus_per_task": (1, 4096), "gpus_per_node": (0, 64),
         "tasks_per_node": (1, 1024), "mem_gb": (1, 65_536), "nodes": (1, 4096), "signal_delay_s": (0, 86_400),
         "max_num_timeout": (0, 1000), "array_parallelism": (1, 100_000), "cpus_per_gpu": (1, 4096),
         "gpus_per_task": (0, 64), "verbose": (0, 100)}
CHOICES = {"prefer": ("processes", "threads"), "require": (None, "sharedmem"), "mmap_mode": (None, "r", "r+", "w+", "c")}
PRE_DISPATCH = re.compile(r"^\s*(all|\d{1,6}|(\d{1,4}\s*\*\s*)?n_jobs)\s*$")  # joblib evaluates it as Python
BATCH_SIZE = re.compile(r"^\s*(auto|[1-9]\d{0,5})\s*$")


def launcher_issues(launcher: DictConfig | dict | None) -> list[ConfigIssue]:
    """Every problem of the launcher's settings (none for Hydra's basic launcher, which has no settings to check)."""
    issues: list[ConfigIssue] = []
    if not launcher:
        return issues
    for name, (least, most) in WHOLE.items():
        value = launcher.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most or \
                (name == "n_jobs" and value == 0):
            problem = f"must be a whole number from {least} to {most}" + (", not 0" if name == "n_jobs" else "")
            issues.append(ConfigIssue(PREFIX + name, value, problem, f"see the comments in conf/hydra/launcher/ "
                                      f"for {name}'s meaning, or leave it out for the preset's value"))
    for name, allowed in CHOICES.items():
        if name in launcher and launcher.get(name) not in allowed:
            issues.append(ConfigIssue(PREFIX + name, launcher.get(name), "is not one of "
                                      f"{', '.join(str(a) for a in allowed)}", f"leave {PREFIX}{name} out"))
    timeout = launcher.get("timeout")
    if timeout is not None and not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
        issues.append(ConfigIssue(PREFIX + "timeout", timeout, "must be a positive number of seconds, or null",
                                  f"{PREFIX}timeout=null (no limit)"))
    for name, pattern, example in (("pre_dispatch", PRE_DISPATCH, "2*n_jobs"), ("batch_size", BATCH_SIZE, "auto")):
        if name in launcher and not pattern.match(str(launcher.get(name))):
            issues.append(ConfigIssue(PREFIX + name, launcher.get(name), "is not a value joblib reads",
                                      f"{PREFIX}{name}={example}"))
    return issues


def check_launcher(launcher: DictConfig | dict | None) -> None:
    """Raise :class:`ConfigErrors` with every problem of the launcher's settings."""
    issues = launcher_issues(launcher)
    if issues:
        raise ConfigErrors(issues)


__all__ = ["check_launcher", "launcher_issues"]
