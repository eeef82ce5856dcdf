"""This renderer's own ``config.yaml`` (any run dir's, or a preset written by ``convert``) as imported settings."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from render.config.schema import SCHEMA_GROUPS, Config
from render.interop.detect import FORMAT_NAMES, OWN
from render.interop.report import ImportReport
from render.interop.source import ImportContext, Imported

COMMAND_ONLY = {"import_settings": "the file's own import was applied when it was made",
                "resume": "a command's, never a run's", "resume_from": "a command's, never a run's",
                "resume_retain": "a command's, never a run's", "download": "a command's, never a run's"}
OPEN_DICTS = ("text_prompts", "image_prompts")


def import_own(data: dict, path: Path, context: ImportContext = ImportContext()) -> Imported:
    """Every setting of the file as it is; keys the schema does not know are reported (they would be errors)."""
    out = Imported(ImportReport(str(path), FORMAT_NAMES[OWN]))
    _walk(data, Config, "", out)
    return out


def _walk(node: dict, schema: type, prefix: str, out: Imported) -> None:
    fields = {f.name for f in dataclasses.fields(schema)}
    for key, value in node.items():
        path = f"{prefix}{key}"
        if not prefix and key in COMMAND_ONLY:
            if value not in (None, False):
                out.report.drop(path, COMMAND_ONLY[key])
            continue
        if key not in fields:
            out.report.unknown_key(path)
            continue
        group = SCHEMA_GROUPS.get(path)
        if group is not None and isinstance(value, dict):
            _walk(value, group, f"{path}.", out)
        else:
            out.set(path, _plain(value) if key not in OPEN_DICTS else dict(value or {}), path)


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
