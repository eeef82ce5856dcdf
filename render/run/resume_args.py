"""A resume's command line checked before Hydra composes it: the run folder must exist and be a run, a folder given
twice must agree, and a run stopped before it saved its settings is started with its own command line."""
from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Sequence

from omegaconf import OmegaConf

from render.config.schema import Config
from render.run.resume import RESUME_FIX, STATE_DIR, ResumeError, find_run_dir

log = logging.getLogger(__name__)
UNSET = ("", "None", "null", "none")


def _split(arg: str) -> tuple[str, str] | None:
    """``key=value`` of a Hydra override (``+``/``~`` prefixes dropped, one pair of quotes removed)."""
    if arg.startswith("-") or "=" not in arg:
        return None
    key, value = arg.split("=", 1)
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return key.lstrip("+~").strip(), value


def override_value(argv: Sequence[str], key: str) -> str | None:
    """The last value the command line gives ``key``, or None."""
    found = None
    for arg in argv:
        pair = _split(arg)
        if pair is not None and pair[0] == key:
            found = pair[1]
    return found


def _default_batch_name() -> str:
    return next(f.default for f in dataclasses.fields(Config) if f.name == "batch_name")


def never_started(path: Path) -> bool:
    """Hydra made the folder (``.hydra/overrides.yaml``) but the run stopped before it wrote its config.yaml."""
    return (path / ".hydra" / "overrides.yaml").is_file() and not (path / "config.yaml").exists() and \
        not any((path / STATE_DIR).glob("*.state"))


def restart_argv(argv: Sequence[str], run_dir: Path) -> list[str]:
    """The command line that starts a never-started run in its folder: its own overrides, then this command's."""
    try:
        saved = [str(a) for a in OmegaConf.load(run_dir / ".hydra" / "overrides.yaml")]
    except Exception as exc:  # noqa: BLE001 - a malformed YAML file
        raise ResumeError(f"{run_dir}/.hydra/overrides.yaml cannot be read ({exc})\n    fix: {RESUME_FIX}") from None
    flags = [a for a in argv if _split(a) is None]
    current = [a for a in argv if _split(a) is not None and _split(a)[0] not in ("resume", "hydra.run.dir")]
    given = {_split(a)[0] for a in current}
    kept = [a for a in saved if _split(a) is not None and _split(a)[0] not in given | {"resume", "hydra.run.dir"}]
    return flags + kept + current + [f"hydra.run.dir={run_dir}"]


def prepare_resume_argv(argv: Sequence[str]) -> list[str]:
    """``argv`` (without the program name) to hand to Hydra; raises :class:`ResumeError` naming the problem."""
    argv = list(argv)
    resume = override_value(argv, "resume")
    if resume in (None, *UNSET) or any(a in ("-m", "--multirun", "--help", "-h", "--cfg", "-c") for a in argv):
        return argv
    path = Path(os.path.expanduser(resume))
    if resume != "latest" and path.is_dir() and never_started(path):
        log.warning("resume=%s: the run stopped before it saved its settings; starting it with its own command line",
                    resume)
        return restart_argv(argv, path)
    run_dir = find_run_dir(resume, override_value(argv, "batch_name") or _default_batch_name())
    other = override_value(argv, "hydra.run.dir")
    if other is not None and Path(os.path.expanduser(other)).resolve() != run_dir.resolve():
        raise ResumeError(f"resume={resume} and hydra.run.dir={other} name different folders; a resumed run "
                          f"continues in its own folder\n    fix: drop hydra.run.dir (python main.py "
                          f"resume={resume}), or start a new run in {other} without resume")
    return argv
