"""A problem with the config (setting, value, problem, fix) and all of them raised together, before any model loads."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConfigIssue:
    setting: str
    value: object
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.setting}: {self.problem}\n    value: {self.value!r}\n    fix: {self.fix}"


class ConfigErrors(ValueError):
    """All problems found in a config; raised before any model is loaded."""

    def __init__(self, issues: list[ConfigIssue]):
        self.issues = issues
        super().__init__(str(self))

    def __str__(self) -> str:
        n = len(self.issues)
        lines = [f"{n} problem{'s' if n != 1 else ''} in the config (nothing was rendered):"]
        lines += [f"  - {issue}" for issue in self.issues]
        return "\n".join(lines)
