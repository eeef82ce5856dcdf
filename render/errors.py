"""The one place a failure becomes a message: a user's failure (a setting, a file, the disk, a signal) is a named
error with exit status 2 and no traceback; anything else is a bug, reported with its traceback, the run dir and
"please report"."""
from __future__ import annotations

import dataclasses
import errno
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from hydra.errors import HydraException
from omegaconf.errors import (
    ConfigAttributeError,
    ConfigKeyError,
    OmegaConfBaseException,
)

from render.config.settings import unknown_key_hint
from render.output.sweep import SweepJobFailed
from render.run.resume import resume_command
from render.user_error import UserError

EXIT_USER, EXIT_BUG = 2, 1
ISSUES_URL = "the project's issue tracker"
FILE_FIXES = {
    errno.EACCES: "choose a folder you may write to (hydra.run.dir=<folder>) or fix its permissions",
    errno.EPERM: "choose a folder you may write to (hydra.run.dir=<folder>) or fix its permissions",
    errno.EROFS: "the filesystem is read-only: set hydra.run.dir to a folder on a writable disk",
    errno.ENOTDIR: "a part of the path is a file, not a folder: choose another path",
    errno.EEXIST: "a file is in the way of a folder: move it or choose another path",
    errno.ENOENT: "check the path (relative paths are relative to where you run main.py); a run dir must be on a "
                  "writable disk, not under /proc or /sys",
    errno.EISDIR: "the path is a folder; give a file",
    errno.ENAMETOOLONG: "use a shorter path or batch_name",
    errno.ELOOP: "the path has a symlink loop: choose another path",
}
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


@dataclass(frozen=True)
class Outcome:
    code: int
    message: str


def _omegaconf_message(exc: OmegaConfBaseException) -> str:
    key = getattr(exc, "full_key", None) or "a setting"
    text = str(exc).split("\n    full_key:")[0].strip()
    if "Interpolation" in type(exc).__name__ or "interpolation" in text:
        fix = "write the value without ${...} (or escape it as \\${...}), or refer to an existing setting"
    else:
        fix = "give a value of the setting's type (README 'Settings' lists each one)"
    return f"{key}: {text}\n    fix: {fix}"


def _hydra_message(exc: HydraException) -> str:
    """Composing the config failed: an unknown setting (with a "did you mean"), an unknown preset, a malformed
    override."""
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, (ConfigKeyError, ConfigAttributeError)) and getattr(cause, "full_key", None):
        key, schema = str(cause.full_key), getattr(cause, "object_type", None)
        if key.startswith("hydra.") and dataclasses.is_dataclass(schema):  # a launcher's (or Hydra's) own settings
            known = ", ".join(f.name for f in dataclasses.fields(schema) if not f.name.startswith("_"))
            return f"{key}: unknown setting\n    fix: known in {key.rpartition('.')[0]}: {known}"
        return f"{key}: unknown setting\n    fix: {unknown_key_hint(key)} (see README 'Settings')"
    detail = f"\n{cause}" if isinstance(cause, OmegaConfBaseException) else ""
    return f"{str(exc).strip()}{detail}\n    fix: check the command line (python main.py --help lists the presets)"


def _os_message(exc: OSError, run_dir: Path | None) -> str:
    name = exc.filename or "a file"
    if exc.errno in DISK_FULL:
        cont = f"; then continue with:\n  {resume_command(run_dir)}" if run_dir is not None else ""
        return f"{name}: the disk is full ({exc.strerror})\n    fix: free disk space{cont}"
    fix = FILE_FIXES.get(exc.errno, "check the path and its permissions")
    return f"{name}: {exc.strerror or exc}\n    fix: {fix}"


def user_message(exc: BaseException, run_dir: Path | None = None) -> str | None:
    """The named-error message of a user's failure, or None for a bug."""
    if isinstance(exc, UserError):
        return str(exc)
    if isinstance(exc, SweepJobFailed):
        return exc.message
    if isinstance(exc, OmegaConfBaseException):
        return _omegaconf_message(exc)
    if isinstance(exc, HydraException):
        return _hydra_message(exc)
    if isinstance(exc, OSError) and (exc.filename is not None or exc.errno in DISK_FULL):
        return _os_message(exc, run_dir)
    return None


def bug_message(exc: BaseException, run_dir: Path | None) -> str:
    where = f"run dir: {run_dir} (its config.yaml, run.json and main.log show what happened)\n" if run_dir else ""
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return (f"{tb}\nThis is a bug in disco-anim, not a problem with your settings; please report it, with the "
            f"traceback above and the command line, on {ISSUES_URL}.\n{where}").rstrip()


def classify(exc: BaseException, run_dir: Path | None = None) -> Outcome:
    """The exit status and message for ``exc``: 2 for a user's failure, 1 for a bug (130 for Ctrl-C)."""
    if isinstance(exc, KeyboardInterrupt):
        return Outcome(130, "interrupted")
    message = user_message(exc, run_dir)
    if isinstance(exc, UserError):
        if exc.resumable and run_dir is not None:
            message += f"\nThe frames before it are saved; after changing the settings: {resume_command(run_dir)}"
        return Outcome(exc.exit_code, message)
    if message is not None:
        # a sweep with a failed job exits 1 after running every job (the job's own log has its exit status)
        return Outcome(EXIT_BUG if isinstance(exc, SweepJobFailed) else EXIT_USER, message)
    return Outcome(EXIT_BUG, bug_message(exc, run_dir))


def run_cli(main: Callable[[], None], prepare_argv: Callable[[list[str]], list[str]] | None = None) -> int:
    """Run the Hydra entry point ``main`` with Hydra's own error printing off, so every exception comes here."""
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        if prepare_argv is not None:
            sys.argv[1:] = prepare_argv(sys.argv[1:])
        main()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_USER)
    except BaseException as exc:  # noqa: BLE001 - this is the place every failure is reported
        outcome = classify(exc)
        if outcome.message != "interrupted":
            print(f"error: {outcome.message}" if outcome.code == EXIT_USER else outcome.message, file=sys.stderr)
        return outcome.code
    return 0
