"""What every importer shares: the command line's say in the mapping, the result, and the error naming a key."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from render.interop.report import ImportReport


def command_line_mode(context: "ImportContext", report: ImportReport) -> str | None:
    """The animation mode the command line gives (noted in the report), or None."""
    if context.mode is not None:
        report.note(f"animation mode {context.mode} from the command line")
    return context.mode


class ImportProblem(ValueError):
    """A file, or one key of it, that cannot be imported: which, its value, the problem and the fix."""

    def __init__(self, key: str, value: Any, problem: str, fix: str):
        self.key, self.value, self.problem, self.fix = key, value, problem, fix
        super().__init__(f"{key}: {problem}")


@dataclass(frozen=True)
class ImportContext:
    """What the command line decides before the file is mapped: settings the importer needs to map others (DD's
    file has no animation mode, and the mode decides whether ``max_frames`` or ``n_batches`` applies; Deforum's
    ``s`` is the seed; keys past the last frame depend on the frame count)."""

    mode: str | None = None
    seed: int | None = None
    max_frames: int | None = None


@dataclass
class Imported:
    """An importer's result: settings of this renderer's schema by dotted path, and the report."""

    report: ImportReport
    settings: dict[str, Any] = field(default_factory=dict)

    def set(self, path: str, value: Any, source: str, how: str = "") -> None:
        """Set ``path`` from the file's ``source`` key(s), reported as mapped."""
        self.settings[path] = value
        self.report.map(source, path, how)

    def approximate(self, path: str, value: Any, source: str, how: str) -> None:
        self.settings[path] = value
        self.report.approximate(source, path, how)

    def nested(self) -> dict[str, Any]:
        """The settings as nested mappings (``{"animation": {"zoom": ...}}``), as a config file holds them."""
        out: dict[str, Any] = {}
        for path, value in self.settings.items():
            *groups, name = path.split(".")
            node = out
            for group in groups:
                node = node.setdefault(group, {})
            node[name] = value
        return out


def whole_number(value: Any, key: str) -> int:
    """A count written as a number or a string (``3``, ``"3"``, ``3.0``); anything else names the key."""
    number = real_number(value, key)
    if not math.isfinite(number) or number != int(number):
        raise ImportProblem(key, value, "is not a whole number", "write a whole number, e.g. 3")
    return int(number)


def real_number(value: Any, key: str) -> float:
    """A number written as a number or a string; anything else names the key."""
    if isinstance(value, bool):
        raise ImportProblem(key, value, "is true/false, not a number", "write a number")
    try:
        return float(str(value).strip())
    except ValueError:
        raise ImportProblem(key, value, "is not a number", "write a number, e.g. 0.5") from None


def flag(value: Any, key: str) -> bool:
    """A boolean written as JSON true/false or as a string (``"True"``, ``"false"``, ``"1"``)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", "none", ""):
        return False
    raise ImportProblem(key, value, "is not true or false", "write true or false")


def number_text(value: float) -> str:
    """A number as a schedule writes it: whole numbers without ``.0``, others exactly (``repr`` round-trips)."""
    value = float(value)
    return str(int(value)) if value == int(value) and abs(value) < 1e15 else repr(value)
