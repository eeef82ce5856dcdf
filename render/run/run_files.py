"""A run dir's own files read back when resuming or branching: an unreadable or malformed ``run.json``, and saved
``config.yaml`` values the settings' schema refuses, are named errors naming the file and the fix, never a
traceback."""
from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

from render.run.record import RunRecord
from render.user_error import UserError

RECORD_FIX = ("restore run.json from a backup, or move it aside: the run then starts a new record (its frames and "
              "states are kept; the timings of the frames before are not)")


class RunFileError(UserError, ValueError):
    """A run dir's ``run.json`` or ``config.yaml`` that cannot be read back."""


def read_record(path: Path) -> RunRecord:
    """The record in ``path``; raises :class:`RunFileError` naming the file and the fix."""
    path = Path(path)
    try:
        record = RunRecord.read(path)
    except OSError as exc:
        raise RunFileError(f"{path} cannot be read ({exc.strerror or exc})\n    fix: {RECORD_FIX}") from None
    except (ValueError, TypeError, AttributeError, KeyError) as exc:  # not UTF-8, not JSON, fields wrong or missing
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RunFileError(f"{path} is not a run record ({first})\n    fix: {RECORD_FIX}") from None
    problem = shape_problem(record)
    if problem:
        raise RunFileError(f"{path} is not a run record ({problem})\n    fix: {RECORD_FIX}")
    return record


def shape_problem(record: RunRecord) -> str | None:
    """Why the values of ``record`` are not of the types its fields declare (its frames' too), or None."""
    for owner in (record, *record.frames):
        hints = typing.get_type_hints(type(owner))
        bad = next((f.name for f in dataclasses.fields(owner) if not _fits(getattr(owner, f.name), hints[f.name])),
                   None)
        if bad is not None:
            return f"{bad} holds {getattr(owner, bad)!r}"
    branch = next((b for b in record.branches if not (_fits(b.get("frame"), int) and
                                                      _fits(b.get("changed"), list[str]))), None)
    if branch is not None:
        return f"branches holds {branch!r}"
    return None


def _fits(value: Any, hint: Any) -> bool:
    """Whether a value read from JSON is of the type ``hint`` (a float may be written as an integer)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or dataclasses.is_dataclass(hint):
        return True  # a frame's timing is checked as its own dataclass
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arg) for arg in args)
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if origin is list:
        return isinstance(value, list) and all(_fits(item, args[0]) for item in value)
    if origin is dict:
        return isinstance(value, dict) and all(_fits(k, args[0]) and _fits(v, args[1]) for k, v in value.items())
    return isinstance(value, hint) and (hint is bool or not isinstance(value, bool))


def saved_config_error(run_dir: Path, exc: Exception) -> RunFileError:
    """A saved ``config.yaml`` whose values the settings' schema refuses, naming the file and the setting."""
    key = getattr(exc, "full_key", None) or "a setting"
    text = (str(exc).split("\n    full_key:")[0].strip().splitlines() or [type(exc).__name__])[0]
    return RunFileError(f"{Path(run_dir) / 'config.yaml'}: {key}: {text}\n    fix: restore config.yaml from a backup "
                       f"(or correct {key} to the value the run was made with), or start a new run")
