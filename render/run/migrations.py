"""Run dirs that survive upgrades: the layout version of a run's ``config.yaml`` and ``state/``, and the migrations
that bring an older run dir to this version's layout when it is resumed or branched.

Version 1 is every run dir written before runs carried a version (no ``schema_version`` in config.yaml, no
``state/pins.json``, run.json's ``model_files``/``precisions`` in place of ``segments``). Each migration is one row
of :data:`MIGRATIONS`: the settings renamed or moved (``RENAMES``) and the settings added later whose default would
change an old run's frames (``PINNED_DEFAULTS``: the value they had, implicitly, before). A run dir of a newer layout
than this version reads is refused, naming both versions.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from render.user_error import UserError

SCHEMA_VERSION = 2


class RunDirVersionError(UserError, ValueError):
    """A run dir written by a newer disco-anim than this one."""


@dataclass(frozen=True)
class Migration:
    to_version: int
    what: str  # one line for the log
    renames: dict[str, str] = field(default_factory=dict)  # old dotted path -> new dotted path
    pinned_defaults: dict[str, Any] = field(default_factory=dict)  # a later setting -> the value old runs had


MIGRATIONS = (
    Migration(2, "run dirs carry their layout version; run.json keeps a segment per start, resume and branch; the "
                 "choices of auto are pinned in state/pins.json (derived from run.json for an older run)"),
)


def version_of(saved: DictConfig) -> int:
    value = saved.get("schema_version")
    return 1 if value is None else int(value)


def migrate_config(saved: DictConfig, path: Path) -> tuple[DictConfig, list[str]]:
    """``saved`` (a run's config.yaml) in this version's layout, and what was done; a newer one is refused."""
    try:
        version = version_of(saved)
    except (TypeError, ValueError):
        raise RunDirVersionError(f"{path}: schema_version {saved.get('schema_version')!r} is not a version "
                                 f"number\n    fix: restore config.yaml from a backup") from None
    if version > SCHEMA_VERSION:
        raise RunDirVersionError(f"{path} was written by a newer disco-anim (run dir layout {version}; this one "
                                 f"reads up to {SCHEMA_VERSION})\n    fix: resume it with the version that made it, "
                                 f"or upgrade disco-anim")
    data, done = OmegaConf.to_container(saved), []
    for migration in MIGRATIONS:
        if version < migration.to_version:
            data = _apply(data, migration)
            done.append(f"layout {migration.to_version}: {migration.what}")
    data["schema_version"] = SCHEMA_VERSION
    return OmegaConf.create(data), done


def _apply(data: dict, migration: Migration) -> dict:
    for old, new in migration.renames.items():
        value = _pop(data, old)
        if value is not _MISSING:
            _put(data, new, value)
    for path, value in migration.pinned_defaults.items():
        if _get(data, path) is _MISSING:
            _put(data, path, value)
    return data


_MISSING = object()


def _get(data: dict, path: str) -> Any:
    node = data
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _pop(data: dict, path: str) -> Any:
    *parents, last = path.split(".")
    node = data
    for part in parents:
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node.pop(last, _MISSING) if isinstance(node, dict) else _MISSING


def _put(data: dict, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
